package redistest

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil/tcpproxy"
)

// Proxy is a TCP proxy to the test Redis that a test stops and starts to
// make Redis disappear and come back on the same address, the way a
// restarted server or a network partition looks to a client.
type Proxy struct {
	*tcpproxy.Proxy
}

// NewProxy starts a proxy to the test Redis on a free loopback port and
// stops it at cleanup.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	return &Proxy{tcpproxy.New(t, Addr)}
}

// URL is the proxy's address as a redis URL for database 0.
func (p *Proxy) URL() string { return "redis://" + p.Addr() + "/0" }
