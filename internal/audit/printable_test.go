package audit_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// Printable is the one rule for client-supplied text that is stored,
// logged or shown (an event's user_agent, a session's User-Agent, OIDC
// names and error codes from the URL): valid UTF-8, every control, format
// and line or paragraph separator character as U+FFFD, cut before a whole
// character, cut reporting whether anything was dropped.
func TestPrintable(t *testing.T) {
	tests := []struct {
		name, s string
		max     int
		want    string
		cut     bool
	}{
		{"printable ASCII", "curl/8.0", 256, "curl/8.0", false},
		{"exactly max", "abcd", 4, "abcd", false},
		{"ASCII over max", "abcde", 4, "abcd", true},
		{"UTF-8 kept", "Büro ✓", 256, "Büro ✓", false},
		{"C0, DEL, C1", "a\x00\t\r\n\x1b\x7f\u0085\u009bz", 256, "a\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDz", false},
		{"format and separators", "a\u202eb\u200bc\ufeffd\u2028e\u2029f", 256, "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf", false},
		{"invalid UTF-8 run is one U+FFFD", "x\xff\xfey\xc3", 256, "x\uFFFDy\uFFFD", false},
		{"cut inside a character", "aaé", 3, "aa", true},
		{"cut after a character", "aéb", 3, "aé", true},
		{"cut counts the cleaned bytes", "\x1b\x1b", 4, "\uFFFD", true},
		{"empty", "", 8, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut := audit.Printable(tt.s, tt.max)
			if got != tt.want || cut != tt.cut {
				t.Errorf("Printable(%q, %d) = %q, %v; want %q, %v", tt.s, tt.max, got, cut, tt.want, tt.cut)
			}
		})
	}
}

// Every audited request runs Printable on its User-Agent: a printable
// ASCII one that fits costs no allocation.
func TestPrintableASCIIDoesNotAllocate(t *testing.T) {
	ua := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	if n := testing.AllocsPerRun(100, func() {
		if got, _ := audit.Printable(ua, audit.MaxUserAgent); got != ua {
			t.Fatal("changed")
		}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
	if got, _ := audit.Printable(strings.Repeat("a", 300), audit.MaxUserAgent); len(got) != 256 {
		t.Errorf("MaxUserAgent cut at %d bytes, want 256", len(got))
	}
}

// Field quotes exactly the values that would split or forge a key=value
// list (the console's audit details and `gatehouse audit`'s table).
func TestField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"curl/8.0", "curl/8.0"},
		{"Büro", "Büro"},
		{"", ""},
		{`x" actor=root via="admin`, `"x\" actor=root via=\"admin"`},
		{"a b", `"a b"`},
		{"k=v", `"k=v"`},
		{"line\nbreak", `"line\nbreak"`},
		{"\x1b[31m", `"\x1b[31m"`},
	}
	for _, tt := range tests {
		if got := audit.Field(tt.in); got != tt.want {
			t.Errorf("Field(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
