package main

import "syscall"

// childAttr puts a demo child in its own process group, so that Ctrl-C reaches only the parent,
// which kills the children and removes the segment; and kills the child if the parent dies
// without doing so (SIGKILL, a crash).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
