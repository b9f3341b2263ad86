package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/demo"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// failoverPrefix is the key prefix of the instances on a private cluster
// (nothing else uses it, so no cleanup of keys is needed).
const failoverPrefix = "gatehouse-failover:"

// failoverCluster is a private Redis Cluster of 3 primaries and 3 replicas
// on fixed loopback ports (the bus on port+10), which a test may kill a
// node of, fail over and reshard without disturbing the shared cluster on
// 7000-7005. Every node is killed at cleanup.
type failoverCluster struct {
	t     *testing.T
	dir   string
	ports []int
	extra []string
	nodes map[int]*failoverRedis
}

type failoverRedis struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startFailoverCluster creates the cluster on ports first..first+5 with
// cluster-node-timeout 1000 and the extra redis-server arguments, and waits
// until every primary has its replica in sync (so that WAIT 1 succeeds).
func startFailoverCluster(t *testing.T, first int, extra ...string) *failoverCluster {
	t.Helper()
	fc := &failoverCluster{t: t, dir: t.TempDir(), extra: extra, nodes: map[int]*failoverRedis{}}
	for p := first; p < first+6; p++ {
		for _, port := range []int{p, p + 10} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatalf("port %d for the private Redis Cluster is taken: %v", port, err)
			}
			ln.Close()
		}
		fc.ports = append(fc.ports, p)
	}
	t.Cleanup(func() {
		for port, n := range fc.nodes {
			_ = n.cmd.Process.Kill()
			<-n.exited
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(fc.dir, strconv.Itoa(port), "redis.log"))
				if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) > 0 {
					t.Logf("redis %d log (tail):\n%s", port, strings.Join(lines[max(0, len(lines)-8):], "\n"))
				}
			}
		}
	})
	for _, p := range fc.ports {
		fc.start(p)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, fc.addrs()...),
		"--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	fc.waitHealthy()
	return fc
}

// start runs (or reruns, keeping its nodes.conf) the node on port.
func (fc *failoverCluster) start(port int) {
	fc.t.Helper()
	dir := filepath.Join(fc.dir, strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fc.t.Fatal(err)
	}
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(port + 10),
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", "1000"}, fc.extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		fc.t.Fatalf("start redis-server %d: %v", port, err)
	}
	n := &failoverRedis{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	fc.nodes[port] = n
	if !clocktest.Within(10*time.Second, func() bool { return fc.node(port).Ping(context.Background()).Err() == nil }) {
		fc.t.Fatalf("redis %d did not answer", port)
	}
}

// kill ends the node on port at once (SIGKILL), as a crash would.
func (fc *failoverCluster) kill(port int) {
	fc.t.Helper()
	n := fc.nodes[port]
	_ = n.cmd.Process.Kill()
	<-n.exited
	delete(fc.nodes, port)
}

func (fc *failoverCluster) addrs() []string {
	var out []string
	for _, p := range fc.ports {
		out = append(out, "127.0.0.1:"+strconv.Itoa(p))
	}
	return out
}

// node is a plain client of one node, closed at cleanup.
func (fc *failoverCluster) node(port int) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1, DialTimeout: time.Second})
	fc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// failoverNodeInfo is one line of CLUSTER NODES.
type failoverNodeInfo struct {
	id, master string
	port       int
	primary    bool
	failed     bool
	slots      []string
}

// topology reads CLUSTER NODES from the first live node.
func (fc *failoverCluster) topology() []failoverNodeInfo {
	fc.t.Helper()
	ctx := context.Background()
	for _, p := range fc.ports {
		if fc.nodes[p] == nil {
			continue
		}
		out, err := fc.node(p).ClusterNodes(ctx).Result()
		if err != nil {
			continue
		}
		var nodes []failoverNodeInfo
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			hostPort, _, _ := strings.Cut(f[1], "@")
			_, ps, _ := net.SplitHostPort(hostPort)
			port, _ := strconv.Atoi(ps)
			flags := strings.Split(f[2], ",") // "nofailover" is a flag too
			nodes = append(nodes, failoverNodeInfo{id: f[0], master: f[3], port: port,
				primary: slices.Contains(flags, "master"), failed: slices.Contains(flags, "fail") || slices.Contains(flags, "fail?"), slots: f[8:]})
		}
		return nodes
	}
	fc.t.Fatal("no node of the private Redis Cluster answers CLUSTER NODES")
	return nil
}

// primaryOf is the port of the primary that serves key.
func (fc *failoverCluster) primaryOf(key string) int {
	fc.t.Helper()
	slot := fc.slotOf(key)
	for _, n := range fc.topology() {
		if !n.primary || n.failed {
			continue
		}
		for _, r := range n.slots {
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				return n.port
			}
		}
	}
	fc.t.Fatalf("no live primary serves slot %d: %+v", slot, fc.topology())
	return 0
}

func (fc *failoverCluster) slotOf(key string) int {
	fc.t.Helper()
	for _, p := range fc.ports {
		if fc.nodes[p] == nil {
			continue
		}
		if s, err := fc.node(p).ClusterKeySlot(context.Background(), key).Result(); err == nil {
			return int(s)
		}
	}
	fc.t.Fatal("no node answers CLUSTER KEYSLOT")
	return 0
}

// replicaOf is the port of the replica of the primary on port.
func (fc *failoverCluster) replicaOf(port int) int {
	fc.t.Helper()
	nodes := fc.topology()
	for _, p := range nodes {
		if p.port != port {
			continue
		}
		for _, r := range nodes {
			if r.master == p.id && !r.failed {
				return r.port
			}
		}
	}
	fc.t.Fatalf("the primary on %d has no replica", port)
	return 0
}

func (fc *failoverCluster) id(port int) string {
	fc.t.Helper()
	for _, n := range fc.topology() {
		if n.port == port {
			return n.id
		}
	}
	fc.t.Fatalf("no node on %d", port)
	return ""
}

// addPrimary adds an empty primary on port and its replica on port+1 (the
// scale-out a reshard then moves slots to) and returns once both have
// joined and the replica is in sync.
func (fc *failoverCluster) addPrimary(port int) {
	fc.t.Helper()
	for _, p := range []int{port, port + 1} {
		fc.start(p)
		fc.ports = append(fc.ports, p)
	}
	ctx := context.Background()
	seed := fc.ports[0]
	for _, p := range []int{port, port + 1} {
		// The bus port is not the default port+10000: name it.
		if err := fc.node(p).Do(ctx, "cluster", "meet", "127.0.0.1", seed, seed+10).Err(); err != nil {
			fc.t.Fatalf("CLUSTER MEET from %d: %v", p, err)
		}
	}
	// The replica can follow the new primary once it knows it.
	var id string
	if !clocktest.Within(10*time.Second, func() bool {
		id, _ = fc.node(port).ClusterMyID(ctx).Result()
		nodes, err := fc.node(port + 1).ClusterNodes(ctx).Result()
		return err == nil && id != "" && strings.Contains(nodes, id)
	}) {
		fc.t.Fatalf("the new nodes %d and %d did not meet", port, port+1)
	}
	if err := fc.node(port+1).Do(ctx, "cluster", "replicate", id).Err(); err != nil {
		fc.t.Fatalf("CLUSTER REPLICATE on %d: %v", port+1, err)
	}
	fc.waitHealthy()
}

// waitHealthy waits until every live node reports cluster_state:ok and
// every primary has a replica in sync.
func (fc *failoverCluster) waitHealthy() {
	fc.t.Helper()
	ctx := context.Background()
	ok := clocktest.Within(30*time.Second, func() bool {
		for _, p := range fc.ports {
			if fc.nodes[p] == nil {
				continue
			}
			info, err := fc.node(p).ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		for _, n := range fc.topology() {
			if !n.primary || n.failed {
				continue
			}
			repl, err := fc.node(n.port).Info(ctx, "replication").Result()
			if err != nil || !strings.Contains(repl, "connected_slaves:1") || !strings.Contains(repl, "state=online") {
				return false
			}
		}
		return true
	})
	if !ok {
		fc.t.Fatal("the private Redis Cluster did not become healthy within 30s")
	}
}

// failoverPeers starts n `gatehouse serve` processes on one PostgreSQL
// schema and the private cluster fc, with the session cache cacheTTL, an
// echo upstream behind /app/ (session) and /api/ (token), and /limited/
// (no auth) whose budget is shared: 4 requests, one more an hour.
func failoverPeers(t *testing.T, fc *failoverCluster, n int, cacheTTL string) *cluster {
	t.Helper()
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
admin_listen: ""
sessions: {store: redis, cache_ttl: %s}
redis: {cluster: {addrs: ["%s"]}, key_prefix: %q}
keys: {encryption_key: "cluster-test-encryption-key-0123456789"}
passwords: {memory_kib: 8192, iterations: 1, parallelism: 1}
login: {max_failures: 50}
log: {level: warn}
routes:
  - {name: app, match: {path_prefix: /app/}, upstream: %q, auth: session}
  - {name: api, match: {path_prefix: /api/}, upstream: %q, auth: token}
  - {name: limited, match: {path_prefix: /limited/}, upstream: %q, auth: none, rate_limit: {per: route, rate: 1, burst: 4, window: 1h}}
`, pgtest.DSN(t), cacheTTL, strings.Join(fc.addrs(), `", "`), failoverPrefix, up.URL, up.URL, up.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg}
	c.cli("", "migrate")
	c.cli(password+"\n", "user", "add", "alice", "--role", "user", "--password-stdin")
	for range n {
		c.nodes = append(c.nodes, c.startNode())
	}
	return c
}

// failoverSessionKey is the Redis key of the session behind cookie
// ("gatehouse=<value>").
func failoverSessionKey(cookie string) string {
	return failoverPrefix + "s:" + session.IDFromCookie(strings.TrimPrefix(cookie, "gatehouse="))
}

// failoverAnswers sends probe to base until it answers one of want
// (bounded by d), failing the test on any answer outside allowed
// meanwhile: a 500, or a 200 for a credential that must be refused.
func failoverAnswers(t *testing.T, base string, p probe, d time.Duration, want []int, allowed ...int) {
	t.Helper()
	var last int
	var lastBody string
	ok := clocktest.Within(d, func() bool {
		last, lastBody = request(t, p.method, base+p.path, "", p.header...)
		if !contains(want, last) && !contains(allowed, last) {
			t.Errorf("%s on %s answered %d %.80q, want only %v (then %v)", p.name, base, last, lastBody, allowed, want)
		}
		return contains(want, last)
	})
	if !ok {
		t.Fatalf("%s on %s = %d %.80q after %v, want %v", p.name, base, last, lastBody, d, want)
	}
}

// TestRedisClusterPrimaryFailover kills the Cluster primary that holds
// both alice's session and the revocation feed, with automatic failover
// off (cluster-replica-no-failover), so that the outage lasts until the
// test promotes the replica with CLUSTER FAILOVER FORCE, as an operator
// (or the cluster itself after cluster-node-timeout) would:
//
//   - while the primary is dead, every request that needs it answers 503
//     on both instances, cached or not, and a logged-out session is never
//     let in;
//   - once the replica is promoted, both recover without a restart: the
//     session and token work, the session logged out before the failover
//     stays out;
//   - a logout the promoted primary cannot replicate (its replica was the
//     dead node) is refused with 503, not reported done;
//   - once the old primary rejoins as a replica, a logout and a token
//     revocation on one instance reach the other (cache_ttl 30s: only the
//     feed can drop them), and the rate limit is one budget for both.
//
// Before, the instances kept dialling the dead primary for its slots after
// the promotion (go-redis reloads its slot map on MOVED, which a dead node
// never sends, or every 60 s): 503 for up to a minute after the recovery.
func TestRedisClusterPrimaryFailover(t *testing.T) {
	fc := startFailoverCluster(t, 7100, "--cluster-replica-no-failover", "yes")
	c := failoverPeers(t, fc, 2, "30s")
	a, b := c.nodes[0], c.nodes[1]

	feed := fc.primaryOf(failoverPrefix + "{rev}:stream")
	var cookie string
	for range 40 { // each login lands on the feed's primary with odds 1/3
		if ck := loginCookie(t, a); fc.primaryOf(failoverSessionKey(ck)) == feed {
			cookie = ck
			break
		}
	}
	if cookie == "" {
		t.Fatal("40 logins and no session on the primary of the revocation feed")
	}
	loggedOut, unreplicated := loginCookie(t, a), loginCookie(t, a)
	if status, body := request(t, "POST", b+"/auth/logout", "", "Cookie", loggedOut); status != http.StatusNoContent {
		t.Fatalf("logout before the failover = %d %s", status, body)
	}
	access, _ := passwordGrant(t, a, "alice")["access_token"].(string)
	probes := probesFor(cookie, access)
	for _, n := range c.nodes { // both caches hold the session and the token
		for _, p := range probes {
			if status, body := request(t, p.method, n+p.path, "", p.header...); status != http.StatusOK {
				t.Fatalf("%s on %s before the failover = %d %s", p.name, n, status, body)
			}
		}
	}
	dead := probe{"logged-out session", "GET", "/auth/session", []string{"Cookie", loggedOut}}

	replica := fc.replicaOf(feed)
	fc.kill(feed)
	for _, n := range c.nodes {
		failsClosed(t, n, "redis", probes)
		if status, _ := request(t, "GET", n+dead.path, "", dead.header...); status != http.StatusServiceUnavailable && status != http.StatusUnauthorized {
			t.Errorf("logged-out session on %s with the primary dead = %d, want 503 or 401", n, status)
		}
	}

	if err := fc.node(replica).Do(context.Background(), "cluster", "failover", "force").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER FORCE on %d: %v", replica, err)
	}
	for _, n := range c.nodes {
		for _, p := range probes {
			failoverAnswers(t, n, p, 20*time.Second, []int{http.StatusOK}, http.StatusServiceUnavailable)
		}
		failoverAnswers(t, n, dead, 5*time.Second, []int{http.StatusUnauthorized})
	}

	// The promoted primary has no replica: WAIT cannot be satisfied.
	if status, body := request(t, "POST", a+"/auth/logout", "", "Cookie", unreplicated); status != http.StatusServiceUnavailable {
		t.Errorf("logout with the promoted primary alone = %d %s, want 503 (a failover now would lose it)", status, body)
	}

	fc.start(feed) // rejoins as the replica of the promoted primary
	fc.waitHealthy()
	logout := probe{"logout", "POST", "/auth/logout", []string{"Cookie", cookie}}
	failoverAnswers(t, b, logout, 10*time.Second, []int{http.StatusNoContent}, http.StatusServiceUnavailable)
	for _, p := range []probe{probes[0], probes[2]} {
		failoverAnswers(t, a, p, 3*time.Second, []int{http.StatusUnauthorized, http.StatusFound}, http.StatusOK)
	}
	body, h := form(url.Values{"token": {access}})
	if status, out := request(t, "POST", a+"/auth/revoke", body, h...); status != http.StatusOK {
		t.Fatalf("revoke on A after the failover = %d %s", status, out)
	}
	failoverAnswers(t, b, probes[1], 3*time.Second, []int{http.StatusUnauthorized}, http.StatusOK)

	allowed := 0
	for i := range 8 {
		status, _ := request(t, "GET", c.nodes[i%2]+"/limited/x", "")
		switch status {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("rate-limited route after the failover = %d", status)
		}
	}
	if allowed != 4 {
		t.Errorf("A and B allowed %d requests after the failover, want the shared burst 4", allowed)
	}
}

// TestRedisClusterSlotMigrationKeepsSessions scales the cluster out (a
// new primary and its replica) and moves the slots of two of alice's
// sessions to the new primary by hand (SETSLOT IMPORTING and MIGRATING,
// MIGRATE, SETSLOT NODE), as redis-cli --cluster reshard does, with the
// session cache off so that every request reaches Redis. While the keys
// sit on the new primary and the slot is still the old one's (ASK), and
// after the move (MOVED), the sessions work, and a logout succeeds (204)
// and holds on both instances. Before, both logouts answered 503 and left
// the session alive: they go to the key's primary directly (for WAIT),
// where ASK and MOVED were taken for failures.
func TestRedisClusterSlotMigrationKeepsSessions(t *testing.T) {
	ctx := context.Background()
	fc := startFailoverCluster(t, 7120)
	c := failoverPeers(t, fc, 2, "0s")
	a, b := c.nodes[0], c.nodes[1]
	during, after, other := loginCookie(t, a), loginCookie(t, a), loginCookie(t, a)
	const dst = 7126
	fc.addPrimary(dst)

	type move struct{ slot, src int }
	var moves []move
	for _, ck := range []string{during, after} {
		key := failoverSessionKey(ck)
		moves = append(moves, move{fc.slotOf(key), fc.primaryOf(key)})
	}
	for _, m := range moves {
		src, to := fc.node(m.src), fc.node(dst)
		if err := to.Do(ctx, "cluster", "setslot", m.slot, "importing", fc.id(m.src)).Err(); err != nil {
			t.Fatalf("SETSLOT IMPORTING: %v", err)
		}
		if err := src.Do(ctx, "cluster", "setslot", m.slot, "migrating", fc.id(dst)).Err(); err != nil {
			t.Fatalf("SETSLOT MIGRATING: %v", err)
		}
		keys, err := src.ClusterGetKeysInSlot(ctx, m.slot, 100).Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("GETKEYSINSLOT %d = %v, %v", m.slot, keys, err)
		}
		args := []any{"migrate", "127.0.0.1", dst, "", 0, 5000, "keys"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("MIGRATE: %v", err)
		}
	}

	// ASK: the keys are on the new primary, the slots still the old ones'.
	for _, n := range c.nodes {
		for _, ck := range []string{during, after, other} {
			if status, body := request(t, "GET", n+"/app/x", "", "Cookie", ck); status != http.StatusOK {
				t.Errorf("session route on %s during the migration = %d %.80q, want 200", n, status, body)
			}
		}
	}
	if status, body := request(t, "POST", b+"/auth/logout", "", "Cookie", during); status != http.StatusNoContent {
		t.Errorf("logout on B of a session in a migrating slot = %d %.80q, want 204", status, body)
	}

	for _, m := range moves {
		for _, port := range []int{dst, m.src} {
			if err := fc.node(port).Do(ctx, "cluster", "setslot", m.slot, "node", fc.id(dst)).Err(); err != nil {
				t.Fatalf("SETSLOT NODE on %d: %v", port, err)
			}
		}
	}
	// MOVED: the slots are the new primary's.
	for _, n := range c.nodes {
		if status, body := request(t, "GET", n+"/app/x", "", "Cookie", after); status != http.StatusOK {
			t.Errorf("session route on %s after the migration = %d %.80q, want 200", n, status, body)
		}
	}
	if status, body := request(t, "POST", a+"/auth/logout", "", "Cookie", after); status != http.StatusNoContent {
		t.Errorf("logout on A of a session in a moved slot = %d %.80q, want 204", status, body)
	}
	for _, n := range c.nodes {
		for _, ck := range []string{during, after} {
			if status, _ := request(t, "GET", n+"/auth/session", "", "Cookie", ck); status != http.StatusUnauthorized {
				t.Errorf("logged-out session on %s = %d, want 401", n, status)
			}
		}
		if status, _ := request(t, "GET", n+"/auth/session", "", "Cookie", other); status != http.StatusOK {
			t.Errorf("untouched session on %s = %d, want 200", n, status)
		}
	}
}

// TestPgBouncerRestartFailsClosedAndRecovers cuts every connection between
// two instances and PgBouncer (transaction pooling, sessions and the
// revocation feed in PostgreSQL) while their pools hold idle ones, as a
// PgBouncer restart does, twice: at once after use, and after the pools
// sat idle for over a second. Requests sent after the cut, one after
// another and concurrently, succeed: the reads they make, and the
// refresh's transaction (whose BEGIN is the first statement it sends),
// run again on fresh connections when they meet a dead one. Never a 503,
// a 500, or a refusal of a valid session, token or refresh token. Without
// a restart of gatehouse, a logout on one instance reaches the other.
func TestPgBouncerRestartFailsClosedAndRecovers(t *testing.T) {
	pooled, direct := pgtest.BouncerDSN(t)
	link := tcpproxy.New(t, pgtest.BouncerAddr)
	u, err := url.Parse(pooled)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = link.Addr()
	up := httptest.NewServer(demo.Echo())
	t.Cleanup(up.Close)
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
store_migrate: %q
admin_listen: ""
sessions: {cache_ttl: 0s}
keys: {encryption_key: "cluster-test-encryption-key-0123456789"}
passwords: {memory_kib: 8192, iterations: 1, parallelism: 1}
login: {max_failures: 50}
log: {level: warn}
routes:
  - {name: app, match: {path_prefix: /app/}, upstream: %q, auth: session}
  - {name: api, match: {path_prefix: /api/}, upstream: %q, auth: token}
`, u.String(), direct, up.URL, up.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg}
	c.cli("", "migrate")
	c.cli(password+"\n", "user", "add", "alice", "--role", "user", "--password-stdin")
	a, b := c.startNode(), c.startNode()

	cookie := loginCookie(t, a)
	grant := passwordGrant(t, a, "alice")
	access, _ := grant["access_token"].(string)
	refresh, _ := grant["refresh_token"].(string)
	probes := append(probesFor(cookie, access), probe{"userinfo", "GET", "/auth/userinfo", []string{"Authorization", "Bearer " + access}})

	for _, idle := range []time.Duration{0, 1500 * time.Millisecond} {
		for _, n := range []string{a, b} { // the pools hold idle connections
			for _, p := range probes {
				failoverAnswers(t, n, p, 5*time.Second, []int{http.StatusOK}, http.StatusServiceUnavailable)
			}
		}
		time.Sleep(idle)
		link.Stop()
		link.Start()

		// One after another: the first request to each instance meets
		// every dead pooled connection. A login and a logout first: their
		// session writes run again too, when they meet a dead connection.
		for _, n := range []string{a, b} {
			if e := loginLogout(t, n); e != "" {
				t.Errorf("after the cut (idle %v): %s", idle, e)
			}
			for _, p := range probes {
				if status, out := request(t, p.method, n+p.path, "", p.header...); status != http.StatusOK {
					t.Errorf("%s on %s after the cut (idle %v) = %d %.80q, want 200", p.name, n, idle, status, out)
				}
			}
		}
		status, m := tokens(t, b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if next, _ := m["refresh_token"].(string); status != http.StatusOK || next == "" {
			t.Fatalf("refresh on B after the cut (idle %v) = %d %v, want 200", idle, status, m)
		} else {
			refresh = next
		}
		// Cut again, with the pools full (requests in parallel open every
		// connection a pool may hold), and send requests in parallel: they
		// meet the dead connections together.
		fillPools(t, []string{a, b}, probes[2])
		link.Stop()
		link.Start()
		errs := make(chan string, 32)
		done := make(chan struct{})
		for i := range 2 { // a login and a logout at a time per instance
			n := []string{a, b}[i]
			go func() {
				defer func() { done <- struct{}{} }()
				for range 5 {
					if e := loginLogout(t, n); e != "" {
						errs <- e
					}
				}
			}()
		}
		for i := range 4 {
			n := []string{a, b}[i%2]
			go func() {
				defer func() { done <- struct{}{} }()
				for range 5 {
					p := probes[i%len(probes)]
					if status, out := request(t, p.method, n+p.path, "", p.header...); status != http.StatusOK {
						errs <- fmt.Sprintf("%s on %s = %d %.80q", p.name, n, status, out)
					}
				}
			}()
		}
		for range 2 + 4 {
			<-done
		}
		close(errs)
		for e := range errs {
			t.Errorf("concurrently after the cut (idle %v): %s, want 200", idle, e)
		}
	}

	if status, out := request(t, "POST", b+"/auth/logout", "", "Cookie", cookie); status != http.StatusNoContent {
		t.Fatalf("logout on B = %d %.80q, want 204", status, out)
	}
	failoverAnswers(t, a, probes[2], 3*time.Second, []int{http.StatusUnauthorized}, http.StatusOK)
}

// fillPools sends p to every node in parallel, as many at once as a
// PostgreSQL store's pool holds connections (10), so that each instance's
// pool then holds that many idle ones.
func fillPools(t *testing.T, nodes []string, p probe) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range 10 {
			wg.Go(func() { _, _ = request(t, p.method, n+p.path, "", p.header...) })
		}
	}
	wg.Wait()
}

// loginLogout logs alice in on node and out again, and describes what
// went wrong ("" when the login answered 200 and the logout 204, and the
// session is gone).
func loginLogout(t *testing.T, node string) string {
	t.Helper()
	login, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	req, _ := http.NewRequest("POST", node+"/auth/login", bytes.NewReader(login))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Sprintf("login on %s: %v", node, err)
	}
	out := testutil.ReadBody(t, resp)
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == "" {
		return fmt.Sprintf("login on %s = %d %.80q, want 200 with a session cookie", node, resp.StatusCode, out)
	}
	if status, out := request(t, "POST", node+"/auth/logout", "", "Cookie", cookie); status != http.StatusNoContent {
		return fmt.Sprintf("logout on %s = %d %.80q, want 204", node, status, out)
	}
	if status, _ := request(t, "GET", node+"/auth/session", "", "Cookie", cookie); status != http.StatusUnauthorized {
		return fmt.Sprintf("logged-out session on %s = %d, want 401", node, status)
	}
	return ""
}
