package producer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

type beatEvent struct{ V uint64 }

// Spec section 8: a producer waiting for room refreshes its heartbeat at least once a second, so
// that peers can tell a blocked producer from a hung one.
func TestProducer_HeartbeatWhileWaitingForRoom(t *testing.T) {
	p, err := producer.Create[beatEvent](segment.Heap(), producer.Options{Capacity: 2, Wait: coordination.Yield(),
		Timeout: 1500 * time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[beatEvent](p.Segment(), consumer.Options{Name: "stuck"})
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 2; i++ {
		require.NoError(t, p.Publish(func(e *beatEvent) { e.V = uint64(i) }))
	}
	hdr := p.Segment().View().Header()
	before := hdr.ProducerHeartbeatNs.Load()
	err = p.Publish(func(*beatEvent) {}) // the consumer never reads: waits until the timeout
	require.ErrorIs(t, err, producer.ErrTimeout)
	after := hdr.ProducerHeartbeatNs.Load()
	require.Greater(t, after, before, "no heartbeat while waiting")
	require.Less(t, sys.Monotonic()-after, uint64(time.Second), "last heartbeat more than a second old")
}
