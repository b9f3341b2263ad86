package cluster_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func TestSIGHUPReloadsRoutes(t *testing.T) {
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	write := func(routes string) {
		t.Helper()
		body := fmt.Sprintf("store: sqlite://%s\nadmin_listen: \"\"\nroutes:\n%s", filepath.Join(dir, "gh.db"), routes)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A slow upstream: a request to it is in flight across the reload.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Write([]byte("slow ok"))
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { closeOnce(release) })
	routeTo := func(name, prefix, upstream string) string {
		return fmt.Sprintf("  - {name: %s, match: {path_prefix: %s}, upstream: %q, auth: none}\n", name, prefix, upstream)
	}
	route := func(name, prefix string) string { return routeTo(name, prefix, up.URL) }
	write(route("one", "/one/") + routeTo("slow", "/slow/", slow.URL))

	n := startServe(t, cfg)
	base, cmd, logs := n.base, n.cmd, n.logs
	status := func(path string) int {
		s, _ := request(t, "GET", base+path, "")
		return s
	}
	if status("/one/x") != http.StatusOK || status("/two/x") != http.StatusNotFound {
		t.Fatalf("before reload: /one %d, /two %d", status("/one/x"), status("/two/x"))
	}

	inFlight := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow/x")
		if err != nil {
			inFlight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inFlight <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()

	write(route("one", "/one/") + routeTo("slow", "/slow/", slow.URL) + route("two", "/two/"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !clocktest.Within(5*time.Second, func() bool { return status("/two/x") == http.StatusOK }) {
		t.Fatal("route two not served after SIGHUP")
	}
	closeOnce(release)
	if got := <-inFlight; got != "200 slow ok" {
		t.Errorf("request in flight across the reload = %q, want 200 slow ok", got)
	}

	// A bad file keeps the running routes and says why.
	if err := os.WriteFile(cfg, []byte("routes: [{name: three, bogus: true}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !clocktest.Within(5*time.Second, func() bool { return strings.Contains(logs.String(), "config reload failed") }) {
		t.Fatal("no log line for the bad reload")
	}
	if !strings.Contains(logs.String(), "bogus: unknown key") {
		t.Errorf("the log does not say what is wrong:\n%s", logs.String())
	}
	if status("/one/x") != http.StatusOK || status("/two/x") != http.StatusOK {
		t.Errorf("after a bad reload: /one %d, /two %d, want the old routes", status("/one/x"), status("/two/x"))
	}
}

// drainingServe is a serve whose route /slow/ reaches an upstream that
// holds every request until release is closed; get sends one such request
// and, once it has reached the upstream, returns a channel with its
// outcome ("200 drained ok" when released), for the shutdown tests.
type drainingServe struct {
	*node
	release chan struct{}
	arrived chan struct{}
}

func startDrainingServe(t *testing.T) *drainingServe {
	t.Helper()
	d := &drainingServe{release: make(chan struct{}), arrived: make(chan struct{}, 1)}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.arrived <- struct{}{}
		<-d.release
		w.Write([]byte("drained ok"))
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { closeOnce(d.release) })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := fmt.Sprintf("store: sqlite://%s\nadmin_listen: \"\"\nroutes:\n  - {name: slow, match: {path_prefix: /slow/}, upstream: %q, auth: none}\n", filepath.Join(dir, "gh.db"), slow.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d.node = startServe(t, cfg)
	return d
}

// get sends GET /slow/x and waits until the upstream holds it.
func (d *drainingServe) get() <-chan string {
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(d.base + "/slow/x")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-d.arrived
	return result
}

// SIGTERM drains: a request in flight completes, then the process exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	n := startDrainingServe(t)
	base, cmd, exited, release := n.base, n.cmd, n.exited, n.release
	result := n.get()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once shutdown has begun…
	if !clocktest.Within(5*time.Second, func() bool {
		_, err := http.Get(base + "/healthz")
		return err != nil
	}) {
		t.Error("still accepting new requests after SIGTERM")
	}
	// …while the one in flight completes.
	closeOnce(release)
	if got := <-result; got != "200 drained ok" {
		t.Errorf("in-flight request = %q, want 200 drained ok", got)
	}
	select {
	case <-exited:
		if n.err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", n.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse did not exit after draining")
	}
}
