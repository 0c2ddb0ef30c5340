package producer_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestProducer_Close_RemovesNameUnlessKept(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Close(), producer.ErrClosed)
	_, err = os.Stat("/dev/shm" + name)
	require.ErrorIs(t, err, os.ErrNotExist)

	p, err = producer.Create[event](segment.SharedMemory(name), producer.Options{Keep: true})
	require.NoError(t, err)
	require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(i), e) }))
	require.NoError(t, p.Close())
	// The kept segment still holds the closed stream: a late consumer starting at the oldest
	// event finds the end of the stream.
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "late", Start: consumer.StartOldest})
	require.NoError(t, err)
	_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEndOfStream)
	require.NoError(t, c.Close())
	require.NoError(t, segment.Remove(segment.SharedMemory(name)))
}
