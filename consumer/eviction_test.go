package consumer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// Spec 5.7, deregistering: a registration that was evicted and whose entry was claimed again by a
// new consumer of the same name must not close the new owner's entry when it closes.
func TestClose_AfterEvictionAndReclaim_LeavesNewOwner(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Registry: 2})
	require.NoError(t, err)
	defer p.Close()
	old := attach(t, p, consumer.Options{Name: "a"})
	e := p.Segment().View().Entry(old.Index())
	st := e.Load()
	require.True(t, e.CompareAndSwapState(st, st.With(layout.EntryEvicted)))
	require.True(t, e.Owner.CompareAndSwap(e.Owner.Load(), 0)) // the evictor lets go (spec 5.7)

	renewed := attach(t, p, consumer.Options{Name: "a"})
	require.Equal(t, old.Index(), renewed.Index(), "the evicted entry of this name is claimed again")
	require.NoError(t, old.Close())
	require.Equal(t, layout.EntryActive, e.Load().State(), "the old handle closed the new owner's entry")
	require.Equal(t, st.Gen()+1, e.Load().Gen())
	require.NoError(t, renewed.Close())
}

// Spec 5.6 step 3 and 5.7, evicting: a consumer asleep in the kernel waiting for events notices
// its eviction (the evictor wakes both words, the waiter's re-check looks at its registration)
// instead of sleeping until an event comes.
func TestRead_BlockedConsumerNoticesEviction(t *testing.T) {
	for _, strategy := range []coordination.Strategy{coordination.Blocking(), coordination.Yield()} {
		t.Run(strategy.String(), func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
			require.NoError(t, err)
			defer p.Close()
			c := attach(t, p, consumer.Options{Name: "idle", Wait: strategy, ReadTimeout: 20 * time.Second})
			defer c.Close()
			done := make(chan error, 1)
			go func() {
				var ev event
				_, err := c.Read(&ev)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // let it block
			v := p.Segment().View()
			e := v.Entry(c.Index())
			st := e.Load()
			require.True(t, e.CompareAndSwapState(st, st.With(layout.EntryEvicted)))
			coordination.WakeAll(v.Wait())
			select {
			case err := <-done:
				require.ErrorIs(t, err, consumer.ErrEvicted)
			case <-time.After(10 * time.Second):
				t.Fatal("the evicted consumer went on waiting")
			}
			require.Zero(t, e.Owner.Load(), "an evicted owner lets go of the owner word")
		})
	}
}

// Spec 5.5 step 2: a consumer evicted in the middle of a batch delivers no further event of it
// (the producer, no longer gated, may be reusing those slots) and stops with ErrEvicted.
func TestProcess_EvictedMidBatch_DeliversNoMore(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "slow"})
	defer c.Close()
	require.NoError(t, p.PublishBatch(4, func(i int, e *event) { fill(uint64(i), e) }))
	e := p.Segment().View().Entry(c.Index())
	var seen []uint64
	_, err = c.Process(func(ev *event, seq uint64, _ bool) error {
		seen = append(seen, seq)
		if seq == 1 {
			st := e.Load()
			require.True(t, e.CompareAndSwapState(st, st.With(layout.EntryEvicted)))
		}
		return nil
	}, 0)
	require.ErrorIs(t, err, consumer.ErrEvicted)
	require.Equal(t, []uint64{0, 1}, seen)
}
