package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 description of every gatehouse endpoint,
// served at /openapi.json. The httpapi tests validate the suite's requests
// and responses against it (kin-openapi), so it cannot drift from the code.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *server) handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(OpenAPI)
	})
}
