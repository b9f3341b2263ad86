// Package bench measures the session-versus-token trade-off on the machine
// it runs on (issue 7): it starts an upstream, a bare reverse proxy as the
// baseline and one gatehouse instance per mode, all in-process on
// loopback, drives them with its own keep-alive load generator, and writes
// the results as Markdown, JSON and an SVG chart.
//
// The numbers are for comparing modes with each other on one machine, in
// one run: the generator shares the process (and the CPUs) with the
// servers it measures, equally for every mode, so absolute figures are
// lower than a dedicated load generator would show. `make bench-gateway`
// (scripts/bench-gateway.sh, wrk) gives the out-of-process view.
package bench
