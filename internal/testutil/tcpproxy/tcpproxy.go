// Package tcpproxy is a TCP proxy that tests stop and start to make a real
// service (PostgreSQL, Redis) vanish and come back on the same address, or
// black-hole to make it hang.
package tcpproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy to a real service (PostgreSQL, Redis) that a test
// stops and starts to make the service vanish and come back on the same
// address — what a crashed server or a partition looks like to a client —
// without disturbing the shared server other test packages use. Blackhole
// makes it hang instead: connections are accepted, and bytes read and
// dropped, but nothing ever answers, as with a server stuck or a network
// dropping packets, where only the client's own timeouts end a call.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// silent is the black hole: while set, every
	// connection (open or new) drops what it reads and forwards nothing.
	silent bool
	// loseAnswer cuts the next connection the target answers on, instead
	// of forwarding the answer (LoseNextAnswer).
	loseAnswer bool
	// loseTo, when set, narrows loseAnswer to the answers on a connection
	// that has sent a request containing it (LoseAnswerTo).
	loseTo []byte
}

// New starts a proxy to target on a free loopback port; it is stopped at
// cleanup.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Stop refuses new connections and cuts every open one. Idempotent.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = false
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Start listens again on the same address; after Blackhole, it ends the
// black hole instead: the connections that fell into it are cut (what they
// sent is lost, as after a long partition) and new ones reach the target.
func (p *Proxy) Start() {
	p.t.Helper()
	p.mu.Lock()
	if p.ln != nil {
		p.silent = false
		p.cutLocked()
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy restart on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Blackhole makes every open and new connection silent: accepted, what the
// client sends read and dropped, nothing answered, nothing cut, until Start
// or Stop.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
}

// LoseNextAnswer makes the next bytes the target sends, on any open or
// new connection, cut that connection instead of reaching the client: the
// request reached the service, which ran it, but its answer is lost, as
// when the service or the link dies between running a statement and
// answering it. Only that one answer is lost; later ones pass.
func (p *Proxy) LoseNextAnswer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseAnswer = true
}

// LoseAnswerTo is LoseNextAnswer for the answer to the next request that
// contains request (a command's name, a statement's text): the answers to
// earlier requests of the same call (a read before a write) pass, and the
// first answer the target sends on that request's connection after it
// cuts the connection instead.
func (p *Proxy) LoseAnswerTo(request string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseAnswer = true
	p.loseTo = []byte(request)
}

// AnswerLost reports whether the answer that LoseNextAnswer or
// LoseAnswerTo asked to lose has been lost (false while it is still to
// come).
func (p *Proxy) AnswerLost() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.loseAnswer
}

// takeLostAnswer reports whether the answer being forwarded on l is the
// one LoseNextAnswer or LoseAnswerTo asked to lose, and clears the request.
func (p *Proxy) takeLostAnswer(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loseAnswer || p.loseTo != nil && !l.sent {
		return false
	}
	p.loseAnswer, p.loseTo = false, nil
	return true
}

// sawRequest records on l, before b is forwarded to the target, whether
// the client's bytes so far end in a request that contains LoseAnswerTo's
// text.
func (p *Proxy) sawRequest(l *link, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loseTo == nil || l.sent {
		return
	}
	// A request may straddle two reads: keep the tail that could start it.
	l.tail = append(l.tail, b...)
	if bytes.Contains(l.tail, p.loseTo) {
		l.sent = true
	}
	if keep := len(p.loseTo) - 1; len(l.tail) > keep {
		l.tail = append(l.tail[:0], l.tail[len(l.tail)-keep:]...)
	}
}

// link is what the proxy knows of one proxied connection.
type link struct {
	tail []byte // the client's last bytes, for sawRequest (under Proxy.mu)
	sent bool   // the client sent LoseAnswerTo's request (under Proxy.mu)
}

func (p *Proxy) isSilent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(client)
		}
	}()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) pipe(client net.Conn) {
	if !p.track(client) {
		return
	}
	if p.isSilent() {
		// Never dial: a black-holed service answers nothing, not even the
		// handshake. Read until Start or Stop cuts the connection.
		_, _ = io.Copy(io.Discard, client)
		client.Close()
		p.untrack(client)
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		client.Close()
		return
	}
	done := make(chan struct{}, 2)
	l := &link{}
	cp := func(dst, src net.Conn, answers bool) {
		_, _ = io.Copy(dropWriter{p, l, dst, answers}, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(server, client, false)
	go cp(client, server, true)
	<-done
	<-done
	p.untrack(client, server)
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// errAnswerLost ends the copy of an answer that LoseNextAnswer loses; the
// copy's end cuts both sides.
var errAnswerLost = errors.New("tcpproxy: answer lost")

// dropWriter forwards to a connection unless the proxy is black-holed, when
// it drops the bytes (and reports them written, so the copy keeps reading).
// On the target's side (answers), it loses the answer LoseNextAnswer names.
type dropWriter struct {
	p       *Proxy
	l       *link
	dst     net.Conn
	answers bool
}

func (w dropWriter) Write(b []byte) (int, error) {
	if w.p.isSilent() {
		return len(b), nil
	}
	if w.answers && w.p.takeLostAnswer(w.l) {
		return 0, errAnswerLost
	}
	if !w.answers {
		w.p.sawRequest(w.l, b)
	}
	return w.dst.Write(b)
}
