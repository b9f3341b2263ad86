package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestObserverRequestID: a request answered outside the handler (an Envoy
// gRPC Check) is logged with the proxy's X-Request-Id as request_id only
// when it is a plausible ID; anything that could fake or end a log line,
// drive a terminal or swell the log gets an ID of gatehouse's instead, and
// is not logged at all. Whatever the ID, the access log and the slog
// logger write one line each.
func TestObserverRequestID(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []string
		kept bool
	}{
		{"uuid", []string{"6b1a2c3d-0000-4000-8000-000000000001"}, true},
		{"trace header", []string{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"}, true},
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"two", []string{"first-id", "second-id"}, false},
		{"newline", []string{"abc\n{\"msg\":\"request\"}"}, false},
		{"escape sequence", []string{"\x1b[31mred"}, false},
		{"quote", []string{`a"b`}, false},
		{"space", []string{"a b"}, false},
		{"non-ASCII", []string{"café"}, false},
		{"129 characters", []string{strings.Repeat("a", 129)}, false},
		{"10 KB", []string{strings.Repeat("A", 10<<10)}, false},
	} {
		for _, fast := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				var sink testutil.SyncBuffer
				d := httpapi.Deps{Logger: slog.New(slog.NewJSONHandler(&sink, nil))}
				var al *httpapi.AccessLog
				if fast {
					al = httpapi.NewAccessLog(&sink, nil)
					d.AccessLog = al
				}
				r := &http.Request{Method: "GET", Host: "app.example.com", URL: &url.URL{Path: "/x", RawQuery: "code=QUERYCODE"},
					Header: http.Header{}, RemoteAddr: "192.0.2.7:5000"}
				if tc.ids != nil {
					r.Header["X-Request-Id"] = tc.ids
				}
				httpapi.NewObserver(d).Observe("/envoy.service.auth.v3.Authorization/Check", r, http.StatusForbidden, 24, time.Now())
				if al != nil {
					_ = al.Close()
				}
				lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
				if len(lines) != 1 {
					t.Fatalf("want one line, got %q", sink.String())
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
					t.Fatalf("line %q is not JSON: %v", lines[0], err)
				}
				id, _ := m["request_id"].(string)
				if tc.kept && id != tc.ids[0] {
					t.Errorf("request_id = %q, want the proxy's %q", id, tc.ids[0])
				}
				if !tc.kept && (id == "" || len(tc.ids) > 0 && len(tc.ids[0]) > 0 && strings.Contains(lines[0], tc.ids[0])) {
					t.Errorf("request_id = %q: want gatehouse's own, not the proxy's (line %s)", id, lines[0])
				}
				for k, v := range map[string]any{"msg": "request", "method": "GET", "path": "/x", "host": "app.example.com",
					"status": 403.0, "bytes": 24.0, "ip": "192.0.2.7", "route": "/envoy.service.auth.v3.Authorization/Check"} {
					if m[k] != v {
						t.Errorf("%s = %#v, want %#v", k, m[k], v)
					}
				}
				if strings.Contains(lines[0], "QUERYCODE") {
					t.Errorf("the line holds the query: %s", lines[0])
				}
			})
		}
	}
}
