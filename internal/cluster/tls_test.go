package cluster_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/certtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

func TestTLSServesHTTPSWithHSTSAndHostCookie(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := certtest.SelfSigned(t, dir)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := fmt.Sprintf("store: sqlite://%s\nadmin_listen: \"\"\ntls: {cert: %q, key: %q}\npasswords: {memory_kib: 8192, iterations: 1, parallelism: 1}\n",
		filepath.Join(dir, "gh.db"), certFile, keyFile)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	add := exec.Command(binary, "user", "add", "alice", "--password-stdin", "-c", cfg)
	add.Env = childEnv()
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	addr := strings.TrimPrefix(launch(t, cfg).base, "http://")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + addr
	if !clocktest.Within(10*time.Second, func() bool {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("gatehouse did not answer over HTTPS")
	}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q", hsts)
	}
	req, _ := http.NewRequest("POST", base+"/auth/login", strings.NewReader(`{"username":"alice","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(set, "__Host-gatehouse=") || !strings.Contains(set, "; Secure") {
		t.Errorf("login over TLS = %d, Set-Cookie %q; want __Host-gatehouse with Secure", resp.StatusCode, set)
	}
	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
}
