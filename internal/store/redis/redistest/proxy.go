package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy to the test Redis that a test stops and starts to
// make Redis disappear and come back on the same address, the way a
// restarted server or a network partition looks to a client.
type Proxy struct {
	t    testing.TB
	addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy starts a proxy on a free loopback port and stops it at cleanup.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{t: t, conns: make(map[net.Conn]struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

// URL is the proxy's address as a redis URL for database 0.
func (p *Proxy) URL() string { return "redis://" + p.addr + "/0" }

// Stop closes the listener and every proxied connection: clients see their
// connections drop and new dials refused. Stopping a stopped proxy is a
// no-op.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Start listens again on the same address. The port was ours a moment ago,
// so a failure to rebind is retried briefly before failing the test.
func (p *Proxy) Start() {
	p.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("redistest: proxy relisten on %s: %v", p.addr, err)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

// pipe copies bytes both ways between client and Redis until either side
// closes or the proxy stops.
func (p *Proxy) pipe(client net.Conn) {
	upstream, err := net.Dial("tcp", Addr)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, upstream) {
		return
	}
	done := make(chan struct{}, 2)
	copyThenClose := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends when Stop or either peer closes
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go copyThenClose(upstream, client)
	go copyThenClose(client, upstream)
	<-done
	<-done
	p.untrack(client, upstream)
}

// track registers both ends so that Stop can cut them; false (and both
// closed) when the proxy stopped meanwhile.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}
