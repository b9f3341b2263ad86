package main

import "syscall"

// terminateSignal asks a child to shut down gracefully.
const terminateSignal = syscall.SIGTERM

// sysProcAttr makes the kernel stop the children if the fixture itself is
// killed without a chance to clean up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
