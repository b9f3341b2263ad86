package app_test

import (
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// gatehouse serve gives password hashing spare Ps while logins hash
// (issue 15: a login flood must not leave the proxy path one P of two),
// unless the operator set GOMAXPROCS; without logins nothing changes.
func TestReserveHashingProcs(t *testing.T) {
	tests := []struct {
		name   string
		env    string
		extraP int
	}{
		{"GOMAXPROCS unset: one P per hashing slot during logins", "", 2},
		{"GOMAXPROCS set: left alone", "3", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Passwords.MaxConcurrent = 2 }))
			g.CreateUser(t, "alice", "correct horse battery staple")
			before := runtime.GOMAXPROCS(0)
			t.Cleanup(func() { runtime.GOMAXPROCS(before) })
			g.App.ReserveHashingProcs(func(key string) string {
				if key == "GOMAXPROCS" {
					return tt.env
				}
				return ""
			})
			if got := runtime.GOMAXPROCS(0); got != before {
				t.Errorf("GOMAXPROCS before any login = %d, want %d", got, before)
			}
			form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery staple"}}
			resp, err := testutil.Client(t).Post(g.URL+"/auth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			testutil.ReadBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("password grant = %d, want 200", resp.StatusCode)
			}
			if got, want := runtime.GOMAXPROCS(0), before+tt.extraP; got != want {
				t.Errorf("GOMAXPROCS right after a login = %d, want %d", got, want)
			}
		})
	}
}
