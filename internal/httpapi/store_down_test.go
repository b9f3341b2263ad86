package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// outageDetail is in the error every read of a downStore returns: it must
// never reach a client.
const outageDetail = "sqlite: database is locked (test outage)"

// downStore is the real main store whose reads of users, sessions and
// clients fail with an auth.ErrUnavailable once down is set.
type downStore struct {
	app.MainStore
	down atomic.Bool
}

func (s *downStore) fail() error {
	if s.down.Load() {
		return fmt.Errorf("%w: %s", auth.ErrUnavailable, outageDetail)
	}
	return nil
}

func (s *downStore) Session(ctx context.Context, id string) (session.Record, error) {
	if err := s.fail(); err != nil {
		return session.Record{}, err
	}
	return s.MainStore.Session(ctx, id)
}

func (s *downStore) UserByName(ctx context.Context, name string) (auth.User, error) {
	if err := s.fail(); err != nil {
		return auth.User{}, err
	}
	return s.MainStore.UserByName(ctx, name)
}

func (s *downStore) UserByID(ctx context.Context, id string) (auth.User, error) {
	if err := s.fail(); err != nil {
		return auth.User{}, err
	}
	return s.MainStore.UserByID(ctx, id)
}

func (s *downStore) Client(ctx context.Context, id string) (client.Client, error) {
	if err := s.fail(); err != nil {
		return client.Client{}, err
	}
	return s.MainStore.Client(ctx, id)
}

// pageStyleNonce finds the nonce of a page's one inline style.
var pageStyleNonce = regexp.MustCompile(`<style nonce="([^"]+)">`)

// TestStoreDownAnswersInKindWithRetryAfter: with the store down, what
// needs it fails closed with 503 (contract §6) and Retry-After (RFC 9110
// §10.2.3, httperr.StoreRetry). A browser on one of gatehouse's pages, or
// on a gateway route that signs in with the session, gets an HTML page
// with the page headers and a sentence for a person, never the internal
// error; an API client gets {"error":"unavailable"}. The login page needs
// no store and is still served.
func TestStoreDownAnswersInKindWithRetryAfter(t *testing.T) {
	up := newUpstream(t)
	store := &downStore{}
	g := startApps(t, testutil.WithStore(func(s app.MainStore) app.MainStore { store.MainStore = s; return store }),
		testutil.WithConfig(func(c *config.Config) {
			c.Sessions.CacheTTL = 0 // every request reads the session
			c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
		}))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	authorize := "/auth/authorize?" + authzRequest("web", webCB, oauth2.GenerateVerifier()).Encode()
	login := url.Values{"username": {"alice"}, "password": {strongPassword}}.Encode()
	store.down.Store(true)

	tests := []struct {
		name, method, path, body, contentType string
		browser                               bool
		status                                int
	}{
		{"login page, browser", "GET", "/login", "", "", true, http.StatusOK},
		{"login page, API", "GET", "/login", "", "", false, http.StatusOK},
		{"login form, browser", "POST", "/auth/login", login, formType, true, http.StatusServiceUnavailable},
		{"login form, API", "POST", "/auth/login", login, formType, false, http.StatusServiceUnavailable},
		{"login JSON", "POST", "/auth/login", `{"username":"alice","password":"` + strongPassword + `"}`, "application/json", false, http.StatusServiceUnavailable},
		{"authorize, browser", "GET", authorize, "", "", true, http.StatusServiceUnavailable},
		{"authorize, API", "GET", authorize, "", "", false, http.StatusServiceUnavailable},
		{"account page, browser", "GET", "/account", "", "", true, http.StatusServiceUnavailable},
		{"account page, API", "GET", "/account", "", "", false, http.StatusServiceUnavailable},
		{"session gateway route, browser", "GET", "/app/orders", "", "", true, http.StatusServiceUnavailable},
		{"session gateway route, API", "GET", "/app/orders", "", "", false, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := []string{"Accept", "application/json"}
			if tt.browser {
				header = []string{"Accept", browserHTML}
			}
			if tt.contentType != "" {
				header = append(header, "Content-Type", tt.contentType)
			}
			resp, body := do(t, b, tt.method, g.URL+tt.path, tt.body, header...)
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Fatalf("status = %d %.300s, want %d", got, body, want)
			}
			if strings.Contains(body, outageDetail) {
				t.Errorf("the internal error reached the client: %.300s", body)
			}
			if seen := up.seen(); seen != nil {
				t.Errorf("%s reached the upstream with the store down", seen.URL.Path)
			}
			if tt.status != http.StatusServiceUnavailable {
				return
			}
			if got, want := resp.Header.Get("Retry-After"), httperr.RetryAfter(httperr.StoreRetry); got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
			if !tt.browser {
				if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
					t.Errorf("Content-Type = %q, want %q", got, want)
				}
				if got, want := body, `{"error":"unavailable"}`+"\n"; got != want {
					t.Errorf("body = %q, want %q", got, want)
				}
				return
			}
			nonce := pageStyleNonce.FindStringSubmatch(body)
			if nonce == nil || !strings.Contains(body, "<html") {
				t.Fatalf("browser got Content-Type %q, body %.300s; want an HTML page", resp.Header.Get("Content-Type"), body)
			}
			page := http.Header{}
			httperr.PageHeaders(page)
			page.Set("Content-Security-Policy", httperr.CSP(nonce[1]))
			for k := range page {
				if got, want := resp.Header.Get(k), page.Get(k); got != want {
					t.Errorf("%s = %q, want %q (httperr.PageHeaders)", k, got, want)
				}
			}
			if !strings.Contains(body, "try again in a moment") {
				t.Errorf("page does not tell the user to try again: %.600s", body)
			}
		})
	}
	if !errors.Is(store.fail(), auth.ErrUnavailable) {
		t.Fatal("the store was not down")
	}
}

// TestReadyzUnavailableCarriesRetryAfter: /readyz's 503, like every other
// 503 gatehouse writes, says when to ask again (RFC 9110 §10.2.3): a
// serving instance whose Redis stopped answering httperr.StoreRetry, one
// still waiting for its stores at start the wait until they are tried
// again, as its other 503s (httpapi.Waiting).
func TestReadyzUnavailableCarriesRetryAfter(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Redis.URL, c.Redis.KeyPrefix = proxy.URL(), prefix
		c.Sessions.Store = "redis"
	}))
	proxy.Stop()
	waiting := httptest.NewServer(httpapi.Waiting(httpapi.Deps{Ready: func(context.Context) []string { return []string{"store"} }},
		func() time.Duration { return 2500 * time.Millisecond }))
	t.Cleanup(waiting.Close)
	tests := []struct {
		name, base, part, retry string
	}{
		{"serving, Redis down", g.URL, "redis", httperr.RetryAfter(httperr.StoreRetry)},
		{"waiting for the stores at start", waiting.URL, "store", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "GET", tt.base+"/readyz", "")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"`+tt.part+`"`) {
				t.Fatalf("/readyz = %d %s, want 503 naming %q", resp.StatusCode, body, tt.part)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retry {
				t.Errorf("Retry-After = %q, want %q", got, tt.retry)
			}
		})
	}
}
