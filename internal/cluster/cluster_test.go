package cluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

var binary string

func TestMain(m *testing.M) { testutil.MainWithGatehouse(m, &binary) }

const password = "correct horse battery staple"

// cluster is N gatehouse processes sharing one config.
type cluster struct {
	t     *testing.T
	cfg   string
	nodes []string // base URLs
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	dsn := pgtest.DSN(t)
	// The 3-process test runs on the shared Redis Cluster (issue 17).
	_, prefix := redistest.Deploy(t, redistest.Cluster)
	clusterAddrs := `["` + strings.Join(redistest.ClusterAddrs, `", "`) + `"]`
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
admin_listen: ""
sessions:
  store: redis
  cache_ttl: 30s   # long on purpose: refusals below can only come from the broadcast
redis: {cluster: {addrs: %s}, key_prefix: %q}
keys: {encryption_key: "cluster-test-encryption-key-0123456789"}
passwords: {memory_kib: 8192, iterations: 1, parallelism: 1}
login: {max_failures: 3}
log: {level: warn}
`, dsn, clusterAddrs, prefix)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg}
	c.cli("", "migrate")
	c.cli(password+"\n", "user", "add", "alice", "--role", "user", "--password-stdin")
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, c.startNode())
	}
	return c
}

// cli runs a gatehouse command against the cluster's config.
func (c *cluster) cli(stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(binary, append(args, "-c", c.cfg)...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("gatehouse %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func (c *cluster) startNode() string {
	c.t.Helper()
	return startServe(c.t, c.cfg, "GATEHOUSE_PUBLIC_URL=http://gatehouse.test").base
}

// node is one `gatehouse serve` process.
type node struct {
	base string
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	// exited is closed when the process has ended; err is then its exit
	// status. A closed channel (not a value sent once) lets a test and the
	// cleanup both wait for the exit: a consumed value made the cleanup wait
	// its whole timeout after a test that had already seen the exit.
	exited chan struct{}
	err    error
}

// startServe runs `gatehouse serve -c cfg` on a free loopback port (extra
// environment in env), waits for /healthz, and stops it at cleanup. Its log
// is shown when the test failed, and must never contain the password.
func startServe(t *testing.T, cfg string, env ...string) *node {
	t.Helper()
	n := launch(t, cfg, env...)
	testutil.WaitReady(t, n.base)
	return n
}

// launch is startServe without waiting for readiness (the caller knows how
// to reach the process, e.g. over TLS).
func launch(t *testing.T, cfg string, env ...string) *node {
	t.Helper()
	addr := freeAddr(t)
	n := &node{base: "http://" + addr, logs: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(binary, "serve", "-c", cfg)
	n.cmd.Env = append(append(childEnv(), "GATEHOUSE_LISTEN="+addr), env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(os.Interrupt)
		select {
		case <-n.exited:
		case <-time.After(40 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited // gone, its port free, before the next test
		}
		if t.Failed() {
			t.Logf("gatehouse %s log:\n%s", addr, n.logs.String())
		}
		if strings.Contains(n.logs.String(), password) {
			t.Errorf("gatehouse %s logged the password", addr)
		}
	})
	return n
}

// childEnv is this process's environment without its GATEHOUSE_*
// variables: the developer's overrides (GATEHOUSE_STORE above all) must
// not replace the config a test wrote.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			out = append(out, kv)
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func request(t *testing.T, method, u, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, testutil.ReadBody(t, resp)
}

func form(v url.Values) (string, []string) {
	return v.Encode(), []string{"Content-Type", "application/x-www-form-urlencoded"}
}

func tokens(t *testing.T, node string, v url.Values) (int, map[string]any) {
	t.Helper()
	body, h := form(v)
	status, out := request(t, "POST", node+"/auth/token", body, h...)
	var m map[string]any
	_ = json.Unmarshal([]byte(out), &m)
	return status, m
}

func TestClusterBehavesAsOne(t *testing.T) {
	c := startCluster(t, 3)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("session from A works on B, logout on C refuses everywhere within 1s", func(t *testing.T) {
		cookie := loginCookie(t, a)
		for _, n := range []string{a, b} { // warm both local caches
			if status, _ := request(t, "GET", n+"/auth/session", "", "Cookie", cookie); status != http.StatusOK {
				t.Fatalf("session on %s = %d", n, status)
			}
		}
		if status, _ := request(t, "POST", cc+"/auth/logout", "", "Cookie", cookie); status != http.StatusNoContent {
			t.Fatalf("logout on C = %d", status)
		}
		for _, n := range []string{a, b} {
			refused := clocktest.Within(time.Second, func() bool {
				status, _ := request(t, "GET", n+"/auth/session", "", "Cookie", cookie)
				return status == http.StatusUnauthorized
			})
			if !refused {
				t.Errorf("%s still accepts the cookie 1s after logout on C", n)
			}
		}
	})

	t.Run("refresh reuse on B revokes the family everywhere", func(t *testing.T) {
		_, first := tokens(t, a, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
		old := first["refresh_token"].(string)
		status, second := tokens(t, a, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}})
		if status != http.StatusOK {
			t.Fatalf("refresh on A = %d", status)
		}
		access := second["access_token"].(string)
		for _, n := range c.nodes { // warm every verified-token cache
			if status, _ := request(t, "GET", n+"/auth/userinfo", "", "Authorization", "Bearer "+access); status != http.StatusOK {
				t.Fatalf("userinfo on %s = %d", n, status)
			}
		}
		if status, _ := tokens(t, b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}}); status != http.StatusBadRequest {
			t.Fatalf("reuse on B = %d, want 400", status)
		}
		if status, _ := tokens(t, cc, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second["refresh_token"].(string)}}); status != http.StatusBadRequest {
			t.Errorf("newest refresh token on C after reuse = %d, want 400", status)
		}
		for _, n := range c.nodes {
			refused := clocktest.Within(time.Second, func() bool {
				status, _ := request(t, "GET", n+"/auth/userinfo", "", "Authorization", "Bearer "+access)
				return status == http.StatusUnauthorized
			})
			if !refused {
				t.Errorf("%s still accepts the family's access token 1s after reuse detection", n)
			}
		}
	})

	t.Run("concurrent refresh on A and B: exactly one wins", func(t *testing.T) {
		for round := 0; round < 5; round++ {
			_, m := tokens(t, a, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
			rt := m["refresh_token"].(string)
			var wg sync.WaitGroup
			statuses := make([]int, 2)
			for i, n := range []string{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], _ = tokens(t, n, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				}()
			}
			wg.Wait()
			if ok := btoi(statuses[0] == 200) + btoi(statuses[1] == 200); ok != 1 {
				t.Fatalf("round %d: statuses %v, want exactly one 200", round, statuses)
			}
		}
	})

	t.Run("keys rotate: B signs with the new key, all verify old and new", func(t *testing.T) {
		_, before := tokens(t, b, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
		oldAccess := before["access_token"].(string)
		out := c.cli("", "keys", "rotate")
		fields := strings.Fields(out)
		if len(fields) < 4 {
			t.Fatalf("keys rotate printed %q", out)
		}
		newKID := fields[3]
		signsNew := clocktest.Within(time.Second, func() bool {
			_, m := tokens(t, b, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
			at, _ := m["access_token"].(string)
			return at != "" && kidOf(t, at) == newKID
		})
		if !signsNew {
			t.Fatalf("B does not sign with the rotated key %s within 1s", newKID)
		}
		_, after := tokens(t, b, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
		for _, n := range []string{a, b} {
			for name, tok := range map[string]string{"old": oldAccess, "new": after["access_token"].(string)} {
				if status, _ := request(t, "GET", n+"/auth/userinfo", "", "Authorization", "Bearer "+tok); status != http.StatusOK {
					t.Errorf("%s refuses the %s-key token: %d", n, name, status)
				}
			}
		}
	})

	t.Run("login throttling counts across instances", func(t *testing.T) {
		c.cli(password+"\n", "user", "add", "bob", "--password-stdin")
		for i, n := range []string{a, b, cc} {
			body, h := form(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"wrong password " + fmt.Sprint(i)}})
			if status, _ := request(t, "POST", n+"/auth/token", body, append(h, "X-Forwarded-For", "203.0.113.5")...); status != http.StatusBadRequest {
				t.Fatalf("failure %d on %s = %d", i, n, status)
			}
		}
		for _, n := range c.nodes {
			body, h := form(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {password}})
			if status, _ := request(t, "POST", n+"/auth/token", body, append(h, "X-Forwarded-For", "203.0.113.5")...); status != http.StatusTooManyRequests {
				t.Errorf("after 3 failures spread over 3 instances, %s answers %d, want 429", n, status)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	var h struct {
		Kid string `json:"kid"`
	}
	b, _ := decodeSegment(parts[0])
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// The harness's processes run the test's config, not the developer's: a
// GATEHOUSE_STORE exported for their own gatehouse must not get the tests'
// migrations, users and sessions (nor other GATEHOUSE_* overrides change
// what a test checks).
func TestHarnessIgnoresDeveloperEnv(t *testing.T) {
	dir := t.TempDir()
	devDB := filepath.Join(dir, "developer.db")
	t.Setenv("GATEHOUSE_STORE", "sqlite://"+devDB)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := fmt.Sprintf("store: %q\nadmin_listen: \"\"\nlog: {level: warn}\n", "sqlite://"+filepath.Join(dir, "test.db"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg}
	c.cli("", "migrate")
	startServe(t, cfg)
	if _, err := os.Stat(devDB); err == nil {
		t.Error("the developer's GATEHOUSE_STORE database was used by the test's gatehouse")
	}
	if _, err := os.Stat(filepath.Join(dir, "test.db")); err != nil {
		t.Errorf("the test's own store was not used: %v", err)
	}
}
