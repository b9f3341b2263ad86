package password

import "golang.org/x/sys/unix"

// niceStep is how much lower than the process's own threads a hash's
// driving thread runs. What that thread does is little: x/crypto/argon2
// computes each segment of the memory (4 per pass, 8 with the default 2
// passes) in a goroutine of its own, which runs on an ordinary worker
// thread, so the driving thread only allocates the memory, hashes input and
// output, and starts and awaits each segment — 1–6 % of a hash's CPU,
// measured. Its priority acts at the segment boundaries: under contention
// it waits to be scheduled before each next segment, which paces how many
// hashes finish per second and so how much CPU logins take from requests;
// on an idle machine it does not wait and a hash runs at full speed.
//
// SCHED_IDLE, the policy before this one, paced harder (weight 3 against
// 1,024; nice +10 weighs 110) but could not tell gatehouse's threads from
// other programs' in the same CPU cgroup: beside two busy loops on a 2-CPU
// machine it served 0.6–0.9 logins/s with a p99 of 3–5 s, nice +10 15–16
// logins/s with a p99 of 0.17 s, and both kept the gateway's login-flood
// target (docs/benchmarks.md, "Gateway fast path, eighth round").
const niceStep = 10

// lowerPriority lowers the calling OS thread's priority by niceStep from
// the one it inherited (at most to nice 19, the lowest), so that a
// gatehouse started at a lower priority than usual keeps its hashes'
// driving threads below its own requests too. Raising a nice value needs no
// privilege; if it fails anyway, the hash is paced at the process's
// priority, which is harmless.
func lowerPriority() {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), min(int(attr.Nice)+niceStep, 19))
}
