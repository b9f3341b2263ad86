package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const cookieName = "gatehouse"

var (
	alice = auth.Principal{Subject: "u-alice", Username: "alice", Roles: []string{"user"}}
	guest = auth.Principal{Subject: "u-guest", Username: "guest", Roles: []string{"guest"}}
	root  = auth.Principal{Subject: "u-root", Username: "root", Roles: []string{"admin", "user"}}
	// second passed a password and a second factor.
	second = auth.Principal{Subject: "u-second", Username: "second", Roles: []string{"user"}, AMR: []string{"pwd", "otp", "mfa"}}
	// passkey signed in without a password: a passkey that verified its
	// user (contract §9's passwordless amr), two factors in one.
	passkey = auth.Principal{Subject: "u-passkey", Username: "passkey", Roles: []string{"user"}, AMR: []string{"hwk", "user"}}
)

// outcomes maps a credential value (cookie value or bearer token) to what an
// honest authenticator would answer for it.
func outcome(value string) (auth.Principal, error) {
	switch strings.TrimPrefix(strings.TrimPrefix(value, "sess-"), "tok-") {
	case "alice":
		return alice, nil
	case "guest":
		return guest, nil
	case "root":
		return root, nil
	case "second":
		return second, nil
	case "passkey":
		return passkey, nil
	case "scoped": // an application's token with scope orders:read
		return auth.Principal{Subject: "u-alice", Username: "alice", Roles: []string{"user"}, Scope: "openid orders:read"}, nil
	case "badrole": // a role stored before auth.CheckRoles refused controls
		return auth.Principal{Subject: "u-badrole", Username: "badrole", Roles: []string{"user", "a\x01b"}}, nil
	case "expired":
		return auth.Principal{}, fmt.Errorf("check credential: %w: %w", auth.ErrUnauthenticated, auth.ErrExpired)
	case "revoked":
		return auth.Principal{}, fmt.Errorf("check credential: %w: %w", auth.ErrUnauthenticated, auth.ErrRevoked)
	case "down":
		return auth.Principal{}, fmt.Errorf("load credential: %w", auth.ErrUnavailable)
	}
	return auth.Principal{}, fmt.Errorf("check credential: %w", auth.ErrUnauthenticated)
}

// fakeSessions accepts session cookies named "sess-<who>".
type fakeSessions struct{}

func (fakeSessions) AuthenticateSession(r *http.Request) (auth.Principal, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || !strings.HasPrefix(c.Value, "sess-") {
		return auth.Principal{}, fmt.Errorf("no session: %w", auth.ErrUnauthenticated)
	}
	p, err := outcome(c.Value)
	p.Method = auth.MethodSession
	return p, err
}

// fakeTokens accepts bearer tokens named "tok-<who>".
type fakeTokens struct{}

func (fakeTokens) Verify(_ context.Context, raw string) (auth.Principal, error) {
	if !strings.HasPrefix(raw, "tok-") {
		return auth.Principal{}, fmt.Errorf("parse token: %w", auth.ErrUnauthenticated)
	}
	p, err := outcome(raw)
	p.Method = auth.MethodToken
	return p, err
}

// fakeIssuer mints readable "internal JWTs" so tests can see what was asked.
type fakeIssuer struct{ err error }

func (f fakeIssuer) IssueInternal(p auth.Principal, audience string, ttl time.Duration) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	return fmt.Sprintf("internal.%s.%s.%s", p.Subject, audience, ttl), nil
}

// seen is what an upstream observed of one request.
type seen = testutil.Seen

// upstream is a loopback server that records every request.
type upstream struct{ *testutil.Upstream }

func newUpstream(t *testing.T) *upstream { return &upstream{testutil.StartUpstream(t)} }

func (u *upstream) count() int { return u.Count() }

// last returns the most recent request; the test fails if there was none.
func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	reqs := u.Since(0)
	if len(reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return reqs[len(reqs)-1]
}

func route(name, prefix, auth, upstreamURL string, roles ...string) config.Route {
	return config.Route{Name: name, Match: config.RouteMatch{PathPrefix: prefix}, Upstream: upstreamURL, Auth: auth, Roles: roles}
}

func loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

func notLoopback() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }

func deps() gateway.Deps {
	return gateway.Deps{
		Sessions:       fakeSessions{},
		Tokens:         fakeTokens{},
		Internal:       fakeIssuer{},
		CookieName:     cookieName,
		TrustedProxies: loopback(),
	}
}

// serve builds a Gateway and serves it, with its verify handler at
// /auth/verify and below, on a loopback server.
func serve(t testing.TB, routes []config.Route, d gateway.Deps) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	g, err := gateway.New(routes, d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(g.Close)
	verify := g.VerifyHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, gateway.VerifyPath) {
			verify.ServeHTTP(w, r)
			return
		}
		g.ServeHTTP(w, r) // not through the mux: it would clean paths before the gateway sees them
	}))
	t.Cleanup(srv.Close)
	return g, srv
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	Body string
}

// do sends a request built by the caller through the plain client (no
// redirects followed).
func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return reply{resp, string(b)}
}

func newRequest(t *testing.T, method, url string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

// raw sends target byte for byte as the request-target, so that paths reach
// the gateway exactly as an attacker would spell them.
func raw(t *testing.T, srv *httptest.Server, method, target string, header ...string) reply {
	t.Helper()
	resp, body := testutil.RawRequest(t, srv.Listener.Addr().String(), method, target, header...)
	return reply{resp, body}
}

func wantJSONError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if got := r.StatusCode; got != status {
		t.Fatalf("status = %d, want %d (body %q)", got, status, r.Body)
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(r.Body), `{"error":"`+code+`"}`; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func slogText(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func containsLine(log, s string) bool { return strings.Contains(log, s) }
