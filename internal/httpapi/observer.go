package httpapi

import (
	"net/http"
	"time"
)

// Observer writes the request line and counts the request metrics
// (gatehouse_http_requests_total, gatehouse_http_request_duration_seconds)
// of requests gatehouse answers outside its HTTP handler: Envoy's gRPC
// ext_authz Checks (internal/extauthz). The line is the handler's line,
// written by the same logger or AccessLog, plus the judged host.
type Observer struct{ s *server }

// NewObserver returns the Observer of d: of d it uses
// Settings.TrustedProxies, Logger, Metrics, QuietLogs and AccessLog (only
// when Logger is enabled at info), as NewServer does; give it the Deps of
// the server whose lines it should match.
func NewObserver(d Deps) *Observer { return &Observer{s: observing(d)} }

// Observe logs and counts one request answered outside the handler. r is
// the request as judged: its method, Host and URL.Path (never the query,
// which can hold a code or a token) are logged, the client address is taken
// from RemoteAddr and X-Forwarded-For by trusted_proxies, and its
// X-Request-Id is the line's request_id when it is one (proxyRequestID;
// otherwise a new ID). route is the line's and the metrics' route, status
// and bytes the answer's, start when the request arrived. A nil Observer
// does nothing.
func (o *Observer) Observe(route string, r *http.Request, status, bytes int, start time.Time) {
	if o == nil {
		return
	}
	s := o.s
	var idBuf [24]byte
	var ipBuf [48]byte
	id, ok := proxyRequestID(r.Header)
	if !ok {
		id = s.ids.next(idBuf[:0])
	}
	line := accessLine{start: start, id: id, method: r.Method, path: r.URL.Path, status: status,
		duration: time.Since(start), route: route, ip: s.realIP(r, ipBuf[:0]), bytes: int64(bytes), host: r.Host}
	s.answered(r.Context(), &line)
}

// maxProxyRequestID is the longest request ID taken from a proxy: a UUID
// (Envoy's x-request-id) is 36 characters, a W3C traceparent 55.
const maxProxyRequestID = 128

// proxyRequestID returns the X-Request-Id that a trusted proxy (Envoy)
// sent, when h holds exactly one of 1 to maxProxyRequestID characters
// from A-Z a-z 0-9 - _ . : ; = + /. The value is logged as it is, so
// nothing else passes: no character that could end or fake a log line,
// drive a terminal (escape sequences) or swell the log. A client can
// reach this header through a proxy that preserves its x-request-id, and
// gatehouse's own endpoints never take one from a client: their ID is
// always gatehouse's.
func proxyRequestID(h http.Header) (string, bool) {
	v := h["X-Request-Id"]
	if len(v) != 1 || len(v[0]) == 0 || len(v[0]) > maxProxyRequestID {
		return "", false
	}
	for i := 0; i < len(v[0]); i++ {
		if !requestIDChar[v[0][i]] {
			return "", false
		}
	}
	return v[0], true
}

// requestIDChar marks the bytes proxyRequestID accepts.
var requestIDChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-_.:;=+/" {
		t[c] = true
	}
	return t
}()
