package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// Upstream is the service behind every mode: it answers 200 "ok" at once,
// so that what is measured is the proxy in front of it.
func Upstream() http.Handler {
	body := []byte("ok")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "2")
		_, _ = w.Write(body)
	})
}

// BareProxy is the baseline: a plain httputil.ReverseProxy to upstream
// with no authentication, using Rewrite and, with gatewayTransport, the
// transport of a gateway route with the default timeout
// (gateway.NewTransport: pool sizes, dial, response-header and
// expect-continue timeouts) — issue 15's "same transport settings";
// without it, a transport with the gateway's pool sizes only (the
// baseline before that was corrected). With bufferPool it also recycles
// its copy buffers, as the gateway does, so that the difference to a
// gatehouse mode is gatehouse's own work (middleware, authentication,
// policy, identity headers, access log) and not proxy tuning; without, it
// is the proxy most people write.
func BareProxy(upstream *url.URL, bufferPool, gatewayTransport bool) http.Handler {
	var tr http.RoundTripper = gateway.NewTransport(gateway.DefaultTimeout)
	if !gatewayTransport {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		tr = &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
		},
		Transport: tr,
		// A failure is a 502 that the load generator counts; a request the
		// client abandoned at the end of a run is not worth a log line.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	if bufferPool {
		p.BufferPool = &copyBuffers{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	}
	return p
}

// Serve serves h on ln until ctx ends, with the server settings gatehouse
// itself uses, then closes it.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// copyBuffers recycles ReverseProxy's 32 KiB copy buffers; without it
// every response allocates one.
type copyBuffers struct{ p sync.Pool }

func (b *copyBuffers) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *copyBuffers) Put(v []byte) { b.p.Put(&v) }
