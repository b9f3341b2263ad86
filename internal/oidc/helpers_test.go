package oidc_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

var alice = oidctestop.User{
	Subject: "a1b2c3d4e5f6", PreferredUsername: "alice",
	Email: "alice@corp.example", EmailVerified: true, Name: "Alice",
}

// testStore is what the tests need of a main store (SQLite or PostgreSQL).
type testStore interface {
	user.Store
	user.IdentityStore
	audit.Store
	session.Store
	oidc.LogoutStore
	Close() error
}

// env is gatehouse's OIDC endpoints on loopback, a real store (SQLite
// unless newEnvOn names another) with real sessions over it, a real test
// OpenID Provider and a browser (cookie jar, no auto-redirects).
type env struct {
	t           *testing.T
	op          *oidctestop.Provider
	srv         *httptest.Server
	store       testStore
	sessionMgr  *session.Manager
	userService *user.Service
	clock       *clocktest.Clock
	browser     *http.Client
	key         []byte
	mu          sync.Mutex
	h           *oidc.Handler
	sessions    []auth.User
	methods     []string
	sessionIDs  []string          // public IDs of the sessions started, in order
	sids        map[string]string // session ID -> the provider's sid at its login
	// secondStep, when set before configure, is Deps.SecondStep.
	secondStep func(w http.ResponseWriter, r *http.Request, u auth.User, method string, ps oidc.ProviderSession, next string) (string, error)
	// client, when set before configure, is Deps.HTTPClient.
	client *http.Client
	// logs, when set before configure, receives the handler's log.
	logs io.Writer
}

// newEnv starts everything with provider "corp" (create_users, roles
// [user]); edit adjusts the provider config, before adjusts the OP before
// the handler exists.
func newEnv(t *testing.T, edit func(*oidc.Provider)) *env {
	t.Helper()
	return newEnvOn(t, sqlitetest.New(t), edit)
}

// newEnvOn is newEnv on the store st.
func newEnvOn(t *testing.T, st testStore, edit func(*oidc.Provider)) *env {
	t.Helper()
	e := &env{t: t, store: st, clock: clocktest.New(time.Now()), key: make([]byte, 32), sids: map[string]string{}}
	e.sessionMgr = session.NewManager(st, session.WithClock(e.clock.Now))
	// Passwordless accounts only: the service never hashes here.
	e.userService = user.NewService(st, nil, user.WithIdentities(st), user.WithClock(e.clock.Now),
		user.WithAudit(audit.New(st, slog.New(slog.DiscardHandler), e.clock.Now)))
	_, _ = rand.Read(e.key)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/oidc/{name}/start", func(w http.ResponseWriter, r *http.Request) { e.handler().Start().ServeHTTP(w, r) })
	mux.HandleFunc("GET /auth/oidc/{name}/callback", func(w http.ResponseWriter, r *http.Request) { e.handler().Callback().ServeHTTP(w, r) })
	mux.HandleFunc("POST /auth/oidc/{name}/backchannel-logout", func(w http.ResponseWriter, r *http.Request) {
		e.handler().BackchannelLogout().ServeHTTP(w, r)
	})
	e.srv = httptest.NewServer(withTestRequest(mux))
	t.Cleanup(e.srv.Close)
	e.op = oidctestop.Start(t, oidctestop.WithRedirectURIs(e.srv.URL+"/auth/oidc/corp/callback"), oidctestop.WithUser(alice))
	e.newBrowser()
	e.configure(e.providerConfig(), edit)
	return e
}

// testClientIP and testRequestID are the request headers that give a
// test's request the client IP and request ID that httpapi's middleware
// puts into a real request's context (audit.Request): the handler's audit
// events and log lines carry them.
const (
	testClientIP  = "X-Test-Client-IP"
	testRequestID = "X-Test-Request-ID"
)

// withTestRequest is next with the audit.Request of testClientIP and
// testRequestID, when the request sets either.
func withTestRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, id := r.Header.Get(testClientIP), r.Header.Get(testRequestID)
		if ip != "" || id != "" {
			r = r.WithContext(audit.WithRequest(r.Context(), &audit.Request{IP: ip, ID: id}))
		}
		next.ServeHTTP(w, r)
	})
}

// configure replaces the handler with one for p (after edit).
func (e *env) configure(p oidc.Provider, edit func(*oidc.Provider)) {
	e.t.Helper()
	if edit != nil {
		edit(&p)
	}
	e.configureProviders(p)
}

func (e *env) configureProviders(ps ...oidc.Provider) {
	e.t.Helper()
	logs := e.logs
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logs, nil))
	h, err := oidc.New(context.Background(), oidc.Deps{
		Providers: ps,
		PublicURL: e.srv.URL,
		Users:     e.userService,
		StartSession: func(w http.ResponseWriter, r *http.Request, u auth.User, method string) (oidc.StartedSession, error) {
			rec, err := e.sessionMgr.StartSession(w, r, u.ID, method)
			if err != nil {
				return oidc.StartedSession{}, err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.sessions = append(e.sessions, u)
			e.methods = append(e.methods, method)
			e.sessionIDs = append(e.sessionIDs, rec.ID)
			e.sids[rec.ID] = e.op.SessionID()
			return oidc.StartedSession{ID: rec.ID, ExpiresAt: rec.ExpiresAt}, nil
		},
		Logouts:    e.store,
		EndSession: e.sessionMgr.Revoke,
		SecondStep: e.secondStep,
		Audit:      audit.New(e.store, log, e.clock.Now),
		StateKey:   e.key,
		Now:        e.clock.Now,
		Logger:     log,
		HTTPClient: e.client,
	})
	if err != nil {
		e.t.Fatalf("oidc.New: %v", err)
	}
	e.mu.Lock()
	e.h = h
	e.mu.Unlock()
}

func (e *env) handler() *oidc.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.h
}

func (e *env) newBrowser() {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.browser = &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sessionUsers returns the users StartSession was called for.
func (e *env) sessionUsers() []auth.User {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]auth.User(nil), e.sessions...)
}

// response is a finished HTTP exchange.
type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (e *env) get(raw string) response {
	e.t.Helper()
	resp, err := e.browser.Get(raw)
	if err != nil {
		e.t.Fatalf("GET %s: %v", raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

// begin starts a login and follows the provider's redirects until they point
// back at gatehouse; it returns that callback URL, not yet visited.
func (e *env) begin(provider, next string) *url.URL {
	e.t.Helper()
	start := e.srv.URL + "/auth/oidc/" + provider + "/start?next=" + url.QueryEscape(next)
	resp := e.get(start)
	for range 10 {
		if resp.status != http.StatusFound && resp.status != http.StatusSeeOther {
			e.t.Fatalf("login flow stopped with %d: %s", resp.status, resp.body)
		}
		if strings.HasPrefix(resp.location, e.srv.URL+"/") {
			u, err := url.Parse(resp.location)
			if err != nil {
				e.t.Fatal(err)
			}
			return u
		}
		resp = e.get(resp.location)
	}
	e.t.Fatal("too many redirects")
	return nil
}

// login runs a whole login and returns the callback's response.
func (e *env) login(next string) response {
	e.t.Helper()
	return e.get(e.begin("corp", next).String())
}

// events returns the stored audit events of type typ, newest first.
func (e *env) events(typ string) []audit.Event {
	e.t.Helper()
	evs, err := e.store.ListAudit(context.Background(), audit.Filter{Type: typ})
	if err != nil {
		e.t.Fatalf("list audit: %v", err)
	}
	return evs
}

// lastFailure returns the reason of the newest oidc.failed audit event.
func (e *env) lastFailure() string {
	e.t.Helper()
	evs := e.events(audit.OIDCLoginFailed)
	if len(evs) == 0 {
		e.t.Fatal("no oidc.failed audit event")
	}
	return evs[0].Details["reason"]
}

func (e *env) users() []auth.User {
	e.t.Helper()
	us, err := e.store.ListUsers(context.Background())
	if err != nil {
		e.t.Fatalf("list users: %v", err)
	}
	return us
}

// stateCookies returns the browser's OIDC state cookies for gatehouse.
func (e *env) stateCookies() []*http.Cookie {
	u, _ := url.Parse(e.srv.URL + "/auth/oidc/corp/callback")
	var out []*http.Cookie
	for _, c := range e.browser.Jar.Cookies(u) {
		if strings.Contains(c.Name, "oidc") {
			out = append(out, c)
		}
	}
	return out
}

// assertRefused checks a failed login: the status, no session, a plain HTML
// page, and an oidc.failed audit event with reason.
func (e *env) assertRefused(resp response, status int, reason string) {
	e.t.Helper()
	if got, want := resp.status, status; got != want {
		e.t.Errorf("status = %d, want %d (body %q)", got, want, resp.body)
	}
	if got, want := resp.header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
		e.t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got := len(e.sessionUsers()); got != 0 {
		e.t.Errorf("%d sessions started, want none", got)
	}
	if got, want := e.lastFailure(), reason; got != want {
		e.t.Errorf("audit reason = %q, want %q", got, want)
	}
}

// secureHandler is a handler of one provider, corp, on an https
// public_url with secure (__Host-, Path=/) state cookies; it starts no
// real session.
func secureHandler(t *testing.T, e *env) *oidc.Handler {
	t.Helper()
	h, err := oidc.New(context.Background(), oidc.Deps{
		Providers: []oidc.Provider{{Name: "corp", Issuer: e.op.Issuer(), ClientID: "x"}},
		PublicURL: "https://gatehouse.example", Users: e.userService,
		StartSession: func(http.ResponseWriter, *http.Request, auth.User, string) (oidc.StartedSession, error) {
			return oidc.StartedSession{}, nil
		},
		StateKey:      e.key,
		SecureCookies: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
