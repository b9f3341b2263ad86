package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A route upstream with credentials gets one verdict from config check,
// serve and SIGHUP reload: a configuration error naming
// routes[0].upstream (exit 2), and the credential is never printed.
func TestUpstreamCredentialsAreAConfigError(t *testing.T) {
	const secret = "s3cr3t-pw"
	c := newCLI(t, "routes:\n- {name: a, match: {path_prefix: /a/}, upstream: 'http://user:"+secret+"@127.0.0.1:9', auth: none}\n")
	for _, args := range [][]string{{"config", "check"}, {"serve"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", args...)
			if code != 2 || !strings.Contains(errOut, "routes[0].upstream:") {
				t.Errorf("exit %d (want 2), stderr %q (want routes[0].upstream named)", code, errOut)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("the upstream's password was printed:\n%s%s", out, errOut)
			}
		})
	}
}

func TestSIGHUPReloadGivesTheConfigCheckVerdict(t *testing.T) {
	const secret = "s3cr3t-pw"
	route := func(upstream string) string {
		return "listen: 127.0.0.1:0\nadmin_listen: ''\nroutes:\n- {name: a, match: {path_prefix: /a/}, upstream: '" + upstream + "', auth: none}\n"
	}
	c := newCLI(t, route("http://127.0.0.1:9"))
	logs := c.serveInTest()
	var serving struct{ Listen string }
	if err := json.Unmarshal([]byte(logs.await(t, "gatehouse serving")), &serving); err != nil {
		t.Fatal(err)
	}
	get := func() int {
		t.Helper()
		resp, err := http.Get("http://" + serving.Listen + "/a/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The route's upstream is down: 502 means the route is there (404 would
	// mean it was dropped).
	if got, want := get(), http.StatusBadGateway; got != want {
		t.Fatalf("before reload: GET /a/x = %d, want %d", got, want)
	}

	body, err := os.ReadFile(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body), "http://127.0.0.1:9", "http://user:"+secret+"@127.0.0.1:9", 1)
	if err := os.WriteFile(c.cfg, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := logs.await(t, "config reload failed")
	if !strings.Contains(line, "routes[0].upstream:") || strings.Contains(line, secret) {
		t.Errorf("reload refusal %q: want routes[0].upstream named and no password", line)
	}
	if got, want := get(), http.StatusBadGateway; got != want {
		t.Errorf("after the refused reload: GET /a/x = %d, want %d (running routes kept)", got, want)
	}
	code, _, errOut := c.run("", "config", "check")
	if code != 2 || !strings.Contains(errOut, "routes[0].upstream:") {
		t.Errorf("config check on the same file: exit %d, %q; want the reload's verdict", code, errOut)
	}
}

// logLines is the serve command's stderr: each slog line goes to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// await returns the first line containing s, failing the test after 30 s.
func (l logLines) await(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-l:
			if strings.Contains(line, s) {
				return line
			}
		case <-timeout:
			t.Fatalf("no log line with %q within 30s", s)
		}
	}
}

// A reload whose file changed only its routes says so, naming no other
// key; the restart warning names the keys that changed (docs/configuration.md,
// "Reloading"). A route upstream with a secret in a world-readable file
// changes the file's warnings, not a key: that is warned about, as serve
// does at start, and is no reason for a restart.
func TestSIGHUPReloadWarnsOnlyWhenOtherKeysChanged(t *testing.T) {
	c := newCLI(t, "listen: 127.0.0.1:0\nadmin_listen: ''\n")
	logs := c.serveInTest()
	logs.await(t, "gatehouse serving")
	body, err := os.ReadFile(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	route := "routes:\n- {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:9/?key=abc', auth: none}\n"
	for _, tc := range []struct {
		name, add, warn, reload, keys string
	}{
		{"routes only", route, "is readable by every user (mode 0644) and holds secrets (routes[0].upstream)",
			`"msg":"config reloaded: routes applied","file"`, ""},
		{"another key too", route + "log: {level: debug}\n", "",
			`"msg":"config reloaded: routes applied; other changed keys take effect after a restart","file":`, `"keys":["log"]`},
	} {
		if err := os.WriteFile(c.cfg, append(body[:len(body):len(body)], tc.add...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(c.cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if tc.warn != "" {
			logs.await(t, tc.warn) // logged before the reload's verdict
		}
		if line := logs.await(t, "config reload"); !strings.Contains(line, tc.reload) {
			t.Errorf("%s: reload logged %q, want %q", tc.name, line, tc.reload)
		} else if !strings.Contains(line, tc.keys) {
			t.Errorf("%s: reload logged %q, want the changed keys named: %s", tc.name, line, tc.keys)
		}
	}
}
