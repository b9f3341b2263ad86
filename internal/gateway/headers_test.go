package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func TestIdentityHeadersCannotBeSpoofed(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("public", "/public/", "none", up.URL),
		route("app", "/app/", "session", up.URL),
	}, deps())
	spoof := []string{
		"X-Auth-User", "mallory",
		"x-auth-roles", "admin",
		"X-AUTH-SUBJECT", "u-mallory",
		"X-Auth-Method", "token",
		"X-Auth-Extra", "1",
		"Connection", "X-Auth-User, X-Auth-Roles, X-Auth-Subject",
	}
	tests := []struct {
		name string
		path string
		cred []string
		want map[string][]string // nil value = header absent
	}{
		{"authenticated route", "/app/x", sessionCred("alice"), map[string][]string{
			"X-Auth-User": {"alice"}, "X-Auth-Roles": {"user"}, "X-Auth-Subject": {"u-alice"},
			"X-Auth-Method": {"session"}, "X-Auth-Extra": nil,
		}},
		{"public route", "/public/x", nil, map[string][]string{
			"X-Auth-User": nil, "X-Auth-Roles": nil, "X-Auth-Subject": nil, "X-Auth-Method": nil, "X-Auth-Extra": nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// raw keeps the header names exactly as spelled above.
			r := raw(t, srv, "GET", tt.path, append(slices.Clone(spoof), tt.cred...)...)
			if r.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", r.StatusCode)
			}
			h := up.last(t).Header
			for k, want := range tt.want {
				if got := h.Values(k); !slices.Equal(got, want) {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestRolesAreCommaSeparated(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{route("app", "/app/", "token", up.URL)}, deps())
	if r := do(t, newRequest(t, "GET", srv.URL+"/app/", tokenCred("root")...)); r.StatusCode != 200 {
		t.Fatalf("status = %d", r.StatusCode)
	}
	h := up.last(t).Header
	if got, want := h.Get("X-Auth-Roles"), "admin,user"; got != want {
		t.Errorf("X-Auth-Roles = %q, want %q", got, want)
	}
	if got, want := h.Get("X-Auth-User"), "root"; got != want {
		t.Errorf("X-Auth-User = %q, want %q", got, want)
	}
}

func TestCredentialsNeverReachUpstream(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{
		route("public", "/public/", "none", up.URL),
		route("app", "/app/", "session", up.URL),
		route("api", "/api/", "token", up.URL),
	}, func() gateway.Deps {
		d := deps()
		d.PrivateCookies, d.PrivateCookiePrefixes = []string{"pending"}, []string{"login-state-"}
		return d
	}())
	tests := []struct {
		name       string
		path       string
		header     []string
		wantCookie []string
	}{
		{"session cookie among others", "/app/x", []string{"Cookie", "theme=dark; " + cookieName + "=sess-alice; lang=en", "Authorization", "Bearer tok-alice"}, []string{"theme=dark; lang=en"}},
		{"only the session cookie", "/app/x", []string{"Cookie", cookieName + "=sess-alice"}, nil},
		{"token route", "/api/x", []string{"Cookie", cookieName + "=sess-alice;theme=dark", "Authorization", "Bearer tok-alice"}, []string{"theme=dark"}},
		{"public route", "/public/x", []string{"Cookie", cookieName + "=sess-alice; a=b", "Authorization", "Bearer tok-alice"}, []string{"a=b"}},
		{"similar cookie names are kept", "/public/x", []string{"Cookie", cookieName + "x=1; x" + cookieName + "=2"}, []string{cookieName + "x=1; x" + cookieName + "=2"}},
		{"private cookie", "/public/x", []string{"Cookie", "a=b; pending=sealed"}, []string{"a=b"}},
		{"private and session cookie", "/app/x", []string{"Cookie", "pending=sealed; " + cookieName + "=sess-alice"}, nil},
		{"private cookie prefix", "/public/x", []string{"Cookie", "a=b; login-state-1f2e=sealed; login-state-=x; c=d"}, []string{"a=b; c=d"}},
		{"prefix only at the start", "/public/x", []string{"Cookie", "my-login-state-1=v; login-stat=w"}, []string{"my-login-state-1=v; login-stat=w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...)); r.StatusCode != 200 {
				t.Fatalf("status = %d, want 200 (body %q)", r.StatusCode, r.Body)
			}
			h := up.last(t).Header
			if got := h.Values("Cookie"); !slices.Equal(got, tt.wantCookie) {
				t.Errorf("upstream Cookie = %q, want %q", got, tt.wantCookie)
			}
			if got := h.Values("Authorization"); got != nil {
				t.Errorf("upstream Authorization = %q, want none", got)
			}
		})
	}
}

func TestForwardJWT(t *testing.T) {
	up := newUpstream(t)
	jwtRoute := route("billing", "/billing/", "any", up.URL)
	jwtRoute.Forward = "jwt"
	_, srv := serve(t, []config.Route{jwtRoute}, deps())
	for _, cred := range [][]string{tokenCred("alice"), sessionCred("alice")} {
		if r := do(t, newRequest(t, "GET", srv.URL+"/billing/x", cred...)); r.StatusCode != 200 {
			t.Fatalf("status = %d, want 200", r.StatusCode)
		}
		// fakeIssuer encodes subject, audience and lifetime into the token.
		if got, want := up.last(t).Header.Values("Authorization"), []string{"Bearer internal.u-alice.billing.1m0s"}; !slices.Equal(got, want) {
			t.Errorf("upstream Authorization = %q, want %q", got, want)
		}
	}
}

func TestForwardJWTIssuerFailureFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"key store down", fmt.Errorf("load signing key: %w", auth.ErrUnavailable), 503, "unavailable"},
		{"other failure", errors.New("sign: broken key"), 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			r := route("billing", "/billing/", "token", up.URL)
			r.Forward = "jwt"
			d := deps()
			d.Internal = fakeIssuer{err: tt.err}
			_, srv := serve(t, []config.Route{r}, d)
			wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+"/billing/x", tokenCred("alice")...)), tt.status, tt.code)
			if up.count() != 0 {
				t.Error("request was proxied without its internal token")
			}
		})
	}
}

// TestInvalidStoredRoleFailsClosed: a role that cannot travel in
// X-Auth-Roles (a control character stored before the role rule refused
// it) fails the request closed with 500 internal_error and a log line that
// says why, instead of reaching no upstream with a misleading 502
// bad_gateway (net/http refuses the header) or answering a forward-auth
// proxy 200 with an invalid header.
func TestInvalidStoredRoleFailsClosed(t *testing.T) {
	up := newUpstream(t)
	d := deps()
	var logs testutil.SyncBuffer
	d.Logger = slogText(&logs)
	_, srv := serve(t, []config.Route{route("app", "/app/", "session", up.URL)}, d)
	wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+"/app/x", sessionCred("badrole")...)), 500, "internal_error")
	wantJSONError(t, do(t, newRequest(t, "GET", srv.URL+gateway.VerifyPath, join(traefik("GET", "/app/x"), sessionCred("badrole"))...)), 500, "internal_error")
	if up.count() != 0 {
		t.Error("the request reached the upstream")
	}
	if !containsLine(logs.String(), "invalid role") {
		t.Errorf("log does not say the role is invalid:\n%s", logs.String())
	}
}

func TestForwardedHeadersTrustedOnlyFromTrustedProxies(t *testing.T) {
	spoof := []string{
		"X-Forwarded-For", "203.0.113.7",
		"X-Forwarded-Host", "victim.example",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Prefix", "/evil",
		"X-Original-URI", "/admin/",
		"X-Original-URL", "/admin/secret",
		"X-Original-Method", "DELETE",
		"X-Rewrite-URL", "/admin/secret",
		"X-Real-IP", "203.0.113.8",
		"Forwarded", "for=203.0.113.9",
	}
	tests := []struct {
		name    string
		trusted bool
		want    map[string][]string // host placeholder "{gw}" = the gateway's host
	}{
		{"untrusted peer", false, map[string][]string{
			"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"{gw}"}, "X-Forwarded-Proto": {"http"},
			"X-Forwarded-Prefix": nil, "X-Original-Uri": nil, "X-Real-Ip": nil, "Forwarded": nil,
		}},
		{"trusted peer", true, map[string][]string{
			"X-Forwarded-For": {"203.0.113.7, 127.0.0.1"}, "X-Forwarded-Host": {"victim.example"}, "X-Forwarded-Proto": {"https"},
			"X-Forwarded-Prefix": {"/evil"}, "X-Real-Ip": {"203.0.113.8"}, "Forwarded": {"for=203.0.113.9"},
			// Routing overrides never go upstream, even from a trusted
			// proxy: an application that reads them (IIS, Symfony,
			// Laravel) would serve a path the route matcher never saw.
			"X-Original-Uri": nil, "X-Original-Url": nil, "X-Original-Method": nil, "X-Rewrite-Url": nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			d := deps()
			d.TrustedProxies = notLoopback()
			if tt.trusted {
				d.TrustedProxies = loopback()
			}
			_, srv := serve(t, []config.Route{route("public", "/", "none", up.URL)}, d)
			if r := do(t, newRequest(t, "GET", srv.URL+"/x", spoof...)); r.StatusCode != 200 {
				t.Fatalf("status = %d", r.StatusCode)
			}
			h := up.last(t).Header
			for k, want := range tt.want {
				for i := range want {
					if want[i] == "{gw}" {
						want[i] = srv.Listener.Addr().String()
					}
				}
				if got := h.Values(k); !slices.Equal(got, want) {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestStripPrefixAndHost(t *testing.T) {
	up := newUpstream(t)
	strip := func(r config.Route) config.Route { r.StripPrefix = true; return r }
	preserve := route("keep", "/keep/", "none", up.URL)
	preserve.PreserveHost = true
	_, srv := serve(t, []config.Route{
		strip(route("api", "/api/", "none", up.URL)),
		strip(route("app", "/app", "none", up.URL)),
		strip(route("based", "/based/", "none", up.URL+"/v1/")),
		route("plain", "/plain/", "none", up.URL),
		preserve,
	}, deps())
	gw := srv.Listener.Addr().String()
	upHost := up.Listener.Addr().String()
	tests := []struct {
		target, wantURI, wantHost string
	}{
		{"/api/x/y?q=1", "/x/y?q=1", upHost},
		{"/api/", "/", upHost},
		{"/api", "/", upHost},
		{"/app/x", "/x", upHost},
		{"/app", "/", upHost},
		{"/based/x", "/v1/x", upHost},
		{"/plain/x", "/plain/x", upHost},
		{"/keep/x", "/keep/x", gw},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if r := raw(t, srv, "GET", tt.target); r.StatusCode != 200 {
				t.Fatalf("status = %d", r.StatusCode)
			}
			s := up.last(t)
			if s.RequestURI != tt.wantURI {
				t.Errorf("upstream request-target = %q, want %q", s.RequestURI, tt.wantURI)
			}
			if s.Host != tt.wantHost {
				t.Errorf("upstream Host = %q, want %q", s.Host, tt.wantHost)
			}
		})
	}
}

func TestObserveAndDenialLog(t *testing.T) {
	up := newUpstream(t)
	var logs testutil.SyncBuffer
	type call struct{ route, method, outcome string }
	calls := make(chan call, 10)
	d := deps()
	d.Logger = slogText(&logs)
	d.Observe = func(route, method, outcome string) { calls <- call{route, method, outcome} }
	_, srv := serve(t, []config.Route{route("api", "/api/", "token", up.URL, "user")}, d)

	do(t, newRequest(t, "GET", srv.URL+"/api/x", tokenCred("alice")...))
	do(t, newRequest(t, "GET", srv.URL+"/api/x", tokenCred("revoked")...))
	do(t, newRequest(t, "GET", srv.URL+"/api/x", "Cookie", cookieName+"=sess-alice-secret"))
	do(t, newRequest(t, "GET", srv.URL+"/api/x", tokenCred("guest")...))
	do(t, newRequest(t, "GET", srv.URL+"/nowhere"))

	want := []call{
		{"api", "token", "allow"},
		{"api", "token", "unauthorized"},
		{"api", "token", "unauthorized"},
		{"api", "token", "forbidden"},
		{"", "none", "not_found"},
	}
	for i, w := range want {
		if got := <-calls; got != w {
			t.Errorf("Observe call %d = %+v, want %+v", i, got, w)
		}
	}
	out := logs.String()
	for _, needle := range []string{"reason=revoked", "reason=no_credentials", "reason=wrong_role", "granted=false"} {
		if !containsLine(out, needle) {
			t.Errorf("log lacks %q:\n%s", needle, out)
		}
	}
	for _, secret := range []string{"tok-revoked", "tok-guest", "sess-alice-secret"} {
		if containsLine(out, secret) {
			t.Errorf("log contains the credential %q:\n%s", secret, out)
		}
	}
}

var _ gateway.SessionAuthenticator = fakeSessions{}
var _ gateway.TokenVerifier = fakeTokens{}
var _ gateway.InternalIssuer = fakeIssuer{}

// TestUpstreamCannotSetGatehouseCookies: an upstream's Set-Cookie for the
// session cookie replaced the user's session with one the upstream chose
// (HttpOnly keeps only scripts from doing that), expired it, or planted a
// second one; so did one for a private cookie. Such fields are removed from
// the upstream's response, in every spelling a browser stores under the
// name; the upstream's other cookies pass.
func TestUpstreamCannotSetGatehouseCookies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Set-Cookie"] = append(r.Header.Values("X-Set"), "theme=dark; Path=/")
	}))
	t.Cleanup(up.Close)
	var logs testutil.SyncBuffer
	d := deps()
	d.PrivateCookies = []string{"pending"}
	d.PrivateCookiePrefixes = []string{"state-"}
	d.Logger = slogText(&logs)
	_, srv := serve(t, []config.Route{route("app", "/", "session", up.URL)}, d)
	tests := []struct {
		name, set string
		kept      bool
	}{
		{"session cookie", cookieName + "=sess-root; Path=/; HttpOnly", false},
		{"session cookie expired", cookieName + "=; Path=/; Max-Age=0", false},
		{"session cookie on a domain", cookieName + "=sess-root; Domain=example.com", false},
		{"spaces around the name", " " + cookieName + " = sess-root", false},
		{"nameless cookie read back as the session", "=" + cookieName + "=sess-root; Path=/", false},
		{"nameless cookie without a value", cookieName, false},
		{"private cookie", "pending=sealed; Path=/", false},
		{"private cookie by prefix", "state-abc=sealed; Path=/", false},
		{"longer name", cookieName + "x=1", true},
		{"name as value", "a=" + cookieName, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const line = `msg="gateway: upstream tried to set a gatehouse cookie" route=app`
			before := strings.Count(logs.String(), line)
			r := do(t, newRequest(t, "GET", srv.URL+"/x", "Cookie", cookieName+"=sess-alice", "X-Set", tt.set))
			if r.StatusCode != 200 {
				t.Fatalf("status = %d, want 200 (body %q)", r.StatusCode, r.Body)
			}
			want := []string{"theme=dark; Path=/"}
			if tt.kept {
				want = []string{tt.set, "theme=dark; Path=/"}
			}
			if got := r.Header.Values("Set-Cookie"); !slices.Equal(got, want) {
				t.Errorf("client Set-Cookie = %q, want %q", got, want)
			}
			if logged := strings.Count(logs.String(), line) > before; logged == tt.kept {
				t.Errorf("logged %q = %v, want %v", line, logged, !tt.kept)
			}
		})
	}
}
