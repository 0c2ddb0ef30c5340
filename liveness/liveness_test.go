package liveness_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/segment"
)

type ev struct{ A, B uint64 }

func ring(t *testing.T, mode uint32, capacity uint64) *layout.View {
	t.Helper()
	et, err := layout.TypeOf[ev]()
	require.NoError(t, err)
	s, err := segment.Create(segment.Heap(), layout.Config{Capacity: capacity, RegistryCapacity: 4, Mode: mode, Event: et}, segment.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Release() })
	return s.View()
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) uint32 {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return uint32(cmd.Process.Pid)
}

func activeEntry(v *layout.View, i int, name string, pid uint32, cursor uint64) *layout.Entry {
	e := v.Entry(i)
	e.Flags = layout.FlagRequired
	e.Owner.Store(uint64(layout.MakeOwner(pid, 0)))
	e.NameLen = uint32(copy(e.Name[:], name))
	e.Cursor.Store(cursor)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	return e
}

func TestWatcher_ActsOnlyOnBlockersThatAreDeadOrStalled(t *testing.T) {
	v := ring(t, layout.SingleProducer, 8)
	dead := activeEntry(v, 0, "dead", deadPID(t), 0)
	live := activeEntry(v, 1, "live", uint32(os.Getpid()), 0)
	live.HeartbeatNs.Store(liveness.Now())
	ahead := activeEntry(v, 2, "ahead", deadPID(t), 8) // dead but not in the way of the claim

	w := liveness.NewWatcher(liveness.Policy{Action: liveness.Fail, CheckInterval: time.Nanosecond})
	n, err := w.Check(v, 8, 9)
	require.Zero(t, n)
	var se *liveness.StalledError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "dead", se.Laggard.Name)
	require.True(t, se.Laggard.Dead)
	require.Equal(t, uint64(8), se.Laggard.Behind)

	w = liveness.NewWatcher(liveness.Policy{Action: liveness.Evict, CheckInterval: time.Nanosecond})
	n, err = w.Check(v, 8, 9)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, layout.MakeState(layout.EntryEvicted, 1), dead.Load(), "evicted, same generation")
	require.Equal(t, layout.EntryActive, live.Load().State(), "a live consumer with a fresh heartbeat is left alone")
	require.Equal(t, layout.EntryActive, ahead.Load().State(), "a consumer not in the way is left alone")
}

func TestWatcher_StalledNeedsStillCursorAndOldHeartbeat(t *testing.T) {
	v := ring(t, layout.SingleProducer, 8)
	defer liveness.SetMinStallTimeout(0)()
	e := activeEntry(v, 0, "slow", uint32(os.Getpid()), 0)
	e.HeartbeatNs.Store(liveness.Now())
	var seen []liveness.Laggard
	w := liveness.NewWatcher(liveness.Policy{StallTimeout: 20 * time.Millisecond, CheckInterval: time.Nanosecond,
		Decide: func(l liveness.Laggard) liveness.Action { seen = append(seen, l); return liveness.Wait }})
	_, err := w.Check(v, 8, 9)
	require.NoError(t, err)
	require.Empty(t, seen, "not stalled yet")
	time.Sleep(30 * time.Millisecond)
	_, err = w.Check(v, 8, 9)
	require.NoError(t, err)
	require.Len(t, seen, 1)
	require.False(t, seen[0].Dead)
	e.Cursor.Store(1) // it moved: no longer stalled
	seen = nil
	_, err = w.Check(v, 8, 9)
	require.NoError(t, err)
	require.Empty(t, seen)
}

func producerEntry(v *layout.View, i int, pid uint32, start, end uint64) *layout.ProducerEntry {
	e := v.Producer(i)
	e.Owner.Store(uint64(layout.MakeOwner(pid, 0)))
	e.IntentStart.Store(start)
	e.IntentEnd.Store(end)
	e.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))
	return e
}

func TestPassOverDeadClaims_MarksOnlyTheDeadClaim(t *testing.T) {
	v := ring(t, layout.MultiProducer, 8)
	v.Cursors().Claimed.Store(10)
	for s := uint64(0); s < 3; s++ {
		v.Availability(s).Store(s + 1)
	}
	deadP := producerEntry(v, 1, deadPID(t), 3, 6)
	producerEntry(v, 2, uint32(os.Getpid()), 6, 10)

	require.Zero(t, liveness.PassOverDeadClaims(v, 7), "sequence 7 belongs to a live producer")
	require.False(t, liveness.Resolved(v, deadP))
	require.Equal(t, uint64(3), liveness.PassOverDeadClaims(v, 3), "3..5, then it stops at the live claim")
	for s := uint64(3); s < 6; s++ {
		require.Equal(t, (s+1)|layout.AvailGap, v.Availability(s).Load())
	}
	require.Zero(t, v.Availability(6).Load(), "the live producer's claim is untouched")
	require.Equal(t, layout.ProducerActive, deadP.Load().State(), "retired only by an attaching producer (spec 5.4)")
	require.True(t, liveness.Resolved(v, deadP))
	require.Equal(t, uint64(3), v.Header().Gaps.Load())
	require.Zero(t, liveness.PassOverDeadClaims(v, 3), "a gap is counted once: a second pass marks nothing")
	require.Equal(t, uint64(3), v.Header().Gaps.Load())
}

// Old rule 5 of the hardening issue: a live producer with a stale intent over a dead producer's
// claim made the recoverer skip it for good. Now it waits while the stale intent stands, and
// resolves the sequence once it is withdrawn.
func TestPassOverDeadClaims_StaleLiveIntentOnlyDelays(t *testing.T) {
	v := ring(t, layout.MultiProducer, 8)
	v.Cursors().Claimed.Store(1) // P1 claimed [0,1) and died
	producerEntry(v, 1, deadPID(t), 0, 1)
	stale := producerEntry(v, 2, uint32(os.Getpid()), 0, 1) // P2 loaded claimed = 0 before P1's claim
	require.Zero(t, liveness.PassOverDeadClaims(v, 0), "a live intent covers 0: wait")
	stale.IntentEnd.Store(0) // P2's compare-and-swap failed: it withdraws its intent
	require.Equal(t, uint64(1), liveness.PassOverDeadClaims(v, 0))
	require.Equal(t, uint64(1)|layout.AvailGap, v.Availability(0).Load())
}

// A live producer's intent that changes while it is read is "in flux": the recoverer waits.
func TestProducerEntry_Intent_InFluxIsNotUsed(t *testing.T) {
	v := ring(t, layout.MultiProducer, 8)
	e := producerEntry(v, 1, uint32(os.Getpid()), 2, 4)
	start, end, ok := e.Intent()
	require.True(t, ok)
	require.Equal(t, [2]uint64{2, 4}, [2]uint64{start, end})
	e.IntentEnd.Store(0)
	_, end, ok = e.Intent()
	require.True(t, ok)
	require.Zero(t, end)
}

func TestProducersDead_CreatorAndOtherProducers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mode        uint32
		creatorDead bool
		other       string // owner of an active producer entry besides the creator's: "", "live" or "dead"
		wantDead    bool
	}{
		{name: "single, creator alive", mode: layout.SingleProducer},
		{name: "single, creator dead", mode: layout.SingleProducer, creatorDead: true, wantDead: true},
		{name: "multi, creator alive", mode: layout.MultiProducer, other: "dead"},
		{name: "multi, creator dead, no other producer", mode: layout.MultiProducer, creatorDead: true, wantDead: true},
		{name: "multi, creator dead, a live producer", mode: layout.MultiProducer, creatorDead: true, other: "live"},
		{name: "multi, creator dead, a dead producer", mode: layout.MultiProducer, creatorDead: true, other: "dead", wantDead: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ring(t, tc.mode, 8)
			h := v.Header()
			require.Equal(t, uint32(os.Getpid()), h.CreatorPID)
			if tc.creatorDead {
				h.CreatorPID = deadPID(t)
				v.Producer(0).Owner.Store(uint64(layout.MakeOwner(h.CreatorPID, 0)))
			}
			if tc.other != "" {
				pid := uint32(os.Getpid())
				if tc.other == "dead" {
					pid = deadPID(t)
				}
				producerEntry(v, 1, pid, 0, 0)
			}
			pid, dead := liveness.ProducersDead(v)
			require.Equal(t, tc.wantDead, dead)
			require.Equal(t, h.CreatorPID, pid)
		})
	}
}
