package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// /debug/pprof/ exposes heap contents and costs CPU while a profile runs:
// it is served on admin_listen only when admin_pprof is on, and never on
// the public listener.
func TestPprofIsOptIn(t *testing.T) {
	tests := []struct {
		name      string
		pprof     bool
		wantAdmin int
	}{
		{"off by default", config.Default().AdminPprof, http.StatusNotFound},
		{"on when admin_pprof is true", true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.AdminPprof = tt.pprof }))
			admin := httptest.NewServer(g.App.AdminHandler())
			t.Cleanup(admin.Close)
			client := testutil.Client(t)
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
				resp, err := client.Get(admin.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body := testutil.ReadBody(t, resp)
				if got := resp.StatusCode; got != tt.wantAdmin {
					t.Errorf("admin GET %s = %d, want %d", path, got, tt.wantAdmin)
				}
				resp, err = client.Get(g.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				public := testutil.ReadBody(t, resp)
				if resp.StatusCode == http.StatusOK || strings.Contains(public, "heap profile") {
					t.Errorf("public GET %s = %d: pprof reachable on the public listener", path, resp.StatusCode)
				}
				if tt.pprof && path == "/debug/pprof/" && !strings.Contains(body, "goroutine") {
					t.Errorf("admin /debug/pprof/ index lacks the profile list:\n%.300s", body)
				}
			}
			// /metrics stays on either way.
			resp, err := client.Get(admin.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			testutil.ReadBody(t, resp)
			if got, want := resp.StatusCode, http.StatusOK; got != want {
				t.Errorf("admin /metrics = %d, want %d", got, want)
			}
		})
	}
}
