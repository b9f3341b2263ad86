package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := config.Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.EffectivePublicURL(), "http://127.0.0.1:8080"; got != want {
		t.Errorf("public url = %q, want %q", got, want)
	}
	if got, want := cfg.CookieName(), "gatehouse"; got != want {
		t.Errorf("cookie = %q, want %q", got, want)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{"unknown top-level key", "lissen: x\n", "lissen"},
		{"unknown nested key", "tokens: {algoritm: ES256}\n", "tokens.algoritm"},
		{"unknown route key", "routes: [{name: a, mtch: {}}]\n", "routes[0].mtch"},
		{"duration", "tokens: {access_ttl: ten}\n", "tokens.access_ttl"},
		{"algorithm", "tokens: {algorithm: none}\n", "tokens.algorithm"},
		{"store scheme", "store: mysql://x\n", "store"},
		{"require_mfa_roles without encryption key", "login: {require_mfa_roles: [admin]}\n", "login.require_mfa_roles"},
		{"mfa route without auth", "routes: [{name: a, match: {path_prefix: /a/}, upstream: 'http://x', auth: none, mfa: true}]\n", "routes[0].mfa"},
		{"upstream", "routes: [{name: a, match: {path_prefix: /a/}, upstream: 'ftp://x', auth: none}]\n", "routes[0].upstream"},
		{"upstream credentials", "routes: [{name: a, match: {path_prefix: /a/}, upstream: 'http://u:pw@x', auth: none}]\n", "routes[0].upstream"},
		{"auth", "routes: [{name: a, match: {path_prefix: /a/}, upstream: 'http://x', auth: maybe}]\n", "routes[0].auth"},
		{"non-normalised prefix", "routes: [{name: a, match: {path_prefix: /a/../b/}, upstream: 'http://x', auth: none}]\n", "routes[0].match.path_prefix"},
		{"reserved prefix", "routes: [{name: a, match: {path_prefix: /auth/x/}, upstream: 'http://x', auth: none}]\n", "routes[0].match.path_prefix"},
		{"route named like an audience", "routes: [{name: gatehouse, match: {path_prefix: /a/}, upstream: 'http://x', auth: none}]\n", "routes[0].name"},
		{"trusted proxy", "trusted_proxies: [nonsense]\n", "trusted_proxies[0]"},
		{"wildcard host over a top-level domain", "routes: [{name: a, match: {host: '*.com', path_prefix: /a/}, upstream: 'http://x', auth: none}]\n", "routes[0].match.host"},
		{"__Host- with domain", "sessions: {cookie: {secure: 'true', domain: example.com}}\n", "sessions.cookie.name"},
		// Browsers drop a prefixed cookie that breaks its prefix's rules,
		// and compare the prefixes case-insensitively (RFC 6265bis 4.1.3):
		// every login would answer without a session cookie.
		{"__Secure- without secure", "sessions: {cookie: {name: __Secure-gh, secure: 'false'}}\n", "sessions.cookie.name"},
		{"__Secure- over plain http", "sessions: {cookie: {name: __Secure-gh}}\n", "sessions.cookie.name"},
		{"__secure- without secure", "sessions: {cookie: {name: __secure-gh, secure: 'false'}}\n", "sessions.cookie.name"},
		{"__host- with domain", "sessions: {cookie: {name: __host-gh, secure: 'true', domain: example.com}}\n", "sessions.cookie.name"},
		{"__HOST- without secure", "sessions: {cookie: {name: __HOST-gh, secure: 'false'}}\n", "sessions.cookie.name"},
		// Go's http.SetCookie drops a cookie with an invalid name (every login
		// would answer 200 without a session cookie) and an invalid domain.
		{"cookie name not a token", "sessions: {cookie: {name: 'my session'}}\n", "sessions.cookie.name"},
		{"cookie name with a separator", "sessions: {cookie: {name: 'gh;x'}}\n", "sessions.cookie.name"},
		{"cookie domain", "sessions: {cookie: {domain: 'bad domain'}}\n", "sessions.cookie.domain"},
		{"hashing wait zero", "passwords: {max_wait: 0s}\n", "passwords.max_wait"},
		{"audit retention negative", "audit: {retention: -24h}\n", "audit.retention"},
		{"audit retention below a day", "audit: {retention: 90s}\n", "audit.retention"},
		{"hashing slots negative", "passwords: {max_concurrent: -1}\n", "passwords.max_concurrent"},
		// A negative cache size silently meant "off"; 0 is the documented off.
		{"token cache size negative", "tokens: {cache_size: -1}\n", "tokens.cache_size"},
		{"url and cluster", "redis: {url: 'redis://127.0.0.1:6379/0', cluster: {addrs: ['127.0.0.1:7000']}}\n", "redis"},
		{"sentinel and cluster", "redis: {sentinel: {master: m, addrs: ['h:26379']}, cluster: {addrs: ['h:7000']}}\n", "redis"},
		{"sentinel without master", "redis: {sentinel: {addrs: ['127.0.0.1:26379']}}\n", "redis.sentinel.master"},
		{"sentinel without addrs", "redis: {sentinel: {master: mymaster}}\n", "redis.sentinel.addrs"},
		{"sentinel addr", "redis: {sentinel: {master: m, addrs: ['nonsense']}}\n", "redis.sentinel.addrs[0]"},
		{"cluster addr", "redis: {cluster: {addrs: ['127.0.0.1:7000', 'x']}}\n", "redis.cluster.addrs[1]"},
		{"url scheme", "redis: {url: 'http://127.0.0.1:6379'}\n", "redis.url"},
		{"sentinel url without master", "redis: {url: 'redis-sentinel://127.0.0.1:26379'}\n", "redis.url"},
		{"sentinel url with a bad escape in its password", "redis: {url: 'redis-sentinel://:p%zzw@127.0.0.1:26379/mymaster'}\n", "redis.url"},
		{"sessions in redis without redis", "sessions: {store: redis}\n", "sessions.store"},
		{"key prefix with a hash tag", "redis: {url: 'redis://127.0.0.1:6379/0', key_prefix: '{gh}:'}\n", "redis.key_prefix"},
		{"wait_replicas", "redis: {wait_replicas: -2}\n", "redis.wait_replicas"},
		{"store_migrate scheme", "store_migrate: 'sqlite://x.db'\n", "store_migrate"},
		// url.Parse lowers the scheme, but the stores are opened by their
		// literal prefix: SQLITE:// passed config check and then failed
		// serve with exit 1, and REDIS:// in sessions.store kept sessions in
		// the main store without a word.
		{"store scheme in upper case", "store: 'SQLITE://x.db'\n", "store"},
		{"store_migrate scheme in upper case", "store_migrate: 'Postgres://127.0.0.1/x'\n", "store_migrate"},
		{"sessions.store scheme in upper case", "sessions: {store: 'REDIS://127.0.0.1:6379/0'}\n", "sessions.store"},
		{"sessions.store names a second Redis", "sessions: {store: 'redis://10.0.0.2:6379/0'}\nredis: {url: 'redis://10.0.0.1:6379/0'}\n", "sessions.store"},
		{"sessions.store URL beside a Redis cluster", "sessions: {store: 'redis://10.0.0.2:6379/0'}\nredis: {cluster: {addrs: ['10.0.0.1:7000']}}\n", "sessions.store"},
		// An app token with aud = a forward: jwt route's name would pass, at
		// that route's upstream, for the internal JWT gatehouse sends it.
		{"client audience named like a jwt route", "routes: [{name: orders, match: {path_prefix: /o/}, upstream: 'http://x', auth: token, forward: jwt}]\n" +
			"clients: [{client_id: svc, type: confidential, secret: 0123456789abcdef0123456789abcdef, grant_types: [client_credentials], audience: [api, orders]}]\n", "clients[0].audience[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, tt.yaml), noEnv)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if !strings.Contains(err.Error(), tt.key+":") {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

// audit.retention: 0 (the default) keeps every event; a day or more is a
// retention.
func TestAuditRetentionAccepted(t *testing.T) {
	for yaml, want := range map[string]time.Duration{"": 0, "audit: {retention: 0s}\n": 0, "audit: {retention: 2160h}\n": 2160 * time.Hour} {
		cfg, err := config.Load(write(t, yaml), noEnv)
		if err != nil {
			t.Fatalf("%q: %v", yaml, err)
		}
		if got := cfg.Audit.Retention.D(); got != want {
			t.Errorf("%q: audit.retention = %v, want %v", yaml, got, want)
		}
	}
}

func TestAllProblemsReported(t *testing.T) {
	_, err := config.Load(write(t, "tokens: {access_ttl: 0s, leeway: -1s}\nlogin: {max_failures: 0}\n"), noEnv)
	for _, key := range []string{"tokens.access_ttl", "tokens.leeway", "login.max_failures"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not report %s", err, key)
		}
	}
}

func TestRoutesMustNotShadow(t *testing.T) {
	base := "routes:\n- {name: a, match: {path_prefix: /api/, methods: [GET]}, upstream: 'http://x', auth: none}\n"
	if _, err := config.Load(write(t, base+"- {name: b, match: {path_prefix: /api/, methods: [POST]}, upstream: 'http://x', auth: token}\n"), noEnv); err != nil {
		t.Errorf("same prefix, disjoint methods: %v", err)
	}
	if _, err := config.Load(write(t, base+"- {name: b, match: {path_prefix: /api/}, upstream: 'http://x', auth: token}\n"), noEnv); err == nil || !strings.Contains(err.Error(), "shadow") {
		t.Errorf("same prefix, overlapping methods: %v", err)
	}
	if _, err := config.Load(write(t, base+"- {name: b, match: {path_prefix: /api, methods: [GET]}, upstream: 'http://x', auth: token}\n"), noEnv); err == nil || !strings.Contains(err.Error(), "shadow") {
		t.Errorf("/api and /api/ with one method: %v", err)
	}
	if _, err := config.Load(write(t, base+"- {name: a, match: {path_prefix: /b/}, upstream: 'http://x', auth: token}\n"), noEnv); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := map[string]string{
		"GATEHOUSE_STORE":                 "postgres://gh@db/gatehouse",
		"GATEHOUSE_SESSIONS_IDLE_TIMEOUT": "5m",
		"GATEHOUSE_TOKENS_AUDIENCE":       "api, web",
		"GATEHOUSE_TOKENS_PASSWORD_GRANT": "false",
		"GATEHOUSE_LOGIN_MAX_FAILURES":    "9",
	}
	cfg, err := config.Load(write(t, "store: sqlite://file.db\n"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != env["GATEHOUSE_STORE"] || cfg.Sessions.IdleTimeout.D() != 5*time.Minute ||
		strings.Join(cfg.Tokens.Audience, "|") != "api|web" || cfg.Tokens.PasswordGrant || cfg.Login.MaxFailures != 9 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
}

func TestSecretFromFileAndMasking(t *testing.T) {
	secret := strings.Repeat("k", 40)
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(write(t, "tokens: {algorithm: HS256, hmac_secret_file: "+f+"}\nstore: 'postgres://gh:pw123@db/x'\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens.HMACSecret != secret {
		t.Fatalf("secret from file = %q", cfg.Tokens.HMACSecret)
	}
	out := cfg.Masked()
	if strings.Contains(out, secret) || strings.Contains(out, "pw123") {
		t.Errorf("Masked leaks a secret:\n%s", out)
	}
}

func TestDurationsAcceptDays(t *testing.T) {
	cfg, err := config.Load(write(t, "tokens: {refresh_ttl: 30d}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Tokens.RefreshTTL.D(), 720*time.Hour; got != want {
		t.Errorf("30d = %v, want %v", got, want)
	}
}

func TestWarnings(t *testing.T) {
	cfg := config.Default()
	cfg.PublicURL = "http://auth.example.com"
	w := strings.Join(cfg.Warnings(), "\n")
	if !strings.Contains(w, "keys.encryption_key") || !strings.Contains(w, "not Secure") {
		t.Errorf("warnings = %q", w)
	}
}

// A deployment that instances can share (PostgreSQL, Redis) without
// keys.encryption_key or an HS256 secret seals second-factor logins in
// progress and passkey ceremonies with a random key per process, so one
// begun on an instance fails on the next: config check says so, not only
// for OIDC state (the only one it named before).
func TestWarningsNamePerProcessSealingWhenShared(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want bool
	}{
		{"sqlite", func(*config.Config) {}, false},
		{"postgres", func(c *config.Config) { c.Store = "postgres://gh@db/gh" }, true},
		{"redis url", func(c *config.Config) { c.Redis.URL = "redis://127.0.0.1:6379/0" }, true},
		{"redis sessions", func(c *config.Config) { c.Sessions.Store = "redis://127.0.0.1:6379/0" }, true},
		{"redis cluster", func(c *config.Config) { c.Redis.Cluster.Addrs = []string{"127.0.0.1:7000"} }, true},
		{"redis sentinel", func(c *config.Config) { c.Redis.Sentinel.Master = "m" }, true},
		{"postgres, encryption key", func(c *config.Config) {
			c.Store, c.Keys.EncryptionKey = "postgres://gh@db/gh", strings.Repeat("k", 32)
		}, false},
		{"postgres, HS256", func(c *config.Config) {
			c.Store, c.Tokens.Algorithm, c.Tokens.HMACSecret = "postgres://gh@db/gh", "HS256", strings.Repeat("s", 32)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.edit(&cfg)
			w := strings.Join(cfg.Warnings(), "\n")
			got := strings.Contains(w, "passkey") && strings.Contains(w, "second-factor")
			if got != tc.want {
				t.Errorf("warnings name per-process sealing = %v, want %v:\n%s", got, tc.want, w)
			}
		})
	}
}

// admin.require_mfa is on by default (contract section 11); without an
// encryption key nobody can enrol TOTP, and config check says so.
func TestAdminRequiresMFAByDefault(t *testing.T) {
	cfg := config.Default()
	if !cfg.Admin.RequireMFA {
		t.Fatal("admin.require_mfa defaults to false, want true")
	}
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "admin.require_mfa") {
		t.Errorf("warnings without keys.encryption_key = %q, want one naming admin.require_mfa", w)
	}
	cfg.Keys.EncryptionKey = "0123456789abcdef0123456789abcdef"
	if w := strings.Join(cfg.Warnings(), "\n"); strings.Contains(w, "admin.require_mfa") {
		t.Errorf("warnings with keys.encryption_key = %q, want none about admin.require_mfa", w)
	}
}

// A default role with a comma or space would reach upstreams split in
// X-Auth-Roles; config load refuses it (issue 12, drift 4).
func TestOIDCDefaultRolesFollowTheRoleRule(t *testing.T) {
	provider := "oidc: {providers: [{name: corp, issuer: 'https://idp.example', client_id: x, default_roles: %s}]}\n"
	for _, tt := range []struct {
		name, roles string
		ok          bool
	}{
		{"plain roles", "[user, dev]", true},
		{"comma inside a role", "['user,admin']", false},
		{"space inside a role", "['power user']", false},
		{"empty role", "['']", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, fmt.Sprintf(provider, tt.roles)), noEnv)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "oidc.providers[0].default_roles:") {
				t.Errorf("Load error = %v, want one naming oidc.providers[0].default_roles", err)
			}
		})
	}
}

// allowed_email_domains is compared with the email's domain exactly
// (docs/oidc.md): a wildcard or leading-dot entry meant for subdomains, or
// a whole address, matches no login, so every login through the provider
// would be refused with 403 although the config loaded. Load refuses them.
func TestOIDCAllowedEmailDomainsAreDomains(t *testing.T) {
	provider := "oidc: {providers: [{name: corp, issuer: 'https://idp.example', client_id: x, allowed_email_domains: %s}]}\n"
	for _, tt := range []struct {
		name, domains string
		ok            bool
	}{
		{"domains", "[example.com, Sub.Example.com]", true},
		{"with the at sign", "['@example.com']", true},
		{"internationalised", "[bücher.example]", true},
		{"wildcard", "['*.example.com']", false},
		{"leading dot", "[.example.com]", false},
		{"an address", "[alice@example.com]", false},
		{"empty", "['']", false},
		{"space inside", "['example .com']", false},
		{"a URL", "['https://example.com']", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, fmt.Sprintf(provider, tt.domains)), noEnv)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "oidc.providers[0].allowed_email_domains:") {
				t.Errorf("Load error = %v, want one naming oidc.providers[0].allowed_email_domains", err)
			}
		})
	}
}

func TestClientsValidatedAtLoad(t *testing.T) {
	ok := "{client_id: web, type: public, redirect_uris: ['https://app.example.com/cb'], grant_types: [authorization_code], scopes: [openid]}"
	tests := []struct {
		name, clients, key string
	}{
		{"bad client_id", "[{client_id: 'a b', type: public, grant_types: [refresh_token]}]", "clients[0].client_id"},
		{"unknown type", "[{client_id: web, type: secret, grant_types: [refresh_token]}]", "clients[0].type"},
		{"relative redirect", "[{client_id: web, type: public, redirect_uris: [/cb], grant_types: [authorization_code]}]", "clients[0].redirect_uris[0]"},
		{"redirect with fragment", "[{client_id: web, type: public, redirect_uris: ['https://a.example/cb#x'], grant_types: [authorization_code]}]", "clients[0].redirect_uris[0]"},
		{"javascript redirect", "[{client_id: web, type: public, redirect_uris: ['javascript:alert(document.cookie)//'], grant_types: [authorization_code]}]", "clients[0].redirect_uris[0]"},
		{"data post-logout redirect", "[{client_id: web, type: public, redirect_uris: ['https://a.example/cb'], post_logout_redirect_uris: ['DATA:text/html,x'], grant_types: [authorization_code]}]", "clients[0].post_logout_redirect_uris[0]"},
		{"short secret", "[{client_id: svc, type: confidential, secret: short, grant_types: [client_credentials]}]", "clients[0].secret"},
		{"unknown grant", "[{client_id: web, type: public, grant_types: [implicit]}]", "clients[0].grant_types[0]"},
		{"public client_credentials", "[{client_id: web, type: public, grant_types: [client_credentials]}]", "clients[0].grant_types"},
		{"third-party password grant", "[{client_id: web, type: public, grant_types: [password]}]", "clients[0].grant_types"},
		{"bad scope", "[{client_id: web, type: public, grant_types: [refresh_token], scopes: ['a\"b']}]", "clients[0].scopes[0]"},
		{"duplicate id", "[" + ok + ", " + ok + "]", "clients[1].client_id"},
		{"unknown key", "[{client_id: web, secret_hash: x}]", "clients[0].secret_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, "clients: "+tt.clients+"\n"), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.key+":") {
				t.Fatalf("error %v does not name %s", err, tt.key)
			}
		})
	}
	if _, err := config.Load(write(t, "clients: ["+ok+"]\n"), noEnv); err != nil {
		t.Fatalf("valid client refused: %v", err)
	}
	// A route that sends headers mints no internal JWT: an app's audience
	// may name it (its upstream checks the app's own token).
	headers := "routes: [{name: orders, match: {path_prefix: /o/}, upstream: 'http://x', auth: token}]\n" +
		"clients: [{client_id: svc, type: confidential, secret: 0123456789abcdef0123456789abcdef, grant_types: [client_credentials], audience: [orders]}]\n"
	if _, err := config.Load(write(t, headers), noEnv); err != nil {
		t.Fatalf("audience named like a forward: headers route refused: %v", err)
	}
}

func TestClientSecretFromFileIsMasked(t *testing.T) {
	secret := strings.Repeat("c", 43)
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(write(t, "clients: [{client_id: svc, type: confidential, secret_file: "+f+", grant_types: [client_credentials]}]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients[0].Secret != secret {
		t.Fatalf("secret from file = %q", cfg.Clients[0].Secret)
	}
	if out := cfg.Masked(); strings.Contains(out, secret) {
		t.Errorf("Masked leaks the client secret:\n%s", out)
	}
	if cfg.Clients[0].Secret != secret {
		t.Errorf("Masked changed the config it was called on")
	}
}

// A provider's name is a URL path segment and part of cookie names and
// values, so it is URL-safe and at most 64 characters.
func TestOIDCProviderNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"corp", true},
		{"a" + strings.Repeat("b", 63), true},
		{"a" + strings.Repeat("b", 64), false},
		{"-corp", false},
		{"corp.example", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(write(t, "oidc: {providers: [{name: '"+tt.name+"', issuer: 'https://idp.example', client_id: x}]}\n"), noEnv)
			if tt.ok && err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "oidc.providers[0].name:")) {
				t.Errorf("Load error = %v, want one naming oidc.providers[0].name", err)
			}
		})
	}
}

func TestOIDCBackchannelLogoutNeedsAnOpenIDProvider(t *testing.T) {
	for _, tt := range []struct {
		name, provider string
		ok             bool
	}{
		{"oidc provider", "{name: corp, issuer: 'https://idp.example', client_id: x, backchannel_logout: true}", true},
		{"oauth2 provider", "{name: gh, type: oauth2, client_id: x, auth_url: 'https://gh.example/a', token_url: 'https://gh.example/t', userinfo_url: 'https://gh.example/u', backchannel_logout: true}", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, "oidc: {providers: ["+tt.provider+"]}\n"), noEnv)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if !cfg.OIDC.Providers[0].BackchannelLogout {
					t.Error("backchannel_logout: true was not read")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "oidc.providers[0].backchannel_logout:") {
				t.Errorf("Load error = %v, want one naming oidc.providers[0].backchannel_logout", err)
			}
		})
	}
}

// keys.rotate_every rotates the stored signing keys; HS256 has none (its
// key is tokens.hmac_secret), so with HS256 the setting does nothing, and
// config check says so instead of letting the operator believe the key
// rotates.
func TestWarningsRotateEveryWithHS256(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  string
		want bool
	}{{"HS256", "HS256", true}, {"ES256", "ES256", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Tokens.Algorithm, cfg.Tokens.HMACSecret = tc.alg, strings.Repeat("s", 32)
			cfg.Keys.RotateEvery = config.Duration(24 * time.Hour)
			w := strings.Join(cfg.Warnings(), "\n")
			if got := strings.Contains(w, "keys.rotate_every"); got != tc.want {
				t.Errorf("warnings name keys.rotate_every = %v, want %v:\n%s", got, tc.want, w)
			}
		})
	}
}

// An idle timeout at least as long as the absolute one is valid but never
// ends a session (the absolute limit comes first): config check warns,
// naming both keys, as for the likely swap of the two values.
func TestWarningsIdleTimeoutNotShorterThanAbsolute(t *testing.T) {
	for _, tc := range []struct {
		name      string
		idle, abs time.Duration
		want      bool
	}{
		{"defaults", 30 * time.Minute, 24 * time.Hour, false},
		{"swapped", 24 * time.Hour, 30 * time.Minute, true},
		{"equal", time.Hour, time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Sessions.IdleTimeout, cfg.Sessions.AbsoluteTimeout = config.Duration(tc.idle), config.Duration(tc.abs)
			w := strings.Join(cfg.Warnings(), "\n")
			if got := strings.Contains(w, "sessions.idle_timeout") && strings.Contains(w, "sessions.absolute_timeout"); got != tc.want {
				t.Errorf("warnings name both timeouts = %v, want %v:\n%s", got, tc.want, w)
			}
		})
	}
}

// A scheduled rotation publishes the next key half a period ahead at
// most. Below about three minutes that lead is shorter than a verifier's
// JWKS cache (max-age) plus the instances' reload interval, so tokens can
// be signed with a key some verifiers have not fetched yet: config check
// says so and names the shortest period that is safe.
func TestWarningsShortRotateEvery(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  bool
	}{
		{0, false},
		{time.Minute, true},
		{2*time.Minute + 59*time.Second, true},
		{3 * time.Minute, false},
		{24 * time.Hour, false},
	} {
		t.Run(tc.every.String(), func(t *testing.T) {
			cfg := config.Default()
			cfg.Keys.EncryptionKey = strings.Repeat("k", 32)
			cfg.Keys.RotateEvery = config.Duration(tc.every)
			w := strings.Join(cfg.Warnings(), "\n")
			got := strings.Contains(w, "keys.rotate_every") && strings.Contains(w, "3m0s")
			if got != tc.want {
				t.Errorf("warns that rotate_every %v is too short = %v, want %v:\n%s", tc.every, got, tc.want, w)
			}
		})
	}
}

// Browsers write host names in lower case (the Origin header, WebAuthn's
// client data), while public_url is used as written: for the issuer, the
// OIDC callback URLs and the passkey relying party ID. An upper-case
// letter in its host is a mistake config check names.
func TestWarningsUpperCasePublicURLHost(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://auth.example.com", false},
		{"https://Auth.Example.com", true},
		{"https://auth.example.com/Path", false},
		{"http://LOCALHOST:8080", true},
	} {
		t.Run(tc.url, func(t *testing.T) {
			cfg := config.Default()
			cfg.PublicURL = tc.url
			w := strings.Join(cfg.Warnings(), "\n")
			if got := strings.Contains(w, "public_url") && strings.Contains(w, "lower case"); got != tc.want {
				t.Errorf("warns about the host's case = %v, want %v:\n%s", got, tc.want, w)
			}
		})
	}
}

// config check prints the effective configuration: a route that leaves
// forward and timeout out shows the values the gateway uses for them, and
// one that sets them shows its own.
func TestMaskedShowsRouteDefaults(t *testing.T) {
	cfg := config.Default()
	cfg.Routes = []gateway.RouteConfig{
		{Name: "plain", Match: gateway.RouteMatch{PathPrefix: "/a/"}, Upstream: "http://127.0.0.1:9001", Auth: "none"},
		{Name: "set", Match: gateway.RouteMatch{PathPrefix: "/b/"}, Upstream: "http://127.0.0.1:9002", Auth: "token",
			Forward: "jwt", Timeout: duration.Duration(5 * time.Second)},
	}
	var out struct {
		Routes []struct {
			Name    string `yaml:"name"`
			Forward string `yaml:"forward"`
			Timeout string `yaml:"timeout"`
		} `yaml:"routes"`
	}
	if err := yaml.Unmarshal([]byte(cfg.Masked()), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"plain": {"headers", "30s"}, "set": {"jwt", "5s"}}
	if len(out.Routes) != 2 {
		t.Fatalf("routes printed = %+v", out.Routes)
	}
	for _, r := range out.Routes {
		if got := [2]string{r.Forward, r.Timeout}; got != want[r.Name] {
			t.Errorf("route %s printed forward, timeout = %v, want %v", r.Name, got, want[r.Name])
		}
	}
	if cfg.Routes[0].Forward != "" {
		t.Errorf("Masked changed the configuration it printed")
	}
}

// A GATEHOUSE_* variable set to "" (GATEHOUSE_ADMIN_LISTEN=) sets its key
// to "": a string key where "" means something (admin_listen off, no key
// prefix) takes it, a list key becomes empty, and a key where "" is no
// value (a number, a duration, a boolean, or a string Validate refuses
// empty) is a configuration error naming the variable. An unset variable
// leaves the key alone.
func TestEmptyEnvironmentValue(t *testing.T) {
	tests := []struct {
		name   string
		env    string
		check  func(config.Config) bool
		errMsg string // "" = loads
	}{
		{"admin_listen off", "GATEHOUSE_ADMIN_LISTEN", func(c config.Config) bool { return c.AdminListen == "" }, ""},
		{"empty key prefix", "GATEHOUSE_REDIS_KEY_PREFIX", func(c config.Config) bool { return c.Redis.KeyPrefix == "" }, ""},
		{"no trusted proxies", "GATEHOUSE_TRUSTED_PROXIES", func(c config.Config) bool { return len(c.TrustedProxies) == 0 }, ""},
		{"whole number", "GATEHOUSE_LOGIN_MAX_FAILURES", nil, "environment: GATEHOUSE_LOGIN_MAX_FAILURES: set but empty: expected a whole number (unset the variable to keep the default)"},
		{"duration", "GATEHOUSE_TOKENS_ACCESS_TTL", nil, "environment: GATEHOUSE_TOKENS_ACCESS_TTL: set but empty: expected a duration such as 30s, 10m or 24h (unset the variable to keep the default)"},
		{"boolean", "GATEHOUSE_ADMIN_PPROF", nil, "environment: GATEHOUSE_ADMIN_PPROF: set but empty: expected true or false (unset the variable to keep the default)"},
		{"string that must not be empty", "GATEHOUSE_LISTEN", nil, "environment: GATEHOUSE_LISTEN (listen): must be host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadLookup("", func(k string) (string, bool) { return "", k == tt.env })
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("%s= : err = %v, want one containing %q", tt.env, err, tt.errMsg)
				}
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Errorf("%s= : err %T is not a *config.Error (exit 2)", tt.env, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s= : %v", tt.env, err)
			}
			if !tt.check(cfg) {
				t.Errorf("%s= : not applied: %+v", tt.env, cfg)
			}
		})
	}
	// Load's getenv cannot tell "" from unset: there "" keeps the default.
	cfg, err := config.Load("", func(string) string { return "" })
	if err != nil || cfg.AdminListen != config.Default().AdminListen {
		t.Errorf("Load with an empty getenv: admin_listen %q, err %v; want the default", cfg.AdminListen, err)
	}
}

// A listen address on every interface (0.0.0.0, ::, or no host) with no
// public_url makes http://0.0.0.0:8080 the issuer and redirect base, which
// no browser or client should be sent to: config check and serve warn and
// name public_url. A loopback or named listen address, or a public_url,
// gets no such warning.
func TestWarningsWildcardListenWithoutPublicURL(t *testing.T) {
	tests := []struct {
		listen, publicURL string
		warn              bool
	}{
		{"0.0.0.0:8080", "", true},
		{"[::]:8080", "", true},
		{":8080", "", true},
		{"0.0.0.0:8080", "https://auth.example.com", false},
		{"127.0.0.1:8080", "", false},
		{"auth.internal:8080", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+tt.publicURL, func(t *testing.T) {
			cfg := config.Default()
			cfg.Listen, cfg.PublicURL = tt.listen, tt.publicURL
			w := strings.Join(cfg.Warnings(), "\n")
			want := "listen " + tt.listen + " is on all interfaces and public_url is not set"
			if got := strings.Contains(w, want); got != tt.warn {
				t.Errorf("warnings = %q; want %q: %v", w, want, tt.warn)
			}
			if tt.warn && !strings.Contains(w, "set public_url to the URL clients use, e.g. http://localhost:8080") {
				t.Errorf("warnings = %q; want the advice", w)
			}
		})
	}
}

// ID tokens are signed with tokens.algorithm. With HS256 that is the
// server's HMAC secret, which no relying party has, so none can verify
// them (go-oidc refuses HS256 outright): config check and serve warn,
// naming every client that can get one (openid scope and the code flow),
// and the config is still accepted.
func TestWarningsNameOpenIDClientsUnderHS256(t *testing.T) {
	const (
		web   = "{client_id: web, type: public, redirect_uris: ['https://app.example.com/cb'], grant_types: [authorization_code], scopes: [openid]}"
		spa   = "{client_id: spa, type: public, redirect_uris: ['https://spa.example.com/cb'], grant_types: [authorization_code, refresh_token], scopes: [openid, offline_access]}"
		plain = "{client_id: plain, type: public, redirect_uris: ['https://p.example.com/cb'], grant_types: [authorization_code], scopes: [orders]}"
		svc   = "{client_id: svc, type: confidential, secret: 0123456789abcdef0123456789abcdef, grant_types: [client_credentials], scopes: [openid]}"
		hs256 = "tokens: {algorithm: HS256, hmac_secret: 0123456789abcdef0123456789abcdef}\n"
	)
	for _, tc := range []struct {
		name, yaml string
		want       []string // client IDs the warning names; none: no warning
	}{
		{"HS256, OpenID clients", hs256 + "clients: [" + web + ", " + plain + ", " + spa + ", " + svc + "]\n", []string{"web", "spa"}},
		{"HS256, no OpenID client", hs256 + "clients: [" + plain + ", " + svc + "]\n", nil},
		{"ES256, OpenID client", "clients: [" + web + "]\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, tc.yaml), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got string
			for _, w := range cfg.Warnings() {
				if strings.Contains(w, "ID token") {
					got = w
				}
			}
			if (got != "") != (tc.want != nil) {
				t.Fatalf("ID token warning = %q, want one: %v", got, tc.want != nil)
			}
			for _, id := range tc.want {
				if !strings.Contains(got, id) {
					t.Errorf("warning %q does not name client %s", got, id)
				}
			}
			for _, id := range []string{"plain", "svc"} {
				if strings.Contains(got, id) {
					t.Errorf("warning %q names %s, which gets no ID token", got, id)
				}
			}
		})
	}
}

// passwords.max_concurrent and passwords.max_per_client of 0 mean a
// computed default (half the CPUs; 8): config check prints the value that
// applies, as it prints redis.wait_timeout's, not the 0 that means it. A
// value set is printed as set; a negative max_per_client (no cap) too.
func TestMaskedPrintsEffectivePasswordLimits(t *testing.T) {
	half := max(1, runtime.GOMAXPROCS(0)/2)
	tests := []struct {
		yaml                  string
		concurrent, perClient int
	}{
		{"", half, password.DefaultMaxPerClient},
		{"passwords: {max_concurrent: 0, max_per_client: 0}\n", half, password.DefaultMaxPerClient},
		{"passwords: {max_concurrent: 3, max_per_client: 2}\n", 3, 2},
		{"passwords: {max_per_client: -1}\n", half, -1},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			cfg, err := config.Load(write(t, tt.yaml), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var out struct {
				Passwords struct {
					MaxConcurrent int `yaml:"max_concurrent"`
					MaxPerClient  int `yaml:"max_per_client"`
				} `yaml:"passwords"`
			}
			if err := yaml.Unmarshal([]byte(cfg.Masked()), &out); err != nil {
				t.Fatal(err)
			}
			if got := out.Passwords; got.MaxConcurrent != tt.concurrent || got.MaxPerClient != tt.perClient {
				t.Errorf("config check prints max_concurrent: %d, max_per_client: %d; want %d, %d",
					got.MaxConcurrent, got.MaxPerClient, tt.concurrent, tt.perClient)
			}
		})
	}
}

// mfa.totp_issuer names the deployment in authenticator apps (the otpauth
// URI's issuer parameter and label prefix), default "gatehouse"; it comes
// from the file or GATEHOUSE_MFA_TOTP_ISSUER and config check prints it. A
// value an app would show wrongly or not at all is refused naming the key:
// empty, with ':' (it ends the label's issuer prefix), control characters,
// white space around it, or longer than 64 characters.
func TestMFATOTPIssuer(t *testing.T) {
	tests := []struct {
		name, yaml, env string
		want            string // "" when refused
	}{
		{"default", "", "", "gatehouse"},
		{"from the file", "mfa: {totp_issuer: Acme Staging}\n", "", "Acme Staging"},
		{"from the environment", "", "Acme Prod", "Acme Prod"},
		{"not ASCII", "mfa: {totp_issuer: Bücher GmbH}\n", "", "Bücher GmbH"},
		{"64 characters", "mfa: {totp_issuer: " + strings.Repeat("é", 64) + "}\n", "", strings.Repeat("é", 64)},
		{"empty", "mfa: {totp_issuer: ''}\n", "", ""},
		{"colon", "mfa: {totp_issuer: 'Acme:Prod'}\n", "", ""},
		{"control character", "mfa: {totp_issuer: \"Acme\\tProd\"}\n", "", ""},
		{"white space around it", "mfa: {totp_issuer: ' Acme'}\n", "", ""},
		{"65 characters", "mfa: {totp_issuer: " + strings.Repeat("a", 65) + "}\n", "", ""},
		{"not UTF-8", "", "Acme\xff", ""}, // YAML's "\xff" is ÿ
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, tt.yaml), func(k string) string {
				if k == "GATEHOUSE_MFA_TOTP_ISSUER" {
					return tt.env
				}
				return ""
			})
			if tt.want == "" {
				var ce *config.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), "mfa.totp_issuer") {
					t.Fatalf("error %v, want a *config.Error naming mfa.totp_issuer", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.MFA.TOTPIssuer; got != tt.want {
				t.Errorf("mfa.totp_issuer = %q, want %q", got, tt.want)
			}
			var out struct {
				MFA struct {
					TOTPIssuer string `yaml:"totp_issuer"`
				} `yaml:"mfa"`
			}
			if err := yaml.Unmarshal([]byte(cfg.Masked()), &out); err != nil {
				t.Fatal(err)
			}
			if out.MFA.TOTPIssuer != tt.want {
				t.Errorf("config check prints mfa.totp_issuer %q, want %q", out.MFA.TOTPIssuer, tt.want)
			}
		})
	}
}

// Token lifetimes that would make every token grant fail are refused,
// naming the key: JWT times are whole seconds, so an access_ttl under 1s
// gives tokens whose exp is their iat (the grants refuse to issue them),
// and a refresh family that ends within the leeway cannot carry an access
// token (exp + leeway must not pass the family's end). Lifetimes that
// work but make another setting idle are warnings, as for sessions.
func TestTokenLifetimesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		yaml, key string
	}{
		{"tokens: {access_ttl: 500ms}\n", "tokens.access_ttl"},
		{"tokens: {access_ttl: 999ms}\n", "tokens.access_ttl"},
		{"tokens: {refresh_ttl: 30s, leeway: 30s}\n", "tokens.refresh_ttl"},
		{"tokens: {refresh_ttl: 30500ms, leeway: 30s}\n", "tokens.refresh_ttl"},
		{"tokens: {refresh_ttl: 10s, leeway: 0s}\n", ""},
		{"tokens: {access_ttl: 1s}\n", ""},
		{"tokens: {refresh_ttl: 31s, leeway: 30s}\n", ""},
	} {
		_, err := config.Load(write(t, tc.yaml), noEnv)
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%q: %v, want accepted", tc.yaml, err)
		case tc.key != "" && (err == nil || !strings.Contains(err.Error(), tc.key+":")):
			t.Errorf("%q: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
	for _, tc := range []struct {
		yaml, want string
	}{
		{"tokens: {access_ttl: 1h, refresh_ttl: 30m}\n", "tokens.access_ttl"},
		{"tokens: {access_ttl: 10m, leeway: 30s, refresh_ttl: 10m}\n", "tokens.access_ttl"},
		{"tokens: {refresh_idle_ttl: 720h, refresh_ttl: 720h}\n", "tokens.refresh_idle_ttl"},
		{"tokens: {access_ttl: 10m, leeway: 30s, refresh_ttl: 630s, refresh_idle_ttl: 629s}\n", ""},
	} {
		cfg, err := config.Load(write(t, tc.yaml), noEnv)
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		var got string
		for _, w := range cfg.Warnings() {
			if strings.HasPrefix(w, "tokens.") {
				got += w + "\n"
			}
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%q: token warnings %q, want one naming %q", tc.yaml, got, tc.want)
		}
	}
}

// TestGatewayDefaults: with the keys absent, trusted_proxies is loopback
// only (contract §5) and ext_authz_listen is "" — Envoy's gRPC service is
// off (contract §12).
func TestGatewayDefaults(t *testing.T) {
	cfg, err := config.Load(write(t, "routes: []\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(cfg.TrustedProxies), "[127.0.0.0/8 ::1/128]"; got != want {
		t.Errorf("trusted_proxies = %s, want %s", got, want)
	}
	if cfg.ExtAuthzListen != "" {
		t.Errorf("ext_authz_listen = %q, want \"\" (off)", cfg.ExtAuthzListen)
	}
}

// TestOIDCClientSecretFromFile: oidc.providers[].client_secret_file
// (contract §7) is read like the other *_file secrets: its trailing newline
// dropped, masked by config check, and refused beside client_secret.
func TestOIDCClientSecretFromFile(t *testing.T) {
	secret := "oidc-client-secret-" + strings.Repeat("s", 24)
	f := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	provider := "oidc: {providers: [{name: corp, issuer: 'https://sso.example.com', client_id: gatehouse, %s}]}\n"
	cfg, err := config.Load(write(t, fmt.Sprintf(provider, "client_secret_file: "+f)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.OIDC.Providers[0].ClientSecret; got != secret {
		t.Errorf("client secret = %q, want the file's content without its newline", got)
	}
	if strings.Contains(cfg.Masked(), secret) {
		t.Error("config check prints the client secret read from the file")
	}
	_, err = config.Load(write(t, fmt.Sprintf(provider, "client_secret: inline, client_secret_file: "+f)), noEnv)
	if err == nil || !strings.Contains(err.Error(), "oidc.providers[0].client_secret") {
		t.Errorf("client_secret and client_secret_file together: err = %v, want one naming oidc.providers[0].client_secret", err)
	}
}
