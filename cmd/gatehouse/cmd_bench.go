package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/internal/bench"
	"github.com/gatehouse-auth/gatehouse/internal/gcpace"
)

func benchCmd(e *env) *cobra.Command {
	opt := bench.Options{}
	out := "report"
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the session-vs-token trade-off on this machine",
		Long: "bench starts an upstream, the bare reference proxy (and the variants of it that the chosen modes are\n" +
			"compared with) and one gatehouse per mode, each in a process of its own on loopback, drives them in\n" +
			"interleaved rounds with a keep-alive load generator in this process, and prints a Markdown report (also\n" +
			"written to <out>.md, <out>.json and <out>.svg): req/s, p50/p99, CPU per request of each server process\n" +
			"and CPU efficiency against the bare proxy. Progress goes to stderr (one updating line on a terminal).\n" +
			"Ctrl-C stops the run, prints the partial report and exits with status 1.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Below a second there is no round to measure: the numbers
			// would be noise (the report's rounds are seconds of load).
			if opt.Duration < time.Second {
				return usagef("--duration %s: must be at least 1s", opt.Duration)
			}
			if opt.Concurrency < 0 || opt.Sessions < 0 || opt.NoiseThreshold < 0 {
				return usagef("--concurrency, --sessions and --noise-threshold must not be negative")
			}
			if _, ok := logLevels[opt.LogLevel]; !ok {
				return usagef("--log-level must be debug, info, warn or error")
			}
			if err := opt.Check(); err != nil {
				return usageError{err}
			}
			// The report files are written after minutes of measuring:
			// find out now that they cannot be.
			if err := checkReportPrefix(out); err != nil {
				return usagef("--out %s: %v", out, err)
			}
			// Every server runs as this same binary in a process of its own.
			binary, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: find the gatehouse executable: %w", err)
			}
			opt.Binary, opt.Version, opt.Logger = binary, version(), e.logger("error")
			opt.Progress, opt.ProgressTTY = e.stderr, isTerminal(e.stderr)
			rep, err := bench.Run(cmd.Context(), opt)
			if rep == nil {
				return err
			}
			// An interrupted run (Ctrl-C) still prints and writes what it
			// measured, then fails with ErrInterrupted (exit status 1).
			if werr := writeBenchReport(e, rep, out); werr != nil {
				return errors.Join(err, werr)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opt.Duration, "duration", 10*time.Second, "measured load per mode, at least 1s, in interleaved rounds (one per second above 10s: a longer run narrows the CPU efficiency intervals)")
	f.IntVar(&opt.Concurrency, "concurrency", 0, "load workers and connections (default 2×CPUs, at least 8)")
	f.IntVar(&opt.Sessions, "sessions", 100_000, "sessions created for the memory-per-session measurements")
	f.StringVar(&opt.RedisURL, "redis", "redis://127.0.0.1:6379/0", "Redis for session-redis (skipped when it does not answer; \"\" to skip)")
	f.StringVar(&opt.PostgresURL, "postgres", "", "PostgreSQL URL: adds the session-postgres mode")
	f.StringSliceVar(&opt.Modes, "modes", nil, "only these modes (comma-separated; bare-proxy always runs)")
	f.StringVar(&out, "out", out, "write <out>.md, <out>.json and <out>.svg (\"\" to write none)")
	f.StringVar(&opt.LogLevel, "log-level", "info", "log.level of the gatehouse instances (their access log is part of the cost)")
	f.Float64Var(&opt.NoiseThreshold, "noise-threshold", 0.25, "flag a mode as noisy when its rounds spread more than this fraction of their median")
	cmd.AddCommand(benchFixtureCmd(e))
	return cmd
}

// benchFixtureCmd holds the servers scripts/bench-gateway.sh puts next to
// gatehouse: the upstream and the bare-proxy baseline.
func benchFixtureCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "fixture",
		Short:  "Servers for scripts/bench-gateway.sh",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	var listen, upstream, admin string
	var gcHeadroom int
	pool, gatewayTransport := true, true
	up := &cobra.Command{
		Use: "upstream", Short: "Serve 200 \"ok\" on every path", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveFixture(cmd, e, listen, bench.Upstream())
		},
	}
	bare := &cobra.Command{
		Use: "bare-proxy", Short: "A plain httputil.ReverseProxy to --upstream (the baseline)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(upstream)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--upstream must be an absolute http(s) URL")
			}
			if admin != "" { // pprof, so that the baseline can be profiled like gatehouse
				ln, err := net.Listen("tcp", admin)
				if err != nil {
					return fmt.Errorf("listen on %s: %w", admin, err)
				}
				mux := http.NewServeMux()
				mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
				go func() { _ = bench.Serve(cmd.Context(), ln, mux) }()
			}
			if gcHeadroom < 0 {
				return usagef("--gc-headroom-mib must not be negative")
			}
			go gcpace.Run(cmd.Context(), uint64(gcHeadroom)<<20, time.Second)
			return serveFixture(cmd, e, listen, bench.BareProxy(u, pool, gatewayTransport))
		},
	}
	for _, c := range []*cobra.Command{up, bare} {
		c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	}
	bare.Flags().StringVar(&upstream, "upstream", "", "upstream URL")
	bare.Flags().StringVar(&admin, "admin", "", "address for /debug/pprof/profile (off if \"\")")
	bare.Flags().IntVar(&gcHeadroom, "gc-headroom-mib", 0, "pace the garbage collector as gatehouse's gc_headroom_mib does (0: Go's default)")
	bare.Flags().BoolVar(&gatewayTransport, "gateway-transport", gatewayTransport,
		"use a gateway route's transport (pool sizes, dial, response-header and expect-continue timeouts); false: pool sizes only")
	bare.Flags().BoolVar(&pool, "buffer-pool", pool, "recycle the 32 KiB copy buffers (ReverseProxy.BufferPool), as gatehouse does")
	var target float64
	eff := &cobra.Command{
		Use:   "efficiency",
		Short: "CPU efficiency and its 95 % interval from paired rounds on stdin",
		Long: `Reads one line per round, "<reference requests> <reference CPU µs/request> <requests> <CPU µs/request>",
and prints "<efficiency> <low> <high> <verdict> <text>" as gatehouse bench computes them ("-" for an
interval that the rounds do not allow; the verdict against --target is met, missed or undecided, "-"
without --target; text is the efficiency as the reports print it, e.g. "0.93 [0.88–0.98]").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printEfficiency(e, target)
		},
	}
	eff.Flags().Float64Var(&target, "target", 0, "the CPU efficiency to judge the interval against (0: no verdict)")
	cmd.AddCommand(up, bare, eff)
	return cmd
}

// printEfficiency is `gatehouse bench fixture efficiency`: the shell
// scripts' way to gatehouse bench's efficiency, interval and verdict
// (bench.Efficiency, bench.Judge).
func printEfficiency(e *env, target float64) error {
	var ref, m []bench.Round
	sc := bufio.NewScanner(e.stdin)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var v [4]float64
		if len(f) != len(v) {
			return usagef("line %d: want 4 numbers, got %d fields", line, len(f))
		}
		for i := range v {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
				return usagef("line %d: %q is not a non-negative number", line, f[i])
			}
			v[i] = x
		}
		ref = append(ref, bench.Round{Requests: v[0], CPUMicros: v[1]})
		m = append(m, bench.Round{Requests: v[2], CPUMicros: v[3]})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read rounds: %w", err)
	}
	eff, interval, ok := bench.Efficiency(ref, m)
	if !ok {
		return usagef("no round with requests and CPU on both sides")
	}
	lo, hi, verdict := "-", "-", "-"
	if len(interval) == 2 {
		lo, hi = strconv.FormatFloat(interval[0], 'f', 2, 64), strconv.FormatFloat(interval[1], 'f', 2, 64)
	}
	if target > 0 {
		verdict = bench.Judge(interval, target).String()
	}
	_, err := fmt.Fprintf(e.stdout, "%.2f %s %s %s %s\n", eff, lo, hi, verdict, bench.WithInterval(eff, interval))
	return err
}

var logLevels = map[string]struct{}{"debug": {}, "info": {}, "warn": {}, "error": {}}

// writeBenchReport prints rep as Markdown and writes the report files.
func writeBenchReport(e *env, rep *bench.Report, out string) error {
	if err := rep.WriteMarkdown(e.stdout); err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	if err := rep.WriteFiles(out); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "bench: wrote %[1]s.md, %[1]s.json and %[1]s.svg\n", out)
	return nil
}

// checkReportPrefix reports why the report files <out>.md, .json and
// .svg could not be written: a prefix that names a directory (it would
// write the hidden files .md, .json, .svg in it), or a directory that is
// missing or not writable (tried with a temporary file, removed at once).
// An empty out writes no files.
func checkReportPrefix(out string) error {
	if out == "" {
		return nil
	}
	if strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) {
		return errors.New("names a directory; give a file prefix such as DIR/report")
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".gatehouse-bench-*")
	if err != nil {
		return fmt.Errorf("cannot write the report there: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// isTerminal reports whether w is a terminal (progress then updates one
// line in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// serveFixture serves h on listen until the command's context ends
// (SIGINT/SIGTERM), printing the bound address first.
func serveFixture(cmd *cobra.Command, e *env, listen string, h http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	fmt.Fprintf(e.stdout, "listening on %s\n", ln.Addr())
	return bench.Serve(cmd.Context(), ln, h)
}
