// Package segment creates, attaches to and removes the memory that holds a ring: a POSIX
// shared-memory object, a memory-mapped file, or plain heap memory in one process. Each backing
// yields the same layout.View, so producers and consumers have no second code path.
//
// # Room, truncation and links
//
// Create reserves every byte of a shared-memory object or file when it makes it (fallocate on
// Linux), so that a /dev/shm or file system without room fails Create with ErrNoSpace, and
// Create removes what it made, instead of a later write dying of SIGBUS. On macOS the size is
// set with ftruncate, which cannot reserve: there a full file system is still found by a fault.
//
// A segment is shared memory, and any process that may open its name may also shrink it. A peer
// that truncates a live segment (ftruncate to a smaller size) makes every access beyond the new
// end fault with SIGBUS in every process that has it mapped; a Go producer or consumer dies of
// it just as a C or Rust one does, since the hot paths are not guarded. Tools can guard their
// reads with Guard, which turns such a fault into ErrFault: Stat and Discover take their
// snapshots under Guard, and the ringwire command reads the segments of other processes
// (inspect, list, clean, the demo's progress) only through snapshots taken under Guard, so it
// reports a truncated segment and survives. Attach and Stat compare the file's size (fstat)
// with the header's total_size, so a segment that was truncated before they map it is refused
// with layout.ErrTruncated.
//
// A name is never followed through a symbolic link (O_NOFOLLOW, as the C and Rust
// implementations' shm_open does), and anything but a regular file is refused with
// ErrNotRegular.
//
// # Snapshots and discovery
//
// A Snapshot is the one view of a segment for tools: its header, counters, producer and
// consumer entries, the liveness of the processes they name, and its poison record, copied out
// into a plain value that encodes to JSON (Segment.Snapshot, TakeSnapshot, or Stat for a
// segment by name). Discovery lives here too: Scan and List find the shared-memory objects that
// are, or may be, ringwire segments without mapping them, Discover snapshots each of them,
// RemoveStale removes those whose Snapshot.Stale says nobody uses them, and InUse asks the
// kernel whether any process has one open or mapped.
package segment

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// Errors returned by this package; compare with errors.Is. Validation failures are layout's
// sentinels (layout.ErrBadMagic and the rest), wrapped with the segment's name.
var (
	ErrNotFound   = errors.New("segment not found")
	ErrExists     = errors.New("segment already exists")
	ErrTimeout    = errors.New("timed out waiting for the segment")
	ErrBadName    = errors.New("invalid segment name")
	ErrHeapAttach = errors.New("a heap segment cannot be attached by name; share its *Segment")
	ErrClosed     = errors.New("segment closed")
	// ErrNoSpace: the file system that would hold the segment (for shared memory, the tmpfs at
	// /dev/shm) has no room for all its bytes. The error also wraps the errno (ENOSPC).
	ErrNoSpace = errors.New("no space for the segment")
	// ErrNotRegular: the name is a symbolic link, a directory or anything else but a regular
	// file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrFault: touching a segment's memory raised SIGBUS or SIGSEGV, typically because another
	// process truncated it; see Guard.
	ErrFault = errors.New("segment memory fault (truncated by another process?)")
)

// Kind is the kind of memory behind a segment.
type Kind int

const (
	KindSharedMemory Kind = iota + 1 // POSIX shared-memory object ("/name")
	KindFile                         // memory-mapped file at a path
	KindHeap                         // memory of this process only
)

// Backing says where a segment lives. Make one with SharedMemory, File or Heap.
type Backing struct {
	kind Kind
	name string // shm name or file path
}

// SharedMemory is the POSIX shared-memory object name: a leading slash and one component, such as
// "/orders". naming.Portable turns any label into a name that is valid on Linux and macOS.
func SharedMemory(name string) Backing { return Backing{kind: KindSharedMemory, name: name} }

// File is a memory-mapped file at path.
func File(path string) Backing { return Backing{kind: KindFile, name: path} }

// Heap is memory inside this process: no name, no file; share the *Segment to reach it.
func Heap() Backing { return Backing{kind: KindHeap} }

// Kind returns the backing's kind.
func (b Backing) Kind() Kind { return b.kind }

// Name returns the shared-memory name or file path ("" for the heap).
func (b Backing) Name() string { return b.name }

func (b Backing) String() string {
	switch b.kind {
	case KindSharedMemory:
		return "shm:" + b.name
	case KindFile:
		return "file:" + b.name
	case KindHeap:
		return "heap"
	}
	return "invalid backing"
}

// MarshalText encodes the backing as String does ("shm:/orders", "file:/path", "heap"), so that
// a Snapshot's JSON names its segment in one string.
func (b Backing) MarshalText() ([]byte, error) {
	switch b.kind {
	case KindSharedMemory, KindFile, KindHeap:
		return []byte(b.String()), nil
	}
	return nil, fmt.Errorf("%w: a Backing not made by SharedMemory, File or Heap", ErrBadName)
}

// UnmarshalText decodes what MarshalText encodes.
func (b *Backing) UnmarshalText(text []byte) error {
	s := string(text)
	switch {
	case strings.HasPrefix(s, "shm:"):
		*b = SharedMemory(s[len("shm:"):])
	case strings.HasPrefix(s, "file:"):
		*b = File(s[len("file:"):])
	case s == "heap":
		*b = Heap()
	default:
		return fmt.Errorf("%w: %q is not shm:NAME, file:PATH or heap", ErrBadName, s)
	}
	return nil
}

// path returns the file that holds the backing.
func (b Backing) path() (string, error) {
	switch b.kind {
	case KindSharedMemory:
		if err := checkShmName(b.name); err != nil {
			return "", err
		}
		return sys.ShmPath(b.name)
	case KindFile:
		if b.name == "" {
			return "", fmt.Errorf("%w: empty path", ErrBadName)
		}
		return b.name, nil
	}
	return "", ErrHeapAttach
}

// CheckName reports whether name is a segment name of the grammar of spec/LAYOUT.md section 9:
// "/" and one component of 1 to 255 bytes, none of them "/" or NUL, other than "." and "..". It
// returns an error wrapping ErrBadName otherwise. On macOS, which limits names to 31 bytes, a
// longer name is refused the same way.
func CheckName(name string) error { return checkShmName(name) }

func checkShmName(name string) error {
	if len(name) < 2 || name[0] != '/' || len(name) > 256 {
		return fmt.Errorf("%w: %q: want a leading slash and 1 to 255 more bytes", ErrBadName, name)
	}
	for i := 1; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return fmt.Errorf("%w: %q: only the first byte may be a slash", ErrBadName, name)
		}
	}
	if name == "/." || name == "/.." {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if runtime.GOOS == "darwin" && len(name) > 31 {
		return fmt.Errorf("%w: %q: macOS allows 31 bytes", ErrBadName, name)
	}
	return nil
}

// CreateOptions control Create.
type CreateOptions struct {
	// Perm is the permission of a new shared-memory object or file; 0 means 0600.
	Perm os.FileMode
	// Replace removes an existing segment of the same name first, live or not. Peers attached to
	// the old one keep their mapping and see, through its incarnation, that it was replaced.
	Replace bool
	// ReclaimStale removes an existing segment whose creator process is dead; a live one is
	// still refused with ErrExists.
	ReclaimStale bool
	// HeapSlots, for a heap backing with layout.Config.ExternalSlots, allocates the slot array
	// (typically a Go slice of capacity events, so that events may hold Go pointers) and returns
	// its first element.
	HeapSlots func(capacity uint64) unsafe.Pointer
}

// Segment is a mapped ring segment. It is safe for concurrent use; it counts its users (Acquire,
// Release) and unmaps when the last one releases it.
type Segment struct {
	view    *layout.View
	backing Backing
	mem     []byte
	heap    []byte // keeps a heap backing's allocation alive

	mu   sync.Mutex
	refs int
}

// View returns the validated view of the segment's bytes.
func (s *Segment) View() *layout.View { return s.view }

// Backing returns where the segment lives.
func (s *Segment) Backing() Backing { return s.backing }

// Acquire adds a user; each Acquire needs a Release. It fails with ErrClosed once the segment
// has been unmapped.
func (s *Segment) Acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs <= 0 {
		return ErrClosed
	}
	s.refs++
	return nil
}

// Release drops a user; the last Release unmaps the segment. It does not remove the name: see
// Remove.
func (s *Segment) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs <= 0 {
		return ErrClosed
	}
	s.refs--
	if s.refs > 0 {
		return nil
	}
	mem := s.mem
	s.mem, s.heap = nil, nil
	if mem != nil {
		return sys.Unmap(mem)
	}
	return nil
}

// Create makes a new segment with configuration c at b and initializes it (spec section 5.1). The
// returned Segment has one user.
func Create(b Backing, c layout.Config, o CreateOptions) (*Segment, error) {
	plan, err := layout.PlanFor(c)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity()
	if err != nil {
		return nil, err
	}
	if b.kind == KindHeap {
		size := plan.TotalSize
		if c.ExternalSlots {
			if o.HeapSlots == nil {
				return nil, fmt.Errorf("%w: external slots without an allocator", layout.ErrInvalidConfig)
			}
			size = plan.Slots.Offset
		}
		raw := make([]byte, size+layout.BlockSize)
		pad := (layout.BlockSize - uintptr(unsafe.Pointer(&raw[0]))%layout.BlockSize) % layout.BlockSize
		mem := raw[pad : pad+uintptr(size)]
		v, err := layout.Init(mem, c, id)
		if err != nil {
			return nil, err
		}
		if c.ExternalSlots {
			v.UseSlots(o.HeapSlots(c.Capacity))
		}
		return &Segment{view: v, backing: b, heap: raw, refs: 1}, nil
	}
	if c.ExternalSlots {
		return nil, fmt.Errorf("%w: external slots need a heap backing", layout.ErrInvalidConfig)
	}
	path, err := b.path()
	if err != nil {
		return nil, err
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o600
	}
	f, _, err := open(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		if err := clearExisting(b, path, o); err != nil {
			return nil, err
		}
		f, _, err = open(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	}
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", b, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", b, err)
	}
	defer f.Close()
	// Permissions are exactly perm, whatever the umask.
	if err := f.Chmod(perm); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create %s: %w", b, err)
	}
	fail := func(err error) (*Segment, error) {
		os.Remove(path)
		return nil, fmt.Errorf("create %s: %w", b, err)
	}
	// Allocate every byte now: on a full tmpfs a sparse file would map fine and then fault
	// (SIGBUS) on the first write to a page that cannot be allocated.
	if err := sys.Reserve(f, int64(plan.TotalSize)); err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			err = fmt.Errorf("%w: %d bytes: %w", ErrNoSpace, plan.TotalSize, err)
		}
		return fail(err)
	}
	mem, err := sys.Map(f, int(plan.TotalSize))
	if err != nil {
		return fail(err)
	}
	v, err := layout.Init(mem, c, id)
	if err != nil {
		sys.Unmap(mem)
		return fail(err)
	}
	return &Segment{view: v, backing: b, mem: mem, refs: 1}, nil
}

// clearExisting removes the segment at path when the options allow it.
func clearExisting(b Backing, path string, o CreateOptions) error {
	if o.Replace {
		return removePath(path)
	}
	if !o.ReclaimStale {
		return fmt.Errorf("create %s: %w (ask to replace it, or to reclaim it if its creator is dead)", b, ErrExists)
	}
	snap, err := Stat(b)
	if err != nil && !errors.Is(err, layout.ErrInitializing) {
		return fmt.Errorf("create %s: %w, and it cannot be checked for staleness: %w", b, ErrExists, err)
	}
	switch snap.Creator {
	case ProcessNone:
		return fmt.Errorf("create %s: %w, and its creator is unknown", b, ErrExists)
	case ProcessAlive:
		return fmt.Errorf("create %s: %w: its creator, pid %d, is alive", b, ErrExists, snap.CreatorPID)
	}
	return removePath(path)
}

func removePath(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Remove deletes the segment's name (the shared-memory object or file). Processes that have it
// mapped keep their mapping. Removing a segment that does not exist is ErrNotFound.
func Remove(b Backing) error {
	path, err := b.path()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", b, ErrNotFound)
		}
		return fmt.Errorf("remove %s: %w", b, err)
	}
	return nil
}

// Attach maps the existing segment at b and validates it (spec section 5.2, checks 1 to 12). It
// waits, polling every millisecond up to timeout, while the segment does not exist yet or is still
// initializing; timeout 0 tries once. The returned Segment has one user.
func Attach(b Backing, timeout time.Duration) (*Segment, error) {
	if b.kind == KindHeap {
		return nil, ErrHeapAttach
	}
	path, err := b.path()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		s, err := attachOnce(b, path)
		if err == nil {
			return s, nil
		}
		retry := errors.Is(err, ErrNotFound) || errors.Is(err, layout.ErrInitializing) || errors.Is(err, layout.ErrTooSmall)
		if !retry {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			if errors.Is(err, ErrNotFound) || timeout <= 0 {
				return nil, err
			}
			return nil, fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

func attachOnce(b Backing, path string) (*Segment, error) {
	mem, err := mapExisting(b, path)
	if err != nil {
		return nil, err
	}
	mapped := false
	defer func() {
		if !mapped { // an error, or a fault turned into a panic by Guard
			sys.Unmap(mem)
		}
	}()
	v, err := layout.Open(mem)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", b, err)
	}
	mapped = true
	return &Segment{view: v, backing: b, mem: mem, refs: 1}, nil
}

// open opens the file at path like os.OpenFile, but never through a symbolic link (O_NOFOLLOW,
// as shm_open does), never blocking on a FIFO, and only if it is a regular file (ErrNotRegular).
func open(path string, flag int, perm os.FileMode) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, fmt.Errorf("%w: %s is a symbolic link, which segments are never opened through", ErrNotRegular, path)
	case errors.Is(err, syscall.EISDIR):
		return nil, nil, fmt.Errorf("%w: %s is a directory", ErrNotRegular, path)
	case err != nil:
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is a %s", ErrNotRegular, path, fileType(fi.Mode()))
	}
	return f, fi, nil
}

func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// mapExisting maps the whole file at path read-write. It checks the file's size against the
// header's total_size before and after mapping it (a peer may shrink it at any time), so a
// segment truncated before it looks is refused with layout.ErrTruncated rather than mapped and
// faulted on.
func mapExisting(b Backing, path string) ([]byte, error) {
	f, fi, err := open(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("attach %s: %w", b, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", b, err)
	}
	defer f.Close()
	size := fi.Size()
	if size == 0 {
		// Created and not yet sized: a creation in progress (spec 5.1, 5.2 check 1).
		return nil, fmt.Errorf("attach %s: %w: the object is 0 bytes long", b, layout.ErrInitializing)
	}
	if size < layout.HeaderLen {
		return nil, fmt.Errorf("attach %s: %w", b, shortFile(f, size))
	}
	mem, err := sys.Map(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", b, err)
	}
	// Shrunk between fstat and mmap: the mapping would fault past the new end.
	if now, err := f.Stat(); err != nil || now.Size() < size {
		sys.Unmap(mem)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", b, err)
		}
		return nil, fmt.Errorf("attach %s: %w: the file shrank from %d to %d bytes while being mapped", b, layout.ErrTruncated, size, now.Size())
	}
	return mem, nil
}

// shortFile explains a file shorter than a header, read with pread (which, unlike the mapping,
// cannot fault): a segment truncated inside its header (it has the magic and a larger
// total_size) is layout.ErrTruncated; anything else, such as an empty file whose creator has
// not sized it yet, is layout.ErrTooSmall.
func shortFile(f *os.File, size int64) error {
	buf := make([]byte, layout.HeaderLen) // what the file lacks reads as zeros
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if h, ok := layout.RawHeader(buf); ok && h.Magic == layout.Magic && h.TotalSize > uint64(size) {
		return fmt.Errorf("%w: header says %d bytes, file has %d", layout.ErrTruncated, h.TotalSize, size)
	}
	return fmt.Errorf("%w: %d bytes", layout.ErrTooSmall, size)
}

func newIdentity() (layout.Identity, error) {
	var r [8]byte
	for {
		if _, err := rand.Read(r[:]); err != nil {
			return layout.Identity{}, fmt.Errorf("incarnation: %w", err)
		}
		if binary.LittleEndian.Uint64(r[:]) != 0 {
			break
		}
	}
	pid := os.Getpid()
	st, _ := sys.ProcessStartTime(pid)
	return layout.Identity{
		Incarnation:   binary.LittleEndian.Uint64(r[:]),
		PID:           uint32(pid),
		StartTime:     st,
		CreatedUnixNs: uint64(time.Now().UnixNano()),
		HeartbeatNs:   sys.Monotonic(),
	}, nil
}

// Incarnation returns the segment's incarnation id, new each time a segment is created.
func (s *Segment) Incarnation() uint64 { return s.view.Header().Incarnation }

// Replaced reports whether the name this segment was attached by now holds another incarnation
// (a producer restarted over it): the mapping this Segment holds is then no longer the one
// producers publish into. A removed name is ErrNotFound; a heap segment is never replaced.
func (s *Segment) Replaced() (bool, error) {
	if s.backing.kind == KindHeap {
		return false, nil
	}
	path, err := s.backing.path()
	if err != nil {
		return false, err
	}
	f, _, err := open(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("%s: %w", s.backing, ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, layout.HeaderLen)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return true, nil // shorter than a header: something else, being created
	}
	h, ok := layout.RawHeader(buf)
	if !ok {
		return true, nil
	}
	return h.Incarnation != s.Incarnation(), nil
}
