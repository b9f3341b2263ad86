package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// walkPendingFrom does alice's password step on g from address ip (the
// X-Forwarded-For of a trusted proxy) and returns the browser holding the
// pending cookie.
func walkPendingFrom(t *testing.T, g *testutil.Instance, name, ip string) *http.Client {
	t.Helper()
	c := testutil.Client(t)
	resp, body := loginJSON(t, c, g.URL, name, strongPassword, "X-Forwarded-For", ip)
	if resp.StatusCode != http.StatusOK || decode(t, body)["mfa_required"] != true {
		t.Fatalf("password step of %s from %s = %d %s, want 200 mfa_required", name, ip, resp.StatusCode, body)
	}
	return c
}

// walkCodeFrom sends a TOTP code as the second step of c's pending login
// on g from address ip and returns the status.
func walkCodeFrom(t *testing.T, g *testutil.Instance, c *http.Client, ip, code string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"method": "totp", "code": code})
	resp, _ := do(t, c, "POST", g.URL+"/auth/login/mfa", string(b), "Content-Type", "application/json", "X-Forwarded-For", ip)
	return resp.StatusCode
}

// Someone who holds alice's password guesses her TOTP code with a fresh
// pending login for every guess, from four addresses, on two instances
// that count in one Redis (contract §9: wrong codes count in the login
// throttle; docs/security.md: N per account and address, 4 × N per
// account). Each address gets N guesses (then its password step is
// refused too); after 4 × N the account is locked everywhere: alice's own
// right code from an address that never failed, on either instance, gets
// 429, as does her password from another one, until the lock runs out.
func TestTOTPGuessesSpreadOverLoginsAddressesAndInstancesLockTheAccount(t *testing.T) {
	const max = 1 // login.max_failures: N
	dir := t.TempDir()
	clock := testutil.NewClock()
	redisURL, prefix := redistest.New(t)
	shared := func(c *config.Config) {
		c.Store = "sqlite://" + filepath.Join(dir, "shared.db")
		c.Keys.EncryptionKey = encryptionKey
		c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
		c.Login.MaxFailures = max
	}
	instances := []*testutil.Instance{
		testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared)),
		testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared)),
	}
	a := instances[0]
	a.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, a, "alice")
	const owner = "203.0.113.50"
	alice := walkPendingFrom(t, instances[1], "alice", owner) // her own login, begun before the guessing

	good := mfatest.TOTPCode(t, secret, clock.Now())
	guesses := 0
	for i := range 4 {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		for k := range max {
			g := instances[(i+k)%2]
			guesses++
			if got := walkCodeFrom(t, g, walkPendingFrom(t, g, "alice", ip), ip, wrongCode(good)); got != http.StatusUnauthorized {
				t.Fatalf("wrong code #%d (from %s, instance %d, a fresh pending login) = %d, want 401", guesses, ip, (i+k)%2, got)
			}
		}
		// The address has had its N codes in a row: the password from
		// there is refused too, on the other instance as well.
		if resp, body := loginJSON(t, testutil.Client(t), instances[(i+1)%2].URL, "alice", strongPassword, "X-Forwarded-For", ip); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("password from %s after %d wrong codes from there = %d %s, want 429", ip, max, resp.StatusCode, body)
		}
	}
	for n, g := range instances {
		if got := walkCodeFrom(t, g, alice, owner, good); got != http.StatusTooManyRequests {
			t.Fatalf("alice's right code from %s on instance %d after %d wrong codes of her account elsewhere = %d, want 429", owner, n, guesses, got)
		}
	}
	if resp, body := loginJSON(t, testutil.Client(t), a.URL, "alice", strongPassword, "X-Forwarded-For", "192.0.2.7"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's password from an address that never failed, account locked = %d %s, want 429", resp.StatusCode, body)
	}

	// The lock runs out (at most login.window): then she signs in.
	clock.Advance(a.Config.Login.Window.D() + time.Second)
	c := walkPendingFrom(t, instances[1], "alice", owner)
	if got := walkCodeFrom(t, a, c, owner, mfatest.TOTPCode(t, secret, clock.Now())); got != http.StatusOK {
		t.Fatalf("right code after the lock ran out = %d, want 200", got)
	}
}

// An assertion is bound to the challenge of its own ceremony: signed for
// one ceremony (a victim's) and sent with the cookie of another ceremony
// of the same user (an attacker's, passwordless or after alice's
// password), it is refused with 401 and no session; the victim's own
// ceremony still takes it.
func TestPasskeyAssertionOfAnotherCeremonyRefused(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	a := securityKey()
	key := registerPasskey(t, g, signedIn(t, g, "alice"), a, "key")
	tests := []struct {
		name  string
		start func(t *testing.T) *http.Client // a browser ready to begin
	}{
		{"passwordless", func(t *testing.T) *http.Client { return testutil.Client(t) }},
		{"second factor", func(t *testing.T) *http.Client { c, _ := pendingLogin(t, g, "alice"); return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim, attacker := tt.start(t), tt.start(t)
			victimOpts := passkeyBegin(t, g, victim, nil)
			passkeyBegin(t, g, attacker, nil)
			assertion := a.Get(t, victimOpts, key)
			if resp, body := passkeyFinish(t, g, attacker, assertion); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("an assertion for another ceremony = %d %s, want 401", resp.StatusCode, body)
			}
			if resp, _ := do(t, attacker, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("/auth/session of the attacker = %d, want 401", resp.StatusCode)
			}
			if resp, body := passkeyFinish(t, g, victim, assertion); resp.StatusCode != http.StatusOK {
				t.Fatalf("the same assertion in its own ceremony = %d %s, want 200", resp.StatusCode, body)
			}
		})
	}
}

// The audit trail and metrics of an authenticator app's life, as
// docs/mfa.md lists them: mfa.failed (reason wrong_code, enrolment=true)
// for a wrong confirmation code, mfa.enrolled (method totp), mfa.recovery_codes
// (enrolment=true for the codes the form's confirmation shows), mfa.failed
// (reason wrong_code, no enrolment) for a wrong TOTP and a wrong recovery
// code at the login's second step, login.ok with method
// recovery and the amr, mfa.recovery_codes for a new set, mfa.removed
// (method totp); gatehouse_mfa_total by method and outcome. No event and
// no log line carries the secret or a code.
func TestTOTPAndRecoveryCodeAuditTrail(t *testing.T) {
	g := mfaInstance(t)
	u := g.CreateUser(t, "alice", strongPassword)
	form := "application/x-www-form-urlencoded"

	c := signedIn(t, g, "alice")
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", form)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("enrolment page = %d, no secret: %s", resp.StatusCode, body)
	}
	secret := m[1]
	right := mfatest.TOTPCode(t, secret, g.Clock.Now())
	wrong := wrongCode(right)
	if resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", url.Values{"code": {wrong}}.Encode(), "Content-Type", form); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("confirmation with a wrong code = %d %s, want 401", resp.StatusCode, body)
	}
	confirm := url.Values{"code": {right}}
	resp, body = do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", confirm.Encode(), "Content-Type", form)
	var codes []string
	for _, m := range regexp.MustCompile(`<li><code>([^<]+)</code></li>`).FindAllStringSubmatch(body, -1) {
		codes = append(codes, m[1])
	}
	if resp.StatusCode != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirmation = %d with %d recovery codes, want 200 and 10", resp.StatusCode, len(codes))
	}
	g.Clock.Advance(time.Minute)

	p, _ := pendingLogin(t, g, "alice")
	good := mfatest.TOTPCode(t, secret, g.Clock.Now())
	for _, in := range []map[string]string{{"method": "totp", "code": wrongCode(good)}, {"method": "recovery", "code": "aaaa-bbbb-cccc-dddd"}} {
		if resp, body := postJSON(t, p, g.URL+"/auth/login/mfa", in); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong %s code = %d %s, want 401", in["method"], resp.StatusCode, body)
		}
	}
	if resp, body := postJSON(t, p, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": codes[0]}); resp.StatusCode != http.StatusOK {
		t.Fatalf("recovery code = %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, p, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("new recovery codes = %d %s", resp.StatusCode, body)
	}
	for _, c := range decode(t, body)["codes"].([]any) {
		codes = append(codes, c.(string))
	}
	if resp, body := do(t, p, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /auth/mfa/totp = %d %s", resp.StatusCode, body)
	}

	type want struct {
		typ     string
		details map[string]string
	}
	// The wrong confirmation code first: the login's mfa.failed below
	// must not take its event.
	wants := []want{
		{audit.MFAFailed, map[string]string{"method": "totp", "reason": "wrong_code", "enrolment": "true"}},
		{audit.MFAEnrolled, map[string]string{"method": "totp"}},
		{audit.RecoveryCodes, map[string]string{"enrolment": "true"}},
		{audit.MFAFailed, map[string]string{"method": "totp", "reason": "wrong_code", "enrolment": ""}},
		{audit.MFAFailed, map[string]string{"method": "recovery", "reason": "wrong_code", "enrolment": ""}},
		{audit.LoginOK, map[string]string{"method": "recovery", "amr": "[pwd otp mfa]"}},
		{audit.RecoveryCodes, map[string]string{}},
		{audit.MFARemoved, map[string]string{"method": "totp"}},
	}
	evs, err := g.App.Store.ListAudit(t.Context(), audit.Filter{UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	used := make([]bool, len(evs))
	for _, w := range wants {
		found := false
		for i, ev := range evs {
			if used[i] || ev.Type != w.typ || ev.Username != "alice" {
				continue
			}
			match := w.typ != audit.RecoveryCodes || len(w.details) > 0 || ev.Details["enrolment"] == ""
			for k, v := range w.details {
				match = match && ev.Details[k] == v
			}
			if match {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s event with %v among alice's events: %+v", w.typ, w.details, evs)
		}
	}
	for _, ev := range evs {
		text := fmt.Sprint(ev.Details)
		// Six digits may turn up inside other text: the confirmation
		// codes are looked for as whole values.
		for k, v := range ev.Details {
			if v == wrong || v == right {
				t.Errorf("audit event %s carries a TOTP code in %s", ev.Type, k)
			}
		}
		for _, s := range append([]string{secret}, codes...) {
			if strings.Contains(text, s) || strings.Contains(text, strings.ReplaceAll(s, "-", "")) {
				t.Errorf("audit event %s carries a secret or code (%d characters)", ev.Type, len(s))
			}
		}
	}
	g.AssertLogsDoNotContain(t, append([]string{secret}, codes...)...)

	admin := httptest.NewServer(g.App.AdminHandler())
	t.Cleanup(admin.Close)
	_, metrics := do(t, testutil.Client(t), "GET", admin.URL+"/metrics", "")
	for _, w := range []string{
		`gatehouse_mfa_total{method="totp",outcome="failure"} 1`,
		`gatehouse_mfa_total{method="recovery",outcome="failure"} 1`,
		`gatehouse_mfa_total{method="recovery",outcome="success"} 1`,
	} {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}
