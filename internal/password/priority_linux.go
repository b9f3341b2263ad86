package password

import "golang.org/x/sys/unix"

// niceStep is how much lower than the process's own threads a hashing
// thread runs. Linux schedules threads individually, by weight: at nice +10
// a hashing thread weighs about a tenth of a request thread, so under
// contention request handling gets about nine tenths of a shared CPU and
// argon2id the rest; on an idle machine a hash runs at full speed.
//
// SCHED_IDLE, the policy before this one, favoured request threads more
// (weight 3 against 1,024) but could not tell gatehouse's threads from
// other programs' in the same CPU cgroup: beside two busy loops on a 2-CPU
// machine it served 0.6–0.9 logins/s with a p99 of 3–5 s, nice +10 15–16
// logins/s with a p99 of 0.17 s, and both kept the gateway's login-flood
// target (docs/benchmarks.md, "Gateway fast path, eighth round").
const niceStep = 10

// lowerPriority lowers the calling OS thread's priority by niceStep from
// the one it inherited (at most to nice 19, the lowest), so that a gatehouse
// started at a lower priority than usual keeps its hashing below its own
// requests too. Raising a nice value needs no privilege; if it fails
// anyway, the hash runs at the process's priority, which is harmless.
func lowerPriority() {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), min(int(attr.Nice)+niceStep, 19))
}
