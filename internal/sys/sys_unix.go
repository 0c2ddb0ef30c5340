//go:build linux || darwin

package sys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Map maps length bytes of f shared and read-write.
func Map(f *os.File, length int) ([]byte, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes of %s: %w", length, f.Name(), err)
	}
	return b, nil
}

// MapAnonymous maps length zeroed bytes private to this process, page-aligned.
func MapAnonymous(length int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d anonymous bytes: %w", length, err)
	}
	return b, nil
}

// Unmap releases a mapping made by Map or MapAnonymous.
func Unmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// monotonicSyscall reads CLOCK_MONOTONIC with the clock_gettime system call.
func monotonicSyscall() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

// ProcessExists reports whether a process with this pid exists (it may belong to another user).
func ProcessExists(pid int) bool {
	if pid <= 0 || pid >= 1<<31 {
		return false // spec section 8: such pids name no process (kill would read them as groups)
	}
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// Alive reports whether the process that had pid and startTime (0 = unknown) is still running:
// false when no process has the pid, when it has exited and awaits reaping (a zombie), or when
// the process that has it started at another time.
func Alive(pid uint32, startTime uint64) bool {
	if !ProcessExists(int(pid)) || zombie(int(pid)) {
		return false
	}
	if startTime == 0 {
		return true
	}
	st, err := ProcessStartTime(int(pid))
	if err != nil || st == 0 {
		return true // cannot tell: assume alive, never reclaim a live peer's state
	}
	return st == startTime
}

// AliveOwner is Alive for an owner identity (spec section 8), whose start time is kept modulo
// 2^32: equal when the low 32 bits are equal, unknown (0) on either side compares equal.
func AliveOwner(pid uint32, startLow uint32) bool {
	if !ProcessExists(int(pid)) || zombie(int(pid)) {
		return false
	}
	if startLow == 0 {
		return true
	}
	st, err := ProcessStartTime(int(pid))
	if err != nil || st == 0 {
		return true // cannot tell: assume alive, never reclaim a live peer's state
	}
	return uint32(st) == startLow
}
