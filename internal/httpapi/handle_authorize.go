package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/session"
)

// authAfterParam is gatehouse's own authorization-request parameter: the
// Unix time after which the session must have started. /auth/authorize
// sets it on the URL that /login returns to, in place of prompt=login and
// max_age, so that a fresh login satisfies them and the browser does not
// loop back to /login.
const authAfterParam = "auth_after"

// authorizeParams are the request parameters the consent form carries.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "response_mode", authAfterParam}

// prompts are the prompt values of OIDC Core §3.1.2.1, all supported.
var prompts = []string{"none", "login", "consent", "select_account"}

// authzError is an error that goes back to the client's redirect_uri
// (RFC 6749 §4.1.2.1).
type authzError struct{ code, desc string }

// handleAuthorize is the authorization endpoint (contract §8): code flow
// with PKCE S256 only. GET starts or resumes a request; POST is the
// consent form's answer (same-origin only: routes wraps it).
func (s *server) handleAuthorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, err := requestParams(r)
		if err != nil {
			s.authorizePage(w, http.StatusBadRequest, "The authorization request is malformed.")
			return
		}
		c, redirectURI, ok := s.authorizeClient(w, r, params)
		if !ok {
			return
		}
		back := func(v url.Values) { s.authorizeRedirect(w, r, redirectURI, v, params.Get("state")) }
		now := s.now()
		req, prompt, authAfter, aerr := parseAuthorize(c, redirectURI, params, now)
		if aerr != nil {
			back(url.Values{"error": {aerr.code}, "error_description": {aerr.desc}})
			return
		}
		// The request must fit the next that /login returns to (2048 bytes,
		// oidc.SafeNext), signed in or not: a longer one would be lost at
		// /login, and state and nonce are echoed and stored.
		if next := loginNext(params, now); oidc.SafeNext(next) != next {
			back(url.Values{"error": {"invalid_request"}, "error_description": {"the authorization request is too long: " +
				"state, nonce, scope and the rest must fit 2048 bytes"}})
			return
		}
		hintSub, ok := s.idTokenHintSubject(params.Get("id_token_hint"))
		if !ok {
			back(url.Values{"error": {"invalid_request"}, "error_description": {"id_token_hint is not an ID token this server issued"}})
			return
		}
		p, rec, err := s.currentSession(r)
		if err != nil && httperr.Unavailable(err) {
			s.authorizeOutage(w, r, err)
			return
		}
		// One session per browser: select_account is a new login, where the
		// user may sign in as someone else (OIDC Core §3.1.2.1).
		fresh := err == nil && !prompt["login"] && !prompt["select_account"] && (authAfter == 0 || rec.CreatedAt.Unix() >= authAfter)
		// An id_token_hint names the user the client expects (OIDC Core
		// §3.1.2.1): another user signed in is not a session for this
		// request. /login (which returns without the hint: signing in there
		// is the user's choice) or, silently, login_required — never a code
		// for someone the client did not ask about.
		other := fresh && hintSub != "" && hintSub != p.Subject
		if !fresh || other {
			if prompt["none"] {
				desc := "the user is not signed in"
				if other {
					desc = "the signed-in user is not the one id_token_hint names"
				}
				back(url.Values{"error": {"login_required"}, "error_description": {desc}})
				return
			}
			toLogin(w, r, loginNext(params, now), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			s.authorizeConsentAnswer(w, r, req, p, rec, back)
			return
		}
		need, err := s.Apps.NeedsConsent(r.Context(), c, p.Subject, req.Scopes)
		if err != nil {
			s.authorizeOutage(w, r, err)
			return
		}
		if need || prompt["consent"] {
			if prompt["none"] {
				back(url.Values{"error": {"consent_required"}, "error_description": {"the user has not allowed this client"}})
				return
			}
			s.consentForm(w, r, req, p, params)
			return
		}
		s.issueCode(w, r, req, p, rec, back)
	})
}

// authorizePOST sends an authorization request made as a form POST (OIDC
// Core §3.1.2.1: the endpoint MUST take GET and POST) on as 303 to the
// same request as a GET, and gives consent answers (the consent form's
// POST, which carries consent_token) to answer. A relying party posts its
// request cross-site, which brings no SameSite=Lax session cookie and must
// not decide anything: the GET it turns into does (login, consent page,
// refusals). The query and the body are sent on together, so a parameter
// in both, or repeated, is refused there as a repeat.
func (s *server) authorizePOST(answer http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.authorizePage(w, http.StatusBadRequest, "The authorization request is malformed.")
			return
		}
		if _, ok := r.PostForm["consent_token"]; ok {
			answer.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, "/auth/authorize?"+r.Form.Encode(), http.StatusSeeOther)
	})
}

// requestParams are the query parameters of a GET and the form of a POST
// (OAuth endpoints accept either, never a mix).
func requestParams(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// authorizeClient checks client_id and redirect_uri. Either one wrong is a
// 400 page, never a redirect: the redirect_uri is not known to be the
// client's.
func (s *server) authorizeClient(w http.ResponseWriter, r *http.Request, params url.Values) (client.Client, string, bool) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(params[k]) > 1 {
			s.authorizePage(w, http.StatusBadRequest, "The authorization request repeats "+k+".")
			return client.Client{}, "", false
		}
	}
	if s.Clients == nil || s.Apps == nil {
		s.authorizePage(w, http.StatusBadRequest, "This server has no registered applications.")
		return client.Client{}, "", false
	}
	c, err := s.Clients.Lookup(r.Context(), params.Get("client_id"))
	switch {
	case httperr.Unavailable(err):
		s.authorizeOutage(w, r, err)
		return client.Client{}, "", false
	case err != nil:
		s.authorizePage(w, http.StatusBadRequest, "The application that sent you here is not registered.")
		return client.Client{}, "", false
	}
	uri := params.Get("redirect_uri")
	if uri == "" || !c.RedirectAllowed(uri) {
		s.authorizePage(w, http.StatusBadRequest, "The application asked to return you to an address it has not registered.")
		return client.Client{}, "", false
	}
	return c, uri, true
}

// parseAuthorize validates the rest of the request once client and
// redirect URI are known; its errors are redirected.
func parseAuthorize(c client.Client, redirectURI string, params url.Values, now time.Time) (authserver.Request, map[string]bool, int64, *authzError) {
	for k, v := range params {
		if len(v) > 1 {
			return authserver.Request{}, nil, 0, &authzError{"invalid_request", "parameter " + k + " is repeated"}
		}
	}
	// RFC 6749 §3.1: a parameter without a value is as if omitted.
	switch {
	case params.Get("request") != "":
		return authserver.Request{}, nil, 0, &authzError{"request_not_supported", "request objects are not supported"}
	case params.Get("request_uri") != "":
		return authserver.Request{}, nil, 0, &authzError{"request_uri_not_supported", "request objects are not supported"}
	case params.Get("response_type") == "":
		// A missing required parameter (RFC 6749 §4.1.2.1);
		// unsupported_response_type is for a value gatehouse does not serve.
		return authserver.Request{}, nil, 0, &authzError{"invalid_request", "response_type is required"}
	case params.Get("response_type") != "code":
		return authserver.Request{}, nil, 0, &authzError{"unsupported_response_type", "only response_type=code is supported"}
	case params.Get("response_mode") != "" && params.Get("response_mode") != "query":
		return authserver.Request{}, nil, 0, &authzError{"invalid_request", "only response_mode=query is supported"}
	case !c.AllowsGrant(client.GrantAuthorizationCode):
		return authserver.Request{}, nil, 0, &authzError{"unauthorized_client", "the client may not use the authorization code flow"}
	case params.Get("code_challenge_method") != "S256":
		return authserver.Request{}, nil, 0, &authzError{"invalid_request", "PKCE with code_challenge_method=S256 is required"}
	case !authserver.ValidChallenge(params.Get("code_challenge")):
		return authserver.Request{}, nil, 0, &authzError{"invalid_request", "code_challenge must be a base64url SHA-256"}
	}
	scopes, err := authserver.ParseScope(c, params.Get("scope"))
	if err != nil {
		// invalid_scope, worded where the token endpoint's is (httperr).
		p := httperr.OAuthOf(err)
		return authserver.Request{}, nil, 0, &authzError{p.Code, p.Description}
	}
	prompt := map[string]bool{}
	for _, p := range strings.Fields(params.Get("prompt")) {
		if !slices.Contains(prompts, p) {
			return authserver.Request{}, nil, 0, &authzError{"invalid_request", "prompt must be none, login, consent or select_account"}
		}
		prompt[p] = true
	}
	if prompt["none"] && len(prompt) > 1 {
		return authserver.Request{}, nil, 0, &authzError{"invalid_request", "prompt=none cannot be combined"}
	}
	var authAfter int64
	if v := params.Get("max_age"); v != "" {
		age, err := strconv.ParseInt(v, 10, 64)
		if err != nil || age < 0 {
			return authserver.Request{}, nil, 0, &authzError{"invalid_request", "max_age must be a number of seconds"}
		}
		authAfter = now.Unix() - age
	}
	if v := params.Get(authAfterParam); v != "" {
		t, err := strconv.ParseInt(v, 10, 64)
		// A time in the future would send the user round /login forever.
		if err != nil || t > now.Unix()+60 {
			return authserver.Request{}, nil, 0, &authzError{"invalid_request", authAfterParam + " must be a Unix time"}
		}
		authAfter = max(authAfter, t)
	}
	return authserver.Request{
		Client: c, RedirectURI: redirectURI, Scopes: scopes, State: params.Get("state"),
		Nonce: params.Get("nonce"), Challenge: params.Get("code_challenge"),
	}, prompt, authAfter, nil
}

// idTokenHintSubject returns the sub of an authorization request's
// id_token_hint: "" and true without one, false when it is not an ID token
// this server signed (another typ, a bad signature, another issuer). Its
// expiry is not checked: an expired ID token still names its user, as at
// end_session (OIDC Core §3.1.2.1; the server need not be its audience).
func (s *server) idTokenHintSubject(hint string) (string, bool) {
	if hint == "" {
		return "", true
	}
	if s.IDTokens == nil {
		return "", false
	}
	c, err := s.IDTokens.VerifyOwn(hint, authserver.IDTokenType)
	if err != nil {
		return "", false
	}
	sub, _ := c["sub"].(string)
	return sub, sub != ""
}

// loginNext is the authorization request that /login returns the browser
// to: prompt=login, prompt=select_account and max_age replaced by
// auth_after=now, so that the new login satisfies them.
func loginNext(params url.Values, now time.Time) string {
	again := url.Values{}
	for _, k := range authorizeParams {
		if v := params.Get(k); v != "" {
			again.Set(k, v)
		}
	}
	again.Del("max_age")
	again.Set(authAfterParam, strconv.FormatInt(now.Unix(), 10))
	if p := strings.Fields(again.Get("prompt")); slices.Contains(p, "login") || slices.Contains(p, "select_account") {
		again.Set("prompt", strings.Join(slices.DeleteFunc(p, func(v string) bool { return v == "login" || v == "select_account" }), " "))
		if again.Get("prompt") == "" {
			again.Del("prompt")
		}
	}
	return "/auth/authorize?" + again.Encode()
}

// consentForm renders the consent page; the form repeats the request and
// carries a token only the session's cookie can produce.
func (s *server) consentForm(w http.ResponseWriter, r *http.Request, req authserver.Request, p auth.Principal, params url.Values) {
	data := consentPage{Client: req.Client.DisplayName(), Username: p.Username, Scopes: req.Scopes,
		Token: s.consentToken(r, req)}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		data.Host = u.Host
		if data.Host == "" {
			// A native app's private-use scheme (com.example.app:/cb,
			// RFC 8252 §7.1) has no host: the scheme and path name it.
			u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
			data.Host = u.String()
		}
	}
	data.FormOrigin = formTarget(req.RedirectURI)
	for _, k := range authorizeParams {
		if v := params.Get(k); v != "" && k != "prompt" {
			data.Fields = append(data.Fields, field{k, v})
		}
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.pages.render(w, http.StatusOK, "consent", data)
}

// formTarget is the form-action source that a registered redirect URI
// answering a form needs: browsers apply form-action to the redirect that
// answers a form submission. "" for https (every page allows https:) or an
// unparsable URI; the origin for http (an RFC 8252 loopback URI); the scheme
// for a native app's private-use scheme (com.example.app:, RFC 8252 §7.1).
func formTarget(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "", "https":
		return ""
	case "http":
		if u.Host == "" {
			return ""
		}
		return "http://" + u.Host
	}
	// url.Parse admits only letters, digits, '+', '-' and '.' in a scheme,
	// so it cannot break out of the policy.
	return u.Scheme + ":"
}

// nextFormTarget is the form-action source (formTarget) of where the
// redirects that answer a sign-in form (login, second factor, enrolment)
// end when they go on to next, a SafeNextOn value: an absolute http next
// (a route's host) is that origin; an authorization request, which answers
// a signed-in browser with a redirect to the client, is its redirect URI's
// origin or scheme when the client registered that URI (an unregistered
// one adds nothing, as on the consent page). "" otherwise: every page
// allows gatehouse itself and https. A client that cannot be looked up
// adds nothing either: the page still works, only such a redirect fails.
func (s *server) nextFormTarget(ctx context.Context, next string) string {
	u, err := url.Parse(next)
	switch {
	case err != nil:
		return ""
	case u.Scheme != "":
		return formTarget(next)
	case cleanPath(u.Path) != "/auth/authorize" || s.Clients == nil:
		return ""
	}
	q := u.Query()
	c, err := s.Clients.Lookup(ctx, q.Get("client_id"))
	if err != nil || !c.RedirectAllowed(q.Get("redirect_uri")) {
		return ""
	}
	return formTarget(q.Get("redirect_uri"))
}

// consentToken binds the consent form to the session (keyed by the
// cookie's secret value, which another site cannot read) and to the
// client, redirect URI and scopes it shows.
func (s *server) consentToken(r *http.Request, req authserver.Request) string {
	cookie := ""
	if c, err := r.Cookie(s.Sessions.CookieName()); err == nil {
		cookie = c.Value
	}
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("gatehouse-consent\x00" + req.Client.ID + "\x00" + req.RedirectURI + "\x00" + strings.Join(req.Scopes, " ")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *server) authorizeConsentAnswer(w http.ResponseWriter, r *http.Request, req authserver.Request, p auth.Principal, rec session.Record, back func(url.Values)) {
	want := s.consentToken(r, req)
	if !hmac.Equal([]byte(r.PostForm.Get("consent_token")), []byte(want)) {
		s.authorizePage(w, http.StatusForbidden, "This consent form has expired or did not come from this site. Start again from the application.")
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		back(url.Values{"error": {"access_denied"}, "error_description": {"the user denied access"}})
		return
	}
	if err := s.Apps.Consent(r.Context(), req.Client, p.Subject, req.Scopes); err != nil {
		s.authorizeOutage(w, r, err)
		return
	}
	s.issueCode(w, r, req, p, rec, back)
}

func (s *server) issueCode(w http.ResponseWriter, r *http.Request, req authserver.Request, p auth.Principal, rec session.Record, back func(url.Values)) {
	code, err := s.Apps.IssueCode(r.Context(), req, p.Subject, rec.ID, rec.CreatedAt, amrOf(rec))
	if err != nil {
		s.authorizeOutage(w, r, err)
		return
	}
	back(url.Values{"code": {code}})
}

// amrOf is how the session's user signed in (RFC 8176 values): the amr
// the login recorded (with a second factor: pwd, otp, mfa), else, for
// sessions that recorded none (OIDC logins, older sessions), the method.
func amrOf(rec session.Record) []string {
	if len(rec.AMR) > 0 {
		return slices.Clone(rec.AMR)
	}
	if strings.HasPrefix(rec.Method, "oidc:") {
		return []string{"ext"}
	}
	return []string{"pwd"}
}

// authorizeRedirect answers with v, state and iss (RFC 9207) added to the
// client's verified redirect URI, keeping its own query (withParams).
func (s *server) authorizeRedirect(w http.ResponseWriter, r *http.Request, redirectURI string, v url.Values, state string) {
	if state != "" {
		v.Set("state", state)
	}
	v.Set("iss", s.Settings.PublicURL)
	loc, err := withParams(redirectURI, v)
	if err != nil {
		s.authorizePage(w, http.StatusBadRequest, "The application's address is malformed.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, loc, status)
}

// withParams appends v to the query of a registered redirect URI, whose
// own query is kept as registered, byte for byte (RFC 6749 §3.1.2: it
// "MUST be retained"): parsing and re-encoding it would drop a ';' pair,
// turn a bare key into key=, and reorder it.
func withParams(uri string, v url.Values) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	switch {
	case len(v) == 0:
	case u.RawQuery == "":
		u.RawQuery = v.Encode()
	default:
		u.RawQuery += "&" + v.Encode()
	}
	return u.String(), nil
}

func (s *server) authorizePage(w http.ResponseWriter, status int, msg string) {
	httperr.RenderPage(w, httperr.Page{Status: status, Title: "Cannot continue to the application", Message: msg})
}

// authorizeOutage answers a failure of the authorization or end-session
// endpoint that is not the request's fault: 503 unavailable through
// writeError (a page for a browser, JSON for an API client, Retry-After
// either way), the error logged. An error that is no store outage is
// answered as one all the same: the request cannot go on now.
func (s *server) authorizeOutage(w http.ResponseWriter, r *http.Request, err error) {
	if !httperr.Unavailable(err) {
		err = fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	s.writeError(w, r, err)
}
