package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// protectedName is the reference for scrubHeaders, written independently
// of classify: the folded name and its class.
func protectedName(name string) (folded string, own, forwarding bool) {
	f := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	own = strings.HasPrefix(f, "x-auth-") ||
		f == "x-http-method-override" || f == "x-http-method" || f == "x-method-override" ||
		strings.HasPrefix(f, "x-original-") || f == "x-rewrite-url"
	forwarding = strings.HasPrefix(f, "x-forwarded-") ||
		f == "forwarded" || f == "x-real-ip" || f == "true-client-ip"
	return f, own, forwarding
}

// FuzzScrubHeaders checks the invariant of the header pass: after it, no
// lookalike of a protected name survives, no identity, method-override or
// path-override header survives in any spelling, forwarding headers survive only from a
// trusted peer under their real name, and names with '_' only where the
// route allows them. Everything else is left alone.
func FuzzScrubHeaders(f *testing.F) {
	for _, seed := range []string{
		"X_Auth_User", "X.Auth.Roles", "x-AUTH-subject", "X_Forwarded_For", "X.Forwarded.Host",
		"X-Real-IP", "True_Client_IP", "X-Rewrite-URL", "X-Original-URL", "Forwarded",
		"X-HTTP-Method-Override", "x_http_method", "X.Method.Override", "My_Header", "X-Plain", "",
	} {
		f.Add(seed, "X-Other", false, false)
		f.Add(seed, "X_Auth_Roles", true, true)
	}
	f.Fuzz(func(t *testing.T, name, other string, trusted, allowUnderscore bool) {
		h := http.Header{name: {"v"}, other: {"w"}, "X-Auth-User": {"mallory"}}
		before := make(map[string]bool, len(h))
		for k := range h {
			before[k] = true
		}
		scrubHeaders(h, trusted, allowUnderscore)
		for k := range before {
			_, own, forwarding := protectedName(k)
			lookalike := strings.ContainsAny(k, "_.")
			_, kept := h[k]
			wantKept := !own &&
				(!forwarding || trusted && !lookalike) &&
				(allowUnderscore || !strings.Contains(k, "_"))
			if kept != wantKept {
				t.Fatalf("header %q (trusted=%v, allow_underscore=%v): kept = %v, want %v", k, trusted, allowUnderscore, kept, wantKept)
			}
		}
		for k := range h {
			if !before[k] {
				t.Fatalf("scrubHeaders added %q", k)
			}
		}
	})
}

// TestScrubHeadersDoesNotAllocate keeps the hot path allocation-free.
func TestScrubHeadersDoesNotAllocate(t *testing.T) {
	src := http.Header{
		"Accept": {"*/*"}, "User-Agent": {"x"}, "X-Request-Id": {"1"}, "Content-Type": {"text/plain"},
		"X-Forwarded-Proto": {"https"}, "Cookie": {"a=b"},
	}
	h := make(http.Header, len(src))
	allocs := testing.AllocsPerRun(100, func() {
		for k, v := range src {
			h[k] = v
		}
		scrubHeaders(h, true, false)
	})
	if allocs != 0 {
		t.Errorf("scrubHeaders allocates %.0f times per request, want 0", allocs)
	}
}
