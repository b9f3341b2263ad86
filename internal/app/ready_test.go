package app_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// TestReadyNamesOnlyTheSilentStore: a store that accepts connections but
// never answers (a hung server, a network dropping packets) is named by
// /readyz, and only it: the wait for it must not use up the time the
// other parts get, or a healthy Redis is reported down beside a silent
// PostgreSQL (and the other way round), sending the operator after the
// wrong server. Each part is judged within the /readyz bound.
func TestReadyNamesOnlyTheSilentStore(t *testing.T) {
	for _, silent := range []string{"store", "redis"} {
		t.Run(silent, func(t *testing.T) {
			pg := tcpproxy.New(t, "127.0.0.1:5432")
			u, _ := url.Parse(pgtest.DSN(t))
			u.Host = pg.Addr()
			_, prefix := redistest.New(t)
			rd := tcpproxy.New(t, "127.0.0.1:6379")
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				c.Store = u.String()
				c.Sessions.Store = "redis"
				c.Redis = config.Redis{URL: "redis://" + rd.Addr() + "/0", KeyPrefix: prefix}
			}))
			testutil.WaitReady(t, g.URL)
			want := []string{"store"}
			if silent == "redis" {
				rd.Blackhole()
				want = []string{"redis", "revocations"}
			} else {
				pg.Blackhole()
			}
			// The revocation feed goes stale 3 s after its last read; ask
			// until it has, within a bound far above that.
			var got []string
			clocktest.Within(30*time.Second, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // /readyz's bound
				defer cancel()
				got = g.App.Ready(ctx)
				// More parts than wanted is the failure itself: stop.
				return slices.Equal(got, want) || len(got) > len(want)
			})
			if !slices.Equal(got, want) {
				t.Errorf("Ready with %s black-holed = %v, want %v", silent, got, want)
			}
		})
	}
}
