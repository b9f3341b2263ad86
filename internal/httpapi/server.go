package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// TokenVerifier verifies bearer access tokens (token.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Principal, error)
}

// Sessions is what the endpoints do with browser sessions
// (session.Service); the session store stays behind it.
type Sessions interface {
	// Authenticate returns the principal and record of r's session cookie.
	Authenticate(r *http.Request) (auth.Principal, session.Record, error)
	// AuthenticateAll returns every live session r's session cookies
	// name (logout ends each).
	AuthenticateAll(r *http.Request) ([]session.Live, error)
	// StartSession logs userID in: ends the request's old sessions, creates
	// a new one (with the login's amr) and sets its cookie.
	StartSession(w http.ResponseWriter, r *http.Request, userID, method string, amr ...string) (session.Record, error)
	// ReplaceSession gives the request's session old a new ID without a
	// new login: the successor keeps old's login time, method and amr.
	ReplaceSession(w http.ResponseWriter, r *http.Request, old session.Record) (session.Record, error)
	// StepUpSession gives the request's session old, whose user just
	// passed a second factor, a successor with a new ID and amr; carry
	// moves what belongs to the browser's sign-in (apps' grants, provider
	// link) to it before old ends (session.Manager.StepUpSession).
	StepUpSession(w http.ResponseWriter, r *http.Request, old session.Record, amr []string, carry func(ctx context.Context, successor session.Record) error) (session.Record, error)
	List(ctx context.Context, userID string) ([]session.Record, error)
	// RevokeOwned ends session id of userID; auth.ErrNotFound otherwise.
	RevokeOwned(ctx context.Context, userID, id string) error
	RevokeOthers(ctx context.Context, userID, keepID string) (int, error)
	ClearCookie(w http.ResponseWriter)
	// CookieName is the session cookie's name (credential extraction,
	// cookie-tossing cleanup).
	CookieName() string
}

// Grants issues, refreshes and revokes tokens (token.Grants).
type Grants interface {
	Issue(ctx context.Context, g token.Grant) (token.Pair, error)
	RefreshFor(ctx context.Context, req token.RefreshRequest) (token.Pair, error)
	RevokeFor(ctx context.Context, token, hint string, mine func(clientID string) bool) error
	// RevokeGrant ends the family (sid) of userID's grant everywhere.
	RevokeGrant(ctx context.Context, userID, family, reason string) error
}

// Limiter throttles failed client authentications per client_id and IP
// (throttle.Limiter).
type Limiter interface {
	Check(ctx context.Context, key, ip string) error
	Failure(ctx context.Context, key, ip string) error
	Success(ctx context.Context, key, ip string) error
}

// KeySet publishes the verification keys (keys.Set).
type KeySet interface {
	JWKS() []byte
}

// Settings are the few configuration values the endpoints use.
type Settings struct {
	// PublicURL (public_url) is the token issuer and the base of the
	// metadata document's URLs.
	PublicURL string
	// Algorithm (tokens.algorithm) is advertised in the metadata.
	Algorithm string
	// PasswordGrant (tokens.password_grant) enables grant_type=password.
	PasswordGrant bool
	// TLS: this process terminates TLS, so responses carry HSTS.
	TLS bool
	// RequireMFARoles (login.require_mfa_roles): users with any of these
	// roles enrol a second factor before they get a session.
	RequireMFARoles []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
}

// Deps are everything the HTTP surface needs. Nil optional parts switch
// their endpoints off (404).
type Deps struct {
	Settings Settings
	Logger   *slog.Logger
	Metrics  *metrics.Metrics // optional
	Audit    *audit.Logger
	Users    *user.Service
	Sessions Sessions
	Verifier TokenVerifier
	Grants   Grants
	Keys     KeySet
	Gateway  http.Handler // fallback for paths no endpoint claims; nil = 404
	Verify   http.Handler // GET /auth/verify, /auth/verify/nginx, /auth/verify/forward; nil = 404
	OIDC     *oidc.Handler
	// MFA, Pending and Throttle switch on second factors (section 9).
	MFA      *mfa.Service
	Pending  *mfa.PendingCodec
	Throttle SecondFactorThrottle
	// Passkeys switches on WebAuthn (section 9; needs MFA and Pending);
	// nil when public_url's host is an IP address.
	Passkeys *mfa.Passkeys
	// PasswordlessThrottle counts refused passwordless passkey logins per
	// client IP, without an account-wide key (throttle.WithoutAccountKey);
	// nil counts nothing.
	PasswordlessThrottle Limiter
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Apps (contract §8): the client registry and the authorization server.
	// Without them only the built-in client exists.
	Clients       *client.Registry
	Apps          *authserver.Server
	ClientLimiter Limiter
	IDTokens      IDTokenVerifier // id_token_hint at /auth/end_session
	// Admin serves /admin/api/ and, with AdminConsole, the console at
	// /admin/ (internal/admin); nil = 404.
	Admin        http.Handler
	AdminConsole bool
	// Ready returns the names of the parts that do not answer (empty = ready).
	Ready func(ctx context.Context) []string
	// QuietLogs logs only requests that failed (benchmarks).
	QuietLogs bool

	// ServesHost reports whether a gateway route names a host, so that
	// login may return to an absolute next URL on it; nil: paths only.
	ServesHost func(host string) bool
	// VerifyEnvoy serves Envoy's HTTP ext_authz under /auth/verify/envoy/
	// (any method, the original path appended); nil = 404.
	VerifyEnvoy http.Handler
	// AccessLog, when set, writes the per-request log lines instead of
	// Logger (same JSON fields, no allocation, never blocking a request);
	// it is used only when Logger is enabled at info. The caller closes it.
	AccessLog *AccessLog
}

type server struct {
	Deps
	log            *slog.Logger
	metrics        *metrics.Metrics
	trustedProxies []netip.Prefix
	tls            bool
	quiet          bool
	cop            *http.CrossOriginProtection
	pages          *pages
	devices        *deviceNames // device names on /account
	ids            *requestIDs
	requestMetrics *requestMetrics
	accessLog      *AccessLog // nil: request lines go through log
}

// Server is gatehouse's public HTTP handler.
type Server struct {
	http.Handler
	router *router
}

// Endpoint says which of gatehouse's own endpoints (family and ServeMux
// pattern) the server answers r with, by the routing ServeHTTP runs,
// without serving it; nil when the gateway gets r. POST
// /admin/api/v1/explain asks it before the gateway's Explain.
func (s *Server) Endpoint(r *http.Request) *gateway.ExplainedEndpoint { return s.router.Endpoint(r) }

// NewServer returns gatehouse's public HTTP handler.
func NewServer(d Deps) (*Server, error) {
	s := observing(d)
	s.cop = http.NewCrossOriginProtection()
	if s.Now == nil {
		s.Now = time.Now
	}
	// A cross-origin refusal is the API's 403 {"error":"forbidden"}, not
	// CrossOriginProtection's plain-text default (openapi.json says so).
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, auth.ErrForbidden)
	}))
	s.pages = newPages()
	s.pages.scripts = d.Passkeys != nil
	s.devices = &deviceNames{idle: deviceParserIdle}
	rt := s.routes()
	return &Server{Handler: s.observe(s.clearTossedCookies(rt)), router: rt}, nil
}

// observing is the part of a server that every request passes through
// (observe): of d it uses Settings.TLS, Settings.TrustedProxies, Logger
// (nil discards), Metrics, QuietLogs and AccessLog (only when Logger is
// enabled at info). NewServer, Waiting and NewObserver start from it.
func observing(d Deps) *server {
	s := &server{Deps: d, log: d.Logger, metrics: d.Metrics, trustedProxies: d.Settings.TrustedProxies,
		tls: d.Settings.TLS, quiet: d.QuietLogs, ids: newRequestIDs(), requestMetrics: &requestMetrics{m: d.Metrics}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if d.AccessLog != nil && s.log.Enabled(context.Background(), slog.LevelInfo) {
		s.accessLog = d.AccessLog
	}
	return s
}

// record writes an audit event about principal p for request r, with
// details as key, value pairs (the audit logger adds the client IP and
// request ID from r's context).
func (s *server) record(r *http.Request, typ string, p auth.Principal, details ...string) {
	var d map[string]string
	if len(details) > 0 {
		d = make(map[string]string, len(details)/2)
		for i := 0; i+1 < len(details); i += 2 {
			d[details[i]] = details[i+1]
		}
	}
	s.Audit.Record(r.Context(), audit.Event{Type: typ, UserID: p.Subject, Username: p.Username, Details: d})
}

func (s *server) now() time.Time { return s.Now() }
