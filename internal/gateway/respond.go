package gateway

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// writeError writes the JSON error body of the contract, {"error":code},
// with httperr's one writer.
func writeError(w http.ResponseWriter, status int, code string) { httperr.JSON(w, status, code) }

// loginMode says how a browser without a usable session is sent to the
// login page.
type loginMode int

const (
	loginNone           loginMode = iota // 401, no redirect
	loginRedirect                        // 302 Location: /login?next=… (built-in gateway: gatehouse's own host)
	loginRedirectPublic                  // 302 Location: {public_url}/login?next=… (forward-auth: the proxy's host)
	loginHint                            // 401 plus X-Auth-Redirect: {public_url}/login?next=… (nginx auth_request cannot pass a 302 on)
)

// wantsLogin reports whether a denial should send a browser to the login
// page: the credential is missing or invalid, and browserOnSession.
func wantsLogin(r *http.Request, d decision) bool {
	return d.outcome == outcomeUnauthorized && browserOnSession(r, d)
}

// browserOnSession reports whether a denial goes to a browser that signs
// in with the session: a session credential was expected (auth session,
// or any without an Authorization header) and the client accepts HTML
// (httperr.WantsHTML). It gets a login redirect, a page or a step-up
// redirect, where an API client gets JSON.
func browserOnSession(r *http.Request, d decision) bool {
	return d.kind == kindSession && httperr.WantsHTML(r)
}

func (g *Gateway) redirectBrowser(r *http.Request, d decision) loginMode {
	if wantsLogin(r, d) {
		return loginRedirect
	}
	return loginNone
}

// loginLocation is the login URL with next set to the clean path and query,
// so the login page can send the user back after signing in. Forward-auth
// modes get it absolute on Deps.PublicURL: the browser is on the proxy's
// host, and a relative Location would stay there or, passed on by a proxy
// that does not rewrite it, name gatehouse's internal address.
//
// On such an absolute login URL, a request for a host that a route names
// (exactly or by wildcard) and that is not public_url's gets an absolute
// next on its own host, so that the browser returns there after login; the
// login page accepts it because a route names the host (oidc.SafeNextOn).
// The scheme is the one the proxy reported (fr.URL.Scheme), else
// public_url's.
func (g *Gateway) loginLocation(fr *http.Request, mode loginMode, p string) string {
	next := escapePath(p)
	if fr.URL.RawQuery != "" {
		next += "?" + fr.URL.RawQuery
	}
	login := g.loginURL
	if mode != loginRedirect && strings.HasPrefix(login, "/") {
		login = strings.TrimRight(g.deps.PublicURL, "/") + login
		next = g.absoluteNext(fr, next)
	}
	sep := "?"
	if strings.Contains(login, "?") {
		sep = "&"
	}
	return login + sep + "next=" + url.QueryEscape(next)
}

// deny logs and answers a refused decision. A store outage is 503 with
// Retry-After (httperr): as the HTML error page to a browser that signs in
// with the session (as wantsLogin), else as JSON. The page's link back to
// sign-in is the URL a login redirect in mode would name (loginNone: the
// built-in gateway's), since a forward-auth proxy passes the page on to a
// browser on the app's host, where a relative /login is the app's.
func (g *Gateway) deny(w http.ResponseWriter, r *http.Request, rt *Route, p string, d decision, mode loginMode) {
	g.logDenial(r, rt.Name, p, d)
	g.observe(rt.Name, d.kind, d.outcome)
	setLimitHeaders(w.Header(), rt, d)
	switch d.outcome {
	case outcomeRateLimited:
		httperr.Write(w, &auth.RateLimitedError{RetryAfter: d.limit.res.RetryAfter})
	case outcomeUnavailable:
		if browserOnSession(r, d) {
			// A page, not raw JSON.
			httperr.WritePageSignIn(w, d.err, g.loginLocation(r, orRedirect(mode), p))
			return
		}
		httperr.Write(w, d.err)
	case outcomeStepUp:
		g.stepUp(w, r, p, d, mode)
	case outcomeForbidden:
		switch {
		case d.reason == reasonInsufficientScope: // RFC 6750 §3.1, naming the scopes the route needs
			w.Header().Set("WWW-Authenticate", rt.scopeChallenge)
		case d.kind == kindToken: // RFC 6750 §3.1: a valid token without the needed role
			w.Header().Set("WWW-Authenticate", httperr.ChallengeWith("insufficient_scope"))
		}
		httperr.Write(w, auth.ErrForbidden)
	default:
		g.unauthorized(w, r, p, d, mode)
	}
}

// orRedirect is mode, or loginRedirect for loginNone: where the login page
// is for a browser the built-in gateway serves, on gatehouse's own
// listener whatever its host (/login is served on every host).
func orRedirect(mode loginMode) loginMode {
	if mode == loginNone {
		return loginRedirect
	}
	return mode
}

func (g *Gateway) unauthorized(w http.ResponseWriter, r *http.Request, p string, d decision, mode loginMode) {
	switch mode {
	case loginRedirect, loginRedirectPublic:
		sendToLogin(w, r, g.loginLocation(r, mode, p))
		return
	case loginHint:
		w.Header().Set("X-Auth-Redirect", g.loginLocation(r, mode, p))
	}
	w.Header().Set("WWW-Authenticate", httperr.ChallengeWith(d.challenge))
	httperr.Write(w, auth.ErrUnauthenticated)
}

// sendToLogin answers a browser with 302 to loc, the login or step-up
// page, with the headers of every answer gatehouse writes itself
// (docs/security.md, "Response headers"): never cached (it depends on the
// credential), never sniffed (http.Redirect writes a small HTML body).
func sendToLogin(w http.ResponseWriter, r *http.Request, loc string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	http.Redirect(w, r, loc, http.StatusFound)
}

// logDenial writes one line per refused request. It never logs credentials:
// only the route, the reason, the method and the clean path (no query, which
// may carry secrets).
func (g *Gateway) logDenial(r *http.Request, route, p string, d decision) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("route", route),
		slog.Bool("granted", false),
		slog.String("reason", d.reason),
		slog.String("credential", d.kind),
		slog.String("method", r.Method),
		slog.String("path", p),
	}
	if d.outcome == outcomeUnavailable {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", d.err.Error()))
	}
	g.log.LogAttrs(r.Context(), level, "gateway: request denied", attrs...)
}

func (g *Gateway) refuseBadPath(w http.ResponseWriter, r *http.Request, err error) {
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway: request denied",
		slog.Bool("granted", false), slog.String("reason", reasonBadPath),
		slog.String("method", r.Method), slog.String("error", err.Error()))
	g.observe("", kindNone, "bad_request")
	writeError(w, http.StatusBadRequest, "bad_request")
}

// refuseBadBody answers a request whose body is malformed from its first
// byte (a bad chunk size): 400, and the upstream is never called.
func (g *Gateway) refuseBadBody(w http.ResponseWriter, r *http.Request, rt *Route, d decision, err error) {
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway: request refused",
		slog.String("route", rt.Name), slog.String("reason", reasonBadBody),
		slog.String("method", r.Method), slog.String("error", err.Error()))
	g.observe(rt.Name, d.kind, "bad_request")
	w.Header().Set("Connection", "close") // the rest of the stream cannot be framed
	writeError(w, http.StatusBadRequest, "bad_request")
}

func (g *Gateway) refuseNotFound(w http.ResponseWriter, r *http.Request, p string) {
	g.log.LogAttrs(r.Context(), slog.LevelDebug, "gateway: no route",
		slog.String("reason", reasonNoRoute), slog.String("method", r.Method), slog.String("path", p))
	g.observe("", kindNone, "not_found")
	writeError(w, http.StatusNotFound, "not_found")
}

// stepUp answers a credential without the second factor a route needs: a
// browser with a session goes to /login/mfa (step-up; the session gets a
// new ID there) — or, behind nginx, gets the 401 with X-Auth-Redirect
// pointing there; anything else gets RFC 9470's 401.
func (g *Gateway) stepUp(w http.ResponseWriter, r *http.Request, p string, d decision, mode loginMode) {
	loc := strings.Replace(g.loginLocation(r, orRedirect(mode), p), "/login?", "/login/mfa?", 1)
	if browserOnSession(r, d) {
		if mode != loginHint {
			sendToLogin(w, r, loc)
			return
		}
		w.Header().Set("X-Auth-Redirect", loc)
	}
	w.Header().Set("WWW-Authenticate", httperr.Challenge+`, error="insufficient_user_authentication", error_description="a second factor is required"`)
	writeError(w, http.StatusUnauthorized, "insufficient_user_authentication")
}
