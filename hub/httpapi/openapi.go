package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 description of every route Handler serves.
// TestOpenAPIRoutes keeps the two in step, the hub's API tests check
// their requests and answers against it, and docs/api.md is generated
// from it (go test ./hub/httpapi -run TestAPIDoc -update).
//
//go:embed openapi.json
var OpenAPI []byte

// openAPI serves the description. It needs a token like every API route:
// it holds no data, but a hub on the internet need not tell strangers
// what it is.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(OpenAPI)
}
