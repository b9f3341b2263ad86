// Package metrics holds gatehouse's Prometheus collectors in one registry
// per process (no global registration), served on admin_listen.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors of contract section 6.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec   // route, code (HTTP requests and gRPC ext_authz Checks)
	Duration      *prometheus.HistogramVec // route
	AuthDecisions *prometheus.CounterVec   // method, outcome
	LoginFailures *prometheus.CounterVec   // reason
	Tokens        *prometheus.CounterVec   // event: issued|refreshed|reuse_detected|revoked
	StoreLatency  *prometheus.HistogramVec // store, op
	RateLimits    *prometheus.CounterVec   // route, outcome: limited|unavailable|fail_open
	MFA           *prometheus.CounterVec   // method: totp|recovery|webauthn, outcome: success|failure
	// AccessLogDropped counts access log lines dropped because the log
	// writer could not keep up (the request path never waits for it).
	AccessLogDropped prometheus.Counter
	// ConfigMismatch is, per setting every instance must agree on, the
	// number of live peer instances sharing the stores whose value
	// differs from this instance's (internal/peers).
	ConfigMismatch *prometheus.GaugeVec // field

	decisions pairs[prometheus.Counter]  // AuthDecisions by method, outcome
	storeOps  pairs[prometheus.Observer] // StoreLatency by store, op
}

// pairs keeps the series of a vector with two labels once resolved.
// WithLabelValues hashes the values and takes the vector's read lock on
// every call (≈ 0.1–0.3 µs, and a lock that cores serving requests at once
// contend for; issue 15); the label values on these paths come from small
// fixed sets, so each pair is resolved on its first use and then only
// loaded.
type pairs[T any] struct {
	m sync.Map // [2]string → T
}

func (p *pairs[T]) of(a, b string, resolve func(...string) T) T {
	if v, ok := p.m.Load([2]string{a, b}); ok {
		return v.(T)
	}
	v, _ := p.m.LoadOrStore([2]string{a, b}, resolve(a, b))
	return v.(T)
}

// New registers every collector in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests and Envoy gRPC ext_authz Checks by route and status code; a Check's code is the HTTP status of its decision.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request and Envoy gRPC ext_authz Check latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		AuthDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_decisions_total", Help: "Authentication decisions by credential method and outcome.",
		}, []string{"method", "outcome"}),
		LoginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_login_failures_total", Help: "Failed logins by reason (invalid_credentials, throttled, overloaded).",
		}, []string{"reason"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_total", Help: "Token events: issued, refreshed, reuse_detected, revoked.",
		}, []string{"event"}),
		StoreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_store_duration_seconds", Help: "Store operation latency.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"store", "op"}),
		MFA: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_mfa_total", Help: "Second-factor verifications by method (totp, recovery, webauthn) and outcome (success, failure).",
		}, []string{"method", "outcome"}),
		RateLimits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limit_total",
			Help: "Gateway requests a route's rate_limit refused (limited), or let through or refused while its store was down (fail_open, unavailable).",
		}, []string{"route", "outcome"}),
		AccessLogDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_access_log_dropped_total", Help: "Access log lines dropped under back-pressure.",
		}),
		ConfigMismatch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_config_mismatch",
			Help: "Live peer instances sharing the stores whose value of a setting every instance must agree on differs from this instance's.",
		}, []string{"field"}),
	}
	m.Registry.MustRegister(m.Requests, m.Duration, m.AuthDecisions, m.LoginFailures, m.Tokens, m.StoreLatency, m.RateLimits, m.MFA,
		m.AccessLogDropped, m.ConfigMismatch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Decision counts one authentication decision.
func (m *Metrics) Decision(method, outcome string) {
	if m == nil {
		return
	}
	m.decisions.of(method, outcome, m.AuthDecisions.WithLabelValues).Inc()
}

// StoreOp observes the latency of one store operation.
func (m *Metrics) StoreOp(store, op string, d time.Duration) {
	if m == nil {
		return
	}
	m.storeOps.of(store, op, m.StoreLatency.WithLabelValues).Observe(d.Seconds())
}

// RateLimit counts one rate limit event of a gateway route.
func (m *Metrics) RateLimit(route, outcome string) {
	if m == nil {
		return
	}
	m.RateLimits.WithLabelValues(route, outcome).Inc()
}

// PeerMismatch sets the number of live peer instances whose value of
// field differs from this instance's.
func (m *Metrics) PeerMismatch(field string, peers int) {
	if m == nil {
		return
	}
	m.ConfigMismatch.WithLabelValues(field).Set(float64(peers))
}

// Token counts one token event.
func (m *Metrics) Token(event string) {
	if m == nil {
		return
	}
	m.Tokens.WithLabelValues(event).Inc()
}

// SecondFactor counts one second-factor verification.
func (m *Metrics) SecondFactor(method, outcome string) {
	if m == nil {
		return
	}
	m.MFA.WithLabelValues(method, outcome).Inc()
}
