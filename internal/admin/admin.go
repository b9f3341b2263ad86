package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// TokenVerifier verifies bearer access tokens (token.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Principal, error)
}

// Grants lists and revokes refresh families (token.Grants).
type Grants interface {
	Families(ctx context.Context, userID string) ([]token.Family, error)
	RevokeFamilyOf(ctx context.Context, userID, familyID string) error
}

// KeySet lists and rotates signing keys (keys.Set).
type KeySet interface {
	List() []keys.Info
	Rotate(ctx context.Context) (string, error)
}

// AuditStore reads the audit trail (the main store).
type AuditStore interface {
	ListAudit(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// Factors lists a user's second factors (mfa.Service). Resetting them is
// user.Service.ResetSecondFactors, the operation the CLI shares.
type Factors interface {
	Factors(ctx context.Context, userID string) (mfa.Factors, error)
}

// Clients is the registry of OAuth clients (client.Registry), which
// validates and audits every change.
type Clients interface {
	List(ctx context.Context) ([]client.Client, error)
	Lookup(ctx context.Context, id string) (client.Client, error)
	Add(ctx context.Context, c client.Client) (string, error)
	Delete(ctx context.Context, id string) error
	RotateSecret(ctx context.Context, id string) (string, error)
}

// Deps are the admin surface's collaborators; all are required.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	Users    *user.Service
	Sessions *session.Authenticator
	Verifier TokenVerifier
	Grants   Grants
	Keys     KeySet
	Audit    *audit.Logger
	Trail    AuditStore
	MFA      Factors
	Clients  Clients
	// Explain decides a described request with the running gateway.
	Explain func(r *http.Request) gateway.Explanation
	// Console mounts the HTML console at /admin/ (false: the API only,
	// because a gateway route claims /admin/).
	Console bool
}

// ConsoleFree reports whether /admin/ is free for the console: no route's
// path_prefix is /admin or below it. A route there is the operator's own
// admin application and keeps /admin/ (the console is then off; the API
// under /admin/api/, which routes may not claim, stays).
func ConsoleFree(routes []config.Route) bool {
	for _, rt := range routes {
		if p := rt.Match.PathPrefix; p == "/admin" || strings.HasPrefix(p, "/admin/") {
			return false
		}
	}
	return true
}

// Handler serves /admin/api/v1/ and, with Deps.Console, /admin/.
type Handler struct {
	d     Deps
	log   *slog.Logger
	cop   *http.CrossOriginProtection
	mux   *http.ServeMux
	pages *pages
	// adminMu serialises the changes that can take administrator rights
	// away (keepAdmin).
	adminMu sync.Mutex
}

// New returns the admin handler. Mount it at /admin/ (or /admin/api/ only).
func New(d Deps) *Handler {
	h := &Handler{d: d, log: d.Logger, cop: http.NewCrossOriginProtection(), mux: http.NewServeMux(), pages: newPages()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes()
	return h
}

// ServeHTTP authenticates the administrator, then serves the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Errors of admin authentication, mapped to 401/403 by httperr.
var (
	errNotAdmin = fmt.Errorf("%w: no admin role", auth.ErrForbidden)
	errNoMFA    = fmt.Errorf("%w: admin.require_mfa needs a second factor", auth.ErrForbidden)
	// errNoUser refuses a client's own token (client_credentials: sub =
	// client_id, no username, the client's roles). admin.roles names the
	// users who may administer (contract §11); a service client given a
	// role of the same name for a gateway route must not become an
	// administrator of gatehouse.
	errNoUser = fmt.Errorf("%w: the token's subject is no user", auth.ErrForbidden)
	// errThirdParty refuses a user's token issued to an application that
	// is not first_party: the user consented to that application reading
	// who they are (its scopes), not to it administering gatehouse in
	// their name, which any access token of gatehouse's audience would
	// otherwise allow.
	errThirdParty = fmt.Errorf("%w: the token was issued to a third-party application", auth.ErrForbidden)
	// errCrossOrigin refuses a cookie-authenticated unsafe request from
	// another origin (http.CrossOriginProtection): CSRF.
	errCrossOrigin = fmt.Errorf("%w: cross-origin request", auth.ErrForbidden)
)

// noMFADescription tells an administrator refused for want of a second
// factor what to do (the error_description of the 403).
const noMFADescription = "admin.require_mfa: this credential has no second factor. Sign in with your second factor " +
	"(enrol one at /login/mfa or /account first); an access token must come from such a sign-in"

// authenticate returns the administrator behind r: the bearer token when an
// Authorization header is sent, else the session cookie. A
// cookie-authenticated unsafe request from another origin is refused (403)
// before anything else: the cookie rides along with cross-site requests.
func (h *Handler) authenticate(r *http.Request) (auth.Principal, error) {
	c := credential.FromRequest(r, h.d.Sessions.Manager().CookieName(), credential.Any)
	var (
		p   auth.Principal
		err error
	)
	switch {
	case c.Kind == credential.None:
		return auth.Principal{}, auth.ErrUnauthenticated
	case c.Kind == credential.Token && errors.Is(c.Err, credential.ErrDuplicate):
		// A malformed request (RFC 6750 §3.1), as at /auth/userinfo: 400.
		return auth.Principal{}, fmt.Errorf("%w: the Authorization header is sent more than once", auth.ErrInvalidInput)
	case c.Err != nil:
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnauthenticated, c.Err)
	case c.Kind == credential.Token:
		p, err = h.d.Verifier.Verify(r.Context(), c.Value)
		p.Method = auth.MethodToken
		if err == nil && p.Username == "" {
			err = errNoUser
		}
		if err == nil {
			err = h.firstParty(r.Context(), p.ClientID)
		}
	default:
		if err := h.cop.Check(r); err != nil {
			return auth.Principal{}, fmt.Errorf("%w: %w", errCrossOrigin, err)
		}
		p, _, err = h.d.Sessions.Authenticate(r.Context(), c.Value)
		p.Method = auth.MethodSession
	}
	if err == nil {
		p, err = h.current(r.Context(), p)
	}
	if err != nil {
		return auth.Principal{}, err
	}
	if !h.holdsAdminRole(p.Roles) {
		return auth.Principal{}, errNotAdmin
	}
	if h.d.Config.Admin.RequireMFA && !p.HasSecondFactor() {
		return auth.Principal{}, httperr.Describe(errNoMFA, noMFADescription)
	}
	return p, nil
}

// firstParty admits a token issued to gatehouse itself (its login and
// password grant, `gatehouse token issue`) or to a first_party client, and
// refuses one issued to any other application, or to a client since
// deleted. A store failure fails closed.
func (h *Handler) firstParty(ctx context.Context, clientID string) error {
	if clientID == client.BuiltinID || clientID == client.CLIID {
		return nil
	}
	c, err := h.d.Clients.Lookup(ctx, clientID)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return errThirdParty
	case err != nil:
		return err
	case !c.FirstParty:
		return errThirdParty
	}
	return nil
}

// current replaces the credential's roles with the user's as stored now,
// and refuses a user who is disabled or gone (401, as a dead session).
// A token's roles claim lives for access_ttl and the session cache holds
// a principal for sessions.cache_ttl; elsewhere that is documented, but an
// administrator who was demoted, disabled or deleted must lose the admin
// surface on the next request (docs/admin.md). One store read per admin
// request; a store failure fails closed.
func (h *Handler) current(ctx context.Context, p auth.Principal) (auth.Principal, error) {
	u, err := h.d.Users.ByID(ctx, p.Subject)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return auth.Principal{}, fmt.Errorf("%w: the user no longer exists", auth.ErrUnauthenticated)
	case err != nil:
		return auth.Principal{}, err
	case u.Disabled:
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnauthenticated, auth.ErrDisabled)
	}
	p.Username, p.Roles = u.Username, u.Roles
	return p, nil
}

// api wraps a JSON endpoint: it authenticates the administrator, records
// them as the actor of every audit event of the request, and answers
// failures in httperr's vocabulary.
func (h *Handler) api(fn func(w http.ResponseWriter, r *http.Request, admin auth.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.authenticate(r)
		if err != nil && refusedBearer(r, err) {
			// RFC 6750 §3.1, as the gateway answers (contract §5).
			w.Header().Set("WWW-Authenticate", httperr.ChallengeWith(httperr.InvalidToken))
		}
		if err == nil {
			err = checkText(r)
		}
		if err == nil {
			h.setActor(r, p)
			err = fn(w, r, p)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

// refusedBearer reports whether err refuses with a 401 the bearer token r
// sent, malformed or not; its challenge then says error="invalid_token",
// as the gateway's does. Another scheme is no bearer token, and two
// Authorization headers are a 400.
func refusedBearer(r *http.Request, err error) bool {
	c := credential.FromRequest(r, "", credential.Bearer)
	return c.Kind == credential.Token && !errors.Is(c.Err, credential.ErrScheme) && httperr.Of(err).Status == http.StatusUnauthorized
}

// checkText refuses, before any store sees them, path and query values
// that no stored value can hold: bytes that are not UTF-8, and NUL. No
// username, session, grant or client ID is such a string, so a path
// naming one is auth.ErrNotFound; a query filter with one is a malformed
// request. PostgreSQL refuses such text outright and SQLite would merely
// match nothing: without this the two stores answered differently.
func checkText(r *http.Request) error {
	for _, k := range []string{"name", "id"} {
		if !auth.StorableText(r.PathValue(k)) {
			return auth.ErrNotFound
		}
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if !auth.StorableText(k) || !auth.StorableText(v) {
				return errInput("query parameter %q must be UTF-8 text without NUL", k)
			}
		}
	}
	return nil
}

// setActor names the administrator in every audit event of r.
func (h *Handler) setActor(r *http.Request, p auth.Principal) {
	audit.SetActor(r.Context(), p.Subject, p.Username)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if detail := httperr.InputDetail(err); detail != "" {
		err = httperr.Describe(err, detail)
	}
	if p := httperr.Write(w, err); p.Status >= 500 {
		h.log.LogAttrs(r.Context(), slog.LevelError, "admin request failed", slog.String("error", err.Error()))
	}
}

// errInput marks a malformed request (400 invalid_request).
func errInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", auth.ErrInvalidInput, fmt.Sprintf(format, args...))
}
