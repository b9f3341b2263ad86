package password

import "syscall"

// lowerPriority makes the calling OS thread nice 10 (Linux schedules
// threads individually). Under contention the kernel then runs the proxy's
// threads first and argon2id gets what is left; on an idle machine a hash
// runs at full speed. Failure is harmless: the hash runs at normal priority.
func lowerPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 10)
}
