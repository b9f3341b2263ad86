package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// rp is a relying party's back-channel logout endpoint; it fails the
// first `fail` deliveries with 500, and while hold is set it answers none:
// each delivery is announced on held and kept waiting until its sender
// gives up.
type rp struct {
	*httptest.Server
	tokens chan string
	fail   atomic.Int32
	hold   atomic.Bool
	held   chan struct{}
}

func newRP(t *testing.T) *rp {
	t.Helper()
	r := &rp{tokens: make(chan string, 10), held: make(chan struct{}, 10)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.hold.Load() {
			// Read to the end first: only then does the server notice the
			// sender hanging up and end req's context.
			_, _ = io.Copy(io.Discard, req.Body)
			r.held <- struct{}{}
			<-req.Context().Done()
			return
		}
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_ = req.ParseForm()
		r.tokens <- req.PostForm.Get("logout_token")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *rp) await(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case tok := <-r.tokens:
		return tok
	case <-time.After(within):
		t.Fatalf("no back-channel logout within %s", within)
		return ""
	}
}

func startWithRP(t *testing.T, r *rp, opts ...testutil.Option) *testutil.Instance {
	t.Helper()
	g := testutil.Start(t, append(opts, testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{{ID: "web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
			PostLogoutRedirectURIs: []string{"https://rp.example.com/bye"}, BackchannelLogoutURI: r.URL + "/bcl",
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}, FirstParty: true}}
	}))...)
	if _, err := g.App.Users.Get(context.Background(), "alice"); err != nil { // a restart finds her in the store
		g.CreateUser(t, "alice", strongPassword)
	}
	return g
}

// oneStore puts every instance started with it on the same SQLite file,
// as a restarted instance or a command finds it.
func oneStore(t *testing.T) testutil.Option {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	return testutil.WithConfig(func(c *config.Config) { c.Store = dsn })
}

// signIn gets tokens for "web" in a fresh browser session.
func signIn(t *testing.T, g *testutil.Instance) (*http.Client, map[string]any) {
	t.Helper()
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, v, "openid offline_access")
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange = %d %v", resp.StatusCode, m)
	}
	return b, m
}

func checkLogoutToken(t *testing.T, g *testutil.Instance, raw, idToken string) {
	t.Helper()
	ks := oidc.NewRemoteKeySet(context.Background(), g.URL+"/.well-known/jwks.json")
	if _, err := ks.VerifySignature(context.Background(), raw); err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	h, c, id := jwtPart(t, raw, 0), jwtPart(t, raw, 1), jwtPart(t, idToken, 1)
	events, _ := c["events"].(map[string]any)
	if h["typ"] != "logout+jwt" || c["iss"] != g.URL || c["aud"] != "web" || c["sub"] != id["sub"] || c["sid"] != id["sid"] ||
		c["jti"] == nil || c["iat"] == nil || c["exp"] == nil || c["nonce"] != nil || events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		t.Fatalf("logout token header %v claims %v (ID token %v)", h, c, id)
	}
}

func TestBackchannelLogoutOnLogout(t *testing.T) {
	r := newRP(t)
	g := startWithRP(t, r)
	b, toks := signIn(t, g)
	resp, _ := do(t, b, "POST", g.URL+"/auth/logout", "", "Origin", g.URL)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	checkLogoutToken(t, g, r.await(t, 2*time.Second), toks["id_token"].(string))
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks["refresh_token"].(string)}}, "web", webSecret)
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh token of an ended session = %d %v", resp.StatusCode, m)
	}
	if resp, _ := userinfo(t, g, toks["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of an ended session = %d, want 401", resp.StatusCode)
	}
}

func TestBackchannelLogoutIsRetried(t *testing.T) {
	r := newRP(t)
	r.fail.Store(2)
	g := startWithRP(t, r)
	b, toks := signIn(t, g)
	do(t, b, "POST", g.URL+"/auth/logout", "", "Origin", g.URL)
	checkLogoutToken(t, g, r.await(t, 15*time.Second), toks["id_token"].(string))
}

// A delivery cut short by a shutdown is due again at once: the next
// instance on the same store delivers it without waiting out the lease of
// the one that stopped (docs/apps.md: a restart loses and delays nothing).
func TestBackchannelLogoutCutShortByShutdownIsDeliveredAfterRestart(t *testing.T) {
	r := newRP(t)
	r.hold.Store(true)
	store := oneStore(t)
	first := startWithRP(t, r, store)
	b, toks := signIn(t, first)
	do(t, b, "POST", first.URL+"/auth/logout", "", "Origin", first.URL)
	select {
	case <-r.held:
	case <-time.After(5 * time.Second):
		t.Fatal("no back-channel logout attempt within 5s")
	}
	first.Stop() // SIGTERM while the RP has not answered
	r.hold.Store(false)

	second := startWithRP(t, r, store)
	tok := r.await(t, 5*time.Second) // the lease the first instance took lasts 30s
	ks := oidc.NewRemoteKeySet(context.Background(), second.URL+"/.well-known/jwks.json")
	if _, err := ks.VerifySignature(context.Background(), tok); err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	if got, want := jwtPart(t, tok, 1)["sid"], jwtPart(t, toks["id_token"].(string), 1)["sid"]; got != want {
		t.Errorf("logout token sid = %v, want the ended session's %v", got, want)
	}
}

// A session ended by a command that does not serve (gatehouse user
// disable) ends its apps' grants before the command closes its stores,
// whether or not an instance is running: the grants are gone at once, and
// the next instance sends the logout it queued.
func TestSessionEndedByACommandEndsItsAppGrants(t *testing.T) {
	r := newRP(t)
	store := oneStore(t)
	first := startWithRP(t, r, store)
	_, toks := signIn(t, first)
	cfg := first.Config
	first.Stop()

	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	cli, err := app.New(ctx, cfg, quiet, app.Options{})
	if err != nil {
		t.Fatalf("open the store as a command does: %v", err)
	}
	alice, err := cli.Users.SetDisabled(ctx, "alice", true)
	cli.Close()
	if err != nil {
		t.Fatalf("disable alice: %v", err)
	}

	after, err := app.New(ctx, cfg, quiet, app.Options{})
	if err != nil {
		t.Fatalf("open the store again: %v", err)
	}
	grants, err := after.Store.UserSessionGrants(ctx, alice.ID)
	after.Close()
	if err != nil || len(grants) != 0 {
		t.Fatalf("alice's app grants after the command closed = %v, %v; want none", grants, err)
	}

	second := startWithRP(t, r, store)
	tok := r.await(t, 5*time.Second)
	if got, want := jwtPart(t, tok, 1)["sid"], jwtPart(t, toks["id_token"].(string), 1)["sid"]; got != want {
		t.Errorf("logout token sid = %v, want the ended session's %v", got, want)
	}
	if resp, _ := userinfo(t, second, toks["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of the ended session = %d, want 401", resp.StatusCode)
	}
}

// A sender never attempts a delivery it may no longer hold: when the
// batch it claimed has taken so long that its leases ran out, another
// instance may have claimed the rest, so it hands the rest back instead of
// sending the same logout a second time.
func TestBackchannelLogoutBatchStopsAtItsLease(t *testing.T) {
	var (
		arrived = make(chan string, 10)
		release = make(chan struct{})
		unblock = sync.OnceFunc(func() { close(release) })
		first   atomic.Bool
	)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		arrived <- req.URL.Path
		if first.CompareAndSwap(false, true) {
			<-release // the slow app: the batch outlives its lease meanwhile
		}
	}))
	t.Cleanup(rp.Close)
	t.Cleanup(unblock)
	clock := testutil.NewClock()
	app := func(id, path string) config.Client {
		return config.Client{ID: id, Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
			BackchannelLogoutURI: rp.URL + path, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, FirstParty: true}
	}
	g := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{app("one", "/one"), app("two", "/two")}
	}))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	for _, id := range []string{"one", "two"} {
		v := oauth2.GenerateVerifier()
		code := codeFor(t, g, b, id, webCB, v, "openid")
		if resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, id, webSecret); resp.StatusCode != http.StatusOK {
			t.Fatalf("exchange for %s = %d %v", id, resp.StatusCode, m)
		}
	}
	do(t, b, "POST", g.URL+"/auth/logout", "", "Origin", g.URL)
	var held string
	select {
	case held = <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no back-channel logout attempt within 5s")
	}
	// The leases run out; another instance claims what it finds due,
	// among it the delivery not yet attempted.
	clock.Advance(31 * time.Second)
	other, err := g.App.Store.ClaimLogouts(context.Background(), "another-instance", clock.Now(), time.Minute, 10)
	waiting := map[string]string{"/one": "two", "/two": "one"}[held]
	if err != nil || !slices.ContainsFunc(other, func(d authserver.Delivery) bool { return d.ClientID == waiting }) {
		t.Fatalf("another instance claimed %+v, %v; want %s's delivery among them", other, err, waiting)
	}
	unblock()
	select {
	case again := <-arrived:
		t.Fatalf("%s was sent by an instance whose lease had run out (held: %s)", again, held)
	case <-time.After(2 * time.Second):
	}
}

// The outbox does not grow forever: a delivery is purged a day after its
// deadline, and not before.
func TestBackchannelLogoutsArePurgedADayAfterTheirDeadline(t *testing.T) {
	r := newRP(t)
	clock := testutil.NewClock()
	g := startWithRP(t, r, testutil.WithClock(clock))
	b, _ := signIn(t, g)
	do(t, b, "POST", g.URL+"/auth/logout", "", "Origin", g.URL)
	r.await(t, 5*time.Second)
	ctx := context.Background()
	clock.Advance(authserver.LogoutRetryFor + 23*time.Hour)
	if n, err := g.App.Apps.PurgeExpired(ctx); err != nil || n != 0 {
		t.Fatalf("purge within the day after the deadline = %d, %v; want 0", n, err)
	}
	clock.Advance(time.Hour + time.Second)
	// The code signIn exchanged expired a day ago by now (authserver.CodeKeep)
	// and goes with the delivery.
	if n, err := g.App.Apps.PurgeExpired(ctx); err != nil || n != 2 {
		t.Fatalf("purge a day after the deadline = %d, %v; want the 1 delivery and the 1 spent code", n, err)
	}
}

func TestEndSession(t *testing.T) {
	r := newRP(t)
	g := startWithRP(t, r)

	t.Run("with id_token_hint: no question, back to the RP with state", func(t *testing.T) {
		b, toks := signIn(t, g)
		q := url.Values{"id_token_hint": {toks["id_token"].(string)}, "post_logout_redirect_uri": {"https://rp.example.com/bye"}, "state": {"st"}}
		resp, _ := do(t, b, "GET", g.URL+"/auth/end_session?"+q.Encode(), "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://rp.example.com/bye?state=st" {
			t.Fatalf("end_session = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session after end_session = %d", resp.StatusCode)
		}
		checkLogoutToken(t, g, r.await(t, 2*time.Second), toks["id_token"].(string))
	})

	t.Run("unregistered post_logout_redirect_uri is refused", func(t *testing.T) {
		b, toks := signIn(t, g)
		q := url.Values{"id_token_hint": {toks["id_token"].(string)}, "post_logout_redirect_uri": {"https://evil.example/"}}
		resp, _ := do(t, b, "GET", g.URL+"/auth/end_session?"+q.Encode(), "")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("end_session to an unregistered URI = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("session ended by a refused request")
		}
	})

	t.Run("without hint: confirmation, forced logout refused", func(t *testing.T) {
		b, _ := signIn(t, g)
		resp, page := do(t, b, "GET", g.URL+"/auth/end_session?client_id=web", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="confirm"`) {
			t.Fatalf("end_session without hint = %d, want a confirmation page", resp.StatusCode)
		}
		form := url.Values{"confirm": {"yes"}, "client_id": {"web"}}.Encode()
		do(t, b, "POST", g.URL+"/auth/end_session", form, "Content-Type", "application/x-www-form-urlencoded",
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("a cross-site POST signed the user out")
		}
		resp, _ = do(t, b, "POST", g.URL+"/auth/end_session", form, "Content-Type", "application/x-www-form-urlencoded",
			"Origin", g.URL, "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("confirmed end_session = %d", resp.StatusCode)
		}
		if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("session after confirmed end_session = %d", resp.StatusCode)
		}
		r.await(t, 2*time.Second)
	})
}

// Issue 13 sessions view: a session lists the apps holding tokens from it,
// and withdrawing an app's access revokes its tokens and asks again.
func TestSessionAppsAndConsentWithdrawal(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, v, "openid offline_access")
	_, toks := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)

	_, body := do(t, b, "GET", g.URL+"/auth/sessions", "")
	sessions := decode(t, body)["sessions"].([]any)
	if apps := sessions[0].(map[string]any)["apps"]; len(sessions) != 1 || fmt.Sprint(apps) != "[web]" {
		t.Fatalf("sessions = %v, want the current one with apps [web]", sessions)
	}
	_, page := do(t, b, "GET", g.URL+"/account", "")
	if !strings.Contains(page, "Apps with access") || !strings.Contains(page, "/auth/consents/web/revoke") {
		t.Fatalf("/account lacks the app with access:\n%s", page)
	}
	cross, _ := do(t, b, "POST", g.URL+"/auth/consents/web/revoke", "", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if cross.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site withdrawal = %d, want 403", cross.StatusCode)
	}
	resp, _ := do(t, b, "POST", g.URL+"/auth/consents/web/revoke", "", "Origin", g.URL, "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw = %d", resp.StatusCode)
	}
	if resp, _ := userinfo(t, g, toks["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token after withdrawal = %d, want 401", resp.StatusCode)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webCB}, "scope": {"openid"}, "prompt": {"none"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}}
	resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
	if redirected(t, resp, webCB).Get("error") != "consent_required" {
		t.Errorf("after withdrawal the consent is still remembered")
	}
}
