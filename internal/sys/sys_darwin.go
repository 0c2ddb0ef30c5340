package sys

import (
	"golang.org/x/sys/unix"
)

// ProcessStartTime returns kp_proc.p_starttime in microseconds since the Unix epoch, the value
// spec/LAYOUT.md section 8 stores on macOS.
func ProcessStartTime(pid int) (uint64, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	tv := kp.Proc.P_starttime
	return uint64(tv.Sec)*1e6 + uint64(tv.Usec), nil
}

// Monotonic returns CLOCK_MONOTONIC in nanoseconds, comparable across the processes of one host.
// Go's runtime clock here is not CLOCK_MONOTONIC, so this is a system call.
func Monotonic() uint64 { return monotonicSyscall() }
