package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/certtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// What net/http itself reports about a connection (here a client that
// speaks no TLS to the TLS listener, as any scanner does) is a JSON line of
// gatehouse's log (contract §6), not a plain-text line of the log package
// on stderr between them.
func TestHTTPServerErrorsGoToTheJSONLog(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := certtest.SelfSigned(t, dir)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.TLS.Cert, c.TLS.Key = certFile, keyFile }))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("\x00\x01\x02\x03\x04\x05\x06\x07")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Read(make([]byte, 64)) // the server closes the connection
	conn.Close()
	if !clocktest.Within(5*time.Second, func() bool { return strings.Contains(g.Logs(), "TLS handshake error") }) {
		t.Fatalf("no TLS handshake error in the JSON log:\n%s", g.Logs())
	}
	for line := range strings.SplitSeq(strings.TrimSpace(g.Logs()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

// What go-redis reports by itself (here a Sentinel it cannot dial) is a
// JSON line of gatehouse's log, like net/http's: go-redis's default logger
// writes plain text to stderr, outside the JSON stream and outside any
// control of what it holds.
func TestRedisClientReportsGoToTheJSONLog(t *testing.T) {
	cfg := testutil.TestConfig(t.TempDir())
	cfg.Redis.Sentinel.Master, cfg.Redis.Sentinel.Addrs = "mymaster", []string{"127.0.0.1:1"} // nothing listens on port 1
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	a, err := app.New(context.Background(), cfg, log, app.Options{Migrate: true})
	if err == nil {
		a.Close()
		t.Fatal("New with an unreachable Sentinel succeeded")
	}
	if !strings.Contains(logs.String(), "GetMasterAddrByName") {
		t.Fatalf("go-redis's report of the unreachable Sentinel is not in the JSON log:\n%s", logs)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}
