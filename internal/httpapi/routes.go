package httpapi

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// routes lists every endpoint (contract sections 3–7). Cookie-authenticated
// state-changing endpoints are wrapped in cross-origin protection.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	ownFirst := map[string]bool{} // first path segments of the patterns below
	var methods httperr.MethodSet // of the patterns below
	own := func(pattern string, h http.Handler) {
		mux.Handle(pattern, s.own(h))
		methods.Add(pattern)
		p := pattern // "[METHOD ]PATH"
		if _, after, ok := strings.Cut(pattern, " "); ok {
			p = after
		}
		ownFirst[firstSegment(p)] = true
	}
	csrf := s.cop.Handler

	// Sessions (section 3)
	own("POST /auth/login", csrf(s.handleLogin()))
	own("GET /auth/session", s.handleSession())
	own("POST /auth/logout", csrf(s.handleLogout()))
	own("GET /auth/sessions", s.handleListSessions())
	own("DELETE /auth/sessions/{id}", csrf(s.handleRevokeSession()))
	own("POST /auth/sessions/{id}/revoke", csrf(s.handleRevokeSession())) // HTML form on /account
	own("DELETE /auth/sessions", csrf(s.handleRevokeOtherSessions()))
	own("POST /auth/sessions/revoke-others", csrf(s.handleRevokeOtherSessions())) // HTML form on /account
	own("POST /auth/password", csrf(s.handleChangePassword()))
	own("GET /login", s.handleLoginPage())
	own("GET /account", s.handleAccountPage())

	// Second factor (section 9)
	if s.MFA != nil {
		own("POST /auth/login/mfa", csrf(s.handleLoginMFA()))
		own("GET /login/mfa", s.handleLoginMFAPage())
		own("POST /auth/mfa/totp", csrf(s.handleTOTPEnrol()))
		own("POST /auth/mfa/totp/confirm", csrf(s.handleTOTPConfirm()))
		own("DELETE /auth/mfa/totp", csrf(s.handleTOTPDelete()))
		own("POST /auth/mfa/totp/delete", csrf(s.handleTOTPDelete())) // HTML form on /account
		own("POST /auth/mfa/recovery-codes", csrf(s.handleRecoveryCodes()))
	}
	if s.MFA != nil && s.Passkeys != nil {
		own("POST /auth/webauthn/register/begin", csrf(s.handleWebAuthnRegisterBegin()))
		own("POST /auth/webauthn/register/finish", csrf(s.handleWebAuthnRegisterFinish()))
		own("GET /auth/webauthn", s.handleWebAuthnList())
		own("DELETE /auth/webauthn/{id}", csrf(s.handleWebAuthnDelete()))
		own("POST /auth/webauthn/{id}/delete", csrf(s.handleWebAuthnDelete())) // HTML form on /account
		own("POST /auth/webauthn/login/begin", csrf(s.handleWebAuthnLoginBegin()))
		own("POST /auth/webauthn/login/finish", csrf(s.handleWebAuthnLoginFinish()))
	}
	own("GET /static/webauthn.js", handleStatic(webauthnScript()))

	// Tokens (section 4)
	own("POST /auth/token", s.handleToken())
	own("POST /auth/revoke", s.handleRevoke())
	own("GET /.well-known/jwks.json", s.handleJWKS())
	own("GET /.well-known/oauth-authorization-server", s.handleMetadata())
	own("GET /auth/userinfo", s.handleUserinfo())
	own("POST /auth/userinfo", s.handleUserinfo()) // OIDC Core §5.3.1: GET and POST

	// Apps: authorization server and OpenID Provider (section 8)
	own("GET /auth/authorize", s.handleAuthorize())
	// A relying party's form POST (OIDC Core §3.1.2.1) is cross-site by
	// design and becomes the GET; only the consent form's answer, same-origin,
	// reaches handleAuthorize.
	own("POST /auth/authorize", s.authorizePOST(csrf(s.handleAuthorize())))
	own("GET /.well-known/openid-configuration", s.handleMetadata())
	// No cross-origin wrapper: an RP may POST here with an id_token_hint;
	// the handler checks the origin of its own confirmation form.
	own("POST /auth/consents/{client}/revoke", csrf(s.handleWithdrawConsent())) // HTML form on /account
	own("DELETE /auth/consents/{client}", csrf(s.handleWithdrawConsent()))
	// Grants (refresh families) that no browser session holds (contract §8).
	own("DELETE /auth/grants/{id}", csrf(s.handleRevokeGrant()))
	own("POST /auth/grants/{id}/revoke", csrf(s.handleRevokeGrant())) // HTML form on /account
	own("GET /auth/end_session", s.handleEndSession())
	own("POST /auth/end_session", s.handleEndSession())

	// Gateway (section 5)
	if s.Verify != nil {
		// One handler; the path picks the proxy family whose headers it reads.
		for _, p := range []string{gateway.VerifyPath, gateway.VerifyNginxPath, gateway.VerifyForwardPath} {
			own("GET "+p, s.Verify)
		}
	}
	var envoy http.Handler
	if s.VerifyEnvoy != nil { // section 12: the original method and path follow the prefix
		own(envoyPrefix, s.VerifyEnvoy)
		envoy = s.own(s.VerifyEnvoy)
	}

	// OIDC (section 7)
	if s.OIDC != nil {
		own("GET /auth/oidc/{name}/start", s.OIDC.Start())
		own("GET /auth/oidc/{name}/callback", s.OIDC.Callback())
		// Server to server from the provider: no cookie, no CSRF wrapper.
		own("POST /auth/oidc/{name}/backchannel-logout", s.OIDC.BackchannelLogout())
	}

	// Administration (section 11): internal/admin lists its endpoints.
	if s.Admin != nil {
		own("/admin/api/", s.Admin)
		if s.AdminConsole {
			own("/admin/", s.Admin)
		}
	}
	own("GET /openapi.json", s.handleOpenAPI())

	// Operations (section 6)
	own("GET /healthz", s.handleHealthz())
	own("GET /readyz", s.handleReadyz())

	fallback := s.Gateway
	if fallback == nil {
		fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httperr.Write(w, auth.ErrNotFound)
		})
	}
	// The catch-all "/" matches every method, so ServeMux never answers 405
	// by itself: a path an endpoint serves with other methods only answers
	// 405 with Allow (RFC 9110 section 15.5.6) here, and the gateway gets
	// the rest.
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := methods.Allowed(mux, r, "/"); allow != "" {
			s.own(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				httperr.MethodNotAllowed(w, allow)
			})).ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Envoy's HTTP ext_authz appends the client's raw path to the
		// prefix, so this path is the client's to spell. Whatever it is,
		// the Envoy handler answers (400 for a path that is not canonical):
		// sent on to the gateway below, "../" segments would climb out of
		// the prefix to a route whose upstream's 200 Envoy takes for an
		// allow. The gateway, second, never proxies a path under
		// /auth/verify either.
		if envoy != nil && strings.HasPrefix(rawPath(r.URL), envoyPrefix) {
			envoy.ServeHTTP(w, r)
			return
		}
		// ServeMux would answer an unclean path ("//x", "/a/../b") with a
		// redirect; the gateway instead normalises it (or refuses it) itself,
		// so the path it matches is the path that goes upstream.
		// A path whose first segment no pattern has can only reach the
		// fallback: skip ServeMux (its matching allocates) on that hot path.
		if !ownFirst[firstSegment(r.URL.Path)] || !isClean(r.URL.Path) || r.Method == http.MethodConnect {
			fallback.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// envoyPrefix is where Envoy's HTTP ext_authz service sends its checks
// (path_prefix /auth/verify/envoy, then the original path).
const envoyPrefix = gateway.VerifyEnvoyPath + "/"

// rawPath is u's path as it came on the wire: Envoy's prefix is literal
// there, whatever the client's path after it decodes to.
func rawPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.Path
}

// firstSegment is the first segment of an absolute path ("auth" for
// "/auth/login").
func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// isClean reports whether p is its own cleanPath. An absolute path without
// "//" and "/." has nothing for path.Clean to remove, so the common case
// (every forward-auth subrequest) is one scan instead of a Clean that
// ServeMux then repeats.
func isClean(p string) bool {
	if p != "" && p[0] == '/' && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	return p == cleanPath(p)
}

// cleanPath is path.Clean keeping a trailing slash, as ServeMux cleans.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
