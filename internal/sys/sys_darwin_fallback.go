//go:build darwin

package sys

import (
	"fmt"
	"runtime"
	"time"
)

// ShmPath reports ErrUnsupported: without cgo there is no shm_open on this platform, and the
// object namespace is not visible in the file system. Use a file-backed segment instead.
func ShmPath(name string) (string, error) {
	return "", fmt.Errorf("posix shared memory %s: %w (use a file-backed segment)", name, ErrUnsupported)
}

// FutexWait sleeps briefly instead of blocking: this platform has no futex reachable without
// cgo. Callers re-check their condition after every return, so waits stay correct but cost a
// wakeup every sleep interval.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	d := 50 * time.Microsecond
	if timeout > 0 && timeout < d {
		d = timeout
	}
	time.Sleep(d)
	return nil
}

// FutexWake is a no-op: waiters on this platform poll (see FutexWait).
func FutexWake(addr *uint32) error { return nil }

// HasFutex reports whether FutexWait really blocks on this platform.
const HasFutex = false

// Pin is a documented no-op on this platform: it has no CPU affinity call reachable without cgo.
func Pin(cpu int) error { return nil }

// Unpin undoes Pin.
func Unpin() {}

// OSYield yields to other goroutines and sleeps for the shortest time the OS offers: there is no
// sched_yield reachable without cgo here.
func OSYield() { time.Sleep(0); runtime.Gosched() }

// zombie is false here: exited processes are detected through kill(pid, 0) and the start time.
func zombie(pid int) bool { return false }

// ShmNames reports ErrUnsupported: macOS offers no way to list POSIX shared-memory objects.
func ShmNames() ([]string, error) { return nil, ErrUnsupported }
