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

// Reserve gives f its size, size bytes, and makes the file system allocate every one of them now
// (fallocate(2) with mode 0, which is what glibc's posix_fallocate calls), so that a file system
// without room, such as a small /dev/shm, fails here with ENOSPC instead of with a SIGBUS on a
// later write through a mapping. The error wraps the errno. A file system that cannot allocate
// ahead (EOPNOTSUPP) gets ftruncate instead, which reserves nothing: there, as before, running
// out of room faults later.
func Reserve(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP:
			return f.Truncate(size)
		}
		return fmt.Errorf("fallocate %d bytes of %s: %w", size, f.Name(), err)
	}
}

// InUse reports whether any process has the file at path open or mapped. It looks for the
// file's device and inode among the targets of /proc/PID/fd/* and the mappings in
// /proc/PID/maps of every process. If some process cannot be looked at (another user's, without
// privilege, or one the kernel protects even from root), it asks the kernel instead, by taking
// a write lease on the file (see leaseFree), which the file's owner or a process with CAP_LEASE
// may do. If neither can tell, it returns an error, and the caller must treat the file as in
// use. Processes that exit during the scan are skipped.
func InUse(path string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false, err
	}
	var unknown error // the first process that could not be looked at
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		used, err := procUses("/proc/"+p.Name(), uint64(st.Dev), uint64(st.Ino))
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH):
			continue // exited meanwhile
		case err != nil:
			if unknown == nil {
				unknown = fmt.Errorf("cannot tell whether process %s uses %s: %w", p.Name(), path, err)
			}
		case used:
			return true, nil
		}
	}
	if unknown == nil {
		return false, nil
	}
	free, err := leaseFree(path)
	if err != nil {
		return false, fmt.Errorf("%w; nor take a lease on it: %w", unknown, err)
	}
	return !free, nil
}

// leaseFree reports whether no open file description of path exists but the one it opens
// itself: the kernel grants a write lease (fcntl F_SETLEASE, F_WRLCK) only then. A mapping holds
// the file description it was made from, so a mapped file counts as open even after its
// descriptor was closed. The lease is released at once; a process that opens the file in
// between waits for that (Go ignores the SIGIO that tells the holder to release it).
func leaseFree(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK)
	switch err {
	case nil:
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return true, nil
	case unix.EAGAIN, unix.EBUSY:
		return false, nil
	}
	return false, &os.PathError{Op: "lease", Path: path, Err: err}
}

// procUses reports whether the process whose /proc directory is dir has the file (dev, ino)
// open or mapped.
func procUses(dir string, dev, ino uint64) (bool, error) {
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		var st unix.Stat_t
		err := unix.Stat(dir+"/fd/"+fd.Name(), &st) // follows the link to the open file itself
		if err == unix.ENOENT {
			continue // closed meanwhile
		}
		if err != nil {
			return false, &os.PathError{Op: "stat", Path: dir + "/fd/" + fd.Name(), Err: err}
		}
		if uint64(st.Dev) == dev && uint64(st.Ino) == ino {
			return true, nil
		}
	}
	maps, err := os.ReadFile(dir + "/maps")
	if err != nil {
		return false, err
	}
	return mapsUse(maps, dev, ino), nil
}

// mapsUse reports whether the text of a /proc/PID/maps file holds a mapping of the file (dev,
// ino). Each line is "address perms offset major:minor inode [path]", major and minor in hex.
func mapsUse(maps []byte, dev, ino uint64) bool {
	for _, line := range bytes.Split(maps, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) < 5 {
			continue
		}
		if i, err := strconv.ParseUint(string(f[4]), 10, 64); err != nil || i != ino {
			continue
		}
		maj, min, ok := bytes.Cut(f[3], []byte{':'})
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(string(maj), 16, 32)
		mi, err2 := strconv.ParseUint(string(min), 16, 32)
		if err1 == nil && err2 == nil && unix.Mkdev(uint32(ma), uint32(mi)) == dev {
			return true
		}
	}
	return false
}
