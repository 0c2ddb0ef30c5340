package coordination_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
)

func TestStrategies_WaitUntilReadyOrDeadline(t *testing.T) {
	for _, s := range []coordination.Strategy{coordination.BusySpin(), coordination.Yield(),
		coordination.Sleep(time.Microsecond, time.Millisecond), coordination.Blocking()} {
		t.Run(s.String(), func(t *testing.T) {
			var w layout.WaitWord
			var flag atomic.Bool
			go func() {
				time.Sleep(5 * time.Millisecond)
				flag.Store(true)
				w.Wake.Add(1) // as coordination.Notify does when a waiter announced itself
				coordination.Notify(&w)
			}()
			require.NoError(t, s.Wait(flag.Load, &w, time.Now().Add(5*time.Second)))
			require.Zero(t, w.Waiters.Load(), "a waiter leaves the waiters count as it found it")
			err := s.Wait(func() bool { return false }, &w, time.Now().Add(2*time.Millisecond))
			require.ErrorIs(t, err, coordination.ErrTimeout)
		})
	}
}

func TestBlocker_CountsOnlyKernelBlockers(t *testing.T) {
	var count atomic.Uint32
	require.Nil(t, coordination.NewBlocker(coordination.BusySpin(), &count))
	require.Nil(t, coordination.NewBlocker(coordination.Sleep(time.Microsecond, time.Millisecond), &count))
	b := coordination.NewBlocker(coordination.Blocking(), &count)
	require.NotNil(t, b)
	require.Zero(t, count.Load(), "registered lazily, at the first wait")
	var w layout.WaitWord
	polls := 0
	require.NoError(t, b.Wait(coordination.Blocking(), func() bool { polls++; return polls > 1 }, &w, time.Time{}))
	require.Equal(t, uint32(1), count.Load(), "registered before its first wait")
	b.Release()
	b.Release()
	require.Zero(t, count.Load(), "Release is idempotent")
	var nilBlocker *coordination.Blocker
	nilBlocker.Release()
	require.True(t, coordination.Blocking().Traits().Parks)
	require.False(t, coordination.Yield().Traits().Parks)
}

// userBlocking is a strategy written outside this package that sleeps in the kernel (through
// Blocking's Wait) and says so in its Traits.
type userBlocking struct{ inner coordination.Strategy }

func (u userBlocking) Wait(ready func() bool, w *layout.WaitWord, deadline time.Time) error {
	return u.inner.Wait(ready, w, deadline)
}
func (userBlocking) Traits() coordination.Traits { return coordination.Traits{BlocksInKernel: true} }
func (userBlocking) String() string              { return "user-blocking" }

// userSpin says it never blocks.
type userSpin struct{ userBlocking }

func (userSpin) Traits() coordination.Traits { return coordination.Traits{} }

// TestBlocker_UserStrategyCountedByItsTraits: whether a waiter is counted as a blocker is the
// strategy's own statement, not a type switch over the built-in strategies, so a user-written
// blocking strategy is counted and one that says it never blocks is not.
func TestBlocker_UserStrategyCountedByItsTraits(t *testing.T) {
	var count atomic.Uint32
	var w layout.WaitWord
	b := coordination.NewBlocker(userBlocking{coordination.Blocking()}, &count)
	require.NotNil(t, b, "a strategy whose Traits say it blocks in the kernel gets a registration")
	polls := 0
	require.NoError(t, b.Wait(userBlocking{coordination.Blocking()}, func() bool { polls++; return polls > 1 }, &w, time.Time{}))
	require.Equal(t, uint32(1), count.Load(), "counted before its first wait")
	b.Release()
	require.Zero(t, count.Load())

	require.Nil(t, coordination.NewBlocker(userSpin{}, &count), "a strategy that says it never blocks is not counted")
}

func TestAwaitConsumers_TimesOutNamingTheMissing(t *testing.T) {
	et, _ := layout.TypeOf[uint64]()
	p, err := layout.PlanFor(layout.Config{Capacity: 8, RegistryCapacity: 2, Mode: layout.SingleProducer, Event: et})
	require.NoError(t, err)
	mem := make([]byte, p.TotalSize+128)
	for uintptrOf(mem)%128 != 0 {
		mem = mem[1:]
	}
	v, err := layout.Init(mem[:p.TotalSize], layout.Config{Capacity: 8, RegistryCapacity: 2, Mode: layout.SingleProducer, Event: et}, layout.Identity{Incarnation: 1})
	require.NoError(t, err)
	e := v.Entry(0)
	e.NameLen = uint32(copy(e.Name[:], "audit"))
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	require.NoError(t, coordination.AwaitConsumers(v, 1, []string{"audit"}, time.Now().Add(time.Second)))
	err = coordination.AwaitConsumers(v, 1, []string{"audit", "risk"}, time.Now().Add(5*time.Millisecond))
	require.ErrorIs(t, err, coordination.ErrAwaitTimeout)
	require.Contains(t, err.Error(), "risk")
}
