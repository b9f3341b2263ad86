package oidc

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// Users is the user service (user.Service) as the handler needs it: every
// account and link it makes goes through the service's name, role and audit
// rules.
type Users interface {
	ByID(ctx context.Context, id string) (auth.User, error)
	Get(ctx context.Context, name string) (auth.User, error)
	CreateExternal(ctx context.Context, names, roles []string, method string, id user.Identity) (auth.User, error)
	Identity(ctx context.Context, issuer, subject string) (user.Identity, error)
	Identities(ctx context.Context, userID string) ([]user.Identity, error)
	Link(ctx context.Context, id user.Identity, u auth.User) error
	TouchIdentity(ctx context.Context, issuer, subject, email string) error
}

// Deps are the Handler's dependencies. Users, StartSession and a 32-byte
// StateKey are required; the rest have defaults.
type Deps struct {
	Providers []Provider
	// PublicURL is gatehouse's external base URL; the redirect URI of a
	// provider is PublicURL + "/auth/oidc/{name}/callback", compared exactly
	// by providers.
	PublicURL string
	Users     Users
	// StartSession creates the gatehouse session for u and sets its cookie on
	// w; method is "oidc:<provider name>". The handler then answers 303 to
	// next. An error wrapping auth.ErrInvalidCredentials means the user was
	// disabled, deleted or had every credential ended since the handler
	// read it (user.Service.ConfirmLogin) and the session was ended again:
	// the login is refused with 403 as a disabled user's is. Any other
	// error is shown as a 503 (auth.ErrUnavailable) or 500 page.
	StartSession func(w http.ResponseWriter, r *http.Request, u auth.User, method string) (StartedSession, error)
	// SecondStep, when set, runs before StartSession. A user who must pass
	// a second factor (or enrol one) first gets, instead of a session, the
	// pending-login cookie set on w and the URL of the second step (with
	// next), which the handler answers 303 to; "" means no second step. The
	// cookie must carry ps, and the second step hand it to LinkSession once
	// the session exists (inbound back-channel logout). An error wrapping
	// ErrSessionTooLarge (ps does not fit the cookie) fails the login with
	// 502 provider_session_too_large; any other is shown as StartSession's.
	SecondStep func(w http.ResponseWriter, r *http.Request, u auth.User, method string, ps ProviderSession, next string) (string, error)
	// Logouts and EndSession serve inbound back-channel logout (providers
	// with BackchannelLogout): Logouts remembers which session each login
	// made, EndSession ends one session by public ID the way every other
	// session end goes (revocation broadcast, the apps' back-channel
	// logouts). Without them the endpoint answers 404.
	Logouts    LogoutStore
	EndSession func(ctx context.Context, sessionID string) error
	// Audit receives login, link and failure events; nil records nothing.
	Audit *audit.Logger
	// StateKey (32 bytes) is the AES-256-GCM key sealing the state cookie.
	// Every instance behind one public URL needs the same key.
	StateKey []byte
	// SecureCookies adds Secure and the __Host- prefix to the state cookie.
	SecureCookies bool
	// HTTPClient makes discovery, key set, token and userinfo calls; nil
	// means a client with a 15 s timeout. Whichever it is, the handler
	// reads at most maxProviderResponse (1 MiB) of each answer.
	HTTPClient *http.Client
	// Now is the clock (state expiry, ID token expiry); nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// ServesHost accepts the hosts an absolute next URL may name (those of
	// gateway routes); nil accepts paths only. See SafeNextOn.
	ServesHost func(host string) bool
}

// ErrSessionTooLarge is what Deps.SecondStep returns (wrapped) when the
// provider session (its sid and sub, which back-channel logout must match
// exactly) is too long for the pending-login cookie.
var ErrSessionTooLarge = errors.New("provider session too large for the second step")

// Handler runs "Sign in with …" logins: Start sends the browser to the
// provider, Callback verifies the answer and starts a gatehouse session.
type Handler struct {
	deps      Deps
	providers map[string]*provider
	order     []string
	sealer    *sealer
	client    *http.Client
	now       func() time.Time
	log       *slog.Logger
}

// New returns a Handler for deps.Providers. It does not contact the
// providers: OIDC discovery happens at the first login (and is retried after
// a failure), so a provider that is down does not stop gatehouse.
func New(ctx context.Context, deps Deps) (*Handler, error) {
	_ = ctx // discovery is lazy; kept for symmetry with other constructors
	if deps.Users == nil || deps.StartSession == nil {
		return nil, errors.New("oidc: Users and StartSession are required")
	}
	s, err := newSealer(deps.StateKey)
	if err != nil {
		return nil, err
	}
	h := &Handler{deps: deps, providers: map[string]*provider{}, sealer: s,
		client: deps.HTTPClient, now: deps.Now, log: deps.Logger}
	if h.client == nil {
		h.client = &http.Client{Timeout: 15 * time.Second}
	}
	h.client = boundedClient(h.client)
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	base, err := url.Parse(deps.PublicURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("oidc: PublicURL must be an absolute URL, got %q", deps.PublicURL)
	}
	for _, cfg := range deps.Providers {
		if _, dup := h.providers[cfg.Name]; dup || cfg.Name == "" {
			return nil, fmt.Errorf("oidc: provider name %q is empty or used twice", cfg.Name)
		}
		p, err := newProvider(cfg, strings.TrimRight(deps.PublicURL, "/"), h.client, h.now)
		if err != nil {
			return nil, err
		}
		h.providers[cfg.Name] = p
		h.order = append(h.order, cfg.Name)
	}
	return h, nil
}

// Providers lists the configured providers in configuration order.
func (h *Handler) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(h.order))
	for _, name := range h.order {
		out = append(out, h.providers[name].info())
	}
	return out
}

// Start handles GET /auth/oidc/{name}/start?next=/path: it remembers state,
// nonce, PKCE verifier and next in a sealed cookie and answers 302 to the
// provider's authorization endpoint.
func (h *Handler) Start() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p, ok := h.providers[name]
		if !ok {
			h.fail(w, r, name, notFound())
			return
		}
		ep, err := p.endpoints(r.Context())
		if err != nil {
			h.fail(w, r, name, unavailable(err))
			return
		}
		st := loginState{
			State:    randomToken(32),
			Verifier: oauth2.GenerateVerifier(),
			Provider: name,
			Next:     SafeNextOn(r.URL.Query().Get("next"), h.deps.ServesHost),
			Expires:  h.now().Add(stateTTL).Unix(),
		}
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(st.Verifier)}
		if !p.isOAuth2() {
			st.Nonce = randomToken(32)
			opts = append(opts, gooidc.Nonce(st.Nonce))
		}
		cookieName := stateCookieName(h.deps.SecureCookies, name, st.State)
		value, err := h.sealer.seal(cookieName, st)
		if err == nil && !h.stateFits(cookieName, value) {
			// A next that would make the cookie too large for browsers to
			// keep (a long provider name) gives way: the login returns to /.
			st.Next = "/"
			value, err = h.sealer.seal(cookieName, st)
		}
		if err == nil && !h.stateFits(cookieName, value) {
			err = fmt.Errorf("state cookie of %d bytes", len(value))
		}
		if err != nil {
			h.fail(w, r, name, internal("state_seal_failed", err))
			return
		}
		h.dropOldStates(w, r)
		h.setStateCookie(w, cookieName, value, int(stateTTL/time.Second))
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, ep.oauth.AuthCodeURL(st.State, opts...), http.StatusFound)
	})
}

// maxLoginsInProgress bounds the state cookies one browser holds.
const maxLoginsInProgress = 5

// dropOldStates clears the request's oldest state cookies (of any
// provider; one that does not open counts as oldest) so that, with the one
// Start is about to set, at most maxLoginsInProgress remain. Each may be
// 4 KB for stateTTL: a page that keeps sending a browser to /start (a
// pop-up it navigates again and again) would otherwise grow the browser's
// Cookie header past what gatehouse or a proxy in front accepts, and lock
// it out of gatehouse, and with secure cookies (Path=/) of every app on the
// host, until they expire. Ties keep the order the browser sent, oldest
// first (RFC 6265 section 5.4).
func (h *Handler) dropOldStates(w http.ResponseWriter, r *http.Request) {
	prefix := statePrefix(h.deps.SecureCookies)
	type held struct {
		name    string
		expires int64
	}
	var states []held
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, prefix) || slices.ContainsFunc(states, func(s held) bool { return s.name == c.Name }) {
			continue
		}
		s := held{name: c.Name}
		if st, err := h.sealer.open(c.Name, c.Value); err == nil {
			s.expires = st.Expires
		}
		states = append(states, s)
	}
	if len(states) < maxLoginsInProgress {
		return
	}
	slices.SortStableFunc(states, func(a, b held) int { return cmp.Compare(a.expires, b.expires) })
	for _, s := range states[:len(states)-maxLoginsInProgress+1] {
		h.setStateCookie(w, s.name, "", -1)
	}
}

// setStateCookie writes (maxAge > 0) or clears (maxAge < 0) a state cookie.
// A __Host- cookie must have Path=/, so secure deployments trade the narrow
// path for the host lock; plain-http ones keep Path=/auth/oidc/.
func (h *Handler) setStateCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, h.stateCookie(name, value, maxAge))
}

func (h *Handler) stateCookie(name, value string, maxAge int) *http.Cookie {
	path := "/auth/oidc/"
	if h.deps.SecureCookies {
		path = "/"
	}
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.deps.SecureCookies, SameSite: http.SameSiteLaxMode,
	}
}

// stateFits reports whether a state cookie stays within auth.MaxCookieSize.
func (h *Handler) stateFits(name, value string) bool {
	return len(h.stateCookie(name, value, int(stateTTL/time.Second)).String()) <= auth.MaxCookieSize
}

// Callback handles GET /auth/oidc/{name}/callback: state, RFC 9207 iss,
// provider error, code exchange with the PKCE verifier, ID token (or
// userinfo) verification, then the local user, the session and 303 to next.
func (h *Handler) Callback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		// The callback URL carries the code: never leak it in a Referer.
		w.Header().Set("Referrer-Policy", "no-referrer")
		name := r.PathValue("name")
		p, ok := h.providers[name]
		if !ok {
			h.fail(w, r, name, notFound())
			return
		}
		u, ext, next, f := h.callback(w, r, p)
		if f != nil {
			h.fail(w, r, name, f)
			return
		}
		method := "oidc:" + name
		next = SafeNextOn(next, h.deps.ServesHost)
		ps := p.session(ext)
		if h.deps.SecondStep != nil {
			step, err := h.deps.SecondStep(w, r, u, method, ps, next)
			if err != nil {
				f := storeFailure(fmt.Errorf("second factor: %w", err))
				if errors.Is(err, ErrSessionTooLarge) {
					f = sessionTooLarge(err)
				}
				f.user = u
				h.fail(w, r, name, f)
				return
			}
			if step != "" {
				h.audit(r.Context(), audit.LoginOK, u, map[string]string{"method": method, "provider": name, "second_factor": "required"})
				http.Redirect(w, r, step, http.StatusSeeOther)
				return
			}
		}
		cookies := len(w.Header()["Set-Cookie"])
		started, err := h.deps.StartSession(w, r, u, method)
		if err == nil {
			err = h.LinkSession(r.Context(), ps, u.ID, started)
		}
		if err != nil {
			// The login fails closed: the browser does not get the cookie of
			// the session it started either, which LinkSession could not
			// link, and may not have been able to end (the store is down).
			w.Header()["Set-Cookie"] = w.Header()["Set-Cookie"][:cookies]
			f := storeFailure(fmt.Errorf("start session: %w", err))
			if errors.Is(err, auth.ErrInvalidCredentials) {
				f = revokedFailure(err)
			}
			f.user = u
			h.fail(w, r, name, f)
			return
		}
		h.audit(r.Context(), audit.LoginOK, u, map[string]string{"method": method, "provider": name})
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request, p *provider) (auth.User, external, string, *failure) {
	ctx := r.Context()
	q := r.URL.Query()
	st, f := h.checkState(w, r, p, q.Get("state"))
	if f != nil {
		return auth.User{}, external{}, "", f
	}
	ep, err := p.endpoints(ctx)
	if err != nil {
		return auth.User{}, external{}, "", unavailable(err)
	}
	if f := checkIssuerParam(p, ep, q); f != nil {
		return auth.User{}, external{}, "", f
	}
	if code := q.Get("error"); code != "" {
		return auth.User{}, external{}, "", providerError(code)
	}
	if q.Get("code") == "" {
		return auth.User{}, external{}, "", badRequest("code_missing", "The provider's answer carries no authorization code.")
	}
	ext, f := h.identify(ctx, p, ep, q.Get("code"), st)
	if f == nil {
		f = p.checkIdentifiers(ext)
	}
	if f != nil {
		return auth.User{}, external{}, "", f
	}
	u, f := h.resolveUser(ctx, p, ext)
	return u, ext, st.Next, f
}

// checkState finds the state cookie named after the query's state, opens it
// and clears it: each state is good for one callback.
func (h *Handler) checkState(w http.ResponseWriter, r *http.Request, p *provider, state string) (loginState, *failure) {
	if state == "" {
		return loginState{}, badRequest("state_missing", "The sign-in answer has no state parameter.")
	}
	name := stateCookieName(h.deps.SecureCookies, p.cfg.Name, state)
	c, err := r.Cookie(name)
	if err != nil {
		return loginState{}, badRequest("state_cookie_missing", "This sign-in was not started in this browser, or it took too long. Please start again.")
	}
	h.setStateCookie(w, name, "", -1)
	st, err := h.sealer.open(name, c.Value)
	if err != nil || subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 || st.Provider != p.cfg.Name {
		return loginState{}, badRequest("state_invalid", "The sign-in state is invalid. Please start again.")
	}
	if !h.now().Before(time.Unix(st.Expires, 0)) {
		return loginState{}, badRequest("state_expired", "This sign-in took too long. Please start again.")
	}
	return st, nil
}

// checkIssuerParam applies RFC 9207: a present iss must be the provider's
// issuer, and a provider that advertises the parameter must send it. This
// stops mix-up attacks between providers.
func checkIssuerParam(p *provider, ep *endpoints, q url.Values) *failure {
	iss, present := q["iss"]
	if !present {
		if ep.issParam {
			return badRequest("issuer_missing", "The provider's answer lacks its issuer.")
		}
		return nil
	}
	if len(iss) != 1 || iss[0] != p.issuer {
		return badRequest("issuer_mismatch", "The answer came from a different provider than the one sign-in started with.")
	}
	return nil
}

// audit records an event; the audit logger adds the client IP and request
// ID from the request's context (set by the HTTP middleware).
func (h *Handler) audit(ctx context.Context, typ string, u auth.User, details map[string]string) {
	h.deps.Audit.Record(ctx, audit.Event{Type: typ, UserID: u.ID, Username: u.Username, Details: details})
}
