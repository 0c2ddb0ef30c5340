package consumer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestConsumer_Optional_LappedLossIsCounted(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "opt", Optional: true})
	defer c.Close()
	// An optional consumer never gates: 20 events go into 8 slots without waiting.
	for i := uint64(0); i < 20; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { fill(i, e) }))
	}
	var ev event
	_, err = c.Read(&ev)
	var le *consumer.LappedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, uint64(0), le.At)
	require.Equal(t, uint64(20), le.Lost)
	require.Equal(t, uint64(20), p.Segment().View().Entry(c.Index()).Lost.Load())
	require.NoError(t, p.Publish(func(e *event) { fill(20, e) }))
	seq, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(20), seq)
	require.NoError(t, check(20, &ev))
}
