//go:build !linux

package main

import "syscall"

// childAttr puts a demo child in its own process group, so that Ctrl-C reaches only the parent,
// which kills the children and removes the segment. This platform has no parent-death signal:
// a child of a parent killed with SIGKILL keeps running until its own timeouts end it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
