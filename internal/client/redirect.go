package client

import (
	"slices"
	"strings"
)

// RedirectAllowed reports whether uri is one of c's redirect URIs: an
// exact string match (no normalisation: case, trailing slash, extra query,
// dot segments all differ), except that for a public client a registered
// http://127.0.0.1/… or http://[::1]/… matches the same URI on any port
// (RFC 8252 §7.3: native apps listen on an ephemeral port). Confidential
// clients never get the port rule: their redirect URIs are fixed servers.
// A URI Validate refuses (a javascript: one, say, stored before that rule
// or past it) never matches.
func (c Client) RedirectAllowed(uri string) bool {
	if checkRedirect(uri) != "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.IsPublic() {
		return false
	}
	want, ok := loopbackWithoutPort(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if got, ok := loopbackWithoutPort(r); ok && got == want {
			return true
		}
	}
	return false
}

// PostLogoutAllowed reports whether uri is exactly a registered
// post-logout redirect URI that Validate accepts.
func (c Client) PostLogoutAllowed(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri) && checkRedirect(uri) == ""
}

// loopbackWithoutPort returns uri with its port removed when it is
// http://127.0.0.1[:port]… or http://[::1][:port]…. It works on the text,
// not on a parsed URL, so that nothing is normalised: the rest of the URI
// must still match byte for byte.
func loopbackWithoutPort(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(tail, "#") {
		return "", false
	}
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		port, ok := strings.CutPrefix(authority, host)
		if !ok {
			continue
		}
		if port == "" {
			return "http://" + host + tail, true
		}
		digits, ok := strings.CutPrefix(port, ":")
		if !ok || digits == "" || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
			return "", false
		}
		return "http://" + host + tail, true
	}
	return "", false
}
