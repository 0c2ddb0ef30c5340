package consumer_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestConsumer_TryNext_LeaseHoldsSlot(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 2})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "leaser"})
	defer c.Close()
	_, _, err = c.TryNext()
	require.ErrorIs(t, err, consumer.ErrEmpty)
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(i), e) }))
	ev, seq, err := c.TryNext()
	require.NoError(t, err)
	require.Equal(t, uint64(0), seq)
	_, _, err = c.TryNext()
	require.ErrorIs(t, err, consumer.ErrLeased)
	// The leased slot is not overwritten while the lease is held.
	require.ErrorIs(t, p.TryPublish(func(e *event) { fill(2, e) }), producer.ErrFull)
	require.NoError(t, check(0, ev))
	require.NoError(t, c.Release())
	require.ErrorIs(t, c.Release(), consumer.ErrNotLeased)
	require.NoError(t, p.TryPublish(func(e *event) { fill(2, e) }))
}

func TestConsumer_EndOfBatchAndBatches(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 64})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "batches"})
	require.NoError(t, p.PublishBatch(10, func(i int, e *event) { fill(uint64(i), e) }))
	var ends []uint64
	n, err := c.Process(func(e *event, seq uint64, end bool) error {
		if end {
			ends = append(ends, seq)
		}
		return nil
	}, 4)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = c.Process(func(e *event, seq uint64, end bool) error {
		if end {
			ends = append(ends, seq)
		}
		return nil
	}, 0)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	require.Equal(t, []uint64{3, 9}, ends)

	// A handler error stops the batch; the failed event is delivered again.
	require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(10+i), e) }))
	boom := errors.New("boom")
	n, err = c.Process(func(e *event, seq uint64, end bool) error {
		if seq == 11 {
			return boom
		}
		return nil
	}, 0)
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, n)
	require.Equal(t, uint64(11), c.Cursor())
	require.NoError(t, p.Close())
	n, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEndOfStream)
	require.NoError(t, c.Close())
}
