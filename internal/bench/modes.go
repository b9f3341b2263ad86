package bench

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// Mode names that are special to the runner. ModeBare is the reference
// every ratio and CPU efficiency is computed against.
const (
	ModeBare       = "bare-proxy"
	ModeBareNoPool = "bare-proxy-nopool"
	ModePostgres   = "session-postgres"
	// ModeBareCookie and ModeBareToken are the reference proxy sent the
	// credential of a session or token mode, which it only forwards: what
	// receiving and passing on the credential costs any proxy. They run
	// whenever a mode of their kind is selected.
	ModeBareCookie = "bare-proxy-cookie"
	ModeBareToken  = "bare-proxy-token"
)

// BenchPath is the gateway route every mode serves (the upstream behind
// it answers any path under it).
const BenchPath = "/bench/"

// mode is one configuration under test. configure edits a gatehouse
// config that already has SQLite in a temporary directory, cheap password
// hashing and the /bench/ route; it is nil for the baseline.
type mode struct {
	name        string
	kind        string
	description string
	needs       string // "redis", "postgres" or ""
	configure   func(*config.Config, *runner)
	// carries is set on the same-request references: the kind of mode
	// (KindSession or KindToken) whose credential the reference proxy is
	// sent; from is the mode it prefers to borrow it from.
	carries, from string
}

// ModeNames lists the modes Run measures, in order. session-postgres is
// added after session-redis when Options.PostgresURL is set.
func ModeNames() []string {
	var names []string
	for _, m := range allModes() {
		if m.name != ModePostgres {
			names = append(names, m.name)
		}
	}
	return names
}

func allModes() []mode {
	session := func(name, desc, needs string, fn func(*config.Config, *runner)) mode {
		return mode{name: name, kind: KindSession, description: desc, needs: needs, configure: fn}
	}
	token := func(alg string, cache bool) mode {
		name, desc := "token-"+alg, alg+" JWT, verified-token cache"
		if !cache {
			name, desc = name+"-nocache", alg+" JWT, signature checked on every request"
		}
		return mode{name: name, kind: KindToken, description: desc, configure: func(c *config.Config, r *runner) {
			c.Tokens.Algorithm = alg
			if alg == "HS256" {
				c.Tokens.HMACSecret = r.hmacSecret
			}
			if !cache {
				c.Tokens.CacheSize = 0
			}
		}}
	}
	return []mode{
		{name: ModeBare, kind: KindBaseline, description: "httputil.ReverseProxy with a copy-buffer pool, no authentication (the reference)"},
		{name: ModeBareNoPool, kind: KindBaseline, description: "the same without the copy-buffer pool, as most hand-written proxies"},
		{name: ModeBareCookie, kind: KindBaseline, carries: KindSession, from: "session-sqlite",
			description: "the reference sent %s's session cookie, which it only forwards"},
		{name: ModeBareToken, kind: KindBaseline, carries: KindToken, from: "token-ES256",
			description: "the reference sent %s's bearer token, which it only forwards"},
		{name: "none", kind: KindNone, description: "gatehouse route with auth: none (the gateway's fixed cost)",
			configure: func(*config.Config, *runner) {}},
		session("session-memory", "cookie, sessions.store: memory", "", func(c *config.Config, _ *runner) {
			c.Sessions.Store = "memory"
		}),
		session("session-sqlite", "cookie, SQLite session store, local cache", "", func(*config.Config, *runner) {}),
		session("session-redis", "cookie, Redis session store, local cache", "redis", func(c *config.Config, r *runner) {
			c.Sessions.Store = r.opt.RedisURL
			c.Redis.KeyPrefix = r.redisPrefix
		}),
		session(ModePostgres, "cookie, PostgreSQL store, local cache", "postgres", func(c *config.Config, r *runner) {
			c.Store = r.opt.PostgresURL
		}),
		session("session-sqlite-nocache", "cookie, SQLite session store, no local cache", "", func(c *config.Config, _ *runner) {
			c.Sessions.CacheTTL = 0
		}),
		token("HS256", true), token("ES256", true), token("RS256", true), token("EdDSA", true),
		token("ES256", false), token("RS256", false),
	}
}

// baseConfig is the config every gatehouse mode starts from.
func (r *runner) baseConfig(name string) (config.Config, error) {
	dir := filepath.Join(r.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return config.Config{}, fmt.Errorf("mode %s: %w", name, err)
	}
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.AdminListen = ""
	// gatehouse as it runs by default: access log at info, metrics and
	// request IDs on (issue 15 measures with them on).
	cfg.Log.Level = r.opt.LogLevel
	// Logins are not what is measured: keep argon2id cheap.
	cfg.Passwords.MemoryKiB, cfg.Passwords.Iterations, cfg.Passwords.Parallelism = 8192, 1, 1
	cfg.Passwords.ShedDelay = 0
	// A token mode's access token is issued once, at set-up, and sent until
	// the run ends: with the default access_ttl (10 minutes) a longer run
	// measured 401s, cheaper than any proxied request, in its last rounds.
	// The TTL costs nothing per request (the verified-token cache keys on
	// the token), so outliving the run changes only that.
	cfg.Tokens.AccessTTL = config.Duration(max(cfg.Tokens.AccessTTL.D(), r.opt.credentialLife()))
	cfg.Routes = []config.Route{{
		Name: "bench", Match: config.RouteMatch{PathPrefix: BenchPath}, Upstream: r.upstream.URL,
		Forward: "headers", Timeout: config.Duration(30 * time.Second),
	}}
	return cfg, nil
}

// credentialLife is how long a credential obtained at set-up must keep
// working: every mode's warm-up and measured load, and an hour for the
// rest (set-up, memory measurements, revocation, a slow machine).
func (o Options) credentialLife() time.Duration {
	return time.Duration(len(allModes()))*(o.Warmup+o.Duration) + time.Hour
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
