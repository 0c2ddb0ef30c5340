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
	e.OwnerPID = pid
	e.NameLen = uint32(copy(e.Name[:], name))
	e.Cursor.Store(cursor)
	e.State.Store(layout.EntryActive)
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
	require.Equal(t, layout.EntryEvicted, dead.State.Load())
	require.Equal(t, layout.EntryActive, live.State.Load(), "a live consumer with a fresh heartbeat is left alone")
	require.Equal(t, layout.EntryActive, ahead.State.Load(), "a consumer not in the way is left alone")
}

func TestWatcher_StalledNeedsStillCursorAndOldHeartbeat(t *testing.T) {
	v := ring(t, layout.SingleProducer, 8)
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

func TestPassOverDeadClaims_MarksOnlyTheDeadClaim(t *testing.T) {
	v := ring(t, layout.MultiProducer, 8)
	v.Cursors().Claimed.Store(10)
	for s := uint64(0); s < 3; s++ {
		v.Availability(s).Store(s + 1)
	}
	deadP := v.Producer(1)
	deadP.OwnerPID = deadPID(t)
	deadP.IntentStart.Store(3)
	deadP.IntentEnd.Store(6)
	deadP.State.Store(layout.ProducerActive)
	liveP := v.Producer(2)
	liveP.OwnerPID = uint32(os.Getpid())
	liveP.IntentStart.Store(6)
	liveP.IntentEnd.Store(10)
	liveP.State.Store(layout.ProducerActive)

	require.Zero(t, liveness.PassOverDeadClaims(v, 7), "sequence 7 belongs to a live producer")
	require.Equal(t, uint64(3), liveness.PassOverDeadClaims(v, 3))
	for s := uint64(3); s < 6; s++ {
		require.Equal(t, (s+1)|layout.AvailGap, v.Availability(s).Load())
	}
	require.Zero(t, v.Availability(6).Load(), "the live producer's claim is untouched")
	require.Equal(t, layout.ProducerDead, deadP.State.Load())
	require.Equal(t, uint64(3), v.Header().Gaps.Load())
	require.Zero(t, liveness.PassOverDeadClaims(v, 3), "only the winner of the state change marks")
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
				if tc.mode == layout.MultiProducer {
					v.Producer(0).OwnerPID = h.CreatorPID
				}
			}
			if tc.other != "" {
				e := v.Producer(1)
				e.OwnerPID, e.OwnerStartTime = uint32(os.Getpid()), 0
				if tc.other == "dead" {
					e.OwnerPID = deadPID(t)
				}
				e.State.Store(layout.ProducerActive)
			}
			pid, dead := liveness.ProducersDead(v)
			require.Equal(t, tc.wantDead, dead)
			require.Equal(t, h.CreatorPID, pid)
		})
	}
}
