package sys

import "golang.org/x/sys/unix"

// membarrierCmdGlobal is MEMBARRIER_CMD_GLOBAL of <linux/membarrier.h>: every thread of every
// process passes a full memory barrier before the call returns.
const membarrierCmdGlobal = 1

// GlobalBarrier issues a system-wide memory barrier (spec/LAYOUT.md 5.6, fence F3): when it
// returns, every thread on the system has passed a full barrier since the call began. It takes
// milliseconds (an RCU grace period); call it once per registration, never per event. It returns
// false where the kernel refuses it (then blockers bound their kernel waits instead).
func GlobalBarrier() bool {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0)
	return e == 0
}
