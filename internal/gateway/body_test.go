package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// rawBody writes a request with a Transfer-Encoding: chunked body exactly
// as given over a fresh TCP connection and reads the response.
func rawBody(t *testing.T, addr, path, chunked string) reply {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n%s", path, addr, chunked)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp, string(b)}
}

// TestMalformedChunkedBodyIs400 (issue 11 finding 7): a chunk size that is
// not hex ("0x0") used to reach the upstream and come back as 502. It is the
// client's error: 400, and when the first chunk line is already malformed
// the upstream is never called.
func TestMalformedChunkedBodyIs400(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{route("public", "/", "none", up.URL)}, deps())
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name        string
		body        string
		status      int
		reachesUp   bool
		upstreamLen int64
	}{
		{"0x0 chunk size", "0x0\r\n\r\n", 400, false, 0},
		{"not hex", "zz\r\nhello\r\n0\r\n\r\n", 400, false, 0},
		{"negative size", "-1\r\nx\r\n0\r\n\r\n", 400, false, 0},
		{"size overflow", "fffffffffffffffff\r\nx\r\n0\r\n\r\n", 400, false, 0},
		{"well-formed", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 200, true, 11},
		{"empty", "0\r\n\r\n", 200, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.count()
			r := rawBody(t, addr, "/upload", tt.body)
			if r.StatusCode != tt.status {
				t.Fatalf("status = %d %q, want %d", r.StatusCode, r.Body, tt.status)
			}
			if tt.status == 400 {
				wantJSONError(t, r, 400, "bad_request")
			}
			if got := up.count() > before; got != tt.reachesUp {
				t.Fatalf("upstream called = %v, want %v", got, tt.reachesUp)
			}
			if tt.reachesUp {
				if got := up.last(t).Body; got != tt.upstreamLen {
					t.Errorf("upstream body = %d bytes, want %d", got, tt.upstreamLen)
				}
			}
		})
	}
}

// TestChunkedBodyMalformedLaterIs400 covers a body that goes bad after its
// first chunk: the upstream has started receiving it, but the client still
// gets 400 (its fault), not 502.
func TestChunkedBodyMalformedLaterIs400(t *testing.T) {
	up := newUpstream(t)
	_, srv := serve(t, []config.Route{route("public", "/", "none", up.URL)}, deps())
	r := rawBody(t, srv.Listener.Addr().String(), "/upload", "5\r\nhello\r\n0x0\r\n\r\n")
	if r.StatusCode != 400 || !strings.Contains(r.Body, "bad_request") {
		t.Fatalf("status = %d %q, want 400 bad_request", r.StatusCode, r.Body)
	}
}

// TestRequestTrailersNeverReachUpstream: the fields of a chunked body's
// trailer section are headers the gateway never judged. An empty body is
// read to its end (trailers included) before the proxy copies the request,
// so "0\r\nX-Auth-Subject: u-root\r\n" used to reach the upstream as a
// trailer next to the real X-Auth-Subject, with the client's Authorization
// and session cookie; with a longer body the declared names were announced
// upstream. No request trailer is forwarded.
func TestRequestTrailersNeverReachUpstream(t *testing.T) {
	trailers := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		trailers <- r.Trailer
	}))
	t.Cleanup(up.Close)
	_, srv := serve(t, []config.Route{route("api", "/", "token", up.URL)}, deps())
	const fields = "X-Auth-Subject: u-root\r\nX-Auth-Roles: admin\r\nAuthorization: Bearer tok-root\r\nCookie: " + cookieName + "=sess-root\r\n\r\n"
	tests := []struct{ name, body string }{
		{"empty body", "0\r\n" + fields},
		{"body", "5\r\nhello\r\n0\r\n" + fields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "POST /orders HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer tok-guest\r\n" +
				"Trailer: X-Auth-Subject, X-Auth-Roles, Authorization, Cookie\r\nTransfer-Encoding: chunked\r\n\r\n" + tt.body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if got := <-trailers; len(got) != 0 {
				t.Errorf("upstream trailers = %q, want none", got)
			}
		})
	}
}
