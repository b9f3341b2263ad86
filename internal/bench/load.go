package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Target is what the generator requests: a GET of URL with Header (the
// credential, if any) on every request.
type Target struct {
	URL    string
	Header http.Header
}

// LoadOptions bounds one load run: Concurrency workers send requests back
// to back until Duration has passed or MaxRequests have been sent,
// whichever comes first.
type LoadOptions struct {
	Concurrency int
	Duration    time.Duration
	MaxRequests int64
}

// LoadResult is what one load run measured. Latencies holds one entry per
// completed request (errors included), sorted ascending.
type LoadResult struct {
	Requests  int64
	Errors    int64 // non-200 answers and transport errors
	Elapsed   time.Duration
	Latencies []time.Duration
	// FirstError describes the first failure (a status code or a transport
	// error); it never holds the credential.
	FirstError string
}

// RPS is completed requests per second.
func (r LoadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency at or below which fraction p (0..1) of
// the requests completed: the nearest-rank percentile, the ⌈p·n⌉-th
// smallest (rounding p·n to the nearest rank instead answered one rank low
// whenever its fraction was under one half), or 0 without requests.
func (r LoadResult) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	// The slack keeps a whole p·n such as 0.99×100 from being taken a
	// rank higher for a binary rounding error.
	i := int(math.Ceil(p*float64(n)-1e-9)) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}

// NewClient returns the generator's HTTP/1.1 keep-alive client: one idle
// connection per worker and target (no limit across targets), so that
// every request after the first reuses a connection, as a browser or an
// API client would, even when runs alternate between targets.
func NewClient(concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0, // no total limit: keep every target's connections
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Load drives target with client until opt's bounds or ctx end.
func Load(ctx context.Context, client *http.Client, target Target, opt LoadOptions) (LoadResult, error) {
	req, err := http.NewRequest(http.MethodGet, target.URL, nil)
	if err != nil {
		return LoadResult{}, fmt.Errorf("load %s: %w", target.URL, err)
	}
	req.Header = target.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	workers := max(opt.Concurrency, 1)
	maxRequests := opt.MaxRequests
	if maxRequests <= 0 {
		maxRequests = 1 << 62
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Duration)
	defer cancel()

	var (
		sent    atomic.Int64
		wg      sync.WaitGroup
		results = make([]workerResult, workers)
	)
	start := time.Now()
	for i := range workers {
		wg.Go(func() {
			// Each worker gets its own copy: requests in flight must not share
			// a header map.
			results[i] = work(ctx, client, req.Clone(ctx), &sent, maxRequests)
		})
	}
	wg.Wait()
	res := LoadResult{Elapsed: time.Since(start)}
	for _, w := range results {
		res.Requests += int64(len(w.latencies))
		res.Errors += w.errors
		res.Latencies = append(res.Latencies, w.latencies...)
		if res.FirstError == "" {
			res.FirstError = w.firstError
		}
	}
	slices.Sort(res.Latencies)
	return res, nil
}

type workerResult struct {
	latencies  []time.Duration
	errors     int64
	firstError string
}

// work sends requests one after the other until the shared budget or ctx
// runs out. A request cut short by the end of the run is not counted: it
// did not complete, and counting it would add a spurious error.
func work(ctx context.Context, client *http.Client, req *http.Request, sent *atomic.Int64, maxRequests int64) workerResult {
	var w workerResult
	w.latencies = make([]time.Duration, 0, 1024)
	for ctx.Err() == nil && sent.Add(1) <= maxRequests {
		t0 := time.Now()
		status, err := do(client, req)
		d := time.Since(t0)
		if err != nil && ctx.Err() != nil {
			break
		}
		w.latencies = append(w.latencies, d)
		if err == nil && status == http.StatusOK {
			continue
		}
		w.errors++
		if w.firstError == "" {
			if err != nil {
				w.firstError = err.Error()
			} else {
				w.firstError = fmt.Sprintf("status %d", status)
			}
		}
	}
	return w
}

func do(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain the body so that the connection goes back to the pool.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
