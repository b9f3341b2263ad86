package redis_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/redis"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// logRecord is one JSON line of a captured slog logger.
type logRecord struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// records parses the JSON lines logged into buf.
func records(t *testing.T, buf *testutil.SyncBuffer) []logRecord {
	t.Helper()
	var recs []logRecord
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		recs = append(recs, r)
	}
	return recs
}

// captureRedisLog sends what go-redis logs by itself (from its own
// goroutines too) to a JSON logger at DEBUG, as serve does with its own
// (SetLogger), until the test ends.
func captureRedisLog(t *testing.T) *testutil.SyncBuffer {
	t.Helper()
	buf := &testutil.SyncBuffer{}
	redis.SetLogger(slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { redis.SetLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))) })
	return buf
}

// What go-redis logs by itself reaches the log at a level that says what
// it is: on a healthy Sentinel start (and so every CLI command, which logs
// WARN and above) its routine lines — the sentinel it picked, the primary
// it found — are INFO or DEBUG, not WARN; a sentinel that does not answer
// stays WARN. No line says "redis: redis:".
func TestGoRedisLogLevels(t *testing.T) {
	tests := []struct {
		name      string
		topology  func(t *testing.T) redis.Topology
		wantWarn  bool
		wantQuiet string // a routine line that must be there, below WARN
	}{
		{"healthy sentinel", func(t *testing.T) redis.Topology {
			d, _ := redistest.Deploy(t, redistest.Sentinel)
			return redis.Topology(d)
		}, false, "redis: sentinel: new master="},
		{"sentinel not answering", func(*testing.T) redis.Topology {
			return redis.Topology{SentinelMaster: redistest.SentinelMaster, SentinelAddrs: []string{"127.0.0.1:18901"}}
		}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := captureRedisLog(t)
			top := tt.topology(t)
			s, err := redis.OpenTopology(context.Background(), top)
			if err != nil {
				t.Fatalf("OpenTopology: %v", err)
			}
			pingErr := s.Ping(context.Background())
			_ = s.Close()
			if (pingErr != nil) != tt.wantWarn {
				t.Fatalf("Ping = %v", pingErr)
			}
			recs := records(t, logs)
			warned, quiet := false, tt.wantQuiet == ""
			for _, r := range recs {
				if strings.HasPrefix(r.Msg, "redis: redis:") {
					t.Errorf("doubled prefix: %s %q", r.Level, r.Msg)
				}
				switch {
				case r.Level == "WARN" || r.Level == "ERROR":
					warned = true
					if !tt.wantWarn {
						t.Errorf("a healthy start logged %s %q", r.Level, r.Msg)
					}
				case tt.wantQuiet != "" && strings.HasPrefix(r.Msg, tt.wantQuiet):
					quiet = true
				}
			}
			if tt.wantWarn && !warned {
				t.Errorf("no WARN line for a sentinel that does not answer: %+v", recs)
			}
			if !quiet {
				t.Errorf("no INFO or DEBUG line %q: %+v", tt.wantQuiet, recs)
			}
		})
	}
}
