package oidc_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/browserurl"
)

// FuzzSafeNextOn checks the login's next check against a model of a
// browser's URL parser (browserurl, written from the WHATWG standard, not
// from net/url), with the real gateway's ServesHost for routes on
// app.example.com and *.tenants.example.com. Invariants: the result is
// next unchanged or "/"; a browser on gatehouse's login page that follows
// it stays on gatehouse's origin, or goes over http(s) to a host a route
// names (exactly, or one label under the wildcard), never anywhere else;
// and it never carries a control character, "\" or credentials, which
// parsers read differently.
func FuzzSafeNextOn(f *testing.F) {
	for _, s := range []string{
		"/", "/app?x=1#f", "app", "//evil.example", "///evil.example", `/\evil.example`, `\/evil.example`,
		"/%2f/evil.example", "%2f%2fevil.example", "/%5cevil.example", "/\t/evil.example", "/\n/evil.example",
		" //evil.example", "\x01//evil.example", "https://app.example.com/x", "http://app.example.com:8443/",
		"https://APP.example.com./", "https://x.tenants.example.com/", "https://a.b.tenants.example.com/",
		"https://tenants.example.com/", "https://app.example.com@evil.example/", "https://evil.example\\@app.example.com/",
		"https://evil.example#@app.example.com/", "https://evil.example?@app.example.com/", "https:evil.example",
		"http:evil.example", "http:app.example.com", "https:///evil.example", "https:/\\evil.example",
		"https://app%2eexample.com/", "https://evil%2eexample/", "https://ａｐｐ.example.com/", "https://app。example.com/",
		"https://app.example.com%2f@evil.example/", "https://app.example.com:x@evil.example/", "javascript:alert(1)",
		"javascript://app.example.com/%0aalert(1)", "data:text/html,x", "HTTPS://app.example.com/", "https://[::1]/",
		"https://app.example.com\u3002evil.example/", "/\u2215evil.example", "https://app.example.com.evil.example/",
	} {
		f.Add(s)
	}
	g, err := gateway.New([]gateway.RouteConfig{
		{Name: "app", Match: gateway.RouteMatch{Host: "app.example.com", PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "none"},
		{Name: "tenants", Match: gateway.RouteMatch{Host: "*.tenants.example.com", PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "none"},
		{Name: "any", Match: gateway.RouteMatch{PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "none"},
	}, gateway.Deps{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.Close)
	login := browserurl.Target{Scheme: "https", Host: "gatehouse.example"}
	f.Fuzz(func(t *testing.T, next string) {
		got := oidc.SafeNextOn(next, g.ServesHost)
		if got == "/" {
			return
		}
		if got != next {
			t.Fatalf("SafeNextOn(%q) = %q: neither next nor /", next, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
			t.Fatalf("SafeNextOn(%q) kept a control character or backslash", next)
		}
		to, ok := browserurl.Resolve(login, got)
		switch {
		case !ok:
			t.Fatalf("SafeNextOn accepted %q, which a browser cannot parse", next)
		case to == login:
		case to.Scheme != "http" && to.Scheme != "https":
			t.Fatalf("SafeNextOn accepted %q: a browser goes to scheme %q", next, to.Scheme)
		case !servedByModel(to.Host):
			t.Fatalf("SafeNextOn accepted %q: a browser goes to %q, which no route names", next, to.Host)
		case strings.Contains(authority(got), "@"):
			t.Fatalf("SafeNextOn accepted %q, which carries credentials", next)
		}
	})
}

// authority is the text between the first "//" of u and the next "/", "?"
// or "#".
func authority(u string) string {
	_, rest, _ := strings.Cut(u, "//")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// servedByModel is the contract's host rule (section 12), written apart
// from the gateway: an exact host, or exactly one label under a wildcard.
func servedByModel(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "app.example.com" {
		return true
	}
	label, ok := strings.CutSuffix(host, ".tenants.example.com")
	return ok && label != "" && !strings.Contains(label, ".")
}
