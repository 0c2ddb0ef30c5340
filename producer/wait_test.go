package producer_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_Publish_HaltedFullRingPublishesNothing: a halted Single producer on a full ring
// returns ErrHalted and publishes nothing over the unread events (it used to publish once before
// noticing, as it did for the Fail liveness action).
func TestProducer_Publish_HaltedFullRingPublishesNothing(t *testing.T) {
	var halt atomic.Bool
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 4, Halt: &halt})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "slow"})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, p.PublishBatch(4, func(i int, e *event) { fill(uint64(i), e) }))
	halt.Store(true)
	require.ErrorIs(t, p.Publish(func(e *event) { fill(4, e) }), producer.ErrHalted)
	require.Equal(t, uint64(4), p.Published())
	var ev event
	seq, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(0), seq)
	require.NoError(t, check(0, &ev), "the oldest unread event was not overwritten")
}

// TestProducer_ErrTimeout_OneSentinel: producer, consumer and coordination share one ErrTimeout,
// so that a publish or read that timed out matches each of them.
func TestProducer_ErrTimeout_OneSentinel(t *testing.T) {
	require.Same(t, coordination.ErrTimeout, producer.ErrTimeout)
	require.Same(t, coordination.ErrTimeout, consumer.ErrTimeout)

	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 2, Timeout: time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "stuck", ReadTimeout: time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	var ev event
	_, readErr := c.Read(&ev)
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(i), e) }))
	pubErr := p.Publish(func(*event) {})
	for _, err := range []error{readErr, pubErr} {
		for _, target := range []error{coordination.ErrTimeout, producer.ErrTimeout, consumer.ErrTimeout} {
			require.ErrorIs(t, err, target)
		}
	}
	require.Equal(t, "waiting for events: timed out", readErr.Error())
	require.Equal(t, "waiting for room: timed out", pubErr.Error())
	require.True(t, producer.Temporary(pubErr))
}

// TestProducer_DefaultWait_Blocking: producers and consumers that name no strategy wait with
// coordination.Default(), Blocking, as the disruptor does (they used to yield): each counts
// itself among the peers that may block in the kernel.
func TestProducer_DefaultWait_Blocking(t *testing.T) {
	require.Equal(t, coordination.Blocking().String(), coordination.Default().String())
	if !coordination.Default().Traits().BlocksInKernel {
		t.Skip("no futex here: Blocking polls and is not counted")
	}
	p, err := producer.Create[event](segment.Heap(), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	h := p.Segment().View().Header()
	require.Zero(t, h.ProducerBlockers.Load(), "a blocker registers at its first wait, not before")
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "c", ReadTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	require.Zero(t, h.ConsumerBlockers.Load())
	var ev event
	_, err = c.Read(&ev)
	require.ErrorIs(t, err, consumer.ErrTimeout)
	require.Equal(t, uint32(1), h.ConsumerBlockers.Load(), "registered by its first wait (spec 5.6)")
	require.NoError(t, c.Close())
	require.Zero(t, h.ConsumerBlockers.Load())
}
