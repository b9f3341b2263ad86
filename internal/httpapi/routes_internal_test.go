package httpapi

import "testing"

// isClean must agree with cleanPath (the ServeMux cleaning it shortcuts)
// for every path: a path it wrongly called clean would reach ServeMux,
// which answers an unclean path with a redirect instead of the gateway's
// normalisation or refusal.
func FuzzIsClean(f *testing.F) {
	for _, p := range []string{
		"", "/", "a", "a/b", "/a", "/a/", "/a/b/c", "//", "//a", "/a//b", "/a/b//",
		"/.", "/..", "/...", "/./a", "/../a", "/a/.", "/a/..", "/a/./", "/a/../", "/a/../b",
		"/.well-known/openid-configuration", "/a/.hidden", "/a.b/c.d", "/a/..b", "/a/b..",
		"/auth/verify/nginx", "/%2e%2e/a", "/a\\..\\b",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := isClean(p), p == cleanPath(p); got != want {
			t.Errorf("isClean(%q) = %v, cleanPath gives %q", p, got, cleanPath(p))
		}
	})
}
