package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/browserurl"
)

// FuzzVerifyHost feeds forward-auth subrequests whose host comes from
// X-Forwarded-Host (Traefik, Caddy), from the subrequest's Host or from
// X-Original-URL (nginx), without credentials, in front of a public
// host-less "/" route and session routes on admin.example.com and
// *.tenants.example.com. Invariants:
//   - never a panic;
//   - never 200 for a request whose host a virtual-host proxy (lower case,
//     port and trailing dot dropped) or a browser (browserurl, for
//     X-Original-URL) reads as a protected one: the host judged is the
//     host served;
//   - never 200 for a host value that is no host name or IP with an
//     optional numeric port, an X-Original-URL a browser could not have
//     sent, or a URI with white space, a control character or "#":
//     malformed input is 4xx;
//   - the login URL sent back (Location, X-Auth-Redirect) carries as next
//     the same URL that was judged: the judged path and query, on the
//     judged host when absolute.
func FuzzVerifyHost(f *testing.F) {
	for _, s := range [][3]string{
		{"admin.example.com", "", "/x"},
		{"ADMIN.example.com.", "", "/x?y=1"},
		{"admin.example.com:8443", "", "/"},
		{"admin.example.com:x", "", "/"},
		{"admin.example.com:1@public.example", "", "/"},
		{"admin.example.com..", "", "/"},
		{".admin.example.com", "", "/"},
		{"admin.example.com%2e", "", "/"},
		{"admin_example.com", "", "/"},
		{"a.tenants.example.com", "", "/x"},
		{"a.b.tenants.example.com", "", "/x"},
		{"tenants.example.com", "", "/x"},
		{"[::1]:80", "", "/"},
		{"public.example", "https://admin.example.com/x", "/x"},
		{"public.example", "https://public.example?x/admin", "/x"},
		{"public.example", "https://public.example#x", "/x"},
		{"public.example", "https://user@admin.example.com/x", "/x"},
		{"public.example", "https://public.example\\@admin.example.com/x", "/x"},
		{"public.example", "https:///admin.example.com/x", "/x"},
		{"public.example", "HTTPS://ADMIN.EXAMPLE.COM/x", "/x"},
		{"public.example", "https://admin.example.com./x", "/x"},
		{"public.example", "https://admin%2eexample.com/x", "/x"},
		{"public.example", "http:admin.example.com/x", "/x"},
		{"public.example", "https://ａｄｍｉｎ.example.com/x", "/x"},
	} {
		f.Add(uint8(0), s[0], s[1], s[2])
		f.Add(uint8(1), s[0], s[1], s[2])
		f.Add(uint8(3), s[0], s[1], s[2])
	}
	const up = "http://127.0.0.1:1" // never contacted
	onHost := func(r config.Route, host string) config.Route { r.Match.Host = host; return r }
	d := deps()
	d.PublicURL = "https://auth.example.com"
	g, err := gateway.New([]config.Route{
		route("public", "/", "none", up),
		onHost(route("admin", "/", "session", up), "admin.example.com"),
		onHost(route("tenants", "/", "session", up), "*.tenants.example.com"),
	}, d)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(g.Close)
	h := g.VerifyHandler()
	f.Fuzz(func(t *testing.T, mode uint8, host, originalURL, uri string) {
		nginx := mode&1 != 0
		path := gateway.VerifyForwardPath
		if nginx {
			path = gateway.VerifyNginxPath
		}
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Accept", "text/html")
		req.Host = "gatehouse.internal"
		// vhost is the host the proxy routes the original request by; url
		// is set when X-Original-URL names it.
		vhost, fromURL := host, false
		if nginx {
			req.Header["X-Original-Method"] = []string{"GET"}
			req.Header["X-Original-Uri"] = []string{uri}
			if host != "" {
				req.Host = host
			}
			if originalURL != "" {
				req.Header["X-Original-Url"] = []string{originalURL}
				vhost, fromURL = originalURL, true
			}
		} else {
			req.Header["X-Forwarded-Method"] = []string{"GET"}
			req.Header["X-Forwarded-Uri"] = []string{uri}
			if host != "" {
				req.Header["X-Forwarded-Host"] = []string{host}
			}
			if mode&2 != 0 {
				req.Header["X-Forwarded-Proto"] = []string{"https"}
			}
		}
		if vhost == "" {
			vhost = req.Host
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		judged, wellFormed := proxyHost(vhost)
		if fromURL {
			judged, wellFormed = browserHost(vhost)
		}
		if rec.Code == http.StatusOK {
			switch {
			case !wellFormed:
				t.Fatalf("%s allowed the malformed host %q", path, vhost)
			case strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }):
				t.Fatalf("%s allowed the URI %q, which holds white space, a control character or \"#\"", path, uri)
			case protectedHost(judged):
				t.Fatalf("%s allowed %q without credentials: a proxy serves it on the protected host %q", path, vhost, judged)
			}
			return
		}
		login := rec.Header().Get("Location")
		if nginx {
			login = rec.Header().Get("X-Auth-Redirect")
		}
		if login == "" {
			return
		}
		if !wellFormed || !protectedHost(judged) {
			t.Fatalf("%s sent %q to log in for %q, which no session route serves", path, login, vhost)
		}
		lu, err := url.Parse(login)
		if err != nil || lu.Scheme != "https" || lu.Host != "auth.example.com" || lu.Path != "/login" {
			t.Fatalf("login URL %q is not public_url's /login", login)
		}
		next := lu.Query().Get("next")
		to, ok := browserurl.Resolve(browserurl.Target{Scheme: "https", Host: "auth.example.com"}, next)
		// A trailing dot names the same DNS host (the proxy routed it so).
		if toHost := strings.TrimSuffix(to.Host, "."); !ok || toHost != judged && toHost != "auth.example.com" {
			t.Fatalf("next %q of %q leads to %q, not the judged host %q", next, vhost, to.Host, judged)
		}
		nu, err := url.Parse(next)
		if err != nil {
			t.Fatalf("next %q does not parse: %v", next, err)
		}
		rawPath, rawQuery, _ := strings.Cut(uri, "?")
		judgedPath, err := url.PathUnescape(rawPath)
		if err != nil || nu.Path != judgedPath || nu.RawQuery != rawQuery {
			t.Fatalf("next %q is not the judged %q", next, uri)
		}
	})
}

// hostValue is a Host header value as RFC 9110 and a virtual-host proxy
// read it: a DNS name or IPv4 address, or an IPv6 address in brackets, and
// an optional numeric port.
var hostValue = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$`)

// proxyHost is the host a virtual-host proxy routes a Host value to (lower
// case, without port or trailing dot), and whether the value is one.
func proxyHost(v string) (string, bool) {
	if !hostValue.MatchString(v) {
		return "", false
	}
	h := v
	if strings.HasPrefix(h, "[") {
		h = h[1:strings.IndexByte(h, ']')]
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.ToLower(h), "."), true
}

// browserHost is the host of an absolute http(s) URL to a browser.
func browserHost(v string) (string, bool) {
	to, ok := browserurl.Resolve(browserurl.Target{Scheme: "https", Host: "proxy.invalid"}, v)
	if !ok || to.Host == "proxy.invalid" || to.Scheme != "http" && to.Scheme != "https" {
		return "", false
	}
	return strings.TrimSuffix(to.Host, "."), true
}

// protectedHost is the contract's host rule (section 12) for the fuzzed
// routes, written apart from the gateway: admin.example.com exactly, or
// one label under tenants.example.com.
func protectedHost(h string) bool {
	if h == "admin.example.com" {
		return true
	}
	label, ok := strings.CutSuffix(h, ".tenants.example.com")
	return ok && label != "" && !strings.Contains(label, ".")
}
