package testutil

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Seen is what an Upstream observed of one request.
type Seen struct {
	Method     string
	Path       string // decoded, r.URL.Path
	RequestURI string // as on the wire, not normalised
	Host       string
	Header     http.Header
	Body       int64 // bytes of request body read
}

// Upstream is a loopback application behind gatehouse or another proxy: it
// answers 200 "upstream ok" and records every request, so that tests can
// assert what reached it (and that nothing did).
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Seen
}

// StartUpstream starts an Upstream that stops when the test ends.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, Seen{r.Method, r.URL.Path, r.RequestURI, r.Host, r.Header.Clone(), n})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

// Count returns how many requests the upstream has received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Since returns the requests received after the first n (see Count).
func (u *Upstream) Since(n int) []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.reqs[n:]...)
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for servers that cannot report the port they bound (nginx, Caddy, a
// child process). Another process can take it before it is used: callers
// retry on "address in use".
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
