// Command soak runs the gatehouse soak test (internal/soak) and writes its
// report; `make soak` runs it. It exits 1 when a check fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/soak"
)

func main() {
	var (
		opts soak.Options
		out  string
	)
	flag.DurationVar(&opts.Duration, "duration", 10*time.Minute, "how long the load and faults run")
	flag.StringVar(&opts.Binary, "binary", "bin/gatehouse", "gatehouse binary")
	flag.StringVar(&opts.Dir, "dir", "", "directory for the private services and logs (default: a temporary one)")
	flag.IntVar(&opts.Users, "users", 6, "concurrent virtual users")
	flag.StringVar(&out, "out", "docs/bench/soak", "report path without extension (.md and .svg)")
	flag.Parse()
	opts.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := soak.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if err := soak.WriteReport(r, out); err != nil {
		fmt.Fprintln(os.Stderr, "soak: write report:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "soak: report in %s.md\n", out)
	if failures := r.Failures(); len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(os.Stderr, "soak: FAIL:", f)
		}
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "soak: PASS")
}
