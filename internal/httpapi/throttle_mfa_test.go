package httpapi_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// throttledInstance is an MFA instance with login.max_failures = max and
// no per-client cap on logins in flight, so that only the login throttle
// stands between parallel guesses and the code check; withRedis, its
// counters live in Redis (as for several instances), else in memory.
func throttledInstance(t *testing.T, max int, withRedis bool) *testutil.Instance {
	t.Helper()
	redisURL, prefix := "", ""
	if withRedis {
		redisURL, prefix = redistest.New(t)
	}
	return mfaInstance(t, func(c *config.Config) {
		c.Login.MaxFailures = max
		c.Passwords.MaxPerClient = -1
		c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
	})
}

// postInParallel sends n copies of the JSON body v to u with c's cookies
// at once and counts the answers by status. The requests go out over n
// connections opened beforehand, so that they reach the server together
// rather than one connection setup apart.
func postInParallel(t *testing.T, g *testutil.Instance, c *http.Client, u string, v any, n int) map[int]int {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	t.Cleanup(tr.CloseIdleConnections)
	burst := &http.Client{Jar: c.Jar, Timeout: c.Timeout, CheckRedirect: c.CheckRedirect, Transport: tr}
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	together(n, func() { do(t, burst, "GET", g.URL+"/healthz", "") })
	together(n, func() {
		resp, _ := postJSON(t, burst, u, v)
		mu.Lock()
		statuses[resp.StatusCode]++
		mu.Unlock()
	})
	return statuses
}

// together runs f in n goroutines released at the same moment and waits
// for them.
func together(n int, f func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// wrongCode is a six-digit code that is not good.
func wrongCode(good string) string {
	if good == "000000" {
		return "111111"
	}
	return "000000"
}

// Wrong second-factor codes sent at once are each counted before they are
// checked (contract §9: wrong codes count in the login throttle; §3:
// max_failures, then backoff): at most max_failures of them reach the code
// check (401), the rest are refused unchecked (429), and then even the
// right code waits.
func TestParallelWrongCodesStopAtMaxFailures(t *testing.T) {
	const max, n = 3, 30
	tests := []struct {
		name string
		// run sends n wrong codes at once and returns the statuses and a
		// request with the right code.
		run func(t *testing.T, g *testutil.Instance) (statuses map[int]int, right func() int)
	}{
		{"SecondStep", func(t *testing.T, g *testutil.Instance) (map[int]int, func() int) {
			g.CreateUser(t, "alice", strongPassword)
			secret := enrolTOTP(t, g, "alice")
			c, _ := pendingLogin(t, g, "alice")
			good := mfatest.TOTPCode(t, secret, g.Clock.Now())
			statuses := postInParallel(t, g, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": wrongCode(good)}, n)
			return statuses, func() int {
				resp, _ := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": good})
				return resp.StatusCode
			}
		}},
		{"EnrolmentConfirmation", func(t *testing.T, g *testutil.Instance) (map[int]int, func() int) {
			g.CreateUser(t, "alice", strongPassword)
			c := signedIn(t, g, "alice")
			resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
			if resp.StatusCode != 200 {
				t.Fatalf("POST /auth/mfa/totp = %d %s", resp.StatusCode, body)
			}
			good := mfatest.TOTPCode(t, decode(t, body)["secret"].(string), g.Clock.Now())
			statuses := postInParallel(t, g, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": wrongCode(good)}, n)
			return statuses, func() int {
				resp, _ := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": good})
				return resp.StatusCode
			}
		}},
	}
	for _, withRedis := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(map[bool]string{false: "Memory", true: "Redis"}[withRedis]+"/"+tt.name, func(t *testing.T) {
				g := throttledInstance(t, max, withRedis)
				statuses, right := tt.run(t, g)
				checked, refused := statuses[http.StatusUnauthorized], statuses[http.StatusTooManyRequests]
				if checked > max || checked == 0 || checked+refused != n {
					t.Fatalf("%d wrong codes at once with max_failures %d: statuses %v; want 1..%d checked (401), the rest 429",
						n, max, statuses, max)
				}
				// The clock stands still: the lock of the last failure holds.
				if got := right(); got != http.StatusTooManyRequests {
					t.Fatalf("right code after %d wrong ones = %d, want 429", checked, got)
				}
			})
		}
	}
}

// A correct password does not clear the count of wrong second-factor
// attempts (contract §9: they count in the login throttle; §3:
// max_failures per account and IP, then backoff). Someone who holds the
// password and gives it again before every guess still gets max_failures
// guesses from one address, not about four times as many (until the
// account-wide limit); the password step itself stays open.
func TestPasswordSuccessKeepsSecondFactorFailures(t *testing.T) {
	const max = 3
	passwordSteps := []struct {
		name string
		// step gives alice's right password, with c's cookies.
		step func(t *testing.T, g *testutil.Instance, c *http.Client)
	}{
		{"Login", func(t *testing.T, g *testutil.Instance, c *http.Client) {
			resp, body := loginJSON(t, c, g.URL, "alice", strongPassword)
			if resp.StatusCode != 200 || decode(t, body)["mfa_required"] != true {
				t.Fatalf("password step = %d %s, want 200 mfa_required", resp.StatusCode, body)
			}
		}},
		{"PasswordGrant", func(t *testing.T, g *testutil.Instance, _ *http.Client) {
			resp, m := tokenRequest(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}})
			if resp.StatusCode != 400 || m["error_description"] != "mfa_required" {
				t.Fatalf("password grant = %d %v, want 400 mfa_required", resp.StatusCode, m)
			}
		}},
	}
	factors := []struct {
		name string
		// enrol gives alice the factor and returns a wrong attempt with
		// it, sent with c's pending login, and its status.
		enrol func(t *testing.T, g *testutil.Instance) (guess func(c *http.Client) int)
	}{
		{"TOTP", func(t *testing.T, g *testutil.Instance) func(*http.Client) int {
			good := mfatest.TOTPCode(t, enrolTOTP(t, g, "alice"), g.Clock.Now())
			return func(c *http.Client) int {
				resp, _ := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": wrongCode(good)})
				return resp.StatusCode
			}
		}},
		{"RecoveryCode", func(t *testing.T, g *testutil.Instance) func(*http.Client) int {
			enrolTOTP(t, g, "alice")
			return func(c *http.Client) int {
				resp, _ := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": "aaaaa-bbbbb"})
				return resp.StatusCode
			}
		}},
		{"Passkey", func(t *testing.T, g *testutil.Instance) func(*http.Client) int {
			key := registerPasskey(t, g, signedIn(t, g, "alice"), securityKey(), "key")
			evil := securityKey()
			evil.Origin = "http://evil.localhost:8099"
			return func(c *http.Client) int {
				resp, opts := postJSON(t, c, g.URL+"/auth/webauthn/login/begin", map[string]any{})
				if resp.StatusCode != 200 {
					return resp.StatusCode
				}
				resp, _ = passkeyFinish(t, g, c, evil.Get(t, []byte(opts), key))
				return resp.StatusCode
			}
		}},
	}
	for _, f := range factors {
		for _, p := range passwordSteps {
			t.Run(f.name+"/"+p.name, func(t *testing.T) {
				g := mfaInstance(t, func(c *config.Config) {
					c.Login.MaxFailures = max
					c.PublicURL = passkeyOrigin
				})
				g.CreateUser(t, "alice", strongPassword)
				guess := f.enrol(t, g)
				c, _ := pendingLogin(t, g, "alice")
				for i := 1; i <= max+1; i++ {
					p.step(t, g, c)
					want := http.StatusUnauthorized
					if i > max {
						want = http.StatusTooManyRequests
					}
					if got := guess(c); got != want {
						t.Fatalf("wrong attempt #%d, each after a right password, max_failures %d = %d, want %d", i, max, got, want)
					}
				}
			})
		}
	}
}
