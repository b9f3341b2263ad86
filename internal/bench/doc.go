// Package bench measures the session-versus-token trade-off and the
// gateway's cost on the machine it runs on (issues 7 and 15): it starts an
// upstream, the bare reference proxy (and its variants the chosen modes
// are compared with: without a copy-buffer pool, sent the modes'
// credential) and one `gatehouse serve` per mode, each in a process of its own on loopback, drives them in
// interleaved rounds with its own keep-alive load generator, reads each
// server process's CPU time from /proc, and writes the results as Markdown,
// JSON and an SVG chart.
//
// The numbers are for comparing modes with each other on one machine, in
// one run: the generator and the servers share the machine's CPUs, so
// req/s is lower than a dedicated load generator would show, while CPU per
// request (and CPU efficiency against the bare proxy) belongs to the server
// process alone. `make bench-gateway` (scripts/bench-gateway.sh, wrk) gives
// the same view with a C load generator.
package bench
