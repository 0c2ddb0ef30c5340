//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing where there is no parent-death signal (macOS): the children's waits
// have deadlines (attach 10 s) and the harness kills them on its own timeout.
func dieWithParent(*exec.Cmd) {}
