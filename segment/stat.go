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

// Info is a snapshot of a segment's header, for tools and staleness checks.
type Info struct {
	Backing      Backing
	Incarnation  uint64
	CreatorPID   uint32
	CreatorAlive bool
	CreatedAt    time.Time
	Mode         string
	Capacity     uint64
	Published    uint64 // published (single mode) or claimed (multi mode) count
	Closed       bool   // the producer closed the stream
	// ProducerAlive: a process that can publish is alive, the creator or the owner of an
	// active producer entry. A stream that is open (not Closed) without one will get no more
	// events.
	ProducerAlive bool
	ActiveUsers   int // active registry entries
}

// Stat maps the segment at b briefly and reports its header. A segment that fails validation
// (still initializing, bad magic, a corrupt header) returns the validation error together with
// the creator's pid and liveness as far as its header holds them (CreatorPID 0: unknown), read
// only when the header is still recognizably ringwire's: its magic, or header_len and
// total_size that fit the file.
func Stat(b Backing) (Info, error) {
	path, err := b.path()
	if err != nil {
		return Info{}, err
	}
	mem, err := mapExisting(b, path)
	if err != nil {
		return Info{}, err
	}
	defer sys.Unmap(mem)
	v, err := layout.Open(mem)
	if err != nil {
		info := Info{Backing: b}
		k := classify(mem, int64(len(mem)))
		if h, ok := layout.RawHeader(mem); ok && (k == HeaderMagic || k == HeaderDamaged) {
			info.CreatorPID = h.CreatorPID
			info.CreatorAlive = sys.Alive(h.CreatorPID, h.CreatorStartTime)
		}
		return info, fmt.Errorf("stat %s: %w", b, err)
	}
	return InfoOf(b, v), nil
}

// InfoOf summarizes a view.
func InfoOf(b Backing, v *layout.View) Info {
	h := v.Header()
	info := Info{
		Backing:      b,
		Incarnation:  h.Incarnation,
		CreatorPID:   h.CreatorPID,
		CreatorAlive: sys.Alive(h.CreatorPID, h.CreatorStartTime),
		CreatedAt:    time.Unix(0, int64(h.CreatedUnixNs)),
		Mode:         layout.ModeName(h.ProducerMode),
		Capacity:     h.Capacity,
		Closed:       h.ProducerState.Load() == layout.StreamClosed,
	}
	info.ProducerAlive = ProducerAlive(v)
	if h.ProducerMode == layout.MultiProducer {
		// Bit 62 of claimed says the stream is closed to claims; it is not part of the count.
		info.Published = v.Cursors().Claimed.Load() & layout.CountMask
	} else {
		info.Published = v.Cursors().Published.Load()
	}
	for i := 0; i < v.Entries(); i++ {
		if v.Entry(i).Is(layout.EntryActive) {
			info.ActiveUsers++
		}
	}
	return info
}

// ProducerAlive reports whether a process that can publish into v is alive: its creator, or the
// owner of any producer entry (spec 5.5 step 4). A pid of 0 names no process (section 8).
func ProducerAlive(v *layout.View) bool {
	h := v.Header()
	if sys.Alive(h.CreatorPID, h.CreatorStartTime) {
		return true
	}
	for i := 0; i < v.Producers(); i++ {
		// Any state: a producer between attach steps 2 and 3 holds an entry not yet active.
		if o := v.Producer(i).OwnerID(); o != 0 && sys.AliveOwner(o.PID(), o.StartTime()) {
			return true
		}
	}
	return false
}

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
