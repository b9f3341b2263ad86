package oidc_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

// The test provider's endpoints, by the end of their URL paths.
const (
	discoveryPath = "/.well-known/openid-configuration"
	keysPath      = "/keys"
	tokenPath     = "/oauth/token"
	userinfoPath  = "/userinfo"
)

// hostileEndpoint is gatehouse's HTTP client transport (Deps.HTTPClient)
// that sends the requests for one of the test provider's endpoints,
// chosen by the end of the URL path, to a loopback server of the test's
// own, and every other request to the provider. It counts the body bytes
// gatehouse read from its server.
type hostileEndpoint struct {
	suffix string
	srv    *httptest.Server
	read   atomic.Int64
}

// startHostileEndpoint serves the provider's endpoint ending in suffix
// with h from the test's own loopback server.
func startHostileEndpoint(t *testing.T, suffix string, h http.HandlerFunc) *hostileEndpoint {
	t.Helper()
	stop := make(chan struct{})
	he := &hostileEndpoint{suffix: suffix, srv: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop: // the test is over: a hanging handler lets go
			return
		default:
		}
		h(w, r.WithContext(stopContext(r.Context(), stop)))
	}))}
	t.Cleanup(func() { close(stop); he.srv.Close() })
	return he
}

// stopContext is ctx, also done when stop is closed.
func stopContext(ctx context.Context, stop <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		select {
		case <-stop:
		case <-ctx.Done():
		}
	}()
	return ctx
}

func (he *hostileEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, he.suffix) {
		return http.DefaultTransport.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.Host, out.Host = he.srv.Listener.Addr().String(), ""
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, n: &he.read}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// hugeBody is more than gatehouse may read of a provider's answer; a
// largeBody it reads, but must not log.
const (
	hugeBody  = 64 << 20
	largeBody = 512 << 10
)

// largeResponse answers status with size bytes of body, as a broken or
// hostile provider may.
func largeResponse(status, size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range size / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// hangingResponse never answers: a provider that accepted the connection
// and is stuck.
func hangingResponse(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// useHostileEndpoint makes he the transport of gatehouse's provider client
// (with timeout, 0 for none) and captures the handler's log.
func (e *env) useHostileEndpoint(he *hostileEndpoint, timeout time.Duration, edit func(*oidc.Provider)) *strings.Builder {
	e.t.Helper()
	var logs strings.Builder
	e.logs = &logs
	e.client = &http.Client{Transport: he, Timeout: timeout}
	e.configure(e.providerConfig(), edit)
	return &logs
}

// attemptLogin runs a login as far as it goes: the start page and every
// redirect up to and including gatehouse's callback. Unlike login it
// accepts a refusal at /start (discovery failed).
func (e *env) attemptLogin() response {
	e.t.Helper()
	resp := e.get(e.srv.URL + "/auth/oidc/corp/start?next=/")
	for range 10 {
		if resp.status != http.StatusFound || strings.HasPrefix(resp.location, e.srv.URL+"/auth/oidc/corp/callback") {
			break
		}
		resp = e.get(resp.location)
	}
	if resp.status == http.StatusFound {
		resp = e.get(resp.location) // the callback
	}
	return resp
}

// A provider's answer is read to at most 1 MiB, whichever endpoint sends
// it: a discovery document, key set or userinfo response of gigabytes was
// read whole into memory (go-oidc reads them with io.ReadAll). The body
// of a failed discovery or key fetch, which go-oidc puts into its error,
// stays out of the log line: it went there whole. The login ends with the
// 502 page.
func TestProviderResponseBodiesAreBounded(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		status   int
		size     int
		behave   oidctestop.Behaviour
		reason   string
	}{
		{"discovery document", discoveryPath, http.StatusOK, hugeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"discovery error page", discoveryPath, http.StatusServiceUnavailable, hugeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"discovery error page within the bound", discoveryPath, http.StatusServiceUnavailable, largeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"key set", keysPath, http.StatusOK, hugeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"key set within the bound", keysPath, http.StatusOK, largeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"key set error page", keysPath, http.StatusInternalServerError, hugeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"key set error page within the bound", keysPath, http.StatusInternalServerError, largeBody, oidctestop.Behaviour{}, "provider_unavailable"},
		{"userinfo", userinfoPath, http.StatusOK, hugeBody, oidctestop.Behaviour{ClaimsOnlyInUserinfo: true}, "userinfo_failed"},
		{"token response", tokenPath, http.StatusOK, hugeBody, oidctestop.Behaviour{}, "token_exchange_failed"},
		{"token error page", tokenPath, http.StatusInternalServerError, hugeBody, oidctestop.Behaviour{}, "token_exchange_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			he := startHostileEndpoint(t, tc.endpoint, largeResponse(tc.status, tc.size))
			logs := e.useHostileEndpoint(he, 0, nil)
			e.op.SetBehaviour(tc.behave)
			e.assertRefused(e.attemptLogin(), http.StatusBadGateway, tc.reason)
			if got, limit := he.read.Load(), int64(1<<20+1<<10); got > limit {
				t.Errorf("read %d bytes of the provider's answer, want at most %d", got, limit)
			}
			if got := logs.Len(); got > 16<<10 {
				t.Errorf("the log holds %d bytes, want the provider's answer left out of it", got)
			}
		})
	}
}

// A provider that accepts the connection and never answers ends the
// login with the 502 page when gatehouse's client gives up (15 s by
// default; TestDefaultProviderClientIsBounded), whichever call hangs: not
// a browser waiting for ever, nor a page that blames the user.
func TestHungProviderEndsTheLogin(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		behave   oidctestop.Behaviour
		reason   string
	}{
		{"discovery", discoveryPath, oidctestop.Behaviour{}, "provider_unavailable"},
		{"key set", keysPath, oidctestop.Behaviour{}, "provider_unavailable"},
		{"token endpoint", tokenPath, oidctestop.Behaviour{}, "token_exchange_failed"},
		{"userinfo", userinfoPath, oidctestop.Behaviour{ClaimsOnlyInUserinfo: true}, "userinfo_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			he := startHostileEndpoint(t, tc.endpoint, hangingResponse)
			e.useHostileEndpoint(he, 500*time.Millisecond, nil)
			e.op.SetBehaviour(tc.behave)
			resp := e.attemptLogin()
			e.assertRefused(resp, http.StatusBadGateway, tc.reason)
			if !strings.Contains(resp.body, "Please try again later") {
				t.Errorf("the page does not tell the user to try again later:\n%s", resp.body)
			}
		})
	}
}

// An ID token is verified against the keys the provider publishes (ES256
// here): one with alg none, or HS256 keyed with the client secret (which
// anyone holding the secret can mint), is refused even when the provider's
// discovery document advertises that algorithm (beside one that gatehouse
// accepts, so that the login starts), and the client secret, the code and
// the state appear in no log line, audit event or page.
func TestCallbackRefusesUnsignedOrSymmetricIDToken(t *testing.T) {
	tests := []struct {
		name string
		alg  string
		algs []string // the discovery document's id_token_signing_alg_values_supported; nil keeps ES256
	}{
		{"alg none", "none", nil},
		{"alg none, advertised", "none", []string{"ES256", "none"}},
		{"alg none, advertised beside RS256", "none", []string{"RS256", "none"}},
		{"HS256 with the client secret", "HS256", nil},
		{"HS256 with the client secret, advertised", "HS256", []string{"ES256", "HS256"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newBehavingEnv(t, oidctestop.Behaviour{IDTokenAlg: tc.alg, SigningAlgs: tc.algs})
			cb := e.begin("corp", "/")
			secrets := []string{e.op.ClientSecret(), cb.Query().Get("code"), cb.Query().Get("state")}
			for _, c := range e.stateCookies() {
				secrets = append(secrets, c.Value)
			}
			resp := e.get(cb.String())
			e.assertRefused(resp, http.StatusBadRequest, "id_token_invalid")
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
			e.assertNothingSecretRecorded(logs.String()+resp.body, secrets...)
		})
	}
}

// Only a key the provider publishes verifies an ID token: one signed with
// the provider's algorithm by a key it does not publish — under the kid of
// its published key, or under a kid of its own, which makes gatehouse fetch
// the provider's keys again (key rotation) — is refused as invalid, not
// taken for an outage of the provider's keys, and starts no session.
func TestCallbackRefusesIDTokenSignedByAnotherKey(t *testing.T) {
	for _, tc := range []struct{ name, kid string }{
		{"the published key's kid", ""},
		{"a kid the provider does not publish", "forger-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newBehavingEnv(t, oidctestop.Behaviour{IDTokenForeignKey: true, IDTokenForeignKeyID: tc.kid})
			e.assertRefused(e.login("/"), http.StatusBadRequest, "id_token_invalid")
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
		})
	}
}

// newBehavingEnv is newEnv with the provider configured, behaving as b,
// and its log kept.
func newBehavingEnv(t *testing.T, b oidctestop.Behaviour) (*env, *strings.Builder) {
	t.Helper()
	e := newEnv(t, nil)
	var logs strings.Builder
	e.logs = &logs
	e.configure(e.providerConfig(), nil)
	e.op.SetBehaviour(b)
	return e, &logs
}

// The ID token verifier takes from the discovery document's
// id_token_signing_alg_values_supported only the asymmetric algorithms
// gatehouse accepts. A provider that offers none of them (only HS256 or
// "none") cannot be used: the login start fails as for a provider that is
// down (502 provider_unavailable, audited), and the log line names the
// algorithms it offered. One that offers an accepted algorithm beside them
// works; one that names none is taken to sign with RS256 (OIDC Core
// 3.1.3.7), so the test provider's ES256 token is refused.
func TestDiscoveryKeepsOnlyAcceptedSigningAlgorithms(t *testing.T) {
	tests := []struct {
		name string
		algs []string // the discovery document's id_token_signing_alg_values_supported
		want string   // "unavailable", "login" or "id_token_invalid"
	}{
		{"only HS256", []string{"HS256"}, "unavailable"},
		{"only none", []string{"none"}, "unavailable"},
		{"HS256 and none", []string{"HS256", "none"}, "unavailable"},
		{"ES256 beside HS256 and none", []string{"HS256", "none", "ES256"}, "login"},
		{"none named: RS256", []string{}, "id_token_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newBehavingEnv(t, oidctestop.Behaviour{SigningAlgs: tc.algs})
			switch tc.want {
			case "unavailable":
				e.assertRefused(e.get(e.srv.URL+"/auth/oidc/corp/start"), http.StatusBadGateway, "provider_unavailable")
				if offered := "id_token_signing_alg_values_supported: " + strings.Join(tc.algs, ", ") + ")"; !strings.Contains(logs.String(), offered) {
					t.Errorf("the log does not name the algorithms offered (%q):\n%s", offered, logs.String())
				}
			case "login":
				if resp := e.login("/"); resp.status != http.StatusSeeOther {
					t.Fatalf("login = %d, want 303 (body %q)", resp.status, resp.body)
				}
			default:
				e.assertRefused(e.login("/"), http.StatusBadRequest, tc.want)
			}
		})
	}
}

// assertNothingSecretRecorded fails when any secret is in text (a log or a
// page) or in the details of any stored audit event.
func (e *env) assertNothingSecretRecorded(text string, secrets ...string) {
	e.t.Helper()
	evs, err := e.store.ListAudit(context.Background(), audit.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range secrets {
		if s == "" {
			e.t.Fatal("empty secret to look for")
		}
		if strings.Contains(text, s) {
			e.t.Errorf("a secret (%d bytes) is in the log or page", len(s))
		}
		for _, ev := range evs {
			for k, v := range ev.Details {
				if strings.Contains(v, s) {
					e.t.Errorf("a secret is in audit event %s, detail %s", ev.Type, k)
				}
			}
		}
	}
}

// Token endpoint answers and callbacks that a broken provider sends, each
// with the status and reason docs/oidc.md ("Failures") gives it; the
// access token of an unusable answer is not logged.
func TestCallbackRefusesBrokenProviderAnswers(t *testing.T) {
	jsonAnswer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name     string
		endpoint string // "" keeps the provider's own
		answer   http.HandlerFunc
		behave   oidctestop.Behaviour
		callback func(cb *url.URL)
		status   int
		reason   string
	}{
		{name: "token response without an ID token", endpoint: tokenPath,
			answer: jsonAnswer(http.StatusOK, `{"access_token":"at-0123456789","token_type":"Bearer","expires_in":300}`),
			status: http.StatusBadGateway, reason: "id_token_missing"},
		{name: "token endpoint server error", endpoint: tokenPath,
			answer: jsonAnswer(http.StatusInternalServerError, `{"error":"server_error"}`),
			status: http.StatusBadGateway, reason: "token_exchange_failed"},
		{name: "token response that is not JSON", endpoint: tokenPath,
			answer: jsonAnswer(http.StatusOK, `<html>maintenance</html>`),
			status: http.StatusBadGateway, reason: "token_exchange_failed"},
		{name: "email claim not a string", behave: oidctestop.Behaviour{IDTokenClaims: map[string]any{"email": 42}},
			status: http.StatusBadGateway, reason: "id_token_claims"},
		{name: "userinfo error", endpoint: userinfoPath, answer: jsonAnswer(http.StatusUnauthorized, `{"error":"invalid_token"}`),
			behave: oidctestop.Behaviour{ClaimsOnlyInUserinfo: true}, status: http.StatusBadGateway, reason: "userinfo_failed"},
		{name: "callback with neither code nor error", callback: func(cb *url.URL) { setParam(cb, "code", "") },
			status: http.StatusBadRequest, reason: "code_missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var logs *strings.Builder
			if tc.endpoint != "" {
				logs = e.useHostileEndpoint(startHostileEndpoint(t, tc.endpoint, tc.answer), 0, nil)
			}
			e.op.SetBehaviour(tc.behave)
			cb := e.begin("corp", "/")
			if tc.callback != nil {
				tc.callback(cb)
			}
			resp := e.get(cb.String())
			e.assertRefused(resp, tc.status, tc.reason)
			if got := len(e.users()); got != 0 {
				t.Errorf("%d users created, want 0", got)
			}
			if logs != nil {
				e.assertNothingSecretRecorded(logs.String()+resp.body, "at-0123456789", e.op.ClientSecret())
			}
		})
	}
}

// A callback is good once: the same callback URL again in the same browser
// (back button, reload, a replay) finds no state cookie and is refused
// before its spent code reaches the provider; the session of the first
// stays the only one.
func TestCallbackReplayedInTheSameBrowser(t *testing.T) {
	e := newEnv(t, nil)
	cb := e.begin("corp", "/app/")
	if resp := e.get(cb.String()); resp.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d, want 303 (body %q)", resp.status, resp.body)
	}
	resp := e.get(cb.String())
	if got, want := resp.status, http.StatusBadRequest; got != want {
		t.Errorf("replayed callback: %d, want %d", got, want)
	}
	if got, want := e.lastFailure(), "state_cookie_missing"; got != want {
		t.Errorf("reason = %q, want %q", got, want)
	}
	if got := len(e.sessionUsers()); got != 1 {
		t.Errorf("%d sessions, want only the first login's", got)
	}
}

// docs/oidc.md, step 3: if every username candidate is taken, 403
// username_unavailable and no account; the page says an administrator can
// link the account to an existing user, and names its subject.
func TestNewUserWithEveryUsernameTaken(t *testing.T) {
	e := newEnv(t, nil)
	for _, name := range []string{"alice", "alice@corp.example", "corp-a1b2c3d4"} {
		e.createLocalUser(name, false)
	}
	resp := e.login("/")
	e.assertRefused(resp, http.StatusForbidden, "username_unavailable")
	if got := len(e.users()); got != 3 {
		t.Errorf("%d users, want only the 3 local ones", got)
	}
	if !strings.Contains(resp.body, "an administrator can link it to an existing account") || !strings.Contains(resp.body, "<code>"+alice.Subject+"</code>") {
		t.Errorf("the page does not say an administrator can link the account, naming it:\n%s", resp.body)
	}
}

// The back-channel logout endpoint logs why it could not check a logout
// token, bounded like a login's failure: a key set fetch that failed with
// a large error page is a 503 (the provider retries), and the page stays
// out of the log.
func TestBackchannelLogoutLogOfAProviderFailureIsBounded(t *testing.T) {
	e := newEnv(t, withBackchannel)
	he := startHostileEndpoint(t, keysPath, largeResponse(http.StatusInternalServerError, largeBody))
	logs := e.useHostileEndpoint(he, 0, withBackchannel)
	if resp := e.sendLogout(e.op.NewLogoutToken(alice.Subject)); resp.status != http.StatusServiceUnavailable {
		t.Errorf("logout with the key set failing = %d %s, want 503", resp.status, resp.body)
	}
	if got := logs.Len(); got > 16<<10 {
		t.Errorf("the log holds %d bytes, want the provider's answer left out of it", got)
	}
}
