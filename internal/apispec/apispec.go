// Package apispec holds the hub's real HTTP traffic in tests against the
// OpenAPI 3.1 description of the API (hub/httpapi/openapi.json), with
// pb33f/libopenapi-validator, which implements 3.1 and JSON Schema 2020-12.
// It is for tests only.
package apispec

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
)

// Validator checks requests and answers against one description.
type Validator struct {
	mu sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v  validator.Validator
}

// New parses the OpenAPI document spec and checks that it is valid.
func New(spec []byte) (*Validator, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("openapi: the document is not valid: %s", join(verrs))
	}
	return &Validator{v: v}, nil
}

// Check holds one exchange against the description. The answer must be
// one the description allows for that route and status. The request is
// checked only when the hub accepted it (a 2xx): tests send wrong requests
// on purpose, and the description says what is right. Event streams are
// checked up to their headers. Bodies are read and put back.
func (v *Validator) Check(req *http.Request, reqBody []byte, resp *http.Response) error {
	if !described(req.URL.Path) {
		return nil // the web app, tap links: not the API
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var problems []string
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		if len(reqBody) > 0 && r.Header.Get("Content-Type") == "" {
			// The hub reads every body as JSON, whatever it is labelled.
			r.Header.Set("Content-Type", "application/json")
		}
		if ok, errs := v.v.ValidateHttpRequest(r); !ok {
			problems = append(problems, "request: "+join(errs))
		}
	} else if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		// A route the hub does not have, asked on purpose: the description
		// cannot describe it, and the hub's catch-all answered as it should.
		if _, errs := v.v.ValidateHttpRequest(req.Clone(req.Context())); unrouted(errs) {
			return nil
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") && resp.StatusCode != http.StatusSwitchingProtocols {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read the answer: %w", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		cp := *resp
		cp.Body = io.NopCloser(bytes.NewReader(body))
		if ok, errs := v.v.ValidateHttpResponse(r, &cp); !ok {
			problems = append(problems, fmt.Sprintf("answer %d: %s\n\t%s", resp.StatusCode, join(errs), trim(body)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s %s does not match the OpenAPI description: %s", req.Method, req.URL.Path, strings.Join(problems, "; "))
	}
	return nil
}

// Transport returns a RoundTripper that sends with next (nil:
// http.DefaultTransport) and reports each exchange that does not match the
// description to fail (a test's Errorf).
func (v *Validator) Transport(next http.RoundTripper, fail func(format string, args ...any)) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		var body []byte
		if req.Body != nil {
			var err error
			if body, err = io.ReadAll(req.Body); err != nil {
				return nil, err
			}
			req.Body.Close()
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		if err := v.Check(req, body, resp); err != nil {
			fail("%v", err)
		}
		return resp, nil
	})
}

// unrouted reports whether errs say that no described route matches.
func unrouted(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation &&
			(e.ValidationSubType == helpers.ValidationMissing || e.ValidationSubType == helpers.ValidationMissingOperation) {
			return true
		}
	}
	return false
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func join[E error](errs []E) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "; ")
}

func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// described reports whether path is one the OpenAPI description covers:
// the API, the compatibility wake route and the health checks.
func described(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/wake" || path == "/healthz" || path == "/readyz"
}
