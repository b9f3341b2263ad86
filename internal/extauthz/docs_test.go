package extauthz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"

	"github.com/gatehouse-auth/gatehouse/internal/extauthz"
)

// documentedFilter is which client headers an Envoy configuration shown in
// docs/envoy.md lets Envoy send to gatehouse.
type documentedFilter struct {
	name  string
	sends func(header string) bool // lower-case name
	grpc  bool                     // gRPC Check, else the HTTP service
}

// documentedFilters reads docs/envoy.md: the HTTP service's allowed_headers
// (plus the headers Envoy always sends to an HTTP service), and the
// headersToExtAuth of the Envoy Gateway SecurityPolicy (absent: every
// header, Envoy's default for gRPC). The Envoy and Istio gRPC examples
// restrict nothing.
func documentedFilters(t *testing.T) []documentedFilter {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "envoy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)

	_, httpService, ok := strings.Cut(doc, "http_service:")
	httpService, _, ok2 := strings.Cut(httpService, "authorization_response:")
	if !ok || !ok2 || !strings.Contains(httpService, "allowed_headers:") {
		t.Fatal("docs/envoy.md: no http_service allowed_headers block")
	}
	exact := map[string]bool{"host": true, ":method": true, ":path": true, "content-length": true, "authorization": true}
	for _, m := range regexp.MustCompile(`exact: ([a-z0-9-]+)`).FindAllStringSubmatch(httpService, -1) {
		exact[m[1]] = true
	}
	var regexes []*regexp.Regexp
	for _, m := range regexp.MustCompile(`regex: "([^"]*)"`).FindAllStringSubmatch(httpService, -1) {
		regexes = append(regexes, regexp.MustCompile(`^(?:`+m[1]+`)$`)) // RE2 full match, as Envoy's safe_regex
	}
	httpSends := func(h string) bool {
		return exact[h] || slices.ContainsFunc(regexes, func(re *regexp.Regexp) bool { return re.MatchString(h) })
	}

	egSends := func(string) bool { return true }
	_, eg, ok := strings.Cut(doc, "kind: SecurityPolicy")
	if !ok {
		t.Fatal("docs/envoy.md: no Envoy Gateway SecurityPolicy")
	}
	eg, _, _ = strings.Cut(eg, "```")
	if m := regexp.MustCompile(`headersToExtAuth: \[([^\]]*)\]`).FindStringSubmatch(eg); m != nil {
		var names []string
		for n := range strings.SplitSeq(m[1], ",") {
			names = append(names, strings.ToLower(strings.TrimSpace(n)))
		}
		egSends = func(h string) bool { return slices.Contains(names, h) }
	}
	return []documentedFilter{
		{name: "Envoy HTTP service", sends: httpSends},
		{name: "Envoy Gateway SecurityPolicy", sends: egSends, grpc: true},
	}
}

// upstreamHeaders is the request Envoy sends upstream after an allow: the
// client's headers with gatehouse's edits applied (set, then remove).
func upstreamHeaders(client map[string]string, set map[string]string, remove []string) map[string]string {
	out := map[string]string{}
	for k, v := range client {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	for _, k := range remove {
		delete(out, k)
	}
	return out
}

// TestDocumentedConfigurations sends browser requests through the header
// filters of the Envoy configurations docs/envoy.md shows. A filter that
// keeps a header from gatehouse keeps gatehouse from judging by it or
// naming it for removal: without Sec-WebSocket-Key and Sec-Fetch-Mode a
// cross-site WebSocket handshake is a plain GET that the victim's cookie
// authenticates (cross-site WebSocket hijacking), and a client's
// X-Auth-Admin that gatehouse never sees reaches the application.
func TestDocumentedConfigurations(t *testing.T) {
	g := newGateway(t)
	grpcClient := startGRPC(t, g)
	httpSrv := httptest.NewServer(extauthz.HTTPHandler(g.Check))
	t.Cleanup(httpSrv.Close)

	// check sends the client's headers (lower-case names) that filter lets
	// through, and returns the status and, when allowed, the upstream request.
	check := func(t *testing.T, f documentedFilter, client map[string]string) (int, map[string]string) {
		t.Helper()
		var sent []string
		for k, v := range client {
			if f.sends(k) {
				sent = append(sent, k, v)
			}
		}
		if f.grpc {
			req := envoyCheck("GET", "app.example.com", "/admin/ws", sent...)
			resp, err := grpcClient.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
				return int(resp.GetDeniedResponse().GetStatus().GetCode()), nil
			}
			ok := resp.GetOkResponse()
			set := map[string]string{}
			for _, o := range ok.GetHeaders() {
				if o.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
					set[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
				}
			}
			return http.StatusOK, upstreamHeaders(client, set, ok.GetHeadersToRemove())
		}
		req, _ := http.NewRequest("GET", httpSrv.URL+extauthz.HTTPPath+"/admin/ws", nil)
		req.Host = "app.example.com"
		for i := 0; i+1 < len(sent); i += 2 {
			req.Header.Set(sent[i], sent[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		set := map[string]string{} // allowed_upstream_headers of the example
		for k := range resp.Header {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-auth-") || lk == "authorization" || lk == "cookie" {
				set[lk] = resp.Header.Get(k)
			}
		}
		remove := strings.Split(resp.Header.Get(extauthz.HeadersToRemove), ",")
		return http.StatusOK, upstreamHeaders(client, set, remove)
	}

	// A browser on https://evil.example opening a WebSocket to the admin
	// application, with the administrator's session cookie (HTTP/1.1
	// handshake; over HTTP/2, RFC 8441 has no Sec-WebSocket-Key and
	// Sec-Fetch-Mode is the mark).
	crossSiteWS := map[string]string{
		"cookie": cookieName + "=sess-root", "origin": "https://evil.example",
		"sec-fetch-site": "cross-site", "sec-fetch-mode": "websocket", "sec-fetch-dest": "websocket",
		"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13",
		"upgrade": "websocket", "connection": "Upgrade",
	}
	// The administrator's own request, with identity headers a client added.
	spoofed := map[string]string{
		"cookie": cookieName + "=sess-root", "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate",
		"x-auth-admin": "1", "x.auth.roles": "admin,superuser", "x-auth-user": "mallory",
	}
	for _, f := range documentedFilters(t) {
		t.Run(f.name+": cross-site WebSocket handshake", func(t *testing.T) {
			if status, _ := check(t, f, crossSiteWS); status != http.StatusForbidden {
				t.Errorf("status = %d, want 403: the configuration hides the handshake from gatehouse", status)
			}
		})
		t.Run(f.name+": client X-Auth-* headers", func(t *testing.T) {
			status, up := check(t, f, spoofed)
			if status != http.StatusOK {
				t.Fatalf("status = %d, want 200", status)
			}
			for k, v := range up {
				if strings.HasPrefix(k, "x-auth-") || strings.HasPrefix(k, "x.auth.") {
					if v == spoofed[k] {
						t.Errorf("upstream %s = %q: the client's header passed", k, v)
					}
				}
			}
			if up["x-auth-user"] != "root" {
				t.Errorf("upstream x-auth-user = %q, want root", up["x-auth-user"])
			}
		})
	}
}
