// Package frontproxy holds the configurations that put nginx, Caddy or
// Traefik in front of gatehouse's forward-auth endpoints (contract section
// 5): one text/template per proxy, rendered both into docs/forward-auth.md
// and, by this package's tests, into the real nginx and Caddy instances they
// start, so the documented snippets are exactly the tested ones.
//
// After editing a template, regenerate the documentation; the test
// TestDocSnippetsAreGenerated fails until then.
package frontproxy

//go:generate go test -run TestDocSnippetsAreGenerated -update .
