//go:build !linux

package child

import "syscall"

// dieWithParent does nothing where there is no parent-death signal (macOS): the roles' own waits
// have deadlines, and Process.Wait kills a child that outlives its timeout.
func dieWithParent(*syscall.SysProcAttr) {}
