// Package openapitest validates real HTTP traffic against gatehouse's
// OpenAPI document (httpapi.OpenAPI) with kin-openapi's openapi3filter, so
// the document cannot drift from the code: a test client whose Transport
// is Transport(t, …) fails its test on any request or response the
// document does not describe.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/gatehouse-auth/gatehouse/internal/httpapi"
)

// owned are gatehouse's own path prefixes: a request under one of them that
// the document does not know is an error. Other paths are gateway routes,
// which belong to the operator and are not described.
// (/admin/ other than /admin/api/ is the console only while no route
// claims /admin/, so it is not listed.)
var owned = []string{"/auth/", "/admin/api/", "/.well-known/", "/login", "/account", "/healthz", "/readyz", "/openapi.json"}

var (
	once   sync.Once
	router routers.Router
	errDoc error
)

// Router returns the router over the parsed and validated document.
func Router(tb testing.TB) routers.Router {
	tb.Helper()
	once.Do(func() {
		// HTML pages (and the WebAuthn script) are compared as text (their
		// schema is a string).
		for _, ct := range []string{"text/html", "text/javascript"} {
			openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
				b, err := io.ReadAll(r)
				return string(b), err
			})
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(httpapi.OpenAPI)
		if err != nil {
			errDoc = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			errDoc = err
			return
		}
		router, errDoc = gorillamux.NewRouter(doc)
	})
	if errDoc != nil {
		tb.Fatalf("openapi.json: %v", errDoc)
	}
	return router
}

// Transport wraps base (nil: http.DefaultTransport) so that every request
// to a gatehouse endpoint and its response are checked against the
// document; a mismatch fails tb.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{tb: tb, base: base, router: Router(tb)}
}

type transport struct {
	tb     testing.TB
	base   http.RoundTripper
	router routers.Router
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	t.check(req, reqBody, resp, respBody)
	return resp, nil
}

func (t *transport) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	// The router matches on a copy without the body the server consumed.
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := t.router.FindRoute(r)
	if err != nil {
		// An unknown path under gatehouse's own prefixes may only be
		// refused: 404, or 400/401/403 where authentication comes first
		// (400: two Authorization headers, RFC 6750 section 3.1).
		if isOwned(req.URL.Path) && !slices.Contains([]int{400, 401, 403, 404, 405}, resp.StatusCode) {
			t.tb.Errorf("openapi.json does not describe %s %s (answered %d): %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	// A request the server refused as malformed (400) may break the
	// document's request schema on purpose: the tests send bad input.
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnsupportedMediaType {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.tb.Errorf("openapi.json: request %s %s does not match: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.tb.Errorf("openapi.json: response %d to %s %s does not match: %v", resp.StatusCode, req.Method, req.URL.Path, err)
	}
}

func isOwned(p string) bool {
	for _, o := range owned {
		if p == strings.TrimSuffix(o, "/") || strings.HasPrefix(p, o) {
			return true
		}
	}
	return false
}
