//go:build !linux

package bench

import (
	"errors"
	"os/exec"
	"time"
)

// processCPU needs /proc (Linux); elsewhere the report shows no CPU
// figures.
func processCPU(int) (time.Duration, error) {
	return 0, errors.New("CPU time per process is read from /proc, which this system lacks")
}

func detach(*exec.Cmd) {}

func start(cmd *exec.Cmd) error { return cmd.Start() }
