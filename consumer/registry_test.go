package consumer_test

import (
	"errors"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// race runs n attachers of one name at once and returns those that succeeded.
func race(t *testing.T, p *producer.Producer[event], n int, name string) []*consumer.Consumer[event] {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []*consumer.Consumer[event]
		errs []error
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: name})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, c)
			} else {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.True(t, errors.Is(err, consumer.ErrDuplicateName), "unexpected error %v", err)
	}
	return won
}

// Spec 5.7 step 5: attachers of one name that race never both succeed (the 1.0 rule, "the lower
// index wins" checked against active entries only, let two through when the second checked
// before the first activated).
func TestRegister_ConcurrentSameName_AtMostOneWins(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 8})
	require.NoError(t, err)
	defer p.Close()
	for round := 0; round < 200; round++ {
		won := race(t, p, 4, "dup")
		require.LessOrEqual(t, len(won), 1, "round %d: %d attachers of one name succeeded", round, len(won))
		for _, c := range won {
			require.NoError(t, c.Close())
		}
	}
}

// Spec 5.7, taking over: of several takers of a dead consumer's entry exactly one wins, and it is
// the entry's only owner.
func TestRegister_ConcurrentTakeover_OneOwner(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 4})
	require.NoError(t, err)
	defer p.Close()
	for round := 0; round < 50; round++ {
		c := attach(t, p, consumer.Options{Name: "taken"})
		e := p.Segment().View().Entry(c.Index())
		// Its process "dies": the entry keeps the identity of a process that has exited.
		dead := exec.Command("true")
		require.NoError(t, dead.Run())
		e.Owner.Store(uint64(layout.MakeOwner(uint32(dead.Process.Pid), 0)))

		won := race(t, p, 4, "taken")
		require.Len(t, won, 1, "round %d", round)
		require.True(t, won[0].Resumed())
		require.Equal(t, c.Index(), won[0].Index())
		require.Equal(t, layout.EntryActive, e.Load().State(), "the entry never left the active state")
		require.NoError(t, won[0].Close())
		require.Zero(t, e.Owner.Load(), "deregistration clears the owner word")
		require.ErrorIs(t, c.Close(), nil) // the dead registration's handle: must not touch the entry
		require.Equal(t, layout.EntryClosed, e.Load().State())
	}
}

// Spec 5.7 step 2: an entry left in claiming by a claimer that died is claimable again, whatever
// name the next attacher has (it would otherwise be lost to the registry for good).
func TestRegister_ReclaimsEntryOfDeadClaimer(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 1})
	require.NoError(t, err)
	defer p.Close()
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	e := p.Segment().View().Entry(0)
	e.Owner.Store(uint64(layout.MakeOwner(uint32(dead.Process.Pid), 0)))
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryClaiming, 7)))
	c := attach(t, p, consumer.Options{Name: "other"})
	defer c.Close()
	require.Equal(t, layout.MakeState(layout.EntryActive, 8), e.Load())
}

// Spec 5.7 step 6: an entry is Ready (what AwaitConsumers waits for) only once its start is
// chosen, so a producer that publishes right after seeing it loses nothing to a later start.
func TestRegister_ReadyOnlyOnceTheStartIsChosen(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "late"})
	defer c.Close()
	e := p.Segment().View().Entry(c.Index())
	require.True(t, e.Ready())
	require.Zero(t, e.Flags&layout.FlagStarting)
	e.Flags |= layout.FlagStarting
	require.False(t, e.Ready(), "active but still choosing its start")
	require.Error(t, coordination.AwaitConsumers(p.Segment().View(), 1, nil, time.Now().Add(20*time.Millisecond)))
}

// deadOwner returns the owner identity of a process that has exited.
func deadOwner(t *testing.T) layout.OwnerID {
	t.Helper()
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	return layout.MakeOwner(uint32(dead.Process.Pid), 0)
}

// Spec 5.7, taking over: the taker moves the state word to the next generation, so that an
// eviction prepared against the dead owner (state loaded, owner judged dead) fails instead of
// evicting the live taker.
func TestRegister_TakeoverDefeatsAnEvictionPreparedAgainstTheDeadOwner(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 2})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "phoenix"})
	e := p.Segment().View().Entry(c.Index())
	e.Owner.Store(uint64(deadOwner(t)))
	prepared := e.Load() // an evictor's load, before it judges the owner dead

	taker := attach(t, p, consumer.Options{Name: "phoenix"})
	defer taker.Close()
	require.True(t, taker.Resumed())
	require.Equal(t, prepared.Gen()+1, e.Load().Gen(), "a takeover bumps the generation")
	require.False(t, e.CompareAndSwapState(prepared, prepared.With(layout.EntryEvicted)),
		"an eviction judged against the dead owner evicted the live taker")
	require.NoError(t, p.Publish(func(ev *event) { fill(0, ev) }))
	var ev event
	seq, err := taker.Read(&ev)
	require.NoError(t, err, "the taker's registration is the bumped generation")
	require.Zero(t, seq)
}

// Spec 5.7 step 1 scans the whole registry: a live consumer of the name anywhere makes the
// attacher a duplicate, even when an entry of the same name with a dead owner comes first (it
// used to be taken over, leaving two live consumers of one name).
func TestRegister_LiveNameAnywhereBeatsADeadOneFirst(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 3})
	require.NoError(t, err)
	defer p.Close()
	first := attach(t, p, consumer.Options{Name: "first"})
	live := attach(t, p, consumer.Options{Name: "twin"})
	defer live.Close()
	require.Less(t, first.Index(), live.Index())
	e := p.Segment().View().Entry(first.Index())
	require.True(t, e.SetName("twin"))
	dead := deadOwner(t)
	e.Owner.Store(uint64(dead))
	before := e.Load()

	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "twin"})
	require.ErrorIs(t, err, consumer.ErrDuplicateName)
	require.Equal(t, before, e.Load(), "the dead entry was taken over")
	require.Equal(t, uint64(dead), e.Owner.Load())
}

// Spec 5.7, taking over: an entry whose owner died before step 6 holds only the provisional
// cursor (a ring below the count then), where events may have been overwritten. The taker
// chooses its start instead of resuming there.
func TestRegister_TakeoverOfAStartingEntryChoosesTheStart(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8, Registry: 2})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "early"})
	e := p.Segment().View().Entry(c.Index())
	// It dies right after activating: starting, and its cursor provisional. Publishing goes on
	// meanwhile only because this test moves the cursor by hand as a stand-in for the gating.
	e.Owner.Store(uint64(deadOwner(t)))
	for i := uint64(0); i < 20; i++ {
		e.Cursor.Store(i)
		require.NoError(t, p.Publish(func(ev *event) { fill(i, ev) }))
	}
	e.Cursor.Store(12) // 20 - capacity: a provisional cursor
	e.Flags |= layout.FlagStarting
	require.False(t, e.Ready())

	taker := attach(t, p, consumer.Options{Name: "early"}) // StartLatest
	defer taker.Close()
	require.True(t, taker.Resumed())
	require.True(t, e.Ready(), "the taker finished step 6")
	require.Equal(t, uint64(20), taker.Cursor(), "the taker resumed at a provisional cursor")
	require.Equal(t, uint64(20), e.Cursor.Load())
}

// Spec 5.7 step 6, oldest: the start is the lowest cursor of the other required entries that
// have chosen theirs; a starting entry's cursor is only provisional and not copied.
func TestRegister_OldestSkipsEntriesStillStarting(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 3})
	require.NoError(t, err)
	defer p.Close()
	slow := attach(t, p, consumer.Options{Name: "slow"})
	defer slow.Close()
	require.NoError(t, p.PublishBatch(10, func(i int, ev *event) { fill(uint64(i), ev) }))
	var ev event
	for i := 0; i < 8; i++ {
		_, err := slow.Read(&ev)
		require.NoError(t, err)
	}
	starting := attach(t, p, consumer.Options{Name: "starting"})
	defer starting.Close()
	se := p.Segment().View().Entry(starting.Index())
	se.Cursor.Store(0) // provisional
	se.Flags |= layout.FlagStarting

	c := attach(t, p, consumer.Options{Name: "late", Start: consumer.StartOldest})
	defer c.Close()
	require.Equal(t, uint64(8), c.Cursor(), "oldest copied a starting entry's provisional cursor")
	seq, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(8), seq)
}

// Spec 5.7 step 6, s = max(s, cursor) (model finding F3): an owner that died after storing its
// start and before clearing the starting bit left a cursor the producers may have gated on. A
// taker that goes on from step 6 with StartOldest, where another consumer is further behind,
// keeps that start instead of lowering the cursor under the producers' feet.
func TestRegister_TakerOfAStartingEntryNeverLowersItsCursor(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 3})
	require.NoError(t, err)
	defer p.Close()
	slow := attach(t, p, consumer.Options{Name: "slow"})
	defer slow.Close()
	c := attach(t, p, consumer.Options{Name: "dying"})
	require.NoError(t, p.PublishBatch(10, func(i int, ev *event) { fill(uint64(i), ev) }))
	e := p.Segment().View().Entry(c.Index())
	e.Cursor.Store(10) // its step 6 (latest) stored 10, then it died before clearing bit 1
	e.Flags |= layout.FlagStarting
	e.Owner.Store(uint64(deadOwner(t)))

	taker := attach(t, p, consumer.Options{Name: "dying", Start: consumer.StartOldest}) // slow is at 0
	defer taker.Close()
	require.True(t, taker.Resumed())
	require.True(t, e.Ready())
	require.Equal(t, uint64(10), e.Cursor.Load(), "the taker lowered a start the producers may have seen")
	require.Equal(t, uint64(10), taker.Cursor())
}

// Spec 5.7 step 6, depends_on: an optional consumer does not gate the producers, so its cursor is
// no safe start; reading behind one is refused. A dependency still starting is waited for.
func TestRegister_DependenciesMustBeRequiredAndStarted(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 4})
	require.NoError(t, err)
	defer p.Close()
	opt := attach(t, p, consumer.Options{Name: "opt", Optional: true})
	defer opt.Close()
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "behind-opt", After: []string{"opt"}})
	require.ErrorIs(t, err, consumer.ErrUnknownStage)
	require.Contains(t, err.Error(), "optional")
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "behind-none", After: []string{"nobody"}})
	require.ErrorIs(t, err, consumer.ErrUnknownStage)

	up := attach(t, p, consumer.Options{Name: "up"})
	defer up.Close()
	ue := p.Segment().View().Entry(up.Index())
	atomic.OrUint32(&ue.Flags, layout.FlagStarting) // as if up were still in its step 6
	go func() {
		time.Sleep(50 * time.Millisecond)
		atomic.AndUint32(&ue.Flags, ^uint32(layout.FlagStarting))
	}()
	down, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "down", After: []string{"up"}})
	require.NoError(t, err, "a dependency that finishes its start is waited for")
	require.NoError(t, down.Close())
}

func TestConsumer_RegistryFullAndDuplicateName(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Registry: 2})
	require.NoError(t, err)
	defer p.Close()
	a := attach(t, p, consumer.Options{Name: "a"})
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "a"})
	require.ErrorIs(t, err, consumer.ErrDuplicateName)
	b := attach(t, p, consumer.Options{Name: "b"})
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "c"})
	require.ErrorIs(t, err, consumer.ErrRegistryFull)
	require.NoError(t, b.Close())
	c := attach(t, p, consumer.Options{Name: "c"}) // the closed entry is reused
	require.Equal(t, b.Index(), c.Index())
	require.Equal(t, uint32(2), p.Segment().View().Entry(c.Index()).Load().Gen())
	require.NoError(t, a.Close())
	require.NoError(t, c.Close())
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: ""})
	require.ErrorIs(t, err, consumer.ErrBadName)
}
