package cluster_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
	route := func(name, prefix string) string {
		return fmt.Sprintf("  - {name: %s, match: {path_prefix: %s}, upstream: %q, auth: none}\n", name, prefix, up.URL)
	}
	write(route("one", "/one/"))

	addr := freeAddr(t)
	cmd := exec.Command(binary, "serve", "-c", cfg)
	cmd.Env = append(os.Environ(), "GATEHOUSE_LISTEN="+addr)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	testutil.WaitHealthy(t, base)
	status := func(path string) int {
		s, _ := request(t, "GET", base+path, "")
		return s
	}
	if status("/one/x") != http.StatusOK || status("/two/x") != http.StatusNotFound {
		t.Fatalf("before reload: /one %d, /two %d", status("/one/x"), status("/two/x"))
	}

	// A long request in flight across the reload must complete.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.Write([]byte("slow ok"))
	}))
	t.Cleanup(slow.Close)

	write(route("one", "/one/") + route("two", "/two/"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return status("/two/x") == http.StatusOK }) {
		t.Fatal("route two not served after SIGHUP")
	}

	// A bad file keeps the running routes and says why.
	if err := os.WriteFile(cfg, []byte("routes: [{name: three, bogus: true}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(logs.String(), "config reload failed") }) {
		t.Fatal("no log line for the bad reload")
	}
	if !strings.Contains(logs.String(), "bogus: unknown key") {
		t.Errorf("the log does not say what is wrong:\n%s", logs.String())
	}
	if status("/one/x") != http.StatusOK || status("/two/x") != http.StatusOK {
		t.Errorf("after a bad reload: /one %d, /two %d, want the old routes", status("/one/x"), status("/two/x"))
	}
}
