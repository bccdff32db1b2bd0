package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/hub/httpapi/internal/apidoc"
	"github.com/moonwake/moonwake/internal/apispec"
	"github.com/moonwake/moonwake/mock"
)

var update = flag.Bool("update", false, "rewrite docs/api.md from openapi.json")

// TestOpenAPIRoutes fails when a route is served but not described, or
// described but not served.
func TestOpenAPIRoutes(t *testing.T) {
	s := &Server{Uplink: http.NotFoundHandler(), Pair: http.NotFoundHandler(), Groups: &mock.GroupService{}} // every optional part on
	s.Handler()
	served := map[string]bool{}
	for _, p := range s.Routes() {
		served[p] = true
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	for p := range served {
		if !described[p] {
			t.Errorf("%s is served but not in openapi.json", p)
		}
	}
	for p := range described {
		if !served[p] {
			t.Errorf("openapi.json describes %s, which is not served", p)
		}
	}
	if len(served) < 30 {
		t.Errorf("only %d routes: %v", len(served), slices.Sorted(func(yield func(string) bool) {
			for p := range served {
				if !yield(p) {
					return
				}
			}
		}))
	}
}

// TestOpenAPIValid checks that the description is valid OpenAPI 3.1.
func TestOpenAPIValid(t *testing.T) {
	if _, err := apispec.New(OpenAPI); err != nil {
		t.Fatal(err)
	}
}

// TestAPIDoc fails when docs/api.md is not what openapi.json renders to;
// -update rewrites it.
func TestAPIDoc(t *testing.T) {
	want, err := apidoc.Render(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	const page = "../../docs/api.md"
	if *update {
		if err := os.WriteFile(page, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/api.md is stale: run go test ./hub/httpapi -run TestAPIDoc -update")
	}
}
