package cluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// redisSection is the redis: section of a config for one of the test
// deployments, under prefix.
func redisSection(t *testing.T, kind redistest.Kind) string {
	t.Helper()
	d, prefix := redistest.Deploy(t, kind)
	switch kind {
	case redistest.Sentinel:
		return fmt.Sprintf(`redis: {sentinel: {master: %q, addrs: ["%s"]}, key_prefix: %q}`,
			d.SentinelMaster, strings.Join(d.SentinelAddrs, `", "`), prefix)
	case redistest.Cluster:
		return fmt.Sprintf(`redis: {cluster: {addrs: ["%s"]}, key_prefix: %q}`, strings.Join(d.ClusterAddrs, `", "`), prefix)
	default:
		return fmt.Sprintf(`redis: {url: %q, key_prefix: %q}`, d.URL, prefix)
	}
}

// startPeers starts n `gatehouse serve` processes on one PostgreSQL schema
// and the Redis deployment kind, with extra appended to the config, and
// adds the user alice.
func startPeers(t *testing.T, kind redistest.Kind, n int, extra string) *cluster {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	body := fmt.Sprintf(`store: %q
admin_listen: ""
sessions: {store: redis, cache_ttl: 30s}
%s
keys: {encryption_key: "cluster-test-encryption-key-0123456789"}
passwords: {memory_kib: 8192, iterations: 1, parallelism: 1}
log: {level: warn}
%s`, pgtest.DSN(t), redisSection(t, kind), extra)
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

// loginCookie logs alice in on node and returns her session cookie.
func loginCookie(t *testing.T, node string) string {
	t.Helper()
	login, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	req, _ := http.NewRequest("POST", node+"/auth/login", bytes.NewReader(login))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse" && resp.StatusCode == http.StatusOK {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatalf("login on %s = %d, no cookie", node, resp.StatusCode)
	return ""
}

// refusedWithin1s reports whether probe answers 401 on node within a second.
func refusedWithin1s(t *testing.T, node, path string, header ...string) bool {
	t.Helper()
	return clocktest.Within(time.Second, func() bool {
		status, _ := request(t, "GET", node+path, "", header...)
		return status == http.StatusUnauthorized
	})
}

// Every revocation made on one instance is in force on the other within a
// second, on each Redis topology, although the other holds the credential
// in its caches (cache_ttl 30s): a revoked access token (jti), a revoked
// refresh family (sid), a session revoked by ID from the session list.
func TestRevocationsReachThePeerOnEveryTopology(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			c := startPeers(t, kind, 2, "")
			a, b := c.nodes[0], c.nodes[1]
			grant := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}

			// jti: POST /auth/revoke with the access token on A.
			_, m := tokens(t, a, grant)
			access, _ := m["access_token"].(string)
			if status, _ := request(t, "GET", b+"/auth/userinfo", "", "Authorization", "Bearer "+access); status != http.StatusOK {
				t.Fatalf("userinfo on B = %d", status)
			}
			body, h := form(url.Values{"token": {access}})
			if status, _ := request(t, "POST", a+"/auth/revoke", body, h...); status != http.StatusOK {
				t.Fatalf("revoke on A = %d", status)
			}
			if !refusedWithin1s(t, b, "/auth/userinfo", "Authorization", "Bearer "+access) {
				t.Error("B accepts an access token revoked on A a second later")
			}

			// sid: POST /auth/revoke with the refresh token on B.
			_, m = tokens(t, a, grant)
			access, _ = m["access_token"].(string)
			if status, _ := request(t, "GET", a+"/auth/userinfo", "", "Authorization", "Bearer "+access); status != http.StatusOK {
				t.Fatalf("userinfo on A = %d", status)
			}
			body, h = form(url.Values{"token": {m["refresh_token"].(string)}})
			if status, _ := request(t, "POST", b+"/auth/revoke", body, h...); status != http.StatusOK {
				t.Fatalf("revoke on B = %d", status)
			}
			if !refusedWithin1s(t, a, "/auth/userinfo", "Authorization", "Bearer "+access) {
				t.Error("A accepts an access token whose family B revoked a second later")
			}

			// A session revoked by ID from another session on A.
			victim, other := loginCookie(t, a), loginCookie(t, a)
			status, out := request(t, "GET", b+"/auth/session", "", "Cookie", victim)
			var s struct {
				Session struct{ ID string } `json:"session"`
			}
			if err := json.Unmarshal([]byte(out), &s); status != http.StatusOK || err != nil || s.Session.ID == "" {
				t.Fatalf("session on B = %d %s", status, out)
			}
			req, _ := http.NewRequest("DELETE", a+"/auth/sessions/"+s.Session.ID, nil)
			req.Header.Set("Cookie", other)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE /auth/sessions/{id} on A = %d", resp.StatusCode)
			}
			if !refusedWithin1s(t, b, "/auth/session", "Cookie", victim) {
				t.Error("B accepts a session revoked on A a second later")
			}
		})
	}
}

// runCLI runs a gatehouse command with cfg and the extra environment env
// and returns its exit error and combined output.
func runCLI(cfg string, env []string, args ...string) (error, string) {
	cmd := exec.Command(binary, append(args, "-c", cfg)...)
	cmd.Env = append(childEnv(), env...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	return err, string(out)
}

// A command run with another tokens.algorithm than the running instances
// (a default ES256 CLI against an RS256 deployment, say) must not make a
// key of its own algorithm the store's active key: before, any command
// (`user add` here) did, the instances' reloads failed from then on, they
// kept signing with a key the store had put into retirement, and the next
// instance to restart turned the store back.
func TestCommandWithAnotherAlgorithmLeavesTheKeysAlone(t *testing.T) {
	c := startPeers(t, redistest.Single, 1, "tokens: {algorithm: RS256}\n")
	a := c.nodes[0]
	before := c.cli("", "keys", "list")

	err, out := runCLI(c.cfg, []string{"GATEHOUSE_TOKENS_ALGORITHM=ES256"}, "user", "add", "bob", "--password-stdin")
	if err == nil {
		t.Errorf("user add with tokens.algorithm ES256 against an RS256 store succeeded:\n%s", out)
	}
	if !strings.Contains(out, "tokens.algorithm") {
		t.Errorf("the error does not name tokens.algorithm:\n%s", out)
	}
	if after := c.cli("", "keys", "list"); after != before {
		t.Errorf("keys changed by a command with another algorithm:\nbefore\n%s\nafter\n%s", before, after)
	}
	_, m := tokens(t, a, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}})
	access, _ := m["access_token"].(string)
	if status, _ := request(t, "GET", a+"/auth/userinfo", "", "Authorization", "Bearer "+access); status != http.StatusOK {
		t.Errorf("userinfo with a fresh token = %d", status)
	}
}

// A second-factor login that begins on one instance finishes on the other
// (the pending cookie opens everywhere), and a TOTP code is accepted once
// across instances: the replay cache is shared through Redis Cluster.
func TestSecondFactorAcrossInstancesOnCluster(t *testing.T) {
	c := startPeers(t, redistest.Cluster, 2, "")
	a, b := c.nodes[0], c.nodes[1]
	jar := testutil.Client(t) // one jar: cookies do not tell ports apart
	post := func(u string, v any) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(v)
		req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := jar.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(testutil.ReadBody(t, resp)), &m)
		return resp.StatusCode, m
	}
	creds := map[string]string{"username": "alice", "password": password}
	if status, m := post(a+"/auth/login", creds); status != http.StatusOK {
		t.Fatalf("login on A = %d %v", status, m)
	}
	status, m := post(a+"/auth/mfa/totp", map[string]string{})
	secret, _ := m["secret"].(string)
	if status != http.StatusOK || secret == "" {
		t.Fatalf("TOTP enrolment on A = %d %v", status, m)
	}
	now := time.Now()
	if status, m := post(b+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, now)}); status != http.StatusNoContent {
		t.Fatalf("confirm on B = %d %v", status, m)
	}

	next := mfatest.TOTPCode(t, secret, now.Add(30*time.Second)) // one step on: within the ±1 step window
	if status, m := post(a+"/auth/login", creds); status != http.StatusOK || m["mfa_required"] != true {
		t.Fatalf("password step on A = %d %v, want mfa_required", status, m)
	}
	if status, m := post(b+"/auth/login/mfa", map[string]string{"method": "totp", "code": next}); status != http.StatusOK {
		t.Fatalf("second step on B with the pending cookie from A = %d %v", status, m)
	}
	if status, m := post(b+"/auth/login", creds); status != http.StatusOK || m["mfa_required"] != true {
		t.Fatalf("password step on B = %d %v, want mfa_required", status, m)
	}
	if status, m := post(a+"/auth/login/mfa", map[string]string{"method": "totp", "code": next}); status == http.StatusOK {
		t.Errorf("the TOTP code used on B is accepted again on A: %v", m)
	}
}
