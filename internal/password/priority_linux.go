package password

import "golang.org/x/sys/unix"

// lowerPriority moves the calling OS thread to SCHED_IDLE (Linux schedules
// threads individually): it runs only on CPU time no normal thread wants,
// a waking request thread preempts it at once, and the kernel places woken
// threads on a CPU that runs only SCHED_IDLE work as if it were idle. So
// under contention the proxy's threads run first and argon2id gets what is
// left; on an idle machine a hash runs at full speed. Nice 10, the first
// version, favours request threads only by weight; measured under a login
// flood, both let logins use the CPU the gateway leaves idle, and
// SCHED_IDLE had the better worst round (docs/benchmarks.md, fourth
// round). If the policy cannot be set, the thread falls back to nice 10;
// failure of both is harmless: the hash runs at normal priority.
func lowerPriority() {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if unix.SchedSetAttr(0, &attr, 0) != nil {
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 10)
	}
}
