package gateway_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// traefik and nginx describe the original request the way each proxy does.
func traefik(method, uri string) []string {
	return []string{"X-Forwarded-Method", method, "X-Forwarded-Uri", uri, "X-Forwarded-Host", "app.example", "X-Forwarded-Proto", "https"}
}

func nginx(method, uri string) []string {
	return []string{"X-Original-Method", method, "X-Original-URI", uri}
}

func verifyRoutes() []config.Route {
	const up = "http://127.0.0.1:1" // never contacted by /auth/verify
	billing := route("billing", "/billing/", "token", up)
	billing.Forward = "jwt"
	return []config.Route{
		route("public", "/public/", "none", up),
		route("admin", "/admin/", "session", up, "admin"),
		route("api", "/api/", "any", up, "user"),
		billing,
	}
}

func TestVerify(t *testing.T) {
	_, srv := serve(t, verifyRoutes(), deps())
	const html = "text/html"
	with := func(h ...[]string) []string {
		var out []string
		for _, x := range h {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name   string
		header []string
		status int
		code   string            // JSON error, for non-200 non-302
		want   map[string]string // response headers that must be exactly this ("" = absent)
	}{
		{"traefik, admin session", with(traefik("GET", "/admin/x?y=1"), sessionCred("root")), 200, "",
			map[string]string{"X-Auth-User": "root", "X-Auth-Subject": "u-root", "X-Auth-Roles": "admin,user", "X-Auth-Method": "session"}},
		{"nginx, admin session", with(nginx("GET", "/admin/x"), sessionCred("root")), 200, "",
			map[string]string{"X-Auth-User": "root", "X-Auth-Method": "session"}},
		{"nginx, normalised path", with(nginx("GET", "/public/../admin//x"), sessionCred("root")), 200, "",
			map[string]string{"X-Auth-User": "root"}},
		{"traefik, token on any route", with(traefik("POST", "/api/orders"), tokenCred("alice")), 200, "",
			map[string]string{"X-Auth-User": "alice", "X-Auth-Method": "token", "Authorization": ""}},
		{"forward jwt", with(traefik("GET", "/billing/x"), tokenCred("alice")), 200, "",
			map[string]string{"X-Auth-User": "alice", "Authorization": "Bearer internal.u-alice.billing.1m0s"}},
		{"public route: identity headers present but empty", with(traefik("GET", "/public/x"), sessionCred("root")), 200, "",
			map[string]string{"X-Auth-User": "", "X-Auth-Method": "", "X-Auth-Subject": "", "X-Auth-Roles": "", "Authorization": ""}},
		{"no credentials", traefik("GET", "/admin/x"), 401, "unauthorized",
			map[string]string{"WWW-Authenticate": `Bearer realm="gatehouse"`, "Location": "", "X-Auth-Redirect": ""}},
		{"bad token", with(nginx("GET", "/api/x"), tokenCred("revoked")), 401, "unauthorized",
			map[string]string{"WWW-Authenticate": `Bearer realm="gatehouse", error="invalid_token"`}},
		{"traefik browser is redirected", with(traefik("GET", "/admin/x?y=1"), []string{"Accept", html}), 302, "",
			map[string]string{"Location": "/login?next=%2Fadmin%2Fx%3Fy%3D1"}},
		{"nginx browser gets 401 with a hint", with(nginx("GET", "/admin/x?y=1"), []string{"Accept", html}), 401, "unauthorized",
			map[string]string{"X-Auth-Redirect": "/login?next=%2Fadmin%2Fx%3Fy%3D1", "Location": ""}},
		{"wrong role", with(traefik("GET", "/admin/x"), sessionCred("alice")), 403, "forbidden", nil},
		{"cross-site POST with session", with(traefik("POST", "/api/x"), sessionCred("alice"), []string{"Sec-Fetch-Site", "cross-site"}), 403, "forbidden", nil},
		{"foreign origin for the forwarded host", with(traefik("POST", "/api/x"), sessionCred("alice"), []string{"Origin", "https://evil.example"}), 403, "forbidden", nil},
		{"same origin as the forwarded host", with(traefik("POST", "/api/x"), sessionCred("alice"), []string{"Origin", "https://app.example"}), 200, "", nil},
		{"store down", with(traefik("GET", "/admin/x"), sessionCred("down")), 503, "unavailable", nil},
		{"no route", with(traefik("GET", "/typo/x"), sessionCred("root")), 404, "not_found", nil},
		{"no headers", sessionCred("root"), 400, "bad_request", nil},
		{"missing method", with([]string{"X-Forwarded-Uri", "/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"missing nginx method", with([]string{"X-Original-URI", "/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"lower-case method", with(traefik("get", "/admin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"absolute URI", with(traefik("GET", "https://app.example/admin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"relative URI", with(traefik("GET", "admin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"dot-semicolon segment", with(nginx("GET", "/..;/admin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"encoded slash", with(nginx("GET", "/public%2f..%2fadmin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"invalid escape", with(traefik("GET", "/admin/%zz"), sessionCred("root")), 400, "bad_request", nil},
		{"NUL", with(traefik("GET", "/admin/%00"), sessionCred("root")), 400, "bad_request", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+"/auth/verify", tt.header...))
			if tt.code != "" {
				wantJSONError(t, r, tt.status, tt.code)
			} else if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
			}
			for k, want := range tt.want {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if r.StatusCode == 200 {
				for _, k := range []string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Roles", "X-Auth-Method"} {
					if got := r.Header.Values(k); len(got) != 1 {
						t.Errorf("%s values = %q, want exactly one (possibly empty)", k, got)
					}
				}
			}
		})
	}
}

func TestVerifyRefusesUntrustedPeers(t *testing.T) {
	d := deps()
	d.TrustedProxies = notLoopback()
	_, srv := serve(t, verifyRoutes(), d)
	for name, header := range map[string][]string{
		"traefik style": append(traefik("GET", "/admin/x"), sessionCred("root")...),
		"nginx style":   append(nginx("GET", "/admin/x"), sessionCred("root")...),
		"public route":  traefik("GET", "/public/x"),
	} {
		t.Run(name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+"/auth/verify", header...))
			wantJSONError(t, r, http.StatusBadRequest, "bad_request")
			if got := r.Header.Get("X-Auth-User"); got != "" {
				t.Errorf("X-Auth-User = %q, want none", got)
			}
		})
	}
}

func TestVerifyUsesTheClientAddressFromTrustedProxies(t *testing.T) {
	rec := &remoteRecorder{}
	d := deps()
	d.Sessions = rec
	_, srv := serve(t, verifyRoutes(), d)
	h := append(traefik("GET", "/admin/x"), sessionCred("root")...)
	h = append(h, "X-Forwarded-For", "198.51.100.1, 203.0.113.5")
	if r := do(t, newRequest(t, "GET", srv.URL+"/auth/verify", h...)); r.StatusCode != 200 {
		t.Fatalf("status = %d", r.StatusCode)
	}
	if got, want := rec.seen(), "203.0.113.5:0"; got != want {
		t.Errorf("session check saw RemoteAddr %q, want %q", got, want)
	}
}

// remoteRecorder is fakeSessions that also records the RemoteAddr it saw.
type remoteRecorder struct {
	fakeSessions
	mu     sync.Mutex
	remote string
}

func (r *remoteRecorder) AuthenticateSession(req *http.Request) (auth.Principal, error) {
	r.mu.Lock()
	r.remote = req.RemoteAddr
	r.mu.Unlock()
	return r.fakeSessions.AuthenticateSession(req)
}

func (r *remoteRecorder) seen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remote
}

var _ gateway.SessionAuthenticator = (*remoteRecorder)(nil)
