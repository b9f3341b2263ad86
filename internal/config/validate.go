package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	redisstore "github.com/gatehouse-auth/gatehouse/internal/store/redis"
)

// MinSecretLen is the shortest accepted HMAC secret or encryption key (bytes).
const MinSecretLen = 32

// providerName is a name that is safe in a URL path segment, and short:
// it is part of the state cookie's name and of the pending login cookie,
// which must stay within a browser's 4096 bytes (docs/oidc.md).
var providerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$`)

// Validate returns every problem in c, each an *Error naming its key.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	checkHostPort := func(key, v string, allowEmpty bool) {
		if v == "" && allowEmpty {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil {
			bad(key, "must be host:port, got %q", v)
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			// serve would fail only when it listens, after config check said OK.
			bad(key, "port %q is not a port number (0-65535) or a service name", port)
		}
	}
	checkHostPort("listen", c.Listen, false)
	checkHostPort("admin_listen", c.AdminListen, true)
	checkHostPort("ext_authz_listen", c.ExtAuthzListen, true)
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "must be an absolute http(s) URL, got %q", c.PublicURL)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key must be set together")
	}
	if err := checkLowerStoreURL(c.Store, "sqlite", "postgres", "postgresql"); err != nil {
		bad("store", "%v", err)
	} else if _, err := sqlitePath(c.Store); err != nil && !errors.Is(err, errNotSQLite) {
		bad("store", "%v", err)
	} else if err != nil {
		// A PostgreSQL DSN: the store's rule (pgx's), so that what config
		// check accepts, serve opens.
		if err := postgres.CheckDSN(c.Store); err != nil {
			bad("store", "%v", err)
		}
	}
	if c.StoreMigrate != "" {
		if err := checkLowerStoreURL(c.StoreMigrate, "postgres", "postgresql"); err != nil {
			bad("store_migrate", "%v", err)
		} else if err := postgres.CheckDSN(c.StoreMigrate); err != nil {
			bad("store_migrate", "%v", err)
		}
	}
	switch s := c.Sessions.Store; s {
	case "", "memory":
	case "redis":
		if !c.Redis.Configured() {
			bad("sessions.store", "redis needs redis.url, redis.sentinel or redis.cluster")
		}
	default:
		if err := checkLowerStoreURL(s, "redis", "rediss"); err != nil {
			bad("sessions.store", "%v (use \"\", memory, redis or redis://host:port/db)", err)
		} else if !c.Redis.Configured() {
			if err := redisstore.CheckURL(s); err != nil {
				bad("sessions.store", "%v", err)
			}
		} else if s != c.Redis.URL {
			// gatehouse talks to one Redis: the redis section's would win,
			// and this URL would never be used.
			bad("sessions.store", "names a Redis of its own, %q, while the redis section configures another; gatehouse uses one Redis: set sessions.store: redis", RedactURL(s))
		}
	}
	errs = append(errs, c.Redis.validate()...)
	if !slices.Contains([]string{"auto", "true", "false"}, c.Sessions.Cookie.Secure) {
		bad("sessions.cookie.secure", "must be auto, true or false, got %q", c.Sessions.Cookie.Secure)
	}
	if !slices.Contains([]string{"lax", "strict", "none"}, strings.ToLower(c.Sessions.Cookie.SameSite)) {
		bad("sessions.cookie.same_site", "must be lax, strict or none, got %q", c.Sessions.Cookie.SameSite)
	}
	if strings.ToLower(c.Sessions.Cookie.SameSite) == "none" && !c.SecureCookies() {
		bad("sessions.cookie.same_site", "none requires secure cookies")
	}
	// net/http refuses to send a cookie whose name is not an RFC 6265 token
	// (every login would answer without a session cookie) and drops an
	// invalid domain: Cookie.Valid is the rule it applies.
	if err := (&http.Cookie{Name: c.CookieName(), Value: "x"}).Valid(); err != nil {
		bad("sessions.cookie.name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", c.CookieName())
	}
	if d := c.Sessions.Cookie.Domain; d != "" {
		if err := (&http.Cookie{Name: "x", Value: "x", Domain: d}).Valid(); err != nil {
			bad("sessions.cookie.domain", "%q is not a valid cookie domain", d)
		} else if publicSuffix(d) && cookieDomain(d) != publicURLHost(c.EffectivePublicURL()) {
			// Browsers ignore a cookie whose domain is a public suffix
			// (RFC 6265 section 5.3 step 5), on every host.
			bad("sessions.cookie.domain", "%s is a public suffix (a top-level or shared domain such as com, co.uk or github.io): browsers drop a cookie set for it, so no login would get a session; set your own domain or leave it empty", d)
		}
	}
	// Browsers drop a cookie that breaks its name prefix's rules, and
	// compare the prefixes case-insensitively (RFC 6265bis section 4.1.3):
	// every login would answer without a session cookie.
	switch name := c.CookieName(); {
	case hasPrefixFold(name, "__Host-") && (c.Sessions.Cookie.Domain != "" || !c.SecureCookies()):
		bad("sessions.cookie.name", "a __Host- cookie must be secure and must not set a domain")
	case hasPrefixFold(name, "__Secure-") && !c.SecureCookies():
		bad("sessions.cookie.name", "a __Secure- cookie must be secure (sessions.cookie.secure, tls or an https public_url)")
	}
	positive := func(key string, d Duration) {
		if d <= 0 {
			bad(key, "must be greater than zero")
		}
	}
	positive("sessions.idle_timeout", c.Sessions.IdleTimeout)
	positive("sessions.absolute_timeout", c.Sessions.AbsoluteTimeout)
	if c.Sessions.CacheTTL < 0 {
		bad("sessions.cache_ttl", "must not be negative")
	}
	positive("tokens.access_ttl", c.Tokens.AccessTTL)
	positive("tokens.refresh_ttl", c.Tokens.RefreshTTL)
	positive("tokens.refresh_idle_ttl", c.Tokens.RefreshIdleTTL)
	if c.Tokens.Leeway < 0 {
		bad("tokens.leeway", "must not be negative")
	}
	// Token times (exp, iat, nbf) are whole seconds: a shorter access token
	// would expire as it is issued, and the grants refuse to issue one.
	if ttl := c.Tokens.AccessTTL.D(); ttl > 0 && ttl < time.Second {
		bad("tokens.access_ttl", "must be at least 1s (token times are whole seconds), got %s", ttl)
	}
	// An access token's exp + leeway may not pass its refresh family's end
	// (docs/tokens.md): a family that ends within the leeway can carry no
	// token of at least a second, and every token grant would be refused.
	if rt, lw := c.Tokens.RefreshTTL.D(), c.Tokens.Leeway.D(); rt > 0 && lw >= 0 && rt < lw+time.Second {
		bad("tokens.refresh_ttl", "must be at least tokens.leeway (%s) + 1s, or no access token fits in a refresh family and every token grant fails, got %s", lw, rt)
	}
	if c.Tokens.CacheSize < 0 {
		bad("tokens.cache_size", "must not be negative (0 = off)")
	}
	switch c.Tokens.Algorithm {
	case "HS256":
		// Blame a short secret on where it came from (the file, named in
		// the config or by the environment, or the key or variable), and
		// tell how to set one only when none is set.
		switch {
		case len(c.Tokens.HMACSecret) >= MinSecretLen:
		case c.Tokens.HMACSecretFile != "":
			bad("tokens.hmac_secret_file", "the secret in %s is shorter than the %d bytes HS256 needs", c.Tokens.HMACSecretFile, MinSecretLen)
		case c.Tokens.HMACSecret != "":
			bad("tokens.hmac_secret", "the secret is shorter than the %d bytes HS256 needs", MinSecretLen)
		default:
			bad("tokens.hmac_secret", "HS256 needs a secret of at least %d bytes (set GATEHOUSE_TOKENS_HMAC_SECRET or tokens.hmac_secret_file)", MinSecretLen)
		}
	case "RS256", "ES256", "EdDSA":
	default:
		bad("tokens.algorithm", "must be HS256, RS256, ES256 or EdDSA, got %q", c.Tokens.Algorithm)
	}
	if len(c.Tokens.Audience) == 0 {
		bad("tokens.audience", "must name at least one audience")
	}
	if c.Keys.EncryptionKey != "" && len(c.Keys.EncryptionKey) < MinSecretLen {
		bad("keys.encryption_key", "must be at least %d bytes", MinSecretLen)
	}
	if len(c.Login.RequireMFARoles) > 0 && c.Keys.EncryptionKey == "" {
		// Those users could never enrol (TOTP secrets are sealed with it),
		// so they could never sign in again.
		bad("login.require_mfa_roles", "needs keys.encryption_key (TOTP secrets are encrypted with it)")
	}
	if msg := checkTOTPIssuer(c.MFA.TOTPIssuer); msg != "" {
		bad("mfa.totp_issuer", "%s", msg)
	}
	if c.Keys.RotateEvery < 0 {
		bad("keys.rotate_every", "must not be negative")
	}
	if c.GCHeadroomMiB < 0 || c.GCHeadroomMiB > 1<<20 {
		bad("gc_headroom_mib", "must be between 0 (Go's default pacing) and 1048576")
	}
	if c.Passwords.MemoryKiB < 8*1024 {
		bad("passwords.memory_kib", "must be at least 8192")
	}
	if c.Passwords.Iterations < 1 {
		bad("passwords.iterations", "must be at least 1")
	}
	if c.Passwords.Parallelism < 1 {
		bad("passwords.parallelism", "must be at least 1")
	}
	// 0 would read as "do not wait", but the hasher takes it for its
	// default (2s): say so instead of silently waiting.
	positive("passwords.max_wait", c.Passwords.MaxWait)
	if c.Passwords.MaxConcurrent < 0 {
		bad("passwords.max_concurrent", "must not be negative (0 = half the CPUs)")
	}
	if c.Passwords.ShedDelay < 0 {
		bad("passwords.shed_delay", "must not be negative")
	}
	if c.Login.MaxFailures < 1 {
		bad("login.max_failures", "must be at least 1")
	}
	positive("login.window", c.Login.Window)
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err2 := netip.ParseAddr(p); err2 != nil {
				bad(fmt.Sprintf("trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8, got %q", p)
			}
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if r := c.Audit.Retention.D(); r < 0 || (r > 0 && r < MinAuditRetention) {
		bad("audit.retention", "must be 0 (keep every event) or at least %s, got %s", MinAuditRetention, r)
	}
	for i, r := range c.Admin.Roles {
		if r == "" || strings.ContainsAny(r, ", \t\r\n") {
			bad(fmt.Sprintf("admin.roles[%d]", i), "role %q must be non-empty UTF-8 without commas, spaces, control or invisible characters", r)
		}
	}
	errs = append(errs, c.validateRoutes()...)
	errs = append(errs, c.validateProviders()...)
	errs = append(errs, c.validateClients()...)
	return errs
}

// validate checks the redis section: exactly one deployment, each complete.
func (r Redis) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	sentinel := r.Sentinel.Master != "" || len(r.Sentinel.Addrs) > 0
	cluster := len(r.Cluster.Addrs) > 0
	n := 0
	for _, set := range []bool{r.URL != "", sentinel, cluster} {
		if set {
			n++
		}
	}
	if n > 1 {
		bad("redis", "set exactly one of redis.url, redis.sentinel and redis.cluster")
	}
	// The shape is the store's rule (redisstore.CheckURL), so that what
	// config check accepts, serve opens.
	switch {
	case strings.HasPrefix(r.URL, "redis-sentinel:"):
		if err := redisstore.CheckURL(r.URL); err != nil {
			bad("redis.url", "%v", err)
		}
	case r.URL != "":
		if err := checkStoreURL(r.URL, "redis", "rediss"); err != nil {
			bad("redis.url", "%v", err)
		} else if err := redisstore.CheckURL(r.URL); err != nil {
			bad("redis.url", "%v", err)
		}
	}
	if sentinel && r.Sentinel.Master == "" {
		bad("redis.sentinel.master", "must name the monitored primary")
	}
	if sentinel && len(r.Sentinel.Addrs) == 0 {
		bad("redis.sentinel.addrs", "must list at least one sentinel host:port")
	}
	checkAddrs := func(key string, addrs []string) {
		for i, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad(fmt.Sprintf("%s[%d]", key, i), "must be host:port, got %q", a)
			}
		}
	}
	checkAddrs("redis.sentinel.addrs", r.Sentinel.Addrs)
	checkAddrs("redis.cluster.addrs", r.Cluster.Addrs)
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		bad("redis.key_prefix", "must not contain { or } (a hash tag would change which keys share a Redis Cluster slot)")
	}
	if r.WaitReplicas < -1 {
		bad("redis.wait_replicas", "must be -1 (automatic) or a number of replicas, got %d", r.WaitReplicas)
	}
	if r.WaitTimeout < 0 {
		bad("redis.wait_timeout", "must not be negative")
	}
	return errs
}

// checkLowerStoreURL is checkStoreURL for the keys whose stores are chosen
// by their URL's literal prefix (store, store_migrate, sessions.store):
// url.Parse lowers the scheme, so SQLITE:// would pass here and then fail to
// open, and REDIS:// in sessions.store would leave sessions in the main
// store. The scheme must be written in lower case.
func checkLowerStoreURL(raw string, schemes ...string) error {
	if err := checkStoreURL(raw, schemes...); err != nil {
		return err
	}
	if scheme, _, _ := strings.Cut(raw, ":"); scheme != strings.ToLower(scheme) {
		return fmt.Errorf("the URL scheme must be in lower case (%s://…), got %q", strings.ToLower(scheme), RedactURL(raw))
	}
	return nil
}

func checkStoreURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("must be a URL with scheme %s, got %q", strings.Join(schemes, " or "), RedactURL(raw))
	}
	if u.Scheme != "sqlite" && misparsedUserinfo(u) {
		// postgres://gh:1234/x@db/gatehouse parses as host "gh:1234": the
		// driver would dial the wrong host with no password.
		return fmt.Errorf("%q has an '@' after the host: percent-encode '/', '?' and '#' in the password (%%2F, %%3F, %%23)", RedactURL(raw))
	}
	return nil
}

// misparsedUserinfo reports whether u has no userinfo but an '@' later on:
// a password holding an unescaped '/', '?' or '#' ended the authority early,
// and what was meant as user:password became the host.
// A query parameter's value may hold an '@' (application_name=svc@eu); a
// parameter's name never does.
func misparsedUserinfo(u *url.URL) bool {
	if u.User != nil {
		return false
	}
	if strings.Contains(u.Path+u.Fragment+u.Opaque, "@") {
		return true
	}
	for _, p := range strings.Split(u.RawQuery, "&") {
		if name, _, _ := strings.Cut(p, "="); strings.Contains(name, "@") {
			return true
		}
	}
	return false
}

// errNotSQLite is sqlitePath's answer for a store URL of another scheme.
var errNotSQLite = errors.New("not a sqlite:// store")

// sqlitePath returns the file path of a sqlite:// store URL, with the
// rules the SQLite store applies when it opens it (store/sqlite filePath):
// a path is required, and may not hold '?' or '#' or start with file:.
func sqlitePath(store string) (string, error) {
	path, ok := strings.CutPrefix(store, "sqlite://")
	switch {
	case !ok:
		return "", errNotSQLite
	case path == "":
		return "", fmt.Errorf("%q names no database file (sqlite://path/to/gatehouse.db)", store)
	case strings.ContainsAny(path, "?#"), strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("%q: the path may not contain '?' or '#' or start with file:", store)
	}
	return path, nil
}

// validateRoutes asks the gateway, which owns the route rules, and adds the
// one rule that spans keys: a route name must not be an access-token
// audience.
func (c Config) validateRoutes() []error {
	var errs []error
	if _, err := gateway.Compile(c.Routes); err != nil {
		for _, e := range unjoin(err) {
			if re, ok := errors.AsType[*gateway.RouteError](e); ok {
				e = &Error{Key: re.Key(), Msg: re.Msg}
			}
			errs = append(errs, e)
		}
	}
	for i, r := range c.Routes {
		if slices.Contains(c.Tokens.Audience, r.Name) {
			// forward: jwt tokens carry aud = route name; if that were also an
			// access-token audience an upstream could replay them to gatehouse.
			errs = append(errs, &Error{Key: fmt.Sprintf("routes[%d].name", i),
				Msg: fmt.Sprintf("%q is also in tokens.audience; internal tokens for this route could be replayed as access tokens", r.Name)})
		}
	}
	return errs
}

// unjoin returns the errors inside an errors.Join, or err itself.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// validateClients asks the client package, which owns the rules, about
// each declared client (also about its audience against the names of the
// forward: jwt routes) and checks that IDs are unique.
func (c Config) validateClients() []error {
	var errs []error
	var internal []string
	for _, r := range c.Routes {
		if r.Forward == string(gateway.ForwardJWT) {
			internal = append(internal, r.Name)
		}
	}
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		cl.FromConfig = true
		for _, e := range append(client.Validate(cl), client.CheckAudience(cl, internal)...) {
			if fe, ok := errors.AsType[*client.FieldError](e); ok {
				msg := fe.Msg
				if errors.Is(fe, client.ErrPasswordGrantNotFirstParty) {
					msg += fmt.Sprintf(" (set clients[%d].first_party: true or drop password)", i)
				}
				e = &Error{Key: fmt.Sprintf("clients[%d].%s", i, fe.Field), Msg: msg}
			}
			errs = append(errs, e)
		}
		if seen[cl.ID] {
			errs = append(errs, &Error{Key: fmt.Sprintf("clients[%d].client_id", i), Msg: fmt.Sprintf("%q is used twice", cl.ID)})
		}
		seen[cl.ID] = true
	}
	return errs
}

func (c Config) validateProviders() []error {
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, &Error{Key: fmt.Sprintf("oidc.providers[%d].%s", i, key), Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, p := range c.OIDC.Providers {
		if !providerName.MatchString(p.Name) {
			bad(i, "name", "must be a URL-safe name of at most 64 characters such as corp, got %q", p.Name)
		} else if seen[p.Name] {
			bad(i, "name", "%q is used twice", p.Name)
		}
		seen[p.Name] = true
		if p.ClientID == "" {
			bad(i, "client_id", "is required")
		}
		if auth.CheckRoles(p.DefaultRoles) != nil {
			bad(i, "default_roles", "role names must be non-empty UTF-8 without commas, spaces, control or invisible characters (X-Auth-Roles is comma-separated), got %q", p.DefaultRoles)
		}
		for _, d := range p.AllowedEmailDomains {
			if !isMailDomain(d) {
				bad(i, "allowed_email_domains", "must list mail domains exactly, such as example.com (subdomains are not included: list each one), got %q", d)
				break
			}
		}
		switch p.Type {
		case "", "oidc":
			if u, err := url.Parse(p.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
				bad(i, "issuer", "must be the provider's issuer URL, got %q", p.Issuer)
			}
		case "oauth2":
			if p.BackchannelLogout {
				bad(i, "backchannel_logout", "needs an OpenID provider (type oidc): plain OAuth 2.0 has no logout tokens")
			}
			for key, v := range map[string]string{"auth_url": p.AuthURL, "token_url": p.TokenURL, "userinfo_url": p.UserinfoURL} {
				if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
					bad(i, key, "is required for type oauth2 and must be a URL, got %q", v)
				}
			}
		default:
			bad(i, "type", "must be oidc or oauth2, got %q", p.Type)
		}
	}
	return errs
}

// isMailDomain reports whether an allowed_email_domains entry can equal an
// email's domain: the login compares them exactly (an "@" in front aside),
// so a wildcard, a leading dot, an address or a URL would match no login
// and refuse every one through the provider although the config loaded.
func isMailDomain(d string) bool {
	d = strings.TrimPrefix(strings.TrimSpace(d), "@")
	return d != "" && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".") &&
		!strings.ContainsFunc(d, func(r rune) bool {
			return r <= ' ' || r == 0x7f || strings.ContainsRune("*@/:\\?#[]", r) || unicode.IsSpace(r)
		})
}

// ChangedKeys names the top-level keys other than routes whose values
// differ between c and o, in file order: what a SIGHUP reload (which
// applies routes only) leaves for a restart. Load's findings about the file
// (Warnings) are not values and never count.
func (c Config) ChangedKeys(o Config) []string {
	var keys []string
	cv, ov := reflect.ValueOf(c), reflect.ValueOf(o)
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "routes" {
			continue
		}
		if !reflect.DeepEqual(cv.Field(i).Interface(), ov.Field(i).Interface()) {
			keys = append(keys, name)
		}
	}
	return keys
}

// Warnings are problems that do not stop gatehouse but that an operator
// should know about.
func (c Config) Warnings() []string {
	w := slices.Clone(c.fileWarnings)
	if c.Tokens.Algorithm != "HS256" && c.Keys.EncryptionKey == "" {
		w = append(w, "keys.encryption_key is not set: private signing keys are stored unencrypted in the store")
	}
	if c.Tokens.Algorithm == "HS256" && c.Keys.RotateEvery > 0 {
		w = append(w, "keys.rotate_every does nothing with tokens.algorithm HS256: its only key is tokens.hmac_secret, rotated by changing it")
	}
	if c.StoreMigrate != "" && !strings.HasPrefix(c.Store, "postgres") {
		// A key another key's value makes do nothing is a warning, as
		// keys.rotate_every under HS256 (the URL itself is still checked).
		w = append(w, "store_migrate does nothing while store is SQLite: only the migrations of a postgres:// store read it (a store behind PgBouncer); remove it, or set store to the PostgreSQL URL")
	}
	if every := c.Keys.RotateEvery.D(); c.Tokens.Algorithm != "HS256" && every > 0 && every < keys.MinSafeRotateEvery {
		w = append(w, fmt.Sprintf("keys.rotate_every %s publishes each next key only %s before it signs, less than a verifier's JWKS cache (%s) plus the instances' key reload (%s): some verifiers may refuse the first tokens of each new key; use %s or more",
			every, keys.PublishLead(every), keys.JWKSMaxAge, keys.ReloadEvery, keys.MinSafeRotateEvery))
	}
	if ids := c.idTokenClients(); c.Tokens.Algorithm == "HS256" && len(ids) > 0 {
		w = append(w, fmt.Sprintf("clients %s can get OpenID Connect ID tokens, which tokens.algorithm HS256 signs with tokens.hmac_secret: no relying party has that secret, so none can verify them (go-oidc refuses HS256); use RS256, ES256 or EdDSA",
			strings.Join(ids, ", ")))
	}
	if noSealSecret := c.Keys.EncryptionKey == "" && c.Tokens.HMACSecret == ""; noSealSecret && c.shared() {
		w = append(w, "keys.encryption_key is not set: each instance seals second-factor logins in progress, passkey (WebAuthn) ceremonies and OIDC state with its own random key, so one begun on an instance fails on another; set the same value on every instance")
	} else if noSealSecret && len(c.OIDC.Providers) > 0 {
		w = append(w, "oidc: without keys.encryption_key each instance seals OIDC state with its own random key; set it when running several instances")
	}
	if c.Admin.RequireMFA && len(c.Admin.Roles) > 0 && c.Keys.EncryptionKey == "" {
		w = append(w, "admin.require_mfa: without keys.encryption_key nobody can enrol TOTP, so administrators without another second factor cannot use the admin API and console")
	}
	if c.PublicURL == "" && OnAllInterfaces(c.Listen) {
		_, port, _ := net.SplitHostPort(listenNumeric(c.Listen))
		scheme, _, _ := strings.Cut(c.EffectivePublicURL(), "://")
		w = append(w, fmt.Sprintf("listen %s is on all interfaces and public_url is not set: the issuer and redirect base is %s, which browsers and clients cannot use; set public_url to the URL clients use, e.g. %s://%s",
			c.Listen, c.EffectivePublicURL(), scheme, net.JoinHostPort("localhost", port)))
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Host != strings.ToLower(u.Host) {
		w = append(w, fmt.Sprintf("public_url %s has upper-case letters in its host: browsers send host names in lower case, while gatehouse uses public_url as written (the issuer, OIDC callback URLs, the passkey relying party ID, which browsers may refuse); write it as %s",
			c.PublicURL, strings.Replace(c.PublicURL, u.Host, strings.ToLower(u.Host), 1)))
	}
	if idle, abs := c.Sessions.IdleTimeout.D(), c.Sessions.AbsoluteTimeout.D(); idle > 0 && abs > 0 && idle >= abs {
		// Valid (the earlier limit ends a session), but the idle one then
		// never ends anything: likely the two values swapped.
		w = append(w, fmt.Sprintf("sessions.idle_timeout %s is not shorter than sessions.absolute_timeout %s: every session ends at the absolute limit and the idle one never applies; were the two swapped?", idle, abs))
	}
	if at, lw, rt := c.Tokens.AccessTTL.D(), c.Tokens.Leeway.D(), c.Tokens.RefreshTTL.D(); at > 0 && rt > lw && at+lw > rt {
		// Valid, but no access token of a refresh family lives access_ttl:
		// each ends with its family (exp + leeway at the family's end).
		w = append(w, fmt.Sprintf("tokens.access_ttl %s + tokens.leeway %s is longer than tokens.refresh_ttl %s: every access token of a login or refresh is cut to at most %s so that it ends with its refresh family; were access_ttl and refresh_ttl swapped?", at, lw, rt, rt-lw))
	}
	if idle, abs := c.Tokens.RefreshIdleTTL.D(), c.Tokens.RefreshTTL.D(); idle > 0 && abs > 0 && idle >= abs {
		w = append(w, fmt.Sprintf("tokens.refresh_idle_ttl %s is not shorter than tokens.refresh_ttl %s: every refresh family ends at the absolute limit and the idle one never applies; were the two swapped?", idle, abs))
	}
	if !c.SecureCookies() && !isLoopback(c.EffectivePublicURL()) {
		w = append(w, "session cookies are not Secure: set tls or an https public_url in production")
	}
	w = append(w, c.cookieWarnings()...)
	w = append(w, gateway.Warnings(c.Routes)...) // the gateway owns the route rules
	return w
}

// idTokenClients are the IDs of the configured clients that can get an ID
// token: those with the openid scope and the authorization_code grant (the
// only grant that issues one).
func (c Config) idTokenClients() []string {
	var ids []string
	for _, cl := range c.Clients {
		if cl.AllowsScope(client.ScopeOpenID) && cl.AllowsGrant(client.GrantAuthorizationCode) {
			ids = append(ids, cl.ID)
		}
	}
	return ids
}

// shared reports whether several instances can share this deployment's
// state: a PostgreSQL store or Redis.
func (c Config) shared() bool {
	r := c.Redis
	return strings.HasPrefix(c.Store, "postgres") || r.URL != "" || r.Sentinel.Master != "" || len(r.Cluster.Addrs) > 0 ||
		strings.HasPrefix(c.Sessions.Store, "redis")
}

// cookieWarnings are the session cookie settings that make browsers at
// public_url's host drop the cookie, so that a login there gets no session.
// They are warnings, not errors: gatehouse may also be reached under other
// host names (routes matching on host) or over a TLS proxy that public_url
// does not name, where the same cookie works. Without public_url there is
// no host to judge.
func (c Config) cookieWarnings() []string {
	if c.PublicURL == "" {
		return nil
	}
	var w []string
	host := publicURLHost(c.PublicURL)
	if d := c.Sessions.Cookie.Domain; d != "" && host != "" && !domainMatch(host, cookieDomain(d)) {
		w = append(w, fmt.Sprintf("sessions.cookie.domain %s does not match public_url's host %s: browsers drop a cookie whose domain is neither the host that sets it nor a parent domain of it, so logins at public_url get no session; set it to %s or a parent domain of it, or leave it empty",
			d, host, host))
	}
	if c.Sessions.Cookie.Secure == "true" && !c.TLS.Enabled() && !hasPrefixFold(c.PublicURL, "https://") && !isLoopback(c.PublicURL) {
		w = append(w, fmt.Sprintf("sessions.cookie.secure is true but public_url %s is plain http and tls is not set: browsers drop a Secure cookie set over http, so logins at public_url get no session; set tls or an https public_url (the URL browsers use), or secure: auto",
			c.PublicURL))
	}
	return w
}

// publicURLHost is raw's host in lower case, without port or brackets; ""
// when raw does not parse.
func publicURLHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// cookieDomain is a Domain attribute as browsers compare it: without a
// leading dot, in lower case (RFC 6265 section 5.2.3).
func cookieDomain(d string) string {
	return strings.ToLower(strings.TrimPrefix(d, "."))
}

// domainMatch is RFC 6265 section 5.1.3's domain-match of host by domain:
// the same name, or a parent domain of a host that is not an IP address.
func domainMatch(host, domain string) bool {
	if host == domain {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err != nil && strings.HasSuffix(host, "."+domain)
}

// publicSuffix reports whether the cookie domain d is on the Public Suffix
// List (ICANN or private section), as browsers check it. A single label
// the list does not name ("localhost", an intranet name) is not one: the
// list's default rule would call every such label a suffix.
func publicSuffix(d string) bool {
	d = cookieDomain(d)
	suffix, icann := publicsuffix.PublicSuffix(d)
	return suffix == d && (icann || strings.Contains(suffix, "."))
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// Masked returns c as YAML with every secret replaced by "********" and
// passwords removed from URLs, for `config check` and logs. Where a key's
// empty or zero value stands for another (public_url, a route's forward
// and timeout, redis.wait_replicas and wait_timeout, passwords.max_concurrent and
// max_per_client), it prints the value gatehouse uses.
func (c Config) Masked() string {
	masked := c
	masked.PublicURL = c.EffectivePublicURL()
	masked.Redis.WaitTimeout = Duration(c.Redis.EffectiveWaitTimeout())
	masked.Redis.WaitReplicas = c.Redis.EffectiveWaitReplicas()
	masked.Passwords.MaxConcurrent = c.Passwords.EffectiveMaxConcurrent()
	masked.Passwords.MaxPerClient = c.Passwords.EffectiveMaxPerClient()
	masked.Routes = make([]gateway.RouteConfig, len(c.Routes))
	for i, r := range c.Routes {
		masked.Routes[i] = r.WithDefaults()
	}
	masked.OIDC.Providers = slices.Clone(c.OIDC.Providers)
	masked.Clients = slices.Clone(c.Clients)
	maskSecrets(reflect.ValueOf(&masked).Elem())
	out, err := yaml.Marshal(masked)
	if err != nil {
		return "# cannot print config: " + err.Error() + "\n"
	}
	return string(out)
}

// secretKeys appends to keys the dotted key of every secret set in v: a
// secret:"true" field that is not empty, a secret:"url" field whose URL
// RedactURL changes.
func secretKeys(v reflect.Value, keys *[]string) {
	eachSecret(v, "", func(key, kind string, fv reflect.Value) {
		if kind == "true" && fv.String() != "" || kind == "url" && RedactURL(fv.String()) != fv.String() {
			*keys = append(*keys, key)
		}
	})
}

// maskSecrets replaces every secret in v (settable) with asterisks and
// every secret URL with RedactURL's.
func maskSecrets(v reflect.Value) {
	eachSecret(v, "", func(_, kind string, fv reflect.Value) {
		switch {
		case kind == "true" && fv.String() != "":
			fv.SetString("********")
		case kind == "url":
			fv.SetString(RedactURL(fv.String()))
		}
	})
}

// eachSecret calls fn with the dotted key, the tag ("true": a secret;
// "url": a URL that may hold one) and the value of every string field
// tagged secret in v, its structs and its slices of structs: the one walk
// that masking and the world-readable-file warning share.
func eachSecret(v reflect.Value, path string, fn func(key, kind string, fv reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		key := join(path, tagName(f))
		switch kind := f.Tag.Get("secret"); {
		case kind != "" && fv.Kind() == reflect.String:
			fn(key, kind, fv)
		case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Duration(0)):
			eachSecret(fv, key, fn)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				eachSecret(fv.Index(j), fmt.Sprintf("%s[%d]", key, j), fn)
			}
		}
	}
}

// RedactURL hides the secrets of a store or Redis URL: the password of its
// userinfo and the value of every query parameter that names a password,
// secret or token (pgx reads ?password= and ?sslpassword=). A URL that
// does not parse (a Sentinel URL's several hosts, a password with an
// unescaped '/') is redacted by hand, so that an error about it never
// prints the secret either. It is the one rule for printing a store URL:
// config check, errors and log lines.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "sqlite" && misparsedUserinfo(u) {
		return redactUnparsed(raw)
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			changed = true
		}
	}
	if q := redactQuery(u.RawQuery); q != u.RawQuery {
		u.RawQuery, changed = q, true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// redactUnparsed is RedactURL for a URL that url.Parse refuses: everything
// between "scheme://" and the last '@' (a password may hold '/', '?' or
// '@') is userinfo, and the query is redacted as redactQuery does.
func redactUnparsed(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	} else {
		scheme += "://"
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = "xxxxx@" + rest[i+1:]
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		rest = base + "?" + redactQuery(query)
	}
	return scheme + rest
}

// secretParams are the parts of a query parameter's name that mark its
// value as a secret: a password, secret or token (pgx's ?password=), and
// the API keys and signatures of webhook-style upstream URLs (?api_key=,
// ?key=, ?sig=, ?auth=, ?credential=).
var secretParams = []string{"pass", "secret", "token", "key", "sig", "auth", "credential"}

// redactQuery replaces the value of every parameter of a raw query whose
// name (in any case) contains one of secretParams.
func redactQuery(query string) string {
	if query == "" {
		return query
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		raw, _, _ := strings.Cut(p, "=")
		name := raw
		if n, err := url.QueryUnescape(raw); err == nil {
			name = n
		}
		name = strings.ToLower(name)
		if slices.ContainsFunc(secretParams, func(s string) bool { return strings.Contains(name, s) }) {
			params[i] = raw + "=xxxxx"
		}
	}
	return strings.Join(params, "&")
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// checkTOTPIssuer says what is wrong with an mfa.totp_issuer, "" if
// nothing. The issuer is the otpauth label's prefix up to its first ':'
// (Google's Key URI Format), so a ':' in it would move the account name;
// apps show it on one line, so no control characters, no white space
// around it, at most MaxTOTPIssuerLen characters.
func checkTOTPIssuer(s string) string {
	switch {
	case s == "":
		return "must name this deployment in authenticator apps (default gatehouse)"
	case !utf8.ValidString(s):
		return "must be UTF-8"
	case strings.Contains(s, ":"):
		return "must not contain ':', which ends the issuer in the otpauth label (issuer:account)"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not contain control characters"
	case strings.TrimSpace(s) != s:
		return "must not start or end with white space"
	case utf8.RuneCountInString(s) > MaxTOTPIssuerLen:
		return fmt.Sprintf("must be at most %d characters, got %d", MaxTOTPIssuerLen, utf8.RuneCountInString(s))
	}
	return ""
}
