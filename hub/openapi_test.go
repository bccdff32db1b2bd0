package hub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/internal/apispec"
)

var apiValidator = sync.OnceValues(func() (*apispec.Validator, error) { return apispec.New(httpapi.OpenAPI) })

// apiClient is an HTTP client whose every exchange with the hub is checked
// against the OpenAPI description; a mismatch fails the test.
func (th *testHub) apiClient() *http.Client {
	th.t.Helper()
	v, err := apiValidator()
	if err != nil {
		th.t.Fatal(err)
	}
	return &http.Client{Transport: v.Transport(nil, th.t.Errorf)}
}

// TestOpenAPIServed: the description is served to any valid token, and
// only to one (the auth table, routes, holds it to the rest).
func TestOpenAPIServed(t *testing.T) {
	th := startHub(t, newConfig(t))
	th.addMachine("pc", "aa:bb:cc:dd:ee:71", newReceiver(t), nil)
	readOnly := th.token("reader", []string{"pc"}, []string{}, false) // the least a token can be
	a := th.must(200, "GET", "/api/v1/openapi.json", readOnly, nil)
	if !bytes.Equal(a.Body, httpapi.OpenAPI) || a.Header.Get("Content-Type") != "application/json" {
		t.Errorf("served %s, %d bytes; want the embedded description", a.Header.Get("Content-Type"), len(a.Body))
	}
	th.must(401, "GET", "/api/v1/openapi.json", "", nil)
}

// TestAuthTableCoversEveryRoute: every route the description says needs a
// token is in the auth tests' table.
func TestAuthTableCoversEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		}
	}
	if err := json.Unmarshal(httpapi.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range doc.Paths {
		quoted := regexp.QuoteMeta(param.ReplaceAllString(path, "PARAM"))
		re := regexp.MustCompile("^" + strings.ReplaceAll(quoted, "PARAM", "[^/]+") + `(\?.*)?$`)
		for method, op := range ops {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public: health, and the agents' own routes
			}
			found := false
			for _, rt := range routes {
				if strings.EqualFold(rt.method, method) && re.MatchString(rt.path) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s needs a token but is not in the auth tests' routes", strings.ToUpper(method), path)
			}
		}
	}
}
