package producer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestProducer_TryPublish_FullThenPublishWaits(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 4})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "slow"})
	for i := uint64(0); i < 4; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { fill(i, e) }))
	}
	require.Equal(t, uint64(0), p.Remaining())
	err = p.TryPublish(func(e *event) { fill(4, e) })
	require.ErrorIs(t, err, producer.ErrFull)

	published := make(chan error, 1)
	go func() { published <- p.Publish(func(e *event) { fill(4, e) }) }()
	select {
	case err := <-published:
		t.Fatalf("Publish returned %v on a full ring", err)
	case <-time.After(50 * time.Millisecond):
	}
	var got event
	seq, err := c.Read(&got)
	require.NoError(t, err)
	require.Equal(t, uint64(0), seq)
	require.NoError(t, <-published)
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
}

func TestProducer_Publish_TimesOutWhenFull(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 2, Timeout: 20 * time.Millisecond,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond)})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "stuck"})
	defer c.Close()
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(i), e) }))
	err = p.Publish(func(e *event) {})
	require.ErrorIs(t, err, producer.ErrTimeout)
	require.ErrorIs(t, p.PublishBatch(3, func(int, *event) {}), producer.ErrBatchTooLarge)
	require.NoError(t, p.Close())
}
