package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// TestPathBypassAttempts spells requests for the protected /admin/ prefix
// in ways that make some matcher and some upstream disagree. Each must be
// refused (400) or meet the admin policy, and whatever is proxied must reach
// the upstream with exactly the path the matcher saw.
func TestPathBypassAttempts(t *testing.T) {
	public, admin := newUpstream(t), newUpstream(t)
	g, srv := serve(t, []config.Route{
		route("public", "/", "none", public.URL),
		route("admin", "/admin/", "session", admin.URL, "admin"),
	}, deps())

	tests := []struct {
		target   string
		status   int    // with the admin's session cookie; without it a protected path gives 401
		upstream string // "admin", "public", or "" when refused
		path     string // decoded path the upstream must see
		uri      string // request-target the upstream must see ("" = same as path)
	}{
		{"//admin/x", 200, "admin", "/admin/x", ""},
		{"/admin//x", 200, "admin", "/admin/x", ""},
		{"/admin/../admin/x", 200, "admin", "/admin/x", ""},
		{"/public/../admin/x", 200, "admin", "/admin/x", ""},
		{"/../../admin/x", 200, "admin", "/admin/x", ""},
		{"/%61dmin/x", 200, "admin", "/admin/x", ""},
		{"/admin/.", 200, "admin", "/admin/", ""},
		{"/admin/./x", 200, "admin", "/admin/x", ""},
		{"/admin", 200, "admin", "/admin", ""},
		{"/admin/x;y", 200, "admin", "/admin/x;y", "/admin/x%3By"},
		{"/admin/x?q=1", 200, "admin", "/admin/x", "/admin/x?q=1"},
		{"/ADMIN/x", 200, "public", "/ADMIN/x", ""},
		{"/admin;x", 200, "public", "/admin;x", "/admin%3Bx"},
		{"/admin;x/secret", 200, "public", "/admin;x/secret", "/admin%3Bx/secret"},
		{"/admin%2fx", 400, "", "", ""},
		{"/admin%2Fx", 400, "", "", ""},
		{"/..;/admin/x", 400, "", "", ""},
		{"/.;x/admin/x", 400, "", "", ""},
		{"/admin/..;/x", 400, "", "", ""},
		{"/%2e%2e/admin/x", 400, "", "", ""},
		{"/.%2E/admin/x", 400, "", "", ""},
		{"/%2e/admin/x", 400, "", "", ""},
		{"/admin%00", 400, "", "", ""},
		{"/admin%01x", 400, "", "", ""},
		{"/admin%7f", 400, "", "", ""},
		{`/admin\x`, 400, "", "", ""},
		{`/admin%5cx`, 400, "", "", ""},
		{`/..\admin/x`, 400, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			protected := tt.upstream == "admin"

			anon := raw(t, srv, "GET", tt.target)
			switch {
			case tt.status == 400:
				wantJSONError(t, anon, http.StatusBadRequest, "bad_request")
			case protected:
				wantJSONError(t, anon, http.StatusUnauthorized, "unauthorized")
			}

			beforeAdmin, beforePublic := admin.count(), public.count()
			got := raw(t, srv, "GET", tt.target, "Cookie", cookieName+"=sess-root")
			if got.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", got.StatusCode, tt.status, got.Body)
			}
			if tt.status != 200 {
				if admin.count() != beforeAdmin || public.count() != beforePublic {
					t.Fatal("a refused request reached an upstream")
				}
				return
			}
			up := map[string]*upstream{"admin": admin, "public": public}[tt.upstream]
			s := up.last(t)
			if s.Path != tt.path {
				t.Errorf("%s upstream saw path %q, want %q", tt.upstream, s.Path, tt.path)
			}
			wantURI := tt.uri
			if wantURI == "" {
				wantURI = tt.path
			}
			if s.RequestURI != wantURI {
				t.Errorf("%s upstream saw request-target %q, want %q", tt.upstream, s.RequestURI, wantURI)
			}
			if !protected && (strings.HasPrefix(s.Path, "/admin/") || s.Path == "/admin") {
				t.Errorf("public upstream saw the protected path %q", s.Path)
			}
			rt, ok := g.Match("GET", strings.SplitN(tt.target, "?", 2)[0])
			if !ok || rt.Name != tt.upstream {
				t.Errorf("Match(%q) = %v, %v; want route %q", tt.target, rt, ok, tt.upstream)
			}
		})
	}
}

func TestRequestsWithoutAPathAreRefused(t *testing.T) {
	up := newUpstream(t)
	g, srv := serve(t, []config.Route{route("public", "/", "none", up.URL)}, deps())
	wantJSONError(t, raw(t, srv, "CONNECT", "example.com:443"), http.StatusBadRequest, "bad_request")
	// net/http answers "OPTIONS *" itself; the matcher refuses it anyway.
	if rt, ok := g.Match("OPTIONS", "*"); ok {
		t.Errorf("Match(OPTIONS, *) = %s, want no route", rt.Name)
	}
	if up.count() != 0 {
		t.Errorf("upstream saw %d requests, want 0", up.count())
	}
}
