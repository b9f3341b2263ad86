package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
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
// printing the partial report. Out of the terminal's reach, the child is
// also sent SIGTERM when the bench dies without stopping it (SIGKILL, a
// crash), instead of keeping its port.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// spawner runs every start on one OS thread that lives as long as the
// process. Linux sends Pdeathsig when the thread that forked the child
// exits, not the process, and Go ends a thread whenever a goroutine locked
// to it returns — password hashing does (internal/password), and the
// bench hashes the bench users' passwords in its own process: a server
// forked from such a thread would be stopped mid-run.
var spawner struct {
	once sync.Once
	run  chan func()
}

// start starts cmd from the spawner's thread.
func start(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.run = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for fn := range spawner.run {
				fn()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.run <- func() { done <- cmd.Start() }
	return <-done
}
