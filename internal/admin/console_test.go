package admin_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/admin"
	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func TestConsoleAccess(t *testing.T) {
	e := start(t)
	tests := []struct {
		name     string
		header   []string
		status   int
		location string
	}{
		{"no session goes to login", nil, 302, "/login?next=%2Fadmin%2Fusers%3Fq%3Dal"},
		{"non-admin gets a 403 page", e.cookie(e.aliceCookie), 403, ""},
		{"admin sees the page", e.cookie(e.rootCookie), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/admin/users?q=al", "", append([]string{"Accept", "text/html"}, tt.header...)...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.status == 302 {
				return
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Error("the page has a script")
			}
			if tt.status == 200 && (!strings.Contains(body, ">alice</a>") || strings.Contains(body, ">root</a>")) {
				t.Errorf("search for 'al' should list alice only:\n%s", body)
			}
		})
	}
}

func TestConsoleRevokeSessionAndExplain(t *testing.T) {
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
	}))
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	_, page := e.do(t, "GET", "/admin/users/alice", "", admin...)
	m := regexp.MustCompile(`action="(/admin/users/alice/sessions/[^"]+/revoke)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no revoke form on alice's page:\n%s", page)
	}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	if resp, _ := e.do(t, "POST", m[1], "", append(append([]string{"Sec-Fetch-Site", "cross-site"}, form...), admin...)...); resp.StatusCode != 403 {
		t.Fatalf("cross-site revoke = %d, want 403", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/app/x", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 200 {
		t.Fatalf("alice before revoke = %d", resp.StatusCode)
	}
	resp, _ := e.do(t, "POST", m[1], "", append(append([]string{"Sec-Fetch-Site", "same-origin"}, form...), admin...)...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/alice" {
		t.Fatalf("revoke = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.do(t, "GET", "/app/x", "", e.cookie(e.aliceCookie)...); resp.StatusCode != 401 {
		t.Errorf("alice after revoke = %d, want 401", resp.StatusCode)
	}

	q := url.Values{"method": {"GET"}, "url": {"/app/x"}, "cookie": {e.aliceCookie}}
	_, out := e.do(t, "POST", "/admin/explain", q.Encode(), append(append([]string{"Sec-Fetch-Site", "same-origin"}, form...), admin...)...)
	if !strings.Contains(out, `<code id="reason">invalid_session</code>`) {
		t.Errorf("explain page does not show invalid_session:\n%s", out)
	}
	if strings.Contains(out, e.aliceCookie) {
		t.Error("the explain page echoes the cookie")
	}
}

func TestConsolePages(t *testing.T) {
	e := start(t)
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	for path, want := range map[string]string{
		"/admin/":                    "",
		"/admin/keys":                "Rotate now",
		"/admin/audit?type=login.ok": "login.ok",
		"/admin/explain":             "Explain a decision",
		"/admin/users/root":          "Sign out everywhere",
	} {
		resp, body := e.do(t, "GET", path, "", admin...)
		if want == "" {
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users" {
				t.Errorf("%s = %d %q, want 303 to /admin/users", path, resp.StatusCode, resp.Header.Get("Location"))
			}
			continue
		}
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s = %d, want 200 with %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := e.do(t, "GET", "/admin/users/nobody", "", admin...); resp.StatusCode != 404 {
		t.Errorf("unknown user page = %d, want 404", resp.StatusCode)
	}
}

// TestOpenAPIDescribesEveryAdminEndpoint reads the patterns of api.go and
// console.go and requires each in httpapi's OpenAPI document.
func TestOpenAPIDescribesEveryAdminEndpoint(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for file, re := range map[string]string{"api.go": `api\("([A-Z]+) ([^"]+)"`, "console.go": `page\("([A-Z]+) ([^"]+)"`} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(string(src), -1) {
			path := strings.TrimSuffix(m[2], "{$}")
			if file == "api.go" {
				path = admin.Prefix + path
			}
			n++
			if _, ok := doc.Paths[path][strings.ToLower(m[1])]; !ok {
				t.Errorf("openapi.json lacks %s %s", m[1], path)
			}
		}
	}
	if n < 25 {
		t.Fatalf("found only %d patterns", n)
	}
}

// An administrator whose session has no second factor is sent to the
// step-up page (which offers enrolment to one without a factor) and, after
// the second step, gets the console.
func TestConsoleSendsAdminWithoutSecondFactorToStepUp(t *testing.T) {
	e := start(t)
	e.CreateUser(t, "dave", pw, "admin")
	dave := e.login(t, "dave")
	html := []string{"Accept", "text/html"}
	resp, _ := e.do(t, "GET", "/admin/users?q=a", "", append(html, e.cookie(dave)...)...)
	if got, want := resp.Header.Get("Location"), "/login/mfa?next=%2Fadmin%2Fusers%3Fq%3Da"; resp.StatusCode != 302 || got != want {
		t.Fatalf("console without a second factor = %d to %q, want 302 to %q", resp.StatusCode, got, want)
	}
	if resp, body := e.do(t, "GET", "/login/mfa?next=%2Fadmin%2Fusers", "", append(html, e.cookie(dave)...)...); resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/mfa/totp"`) {
		t.Fatalf("step-up page = %d, want the enrolment offer:\n%s", resp.StatusCode, body)
	}
	secret := e.enrolTOTP(t, dave)
	// Enrolment alone does not upgrade the session: the second step does.
	if resp, _ := e.do(t, "GET", "/admin/users", "", append(html, e.cookie(dave)...)...); resp.StatusCode != 302 {
		t.Fatalf("console after enrolment, before the second step = %d, want 302", resp.StatusCode)
	}
	e.clock.Advance(time.Minute)
	resp, body := e.do(t, "POST", "/auth/login/mfa", `{"method":"totp","code":"`+e.totp(t, secret)+`"}`, append([]string{"Content-Type", "application/json"}, e.cookie(dave)...)...)
	if resp.StatusCode != 200 {
		t.Fatalf("step-up = %d %s", resp.StatusCode, body)
	}
	stepped := e.cookieOf(t, resp, e.cookieName)
	if resp, _ := e.do(t, "GET", "/admin/users", "", append(html, e.cookie(stepped)...)...); resp.StatusCode != 200 {
		t.Errorf("console after the second step = %d, want 200", resp.StatusCode)
	}
}

// TestRolesNeedTheirValue: "Save roles" and PUT /users/{name}/roles
// replace the roles with the ones sent, so a request that sends none — a
// body the form parser does not read (text/plain, multipart, no body) or
// one without the roles field or member — is a 400 that changes nothing,
// not "no roles". Such a body used to clear every role of the user.
func TestRolesNeedTheirValue(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	carolRoles := func(t *testing.T) {
		t.Helper()
		if u, _ := e.App.Users.Get(ctx, "carol"); strings.Join(u.Roles, ",") != "user" {
			t.Errorf("carol's roles = %v, want [user]", u.Roles)
		}
	}
	tests := []struct {
		name, path, body string
		header           []string
	}{
		{"console, text/plain body", "/admin/users/carol/roles", "roles=admin", []string{"Content-Type", "text/plain"}},
		{"console, multipart body", "/admin/users/carol/roles", "--x\r\nContent-Disposition: form-data; name=\"roles\"\r\n\r\nadmin\r\n--x--\r\n",
			[]string{"Content-Type", "multipart/form-data; boundary=x"}},
		{"console, no body", "/admin/users/carol/roles", "", nil},
		{"console, no roles field", "/admin/users/carol/roles", "role=admin", []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"console, add user as text/plain", "/admin/users", "username=eve&password=x", []string{"Content-Type", "text/plain"}},
		{"API, no roles member", "/admin/api/v1/users/carol/roles", "{}", []string{"Content-Type", "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.App.Users.SetRoles(ctx, "carol", []string{"user"}); err != nil {
				t.Fatal(err)
			}
			method, cred := "POST", append([]string{"Sec-Fetch-Site", "same-origin", "Accept", "text/html"}, e.cookie(e.rootCookie)...)
			if strings.HasPrefix(tt.path, "/admin/api/") {
				method, cred = "PUT", bearer(e.rootToken)
			}
			// Not e.do: openapi.json describes no text/plain or multipart body.
			resp, body := e.doWith(t, testutil.Client(t), method, tt.path, tt.body, append(cred, tt.header...)...)
			if resp.StatusCode != 400 {
				t.Fatalf("= %d, want 400:\n%.600s", resp.StatusCode, body)
			}
			carolRoles(t)
		})
	}
	if resp, body := e.form(t, "/admin/users/carol/roles", url.Values{"roles": {""}}); resp.StatusCode != 303 {
		t.Fatalf("an empty roles field = %d, want 303 (it removes every role):\n%.600s", resp.StatusCode, body)
	}
	if u, _ := e.App.Users.Get(ctx, "carol"); len(u.Roles) != 0 {
		t.Errorf("after an empty roles field carol's roles = %v, want none", u.Roles)
	}
}

// form posts a same-origin console form as root.
func (e *env) form(t *testing.T, path string, v url.Values) (*http.Response, string) {
	t.Helper()
	return e.do(t, "POST", path, v.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin", "Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
}

func TestConsoleClients(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: "from-config", Type: "public", RedirectURIs: []string{"https://app.example.com/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	}))
	page := func(path string) string {
		t.Helper()
		resp, body := e.do(t, "GET", path, "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
		return body
	}
	if body := page("/admin/clients"); !strings.Contains(body, `href="/admin/clients/from-config"`) || !strings.Contains(body, `action="/admin/clients"`) {
		t.Fatalf("clients page lacks the config client or the add form:\n%s", body)
	}
	secretRe := regexp.MustCompile(`<code id="client-secret">([^<]+)</code>`)
	resp, body := e.form(t, "/admin/clients", url.Values{"client_id": {"svc"}, "type": {"confidential"}, "grant_types": {"client_credentials"}, "scopes": {"orders"}})
	m := secretRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("add = %d (Cache-Control %q), want the client page with its secret:\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	if body := page("/admin/clients/svc"); strings.Contains(body, m[1]) || strings.Contains(body, `id="client-secret"`) {
		t.Error("the client page shows the secret again")
	}
	resp, body = e.form(t, "/admin/clients/svc/secret", nil)
	if m2 := secretRe.FindStringSubmatch(body); resp.StatusCode != 200 || m2 == nil || m2[1] == m[1] {
		t.Fatalf("rotate = %d, want a new secret shown once:\n%s", resp.StatusCode, body)
	}
	if resp, _ := e.form(t, "/admin/clients/svc/delete", nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/clients" {
		t.Fatalf("delete = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if body := page("/admin/clients/from-config"); !strings.Contains(body, "Declared in the config file") || strings.Contains(body, "/delete") {
		t.Errorf("config client page offers changes:\n%s", body)
	}
	refusals := []struct {
		name, path string
		form       url.Values
		status     int
		text       string
	}{
		{"delete a config client", "/admin/clients/from-config/delete", nil, 409, "declared in the config file"},
		{"invalid client", "/admin/clients", url.Values{"client_id": {"web"}, "type": {"public"}, "grant_types": {"authorization_code"}, "redirect_uris": {"not a url"}}, 400, "redirect_uris[0]"},
		{"cross-site form", "", nil, 403, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			if tt.path == "" {
				resp, body = e.do(t, "POST", "/admin/clients", url.Values{"client_id": {"evil"}, "type": {"public"}}.Encode(),
					append([]string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, e.cookie(e.rootCookie)...)...)
			} else {
				resp, body = e.form(t, tt.path, tt.form)
			}
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.text) {
				t.Errorf("= %d, want %d with %q:\n%s", resp.StatusCode, tt.status, tt.text, body)
			}
		})
	}
}

// Every CLI user task as a console form: add, roles, password, second
// factors (list, reset), delete.
func TestConsoleUserForms(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	steps := []struct {
		name, path string
		form       url.Values
		location   string
		check      func(t *testing.T)
	}{
		{"add", "/admin/users", url.Values{"username": {"bob"}, "password": {pw}, "roles": {"user, ops"}}, "/admin/users/bob", func(t *testing.T) {
			if u, err := e.App.Users.Get(ctx, "bob"); err != nil || strings.Join(u.Roles, ",") != "ops,user" && strings.Join(u.Roles, ",") != "user,ops" {
				t.Errorf("bob = %+v, %v", u, err)
			}
		}},
		{"roles", "/admin/users/bob/roles", url.Values{"roles": {"dev"}}, "/admin/users/bob", func(t *testing.T) {
			if u, _ := e.App.Users.Get(ctx, "bob"); strings.Join(u.Roles, ",") != "dev" {
				t.Errorf("roles = %v, want [dev]", u.Roles)
			}
		}},
		{"password", "/admin/users/bob/password", url.Values{"password": {pw + " new"}}, "/admin/users/bob", func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"username": "bob", "password": pw + " new"})
			if resp, _ := e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json"); resp.StatusCode != 200 {
				t.Errorf("login with the new password = %d", resp.StatusCode)
			}
		}},
		{"mfa-reset", "/admin/users/bob/mfa-reset", nil, "/admin/users/bob", func(t *testing.T) {
			bob, _ := e.App.Users.Get(ctx, "bob")
			evs, _ := e.App.Store.ListAudit(ctx, audit.Filter{Type: audit.MFAReset, UserID: bob.ID})
			if len(evs) != 1 || evs[0].Details["actor"] != "root" {
				t.Errorf("mfa.reset events = %+v", evs)
			}
		}},
		{"delete", "/admin/users/bob/delete", nil, "/admin/users", func(t *testing.T) {
			if _, err := e.App.Users.Get(ctx, "bob"); err == nil {
				t.Error("bob still exists")
			}
		}},
	}
	for _, s := range steps {
		resp, body := e.form(t, s.path, s.form)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != s.location {
			t.Fatalf("%s = %d to %q, want 303 to %s:\n%s", s.name, resp.StatusCode, resp.Header.Get("Location"), s.location, body)
		}
		t.Run(s.name, s.check)
		if s.name == "add" {
			_, page := e.do(t, "GET", "/admin/users/bob", "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
			if !strings.Contains(page, `<td id="factor-totp">off</td>`) || !strings.Contains(page, "Reset second factors of bob") {
				t.Errorf("user page lacks the factors section:\n%s", page)
			}
		}
	}
	if resp, body := e.form(t, "/admin/users", url.Values{"username": {"weak"}, "password": {"short"}}); resp.StatusCode != 400 || !strings.Contains(body, "password") {
		t.Errorf("weak password = %d, want 400 saying why:\n%s", resp.StatusCode, body)
	}
}

// TestConsoleAccessMatrix runs every console page and form with no
// session (to /login), a non-admin session (403 page), an admin session
// without a second factor (to /login/mfa, admin.require_mfa) and one with
// it. "{n}" is the credential's index, so creating forms make fresh users
// and clients.
func TestConsoleAccessMatrix(t *testing.T) {
	e := start(t)
	routes := []struct {
		method, path string
		form         url.Values
		ok           int
	}{
		{"GET", "/admin/", nil, 303},
		{"GET", "/admin/users", nil, 200},
		{"POST", "/admin/users", url.Values{"username": {"new-{n}"}, "password": {pw}}, 303},
		{"GET", "/admin/users/new-{n}", nil, 200},
		{"POST", "/admin/users/new-{n}/disable", nil, 303},
		{"POST", "/admin/users/new-{n}/enable", nil, 303},
		{"POST", "/admin/users/new-{n}/logout", nil, 303},
		{"POST", "/admin/users/new-{n}/roles", url.Values{"roles": {"user"}}, 303},
		{"POST", "/admin/users/new-{n}/password", url.Values{"password": {pw + " new"}}, 303},
		{"POST", "/admin/users/new-{n}/mfa-reset", nil, 303},
		{"POST", "/admin/users/new-{n}/sessions/unknown/revoke", nil, 404},
		{"POST", "/admin/users/new-{n}/families/unknown/revoke", nil, 404},
		{"POST", "/admin/users/new-{n}/identities/unlink", url.Values{"issuer": {"https://idp.example"}, "subject": {"unknown"}}, 404},
		{"POST", "/admin/users/new-{n}/identities/link", url.Values{"provider": {"corp"}, "subject": {"x"}}, 400}, // no provider configured
		{"POST", "/admin/users/new-{n}/delete", nil, 303},
		{"GET", "/admin/clients", nil, 200},
		{"POST", "/admin/clients", url.Values{"client_id": {"x-{n}"}, "type": {"confidential"}, "grant_types": {"client_credentials"}}, 200},
		{"GET", "/admin/clients/x-{n}", nil, 200},
		{"POST", "/admin/clients/x-{n}/secret", nil, 200},
		{"POST", "/admin/clients/x-{n}/delete", nil, 303},
		{"GET", "/admin/audit", nil, 200},
		{"GET", "/admin/keys", nil, 200},
		{"POST", "/admin/keys/rotate", nil, 303},
		{"GET", "/admin/explain", nil, 200},
		{"POST", "/admin/explain", url.Values{"url": {"/x"}}, 200},
		{"GET", "/admin/nothing-here", nil, 404},
	}
	creds := []struct {
		name     string
		cookie   string
		status   int    // 0 = the route's own status
		location string // prefix of the redirect
	}{
		{"no session", "", 302, "/login?next="},
		{"non-admin", e.aliceCookie, 403, ""},
		{"admin without second factor", e.rootPwdCookie, 302, "/login/mfa?next="},
		{"admin with second factor", e.rootCookie, 0, ""},
	}
	for _, rt := range routes {
		for n, c := range creds {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				fill := strings.NewReplacer("{n}", strconv.Itoa(n)).Replace
				body := ""
				if rt.form != nil {
					v := url.Values{}
					for k, vs := range rt.form {
						for _, x := range vs {
							v.Add(k, fill(x))
						}
					}
					body = v.Encode()
				}
				h := []string{"Accept", "text/html", "Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded"}
				if c.cookie != "" {
					h = append(h, e.cookie(c.cookie)...)
				}
				resp, page := e.do(t, rt.method, fill(rt.path), body, h...)
				want := c.status
				if want == 0 {
					want = rt.ok
				}
				if resp.StatusCode != want {
					t.Fatalf("status = %d, want %d (Location %q)\n%s", resp.StatusCode, want, resp.Header.Get("Location"), page)
				}
				if c.location != "" && !strings.HasPrefix(resp.Header.Get("Location"), c.location) {
					t.Errorf("Location = %q, want %s…", resp.Header.Get("Location"), c.location)
				}
			})
		}
	}
}

// TestConsoleURLsOfHostileUsernames: a username may hold /, ?, #, % and
// dot segments (user.CheckName accepts them, and OIDC create_users takes
// preferred_username from the identity provider). Every form and link of
// the console must still reach that user once a browser resolves it:
// unescaped, the Disable button of "alice/delete#" posted to
// /admin/users/alice/delete and deleted alice.
func TestConsoleURLsOfHostileUsernames(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	hdr := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	actionRe := regexp.MustCompile(`action="([^"]*)"`)
	linkRe := regexp.MustCompile(`<a href="(/admin/users/[^"]*)">([^<]*)</a>`)
	// resolve is what a browser does with an action or href of the page at
	// base: HTML-unescape, resolve relative to the page, drop the fragment.
	resolve := func(t *testing.T, base *url.URL, ref string) *url.URL {
		t.Helper()
		u, err := base.Parse(html.UnescapeString(ref))
		if err != nil {
			t.Fatalf("%q does not parse: %v", ref, err)
		}
		u.Fragment, u.RawFragment = "", ""
		return u
	}
	for _, name := range []string{"alice/delete#", "alice?x=1", "alice%2Fdelete", "alice#top"} {
		t.Run(name, func(t *testing.T) {
			e.CreateUser(t, name, pw, "user")
			own := "/admin/users/" + url.PathEscape(name)
			base, err := url.Parse(e.URL + own)
			if err != nil {
				t.Fatal(err)
			}
			resp, page := e.do(t, "GET", base.RequestURI(), "", hdr...)
			if resp.StatusCode != 200 || !strings.Contains(page, "<h1>"+html.EscapeString(name)+"</h1>") {
				t.Fatalf("page of %q = %d:\n%s", name, resp.StatusCode, page)
			}
			var disable *url.URL
			for _, m := range actionRe.FindAllStringSubmatch(page, -1) {
				u := resolve(t, base, m[1])
				if !strings.HasPrefix(u.EscapedPath(), own+"/") || u.RawQuery != "" {
					t.Errorf("form action %q posts to %q, not below %q", m[1], u.RequestURI(), own)
				}
				if strings.HasSuffix(m[1], "/disable") {
					disable = u
				}
			}
			if disable == nil {
				t.Fatalf("no Disable form on the page of %q:\n%s", name, page)
			}
			resp, body := e.do(t, "POST", disable.RequestURI(), "", append([]string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}, hdr...)...)
			if resp.StatusCode != 303 || resp.Header.Get("Location") != own {
				t.Errorf("Disable = %d to %q, want 303 to %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), own, body)
			}
			for _, other := range []string{"alice", "carol"} {
				if u, err := e.App.Users.Get(ctx, other); err != nil || u.Disabled {
					t.Errorf("Disable of %q changed %s: %+v, %v", name, other, u, err)
				}
			}
			if u, err := e.App.Users.Get(ctx, name); err != nil || !u.Disabled {
				t.Errorf("%q after Disable = %+v, %v; want disabled", name, u, err)
			}

			listBase, _ := url.Parse(e.URL + "/admin/users")
			_, list := e.do(t, "GET", "/admin/users?q="+url.QueryEscape(name), "", hdr...)
			found := false
			for _, m := range linkRe.FindAllStringSubmatch(list, -1) {
				text := html.UnescapeString(m[2])
				if text != name {
					continue
				}
				found = true
				u := resolve(t, listBase, m[1])
				resp, page := e.do(t, "GET", u.RequestURI(), "", hdr...)
				if resp.StatusCode != 200 || !strings.Contains(page, "<h1>"+m[2]+"</h1>") {
					t.Errorf("list link %q of %q opens %q = %d, not the user's page", m[1], name, u.RequestURI(), resp.StatusCode)
				}
			}
			if !found {
				t.Errorf("the users page does not list %q:\n%s", name, list)
			}
		})
	}
}

// TestTemplatesEscapePathValues keeps every value a template puts into
// the path of an href or action behind pathSegment (url.PathEscape):
// html/template leaves "/", "?" and "#" of a value alone.
func TestTemplatesEscapePathValues(t *testing.T) {
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	attr := regexp.MustCompile(`(?:href|action)="([^"?]*)`)
	action := regexp.MustCompile(`\{\{-?\s*([^}]*?)\s*-?\}\}`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range attr.FindAllStringSubmatch(string(src), -1) {
			for _, a := range action.FindAllStringSubmatch(m[1], -1) {
				if fields := strings.Fields(a[1]); fields[0] != "pathSegment" && !slices.Contains([]string{"if", "else", "end"}, fields[0]) {
					t.Errorf("%s: {{%s}} in the URL path %q is not escaped with pathSegment", f, a[1], m[1])
				}
			}
		}
	}
}

// The audit page's "Older events" link carries the filters and the cursor
// as a query string: following it shows the next page, not the first one
// again (a console user paging the trail would otherwise loop forever).
func TestConsoleAuditPagesOn(t *testing.T) {
	e := start(t)
	admin := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	link := regexp.MustCompile(`<a href="(/admin/audit\?[^"]*)">Older events</a>`)
	row := regexp.MustCompile(`<tr><td class="muted">.*?</tr>`)
	_, body := e.do(t, "GET", "/admin/audit?limit=1", "", admin...)
	m := link.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("first page has no Older events link:\n%s", body)
	}
	first := row.FindAllString(body, -1)
	next := html.UnescapeString(m[1])
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("before") == "" || q.Get("limit") != "1" {
		t.Fatalf("Older events = %q: want the before cursor and limit=1 as query parameters", next)
	}
	resp, body2 := e.do(t, "GET", next, "", admin...)
	if resp.StatusCode != 200 {
		t.Fatalf("%s = %d", next, resp.StatusCode)
	}
	if second := row.FindAllString(body2, -1); len(second) == 0 || slices.Equal(first, second) {
		t.Fatalf("the second page shows the first page's events again: %v", second)
	}
}

// TestConsoleFormsRefuseRepeatedFields: a console form field sent twice
// is refused with 400 and changes nothing, as the public endpoints'
// forms and every JSON body refuse a repeat: reading the first (or the
// last) would let a proxy or firewall in front judge another request
// than the one gatehouse runs. Checkbox lists (a client's grant types)
// send one value per box and stay allowed.
func TestConsoleFormsRefuseRepeatedFields(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	if _, err := e.App.Users.Create(ctx, "bob", pw, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	noUser := func(name string) func(t *testing.T) {
		return func(t *testing.T) {
			if _, err := e.App.Users.Get(ctx, name); err == nil {
				t.Errorf("%s was created", name)
			}
		}
	}
	bobRoles := func(t *testing.T) {
		if u, _ := e.App.Users.Get(ctx, "bob"); strings.Join(u.Roles, ",") != "user" {
			t.Errorf("bob's roles = %v, want [user]", u.Roles)
		}
	}
	tests := []struct {
		name, path string
		form       url.Values
		unchanged  func(t *testing.T)
	}{
		{"add user, roles twice", "/admin/users", url.Values{"username": {"eve"}, "password": {pw}, "roles": {"user", "admin"}}, noUser("eve")},
		{"add user, username twice", "/admin/users", url.Values{"username": {"eve", "mallory"}, "password": {pw}}, noUser("eve")},
		{"set roles twice", "/admin/users/bob/roles", url.Values{"roles": {"user", "admin"}}, bobRoles},
		{"set password twice", "/admin/users/bob/password", url.Values{"password": {pw + " one", pw + " two"}}, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"username": "bob", "password": pw})
			if resp, _ := e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json"); resp.StatusCode != 200 {
				t.Errorf("bob's password changed: login with the old one = %d", resp.StatusCode)
			}
		}},
		{"add client, type twice", "/admin/clients", url.Values{"client_id": {"svc"}, "type": {"public", "confidential"},
			"grant_types": {"client_credentials"}}, func(t *testing.T) {
			if _, err := e.App.Clients.Lookup(ctx, "svc"); err == nil {
				t.Error("svc was registered")
			}
		}},
		{"explain, url twice", "/admin/explain", url.Values{"method": {"GET"}, "url": {"/a", "/b"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.form(t, tt.path, tt.form)
			if resp.StatusCode != 400 || !strings.Contains(body, "repeated") {
				t.Fatalf("= %d, want 400 saying a field is repeated:\n%.600s", resp.StatusCode, body)
			}
			if tt.unchanged != nil {
				tt.unchanged(t)
			}
		})
	}
	resp, body := e.form(t, "/admin/clients", url.Values{"client_id": {"svc2"}, "type": {"confidential"},
		"grant_types": {"client_credentials", "refresh_token"}, "scopes": {"orders"}})
	if resp.StatusCode != 200 {
		t.Errorf("two grant type boxes = %d, want the new client's page:\n%.600s", resp.StatusCode, body)
	}
}
