package admin_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestHostileParameters sends query and path values an outside caller
// chooses freely — bytes that are not UTF-8, NUL, LIKE wildcards, SQL —
// to every listing and lookup, on SQLite and PostgreSQL. Each answers as
// for any other value it does not match (200 with what matches, 400 for a
// malformed filter, 404 for no such thing), the same on both stores: a
// value that is not UTF-8 or holds NUL names nothing (404) and filters
// nothing (400), where PostgreSQL used to refuse the bytes with a 400 the
// SQLite store never gave.
func TestHostileParameters(t *testing.T) {
	stores := map[string]func(t *testing.T) testutil.Option{
		"sqlite": func(*testing.T) testutil.Option { return testutil.WithConfig(func(*config.Config) {}) },
		"postgres": func(t *testing.T) testutil.Option {
			dsn := pgtest.DSN(t)
			return testutil.WithConfig(func(c *config.Config) { c.Store = dsn })
		},
	}
	values := []string{"\xff", "a\x00b", "%_!", "' OR 1=1 --", strings.Repeat("é", 300), "a\u2028b"}
	for store, opt := range stores {
		t.Run(store, func(t *testing.T) {
			e := start(t, opt(t))
			admin := bearer(e.rootToken)
			for _, v := range values {
				q := url.QueryEscape(v)
				p := url.PathEscape(v)
				found := 200 // a filter value: what matches, or 400 for bytes no value can hold
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					found = 400
				}
				reqs := []struct {
					method, path string
					ok           []int
				}{
					{"GET", "/admin/api/v1/users?q=" + q, []int{found}},
					{"GET", "/admin/api/v1/users?after=" + q, []int{found}},
					{"GET", "/admin/api/v1/audit?user=" + q, []int{found}},
					{"GET", "/admin/api/v1/audit?type=" + q, []int{400}}, // not an event type
					{"GET", "/admin/api/v1/audit?before=" + q, []int{400}},
					{"GET", "/admin/api/v1/users/" + p, []int{404}},
					{"GET", "/admin/api/v1/users/" + p + "/factors", []int{404}},
					{"DELETE", "/admin/api/v1/users/alice/sessions/" + p, []int{404}},
					{"DELETE", "/admin/api/v1/users/alice/families/" + p, []int{404}},
					{"GET", "/admin/api/v1/clients/" + p, []int{404}},
					{"DELETE", "/admin/api/v1/clients/" + p, []int{404}},
					{"POST", "/admin/api/v1/clients/" + p + "/secret", []int{404}},
					{"GET", "/admin/users?q=" + q, []int{found}},
					{"GET", "/admin/audit?type=" + q, []int{400}},
					{"GET", "/admin/users/" + p, []int{404}},
					{"GET", "/admin/clients/" + p, []int{404}},
					{"POST", "/admin/users/alice/sessions/" + p + "/revoke", []int{404}},
				}
				for _, r := range reqs {
					h := admin
					if !strings.HasPrefix(r.path, "/admin/api/") {
						h = e.cookie(e.rootCookie)
					}
					resp, body := e.do(t, r.method, r.path, "", append([]string{"Sec-Fetch-Site", "same-origin"}, h...)...)
					if !slices.Contains(r.ok, resp.StatusCode) {
						t.Errorf("%s %s = %d %.200s, want %v", r.method, r.path, resp.StatusCode, body, r.ok)
					}
				}
			}
		})
	}
}
