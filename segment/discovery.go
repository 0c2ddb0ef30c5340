package segment

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// HeaderKind says what Scan found at the start of a shared-memory object.
type HeaderKind int

const (
	// HeaderUnread: the object could not be read; Found.Err says why.
	HeaderUnread HeaderKind = iota
	// HeaderMagic: it starts with ringwire's magic (it may still fail validation).
	HeaderMagic
	// HeaderDamaged: no magic, but its header_len and total_size are those of a ringwire header
	// for a file of its size: a segment whose magic was overwritten.
	HeaderDamaged
	// HeaderBlank: it is empty, or its first header_len bytes are zeros: what a creator that
	// died before writing the header leaves, but also what another program's object may hold.
	HeaderBlank

	headerForeign // none of these: another program's object; Scan leaves it out
)

// Found is a shared-memory object that Scan found.
type Found struct {
	Backing Backing
	Header  HeaderKind
	Size    int64
	ModTime time.Time // last change of its contents' size or bytes, as the file system keeps it
	Err     error     // why it could not be read (HeaderUnread), such as os.ErrPermission
}

// Scan returns the shared-memory objects whose name starts with prefix ("/" or "" for all) and
// that are, or may be, ringwire segments: those whose header is HeaderMagic, HeaderDamaged or
// HeaderBlank, and those it could not read (HeaderUnread, with the error: another user's segment
// gives os.ErrPermission). It reads each header with pread and maps nothing, so an object being
// truncated cannot make it fault. Scanning needs Linux; elsewhere it reports
// sys.ErrUnsupported.
func Scan(prefix string) ([]Found, error) {
	if prefix != "" && prefix[0] != '/' {
		prefix = "/" + prefix
	}
	names, err := sys.ShmNames()
	if err != nil {
		return nil, fmt.Errorf("list shared memory: %w", err)
	}
	sort.Strings(names)
	var out []Found
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		b := SharedMemory(n)
		path, err := b.path()
		if err != nil {
			continue
		}
		if f := probe(b, path); f.Header != headerForeign {
			out = append(out, f)
		}
	}
	return out, nil
}

// List returns the shared-memory backings whose name starts with prefix ("/" or "" for all) and
// whose first bytes are ringwire's magic: Scan's HeaderMagic objects. Objects it cannot read are
// left out: use Scan to report them. Listing needs Linux; elsewhere it reports
// sys.ErrUnsupported.
func List(prefix string) ([]Backing, error) {
	found, err := Scan(prefix)
	if err != nil {
		return nil, err
	}
	var out []Backing
	for _, f := range found {
		if f.Header == HeaderMagic {
			out = append(out, f.Backing)
		}
	}
	return out, nil
}

// probe reads the header of the object at path.
func probe(b Backing, path string) Found {
	f, fi, err := open(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return Found{Header: headerForeign} // removed since it was listed
	}
	if err != nil {
		return Found{Backing: b, Header: HeaderUnread, Err: err}
	}
	defer f.Close()
	buf := make([]byte, layout.HeaderLen) // what a short file lacks reads as zeros
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return Found{Backing: b, Header: HeaderUnread, Err: err}
	}
	return Found{Backing: b, Header: classify(buf, fi.Size()), Size: fi.Size(), ModTime: fi.ModTime()}
}

// classify says what head, the first layout.HeaderLen bytes of a file of size bytes (zeros
// beyond its end), holds.
func classify(head []byte, size int64) HeaderKind {
	h, ok := layout.RawHeader(head)
	switch {
	case !ok:
		return headerForeign
	case h.Magic == layout.Magic:
		return HeaderMagic
	case size >= layout.HeaderLen && h.HeaderLen >= layout.HeaderLen && h.HeaderLen%8 == 0 && h.TotalSize == uint64(size):
		return HeaderDamaged
	case size == 0:
		return HeaderBlank
	case size >= layout.HeaderLen && allZero(head[:layout.HeaderLen]):
		return HeaderBlank
	}
	return headerForeign
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// InUse reports whether any process has the segment at b open or mapped. On Linux it looks in
// /proc/*/fd and /proc/*/maps and, if some process cannot be looked at, asks the kernel with a
// write lease, which only the segment's owner or a privileged process may take. When it cannot
// tell (no privilege for either, or a platform without /proc: sys.ErrUnsupported), it returns
// an error, and the caller must treat the segment as in use.
func InUse(b Backing) (bool, error) {
	path, err := b.path()
	if err != nil {
		return false, err
	}
	return sys.InUse(path)
}

// Discovered is one object Discover found.
type Discovered struct {
	// Found is what Scan found: where the object is, what its first bytes hold, its size and
	// age; Found.Err is set when it could not be read at all (another user's segment:
	// os.ErrPermission), and then nothing else is known of it.
	Found
	// Snapshot is the segment's snapshot. When Invalid is set it holds only Backing and, if its
	// header still records one, the creator (see Stat).
	Snapshot Snapshot
	// Invalid is why no full snapshot could be taken of an object that could be read: it failed
	// validation (layout.ErrBadMagic and the rest), is still initializing (an empty or zeroed
	// object, HeaderBlank, is reported so without being mapped), was truncated, or faulted while
	// being read (ErrFault). nil for a valid segment.
	Invalid error
}

// Discover finds the shared-memory objects whose name starts with prefix ("/" or "" for all)
// that are, or may be, ringwire segments (those Scan returns) and takes a snapshot of each, with
// Stat: under Guard, so that a segment truncated meanwhile is reported, not fatal. Objects with
// no ringwire mark (HeaderBlank) are not mapped. Discovering needs Linux; elsewhere it reports
// sys.ErrUnsupported.
func Discover(prefix string) ([]Discovered, error) {
	found, err := Scan(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]Discovered, 0, len(found))
	for _, f := range found {
		out = append(out, Examine(f))
	}
	return out, nil
}

// errBlank is why an object without a header has no snapshot: what spec 5.2 check 1 says of an
// object whose init_state is 0, or that is empty.
var errBlank = fmt.Errorf("%w: the object is empty or its header is zeros", layout.ErrInitializing)

// Examine takes the snapshot of an object that Scan found (see Discovered).
func Examine(f Found) Discovered {
	d := Discovered{Found: f, Snapshot: Snapshot{Backing: f.Backing, Creator: ProcessNone}}
	switch f.Header {
	case HeaderUnread:
		return d
	case HeaderBlank:
		d.Invalid = fmt.Errorf("%s: %w", f.Backing, errBlank)
		return d
	}
	d.Snapshot, d.Invalid = Stat(f.Backing)
	if errors.Is(d.Invalid, os.ErrPermission) {
		// Readable with pread (Scan opens read-only) but not mappable: segments are mapped
		// read-write, as every peer maps them.
		d.Header, d.Err, d.Invalid = HeaderUnread, d.Invalid, nil
	}
	return d
}

// RemoveStale removes the segments under prefix whose snapshot says that nobody uses them
// (Snapshot.Stale: the creator is known and dead and no live producer or consumer uses it; for
// a segment that fails validation, its creator as its header records it is dead), and returns
// their names; with dryRun it only returns them. A live segment is never removed: each is
// snapshotted again just before its removal. Objects whose header records no creator (cut
// short, empty, zeroed) are left alone: nothing in them says they were abandoned (the ringwire
// command's clean removes them after a grace period, when no process has them open or mapped).
// Objects it could not read are reported in the error.
func RemoveStale(prefix string, dryRun bool) ([]string, error) {
	found, err := Discover(prefix)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, d := range found {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Backing, d.Err))
			continue
		}
		if !d.Snapshot.Stale() {
			continue
		}
		if !dryRun {
			if again, _ := Stat(d.Backing); !again.Stale() {
				continue
			}
			if err := Remove(d.Backing); err != nil && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
				continue
			}
		}
		removed = append(removed, d.Backing.Name())
	}
	return removed, errors.Join(errs...)
}
