package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// FuzzVerifyHeaders feeds arbitrary forward-auth descriptions to the three
// endpoints, without credentials, in front of a public "/" route and a
// protected "/admin/" route. Invariants: never a panic; never an allow for a
// URI that is not canonical (checked by canonicalURI below, written
// independently of the gateway's parser); never an allow for a path an
// upstream could read as under /admin; never an allow for a request with a
// repeated header or, on the generic endpoint, both families. The seed corpus
// is testdata/fuzz/FuzzVerifyHeaders; `go test` runs it, `make fuzz` explores.
func FuzzVerifyHeaders(f *testing.F) {
	for _, seed := range []struct {
		ep                 uint8
		method, uri, extra string
	}{
		{0, "GET", "/x", ""},
		{1, "GET", "/admin/../x", ""},
		{2, "POST", "/x?y=1", "/admin/x"},
		{4, "GET", "/x", "/x"},
	} {
		f.Add(seed.ep, seed.method, seed.uri, seed.extra)
	}
	const up = "http://127.0.0.1:1" // never contacted
	g, err := gateway.New([]config.Route{route("public", "/", "none", up), route("admin", "/admin/", "session", up, "admin")}, deps())
	if err != nil {
		f.Fatal(err)
	}
	h := g.VerifyHandler()
	paths := []string{gateway.VerifyPath, gateway.VerifyNginxPath, gateway.VerifyForwardPath}
	f.Fuzz(func(t *testing.T, ep uint8, method, uri, extra string) {
		path := paths[int(ep)%len(paths)]
		own, other := [2]string{"X-Original-Method", "X-Original-Uri"}, [2]string{"X-Forwarded-Method", "X-Forwarded-Uri"}
		if path == gateway.VerifyForwardPath || path == gateway.VerifyPath && ep&8 != 0 {
			own, other = other, own
		}
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header[own[0]] = []string{method}
		req.Header[own[1]] = []string{uri}
		repeated, both := false, false
		if extra != "" {
			if ep&4 != 0 {
				req.Header[own[1]] = append(req.Header[own[1]], extra)
				repeated = true
			} else {
				req.Header[other[0]] = []string{"GET"}
				req.Header[other[1]] = []string{extra}
				both = path == gateway.VerifyPath
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return
		}
		switch {
		case repeated:
			t.Fatalf("%s allowed a repeated %s: %q", path, own[1], req.Header[own[1]])
		case both:
			t.Fatalf("%s allowed both header families", path)
		case !canonicalURI(uri):
			t.Fatalf("%s allowed the non-canonical URI %q", path, uri)
		case underAdmin(uri):
			t.Fatalf("%s allowed %q, which an upstream can read as under /admin", path, uri)
		}
	})
}

// canonicalURI is the fuzz oracle: an origin-form URI whose path has no
// empty, "." or ".." segment, no ";", no "\", no control character, and no
// escape of an unreserved character, "/", "\" or a control character, and
// whose query has no "#", space or control character.
func canonicalURI(uri string) bool {
	p, q, _ := strings.Cut(uri, "?")
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, ";\\#") ||
		strings.ContainsFunc(q, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 {
			return false
		}
		dec, err := url.PathUnescape(s)
		if err != nil || dec == "." || dec == ".." {
			return false
		}
		for j := 0; j < len(s); j++ {
			if s[j] <= ' ' || s[j] == 0x7f {
				return false
			}
		}
		for j := 0; j < len(dec); j++ {
			if c := dec[j]; c < ' ' || c == 0x7f || c == '/' || c == '\\' {
				return false
			}
		}
		for j := 0; j+2 < len(s); j++ {
			if s[j] == '%' {
				c, _ := url.PathUnescape(s[j : j+3])
				if len(c) == 1 && strings.ContainsAny(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") {
					return false
				}
			}
		}
	}
	return true
}

// underAdmin reports whether an upstream that decodes the path, or resolves
// its dot segments first, could route uri under /admin.
func underAdmin(uri string) bool {
	p, _, _ := strings.Cut(uri, "?")
	dec, err := url.PathUnescape(p)
	if err != nil {
		dec = p
	}
	for _, s := range []string{dec, (&url.URL{Path: "/"}).ResolveReference(&url.URL{Path: dec}).Path} {
		if s == "/admin" || strings.HasPrefix(s, "/admin/") {
			return true
		}
	}
	return false
}
