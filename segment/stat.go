package segment

import (
	"errors"
	"fmt"
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
		if v.Entry(i).State.Load() == layout.EntryActive {
			info.ActiveUsers++
		}
	}
	return info
}
