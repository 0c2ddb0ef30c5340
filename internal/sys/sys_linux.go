package sys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shmDir is where glibc's shm_open keeps POSIX shared-memory objects; opening files there is
// exactly what shm_open does, so Go, C and Rust peers see the same objects.
const shmDir = "/dev/shm"

// ShmPath returns the file that backs the POSIX shared-memory object name ("/x").
func ShmPath(name string) (string, error) {
	return shmDir + name, nil
}

// ProcessStartTime returns field 22 (starttime, clock ticks since boot) of /proc/PID/stat, the
// value spec/LAYOUT.md section 8 stores to tell a reused pid from the original process.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatStartTime(b)
}

// zombie reports whether pid has exited and waits to be reaped: kill(pid, 0) still succeeds on
// it, but it will never run again.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func parseStatStartTime(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat: no ')'")
	}
	// After ") " come fields 3 (state) onwards; starttime is field 22, the 20th of them.
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 {
		return 0, errors.New("malformed /proc stat: too few fields")
	}
	v, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed /proc stat starttime: %w", err)
	}
	return v, nil
}

// FutexWait blocks while *addr == val, at most timeout (forever if timeout <= 0). It returns
// nil when woken, when the value already differs, on a signal or on timeout: callers re-check
// their condition, so every return may be spurious. The futex is shared (no FUTEX_PRIVATE_FLAG)
// so waiters in other processes mapping the same page are woken too.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var tsp *unix.Timespec
	if timeout > 0 {
		ts := unix.NsecToTimespec(int64(timeout))
		tsp = &ts
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait,
		uintptr(val), uintptr(unsafe.Pointer(tsp)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		return nil
	default:
		return fmt.Errorf("futex wait: %w", e)
	}
}

// FutexWake wakes every waiter blocked on addr, in any process.
func FutexWake(addr *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake,
		uintptr(1<<31-1), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("futex wake: %w", e)
	}
	return nil
}

// HasFutex reports whether FutexWait really blocks on this platform.
const HasFutex = true

// Pin locks the calling goroutine to its OS thread and that thread to cpu. Undo with Unpin.
func Pin(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	return nil
}

// Unpin releases the thread locked by Pin and lets it run on every CPU again.
func Unpin() {
	var set unix.CPUSet
	for i := 0; i < runtime.NumCPU(); i++ {
		set.Set(i)
	}
	_ = unix.SchedSetaffinity(0, &set)
	runtime.UnlockOSThread()
}

// futex(2) operations; the private variants are deliberately not used.
const (
	futexWait = 0
	futexWake = 1
)

// OSYield gives up the CPU to another runnable thread of any process (sched_yield), which is what
// a waiter needs when more threads spin than there are cores.
func OSYield() { _, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// ShmNames lists the POSIX shared-memory object names ("/x") of this host.
func ShmNames() ([]string, error) {
	entries, err := os.ReadDir(shmDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, "/"+e.Name())
		}
	}
	return names, nil
}

// nanotime is the Go runtime's clock: on Linux, clock_gettime(CLOCK_MONOTONIC) through the vDSO
// (no system call). The runtime keeps this linkname working for the packages that use it.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Monotonic returns CLOCK_MONOTONIC in nanoseconds, comparable across the processes of one host
// (and with C's and Rust's clock_gettime). It costs tens of nanoseconds: heartbeats and stamps
// on hot paths read it.
func Monotonic() uint64 { return uint64(nanotime()) }
