package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// MinSecretLen is the shortest accepted HMAC secret or encryption key (bytes).
const MinSecretLen = 32

// ReservedPaths are gatehouse's own endpoints; gateway routes may not live
// under them (the endpoints would silently win).
var ReservedPaths = []string{"/auth/", "/login", "/account", "/.well-known/", "/healthz", "/readyz"}

var routeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

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
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad(key, "must be host:port, got %q", v)
		}
	}
	checkHostPort("listen", c.Listen, false)
	checkHostPort("admin_listen", c.AdminListen, true)
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", "must be an absolute http(s) URL, got %q", c.PublicURL)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key must be set together")
	}
	if err := checkStoreURL(c.Store, "sqlite", "postgres", "postgresql"); err != nil {
		bad("store", "%v", err)
	}
	if s := c.Sessions.Store; s != "" && s != "memory" {
		if err := checkStoreURL(s, "redis", "rediss"); err != nil {
			bad("sessions.store", "%v (use \"\", memory or redis://host:port/db)", err)
		}
	}
	if c.Redis.URL != "" {
		if err := checkStoreURL(c.Redis.URL, "redis", "rediss"); err != nil {
			bad("redis.url", "%v", err)
		}
	}
	if !slices.Contains([]string{"auto", "true", "false"}, c.Sessions.Cookie.Secure) {
		bad("sessions.cookie.secure", "must be auto, true or false, got %q", c.Sessions.Cookie.Secure)
	}
	if !slices.Contains([]string{"lax", "strict", "none"}, strings.ToLower(c.Sessions.Cookie.SameSite)) {
		bad("sessions.cookie.same_site", "must be lax, strict or none, got %q", c.Sessions.Cookie.SameSite)
	}
	if strings.ToLower(c.Sessions.Cookie.SameSite) == "none" && !c.SecureCookies() {
		bad("sessions.cookie.same_site", "none requires secure cookies")
	}
	if strings.HasPrefix(c.CookieName(), "__Host-") && (c.Sessions.Cookie.Domain != "" || !c.SecureCookies()) {
		bad("sessions.cookie.name", "a __Host- cookie must be secure and must not set a domain")
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
	switch c.Tokens.Algorithm {
	case "HS256":
		if len(c.Tokens.HMACSecret) < MinSecretLen {
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
	if c.Keys.RotateEvery < 0 {
		bad("keys.rotate_every", "must not be negative")
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
	errs = append(errs, c.validateRoutes()...)
	errs = append(errs, c.validateProviders()...)
	return errs
}

func checkStoreURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("must be a URL with scheme %s, got %q", strings.Join(schemes, " or "), redactURL(raw))
	}
	return nil
}

func (c Config) validateRoutes() []error {
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, &Error{Key: fmt.Sprintf("routes[%d].%s", i, key), Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]int{}
	type claim struct {
		route  int
		method string
	}
	// "/app" and "/app/" are one prefix to the gateway (a segment boundary).
	prefixes := map[string][]claim{}
	for i, r := range c.Routes {
		if !routeName.MatchString(r.Name) {
			bad(i, "name", "must be a non-empty name of letters, digits, '-', '_' or '.', got %q", r.Name)
		} else if j, dup := names[r.Name]; dup {
			bad(i, "name", "%q is already used by routes[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if slices.Contains(c.Tokens.Audience, r.Name) {
			// forward: jwt tokens carry aud = route name; if that were also an
			// access-token audience an upstream could replay them to gatehouse.
			bad(i, "name", "%q is also in tokens.audience; internal tokens for this route could be replayed as access tokens", r.Name)
		}
		p := r.Match.PathPrefix
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/../") || strings.Contains(p, "/./") || strings.ContainsAny(p, "\\%;\x00") {
			bad(i, "match.path_prefix", "must be a normalised absolute path such as /api/, got %q", p)
		}
		for _, reserved := range ReservedPaths {
			if r := strings.TrimSuffix(reserved, "/"); p == r || strings.HasPrefix(p, r+"/") {
				bad(i, "match.path_prefix", "%q is under gatehouse's own endpoint %s, which would shadow the route", p, reserved)
				break
			}
		}
		methods := r.Match.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		for _, m := range methods {
			if m != strings.ToUpper(m) || m == "" {
				bad(i, "match.methods", "methods must be upper-case, got %q", m)
			}
			for _, other := range prefixes[strings.TrimSuffix(p, "/")] {
				if other.method == m || other.method == "*" || m == "*" {
					bad(i, "match", "path_prefix %q with method %s is already matched by routes[%d]; one would silently shadow the other", p, m, other.route)
				}
			}
		}
		for _, m := range methods {
			key := strings.TrimSuffix(p, "/")
			prefixes[key] = append(prefixes[key], claim{i, m})
		}
		if u, err := url.Parse(r.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(i, "upstream", "must be an absolute http(s) URL, got %q", r.Upstream)
		}
		if !slices.Contains([]string{"none", "session", "token", "any"}, r.Auth) {
			bad(i, "auth", "must be none, session, token or any, got %q", r.Auth)
		}
		if r.Auth == "none" && len(r.Roles) > 0 {
			bad(i, "roles", "roles need auth other than none")
		}
		if r.Forward != "" && r.Forward != "headers" && r.Forward != "jwt" {
			bad(i, "forward", "must be headers or jwt, got %q", r.Forward)
		}
		if r.Timeout < 0 {
			bad(i, "timeout", "must not be negative")
		}
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
		if !routeName.MatchString(p.Name) || strings.Contains(p.Name, ".") {
			bad(i, "name", "must be a URL-safe name such as corp, got %q", p.Name)
		} else if seen[p.Name] {
			bad(i, "name", "%q is used twice", p.Name)
		}
		seen[p.Name] = true
		if p.ClientID == "" {
			bad(i, "client_id", "is required")
		}
		switch p.Type {
		case "", "oidc":
			if u, err := url.Parse(p.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
				bad(i, "issuer", "must be the provider's issuer URL, got %q", p.Issuer)
			}
		case "oauth2":
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

// Warnings are problems that do not stop gatehouse but that an operator
// should know about.
func (c Config) Warnings() []string {
	var w []string
	if c.Tokens.Algorithm != "HS256" && c.Keys.EncryptionKey == "" {
		w = append(w, "keys.encryption_key is not set: private signing keys are stored unencrypted in the store")
	}
	if len(c.OIDC.Providers) > 0 && c.Keys.EncryptionKey == "" && c.Tokens.HMACSecret == "" {
		w = append(w, "oidc: without keys.encryption_key each instance seals OIDC state with its own random key; set it when running several instances")
	}
	if !c.SecureCookies() && !isLoopback(c.EffectivePublicURL()) {
		w = append(w, "session cookies are not Secure: set tls or an https public_url in production")
	}
	return w
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
// passwords removed from URLs, for `config check` and logs.
func (c Config) Masked() string {
	masked := c
	masked.Store = redactURL(c.Store)
	masked.Sessions.Store = redactURL(c.Sessions.Store)
	masked.PublicURL = c.EffectivePublicURL()
	masked.OIDC.Providers = slices.Clone(c.OIDC.Providers)
	maskSecrets(reflect.ValueOf(&masked).Elem())
	out, err := yaml.Marshal(masked)
	if err != nil {
		return "# cannot print config: " + err.Error() + "\n"
	}
	return string(out)
}

func maskSecrets(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		switch {
		case f.Tag.Get("secret") == "true" && fv.Kind() == reflect.String && fv.String() != "":
			fv.SetString("********")
		case f.Tag.Get("secret") == "url" && fv.Kind() == reflect.String:
			fv.SetString(redactURL(fv.String()))
		case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Duration(0)):
			maskSecrets(fv)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				maskSecrets(fv.Index(j))
			}
		}
	}
}

// redactURL hides a password in a URL's userinfo.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
