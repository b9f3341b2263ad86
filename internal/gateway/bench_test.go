package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// The benchmarks send sequential keep-alive requests through a loopback
// server to a loopback upstream, so the difference between BareProxy and
// Gateway* is the gateway's own cost per request (routing, path checks,
// policy, header rewriting).

func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	return up
}

func benchClient(b *testing.B) *http.Client {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func runBench(b *testing.B, url string, header ...string) {
	b.Helper()
	client := benchClient(b)
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkBareProxy(b *testing.B) {
	target, _ := url.Parse(benchUpstream(b).URL)
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: tr,
	}
	srv := httptest.NewServer(proxy)
	b.Cleanup(srv.Close)
	runBench(b, srv.URL+"/api/orders/42")
}

func BenchmarkGatewayNone(b *testing.B) {
	up := benchUpstream(b)
	srv := benchGateway(b, route("api", "/api/", "none", up.URL))
	runBench(b, srv.URL+"/api/orders/42")
}

func BenchmarkGatewayToken(b *testing.B) {
	up := benchUpstream(b)
	srv := benchGateway(b, route("api", "/api/", "token", up.URL, "user"))
	runBench(b, srv.URL+"/api/orders/42", tokenCred("alice")...)
}

func benchGateway(b *testing.B, rt config.Route) *httptest.Server {
	b.Helper()
	routes := []config.Route{
		route("root", "/", "none", rt.Upstream),
		route("admin", "/admin/", "session", rt.Upstream, "admin"),
		rt,
	}
	_, srv := serve(b, routes, deps())
	return srv
}
