package httperr

import (
	"net/http"
	"slices"
	"strings"
)

// MethodSet is the set of methods named by the patterns of a ServeMux that
// also has a catch-all pattern matching every method: such a mux never
// answers 405 by itself, so the catch-all asks Allowed. A GET pattern also
// serves HEAD. The zero value is empty.
type MethodSet struct{ methods []string } // sorted, for Allow

// Add records the method of pattern ("[METHOD ]PATH"); a pattern without
// one adds nothing.
func (s *MethodSet) Add(pattern string) {
	method, _, ok := strings.Cut(pattern, " ")
	if !ok {
		return
	}
	for _, m := range []string{method, http.MethodHead} {
		if !slices.Contains(s.methods, m) {
			s.methods = append(s.methods, m)
			slices.Sort(s.methods)
		}
		if method != http.MethodGet {
			break
		}
	}
}

// Allowed lists, comma-separated, the methods of s with which a pattern of
// mux other than catchAll serves r's path; "" when there are none.
func (s *MethodSet) Allowed(mux *http.ServeMux, r *http.Request, catchAll string) string {
	var allow []string
	probe := *r // ServeMux matches on method, host and path only
	for _, m := range s.methods {
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != catchAll {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// MethodNotAllowed answers 405 method_not_allowed with Allow allow, the
// methods the resource does serve (RFC 9110 section 15.5.6).
func MethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	JSON(w, http.StatusMethodNotAllowed, "method_not_allowed")
}
