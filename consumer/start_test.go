package consumer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestConsumer_StartLatestAndOldest(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer p.Close()
	first := attach(t, p, consumer.Options{Name: "first"})
	defer first.Close()
	require.NoError(t, p.PublishBatch(10, func(i int, e *event) { fill(uint64(i), e) }))
	var ev event
	for i := 0; i < 3; i++ {
		_, err := first.Read(&ev)
		require.NoError(t, err)
	}
	latest := attach(t, p, consumer.Options{Name: "latest"})
	defer latest.Close()
	oldest := attach(t, p, consumer.Options{Name: "oldest", Start: consumer.StartOldest})
	defer oldest.Close()
	require.Equal(t, uint64(10), latest.Cursor())
	require.Equal(t, uint64(3), oldest.Cursor())
	seq, err := oldest.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)
	require.NoError(t, check(3, &ev))
}
