package client_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/browserurl"
)

// FuzzRedirectAllowed checks redirect_uri matching (RFC 6749 §3.1.2.3,
// RFC 8252 §7.3) for a public and a confidential client whose registered
// URIs are fixed ones plus a fuzzed one. Invariants: a confidential client
// gets only an exact registered string; a public client also gets a
// registered http loopback URI on another port, with the rest of the URI
// identical byte for byte. Either way, a browser (browserurl, the WHATWG
// parser) sent to the accepted URI reaches the scheme, host and path a
// registered URI names, and the URI carries no fragment, userinfo, "\" or
// a scheme a browser runs itself.
func FuzzRedirectAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com/cb", ""},
		{"https://app.example.com/cb?", ""},
		{"https://APP.example.com/cb", ""},
		{"https://app.example.com:443/cb", ""},
		{"https://app.example.com/cb#x", ""},
		{"https://app.example.com@evil.example/cb", ""},
		{`https://app.example.com\@evil.example/cb`, ""},
		{"https://app.example.com/cb/../x", ""},
		{"http://127.0.0.1:51004/callback", ""},
		{"http://127.0.0.1:51004@evil.example/callback", ""},
		{"http://127.0.0.1:51004\\@evil.example/callback", ""},
		{"http://127.0.0.1:51004#@evil.example/callback", ""},
		{"http://127.0.0.1.evil.example/callback", ""},
		{"http://127.0.0.1:99999/callback", ""},
		{"http://127.0.0.1:/callback", ""},
		{"http://[::1]:8080/callback", ""},
		{"http://[::1]:8080/callback", "http://[::1]/callback?x=1"},
		{"http://[::1]:8080/callback?x=1", "http://[::1]/callback?x=1"},
		{"http://127.0.0.1:1/callback", "http://127.0.0.1/cb#frag"},
		{"http://127.0.0.1:1/cb#frag", "http://127.0.0.1/cb#frag"},
		{"javascript:alert(1)", "javascript:alert(1)"},
		{"JavaScript:alert(1)", "JavaScript:alert(1)"},
		{"com.example.app:/oauth", ""},
		{"com.example.app://oauth", "com.example.app://oauth"},
		{" https://app.example.com/cb", " https://app.example.com/cb"},
		{"https://app.example.com/cb\t", "https://app.example.com/cb\t"},
		{"http:evil.example", "http:evil.example"},
		{"https:\\\\evil.example/", "https:\\\\evil.example/"},
		{"http://127.0.0.1:8080\\evil.example/callback", "http://127.0.0.1\\evil.example/callback"},
	} {
		f.Add(s[0], s[1], true)
		f.Add(s[0], s[1], false)
	}
	fixed := []string{"https://app.example.com/cb", "http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/oauth"}
	f.Fuzz(func(t *testing.T, uri, reg string, public bool) {
		c := client.Client{ID: "c", Type: client.Confidential, RedirectURIs: append(slices.Clip(fixed), reg)}
		if public {
			c.Type = client.Public
		}
		if !c.RedirectAllowed(uri) {
			return
		}
		if strings.ContainsAny(uri, "#\\") || strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("accepted %q, which holds a fragment, a backslash, white space or a control character", uri)
		}
		scheme, _, _ := strings.Cut(strings.ToLower(uri), ":")
		if slices.Contains([]string{"javascript", "vbscript", "data", "blob", "file"}, scheme) {
			t.Fatalf("accepted %q, whose scheme a browser handles itself", uri)
		}
		if slices.Contains(c.RedirectURIs, uri) {
			return
		}
		if !public {
			t.Fatalf("confidential client: accepted %q, which is not registered", uri)
		}
		for _, r := range c.RedirectURIs {
			if sameButPort(uri, r) {
				return
			}
		}
		t.Fatalf("public client: accepted %q, which is no registered loopback URI on another port (registered %q)", uri, c.RedirectURIs)
	})
}

// sameButPort is RFC 8252 §7.3 written apart from client: both are http
// URIs that a browser sends to the same loopback IP (127.0.0.1 or ::1)
// whose text after the authority is identical, and whose authority text
// is the loopback address plus at most a port.
func sameButPort(uri, reg string) bool {
	page := browserurl.Target{Scheme: "https", Host: "gatehouse.example"}
	a, okA := browserurl.Resolve(page, uri)
	b, okB := browserurl.Resolve(page, reg)
	if !okA || !okB || a.Scheme != "http" || b.Scheme != "http" || a.Host != b.Host || a.Host != "127.0.0.1" && a.Host != "::1" {
		return false
	}
	authA, restA := splitAuthority(uri)
	authB, restB := splitAuthority(reg)
	return restA == restB && loopbackAuthority(authA, a.Host) && loopbackAuthority(authB, b.Host)
}

// splitAuthority splits "http://authority/rest" at the end of the
// authority.
func splitAuthority(u string) (authority, rest string) {
	s, _ := strings.CutPrefix(u, "http://")
	i := strings.IndexAny(s, "/?#")
	if i < 0 {
		i = len(s)
	}
	return s[:i], s[i:]
}

// loopbackAuthority reports whether authority is host (bracketed when
// IPv6) with an optional port of 1 to 5 digits.
func loopbackAuthority(authority, host string) bool {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port, ok := strings.CutPrefix(authority, host)
	if !ok {
		return false
	}
	if port == "" {
		return true
	}
	digits, ok := strings.CutPrefix(port, ":")
	return ok && len(digits) >= 1 && len(digits) <= 5 && strings.Trim(digits, "0123456789") == ""
}
