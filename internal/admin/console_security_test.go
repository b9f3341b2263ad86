package admin_test

import (
	"context"
	"encoding/json"
	"html"
	"maps"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// consolePatterns are the console's route patterns as console.go declares
// them, so a new form is covered without editing a test.
func consolePatterns(t *testing.T, method string) []string {
	t.Helper()
	src, err := os.ReadFile("console.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`page\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		if m[1] == method {
			out = append(out, m[2])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s patterns in console.go", method)
	}
	return out
}

// TestConsoleFormsRefuseCrossSite posts every console form with the
// administrator's cookie the ways another site can make a browser post
// it: 403 and nothing changes. A same-origin post of the same form is
// the control (the form's own answer, never 403).
func TestConsoleFormsRefuseCrossSite(t *testing.T) {
	e := start(t)
	fill := strings.NewReplacer("{name}", "alice", "{id}", "unknown").Replace
	attacks := []struct {
		name   string
		header []string
	}{
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"}},
		{"Sec-Fetch-Site same-site (a sibling subdomain)", []string{"Sec-Fetch-Site", "same-site", "Content-Type", "application/x-www-form-urlencoded"}},
		{"foreign Origin only (plain-HTTP site, no Sec-Fetch-*)", []string{"Origin", "http://evil.example", "Content-Type", "application/x-www-form-urlencoded"}},
		{"Origin null (sandboxed frame)", []string{"Origin", "null", "Content-Type", "text/plain"}},
		{"text/plain form", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example", "Content-Type", "text/plain"}},
		{"multipart form", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "multipart/form-data; boundary=x"}},
	}
	body := url.Values{"username": {"mallory"}, "password": {pw}, "roles": {"admin"}, "client_id": {"evil"}, "type": {"public"},
		"url": {"/x"}, "issuer": {"https://idp.example"}, "subject": {"s"}}.Encode()
	for _, p := range consolePatterns(t, "POST") {
		for _, a := range attacks {
			t.Run(p+"/"+a.name, func(t *testing.T) {
				// Not e.do: openapi.json describes no text/plain or multipart body.
				resp, page := e.doWith(t, testutil.Client(t), "POST", fill(p), body, append(append([]string{"Accept", "text/html"}, a.header...), e.cookie(e.rootCookie)...)...)
				if resp.StatusCode != 403 || !strings.Contains(page, "sent from another site") {
					t.Fatalf("status = %d, want 403 saying the form came from another site (Location %q)\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
				}
			})
		}
		// A link or image (GET) with a method override is no form post.
		t.Run(p+"/GET with method override", func(t *testing.T) {
			h := []string{"Accept", "text/html", "Sec-Fetch-Site", "cross-site", "X-HTTP-Method-Override", "POST", "X-Method-Override", "POST"}
			resp, page := e.doWith(t, testutil.Client(t), "GET", fill(p)+"?_method=POST&"+body, "", append(h, e.cookie(e.rootCookie)...)...)
			if resp.StatusCode/100 == 3 || resp.StatusCode == 200 && p != "/admin/explain" && p != "/admin/users" && p != "/admin/clients" {
				t.Fatalf("GET %s = %d (Location %q): a GET reached the form\n%s", p, resp.StatusCode, resp.Header.Get("Location"), page)
			}
		})
		t.Run(p+"/same-origin control", func(t *testing.T) {
			h := []string{"Accept", "text/html", "Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded"}
			if resp, _ := e.do(t, "POST", fill(p), "url=%2Fx", append(h, e.cookie(e.rootCookie)...)...); resp.StatusCode == 403 {
				t.Fatalf("same-origin post = 403")
			}
		})
	}
	if _, err := e.App.Users.Get(context.Background(), "mallory"); err == nil {
		t.Error("a cross-site form created mallory")
	}
	if _, err := e.App.Clients.Lookup(context.Background(), "evil"); err == nil {
		t.Error("a cross-site form registered the client evil")
	}
}

// TestConsoleEscapesHostileValues fills every place the console shows a
// stored value with markup and requires it escaped on every page: a
// username, a client's name and IDs, a session's User-Agent, a refused
// login's attempted name in the audit trail, an explained request's path
// and user.
func TestConsoleEscapesHostileValues(t *testing.T) {
	const x = `"'><i>x</i>`
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
	}))
	e.CreateUser(t, "u"+x, pw, "user")
	b, _ := json.Marshal(map[string]string{"username": "u" + x, "password": pw})
	resp, body := e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json", "User-Agent", "ua"+x)
	if resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	hostile := e.cookieOf(t, resp, e.cookieName)
	b, _ = json.Marshal(map[string]string{"username": "nobody" + x, "password": "wrong password here"})
	e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json", "User-Agent", "ua"+x)
	resp, page := e.form(t, "/admin/clients", url.Values{"client_id": {"c-x"}, "name": {"n" + x}, "type": {"public"},
		"grant_types": {"authorization_code"}, "redirect_uris": {"https://app.example/cb?a=" + x}})
	if resp.StatusCode != 200 {
		t.Fatalf("add client = %d\n%s", resp.StatusCode, page)
	}
	pages := map[string]string{"POST /admin/clients": page}
	for _, p := range []string{"/admin/users?q=u", "/admin/users/" + url.PathEscape("u"+x), "/admin/clients", "/admin/clients/c-x",
		"/admin/audit", "/admin/audit?user=" + url.QueryEscape(x)} {
		_, pages["GET "+p] = e.do(t, "GET", p, "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
	}
	_, pages["POST /admin/explain"] = e.form(t, "/admin/explain", url.Values{"method": {"GET"}, "url": {"/app/" + x}, "cookie": {hostile}})
	for name, body := range pages {
		if strings.Contains(body, "<i>") || !strings.Contains(body, "&lt;i&gt;x&lt;/i&gt;") {
			t.Errorf("%s shows unescaped markup, or not the value at all:\n%s", name, body)
		}
	}
}

// TestConsolePageHeaders: every console answer with a body — pages,
// the pages showing a new client secret, error pages — may not be framed
// (clickjacking), cached, or sniffed.
func TestConsolePageHeaders(t *testing.T) {
	e := start(t)
	h := append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)
	check := func(t *testing.T, name string, resp interface{ Get(string) string }) {
		t.Helper()
		for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if csp := resp.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP = %q", name, csp)
		}
	}
	for _, p := range consolePatterns(t, "GET") {
		p = strings.NewReplacer("{$}", "users", "{name}", "alice", "{id}", "nobody").Replace(p)
		resp, _ := e.do(t, "GET", p, "", h...)
		check(t, "GET "+p+" "+resp.Status, resp.Header)
	}
	for _, f := range []struct{ path, client string }{{"/admin/clients", "s1"}, {"/admin/clients/s1/secret", ""}} {
		resp, _ := e.form(t, f.path, url.Values{"client_id": {f.client}, "type": {"confidential"}, "grant_types": {"client_credentials"}})
		check(t, "POST "+f.path+" "+resp.Status, resp.Header)
	}
	resp, _ := e.form(t, "/admin/users/root/delete", nil) // 409: the last administrator
	check(t, "POST delete root "+resp.Status, resp.Header)
	resp, _ = e.do(t, "GET", "/admin/users", "", append([]string{"Accept", "text/html"}, e.cookie(e.aliceCookie)...)...)
	check(t, "GET as non-admin "+resp.Status, resp.Header)
}

// TestEveryCreatableUserIsAddressable: a username that can be created can
// be reached at its URL — API and console — so an administrator can
// disable or delete it. "." and ".." are dot segments: browsers and
// ServeMux resolve /admin/users/../disable to /admin/disable, even
// percent-encoded, so such an account (from `user add`, or an identity
// provider's preferred_username under create_users) could not be managed
// over HTTP at all. They are refused as usernames.
func TestEveryCreatableUserIsAddressable(t *testing.T) {
	e := start(t)
	for _, name := range []string{".", "..", "．．", " .. ", "...", ".a", "a.."} {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
			resp, body := e.do(t, "POST", "/admin/api/v1/users", string(b), append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
			if resp.StatusCode == 400 {
				if !strings.Contains(body, "username") {
					t.Errorf("refusal does not say why: %s", body)
				}
				return
			}
			if resp.StatusCode != 201 {
				t.Fatalf("create = %d %s", resp.StatusCode, body)
			}
			var u struct{ Username string }
			_ = json.Unmarshal([]byte(body), &u)
			seg := url.PathEscape(u.Username)
			if resp, body := e.do(t, "POST", "/admin/api/v1/users/"+seg+"/disable", "", bearer(e.rootToken)...); resp.StatusCode != 200 {
				t.Errorf("API disable of %q = %d %s", u.Username, resp.StatusCode, body)
			}
			if resp, body := e.form(t, "/admin/users/"+seg+"/delete", nil); resp.StatusCode != 303 {
				t.Errorf("console delete of %q = %d %s", u.Username, resp.StatusCode, body)
			}
		})
	}
}

// TestConsoleAuditDetailsReadBackAsStored: the audit page's details cell
// (key=value pairs) reads back as exactly the details the API gives for
// the event. A User-Agent is the client's to choose and lands in
// details.user_agent of every event of its request; written out bare,
// "x actor=root via=admin" made a user's own login or password change
// read as root's doing, to an administrator skimming the trail. A value
// holding a space, '=', '"' or anything not graphic is shown in Go
// quotes, as `gatehouse audit` shows it.
func TestConsoleAuditDetailsReadBackAsStored(t *testing.T) {
	e := start(t)
	root, err := e.App.Users.Get(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	forged := `x" actor=root actor_id=` + root.ID + ` via="admin sessions=all`
	attacks := []struct{ name, typ, user, password string }{
		{"anonymous refused login", "login.failed", "carol", "not the password at all"},
		{"a user's own login", "login.ok", "alice", pw},
	}
	cell := regexp.MustCompile(`<tbody>\s*<tr><td class="muted">.*?<td>([^<]*)</td></tr>`)
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"username": a.user, "password": a.password})
			e.do(t, "POST", "/auth/login", string(b), "Content-Type", "application/json", "User-Agent", forged)
			q := url.Values{"type": {a.typ}, "limit": {"1"}}.Encode()
			_, body := e.do(t, "GET", "/admin/api/v1/audit?"+q, "", bearer(e.rootToken)...)
			var page struct {
				Events []struct{ Details map[string]string }
			}
			if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Events) != 1 || page.Events[0].Details["user_agent"] != forged {
				t.Fatalf("API audit?%s = %s (%v): want the event with the forged User-Agent", q, body, err)
			}
			_, doc := e.do(t, "GET", "/admin/audit?"+q, "", append([]string{"Accept", "text/html"}, e.cookie(e.rootCookie)...)...)
			m := cell.FindStringSubmatch(doc)
			if m == nil {
				t.Fatalf("no event row on the console's audit page:\n%s", doc)
			}
			if got := readDetails(t, m[1]); !maps.Equal(got, page.Events[0].Details) {
				t.Errorf("the console's details read as %q, the stored ones are %q", got, page.Events[0].Details)
			}
		})
	}
}

// readDetails reads a details cell as an administrator does: key=value
// pairs separated by spaces, a value in Go quotes when it starts with one.
func readDetails(t *testing.T, cell string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for s := strings.TrimSpace(html.UnescapeString(cell)); s != ""; s = strings.TrimLeft(s, " ") {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("details cell %q: %q is no key=value", cell, s)
		}
		var v string
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		if _, dup := out[k]; dup {
			t.Fatalf("details cell %q names %q twice", cell, k)
		}
		out[k], s = v, rest
	}
	return out
}

// TestAdminPathVariantsNeedAnAdministrator: spellings of admin paths
// that other layers see differently — a trailing slash, an encoded or
// doubled slash, another case, a dot segment — and the methods no page
// lists (HEAD, a CORS preflight from another origin) are answered
// without anything of the admin surface to a caller who is no
// administrator: refused (401/403, the console's sign-in redirect) or
// not found by the router (400/404), never served, never with CORS
// headers that would let another origin read an answer.
func TestAdminPathVariantsNeedAnAdministrator(t *testing.T) {
	e := start(t)
	variants := []struct{ method, path string }{
		{"HEAD", "/admin/api/v1/users"},
		{"OPTIONS", "/admin/api/v1/users"},
		{"GET", "/admin/api/v1/users/"},
		{"GET", "/admin/api/v1//users"},
		{"GET", "/admin/api/v1/../v1/users"},
		{"GET", "/admin/api/v1/%2e%2e/v1/users"},
		{"GET", "/admin/api%2Fv1%2Fusers"},
		{"GET", "/admin%2Fapi%2Fv1%2Fusers"},
		{"GET", "/ADMIN/api/v1/users"},
		{"GET", "/Admin/users"},
		{"GET", "/admin/users/"},
		{"GET", "/admin//users"},
		{"OPTIONS", "/admin/users"},
		{"GET", "/admin/api/v1/config"},
	}
	callers := map[string][]string{"anonymous": nil, "non-admin session": e.cookie(e.aliceCookie), "non-admin token": bearer(e.aliceToken)}
	for _, v := range variants {
		for who, cred := range callers {
			t.Run(v.method+" "+v.path+"/"+who, func(t *testing.T) {
				h := append([]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "PUT"}, cred...)
				resp, body := e.doWith(t, testutil.Client(t), v.method, v.path, "", h...)
				refused := resp.StatusCode == 401 || resp.StatusCode == 403 || resp.StatusCode == 400 || resp.StatusCode == 404 ||
					resp.StatusCode == 302 && strings.HasPrefix(resp.Header.Get("Location"), "/login?")
				if !refused || strings.Contains(body, "root") {
					t.Errorf("= %d (Location %q) %.300s: want a refusal", resp.StatusCode, resp.Header.Get("Location"), body)
				}
				for k := range resp.Header {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("answer carries %s: %q", k, resp.Header.Get(k))
					}
				}
			})
		}
	}
}
