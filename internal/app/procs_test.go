package app_test

import (
	"runtime"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// gatehouse serve gives password hashing Ps of its own (issue 15: a login
// flood must not leave the proxy path one P of two), unless the operator
// set GOMAXPROCS.
func TestReserveHashingProcs(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Passwords.MaxConcurrent = 2 }))
	tests := []struct {
		name   string
		env    string
		extraP int
	}{
		{"GOMAXPROCS unset: one P per hashing slot", "", 2},
		{"GOMAXPROCS set: left alone", "3", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.GOMAXPROCS(0)
			t.Cleanup(func() { runtime.GOMAXPROCS(before) })
			g.App.ReserveHashingProcs(func(key string) string {
				if key == "GOMAXPROCS" {
					return tt.env
				}
				return ""
			})
			if got, want := runtime.GOMAXPROCS(0), before+tt.extraP; got != want {
				t.Errorf("GOMAXPROCS = %d, want %d", got, want)
			}
		})
	}
}
