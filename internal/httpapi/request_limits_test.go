package httpapi_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestOverlongPasswordIsRefusedBeforeHashing: a password longer than
// password.MaxLength characters — which no account can have, since every
// password set is checked against it — is refused at once with 400
// invalid_request naming the limit, on every endpoint that checks a
// password (JSON and form login, the password grant, the current password
// of a password change), instead of being hashed with argon2id (up to the
// 1 MiB body cap) and answered as a wrong password. A password of exactly
// MaxLength characters still logs in.
func TestOverlongPasswordIsRefusedBeforeHashing(t *testing.T) {
	g := startAlice(t)
	b := make([]byte, password.MaxLength/2)
	_, _ = rand.Read(b)
	longest := hex.EncodeToString(b) // exactly MaxLength characters
	g.CreateUser(t, "bob", longest)
	if resp, body := loginJSON(t, testutil.Client(t), g.URL, "bob", longest); resp.StatusCode != http.StatusOK {
		t.Fatalf("login with a %d-character password: %d %s, want 200", len(longest), resp.StatusCode, body)
	}
	const want = "the password must be at most 1024 characters"

	// A session of alice's, for the password change.
	c := testutil.Client(t)
	if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	jsonBody := func(m map[string]string) string { b, _ := json.Marshal(m); return string(b) }
	for _, pw := range []string{longest + "x", strings.Repeat("p", 1_000_000)} {
		tests := []struct {
			name, path, ct, body string
			client               *http.Client
		}{
			{"JSON login", "/auth/login", "application/json", jsonBody(map[string]string{"username": "alice", "password": pw}), testutil.Client(t)},
			{"form login", "/auth/login", formType, url.Values{"username": {"alice"}, "password": {pw}}.Encode(), testutil.Client(t)},
			{"password grant", "/auth/token", formType, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}}.Encode(), testutil.Client(t)},
			{"password change", "/auth/password", "application/json", jsonBody(map[string]string{"current_password": pw, "new_password": "another " + strongPassword}), c},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s, %d characters", tt.name, len(pw)), func(t *testing.T) {
				resp, body := do(t, tt.client, "POST", g.URL+tt.path, tt.body, "Content-Type", tt.ct)
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status = %d %.200s, want 400", resp.StatusCode, body)
				}
				m := decode(t, body)
				if got := m["error"]; got != "invalid_request" {
					t.Errorf("error = %v, want invalid_request", got)
				}
				if got := m["error_description"]; got != want {
					t.Errorf("error_description = %v, want %q", got, want)
				}
			})
		}
	}
	// A browser posting the form gets the login page's error, not a
	// hash's worth of work.
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login",
		url.Values{"username": {"alice"}, "password": {longest + "x"}}.Encode(), "Content-Type", formType, "Accept", browserHTML)
	wantFormRefusal(t, resp, body, true, http.StatusBadRequest, "invalid_request")
	if !strings.Contains(body, "at most 1024 characters") {
		t.Errorf("page does not name the limit: %.400s", body)
	}
	// Not a guess: the refusals left alice's account unthrottled and her
	// password still works.
	if resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's login after the refusals: %d %s, want 200", resp.StatusCode, body)
	}
}

// rawSend opens a connection to the instance at base and sends the
// request line and headers of a request to path declaring a body of
// length bytes (header is name, value pairs), but no body. It returns the
// connection and a reader of its answers.
func rawSend(t *testing.T, base, method, path string, length int, header ...string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The test's own bound, far beyond every limit the server keeps: a
	// server that never answers fails the test instead of hanging it.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Length: %d\r\n", method, path, length)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// TestBodyOverTheCapIsRefusedUnread: a body declared far over the 1 MiB
// cap of gatehouse's own endpoints is answered 400 invalid_request,
// "request body too large", while the client is still sending it — the
// server reads about the cap, never the 64 MB — on JSON and form bodies
// alike.
func TestBodyOverTheCapIsRefusedUnread(t *testing.T) {
	g := startAlice(t, func(c *config.Config) { c.Admin.RequireMFA = false })
	g.CreateUser(t, "root", strongPassword, "admin")
	admin := "Bearer " + issueToken(t, g, "root", "pwd")
	const total = 64 << 20
	tests := []struct{ name, path, ct, authorization string }{
		{"JSON login", "/auth/login", "application/json", ""},
		{"form login", "/auth/login", formType, ""},
		{"token endpoint", "/auth/token", formType, ""},
		{"revocation endpoint", "/auth/revoke", formType, ""},
		{"second factor", "/auth/login/mfa", "application/json", ""},
		{"admin API", "/admin/api/v1/users", "application/json", admin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := []string{"Content-Type", tt.ct}
			if tt.authorization != "" {
				header = append(header, "Authorization", tt.authorization)
			}
			conn, br := rawSend(t, g.URL, "POST", tt.path, total, header...)
			sent := make(chan int, 1)
			go func() {
				chunk := []byte(strings.Repeat("a", 64<<10))
				n := 0
				for n < total {
					k, err := conn.Write(chunk)
					n += k
					if err != nil {
						break
					}
				}
				sent <- n
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			conn.Close() // ends the writer if the server has not
			if n := <-sent; n >= total {
				t.Errorf("the client sent all %d bytes before the server answered", n)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d %s, want 400", resp.StatusCode, body)
			}
			m := decode(t, string(body))
			if m["error"] != "invalid_request" || m["error_description"] != "request body too large" {
				t.Errorf("body = %s, want invalid_request, request body too large", body)
			}
		})
	}
}

// TestSlowBodyIsCutOff: a client that sends its request body a byte at a
// time (slowloris on the body; the headers have ReadHeaderTimeout) is
// answered and cut off by gatehouse's own endpoints long before it would
// finish, instead of holding its connection (and, on a login, one of the
// client's passwords.max_per_client slots) for as long as it likes. An
// endpoint that reads the body says so: 400 invalid_request, "request
// body not received in time". One that answers without reading it (a
// refused admin call, /healthz) answers once the server has given up on
// the rest, which it would otherwise read to the end first, and closes the
// connection.
func TestSlowBodyIsCutOff(t *testing.T) {
	g := startAlice(t, func(c *config.Config) { c.Admin.RequireMFA = false })
	g.CreateUser(t, "root", strongPassword, "admin")
	admin := "Bearer " + issueToken(t, g, "root", "pwd")
	tests := []struct {
		name, method, path, ct, authorization string
		status                                int
	}{
		{"JSON login", "POST", "/auth/login", "application/json", "", http.StatusBadRequest},
		{"form login", "POST", "/auth/login", formType, "", http.StatusBadRequest},
		{"token endpoint", "POST", "/auth/token", formType, "", http.StatusBadRequest},
		{"revocation endpoint", "POST", "/auth/revoke", formType, "", http.StatusBadRequest},
		{"admin API", "POST", "/admin/api/v1/users", "application/json", admin, http.StatusBadRequest},
		{"admin API without credentials", "POST", "/admin/api/v1/users", "application/json", "", http.StatusUnauthorized},
		{"health check", "GET", "/healthz", "text/plain", "", http.StatusOK},
		// Envoy's HTTP ext_authz with with_request_body: judged without
		// the body (no route here: 404), under the own endpoints' limits.
		{"Envoy HTTP service", "POST", "/auth/verify/envoy/app/x", "text/plain", "", http.StatusNotFound},
	}
	// Under the 256 KiB that net/http reads of a body its handler left,
	// so that it waits for the rest instead of closing at once; at a byte
	// every 20 ms, half an hour.
	const total = 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := []string{"Content-Type", tt.ct}
			if tt.authorization != "" {
				header = append(header, "Authorization", tt.authorization)
			}
			conn, br := rawSend(t, g.URL, tt.method, tt.path, total, header...)
			stop := make(chan struct{})
			sent := make(chan int, 1)
			go func() { sent <- testutil.Trickle(conn, "", total, stop) }()
			resp, err := http.ReadResponse(br, nil)
			close(stop)
			if err != nil {
				t.Fatalf("no answer while the body trickles in: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if n := <-sent; n >= total {
				t.Fatalf("the client sent its whole body (%d bytes) before the server answered", n)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if !resp.Close {
				t.Error("the connection stays open for the rest of the body")
			}
			if tt.status != http.StatusBadRequest {
				return
			}
			m := decode(t, string(body))
			if m["error"] != "invalid_request" || m["error_description"] != "request body not received in time" {
				t.Errorf("body = %s, want invalid_request, request body not received in time", body)
			}
		})
	}
}

// TestFormWithTooManyFieldsIsRefused: a form body of 100,000 fields (well
// under the 1 MiB cap) is refused with 400 invalid_request rather than
// parsed into a map of them: Go's form parser stops at 10,000 parameters.
func TestFormWithTooManyFieldsIsRefused(t *testing.T) {
	g := startAlice(t)
	var b strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&b, "f%d=&", i)
	}
	b.WriteString("grant_type=password&username=alice&password=" + url.QueryEscape(strongPassword))
	for _, path := range []string{"/auth/login", "/auth/token", "/auth/revoke"} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+path, b.String(), "Content-Type", formType)
			if resp.StatusCode != http.StatusBadRequest || decode(t, body)["error"] != "invalid_request" {
				t.Errorf("status = %d %s, want 400 invalid_request", resp.StatusCode, body)
			}
		})
	}
}
