package child

import "syscall"

// dieWithParent has the kernel send the child SIGKILL when the thread that started it exits, so
// no child keeps running (or holds a segment) after its test binary or harness died.
func dieWithParent(a *syscall.SysProcAttr) {
	if a.Pdeathsig == 0 {
		a.Pdeathsig = syscall.SIGKILL
	}
}
