package coordination

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// ErrAwaitTimeout is returned by AwaitConsumers when its deadline passes.
var ErrAwaitTimeout = errors.New("consumers did not attach in time")

// Peer is one registered producer or consumer of a segment.
type Peer struct {
	Index    int
	Name     string // consumers only
	State    string // the spec's state name
	PID      uint32
	Alive    bool
	Required bool   // consumers only
	Cursor   uint64 // consumers only
}

// SegmentInfo describes a segment found by Discover: its header summary and its peers.
type SegmentInfo struct {
	segment.Info
	Producers []Peer
	Consumers []Peer
	Err       error // set when the segment could not be validated (then only Backing is reliable)
}

// Stale reports whether nobody uses the segment any more: its creator is dead and no active
// producer or consumer entry has a live owner. A segment that could not be validated is stale
// only if its creator is known and dead.
func (s SegmentInfo) Stale() bool {
	if s.Err != nil {
		return s.CreatorPID != 0 && !s.CreatorAlive
	}
	if s.CreatorAlive {
		return false
	}
	for _, p := range append(append([]Peer{}, s.Producers...), s.Consumers...) {
		if p.Alive && (p.State == "active" || p.State == "claiming") {
			return false
		}
	}
	return true
}

// Describe maps the segment at b briefly and describes it and its peers.
func Describe(b segment.Backing) SegmentInfo {
	seg, err := segment.Attach(b, 0)
	if err != nil {
		info, _ := segment.Stat(b)
		info.Backing = b
		return SegmentInfo{Info: info, Err: err}
	}
	defer seg.Release()
	v := seg.View()
	out := SegmentInfo{Info: segment.InfoOf(b, v)}
	for i := 0; i < v.Producers(); i++ {
		e := v.Producer(i)
		st := e.Load().State()
		if st == layout.ProducerFree {
			continue
		}
		o := e.OwnerID()
		out.Producers = append(out.Producers, Peer{Index: i, State: producerStateName(st), PID: o.PID(),
			Alive: sys.AliveOwner(o.PID(), o.StartTime())})
	}
	for i := 0; i < v.Entries(); i++ {
		e := v.Entry(i)
		st := e.Load().State()
		if st == layout.EntryFree {
			continue
		}
		o := e.OwnerID()
		out.Consumers = append(out.Consumers, Peer{Index: i, Name: e.NameString(), State: layout.StateName(st),
			PID: o.PID(), Alive: sys.AliveOwner(o.PID(), o.StartTime()), Required: e.Required(), Cursor: e.Cursor.Load()})
	}
	return out
}

func producerStateName(s uint32) string {
	switch s {
	case layout.ProducerActive:
		return "active"
	case layout.ProducerLeft:
		return "closed"
	case layout.ProducerDead:
		return "dead"
	}
	return "free"
}

// Discover lists the shared-memory segments whose name starts with prefix, with their producer
// and consumers (Linux only: elsewhere shared memory cannot be listed).
func Discover(prefix string) ([]SegmentInfo, error) {
	bs, err := segment.List(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]SegmentInfo, 0, len(bs))
	for _, b := range bs {
		out = append(out, Describe(b))
	}
	return out, nil
}

// RemoveStale removes the segments under prefix that Stale says nobody uses, and returns their
// names; with dryRun it only returns them. A live segment is never removed: staleness is checked
// again just before each removal.
func RemoveStale(prefix string, dryRun bool) ([]string, error) {
	infos, err := Discover(prefix)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, s := range infos {
		if !s.Stale() {
			continue
		}
		if !dryRun {
			if again := Describe(s.Backing); !again.Stale() {
				continue
			}
			if err := segment.Remove(s.Backing); err != nil && !errors.Is(err, segment.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
		}
		removed = append(removed, s.Backing.Name())
	}
	return removed, errors.Join(errs...)
}

// AwaitConsumers waits until at least n consumers are active in v and every consumer named in
// names is active, polling every millisecond, up to deadline (zero: forever). It is how a
// producer holds its first publish until its audience is there.
func AwaitConsumers(v *layout.View, n int, names []string, deadline time.Time) error {
	for {
		active := 0
		have := map[string]bool{}
		for i := 0; i < v.Entries(); i++ {
			e := v.Entry(i)
			if e.Ready() {
				active++
				have[e.NameString()] = true
			}
		}
		var missing []string
		for _, name := range names {
			if !have[name] {
				missing = append(missing, name)
			}
		}
		if active >= n && len(missing) == 0 {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d active, missing [%s]", ErrAwaitTimeout, active, n, strings.Join(missing, ", "))
		}
		time.Sleep(time.Millisecond)
	}
}
