package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestExplainCommandMatchesTheGateway runs a gatehouse and `gatehouse
// explain` on one config file and store, sends each request through the
// gateway and requires the command to print the gateway's status, without
// the credential.
func TestExplainCommandMatchesTheGateway(t *testing.T) {
	up := testutil.StartUpstream(t)
	c := newCLI(t, `routes:
  - name: open
    match: { path_prefix: / }
    upstream: `+up.URL+`
    auth: none
  - name: app
    match: { host: app.example.com, path_prefix: / }
    upstream: `+up.URL+`
    auth: session
  - name: tenant
    match: { host: "*.tenants.example.com", path_prefix: /api/ }
    upstream: `+up.URL+`
    auth: any
    roles: [user]
  - name: ops
    match: { path_prefix: /ops/, methods: [GET] }
    upstream: `+up.URL+`
    auth: token
    roles: [ops]
  - name: trace
    match: { path_prefix: /debug/, methods: [TRACE] }
    upstream: `+up.URL+`
    auth: token
`)
	cfg, err := config.Load(c.cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdminListen = ""
	i := testutil.Start(t, testutil.WithConfig(func(x *config.Config) { *x = cfg }))
	// The command reads the same file: with the instance's address as its
	// listen, its issuer (public_url) is the instance's.
	addr := strings.TrimPrefix(i.URL, "http://")
	f, err := os.OpenFile(c.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("listen: " + addr + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	i.CreateUser(t, "alice", strings.TrimSpace(pw), "user")
	hc := testutil.Client(t)
	resp, err := hc.Post(i.URL+"/auth/login", "application/json", strings.NewReader(`{"username":"alice","password":"`+strings.TrimSpace(pw)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := ""
	for _, ck := range resp.Cookies() {
		if ck.Name == cfg.CookieName() {
			session = ck.Value
		}
	}
	tok := strings.TrimSpace(c.ok("", "token", "issue", "--user", "alice"))
	if session == "" || tok == "" {
		t.Fatalf("no session (%d) or token", resp.StatusCode)
	}

	creds := []struct {
		name, flag, value, header string
	}{
		{"none", "", "", ""},
		{"session", "--cookie", session, "Cookie: " + cfg.CookieName() + "=" + session},
		{"token", "--token", tok, "Authorization: Bearer " + tok},
	}
	preflight := []string{"Origin: https://spa.example.com", "Access-Control-Request-Method: POST"}
	requests := []struct {
		name, method, target, host string
		header                     []string // "Name: value"
	}{
		{"no host", "GET", "/x", "", nil},
		{"exact host", "GET", "/x", "app.example.com", nil},
		{"exact host with port and case", "GET", "/x", "App.Example.com:8443", nil},
		{"wildcard host", "GET", "/api/x", "a.tenants.example.com", nil},
		{"wildcard host, other path", "GET", "/x", "a.tenants.example.com", nil},
		{"HEAD for GET", "HEAD", "/ops/x", "", nil},
		{"TRACE", "TRACE", "/debug/x", "", nil},
		{"TRACE elsewhere", "TRACE", "/ops/x", "", nil},
		{"authority-like path", "GET", "//app.example.com/ops/x", "", nil},
		{"dot segments", "GET", "/x/../ops/x", "", nil},
		{"encoded slash", "GET", "/ops%2Fx", "", nil},
		{"absolute URL", "GET", "http://app.example.com/x", "", nil},
		// gatehouse's own endpoints with CORS: a plain OPTIONS is 405, a
		// preflight 204 (gateway.IsPreflight).
		{"token endpoint, plain OPTIONS", "OPTIONS", "/auth/token", "", nil},
		{"token endpoint, OPTIONS with Origin only", "OPTIONS", "/auth/token", "", preflight[:1]},
		{"token endpoint, preflight", "OPTIONS", "/auth/token", "", preflight},
		{"JWKS, preflight", "OPTIONS", "/.well-known/jwks.json", "", preflight},
	}
	for _, rq := range requests {
		for _, cr := range creds {
			t.Run(rq.name+"/"+cr.name, func(t *testing.T) {
				headers := map[string]string{}
				args := []string{"explain", "--method", rq.method, "--url", rq.target}
				if cr.flag != "" {
					k, v, _ := strings.Cut(cr.header, ": ")
					headers[k] = v
					args = append(args, cr.flag, cr.value)
				}
				if rq.host != "" {
					args = append(args, "--header", "Host: "+rq.host)
				}
				for _, h := range rq.header {
					k, v, _ := strings.Cut(h, ": ")
					headers[k] = v
					args = append(args, "--header", h)
				}
				want := testutil.RawStatus(t, i.URL, rq.method, rq.target, rq.host, headers)
				out := c.ok("", args...)
				var got struct {
					Status  int    `json:"status"`
					Outcome string `json:"outcome"`
					Reason  string `json:"reason"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if got.Status != want {
					t.Errorf("explain status %d (%s %s), gateway %d\n%s", got.Status, got.Outcome, got.Reason, want, out)
				}
				if cr.value != "" && strings.Contains(out, cr.value) {
					t.Errorf("explain printed the credential: %s", out)
				}
			})
		}
	}
}
