package producer_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_Publish_HaltedFullRingPublishesNothing: a halted Single producer on a full ring
// returns ErrHalted and publishes nothing over the unread events (it used to publish once before
// noticing, as it did for the Fail liveness action).
func TestProducer_Publish_HaltedFullRingPublishesNothing(t *testing.T) {
	var halt atomic.Bool
	p, err := producer.New[event](segment.Heap(), producer.Options{Capacity: 4, Halt: &halt})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.New[event](p.Segment(), consumer.Options{Name: "slow"})
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
