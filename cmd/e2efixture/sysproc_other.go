//go:build !linux

package main

import "syscall"

// terminateSignal asks a child to shut down gracefully.
const terminateSignal = syscall.SIGTERM

// sysProcAttr is nil: only Linux can tie the children's life to ours.
func sysProcAttr() *syscall.SysProcAttr { return nil }
