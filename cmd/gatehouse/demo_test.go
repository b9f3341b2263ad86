package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoCurlLinesWork starts `gatehouse demo` and runs the curl lines it
// prints through sh, exactly as a user would paste them.
func TestDemoCurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the demo's printed commands: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})

	var banner strings.Builder
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", banner.String())
			}
			banner.WriteString(l + "\n")
			done = strings.Contains(l, "Stop with Ctrl-C")
		case <-timeout:
			t.Fatalf("no banner within 60s:\n%s", banner.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	text := banner.String()
	if !regexp.MustCompile(`password: \S{20,}`).MatchString(text) {
		t.Fatalf("banner has no password:\n%s", text)
	}
	checkDemoAdmin(t, text)
	var script []string
	for _, l := range strings.Split(text, "\n") {
		if regexp.MustCompile(`^(curl |TOKENS=|ACCESS=|REFRESH=)`).MatchString(l) {
			script = append(script, l)
		}
	}
	if len(script) < 10 {
		t.Fatalf("only %d command lines in the banner:\n%s", len(script), text)
	}
	// Separate each command's output so the assertions can find it.
	var sh strings.Builder
	sh.WriteString("set -e\n")
	for i, l := range script {
		sh.WriteString("echo '### " + string(rune('a'+i)) + "'\n" + l + "\necho\n")
	}
	out, err := exec.Command("sh", "-c", sh.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("the printed commands failed: %v\n%s", err, out)
	}
	// The cookie jar, which holds the session cookie, is in the demo's own
	// directory (0700), not at a fixed name in /tmp that another local user
	// could have created first.
	jar := regexp.MustCompile(`-c '([^']+)'`).FindStringSubmatch(text)
	if jar == nil {
		t.Fatalf("no cookie jar in the banner:\n%s", text)
	}
	if fi, err := os.Stat(filepath.Dir(jar[1])); err != nil {
		t.Errorf("cookie jar %s: %v", jar[1], err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("cookie jar %s is in a directory of mode %v, want 0700", jar[1], fi.Mode().Perm())
	}
	got := string(out)
	for _, want := range []string{
		`"X-Auth-User":"demo"`,      // /app/ saw the session identity
		`"X-Auth-Method":"session"`, //
		`"X-Auth-Method":"token"`,   // /api/ saw the token identity
		`"token_type":"Bearer"`,     // password grant and refresh
		"HTTP/1.1 204 No Content",   // logout
		"HTTP/1.1 401 Unauthorized", // the cookie after logout
		`"cookie_header":""`,        // the gatehouse cookie never reached the upstream
		`"authorization_header":false`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}

// checkDemoAdmin signs in as the administrator the banner prints: the
// password opens a session, and admin.require_mfa (on by default) sends it
// to the second factor: 403 on the API, the step-up page for the console.
func checkDemoAdmin(t *testing.T, banner string) {
	t.Helper()
	base := regexp.MustCompile(`gatehouse demo is running at (\S+)`).FindStringSubmatch(banner)
	adminPW := regexp.MustCompile(`admin password: (\S{20,})`).FindStringSubmatch(banner)
	if base == nil || adminPW == nil || !strings.Contains(banner, base[1]+"/admin/") {
		t.Fatalf("banner lacks the admin console and its credentials:\n%s", banner)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Post(base[1]+"/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+adminPW[1]+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse" {
			cookie = ck
		}
	}
	if resp.StatusCode != 200 || cookie == nil {
		t.Fatalf("admin login = %d (cookie %v)", resp.StatusCode, cookie)
	}
	for _, tt := range []struct {
		path, accept, want string
		status             int
	}{
		{"/admin/api/v1/users", "application/json", "admin.require_mfa", 403},
		{"/admin/users", "text/html", "/login/mfa?next=%2Fadmin%2Fusers", 302},
	} {
		req, _ := http.NewRequest("GET", base[1]+tt.path, nil)
		req.Header.Set("Accept", tt.accept)
		req.AddCookie(cookie)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body)+resp.Header.Get("Location"), tt.want) {
			t.Errorf("%s = %d %s (Location %q), want %d with %q", tt.path, resp.StatusCode, body, resp.Header.Get("Location"), tt.status, tt.want)
		}
	}
}
