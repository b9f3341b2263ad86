package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// A store or Redis URL's password never reaches `config check`'s output,
// the admin API's config or an error about the URL: not from the userinfo,
// not from a query parameter (pgx reads ?password=), and not from a URL
// that does not parse.
func TestStoreURLPasswordsAreNeverPrinted(t *testing.T) {
	const pw = "s3cretPW"
	tests := []struct {
		name, yaml string
		valid      bool
		keep       string // what the masked URL or the error still shows
	}{
		{"userinfo", "store: 'postgres://gh:" + pw + "@127.0.0.1:5432/test'", true, "127.0.0.1:5432/test"},
		{"password query parameter", "store: 'postgres://gh@127.0.0.1:5432/test?password=" + pw + "&sslmode=disable'", true, "sslmode=disable"},
		{"sslpassword query parameter", "store: 'postgres://gh@127.0.0.1:5432/test?sslpassword=" + pw + "'", true, "127.0.0.1:5432"},
		// go-redis reads no ?password= (the Redis store would refuse it).
		{"session store query parameter", "sessions: {store: 'redis://127.0.0.1:6379/0?password=" + pw + "'}", false, "unexpected option: password"},
		{"slash in the password", "store: 'postgres://gh:s3cr/" + pw + "@db.internal/gatehouse'", false, "db.internal/gatehouse"},
		{"question mark in the password", "redis: {url: 'redis://u:s3cr?" + pw + "@127.0.0.1:6379/0'}", false, "127.0.0.1:6379"},
		{"mistyped scheme", "store: 'postgress://gh:" + pw + "@db.internal/gatehouse'", false, "postgress://"},
		// The authority ends at the first '/': with digits before it the
		// URL parses, user:1234 as the host and the rest as the path.
		{"slash after a numeric password start", "store: 'postgres://gh:1234/" + pw + "@db.internal/gatehouse'", false, "db.internal/gatehouse"},
		{"hash after a numeric password start", "sessions: {store: 'redis://:99#" + pw + "@127.0.0.1:6379/0'}", false, "127.0.0.1:6379"},
		{"question mark after a numeric password start", "redis: {url: 'redis://u:12?" + pw + "@127.0.0.1:6379/0'}", false, "127.0.0.1:6379"},
		{"at sign in a query value", "store: 'postgres://db.internal/gatehouse?application_name=gh@eu&password=" + pw + "'", true, "application_name=gh@eu"},
		{"unparsable with a query", "store: 'postgres://gh@db:x/g?password=" + pw + "'", false, "db:x/g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, tt.yaml+"\n"), noEnv)
			var out string
			switch {
			case tt.valid && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.valid:
				out = cfg.Masked()
			case err == nil:
				t.Fatalf("Load accepted %s", tt.yaml)
			default:
				out = err.Error()
			}
			if strings.Contains(out, pw) {
				t.Errorf("the password is printed:\n%s", out)
			}
			if !strings.Contains(out, tt.keep) {
				t.Errorf("the output lost %q, which says which URL is meant:\n%s", tt.keep, out)
			}
		})
	}
}

// A route's upstream may carry an API key in its query (a webhook-style
// URL: the proxy sends the query on), under names other than pass, secret
// or token; `config check` and the admin API's GET /config print the
// upstream masked, never the key.
func TestUpstreamQueryKeysAreNeverPrinted(t *testing.T) {
	const key = "k3yV4lue"
	for _, param := range []string{"api_key", "apikey", "key", "access_key", "X-Api-Key", "sig", "signature", "auth", "credential"} {
		t.Run(param, func(t *testing.T) {
			yaml := "routes:\n  - name: hook\n    match: {path_prefix: /hook/}\n    auth: token\n    upstream: 'https://hooks.example.com/in?" + param + "=" + key + "&v=2'\n"
			cfg, err := config.Load(write(t, yaml), noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			out := cfg.Masked()
			if strings.Contains(out, key) {
				t.Errorf("the key is printed:\n%s", out)
			}
			if want := "https://hooks.example.com/in?" + param + "=xxxxx&v=2"; !strings.Contains(out, want) {
				t.Errorf("the output lost the URL; want %q in:\n%s", want, out)
			}
		})
	}
}

// A SQLite path has no password: an '@' in it is printed as it is.
func TestSQLitePathWithAtIsNotMasked(t *testing.T) {
	const store = "sqlite:///srv/gh@eu/gatehouse.db"
	if got := config.RedactURL(store); got != store {
		t.Errorf("RedactURL(%q) = %q, want it unchanged", store, got)
	}
}
