package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/memory"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// The *Cached benchmarks run the gateway with the real verified-token and
// session caches (and a running revocation watcher as deny-list, as in
// production) instead of the fakes: every request is a cache hit.

func BenchmarkGatewayTokenCached(b *testing.B) {
	store := memory.New()
	w := benchWatcher(b, store)
	ks, err := keys.NewSet(context.Background(), nil, keys.HS256, keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
	if err != nil {
		b.Fatal(err)
	}
	v := token.NewVerifier(ks, w, token.WithCacheSize(10000), token.WithCacheTrust(w.Fresh))
	raw, _, err := token.NewIssuer(ks).Issue(token.Subject{UserID: "u1", Username: "alice", Roles: []string{"user"}}, 0)
	if err != nil {
		b.Fatal(err)
	}
	d := deps()
	d.Tokens = v
	up := benchUpstream(b)
	_, srv := serve(b, []config.Route{route("api", "/api/", "token", up.URL, "user")}, d)
	runBench(b, srv.URL+"/api/orders/42", "Authorization", "Bearer "+raw)
}

func BenchmarkGatewaySessionCached(b *testing.B) {
	store := memory.New()
	w := benchWatcher(b, store)
	m := session.NewManager(store)
	a := session.NewAuthenticator(m, benchUsers{}, 5*time.Second, w.Fresh)
	value, _, err := m.Create(context.Background(), "u1", session.Meta{Method: "password"})
	if err != nil {
		b.Fatal(err)
	}
	d := deps()
	d.Sessions, d.CookieName = a, m.CookieName()
	up := benchUpstream(b)
	_, srv := serve(b, []config.Route{route("api", "/api/", "session", up.URL, "user")}, d)
	runBench(b, srv.URL+"/api/orders/42", "Cookie", (&http.Cookie{Name: m.CookieName(), Value: value}).String())
}

// benchWatcher runs a revocation watcher over store until the benchmark
// ends and waits until it is fresh, so that the caches are trusted.
func benchWatcher(b *testing.B, store revocation.Store) *revocation.Watcher {
	b.Helper()
	w := revocation.NewWatcher(store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	clocktest.Eventually(b, "the revocation watcher is fresh", w.Fresh)
	return w
}

type benchUsers struct{}

func (benchUsers) UserByID(_ context.Context, id string) (auth.User, error) {
	return auth.User{ID: id, Username: "alice", Roles: []string{"user"}}, nil
}
