package segment

import (
	"encoding/binary"
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
	ActiveUsers  int    // active registry entries
}

// Stat maps the segment at b briefly and reports its header. A segment that is still initializing
// returns the creator pid (if already written) together with layout.ErrInitializing.
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
		if errors.Is(err, layout.ErrInitializing) {
			if h, ok := layout.RawHeader(mem); ok {
				info.CreatorPID = h.CreatorPID
				info.CreatorAlive = sys.Alive(h.CreatorPID, h.CreatorStartTime)
			}
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
		Closed:       h.ProducerState.Load() == layout.ProducerClosed,
	}
	if h.ProducerMode == layout.MultiProducer {
		info.Published = v.Cursors().Claimed.Load()
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

// List returns the shared-memory backings whose name starts with prefix ("/" or "" for all) and
// whose first bytes are ringwire's magic. It reads 8 bytes of each candidate and maps nothing.
// Listing needs Linux; elsewhere it reports sys.ErrUnsupported.
func List(prefix string) ([]Backing, error) {
	if prefix != "" && prefix[0] != '/' {
		prefix = "/" + prefix
	}
	names, err := sys.ShmNames()
	if err != nil {
		return nil, fmt.Errorf("list shared memory: %w", err)
	}
	sort.Strings(names)
	var out []Backing
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		b := SharedMemory(n)
		path, err := b.path()
		if err != nil {
			continue
		}
		if ok, _ := hasMagic(path); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

func hasMagic(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false, nil
	}
	return binary.LittleEndian.Uint64(b[:]) == layout.Magic, nil
}
