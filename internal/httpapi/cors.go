package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// corsPolicy says which other origins may read an endpoint's answers
// (Fetch standard, CORS protocol). Only the endpoints a single-page app
// calls from its own origin have one (routes.go); every other endpoint —
// login, logout, sessions, account, admin, everything a cookie
// authenticates — sends no CORS header at all, so a browser keeps other
// origins from reading it.
type corsPolicy int

const (
	// corsClients: the origins of registered clients' redirect URIs
	// (client.Registry.AllowsOrigin), echoed one at a time with
	// Vary: Origin. Never Access-Control-Allow-Credentials: these
	// endpoints authenticate with the request body or Authorization, and
	// a browser refuses a credentialed (cookie-carrying) answer without
	// it — so userinfo's session fallback cannot be read cross-origin.
	corsClients corsPolicy = iota
	// corsPublic: public documents (discovery, JWKS) that any origin may
	// read: Access-Control-Allow-Origin: *.
	corsPublic
)

// CORS header values. corsMaxAge lets a browser keep a preflight's answer
// for 10 minutes: the actual answer is checked again on every request, so
// a deleted client's origin is refused at once all the same; longer would
// only save a round trip (Chromium caps it at 2 hours, Firefox at 24).
const (
	corsAllowHeaders  = "Authorization, Content-Type"
	corsExposeHeaders = "WWW-Authenticate, Retry-After"
	corsMaxAge        = 600
)

var corsMaxAgeValue = strconv.Itoa(corsMaxAge)

// cors lets the origins of policy p read next's answers, error answers
// included (the headers are set before next runs), or an SPA could not read
// the OAuth error it must act on.
func (s *server) cors(p corsPolicy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if p == corsPublic {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Add("Vary", "Origin")
			if origin, ok := s.corsOrigin(r); ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight for an endpoint of policy p: 204, with
// the allow headers only when the origin may read the endpoint. A refused
// origin gets the same 204 without them (a 2xx without allow headers, as
// rs/cors in Ory Hydra and Authelia answer): the browser then blocks the
// request, and nothing tells the page more. methods lists the endpoint's
// methods (its Allow). What a preflight is — exactly one non-empty Origin
// and exactly one non-empty Access-Control-Request-Method — is
// gateway.IsPreflight, the rule of skip_auth_preflight routes too; any
// other OPTIONS request is served by otherwise (405 with Allow), and
// explain says so (router.Endpoint).
func (s *server) preflight(p corsPolicy, methods func(*http.Request) string, otherwise http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !gateway.IsPreflight(r.Header) {
			otherwise.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		origin, ok := "*", true
		if p == corsClients {
			origin, ok = s.corsOrigin(r)
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", methods(r))
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAgeValue)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// corsOrigin returns r's Origin when a registered client's redirect URI
// has it. A request with no Origin, several, or one the registry cannot
// be asked about (store down: logged, fail closed) gets none.
func (s *server) corsOrigin(r *http.Request) (string, bool) {
	vs := r.Header["Origin"]
	if len(vs) != 1 || s.Clients == nil {
		return "", false
	}
	ok, err := s.Clients.AllowsOrigin(r.Context(), vs[0])
	if err != nil { // once per failed listing, not per request (AllowsOrigin)
		s.log.ErrorContext(r.Context(), "cors: client origins unavailable", "request_id", requestID(r.Context()), "error", err.Error())
		return "", false
	}
	return vs[0], ok
}
