package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child get SIGKILL if this process dies, so no child keeps spinning (or
// holds a segment) after an interrupted run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
