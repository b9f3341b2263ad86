package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// providerDownAddr is where the provider of TestServeStartsWhileAnOIDCProviderIsDown
// comes up: a fixed loopback port (of the range this test's author was
// given), since its issuer URL is in gatehouse's config before it runs.
const providerDownAddr = "127.0.0.1:46301"

// TestServeStartsWhileAnOIDCProviderIsDown: gatehouse serves (and is
// ready) with an OpenID provider that cannot be reached, whose login page
// says so with 502; once the provider is back, the next login after the
// 10-second retry interval works (docs/oidc.md, "Failures"), and its
// logout stays at gatehouse.
func TestServeStartsWhileAnOIDCProviderIsDown(t *testing.T) {
	clock := testutil.NewClock()
	g := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: "http://" + providerDownAddr, ClientID: "gatehouse",
			ClientSecret: "corp-secret-0123456789", CreateUsers: true}}
	}))
	testutil.WaitReady(t, g.URL)
	if down := g.App.Ready(context.Background()); len(down) != 0 {
		t.Errorf("Ready = %v, want nothing down: a login provider is not part of gatehouse's readiness", down)
	}
	b := testutil.Client(t)
	start := g.URL + "/auth/oidc/corp/start?next=/account"
	resp, body := getProviderDownPage(t, b, start)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "cannot be reached") {
		t.Fatalf("login with the provider down = %d, want 502 saying it cannot be reached:\n%s", resp.StatusCode, body)
	}

	op, err := oidctestop.New(providerDownAddr, oidctestop.WithClient("gatehouse", "corp-secret-0123456789"),
		oidctestop.WithRedirectURIs(g.URL+"/auth/oidc/corp/callback"),
		oidctestop.WithUser(oidctestop.User{Subject: "sub-1", PreferredUsername: "alice", Email: "alice@corp.example", EmailVerified: true}))
	if err != nil {
		t.Fatalf("start the provider on %s: %v", providerDownAddr, err)
	}
	t.Cleanup(func() { _ = op.Close() })
	clock.Advance(11 * time.Second)
	resp, body = getProviderDownPage(t, b, start)
	for range 5 {
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || loc == "" {
			break
		}
		resp, body = getProviderDownPage(t, b, loc)
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("login with the provider back = %d to %q, want 303 to /account:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	// docs/oidc.md, "Logout": signing out ends the gatehouse session and
	// goes to gatehouse's /login, not to the provider's end_session_endpoint.
	resp, err = b.PostForm(g.URL+"/auth/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/login" {
		t.Errorf("logout = %d to %q, want 303 to /login", resp.StatusCode, got)
	}
	if resp, _ = getProviderDownPage(t, b, g.URL+"/auth/session"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout = %d, want 401", resp.StatusCode)
	}
}

func getProviderDownPage(t *testing.T, b *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
