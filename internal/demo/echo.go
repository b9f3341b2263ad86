package demo

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// Echo is the demo upstream: it answers with the identity headers it
// received, and whether any credential leaked through the gateway (it
// must not: the gatehouse cookie and Authorization are stripped, except
// the internal JWT of forward: jwt routes).
func Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		identity := map[string]string{}
		var names []string
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-auth-") {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			identity[k] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream":             "gatehouse demo echo",
			"method":               r.Method,
			"path":                 r.URL.Path,
			"identity":             identity,
			"authorization_header": r.Header.Get("Authorization") != "",
			"cookie_header":        r.Header.Get("Cookie"),
			"x_forwarded_for":      r.Header.Get("X-Forwarded-For"),
		})
	})
}
