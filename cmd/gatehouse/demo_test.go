package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoCurlLinesWork starts `gatehouse demo` and pastes what it prints
// from "# 1." to the end of "# 5." into bash, comments included, exactly
// as a user would: every line must run, and the code flow of step 5 must
// end in tokens without a browser. failglob makes bash refuse an unquoted
// glob that matches nothing, as zsh (macOS's shell) does: an IPv6 listen
// address is one ([::1]). A $TMPDIR with a space and a quote must not
// break the quoting of the cookie jar's path. When the demo stops
// (Ctrl-C), its temporary directory is gone.
func TestDemoCurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the demo's printed commands: %v", err)
	}
	tests := []struct {
		name, tmpSub, listen string
	}{
		{"loopback", "tmp", "127.0.0.1:0"},
		{"IPv6 and a TMPDIR with a quote", "it's a dir", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := filepath.Join(t.TempDir(), tt.tmpSub)
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", tmp)
			text := runDemoBanner(t, tt.listen, tmp)
			checkDemoPaste(t, text, tmp)
		})
	}
}

// runDemoBanner runs `gatehouse demo --listen listen` until the test ends
// and returns its banner. At the end it checks that the demo removed its
// directory from tmp.
func runDemoBanner(t *testing.T, listen, tmp string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", listen}, func(string) string { return "" }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "gatehouse-demo-*")); len(left) > 0 {
			t.Errorf("the stopped demo left %v behind", left)
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
	return banner.String()
}

// checkDemoPaste pastes the banner's steps into bash and checks what they
// print.
func checkDemoPaste(t *testing.T, text, tmp string) {
	t.Helper()
	if !regexp.MustCompile(`password: \S{20,}`).MatchString(text) {
		t.Fatalf("banner has no password:\n%s", text)
	}
	checkDemoAdmin(t, text)
	i, j := strings.Index(text, "# 1. "), strings.Index(text, "\nPublic keys:")
	if i < 0 || j < i {
		t.Fatalf("banner has no steps 1 to 5:\n%s", text)
	}
	steps := text[i:j]
	if n := len(regexp.MustCompile(`(?m)^(curl |[A-Z]+=)`).FindAllString(steps, -1)); n < 13 {
		t.Fatalf("only %d command lines in the banner:\n%s", n, text)
	}
	var stdout, stderr strings.Builder
	cmd := exec.Command("bash", "-c", "shopt -s failglob\n"+steps)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("pasting steps 1-5 into bash: %v\nstderr:\n%s\nstdout:\n%s\nsteps:\n%s", err, stderr.String(), stdout.String(), steps)
	}
	// The cookie jar, which holds the session cookie, is in the demo's own
	// directory (0700), not at a fixed name in /tmp that another local user
	// could have created first.
	dirs, _ := filepath.Glob(filepath.Join(tmp, "gatehouse-demo-*"))
	if len(dirs) != 1 {
		t.Fatalf("demo directories in %s: %v, want one", tmp, dirs)
	}
	if fi, err := os.Stat(filepath.Join(dirs[0], "cookies.txt")); err != nil {
		t.Errorf("cookie jar: %v", err)
	} else if di, err := os.Stat(dirs[0]); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("cookie jar %s is in a directory of mode %v (%v), want 0700", fi.Name(), di.Mode().Perm(), err)
	}
	got := stdout.String()
	for _, want := range []string{
		`"X-Auth-User":"demo"`,      // /app/ saw the session identity
		`"X-Auth-Method":"session"`, //
		`"X-Auth-Method":"token"`,   // /api/ saw the token identity
		`"token_type":"Bearer"`,     // password grant and refresh
		"HTTP/1.1 204 No Content",   // logout
		"HTTP/1.1 401 Unauthorized", // the cookie after logout
		`"cookie_header":""`,        // the gatehouse cookie never reached the upstream
		`"authorization_header":false`,
		`"id_token":"`, // step 5: the code flow ended in tokens
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if n := strings.Count(got, `"error"`); n != 1 { // only the 401 after logout
		t.Errorf("%d error answers, want 1", n)
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

// A --listen that cannot be bound is one sentence naming the flag: the
// port in use is a runtime failure (exit 1, as for serve's listen), an
// address that is not one a usage error (exit 2). Stopped (Ctrl-C) before
// it serves, the demo exits 0 as serve does. Either way its temporary
// directory is gone.
func TestDemoListenAndEarlyStop(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		listen string
		code   int
		want   string
	}{
		{"port in use", context.Background(), busy.Addr().String(), 1, "listen on " + busy.Addr().String() + " (flag --listen)"},
		{"no port", context.Background(), "127.0.0.1", 2, "--listen 127.0.0.1"},
		{"stopped before serving", stopped, "127.0.0.1:0", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var stderr strings.Builder
			err := run(tt.ctx, []string{"demo", "--listen", tt.listen}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
			code := exitCode(err, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) || strings.Count(stderr.String(), "\n") > 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", code, stderr.String(), tt.code, tt.want)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "gatehouse-demo-*")); len(left) > 0 {
				t.Errorf("the demo left %v behind", left)
			}
		})
	}
}

// demo runs its own built-in configuration: a config file given with -c or
// --config is refused (exit 2, one line saying so) rather than silently
// ignored, before anything starts (the context is already cancelled: a
// demo that started anyway would stop at once and exit 0).
func TestDemoRefusesAConfigFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"demo", "-c", cfg}, {"demo", "--config", cfg, "--listen", "127.0.0.1:0"}, {"-c", cfg, "demo"}} {
		t.Run(strings.ReplaceAll(strings.Join(args, " "), cfg, "FILE"), func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var stderr strings.Builder
			err := run(ctx, args, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
			code := exitCode(err, &stderr)
			want := "demo runs its own built-in configuration"
			if code != 2 || !strings.Contains(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("gatehouse %v: exit %d, stderr %q; want exit 2 and one line with %q", args, code, stderr.String(), want)
			}
			if left, _ := filepath.Glob(filepath.Join(tmp, "gatehouse-demo-*")); len(left) > 0 {
				t.Errorf("the refused demo left %v behind", left)
			}
		})
	}
}

// A --listen address on every interface prints URLs a user can paste
// (http://localhost:PORT, not 0.0.0.0 or [::]) and says that the demo
// listens on all interfaces; the printed steps work as pasted.
func TestDemoWildcardListenPrintsLocalhost(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed to run the demo's printed commands: %v", err)
	}
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		t.Run(listen, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			text := runDemoBanner(t, listen, tmp)
			if strings.Contains(text, "://0.0.0.0") || strings.Contains(text, "://[::]") || strings.Contains(text, "://:") {
				t.Errorf("banner has a wildcard URL:\n%s", text)
			}
			if !regexp.MustCompile(`gatehouse demo is running at http://localhost:\d+ \(listening on all interfaces, \S+:\d+\)`).MatchString(text) {
				t.Errorf("banner does not give a localhost URL and say it listens on all interfaces:\n%s", text)
			}
			checkDemoPaste(t, text, tmp)
		})
	}
}
