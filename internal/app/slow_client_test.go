package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestListenersCutOffSlowHeaders: both HTTP listeners, listen and
// admin_listen, close the connection of a client that sends its request
// headers a byte at a time (slowloris) long before it would finish them:
// neither holds a connection for as long as a client likes before any
// handler, and its limits, could see the request.
func TestListenersCutOffSlowHeaders(t *testing.T) {
	cfg := testutil.TestConfig(t.TempDir())
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, adminLn) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})

	for name, addr := range map[string]string{"listen": ln.Addr().String(), "admin_listen": adminLn.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The test's own bound, far beyond the server's.
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			// Under the 64 KiB header limit; at a byte every 20 ms it
			// would take ten minutes.
			const total = 30_000
			head := "GET /healthz HTTP/1.1\r\nHost: gatehouse.test\r\nX-Slow: "
			closed := make(chan struct{})
			var readErr error
			go func() {
				_, readErr = conn.Read(make([]byte, 1))
				close(closed)
			}()
			sent := testutil.Trickle(conn, head, total, closed)
			<-closed
			// The server closing the connection ends the read at once; the
			// test's own deadline ending it means the server never did.
			var ne net.Error
			if err := readErr; sent >= total || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still waits after %d bytes of headers (read: %v)", sent, err)
			}
		})
	}
}
