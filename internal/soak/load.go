package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Contract bound: a revocation reaches every instance within 1 s.
const propagationBound = time.Second

// load drives the virtual users and records outcomes.
type load struct {
	env    *env
	res    *Result
	client *http.Client
	mu     sync.Mutex
}

// call is one HTTP exchange.
type call struct {
	sent   time.Time
	status int // 0 on a transport error
	body   string
	header http.Header
	err    error
}

// do sends one request and classifies a 5xx or transport error as inside
// or outside a fault window.
func (l *load) do(ctx context.Context, method, u, body string, header ...string) call {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return call{err: err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := call{sent: time.Now()}
	resp, err := l.client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.status, c.body, c.header = resp.StatusCode, string(b), resp.Header
	} else {
		c.err = err
	}
	if ctx.Err() != nil { // the run ended mid-request: not an outcome
		return c
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Requests++
	if c.err != nil || c.status >= 500 {
		if l.inWindow(c.sent, time.Now()) {
			l.res.ErrorsInside++
		} else {
			l.res.ErrorsOutside++
			if len(l.res.ErrorExamples) < 10 {
				what := strconv.Itoa(c.status) + " " + strings.TrimSpace(c.body)
				if c.err != nil {
					what = c.err.Error()
				}
				l.res.ErrorExamples = append(l.res.ErrorExamples, fmt.Sprintf("%s %s %s: %s",
					c.sent.Sub(l.res.Start).Round(time.Millisecond), method, req.URL.Path, what))
			}
		}
	}
	return c
}

// inWindow reports whether [from, to] overlaps a fault window; l.mu held.
func (l *load) inWindow(from, to time.Time) bool {
	for _, f := range l.res.Faults {
		end := f.End
		if end.IsZero() {
			end = to.Add(time.Hour)
		}
		if !from.After(end) && !to.Before(f.Start) {
			return true
		}
	}
	return false
}

func (l *load) pick() *instance { return l.env.nodes[rand.IntN(len(l.env.nodes))] }

// user is one virtual user's loop: log in, call the gateway with the
// session, get tokens, call the gateway with the token, refresh (sometimes
// twice at once on two instances), revoke the access token or log out, and
// check that what was revoked is refused.
func (l *load) user(ctx context.Context, name string) {
	for ctx.Err() == nil {
		a, b := l.pick(), l.pick()
		login, _ := json.Marshal(map[string]string{"username": name, "password": password})
		c := l.do(ctx, "POST", a.base()+"/auth/login", string(login), "Content-Type", "application/json")
		cookie := sessionCookie(c.header)
		if c.status != http.StatusOK || cookie == "" {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		l.do(ctx, "GET", b.base()+"/app/x", "", "Cookie", cookie)

		tok := l.tokens(ctx, l.pick(), url.Values{"grant_type": {"password"}, "username": {name}, "password": {password}})
		if tok.access != "" {
			l.do(ctx, "GET", l.pick().base()+"/api/x", "", "Authorization", "Bearer "+tok.access)
			tok = l.refresh(ctx, tok)
		}
		if tok.access != "" && rand.IntN(2) == 0 {
			l.warm(ctx, "/api/x", "Authorization", "Bearer "+tok.access)
			body := url.Values{"token": {tok.access}, "token_type_hint": {"access_token"}}.Encode()
			i := l.pick()
			if r := l.do(ctx, "POST", i.base()+"/auth/revoke", body, "Content-Type", "application/x-www-form-urlencoded"); r.status == http.StatusOK {
				l.checkRevoked(ctx, i, time.Now(), "/api/x", "Authorization", "Bearer "+tok.access)
			}
		}
		l.warm(ctx, "/app/x", "Cookie", cookie)
		i := l.pick()
		if r := l.do(ctx, "POST", i.base()+"/auth/logout", "", "Cookie", cookie); r.status == http.StatusNoContent {
			l.checkRevoked(ctx, i, time.Now(), "/app/x", "Cookie", cookie)
		}
	}
}

// warm sends the credential to every instance, so that each has it in its
// local cache and a refusal afterwards proves the revocation broadcast
// reached it (not merely that the store no longer has it).
func (l *load) warm(ctx context.Context, path string, header ...string) {
	for _, i := range l.env.nodes {
		l.do(ctx, "GET", i.base()+path, "", header...)
	}
}

type tokenPair struct{ access, refresh string }

func (l *load) tokens(ctx context.Context, i *instance, v url.Values) tokenPair {
	c := l.do(ctx, "POST", i.base()+"/auth/token", v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if c.status != http.StatusOK {
		return tokenPair{}
	}
	var m struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if json.Unmarshal([]byte(c.body), &m) != nil {
		return tokenPair{}
	}
	return tokenPair{m.Access, m.Refresh}
}

// refresh rotates the refresh token; one time in three it sends the same
// token to two instances at once, and counts a double success.
func (l *load) refresh(ctx context.Context, t tokenPair) tokenPair {
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.refresh}}
	if rand.IntN(3) != 0 {
		if n := l.tokens(ctx, l.pick(), v); n.access != "" {
			return n
		}
		return t
	}
	var (
		wg  sync.WaitGroup
		out [2]tokenPair
	)
	for k, i := range []*instance{l.env.nodes[0], l.env.nodes[1+rand.IntN(len(l.env.nodes)-1)]} {
		wg.Go(func() { out[k] = l.tokens(ctx, i, v) })
	}
	wg.Wait()
	l.mu.Lock()
	l.res.RefreshRaces++
	if out[0].access != "" && out[1].access != "" {
		l.res.DoubleSuccessors++
	}
	l.mu.Unlock()
	if out[0].access != "" {
		return out[0]
	}
	return out[1]
}

// checkRevoked probes path with the revoked credential on every instance
// until each refuses it. The instance that acknowledged the revocation must
// refuse at once; the others within propagationBound. A 200 later than that
// is a wrongly allowed request. Each other instance's first refusal gives a
// propagation time.
func (l *load) checkRevoked(ctx context.Context, acked *instance, ack time.Time, path string, header ...string) {
	l.mu.Lock()
	l.res.Revocations++
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range l.env.nodes {
		wg.Go(func() {
			for ctx.Err() == nil && time.Since(ack) < 3*propagationBound {
				c := l.do(ctx, "GET", i.base()+path, "", header...)
				if c.status == http.StatusOK {
					if i == acked || c.sent.Sub(ack) > propagationBound {
						l.mu.Lock()
						l.res.WronglyAllowed++
						l.mu.Unlock()
						return
					}
					sleepCtx(ctx, 20*time.Millisecond)
					continue
				}
				if i != acked && c.status != 0 && c.status < 500 {
					l.mu.Lock()
					l.res.Propagation = append(l.res.Propagation, c.sent.Sub(ack))
					l.mu.Unlock()
				}
				return
			}
		})
	}
	wg.Wait()
}

func sessionCookie(h http.Header) string {
	for _, v := range h.Values("Set-Cookie") {
		name, rest, _ := strings.Cut(v, "=")
		val, _, _ := strings.Cut(rest, ";")
		if strings.HasSuffix(name, "gatehouse") && val != "" {
			return name + "=" + val
		}
	}
	return ""
}

// sample reads every instance's RSS and goroutines from its /metrics every
// 5 s.
func (l *load) sample(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		for _, i := range l.env.nodes {
			rss, gor, ok := l.metrics(ctx, i)
			if !ok {
				continue
			}
			l.mu.Lock()
			l.res.Samples = append(l.res.Samples, Sample{At: time.Since(l.res.Start), Instance: i.name, RSSBytes: rss, Goroutines: gor})
			l.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *load) metrics(ctx context.Context, i *instance) (rss, goroutines float64, ok bool) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+i.admin+"/metrics", nil)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), " ")
		v, err := strconv.ParseFloat(val, 64)
		switch {
		case err != nil:
		case name == "process_resident_memory_bytes":
			rss, found = v, found+1
		case name == "go_goroutines":
			goroutines, found = v, found+1
		}
	}
	return rss, goroutines, found == 2
}
