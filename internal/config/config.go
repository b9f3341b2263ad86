package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// Config is the whole configuration. Field tags are the YAML keys of the
// contract (section 2); environment overrides use GATEHOUSE_ plus the
// upper-cased key path joined by "_" (GATEHOUSE_SESSIONS_STORE).
type Config struct {
	Listen      string `yaml:"listen"`
	PublicURL   string `yaml:"public_url"`
	AdminListen string `yaml:"admin_listen"`
	AdminPprof  bool   `yaml:"admin_pprof"` // /debug/pprof/ on admin_listen; off by default (issue 15)
	// GCHeadroomMiB is the least the heap may grow between garbage
	// collections (internal/gcpace); 0 leaves Go's pacing (GOGC) alone, as
	// does a GOGC environment variable.
	GCHeadroomMiB int `yaml:"gc_headroom_mib"`
	// ExtAuthzListen serves Envoy's gRPC external authorization (contract
	// section 12) when not "" (the default: off).
	ExtAuthzListen string `yaml:"ext_authz_listen"`
	TLS            TLS    `yaml:"tls"`
	Store          string `yaml:"store" secret:"url"`
	// StoreMigrate is a direct postgres:// URL used only by migrations
	// (optional when store points at a transaction-pooling PgBouncer: the
	// migration lock is a table row). "" means store.
	StoreMigrate   string    `yaml:"store_migrate" secret:"url"`
	Sessions       Sessions  `yaml:"sessions"`
	Tokens         Tokens    `yaml:"tokens"`
	Keys           Keys      `yaml:"keys"`
	Passwords      Passwords `yaml:"passwords"`
	Login          Login     `yaml:"login"`
	MFA            MFA       `yaml:"mfa"`
	TrustedProxies []string  `yaml:"trusted_proxies"`
	Redis          Redis     `yaml:"redis"`
	Routes         []Route   `yaml:"routes"`
	OIDC           OIDC      `yaml:"oidc"`
	Clients        []Client  `yaml:"clients"`
	Log            Log       `yaml:"log"`
	Audit          Audit     `yaml:"audit"`
	Admin          Admin     `yaml:"admin"`

	// fileWarnings are Load's findings about the file itself (Warnings
	// reports them).
	fileWarnings []string
}

// TLS enables HTTPS (and HSTS) on Listen when both files are set.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether gatehouse terminates TLS itself.
func (t TLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// Sessions configures browser sessions.
type Sessions struct {
	// Store is "" (same as the main store), "memory", "redis" (the redis
	// section's deployment) or a redis:// URL (one node).
	Store           string   `yaml:"store" secret:"url"`
	Cookie          Cookie   `yaml:"cookie"`
	IdleTimeout     Duration `yaml:"idle_timeout"`
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// CacheTTL bounds how long an instance trusts its local copy of a session
	// without asking the store; revocations invalidate it sooner. 0 disables.
	CacheTTL Duration `yaml:"cache_ttl"`
}

// Cookie configures the session cookie.
type Cookie struct {
	// Name "" means __Host-gatehouse when secure, gatehouse otherwise.
	Name string `yaml:"name"`
	// Secure is "auto", "true" or "false".
	Secure   string `yaml:"secure"`
	SameSite string `yaml:"same_site"`
	Domain   string `yaml:"domain"`
}

// Tokens configures JWT access tokens and refresh tokens.
type Tokens struct {
	Algorithm      string   `yaml:"algorithm"`
	HMACSecret     string   `yaml:"hmac_secret" secret:"true"`
	HMACSecretFile string   `yaml:"hmac_secret_file"`
	Audience       []string `yaml:"audience"`
	AccessTTL      Duration `yaml:"access_ttl"`
	RefreshTTL     Duration `yaml:"refresh_ttl"`
	RefreshIdleTTL Duration `yaml:"refresh_idle_ttl"`
	Leeway         Duration `yaml:"leeway"`
	PasswordGrant  bool     `yaml:"password_grant"`
	// CacheSize bounds the verified-token cache (entries); 0 disables it.
	CacheSize int `yaml:"cache_size"`
}

// Keys configures signing-key storage and rotation.
type Keys struct {
	// EncryptionKey (>= 32 bytes) encrypts private keys at rest with AES-GCM.
	EncryptionKey     string   `yaml:"encryption_key" secret:"true"`
	EncryptionKeyFile string   `yaml:"encryption_key_file"`
	RotateEvery       Duration `yaml:"rotate_every"` // 0 = manual only
}

// Passwords configures argon2id hashing.
type Passwords struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
	// MaxConcurrent caps simultaneous hashes (each takes MemoryKiB of RAM);
	// 0 means max(1, GOMAXPROCS/2), so logins never take every CPU.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxWait bounds the wait for a hashing slot: a login whose expected
	// wait is longer is refused at once with 503 + Retry-After; 0 means 2s.
	MaxWait Duration `yaml:"max_wait"`
	// MaxPerClient caps the logins one client IP may have in flight; more
	// are refused with 503 + Retry-After before their body is read. 0
	// means 8, negative no cap.
	MaxPerClient int `yaml:"max_per_client"`
	// ShedDelay holds a refused login's answer this long (at most MaxWait),
	// so that a client ignoring Retry-After cannot loop on refusals; 0
	// answers at once.
	ShedDelay Duration `yaml:"shed_delay"`
}

// EffectiveMaxConcurrent is MaxConcurrent, or what the hasher takes 0 for:
// password.DefaultMaxConcurrent, half the CPUs.
func (p Passwords) EffectiveMaxConcurrent() int {
	if p.MaxConcurrent > 0 {
		return p.MaxConcurrent
	}
	return password.DefaultMaxConcurrent()
}

// EffectiveMaxPerClient is MaxPerClient, or what the hasher takes 0 for:
// password.DefaultMaxPerClient. A negative value (no cap) stays as it is.
func (p Passwords) EffectiveMaxPerClient() int {
	if p.MaxPerClient == 0 {
		return password.DefaultMaxPerClient
	}
	return p.MaxPerClient
}

// Login configures failure throttling for /auth/login and the password grant.
type Login struct {
	MaxFailures int      `yaml:"max_failures"`
	Window      Duration `yaml:"window"`
	// RequireMFARoles: users with any of these roles must enrol a second
	// factor at their next login before they get a session.
	RequireMFARoles []string `yaml:"require_mfa_roles"`
}

// MFA configures second factors (contract section 9).
type MFA struct {
	// TOTPIssuer names this deployment in authenticator apps: the otpauth
	// URI's issuer parameter and label prefix ("Acme:alice"). Default
	// "gatehouse"; Validate refuses one an app would show wrongly
	// (MaxTOTPIssuerLen).
	TOTPIssuer string `yaml:"totp_issuer"`
}

// MaxTOTPIssuerLen is the longest mfa.totp_issuer accepted, in characters:
// an authenticator app shows the issuer on one line beside the code.
const MaxTOTPIssuerLen = 64

// Redis configures the optional shared Redis (contract section 10): one
// node (URL, or a redis-sentinel:// URL), a Sentinel group or a Cluster,
// exactly one of them.
type Redis struct {
	URL       string        `yaml:"url" secret:"url"`
	Sentinel  RedisSentinel `yaml:"sentinel"`
	Cluster   RedisCluster  `yaml:"cluster"`
	KeyPrefix string        `yaml:"key_prefix"`
	// WaitReplicas is how many replicas must acknowledge a logout or
	// revocation (Redis WAIT) before it counts as done, so that a failover
	// cannot lose it. -1 (default) means 1 on Sentinel and Cluster, 0 on a
	// single node: EffectiveWaitReplicas.
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds that wait (0 means DefaultWaitTimeout, 1s:
	// EffectiveWaitTimeout); when it runs out the write fails (503).
	WaitTimeout Duration `yaml:"wait_timeout"`
}

// DefaultWaitTimeout is redis.wait_timeout's default, and what 0 means.
const DefaultWaitTimeout = time.Second

// EffectiveWaitTimeout is WaitTimeout, or DefaultWaitTimeout when it is 0:
// Redis WAIT with a timeout of 0 would block until enough replicas answer,
// for ever while one is gone. (Validate refuses a negative one.)
func (r Redis) EffectiveWaitTimeout() time.Duration {
	if d := r.WaitTimeout.D(); d > 0 {
		return d
	}
	return DefaultWaitTimeout
}

// EffectiveWaitReplicas is WaitReplicas, or what -1 (automatic) means for
// the deployment configured: 1 on Sentinel (redis.sentinel or a
// redis-sentinel:// URL) and Cluster, where a failover could otherwise lose
// a logout or revocation; 0 on a single node (redis.url, or a
// sessions.store URL beside an empty redis section) and without Redis.
// It is what serve passes to the Redis store, and what config check prints.
func (r Redis) EffectiveWaitReplicas() int {
	switch {
	case r.WaitReplicas >= 0:
		return r.WaitReplicas
	case r.Sentinel.Master != "", len(r.Sentinel.Addrs) > 0, len(r.Cluster.Addrs) > 0,
		strings.HasPrefix(r.URL, "redis-sentinel:"):
		return 1
	}
	return 0
}

// RedisSentinel names a Sentinel-managed primary and its sentinels.
type RedisSentinel struct {
	Master string   `yaml:"master"`
	Addrs  []string `yaml:"addrs"`
	// Password (or PasswordFile) authenticates to the Redis nodes and, when
	// they require it, to the sentinels.
	Password     string `yaml:"password" secret:"true"`
	PasswordFile string `yaml:"password_file"`
}

// RedisCluster lists seed nodes of a Redis Cluster.
type RedisCluster struct {
	Addrs        []string `yaml:"addrs"`
	Password     string   `yaml:"password" secret:"true"`
	PasswordFile string   `yaml:"password_file"`
}

// Configured reports whether any Redis deployment is set.
func (r Redis) Configured() bool {
	return r.URL != "" || r.Sentinel.Master != "" || len(r.Sentinel.Addrs) > 0 || len(r.Cluster.Addrs) > 0
}

// Route is one gateway route (contract section 5). The gateway owns the
// type, its keys and every rule about them: Validate asks gateway.Compile.
type Route = gateway.RouteConfig

// RouteMatch selects requests for a Route.
type RouteMatch = gateway.RouteMatch

// Client is one OAuth client declared in the file (contract §8). The
// client package owns the type and its rules: Validate asks client.Validate.
type Client = client.Client

// OIDC configures external identity providers.
type OIDC struct {
	Providers []Provider `yaml:"providers"`
}

// Provider is one OpenID Connect (or plain OAuth 2.0) login provider.
type Provider struct {
	Name                string   `yaml:"name"`
	DisplayName         string   `yaml:"display_name"`
	Type                string   `yaml:"type"` // oidc (default) | oauth2
	Issuer              string   `yaml:"issuer"`
	ClientID            string   `yaml:"client_id"`
	ClientSecret        string   `yaml:"client_secret" secret:"true"`
	ClientSecretFile    string   `yaml:"client_secret_file"`
	Scopes              []string `yaml:"scopes"`
	CreateUsers         bool     `yaml:"create_users"`
	LinkByEmail         bool     `yaml:"link_by_email"`
	DefaultRoles        []string `yaml:"default_roles"`
	AllowedEmailDomains []string `yaml:"allowed_email_domains"`
	// BackchannelLogout accepts the provider's logout tokens at
	// POST /auth/oidc/{name}/backchannel-logout (type oidc only).
	BackchannelLogout bool `yaml:"backchannel_logout"`
	// Plain OAuth 2.0 (type: oauth2) endpoints and claim mapping.
	AuthURL     string       `yaml:"auth_url"`
	TokenURL    string       `yaml:"token_url"`
	UserinfoURL string       `yaml:"userinfo_url"`
	Claims      ClaimMapping `yaml:"claims"`
}

// ClaimMapping names the userinfo fields of a plain OAuth 2.0 provider.
type ClaimMapping struct {
	Subject       string `yaml:"subject"`
	Username      string `yaml:"username"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
}

// Admin configures who may use the admin API and console (contract
// section 11).
type Admin struct {
	// Roles: a user holding any of them may administer. Empty switches the
	// admin API and console off (every request 403).
	Roles []string `yaml:"roles"`
	// RequireMFA demands a second factor in the credential's amr ("mfa", or
	// a passwordless passkey login; auth.MultiFactor)
	// (default true, contract section 11): an administrator's password
	// alone never opens the admin API or console.
	RequireMFA bool `yaml:"require_mfa"`
}

// Log configures the process log.
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error
}

// Audit configures the stored audit trail.
type Audit struct {
	// Retention deletes stored events older than this (checked every 5
	// minutes); 0, the default, keeps every event. At least MinAuditRetention.
	Retention Duration `yaml:"retention"`
}

// MinAuditRetention is the shortest audit.retention accepted: a shorter
// one is more likely a slip ("90s" for 90 days) than a wish to keep no
// trail.
const MinAuditRetention = 24 * time.Hour

// Default returns the configuration with every key at its documented default.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		AdminListen: "127.0.0.1:9090",
		Store:       "sqlite://gatehouse.db",
		Sessions: Sessions{
			Cookie:          Cookie{Secure: "auto", SameSite: "lax"},
			IdleTimeout:     Duration(30 * time.Minute),
			AbsoluteTimeout: Duration(24 * time.Hour),
			CacheTTL:        Duration(5 * time.Second),
		},
		Tokens: Tokens{
			Algorithm:      "ES256",
			Audience:       []string{"gatehouse"},
			AccessTTL:      Duration(10 * time.Minute),
			RefreshTTL:     Duration(720 * time.Hour),
			RefreshIdleTTL: Duration(336 * time.Hour),
			Leeway:         Duration(30 * time.Second),
			PasswordGrant:  true,
			CacheSize:      100_000,
		},
		Passwords: Passwords{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, MaxWait: Duration(2 * time.Second),
			ShedDelay: Duration(time.Second)},
		Login:          Login{MaxFailures: 5, Window: Duration(15 * time.Minute)},
		MFA:            MFA{TOTPIssuer: "gatehouse"},
		TrustedProxies: []string{"127.0.0.0/8", "::1/128"},
		Redis:          Redis{KeyPrefix: "gatehouse:", WaitReplicas: -1, WaitTimeout: Duration(DefaultWaitTimeout)},
		Log:            Log{Level: "info"},
		GCHeadroomMiB:  64,
		Admin:          Admin{Roles: []string{"admin"}, RequireMFA: true},
	}
}

// EffectivePublicURL is public_url, or http(s)://listen when it is unset,
// with a port named by service (127.0.0.1:http) written as its number
// (listenNumeric): url.Parse refuses "http://127.0.0.1:http".
func (c Config) EffectivePublicURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + listenNumeric(c.Listen)
}

// listenNumeric is listen (host:port) with a port named by service ("http",
// "https") replaced by its number, as net.LookupPort resolves it: the port
// net.Listen binds (Go knows http and https without /etc/services), and
// the name Validate accepts. So a named port is judged, and written in
// URLs, as its number. A numeric port, or an address that does not split
// or resolve (Validate reports it), is returned as written.
func listenNumeric(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || strings.Trim(port, "0123456789") == "" {
		return listen
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		return listen
	}
	return net.JoinHostPort(host, strconv.Itoa(n))
}

// OnAllInterfaces reports whether the listen address (host:port) binds
// every interface: no host, 0.0.0.0 or ::. Such an address is no place to
// send a browser or a client to ("http://0.0.0.0:8080").
func OnAllInterfaces(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return host == "" || err == nil && ip.IsUnspecified()
}

// SecureCookies reports whether the session cookie gets Secure and the
// __Host- prefix: secure: true, or auto with TLS or an https public_url.
func (c Config) SecureCookies() bool {
	switch c.Sessions.Cookie.Secure {
	case "true":
		return true
	case "false":
		return false
	}
	// A URL scheme is case-insensitive (RFC 3986 section 3.1), and
	// validation accepts HTTPS:// as https.
	return c.TLS.Enabled() || hasPrefixFold(c.EffectivePublicURL(), "https://")
}

// CookieName is the session cookie's name after applying the defaults.
func (c Config) CookieName() string {
	if c.Sessions.Cookie.Name != "" {
		return c.Sessions.Cookie.Name
	}
	if c.SecureCookies() {
		return "__Host-gatehouse"
	}
	return "gatehouse"
}

// Duration is a time.Duration written as "30m" in YAML ("30d" for days).
// It is duration.Duration, shared with the gateway's route type.
type Duration = duration.Duration

// ParseDuration is duration.Parse: Go syntax plus whole days ("30d").
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }
