package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// countingCounter is a prometheus.Counter whose count the test can read.
type countingCounter struct {
	prometheus.Counter
	n atomic.Int64
}

func (c *countingCounter) Inc() { c.n.Add(1) }

// logLine serves one request through a server whose request lines go
// through the access log (fast) or through the slog JSON logger and
// returns the line decoded.
func logLine(t *testing.T, fast bool, target string) map[string]any {
	t.Helper()
	var sink testutil.SyncBuffer
	d := httpapi.Deps{Logger: slog.New(slog.NewJSONHandler(&sink, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	var al *httpapi.AccessLog
	if fast {
		al = httpapi.NewAccessLog(&sink, nil)
		d.AccessLog = al
	}
	h, err := httpapi.NewServer(d)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://gatehouse.test/", nil)
	req.URL.Path = target // as a client could send it, escaped or not
	req.RemoteAddr = "192.0.2.7:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if al != nil {
		_ = al.Close()
	}
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %q", sink.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("line %q is not JSON: %v", lines[0], err)
	}
	if id := rec.Header().Get("X-Request-Id"); m["request_id"] != id {
		t.Errorf("request_id = %v, want the X-Request-Id %q", m["request_id"], id)
	}
	return m
}

// TestAccessLogMatchesSlogLine: the access log writes the line the slog
// JSON handler wrote before it, field for field, for paths that need
// escaping too.
func TestAccessLogMatchesSlogLine(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"plain", "/orders/42"},
		{"quote and backslash", `/a"b\c`},
		{"control characters", "/a\nb\tc\x01"},
		{"invalid UTF-8", "/a\xffb"},
		{"line separators", "/a\u2028b\u2029"},
		{"non-ASCII", "/bücher/日本"},
		{"HTML characters kept", "/<a>&"},
		{"escapes between plain runs", "/orders/42/\"x\"/y\\z/\x1f/\x7f/caf\xc3\xa9/\xe2\x80\xa8/end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, slow := logLine(t, true, tc.path), logLine(t, false, tc.path)
			for _, k := range []string{"time", "duration", "request_id"} {
				if _, ok := fast[k]; !ok {
					t.Errorf("access log line lacks %q: %v", k, fast)
				}
				delete(fast, k)
				delete(slow, k)
			}
			fj, _ := json.Marshal(fast)
			sj, _ := json.Marshal(slow)
			if !bytes.Equal(fj, sj) {
				t.Errorf("access log line\n%s\nslog line\n%s", fj, sj)
			}
		})
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	n       testutil.SyncBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.n.Write(p)
}

// TestAccessLogNeverBlocksRequests: with a writer that does not return,
// requests still complete; the lines that do not fit are dropped and
// counted, and every other line is written once the writer moves again.
func TestAccessLogNeverBlocksRequests(t *testing.T) {
	counter := &countingCounter{}
	w := &blockingWriter{release: make(chan struct{})}
	al := httpapi.NewAccessLog(w, counter)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); al.Run(ctx) }()
	h, err := httpapi.NewServer(httpapi.Deps{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: al})
	if err != nil {
		t.Fatal(err)
	}
	const requests = 3000 // ~750 KiB of lines: more than the log's buffers hold
	for range requests {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	}
	dropped := counter.n.Load()
	if dropped == 0 {
		t.Fatal("no line dropped although the writer never returned")
	}
	close(w.release)
	cancel()
	<-done
	_ = al.Close()
	written := strings.Count(w.n.String(), "\n")
	if written+int(dropped) != requests {
		t.Errorf("written %d + dropped %v != %d requests", written, dropped, requests)
	}
	for i, line := range strings.Split(strings.TrimSpace(w.n.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %q", i, line)
		}
	}
}

// TestAccessLogQuietAndLevel: QuietLogs keeps only failed requests, and a
// logger above info switches the access log off.
func TestAccessLogQuietAndLevel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		quiet bool
		want  int // lines for one 200 and one 404
	}{
		{"info", slog.LevelInfo, false, 2},
		{"quiet", slog.LevelInfo, true, 1},
		{"warn", slog.LevelWarn, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink testutil.SyncBuffer
			al := httpapi.NewAccessLog(&sink, nil)
			h, err := httpapi.NewServer(httpapi.Deps{
				Logger:    slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: tc.level})),
				AccessLog: al, QuietLogs: tc.quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"/healthz", "/nowhere"} {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
			}
			_ = al.Close()
			if got := strings.Count(sink.String(), "\n"); got != tc.want {
				t.Errorf("%d lines, want %d: %q", got, tc.want, sink.String())
			}
		})
	}
}

// TestRequestIDsUnique: every response names its own request ID.
func TestRequestIDsUnique(t *testing.T) {
	h, err := httpapi.NewServer(httpapi.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 1000 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		id := rec.Header().Get("X-Request-Id")
		if id == "" || seen[id] {
			t.Fatalf("request ID %q empty or repeated", id)
		}
		seen[id] = true
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
}
