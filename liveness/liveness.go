// Package liveness tells live peers from dead and stalled ones, and carries out what the spec
// lets a peer do about them: pass over the claims of a dead producer (spec/LAYOUT.md section 5.8)
// and evict a consumer that holds the producer back (section 5.7). Everything here runs on cold
// paths: while a producer or consumer is already waiting.
package liveness

import (
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// ConsumerDead reports whether the owner of a consumer entry has died (section 8). An entry
// without a pid yet is not dead.
func ConsumerDead(e *layout.Entry) bool {
	return e.OwnerPID != 0 && !sys.Alive(e.OwnerPID, e.OwnerStartTime)
}

// ProducerDead reports whether the owner of a producer entry has died.
func ProducerDead(e *layout.ProducerEntry) bool {
	return e.OwnerPID != 0 && !sys.Alive(e.OwnerPID, e.OwnerStartTime)
}

// Now returns the CLOCK_MONOTONIC time heartbeats are written in.
func Now() uint64 { return sys.Monotonic() }

// PassOverDeadClaims is spec section 5.8 for a required consumer stuck at sequence s in a
// multi-producer ring: if the claim covering s belongs to a producer that died, every
// unpublished sequence of that claim from s on is marked as a gap. It returns how many sequences
// it marked (0 when s belongs to a live producer or to nobody known).
func PassOverDeadClaims(v *layout.View, s uint64) uint64 {
	if v.Mode() != layout.MultiProducer {
		return 0
	}
	var dead *layout.ProducerEntry
	for i := 0; i < v.Producers(); i++ {
		e := v.Producer(i)
		if e.State.Load() != layout.ProducerActive {
			continue
		}
		start, end := e.IntentStart.Load(), e.IntentEnd.Load()
		if end == 0 || s < start || s >= end {
			continue
		}
		if !ProducerDead(e) {
			return 0 // a live producer holds s: it is still writing it
		}
		dead = e
	}
	if dead == nil || !dead.State.CompareAndSwap(layout.ProducerActive, layout.ProducerDead) {
		return 0
	}
	start, end := dead.IntentStart.Load(), dead.IntentEnd.Load()
	claimed := v.Cursors().Claimed.Load() & layout.CountMask
	var marked uint64
	for t := max(s, start); t < min(end, claimed); t++ {
		if liveIntentCovers(v, t) {
			continue // the dead producer's claim failed: this is a live producer's
		}
		a := v.Availability(t)
		w := a.Load()
		if w != t+1 && a.CompareAndSwap(w, (t+1)|layout.AvailGap) {
			marked++
		}
	}
	v.Header().Gaps.Add(marked)
	return marked
}

// liveIntentCovers reports whether an active producer that is alive announced a claim covering t.
func liveIntentCovers(v *layout.View, t uint64) bool {
	for i := 0; i < v.Producers(); i++ {
		e := v.Producer(i)
		if e.State.Load() != layout.ProducerActive {
			continue
		}
		if end := e.IntentEnd.Load(); end != 0 && e.IntentStart.Load() <= t && t < end && !ProducerDead(e) {
			return true
		}
	}
	return false
}
