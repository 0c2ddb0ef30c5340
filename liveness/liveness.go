// Package liveness tells live peers from dead and stalled ones, and carries out what the spec
// lets a peer do about them: pass over the claims of a dead producer (spec/LAYOUT.md section 5.8)
// and evict a consumer that holds the producer back (section 5.7). Everything here runs on cold
// paths: while a producer or consumer is already waiting.
package liveness

import (
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// ConsumerDead reports whether the owner of a consumer entry has died (section 8). An owner
// identity whose pid names no process (0, or 2^31 and above) is dead.
func ConsumerDead(e *layout.Entry) bool { return OwnerDead(e.OwnerID()) }

// ProducerDead reports whether the owner of a producer entry has died.
func ProducerDead(e *layout.ProducerEntry) bool { return OwnerDead(e.OwnerID()) }

// OwnerDead reports whether the process of an owner identity has died (spec section 8).
func OwnerDead(o layout.OwnerID) bool { return !sys.AliveOwner(o.PID(), o.StartTime()) }

// Now returns the CLOCK_MONOTONIC time heartbeats are written in.
func Now() uint64 { return sys.Monotonic() }

// PassOverDeadClaims is spec section 5.8 for a required consumer stuck at sequence s in a
// multi-producer ring: it resolves s and the sequences after it, one at a time, as long as each
// is claimed, unpublished and covered only by the intents of dead producers, marking each as a
// gap (counted once in the header's gaps, however many consumers do this at once). It stops at
// the first sequence it must keep waiting for, and returns how many it marked. The caller gates
// the producers at s, so the slots from s to s + capacity - 1 are not reused meanwhile.
func PassOverDeadClaims(v *layout.View, s uint64) uint64 {
	if v.Mode() != layout.MultiProducer {
		return 0
	}
	limit := v.Cursors().ClaimedCount() // step 1
	var marked uint64
	for t := s; t < limit && t < s+v.Capacity(); t++ {
		switch resolve(v, t) {
		case keepWaiting:
			return marked
		case passedOver:
			marked++
		}
	}
	return marked
}

type verdict int

const (
	keepWaiting verdict = iota // a live producer may still publish t, or nobody known holds it
	published                  // t was already published or passed over
	passedOver                 // this call marked t as a gap
)

// resolve is steps 2 to 4 of spec 5.8 for one claimed sequence t.
func resolve(v *layout.View, t uint64) verdict {
	a := v.Availability(t)
	for {
		w := a.Load() // step 2
		if layout.Published(w, t) {
			return published
		}
		deadCovers := false
		for _, e := range v.AllProducers() { // step 3
			if !e.Is(layout.ProducerActive) {
				continue
			}
			start, end, ok := e.Intent()
			dead := ProducerDead(e)
			switch {
			case !ok && !dead:
				return keepWaiting // a live producer's intent is changing: it may cover t
			case !ok || end == 0 || t < start || t >= end:
				continue
			case !dead:
				return keepWaiting // a live producer holds t, or a stale intent it will withdraw
			}
			deadCovers = true
		}
		if !deadCovers {
			return keepWaiting
		}
		if a.CompareAndSwap(w, (t+1)|layout.AvailGap) { // step 4
			v.Header().Gaps.Add(1)
			return passedOver
		}
	}
}

// Resolved reports whether every sequence of a producer entry's intent that is below the claimed
// count is published or passed over (spec 5.4 attach step 1, 5.8): only then may an entry whose
// owner died be retired and reused.
func Resolved(v *layout.View, e *layout.ProducerEntry) bool {
	start, end, ok := e.Intent()
	if !ok {
		return false
	}
	limit := v.Cursors().ClaimedCount()
	for t := start; t < end && t < limit; t++ {
		if !layout.Published(v.Availability(t).Load(), t) {
			return false
		}
	}
	return true
}
