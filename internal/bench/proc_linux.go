package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// processCPU is the user plus system CPU time process pid has used, all
// its threads together, from /proc/PID/stat (fields 14 and 15, utime and
// stime).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	return parseStat(string(b))
}

// detach puts the child in its own process group: Ctrl-C in the terminal
// then reaches only the bench, which stops its servers itself after
// printing the partial report.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
