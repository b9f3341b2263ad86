package frontproxy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestSessionCookieNeverReachesTheApp sends Cookie headers through real
// nginx and Caddy to an auth: none route (allowed whatever the cookies) and
// checks that no cookie named gatehouse reaches the application, in any
// spelling a cookie parser would read. Two gatehouse cookies are cookie
// tossing (a host-only and a domain cookie, or one planted by a sibling
// subdomain): stripping only the first used to pass the second on.
func TestSessionCookieNeverReachesTheApp(t *testing.T) {
	g, a := setup(t)
	gatehouse := strings.TrimPrefix(g.URL, "http://")
	appAddr := strings.TrimPrefix(a.URL, "http://")
	tests := []struct {
		name   string
		cookie []string // Cookie header lines the client sends
		// keep are the cookies the application must receive exactly, in
		// order; nil for tossed cookies, where a proxy may drop every
		// cookie rather than pick (nginx cannot remove all occurrences).
		keep []string
	}{
		{"only the session cookie", []string{"gatehouse=a"}, []string{}},
		{"session cookie first", []string{"gatehouse=a; theme=dark"}, []string{"theme=dark"}},
		{"session cookie last", []string{"theme=dark; gatehouse=a"}, []string{"theme=dark"}},
		{"session cookie in the middle", []string{"theme=dark; gatehouse=a; lang=en"}, []string{"theme=dark", "lang=en"}},
		{"no session cookie", []string{"theme=dark; lang=en"}, []string{"theme=dark", "lang=en"}},
		{"lookalike names pass", []string{"xgatehouse=1; gatehouse_x=2; gatehouse2=3"}, []string{"xgatehouse=1", "gatehouse_x=2", "gatehouse2=3"}},
		{"two session cookies", []string{"gatehouse=a; gatehouse=b"}, nil},
		{"two session cookies around another", []string{"gatehouse=a; theme=dark; gatehouse=b"}, nil},
		{"two session cookies after another", []string{"theme=dark; gatehouse=a;gatehouse=b"}, nil},
		{"three session cookies", []string{"gatehouse=a; gatehouse=b; lang=en; gatehouse=c"}, nil},
		{"two Cookie header lines", []string{"gatehouse=a; theme=dark", "lang=en; gatehouse=b"}, nil},
		{"session cookie and a lookalike", []string{"gatehouse=a; xgatehouse=1; gatehouse=b"}, nil},
		// gatehouse (like net/http) trims white space around a cookie's
		// name, so "gatehouse =a" is the session: the proxies' expressions
		// matched only "gatehouse=" and passed it on.
		{"white space before =", []string{"theme=dark; gatehouse =a"}, []string{"theme=dark"}},
		{"tab before =, first", []string{"gatehouse\t=a; theme=dark"}, []string{"theme=dark"}},
		{"white space before =, alone", []string{"gatehouse =a"}, []string{}},
		{"two session cookies, one with white space", []string{"gatehouse=a; theme=dark; gatehouse =b"}, nil},
	}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var header []string
					var sent []string
					for _, c := range tt.cookie {
						header = append(header, "Cookie", c)
						sent = append(sent, cookiePairs(c)...)
					}
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, "GET", "/public/x", header...)
					got := a.Since(n)
					if resp.StatusCode != 200 || len(got) != 1 {
						t.Fatalf("status = %d, application got %d requests; want 200 and 1 (body %q)", resp.StatusCode, len(got), body)
					}
					lines := got[0].Header.Values("Cookie")
					var pairs []string
					for _, l := range lines {
						pairs = append(pairs, cookiePairs(l)...)
					}
					for _, pair := range pairs {
						if n, _, _ := strings.Cut(pair, "="); strings.TrimSpace(n) == "gatehouse" {
							t.Errorf("application got the session cookie: Cookie %q", lines)
						}
						if !slices.Contains(sent, pair) {
							t.Errorf("application got %q, which the client did not send (Cookie %q)", pair, lines)
						}
					}
					if tt.keep != nil && !slices.Equal(pairs, tt.keep) && !(len(pairs) == 0 && len(tt.keep) == 0) {
						t.Errorf("application got cookies %q, want %q", pairs, tt.keep)
					}
				})
			}
		})
	}
}

// cookiePairs splits a Cookie header value the lenient way most parsers
// do: on ";", trimmed, empty pairs skipped.
func cookiePairs(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
