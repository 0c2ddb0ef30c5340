package liveness

import (
	"fmt"
	"sync"
	"time"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
)

// Action is what a producer does about a required consumer that holds it back and is dead or
// stalled.
type Action int

const (
	// Wait keeps waiting: the consumer may come back (a restarted consumer with the same name
	// resumes where the dead one stopped, losing nothing). The zero Policy waits forever.
	Wait Action = iota
	// Fail makes the producer's publish return a *StalledError naming the consumer.
	Fail
	// Evict removes the consumer from the registry: it stops gating at once, and gets
	// consumer.ErrEvicted when it next touches the ring.
	Evict
)

// Laggard describes a required consumer that holds a waiting producer back.
type Laggard struct {
	Index        int
	Name         string
	PID          uint32
	Dead         bool          // its process is gone (or its pid was reused)
	Behind       uint64        // events published that it has not finished
	HeartbeatAge time.Duration // since its last sign of life
	Still        time.Duration // since its cursor last moved, as far as this producer saw
}

// Policy configures how a waiting producer deals with dead and stalled consumers. It is only
// consulted while the producer waits for room, every CheckInterval: never on the fast path.
type Policy struct {
	// StallTimeout: a live consumer whose cursor has not moved, and whose heartbeat is older,
	// for this long is stalled (spec section 8). 0 means only dead consumers are acted upon; a
	// nonzero value below MinStallTimeout is raised to it, so that a conforming consumer that
	// waits (and heartbeats every second) is never taken for stalled.
	StallTimeout time.Duration
	// CheckInterval is how often a waiting producer checks; 0 means 100ms.
	CheckInterval time.Duration
	// Action applies to every dead or stalled consumer, unless Decide is set.
	Action Action
	// Decide, if set, chooses the action for each dead or stalled consumer.
	Decide func(Laggard) Action
}

// Enabled reports whether the policy ever does anything but wait.
func (p Policy) Enabled() bool { return p.Action != Wait || p.Decide != nil }

// StalledError is returned by a publish under the Fail action.
type StalledError struct{ Laggard Laggard }

func (e *StalledError) Error() string {
	l := e.Laggard
	what := fmt.Sprintf("stalled (cursor still for %v, heartbeat %v old)", l.Still.Round(time.Millisecond), l.HeartbeatAge.Round(time.Millisecond))
	if l.Dead {
		what = "dead"
	}
	return fmt.Sprintf("required consumer %q (pid %d) is %s, %d events behind", l.Name, l.PID, what, l.Behind)
}

// Watcher applies a Policy for one producer. It is safe for concurrent use.
type Watcher struct {
	mu     sync.Mutex // Check may be called by concurrent publishers of one heap ring
	policy Policy
	next   time.Time
	seen   map[int]sighting
}

// sighting is what the watcher last saw of a registration: a new claim (state word) or a takeover
// (owner) starts the stall clock again, as does a cursor move.
type sighting struct {
	state  layout.StateWord
	owner  layout.OwnerID
	cursor uint64
	since  time.Time
}

// MinStallTimeout is the shortest stall timeout spec section 8 allows.
const MinStallTimeout = 5 * time.Second

var minStallTimeout = MinStallTimeout // lowered by tests only

// NewWatcher returns a watcher for p.
func NewWatcher(p Policy) *Watcher {
	if p.StallTimeout > 0 && p.StallTimeout < minStallTimeout {
		p.StallTimeout = minStallTimeout
	}
	if p.CheckInterval <= 0 {
		p.CheckInterval = 100 * time.Millisecond
	}
	return &Watcher{policy: p, seen: map[int]sighting{}}
}

// Check is called by a producer waiting to publish up to count end (exclusive), with published
// events so far. At most once per CheckInterval it looks at every active required consumer that
// blocks that claim; it evicts those the policy says to evict (returning how many) and returns a
// *StalledError for the first the policy says to fail on.
func (w *Watcher) Check(v *layout.View, published, end uint64) (evicted int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Before(w.next) {
		return 0, nil
	}
	w.next = now.Add(w.policy.CheckInterval)
	mono := Now()
	for i, e := range v.AllEntries() {
		st := e.Load() // the state word first, then the owner (spec 5.7, evicting)
		if st.State() != layout.EntryActive || !e.Required() {
			delete(w.seen, i)
			continue
		}
		cur := e.Cursor.Load()
		owner := e.OwnerID()
		s, ok := w.seen[i]
		if !ok || s.state != st || s.owner != owner || s.cursor != cur {
			s = sighting{state: st, owner: owner, cursor: cur, since: now}
			w.seen[i] = s
		}
		if cur+v.Capacity() >= end {
			continue // not in the way of this claim
		}
		l := Laggard{Index: i, Name: e.NameString(), PID: owner.PID(), Dead: OwnerDead(owner),
			Behind: published - cur, Still: now.Sub(s.since)}
		if hb := e.HeartbeatNs.Load(); hb != 0 && mono > hb {
			l.HeartbeatAge = time.Duration(mono - hb)
		}
		stalled := w.policy.StallTimeout > 0 && l.Still >= w.policy.StallTimeout && l.HeartbeatAge >= w.policy.StallTimeout
		if !l.Dead && !stalled {
			continue
		}
		act := w.policy.Action
		if w.policy.Decide != nil {
			act = w.policy.Decide(l)
		}
		switch act {
		case Evict:
			if e.CompareAndSwapState(st, st.With(layout.EntryEvicted)) { // spec 5.7, evicting
				e.Owner.CompareAndSwap(uint64(owner), 0)
				evicted++
				delete(w.seen, i)
				coordination.WakeAll(v.Wait()) // the evicted owner and other producers re-check
			}
		case Fail:
			if err == nil {
				err = &StalledError{Laggard: l}
			}
		}
	}
	return evicted, err
}
