//go:build !linux

package sys

// GlobalBarrier has no system-wide barrier to issue here: it returns false, and a blocker bounds
// its waits instead (spec/LAYOUT.md 5.6). Without a futex (macOS) nobody blocks in the kernel
// anyway.
func GlobalBarrier() bool { return false }
