package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
	read := route("orders-read", "/orders/", "any", up, "user")
	read.Match.Methods = []string{"GET"}
	write := route("orders-write", "/orders/", "any", up, "admin")
	write.Match.Methods = []string{"POST"}
	return []config.Route{
		route("public", "/public/", "none", up),
		route("admin", "/admin/", "session", up, "admin"),
		route("api", "/api/", "any", up, "user"),
		route("app", "/app/", "any", up),
		billing, read, write,
	}
}

// verifyDeps are deps() with a public_url, which forward-auth login
// redirects are built on.
func verifyDeps() gateway.Deps {
	d := deps()
	d.PublicURL = "https://auth.example/"
	return d
}

// join concatenates header lists.
func join(h ...[]string) []string {
	var out []string
	for _, x := range h {
		out = append(out, x...)
	}
	return out
}

// TestVerify runs the generic endpoint, which accepts either family.
func TestVerify(t *testing.T) {
	_, srv := serve(t, verifyRoutes(), verifyDeps())
	const html = "text/html"
	with := join
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
		{"nginx, path that needs normalising", with(nginx("GET", "/public/../admin//x"), sessionCred("root")), 400, "bad_request", nil},
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
		{"traefik browser is redirected to public_url", with(traefik("GET", "/admin/x?y=1"), []string{"Accept", html}), 302, "",
			map[string]string{"Location": "https://auth.example/login?next=%2Fadmin%2Fx%3Fy%3D1"}},
		{"nginx browser gets 401 with a public_url hint", with(nginx("GET", "/admin/x?y=1"), []string{"Accept", html}), 401, "unauthorized",
			map[string]string{"X-Auth-Redirect": "https://auth.example/login?next=%2Fadmin%2Fx%3Fy%3D1", "Location": ""}},
		{"both families", with(nginx("GET", "/admin/x"), traefik("GET", "/admin/x"), sessionCred("root")), 400, "bad_request", nil},
		{"both families, only the URIs", with([]string{"X-Original-URI", "/admin/x", "X-Forwarded-Uri", "/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		// Any header of a family that describes the request counts as that
		// family: the request judged is never put together from two
		// descriptions (a client behind nginx can add any header).
		{"nginx family plus X-Forwarded-Host", with(nginx("GET", "/admin/x"), []string{"X-Forwarded-Host", "other.example"}, sessionCred("root")), 400, "bad_request", nil},
		// nginx's stock proxy_params sets X-Forwarded-Proto on the subrequest
		// too; the scheme alone describes no request to judge.
		{"nginx family plus X-Forwarded-Proto", with(nginx("GET", "/admin/x"), []string{"X-Forwarded-Proto", "https"}, sessionCred("root")), 200, "", nil},
		{"forward family plus X-Original-URL", with(traefik("GET", "/admin/x"), []string{"X-Original-URL", "https://other.example/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"forward method and URI plus X-Original-URL", with([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x", "X-Original-URL", "https://app.example/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"X-Original-URL alone", with([]string{"X-Original-URL", "https://app.example/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"X-Original-URI twice", with(nginx("GET", "/admin/x"), []string{"X-Original-URI", "/admin/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"X-Forwarded-Method twice", with(traefik("GET", "/admin/x"), []string{"X-Forwarded-Method", "GET"}, sessionCred("root")), 400, "bad_request", nil},
		{"X-Forwarded-Host twice", with(traefik("GET", "/admin/x"), []string{"X-Forwarded-Host", "app.example"}, sessionCred("root")), 400, "bad_request", nil},
		{"invalid X-Forwarded-Host", with([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x", "X-Forwarded-Host", "evil.example/x"}, sessionCred("root")), 400, "bad_request", nil},
		{"invalid X-Forwarded-Proto", with([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x", "X-Forwarded-Proto", "gopher"}, sessionCred("root")), 400, "bad_request", nil},
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
		// A CONNECT names an authority, not a path: Caddy describes
		// "CONNECT app.example:443" as X-Forwarded-Uri "/" and sends the
		// tunnel request on to the application. The gateway refuses CONNECT
		// (400); forward-auth judged it as a request for "/".
		{"CONNECT, forward family", with(traefik("CONNECT", "/public/x"), sessionCred("root")), 400, "bad_request", nil},
		{"CONNECT, nginx family", with(nginx("CONNECT", "/public/x"), sessionCred("root")), 400, "bad_request", nil},
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
	for name, tt := range map[string]struct {
		path   string
		header []string
	}{
		"traefik style": {gateway.VerifyPath, join(traefik("GET", "/admin/x"), sessionCred("root"))},
		"nginx style":   {gateway.VerifyPath, join(nginx("GET", "/admin/x"), sessionCred("root"))},
		"public route":  {gateway.VerifyPath, traefik("GET", "/public/x")},
		"nginx":         {gateway.VerifyNginxPath, join(nginx("GET", "/admin/x"), sessionCred("root"))},
		"forward":       {gateway.VerifyForwardPath, join(traefik("GET", "/admin/x"), sessionCred("root"))},
	} {
		t.Run(name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
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

// TestVerifyEndpointsReadOnlyTheirFamily is finding 1 of issue 11: nginx
// copies client headers into the auth_request subrequest, so a client could
// add X-Forwarded-Method/-Uri naming a public path (or GET) and the generic
// endpoint judged that instead of nginx's own X-Original-*. Each family
// endpoint must ignore the other family entirely.
func TestVerifyEndpointsReadOnlyTheirFamily(t *testing.T) {
	_, srv := serve(t, verifyRoutes(), verifyDeps())
	tests := []struct {
		name   string
		path   string
		header []string
		status int
		user   string // X-Auth-User on 200
	}{
		{"nginx: spoofed forward URI to a public path", gateway.VerifyNginxPath,
			join(nginx("GET", "/admin/secret"), traefik("GET", "/public/x")), 401, ""},
		{"nginx: spoofed forward method on a POST", gateway.VerifyNginxPath,
			join(nginx("POST", "/orders/1"), []string{"X-Forwarded-Method", "GET"}, tokenCred("alice")), 403, ""},
		{"nginx: spoofed forward headers alone", gateway.VerifyNginxPath,
			join(traefik("GET", "/public/x"), sessionCred("root")), 400, ""},
		{"nginx: its own headers", gateway.VerifyNginxPath,
			join(nginx("GET", "/admin/x"), sessionCred("root")), 200, "root"},
		{"nginx: GET on the orders route", gateway.VerifyNginxPath,
			join(nginx("GET", "/orders/1"), tokenCred("alice")), 200, "alice"},
		{"forward: spoofed original URI to a public path", gateway.VerifyForwardPath,
			join(traefik("GET", "/admin/secret"), nginx("GET", "/public/x")), 401, ""},
		{"forward: spoofed original method on a POST", gateway.VerifyForwardPath,
			join(traefik("POST", "/orders/1"), []string{"X-Original-Method", "GET"}, tokenCred("alice")), 403, ""},
		{"forward: spoofed original headers alone", gateway.VerifyForwardPath,
			join(nginx("GET", "/public/x"), sessionCred("root")), 400, ""},
		{"forward: its own headers", gateway.VerifyForwardPath,
			join(traefik("POST", "/orders/1"), tokenCred("root")), 200, "root"},
		{"forward: a header twice", gateway.VerifyForwardPath,
			join(traefik("GET", "/admin/x"), []string{"X-Forwarded-Uri", "/public/x"}, sessionCred("root")), 400, ""},
		{"nginx: the other family's host and proto are ignored", gateway.VerifyNginxPath,
			join(nginx("GET", "/admin/x"), []string{"X-Forwarded-Host", "other.example", "X-Forwarded-Proto", "https"}, sessionCred("root")), 200, "root"},
		{"forward: X-Original-URL is ignored", gateway.VerifyForwardPath,
			join(traefik("GET", "/admin/x"), []string{"X-Original-URL", "https://other.example/public/x"}, sessionCred("root")), 200, "root"},
		{"nginx: a header twice", gateway.VerifyNginxPath,
			join(nginx("GET", "/admin/x"), []string{"X-Original-Method", "GET"}, sessionCred("root")), 400, ""},
		{"unknown endpoint", gateway.VerifyPath + "/other",
			join(nginx("GET", "/admin/x"), sessionCred("root")), 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
			}
			if got := r.Header.Get("X-Auth-User"); got != tt.user {
				t.Errorf("X-Auth-User = %q, want %q", got, tt.user)
			}
		})
	}
}

// TestVerifyRefusesNonCanonicalURIs: nginx and Caddy forward the raw path
// upstream, so every endpoint refuses a URI it would have to normalise
// before judging. The credential is an admin's so that a normalised
// judgement would allow: only the spelling is refused.
func TestVerifyRefusesNonCanonicalURIs(t *testing.T) {
	_, srv := serve(t, verifyRoutes(), verifyDeps())
	uris := []string{
		"/admin/../app/x",     // judged /app/x, an upstream routing on "/admin" serves admin
		"/admin//../app/x",    // RFC 3986 resolution keeps /admin/app/x
		"/app/./x",            // a "." segment
		"/app/x/.",            // a trailing "." segment
		"/app/x/..",           // a trailing ".." segment
		"//admin",             // an empty segment
		"/app//x",             // an empty segment inside
		"/app/..%2fadmin",     // encoded "/"
		"/app/..%5cadmin",     // encoded "\"
		"/app/%2e%2e/admin",   // encoded dot segment
		"/app/%2E/x",          // encoded "." segment, upper case
		"/app/x%2ejson",       // encoded "." inside a segment
		"/%61dmin/x",          // encoded unreserved letter
		"/app/x;/../../admin", // ";" and dot segments
		"/app/x;jsessionid=1", // ";" parameter (Tomcat strips it)
		"/admin;/x",           // ";" that some servers drop
		"/app/%00",            // NUL
		"/app/\\..\\admin",    // raw "\"
		"/app/%zz",            // invalid escape
		"/app/x/../../../etc", // above the root
		"/..;/admin/x",        // the Tomcat classic
	}
	for _, ep := range []struct {
		path string
		desc func(method, uri string) []string
	}{{gateway.VerifyPath, nginx}, {gateway.VerifyPath, traefik}, {gateway.VerifyNginxPath, nginx}, {gateway.VerifyForwardPath, traefik}} {
		for _, uri := range uris {
			t.Run(ep.path+" "+uri, func(t *testing.T) {
				r := do(t, newRequest(t, "GET", srv.URL+ep.path, join(ep.desc("GET", uri), sessionCred("root"), tokenCred("root"))...))
				wantJSONError(t, r, http.StatusBadRequest, "bad_request")
				if got := r.Header.Get("X-Auth-User"); got != "" {
					t.Errorf("X-Auth-User = %q, want none", got)
				}
			})
		}
	}
	// The canonical spellings of the same requests are judged normally.
	for _, uri := range []string{"/app/x", "/app/x/", "/app/caf%C3%A9", "/app/a%20b?q=..//", "/app/x.json", "/app/"} {
		t.Run("canonical "+uri, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+gateway.VerifyNginxPath, join(nginx("GET", uri), tokenCred("alice"))...))
			if r.StatusCode != http.StatusOK || r.Header.Get("X-Auth-User") != "alice" {
				t.Errorf("status = %d, X-Auth-User = %q; want 200 alice (body %q)", r.StatusCode, r.Header.Get("X-Auth-User"), r.Body)
			}
		})
	}
}

// TestVerifyLoginRedirectUsesPublicURL: the browser is on the proxy's host,
// so the login URL is absolute on public_url; next is the original path and
// query (the login page accepts only same-origin paths).
func TestVerifyLoginRedirectUsesPublicURL(t *testing.T) {
	_, srv := serve(t, verifyRoutes(), verifyDeps())
	html := []string{"Accept", "text/html"}
	const want = "https://auth.example/login?next=%2Fadmin%2Fx%3Fa%3D1"
	tests := []struct {
		name, path string
		header     []string
		status     int
		location   string
		hint       string
	}{
		{"forward: 302", gateway.VerifyForwardPath, join(traefik("GET", "/admin/x?a=1"), html), 302, want, ""},
		{"nginx: 401 with a hint", gateway.VerifyNginxPath, join(nginx("GET", "/admin/x?a=1"), html), 401, "", want},
		{"API client: no redirect", gateway.VerifyForwardPath, traefik("GET", "/admin/x?a=1"), 401, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tt.status)
			}
			if got := r.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if got := r.Header.Get("X-Auth-Redirect"); got != tt.hint {
				t.Errorf("X-Auth-Redirect = %q, want %q", got, tt.hint)
			}
		})
	}
	// The built-in gateway keeps the relative /login: the browser is on
	// gatehouse's own host there (contract section 5).
	_, gw := serve(t, []config.Route{route("admin", "/admin/", "session", newUpstream(t).URL, "admin")}, verifyDeps())
	r := do(t, newRequest(t, "GET", gw.URL+"/admin/x?a=1", html...))
	if got, want := r.Header.Get("Location"), "/login?next=%2Fadmin%2Fx%3Fa%3D1"; r.StatusCode != 302 || got != want {
		t.Errorf("gateway: status %d Location %q, want 302 %q", r.StatusCode, got, want)
	}
}

// TestVerifyRefusesControlCharactersInTheQuery: a described URI whose query
// holds a control character (NUL, DEL, …) is malformed, as it is to
// gatehouse's own HTTP server and to the Envoy endpoints
// (url.ParseRequestURI): 400, never an allow or a login URL whose next
// the login page would refuse. FuzzVerifyHost found "/?\x00" (corpus
// entry cd880d4be0b935dc). The handler is called directly: net/http's
// client refuses to send such a header.
func TestVerifyRefusesControlCharactersInTheQuery(t *testing.T) {
	g, err := gateway.New([]config.Route{route("public", "/", "none", "http://127.0.0.1:1")}, verifyDeps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	for _, ep := range []struct {
		path string
		desc func(method, uri string) []string
	}{{gateway.VerifyPath, nginx}, {gateway.VerifyNginxPath, nginx}, {gateway.VerifyForwardPath, traefik}} {
		for _, uri := range []string{"/x?\x00", "/x?a=\x01", "/x?a=b\x1f", "/x?\x7f", "/x?a=\x0b"} {
			t.Run(fmt.Sprintf("%s %q", ep.path, uri), func(t *testing.T) {
				req := httptest.NewRequest("GET", ep.path, nil)
				req.RemoteAddr = "127.0.0.1:40000"
				h := ep.desc("GET", uri)
				for i := 0; i+1 < len(h); i += 2 {
					req.Header[http.CanonicalHeaderKey(h[i])] = []string{h[i+1]}
				}
				rec := httptest.NewRecorder()
				g.VerifyHandler().ServeHTTP(rec, req)
				if got, want := rec.Code, http.StatusBadRequest; got != want {
					t.Errorf("status = %d, want %d (body %q)", got, want, rec.Body.String())
				}
			})
		}
	}
}
