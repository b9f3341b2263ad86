package gateway

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCleanPath checks the invariants the matcher relies on: a clean path
// is absolute, has no empty or dot segments, survives escaping and cleaning
// again unchanged, and never contains a byte that could split a segment.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "//a", "/a/../b", "/%61", "/a;b", "/..;/a", "/%2e%2e/", "/a%2fb", `/a\b`, "/a/.", "/%25", "/a%3Bb", "/%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := cleanPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("cleanPath(%q) error %v does not wrap ErrBadPath", in, err)
			}
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("cleanPath(%q) = %q: not clean", in, p)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("cleanPath(%q) = %q: dot segment left", in, p)
			}
		}
		again, err := cleanPath(escapePath(p))
		if err != nil || again != p {
			t.Fatalf("cleanPath(escapePath(%q)) = %q, %v; want it unchanged", p, again, err)
		}
	})
}
