package producer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_Publish_FailLeavesDeadConsumersEventsUnread: under the Fail liveness action, a
// Single producer held back by a consumer killed with SIGKILL returns the *liveness.StalledError
// without publishing. It used to publish one event over the dead consumer's oldest unread one
// first, so that the consumer restarted under the same name read a wrong event.
func TestProducer_Publish_FailLeavesDeadConsumersEventsUnread(t *testing.T) {
	const capacity, read = 8, 3
	name := shmName(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: capacity,
		Wait:     coordination.Sleep(time.Microsecond, time.Millisecond),
		Liveness: liveness.Policy{Action: liveness.Fail, CheckInterval: time.Millisecond}})
	require.NoError(t, err)
	defer p.Close()
	cp := start(t, "read-and-hang", "RW_NAME="+name, "RW_CONSUMER=durable", "RW_COUNT=3")
	_, err = cp.AwaitLine("attached", 20*time.Second)
	require.NoError(t, err)

	var seq uint64
	for ; seq < read; seq++ {
		require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	}
	_, err = cp.AwaitLine("read 3", 20*time.Second)
	require.NoError(t, err)
	cp.Kill()

	// The dead consumer's cursor is 3: room for sequences up to 3+capacity-1.
	for ; seq < read+capacity; seq++ {
		require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	}
	for try := 0; try < 3; try++ {
		err = p.Publish(func(e *event) { fill(seq, e) })
		var se *liveness.StalledError
		require.ErrorAs(t, err, &se)
		require.True(t, se.Laggard.Dead)
		require.Equal(t, "durable", se.Laggard.Name)
		require.Equal(t, uint64(read+capacity), p.Published(), "nothing published over the unread events")
	}

	// A consumer restarted under the dead one's name resumes at its cursor and reads exactly the
	// events it had not read; then the producer goes on.
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "durable"})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Resumed())
	want := uint64(read)
	n, err := c.Poll(func(e *event, s uint64, _ bool) error {
		require.Equal(t, want, s)
		want++
		return check(s, e)
	}, 0)
	require.NoError(t, err)
	require.Equal(t, capacity, n)
	require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	var ev event
	got, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, seq, got)
	require.NoError(t, check(seq, &ev))
}

// TestProducer_Liveness_DeadConsumerFailsOrIsEvicted: a required consumer killed with SIGKILL
// holds the producer back until the liveness policy acts: Fail names it, Evict removes it; a
// restart under the same name is told exactly how many events it lost.
func TestProducer_Liveness_DeadConsumerFailsOrIsEvicted(t *testing.T) {
	for _, action := range []liveness.Action{liveness.Fail, liveness.Evict} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			name := testseg.Name(t)
			p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 8, Keep: true,
				Wait:     coordination.Sleep(time.Microsecond, time.Millisecond),
				Liveness: liveness.Policy{Action: action, CheckInterval: 5 * time.Millisecond}})
			require.NoError(t, err)
			defer p.Close()
			// A consumer that reads nothing and hangs, killed once it has registered.
			cp := start(t, "read-and-hang", "RW_NAME="+name, "RW_CONSUMER=durable", "RW_COUNT=0")
			_, err = cp.AwaitLine("read 0", 20*time.Second)
			require.NoError(t, err)
			cp.Kill()

			var err2 error
			for i := uint64(0); i < 30 && err2 == nil; i++ {
				err2 = p.Publish(func(e *event) { fill(i, e) })
			}
			if action == liveness.Fail {
				var se *liveness.StalledError
				require.ErrorAs(t, err2, &se)
				require.True(t, se.Laggard.Dead)
				require.Equal(t, "durable", se.Laggard.Name)
				require.Equal(t, uint32(cp.Pid()), se.Laggard.PID)
				require.Contains(t, err2.Error(), `"durable"`)
				return
			}
			require.NoError(t, err2, "the dead consumer was evicted and no longer holds the producer")
			require.Equal(t, layout.EntryEvicted, p.Segment().View().Entry(0).Load().State())
			require.Zero(t, p.Segment().View().Entry(0).Owner.Load(), "the evictor clears the owner word (spec 5.7)")
			c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "durable"})
			require.NoError(t, err)
			defer c.Close()
			require.True(t, c.Resumed())
			_, err = c.Poll(func(*event, uint64, bool) error { return nil }, 0)
			var le *consumer.LappedError
			require.ErrorAs(t, err, &le)
			require.Equal(t, uint64(30), le.Lost, "every event published while it was evicted is reported lost")
		})
	}
}

// TestProducer_Liveness_StalledConsumerEvictedByDecision: a live consumer that stops reading is
// stalled once its cursor and heartbeat are older than the timeout; Decide evicts it, and the
// evicted consumer is told so when it next reads.
func TestProducer_Liveness_StalledConsumerEvictedByDecision(t *testing.T) {
	var decided []liveness.Laggard
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 4,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond),
		Liveness: liveness.Policy{StallTimeout: 30 * time.Millisecond, CheckInterval: 5 * time.Millisecond,
			Decide: func(l liveness.Laggard) liveness.Action {
				decided = append(decided, l)
				return liveness.Evict
			}}})
	require.NoError(t, err)
	defer p.Close()
	slow := attach(t, p, consumer.Options{Name: "slow"})
	for i := uint64(0); i < 10; i++ {
		require.NoError(t, p.Publish(func(e *event) { fill(i, e) }))
	}
	require.Len(t, decided, 1)
	require.False(t, decided[0].Dead)
	require.Equal(t, "slow", decided[0].Name)
	require.GreaterOrEqual(t, decided[0].Still, 30*time.Millisecond)
	_, err = slow.Poll(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEvicted)
}
