package admin_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/openapitest"
)

// send is e.do for goroutines: it returns an error instead of failing the
// test, and checks the exchange against openapi.json as e.do does
// (openapitest reports a mismatch with Errorf, which goroutines may call).
func (e *env) send(t *testing.T, method, path, body string, header ...string) (int, string, error) {
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	c := &http.Client{Transport: openapitest.Transport(t, nil),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestLastAdminIsKept: deleting, disabling or demoting the last enabled
// administrator, through the API or the console, is refused with 409 and
// changes nothing; with a second enabled administrator (holding any of
// admin.roles) the same change goes through. A disabled administrator
// does not count: it cannot sign in.
func TestLastAdminIsKept(t *testing.T) {
	ctx := context.Background()
	ops := []struct {
		name         string
		method, path string
		body         string
		console      bool
		ok           int
	}{
		{"API delete", "DELETE", "/admin/api/v1/users/root", "", false, 204},
		{"API disable", "POST", "/admin/api/v1/users/root/disable", "", false, 200},
		{"API set roles to []", "PUT", "/admin/api/v1/users/root/roles", `{"roles":[]}`, false, 200},
		{"API set roles without an admin role", "PUT", "/admin/api/v1/users/root/roles", `{"roles":["user"]}`, false, 200},
		{"console delete", "POST", "/admin/users/root/delete", "", true, 303},
		{"console disable", "POST", "/admin/users/root/disable", "", true, 303},
		{"console set roles to none", "POST", "/admin/users/root/roles", url.Values{"roles": {""}}.Encode(), true, 303},
	}
	withOwnerRole := testutil.WithConfig(func(c *config.Config) { c.Admin.Roles = []string{"admin", "owner"} })
	setups := []struct {
		name    string
		opts    []testutil.Option
		setup   func(t *testing.T, e *env)
		refused bool
	}{
		{"only admin", nil, nil, true},
		{"other admin disabled", nil, func(t *testing.T, e *env) {
			e.CreateUser(t, "dave", pw, "admin")
			if _, err := e.App.Users.SetDisabled(ctx, "dave", true); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"other user without an admin role", []testutil.Option{withOwnerRole}, func(t *testing.T, e *env) {
			e.CreateUser(t, "dave", pw, "user", "ops")
		}, true},
		{"second enabled admin", nil, func(t *testing.T, e *env) { e.CreateUser(t, "dave", pw, "admin") }, false},
		{"second admin by another admin role", []testutil.Option{withOwnerRole}, func(t *testing.T, e *env) {
			e.CreateUser(t, "dave", pw, "owner")
		}, false},
	}
	for _, s := range setups {
		for _, op := range ops {
			t.Run(s.name+"/"+op.name, func(t *testing.T) {
				e := start(t, s.opts...)
				if s.setup != nil {
					s.setup(t, e)
				}
				h := bearer(e.rootToken)
				if op.console {
					h = append([]string{"Accept", "text/html", "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}, e.cookie(e.rootCookie)...)
				} else if op.body != "" {
					h = append(h, "Content-Type", "application/json")
				}
				if !s.refused {
					if resp, body := e.do(t, op.method, op.path, op.body, h...); resp.StatusCode != op.ok {
						t.Fatalf("status = %d, want %d:\n%s", resp.StatusCode, op.ok, body)
					}
					if u, err := e.App.Users.Get(ctx, "root"); err == nil && !u.Disabled && slices.Contains(u.Roles, "admin") {
						t.Errorf("root is still an enabled admin: %+v", u)
					}
					return
				}
				resp, body := e.do(t, op.method, op.path, op.body, h...)
				if resp.StatusCode != 409 {
					t.Fatalf("status = %d, want 409:\n%s", resp.StatusCode, body)
				}
				want := `"error":"conflict"`
				if op.console {
					want = "last enabled administrator"
				}
				if !strings.Contains(body, want) || !strings.Contains(body, "last enabled administrator") {
					t.Errorf("body does not say why (want %q):\n%s", want, body)
				}
				u, err := e.App.Users.Get(ctx, "root")
				if err != nil || u.Disabled || !slices.Contains(u.Roles, "admin") {
					t.Errorf("root after the refusal = %+v, %v; want it unchanged", u, err)
				}
				if resp, _ := e.do(t, "GET", "/admin/api/v1/users", "", bearer(e.rootToken)...); resp.StatusCode != 200 {
					t.Errorf("root can no longer administer: %d", resp.StatusCode)
				}
			})
		}
	}
}

// TestAdminsDemotingEachOtherKeepOne: two administrators who take each
// other's admin role at the same moment leave one of them an
// administrator; the other request is refused: 409, or 403 when it is
// authenticated after the first took its admin role (admin rights are
// read from the store on every request).
func TestAdminsDemotingEachOtherKeepOne(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.CreateUser(t, "dave", pw, "admin")
	daveToken := e.mfaToken(t, "dave")
	for round := range 5 {
		for _, name := range []string{"root", "dave"} {
			if _, err := e.App.Users.SetRoles(ctx, name, []string{"admin"}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		errs := make([]error, 2)
		for i, c := range []struct{ token, target string }{{e.rootToken, "dave"}, {daveToken, "root"}} {
			wg.Go(func() {
				statuses[i], _, errs[i] = e.send(t, "PUT", "/admin/api/v1/users/"+c.target+"/roles", `{"roles":[]}`,
					append(bearer(c.token), "Content-Type", "application/json")...)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(statuses)
		if statuses[0] != 200 || statuses[1] != 403 && statuses[1] != 409 {
			t.Errorf("round %d: statuses = %v, want one 200 and one 409 or 403", round, statuses)
		}
		admins := 0
		for _, name := range []string{"root", "dave"} {
			if u, err := e.App.Users.Get(ctx, name); err == nil && slices.Contains(u.Roles, "admin") {
				admins++
			}
		}
		if admins != 1 {
			t.Errorf("round %d: %d administrators left, want 1", round, admins)
		}
	}
}
