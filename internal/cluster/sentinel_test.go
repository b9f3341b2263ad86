package cluster_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// TestSentinelFailoverFailsClosedAndKeepsLogouts runs gatehouse on a
// Sentinel group of its own (primary, replica, one sentinel), so that
// killing the primary disturbs no other test. The replica follows the
// primary through a proxy the test can cut.
//
//   - A logout acknowledged before the failover stays in force after it.
//   - A logout that the replica cannot acknowledge is not reported as done
//     (503): the old, WAIT-less store answered 204, lost the deletion in the
//     failover and let the "logged out" cookie in again.
//   - While the primary is dead and not yet replaced, every request that
//     needs Redis answers 503; after SENTINEL FAILOVER, gatehouse follows
//     the new primary without a restart.
func TestSentinelFailoverFailsClosedAndKeepsLogouts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	primary, primaryCmd := redistest.Start(t, "")
	link := tcpproxy.New(t, primary)
	linkHost, linkPort, _ := net.SplitHostPort(link.Addr())
	replica, _ := redistest.Start(t, "", "--replicaof", linkHost, linkPort)

	// down-after is long so that only the test's SENTINEL FAILOVER moves the
	// primary: the outage window is then the test's, not a timer's.
	// failover-timeout is long too: the replica follows the primary through
	// the proxy, so Sentinel sees it configured for another master and,
	// failover-timeout after it first saw it, "fixes" it (REPLICAOF the
	// primary's own address). A failover requested at that moment aborted
	// (+fix-slave-config, then -failover-abort-no-good-slave in Sentinel's
	// log): with 10 s, a loaded machine reached the failover later than that
	// and the test failed 5 times in 6; with 180 s, 4 in 4 passed.
	primaryHost, primaryPort, _ := net.SplitHostPort(primary)
	sentinelConf := filepath.Join(dir, "sentinel.conf")
	conf := fmt.Sprintf("sentinel monitor gh %s %s 1\nsentinel down-after-milliseconds gh 60000\nsentinel failover-timeout gh 180000\n", primaryHost, primaryPort)
	if err := os.WriteFile(sentinelConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinelLog := filepath.Join(dir, "sentinel.log")
	sentinel, _ := redistest.Start(t, sentinelConf, "--sentinel", "--logfile", sentinelLog) // it rewrites sentinelConf
	t.Cleanup(func() {
		if t.Failed() { // what Sentinel did (+switch-master, -failover-abort-…) says why
			b, _ := os.ReadFile(sentinelLog)
			t.Logf("sentinel log:\n%s", b)
		}
	})
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel})
	t.Cleanup(func() { _ = sc.Close() })
	rc := goredis.NewClient(&goredis.Options{Addr: replica})
	t.Cleanup(func() { _ = rc.Close() })
	ready := clocktest.Within(20*time.Second, func() bool {
		replicas, err := sc.Replicas(ctx, "gh").Result()
		info, _ := rc.Info(ctx, "replication").Result()
		return err == nil && len(replicas) == 1 && strings.Contains(info, "master_link_status:up")
	})
	if !ready {
		t.Fatal("the sentinel group did not come up with one replica")
	}

	_, prefix := redistest.New(t) // only for a prefix; these keys live in the private group
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Sessions.Store = "redis"
		c.Redis = config.Redis{
			Sentinel:     config.RedisSentinel{Master: "gh", Addrs: []string{sentinel}},
			KeyPrefix:    prefix,
			WaitReplicas: -1,
			WaitTimeout:  config.Duration(300 * time.Millisecond),
		}
		withEcho(t, c)
	}))
	g.CreateUser(t, "alice", password)
	loggedOut, _ := credentials(t, g.URL)
	unacked, _ := credentials(t, g.URL)
	cookie, access := credentials(t, g.URL)
	probes := probesFor(cookie, access)
	for _, p := range probes {
		if status, _ := request(t, p.method, g.URL+p.path, "", p.header...); status != http.StatusOK {
			t.Fatalf("%s before the failover = %d", p.name, status)
		}
	}

	if status, _ := request(t, "POST", g.URL+"/auth/logout", "", "Cookie", loggedOut); status != http.StatusNoContent {
		t.Fatalf("logout with the replica in sync = %d, want 204", status)
	}
	link.Stop()
	status, _ := request(t, "POST", g.URL+"/auth/logout", "", "Cookie", unacked)
	if status != http.StatusServiceUnavailable {
		t.Errorf("logout the replica cannot acknowledge = %d, want 503 (the failover below loses it)", status)
	}

	_ = primaryCmd.Process.Kill()
	failsClosed(t, g.URL, "redis", probes)

	if err := sc.Failover(ctx, "gh").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	recovers(t, g.URL, probes)

	if status, _ := request(t, "GET", g.URL+"/auth/session", "", "Cookie", loggedOut); status != http.StatusUnauthorized {
		t.Errorf("session logged out (204) before the failover = %d after it, want 401", status)
	}
	if status == http.StatusNoContent {
		if after, _ := request(t, "GET", g.URL+"/auth/session", "", "Cookie", unacked); after != http.StatusUnauthorized {
			t.Errorf("session whose logout was acknowledged (204) = %d after the failover, want 401", after)
		}
	}
}
