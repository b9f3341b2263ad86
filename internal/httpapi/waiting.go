package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// Waiting is the public handler of an instance whose stores do not answer
// yet at start (`gatehouse serve` retries them, docs/deploy.md): the
// listener is up, so a liveness probe sees the process, but nothing that
// needs a store is served. GET /healthz answers 200 as always; GET /readyz
// 503 with the body of a failing /readyz, d.Ready naming the parts not
// answering yet, with the Retry-After below; every other request,
// whatever its path or method and the gateway's routes included, 503
// {"error":"unavailable"} with Retry-After (retryAfter: when the stores
// are tried again), never proxied nor
// redirected. Requests get the request ID, log line, metrics and security
// headers of NewServer's. Of d it uses Settings.TLS,
// Settings.TrustedProxies, Logger, Metrics, QuietLogs, AccessLog and Ready.
func Waiting(d Deps, retryAfter func() time.Duration) http.Handler {
	s := observing(d)
	healthz := s.handleHealthz()
	// No ServeMux: it would redirect an unclean path ("//x") or answer 405
	// where every request but the two probes gets the same 503.
	return s.observe(s.own(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case get && r.URL.Path == "/healthz":
			r.Pattern = "GET /healthz" // the log line's and metrics' route, as when serving
			healthz.ServeHTTP(w, r)
		case get && r.URL.Path == "/readyz":
			r.Pattern = "GET /readyz"
			writeUnready(w, s.readyFailing(r.Context()), retryAfter())
		default:
			w.Header().Set("Retry-After", httperr.RetryAfter(retryAfter()))
			httperr.Write(w, auth.ErrUnavailable)
		}
	})))
}
