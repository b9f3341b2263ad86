package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/admin"
	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/gcpace"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/metrics"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/peers"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/throttle"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// App is one assembled gatehouse instance.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Store    MainStore
	Redis    *redisstore.Store // nil without Redis
	Sessions *session.Manager
	Auth     *session.Authenticator
	Watcher  *revocation.Watcher
	Audit    *audit.Logger
	Users    *user.Service
	Keys     *keys.Set
	Issuer   *token.Issuer
	Verifier *token.Verifier
	Grants   *token.Grants
	OIDC     *oidc.Handler
	Clients  *client.Registry
	Apps     *authserver.Server
	MFA      *mfa.Service
	// Peers records this instance's settings in the shared store and
	// compares them with the other live instances' (Run; docs/deploy.md).
	Peers *peers.Monitor

	gateway atomic.Pointer[gateway.Gateway]
	limits  ratelimit.Store // the gateway's rate limit buckets, kept across reloads
	handler http.Handler
	server  *httpapi.Server // handler, unwrapped: its routing decisions
	now     func() time.Time
	hasher  *password.Hasher
	closers []func() error
	access  *httpapi.AccessLog // nil without Options.AccessLog
	// observer logs and counts the gRPC ext_authz Checks as server's
	// requests (the same logger, access log and metrics).
	observer *httpapi.Observer
	bg       sync.WaitGroup // the loops Run started
}

// Options tune New.
type Options struct {
	// Migrate applies pending migrations before use (serve, demo).
	Migrate bool
	// RetryStartup keeps retrying, with backoff, while a store is down at
	// start (serve); otherwise the first failure is returned (CLI commands).
	RetryStartup bool
	// ChangeAlgorithm lets a tokens.algorithm other than that of the
	// store's active signing key make a key of its own the active one
	// (serve: docs/tokens.md). Without it such a store is refused with
	// keys.ErrAlgorithmMismatch (exit 2): a command run with another
	// algorithm must not take the signing key from the running instances.
	ChangeAlgorithm bool
	// Now replaces the clock (tests).
	Now func() time.Time
	// QuietLogs logs only failed requests (bench).
	QuietLogs bool
	// Demo allows TOTP enrolment without keys.encryption_key, sealing
	// secrets with a key that dies with the process.
	Demo bool
	// AccessLog, when set, receives the per-request log lines (JSON, the
	// same fields as the logger's) through httpapi.AccessLog, batched and
	// never blocking a request; Run writes them. Nil: through the logger.
	AccessLog io.Writer
	// Version is the gatehouse version this instance reports to its peers
	// (docs/deploy.md, "Instances must agree"); "" = "devel".
	Version string
	// WrapStore, when set, wraps the opened main store before any service
	// uses it (tests: a pause at a chosen call of the real store).
	WrapStore func(MainStore) MainStore
	// Front, when set (serve), already answers on the listeners
	// (StartFront): New tells it every part it waits for (the main store,
	// Redis) and uses its metrics registry; ServeFront then serves the App
	// on it.
	Front *Front
}

// New opens the stores and builds every service. It starts no goroutines
// and listens on nothing: call Run for the background work and Handler
// for HTTP.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opt Options) (*App, error) {
	a := &App{Config: cfg, Log: log, Metrics: metrics.New(), now: opt.Now}
	if opt.Front != nil {
		a.Metrics = opt.Front.metrics
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.openStores(ctx, opt); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.build(ctx, opt); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// openStores opens (and migrates) the main store and Redis, retrying with
// backoff when asked to.
func (a *App) openStores(ctx context.Context, opt Options) error {
	delay := 500 * time.Millisecond
	for {
		failing, err := a.tryOpenStores(ctx, opt)
		if err == nil && opt.Front != nil {
			// Open: what is left before serving is loading the feed.
			opt.Front.wait([]string{partRevocations}, httperr.StoreRetry)
		}
		if err == nil || !opt.RetryStartup || !unavailable(err) {
			return err
		}
		if opt.Front != nil {
			opt.Front.wait(append(failing, partRevocations), delay)
		}
		a.Log.Warn("a store is not reachable at start; retrying", "error", err.Error(), "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, 15*time.Second)
	}
}

// tryOpenStores opens the main store and Redis where not open yet. When
// one does not answer (auth.ErrUnavailable) and startup is retried, the
// other is still tried, so that failing names every part that does not
// answer (/readyz while waiting); any other error is returned at once.
func (a *App) tryOpenStores(ctx context.Context, opt Options) (failing []string, err error) {
	var errs []error
	if a.Store == nil {
		if err := a.openMainStore(ctx, opt); err != nil {
			if !opt.RetryStartup || !unavailable(err) {
				return nil, err
			}
			failing, errs = append(failing, partStore), append(errs, err)
		}
	}
	if a.Redis == nil {
		if err := a.openRedisStore(ctx); err != nil {
			if !opt.RetryStartup || !unavailable(err) {
				return nil, err
			}
			failing, errs = append(failing, partRedis), append(errs, err)
		}
	}
	return failing, errors.Join(errs...)
}

func (a *App) openMainStore(ctx context.Context, opt Options) error {
	s, err := OpenMainStore(ctx, a.Config.Store, a.Config.StoreMigrate)
	if err != nil {
		return err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return fmt.Errorf("store: %w", err)
	}
	if opt.Migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return fmt.Errorf("migrate store: %w", err)
		}
	} else if err := s.CheckSchema(ctx); err != nil {
		// Without migrating (serve --no-migrate), serve only on the
		// schema this binary was built for: not before gatehouse
		// migrate ran, nor on one a newer gatehouse migrated.
		s.Close()
		return fmt.Errorf("store: %w", err)
	}
	a.Store = s
	if opt.WrapStore != nil {
		a.Store = opt.WrapStore(s)
	}
	a.closers = append(a.closers, s.Close)
	a.observeStore(s, strings.SplitN(a.Config.Store, ":", 2)[0])
	return nil
}

// openRedisStore opens Redis when configured.
func (a *App) openRedisStore(ctx context.Context) error {
	r, err := openRedis(ctx, a.Config, a.Log)
	if err != nil || r == nil {
		return err
	}
	if err := r.Ping(ctx); err != nil {
		r.Close()
		return fmt.Errorf("redis: %w", err)
	}
	a.Redis = r
	a.closers = append(a.closers, r.Close)
	a.observeStore(r, "redis")
	checkRedisEviction(ctx, r, a.Log)
	checkRedisReplicas(ctx, r, a.Config.Redis.EffectiveWaitReplicas(), a.Log)
	return nil
}

// observeStore feeds a store's per-operation latency into the
// gatehouse_store_duration_seconds histogram.
func (a *App) observeStore(s any, name string) {
	if o, ok := s.(interface {
		SetObserver(func(op string, d time.Duration))
	}); ok {
		o.SetObserver(func(op string, d time.Duration) { a.Metrics.StoreOp(name, op, d) })
	}
}

func (a *App) build(ctx context.Context, opt Options) error {
	cfg := a.Config
	a.Audit = audit.New(a.Store, a.Log, a.now)
	// A deleted client's refresh families and access tokens end with it,
	// and its own access tokens with its secret (a.Grants is built below,
	// before anything can delete a client or change its secret).
	a.Clients = client.NewRegistry(a.Store, cfg.Clients, client.WithAudit(a.Audit), client.WithClock(a.now),
		client.WithOnDelete(func(ctx context.Context, id, sid string) error { return a.Grants.RevokeClient(ctx, id, sid) }),
		client.WithOnSecretRotated(func(ctx context.Context, id, sid string) error {
			return a.Grants.RevokeClientTokens(ctx, id, sid, "secret_rotated")
		}),
		client.WithInternalAudiences(a.internalAudiences))

	var revStore revocation.Store = a.Store
	var throttleStore throttle.Store = memory.New(memory.WithClock(a.now))
	if a.Redis != nil {
		revStore, throttleStore = a.Redis, a.Redis
	}
	a.Watcher = revocation.NewWatcher(revStore, revocation.WithLogger(a.Log), revocation.WithClock(a.now))

	var sessStore session.Store = a.Store
	var sessOpts []session.Option
	switch {
	case cfg.Sessions.Store == "memory":
		sessStore = memory.New(memory.WithClock(a.now))
		// `gatehouse user logout` and the like, run beside serve, reach
		// serve's sessions only through the revocation feed.
		sessOpts = append(sessOpts, session.WithLocalStore())
	case strings.HasPrefix(cfg.Sessions.Store, "redis"):
		sessStore = a.Redis
	}
	a.Sessions = session.NewManager(sessStore, append([]session.Option{
		session.WithTimeouts(cfg.Sessions.IdleTimeout.D(), cfg.Sessions.AbsoluteTimeout.D()),
		session.WithCachedFor(cfg.Sessions.CacheTTL.D()),
		session.WithCookie(cookieOf(cfg)), session.WithClock(a.now), session.WithPublisher(a.Watcher)}, sessOpts...)...)
	a.Auth = session.NewAuthenticator(a.Sessions, a.Store, cfg.Sessions.CacheTTL.D(), a.Watcher.Fresh)

	if err := a.buildTokens(ctx, opt); err != nil {
		return err
	}
	a.Peers = a.newPeerMonitor(opt.Version)

	hasher, err := password.NewHasher(password.Params{
		MemoryKiB: cfg.Passwords.MemoryKiB, Iterations: cfg.Passwords.Iterations, Parallelism: cfg.Passwords.Parallelism,
	}, cfg.Passwords.MaxConcurrent, password.WithMaxWait(cfg.Passwords.MaxWait.D()),
		password.WithMaxPerClient(cfg.Passwords.MaxPerClient), password.WithShedDelay(shedDelay(cfg.Passwords.ShedDelay.D())))
	if err != nil {
		return err
	}
	// Every login throttle counts in one store under login.max_failures
	// and login.window; they differ in their keys.
	newLimiter := func(opts ...throttle.LimiterOption) *throttle.Limiter {
		return throttle.NewLimiter(throttleStore, cfg.Login.MaxFailures, cfg.Login.Window.D(),
			append([]throttle.LimiterOption{throttle.WithClock(a.now)}, opts...)...)
	}
	limiter := newLimiter()
	// Client secrets cannot be guessed: no client-wide lock that anyone
	// could trip to lock an app out (throttle.WithoutAccountKey).
	clientLimiter := newLimiter(throttle.WithoutAccountKey())
	// Second factors also count under a key a right password does not
	// clear (throttle.ForSecondFactor); a passwordless passkey, which
	// names no account, per client IP only.
	mfaLimiter := newLimiter(throttle.ForSecondFactor())
	passwordlessLimiter := newLimiter(throttle.WithoutAccountKey())
	a.hasher = hasher
	pending, err := a.buildMFA(opt)
	if err != nil {
		return err
	}
	linkable, err := linkProviders(cfg.OIDC.Providers)
	if err != nil {
		return err
	}
	a.Users = user.NewService(a.Store, hasher, user.WithLimiter(limiter), user.WithAudit(a.Audit),
		user.WithRevokers(a.Sessions, a.Grants), user.WithIdentities(a.Store), user.WithClock(a.now),
		user.WithFactorReset(a.MFA), user.WithProviders(linkable))

	a.Watcher.OnEvent(a.onRevocation)
	a.Apps = authserver.New(authserver.Deps{
		Store: a.Store, Grants: a.Grants, Issuer: a.Issuer, Tokens: a.Verifier, Users: a.Store, Now: a.now, Email: a.verifiedEmail,
		Logouts: a.Store, Clients: a.Clients, Log: a.Log,
		HTTP: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		// A code is redeemed only while the browser session it was issued in lives.
		SessionAlive:    func(ctx context.Context, id string) error { _, err := a.Sessions.LookupID(ctx, id); return err },
		SessionLifetime: cfg.Sessions.AbsoluteTimeout.D(),
	})
	// Every way a session ends (logout, revoke, sign-out-everywhere, user
	// disabled or deleted, end_session) announces it; the apps that got
	// tokens in it are then logged out over the back channel. Queued, not
	// run here: the hook must not block the watcher, whose first read
	// replays the last hour's session ends (Run works through the queue
	// one session at a time, Close through what is left).
	a.Watcher.OnEvent(func(ev revocation.Event) {
		if ev.Kind == revocation.KindSession {
			a.Apps.EndSessionLater(ev.Key)
		}
	})
	// A process-local session store (sessions.store: memory) ends the
	// sessions that a sign-out everywhere in another process (a `gatehouse
	// user …` command) could not reach; the manager announces each end,
	// which the hooks above apply: out of the cache, its apps logged out.
	// Quick: the store is this process's memory.
	a.Watcher.OnEvent(func(ev revocation.Event) {
		if ev.Kind != revocation.KindUserSessions {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := a.Sessions.EndRevokedSessions(ctx, ev); err != nil {
			a.Log.Error("end revoked sessions", "error", err.Error())
		}
	})

	passkeys, err := a.buildPasskeys()
	if err != nil {
		return err
	}

	if len(cfg.OIDC.Providers) > 0 {
		if a.OIDC, err = a.buildOIDC(ctx, pending); err != nil {
			return err
		}
	}
	gw, err := a.newGateway(cfg.Routes)
	if err != nil {
		return err
	}
	a.gateway.Store(gw)
	a.closers = append(a.closers, func() error { a.gateway.Load().Close(); return nil })

	prefixes, err := httpapi.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	adm := admin.New(admin.Deps{
		Config: cfg, Logger: a.Log, Users: a.Users, Sessions: a.Auth, Verifier: a.Verifier, Grants: a.Grants,
		Keys: a.Keys, Audit: a.Audit, Trail: a.Store, Console: admin.ConsoleFree(cfg.Routes),
		MFA: a.MFA, Clients: a.Clients,
		Explain: a.Explain,
	})
	if opt.AccessLog != nil {
		a.access = httpapi.NewAccessLog(opt.AccessLog, a.Metrics.AccessLogDropped)
		a.closers = append(a.closers, a.access.Close)
	}
	deps := httpapi.Deps{
		Settings: httpapi.Settings{PublicURL: cfg.EffectivePublicURL(), Algorithm: cfg.Tokens.Algorithm,
			PasswordGrant: cfg.Tokens.PasswordGrant, TLS: cfg.TLS.Enabled(), TrustedProxies: prefixes,
			RequireMFARoles: cfg.Login.RequireMFARoles},
		Logger: a.Log, Metrics: a.Metrics, Audit: a.Audit, Users: a.Users, Sessions: session.NewService(a.Auth),
		Verifier: a.Verifier, Grants: a.Grants, Keys: a.Keys,
		Gateway: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.gateway.Load().ServeHTTP(w, r) }),
		Verify:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.gateway.Load().VerifyHandler().ServeHTTP(w, r) }),
		OIDC:    a.OIDC, Ready: a.Ready, QuietLogs: opt.QuietLogs, AccessLog: a.access,
		Clients: a.Clients, Apps: a.Apps, ClientLimiter: clientLimiter, IDTokens: a.Issuer,
		ServesHost:  a.servesHost,
		VerifyEnvoy: extauthz.HTTPHandler(a.check),
		MFA:         a.MFA, Pending: pending, Throttle: mfaLimiter, Now: a.now, Passkeys: passkeys, PasswordlessThrottle: passwordlessLimiter,
		Admin: adm, AdminConsole: admin.ConsoleFree(cfg.Routes),
	}
	a.server, err = httpapi.NewServer(deps)
	if err != nil {
		return err
	}
	a.observer = httpapi.NewObserver(deps)
	a.handler = a.server
	return nil
}

func (a *App) buildTokens(ctx context.Context, opt Options) error {
	cfg := a.Config
	grace := cfg.Tokens.AccessTTL.D() + cfg.Tokens.Leeway.D()
	keyOpts := []keys.Option{keys.WithClock(a.now), keys.WithVerifyGrace(grace), keys.WithLogger(a.Log),
		keys.WithOnRotate(func(ctx context.Context, kid string) {
			a.Audit.Record(ctx, audit.Event{Type: audit.KeyRotated, Details: map[string]string{"kid": kid}})
			_ = a.Watcher.Publish(ctx, revocation.Event{Kind: revocation.KindKeys, Until: a.now().Add(time.Hour)})
		}),
		// The next key of a scheduled rotation: every instance reloads and
		// publishes it in its JWKS at once (not audited: nothing rotated yet).
		keys.WithOnPublish(func(ctx context.Context, _ string) {
			_ = a.Watcher.Publish(ctx, revocation.Event{Kind: revocation.KindKeys, Until: a.now().Add(time.Hour)})
		})}
	if cfg.Tokens.Algorithm == "HS256" {
		keyOpts = append(keyOpts, keys.WithHMACSecret([]byte(cfg.Tokens.HMACSecret)))
	}
	if cfg.Keys.EncryptionKey != "" {
		keyOpts = append(keyOpts, keys.WithEncryptionKey([]byte(cfg.Keys.EncryptionKey)))
	}
	if opt.ChangeAlgorithm {
		keyOpts = append(keyOpts, keys.WithAlgorithmChange())
	}
	ks, err := keys.NewSet(ctx, a.Store, cfg.Tokens.Algorithm, keyOpts...)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	a.Keys = ks
	common := []token.Option{
		token.WithIssuer(cfg.EffectivePublicURL()), token.WithAudience(cfg.Tokens.Audience),
		token.WithAccessTTL(cfg.Tokens.AccessTTL.D()), token.WithLeeway(cfg.Tokens.Leeway.D()), token.WithClock(a.now),
	}
	a.Issuer = token.NewIssuer(ks, append(common, token.WithInternalAudiences(a.internalAudiences))...)
	a.Verifier = token.NewVerifier(ks, a.Watcher, append(common,
		token.WithCacheSize(cfg.Tokens.CacheSize), token.WithCacheTrust(a.Watcher.Fresh))...)
	a.Grants = token.NewGrants(a.Issuer, a.Store, a.Store, a.Watcher, append(common,
		token.WithRefreshTTL(cfg.Tokens.RefreshTTL.D()), token.WithRefreshIdleTTL(cfg.Tokens.RefreshIdleTTL.D()),
		token.WithAudit(a.Audit))...)
	return nil
}

// verifiedEmail is the email of the user's first linked OIDC identity:
// providers link only verified addresses.
func (a *App) verifiedEmail(ctx context.Context, userID string) (string, bool) {
	ids, err := a.Store.UserIdentities(ctx, userID)
	if err != nil {
		return "", false
	}
	for _, id := range ids {
		if id.Email != "" {
			return id.Email, true
		}
	}
	return "", false
}

// onRevocation drops every local cache entry an event makes stale.
func (a *App) onRevocation(ev revocation.Event) {
	a.Auth.Forget(ev)
	a.Verifier.Forget(ev.Kind, ev.Key)
	if ev.Kind == revocation.KindKeys {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Keys.Reload(ctx); err != nil {
			a.Log.Error("reload signing keys", "error", err.Error())
		}
	}
}

func (a *App) buildOIDC(ctx context.Context, pending *mfa.PendingCodec) (*oidc.Handler, error) {
	return oidc.New(ctx, oidc.Deps{
		Providers: providersOf(a.Config.OIDC.Providers), PublicURL: a.Config.EffectivePublicURL(),
		Users: a.Users, Audit: a.Audit, Now: a.now, Logger: a.Log,
		StateKey: stateKey(a.Config), SecureCookies: a.Config.SecureCookies(),
		ServesHost: a.servesHost,
		StartSession: func(w http.ResponseWriter, r *http.Request, u auth.User, method string) (oidc.StartedSession, error) {
			rec, err := a.Sessions.StartSession(w, r, u.ID, method, mfa.AMRExternal)
			// u is the user as the callback read it: a disable, delete
			// or logout everywhere since ends the session and fails the
			// login (auth.ErrInvalidCredentials).
			err = a.Users.ConfirmLogin(r.Context(), u, "", "oidc", err, func(ctx context.Context) error {
				return a.Sessions.RevokeOwned(ctx, u.ID, rec.ID)
			})
			if err == nil {
				pending.ClearSent(w, r) // as a password login does
			}
			return oidc.StartedSession{ID: rec.ID, ExpiresAt: rec.ExpiresAt}, err
		},
		// A user with a second factor (or who must enrol one) passes it on
		// /login/mfa after the provider, exactly as after a password.
		SecondStep: func(w http.ResponseWriter, r *http.Request, u auth.User, method string, ps oidc.ProviderSession, next string) (string, error) {
			step, err := a.MFA.LoginStep(r.Context(), u, a.Config.Login.RequireMFARoles)
			if err != nil || !step.Required {
				return "", err
			}
			p := mfa.Pending{AMR: []string{mfa.AMRExternal}, Next: next, Enrol: step.Enrol, Method: method,
				Provider: ps.Provider, ProviderSID: ps.SID, ProviderSubject: ps.Subject}
			err = pending.Start(w, u, p)
			if errors.Is(err, mfa.ErrPendingTooLarge) {
				err = fmt.Errorf("%w: %w", oidc.ErrSessionTooLarge, err)
			}
			if err != nil {
				return "", err
			}
			return "/login/mfa?next=" + url.QueryEscape(next), nil
		},
		// Inbound back-channel logout ends sessions the normal way.
		Logouts: a.Store, EndSession: a.Sessions.Revoke,
	})
}

// providersOf turns oidc.providers entries into what the OIDC handler
// takes (client_secret_file is already resolved into ClientSecret).
func providersOf(ps []config.Provider) []oidc.Provider {
	out := make([]oidc.Provider, 0, len(ps))
	for _, p := range ps {
		out = append(out, oidc.Provider{
			Name: p.Name, DisplayName: p.DisplayName, Type: p.Type, Issuer: p.Issuer,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Scopes: p.Scopes,
			CreateUsers: p.CreateUsers, LinkByEmail: p.LinkByEmail, DefaultRoles: p.DefaultRoles,
			AllowedEmailDomains: p.AllowedEmailDomains,
			BackchannelLogout:   p.BackchannelLogout,
			AuthURL:             p.AuthURL, TokenURL: p.TokenURL, UserinfoURL: p.UserinfoURL,
			Claims: oidc.ClaimMapping{Subject: p.Claims.Subject, Username: p.Claims.Username,
				Email: p.Claims.Email, EmailVerified: p.Claims.EmailVerified},
		})
	}
	return out
}

// linkProviders are the oidc.providers an administrator can link accounts
// of (user.Service.LinkAccount), each with the issuer its logins record
// (oidc.Provider.AccountIssuer), so that a link is found by the login.
func linkProviders(ps []config.Provider) ([]user.Provider, error) {
	out := make([]user.Provider, 0, len(ps))
	for _, p := range providersOf(ps) {
		issuer, err := p.AccountIssuer()
		if err != nil {
			return nil, err
		}
		out = append(out, user.Provider{Name: p.Name, Issuer: issuer})
	}
	return out, nil
}

// buildMFA builds the second-factor service and the pending-login codec.
// TOTP secrets are sealed with a key derived from keys.encryption_key;
// without one, enrolment is refused (except in the demo). The last
// accepted TOTP step lives in Redis when configured, else in the store.
func (a *App) buildMFA(opt Options) (*mfa.PendingCodec, error) {
	var steps mfa.StepStore = a.Store
	if a.Redis != nil {
		steps = a.Redis
	}
	mfaOpts := []mfa.Option{mfa.WithClock(a.now), mfa.WithIssuer(a.Config.MFA.TOTPIssuer)}
	sealKey := []byte(nil)
	switch {
	case a.Config.Keys.EncryptionKey != "":
		sealKey = mfa.SealKey(a.Config.Keys.EncryptionKey)
	case opt.Demo:
		sealKey = randomKey()
	}
	if sealKey != nil {
		sl, err := seal.New(sealKey, nil)
		if err != nil {
			return nil, fmt.Errorf("mfa: %w", err)
		}
		mfaOpts = append(mfaOpts, mfa.WithSealer(sl))
	}
	a.MFA = mfa.NewService(a.Store, steps, mfaOpts...)
	return mfa.NewPendingCodec(derivedKey(a.Config, "gatehouse-mfa-pending"), a.Config.SecureCookies(), a.now)
}

// buildPasskeys builds WebAuthn (contract section 9) for public_url: RP
// ID its host, origin its origin. A public_url whose host is an IP address
// cannot be a relying party: passkeys are then off (nil), with a log line.
func (a *App) buildPasskeys() (*mfa.Passkeys, error) {
	rp, err := mfa.RelyingPartyFor(a.Config.EffectivePublicURL())
	if errors.Is(err, mfa.ErrNoPasskeys) {
		a.Log.Info("passkeys (WebAuthn) are off: public_url needs a domain name", "public_url", a.Config.EffectivePublicURL())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := mfa.NewPasskeys(a.Store, rp, derivedKey(a.Config, "gatehouse-webauthn-ceremony"), a.Config.SecureCookies(), a.now)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return p, nil
}

// stateKey seals OIDC state cookies. Instances behind one public_url must
// share it, so it is derived from a configured secret (keys.encryption_key,
// else the HS256 secret); without one it is random per process, which is
// right for a single node (config check warns about it).
func stateKey(cfg config.Config) []byte { return derivedKey(cfg, "gatehouse-oidc-state") }

// derivedKey is a 32-byte key for label from the configured secret
// (keys.encryption_key, else the HS256 secret), or a random one when
// neither is set.
func derivedKey(cfg config.Config, label string) []byte {
	seed := cfg.Keys.EncryptionKey
	if seed == "" {
		seed = cfg.Tokens.HMACSecret
	}
	if seed == "" {
		return randomKey()
	}
	sum := sha256.Sum256([]byte(label + "\x00" + seed))
	return sum[:]
}

func randomKey() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return key
}

func (a *App) newGateway(routes []config.Route) (*gateway.Gateway, error) {
	prefixes, err := httpapi.ParsePrefixes(a.Config.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return gateway.New(routes, gateway.Deps{
		Sessions: a.Auth, Tokens: a.Verifier, Internal: a.Issuer, CookieName: a.Sessions.CookieName(),
		PrivateCookies: []string{mfa.PendingCookie, mfa.CeremonyCookie}, PrivateCookiePrefixes: oidc.StateCookiePrefixes(),
		TrustedProxies: prefixes, Logger: a.Log, PublicURL: a.Config.EffectivePublicURL(),
		Observe:    func(route, method, outcome string) { a.Metrics.Decision(method, outcome) },
		RateLimits: a.rateLimits(), RateLimited: a.Metrics.RateLimit, Now: a.now,
	})
}

// rateLimits is Redis when configured, so that every instance spends one
// budget, else one in-memory store for the life of the process.
func (a *App) rateLimits() ratelimit.Store {
	if a.limits == nil {
		a.limits = ratelimit.NewMemory()
		if a.Redis != nil {
			a.limits = a.Redis
		}
	}
	return a.limits
}

func cookieOf(cfg config.Config) session.Cookie {
	ss := map[string]http.SameSite{"strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode}[strings.ToLower(cfg.Sessions.Cookie.SameSite)]
	if ss == 0 {
		ss = http.SameSiteLaxMode
	}
	return session.Cookie{Name: cfg.CookieName(), Secure: cfg.SecureCookies(), SameSite: ss, Domain: cfg.Sessions.Cookie.Domain}
}

// servesHost reports whether a route of the current gateway names host: the
// hosts a login may return to with an absolute next URL.
func (a *App) servesHost(host string) bool { return a.gateway.Load().ServesHost(host) }

// check is the current gateway's decision, for Envoy's ext_authz.
func (a *App) check(r *http.Request) gateway.Verdict { return a.gateway.Load().Check(r) }

// Handler is the public HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// internalAudiences are the names of the current gateway's forward: jwt
// routes: the aud of its internal JWTs, which no client or access token may
// have.
func (a *App) internalAudiences() []string {
	if gw := a.gateway.Load(); gw != nil {
		return gw.InternalAudiences()
	}
	return nil
}

// Explain tells what gatehouse would do with r: which of its own endpoints
// answers it, as the public server routes it, else the gateway's decision
// (POST /admin/api/v1/explain, `gatehouse explain`).
func (a *App) Explain(r *http.Request) gateway.Explanation {
	if ep := a.server.Endpoint(r); ep != nil {
		return gateway.ServedByGatehouse(r, ep)
	}
	return a.gateway.Load().Explain(r)
}

// Gateway is the gateway currently in use.
func (a *App) Gateway() *gateway.Gateway { return a.gateway.Load() }

// ReloadRoutes compiles routes and swaps them in; on error the old routes
// stay. In-flight requests finish on the gateway they started on.
func (a *App) ReloadRoutes(routes []config.Route) error {
	gw, err := a.newGateway(routes)
	if err != nil {
		return err
	}
	old := a.gateway.Swap(gw)
	a.Config.Routes = routes
	// Let requests in flight on the old gateway finish before closing its
	// idle connections.
	time.AfterFunc(time.Minute, old.Close)
	return nil
}

// The parts /readyz names: by Ready once serving, by the Front while
// serve waits for its stores.
const (
	partStore       = "store"
	partRedis       = "redis"
	partRevocations = "revocations"
)

// Ready names the parts that do not answer (for /readyz). The stores are
// pinged at once, each within ctx: one after the other, a store that
// hangs until ctx ends would leave the next none of it, and a healthy
// Redis would be named beside a silent PostgreSQL.
func (a *App) Ready(ctx context.Context) []string {
	var failing []string
	redisDown := make(chan bool, 1)
	if a.Redis != nil {
		go func() { redisDown <- a.Redis.Ping(ctx) != nil }()
	} else {
		redisDown <- false
	}
	if err := a.Store.Ping(ctx); err != nil {
		failing = append(failing, partStore)
	}
	if <-redisDown {
		failing = append(failing, partRedis)
	}
	if err := a.Watcher.Ready(ctx); err != nil {
		failing = append(failing, partRevocations)
	}
	return failing
}

// closeSessionEnds bounds the session ends Close still works through.
const closeSessionEnds = 5 * time.Second

// purgeEvery is how often expired sessions, refresh tokens, revocation
// events, authorization codes and the rest of what each component purges
// are deleted.
const purgeEvery = 5 * time.Minute

// Run does the background work until ctx ends: follows the revocation
// feed, reloads, rotates and purges keys, and purges expired records. Each
// component owns its loop or its purge rule; Run only starts them and logs
// their errors. waitBackground reports when they have all returned.
func (a *App) Run(ctx context.Context) {
	// Compared with the peers at once, before serving, so that a
	// difference is in the log from the start; a store that does not
	// answer only delays it to the next refresh.
	a.Peers.CheckLogged(ctx)
	a.bg.Go(func() { a.Peers.Run(ctx) })
	a.bg.Go(func() {
		if err := a.Watcher.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.Log.Error("revocation watcher stopped", "error", err.Error())
		}
	})
	a.bg.Go(func() { a.Keys.Run(ctx, a.Config.Keys.RotateEvery.D(), keys.ReloadEvery) })
	a.bg.Go(func() {
		a.every(ctx, purgeEvery, a.Sessions.PurgeExpired, a.Grants.PurgeExpired, a.Watcher.PurgeExpired, a.Apps.PurgeExpired,
			func(ctx context.Context) (int, error) { return a.Audit.Purge(ctx, a.Config.Audit.Retention.D()) })
	})
	a.bg.Go(func() { a.Apps.RunLogouts(ctx, logoutOwner()) })
	a.bg.Go(func() { a.Apps.RunSessionEnds(ctx) })
	if a.OIDC != nil {
		a.bg.Go(func() { a.every(ctx, purgeEvery, a.OIDC.PurgeExpired) })
	}
	if a.access != nil {
		a.bg.Go(func() { a.access.Run(ctx) })
	}
}

// waitBackground waits, until ctx ends, for the loops Run started to
// return once their own context has ended: they may still be recording
// what they were doing (a back-channel logout attempt, the last access log
// lines), which must happen before Close closes the stores. It reports
// whether they all returned.
func (a *App) waitBackground(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		a.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// logoutOwner names this process in back-channel logout leases.
func logoutOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// every runs each purge once per period until ctx ends, logging failures
// (a failed purge is retried at the next period).
func (a *App) every(ctx context.Context, period time.Duration, purges ...func(context.Context) (int, error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, purge := range purges {
			if _, err := purge(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("purge failed", "error", err.Error())
			}
		}
	}
}

// Close releases stores and connections.
func (a *App) Close() {
	if a.Apps != nil {
		// Sessions this process ended (a CLI command disabling a user) or
		// that Run had no time for: their apps' grants end before the
		// stores close. What does not fit in closeSessionEnds is replayed
		// from the revocation feed by the next instance to start.
		ctx, cancel := context.WithTimeout(context.Background(), closeSessionEnds)
		a.Apps.FinishSessionEnds(ctx)
		cancel()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
	a.closers = nil
}

// shedDelay maps passwords.shed_delay (0: answer at once) to
// password.WithShedDelay (0: the default, negative: no hold).
func shedDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// PaceGC keeps gc_headroom_mib of heap growth between garbage collections
// until ctx ends (internal/gcpace), unless the GOGC environment variable
// sets Go's pacing explicitly. Call it once per process, before serving
// (gatehouse serve): the setting is process-wide.
func (a *App) PaceGC(ctx context.Context, getenv func(string) string) {
	if getenv("GOGC") != "" || a.Config.GCHeadroomMiB <= 0 {
		return
	}
	go gcpace.Run(ctx, uint64(a.Config.GCHeadroomMiB)<<20, time.Second)
}

// ReserveHashingProcs gives password hashing spare Ps while it runs
// (password.Hasher.SetProcs): GOMAXPROCS is the value it has now plus one
// per hashing slot while logins hash, and back to now's value once hashing
// has been idle for password.ProcsIdle. It does nothing when the
// GOMAXPROCS environment variable sets it explicitly. Call it once per
// process, before serving (gatehouse serve).
func (a *App) ReserveHashingProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" || a.hasher == nil {
		return
	}
	base := runtime.GOMAXPROCS(0)
	a.hasher.SetProcs(func(extra int) { runtime.GOMAXPROCS(base + extra) })
}
