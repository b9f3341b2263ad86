package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/bench"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		maxReq     int64
		wantErrors int64
	}{
		{"200s are successes", http.StatusOK, 40, 0},
		{"non-200s are errors", http.StatusUnauthorized, 40, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen atomic.Int64
			var credential atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				credential.Store(r.Header.Get("Authorization"))
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(srv.Close)
			client := bench.NewClient(4)
			t.Cleanup(client.CloseIdleConnections)

			res, err := bench.Load(context.Background(), client,
				bench.Target{URL: srv.URL + "/x", Header: http.Header{"Authorization": {"Bearer abc"}}},
				bench.LoadOptions{Concurrency: 4, Duration: time.Minute, MaxRequests: tt.maxReq})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Requests, tt.maxReq; got != want {
				t.Errorf("requests = %d, want %d (the cap)", got, want)
			}
			if got, want := seen.Load(), tt.maxReq; got != want {
				t.Errorf("server saw %d requests, want %d", got, want)
			}
			if got, want := res.Errors, tt.wantErrors; got != want {
				t.Errorf("errors = %d, want %d", got, want)
			}
			if (res.FirstError != "") != (tt.wantErrors > 0) {
				t.Errorf("first error = %q with %d errors", res.FirstError, res.Errors)
			}
			if got, want := credential.Load(), "Bearer abc"; got != want {
				t.Errorf("server got Authorization %q, want %q", got, want)
			}
			if got, want := len(res.Latencies), int(tt.maxReq); got != want {
				t.Errorf("%d latencies, want %d", got, want)
			}
			if res.Percentile(0.99) < res.Percentile(0.5) || res.Percentile(0.5) <= 0 {
				t.Errorf("p50 %v, p99 %v", res.Percentile(0.5), res.Percentile(0.99))
			}
		})
	}
}

func TestLoadStopsWhenContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := bench.Load(ctx, bench.NewClient(2), bench.Target{URL: srv.URL},
		bench.LoadOptions{Concurrency: 2, Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 0 {
		t.Errorf("after cancel: %d requests, %d errors; want none", res.Requests, res.Errors)
	}
}

func TestPercentile(t *testing.T) {
	var r bench.LoadResult
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.50, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1.00, 100 * time.Millisecond},
		{0, time.Millisecond},
	}
	for _, tt := range tests {
		if got := r.Percentile(tt.p); got != tt.want {
			t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (bench.LoadResult{}).Percentile(0.5); got != 0 {
		t.Errorf("Percentile of nothing = %v, want 0", got)
	}
}

// Percentile is the nearest-rank percentile: the smallest latency with at
// least fraction p of the requests at or below it (rank ⌈p·n⌉).
func TestPercentileNearestRank(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 100, 101, 150, 170, 230, 1000, 1030} {
		var r bench.LoadResult
		for i := 1; i <= n; i++ {
			r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
		}
		for _, p := range []float64{0.5, 0.9, 0.99} {
			got := r.Percentile(p)
			// The rank: the smallest k with k/n ≥ p.
			k := 1
			for float64(k) < p*float64(n)-1e-9 {
				k++
			}
			if want := time.Duration(k) * time.Millisecond; got != want {
				t.Errorf("n=%d: Percentile(%v) = %v, want %v (rank %d)", n, p, got, want, k)
			}
		}
	}
}
