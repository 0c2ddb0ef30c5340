package consumer_test

import (
	"testing"
	"time"

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

// TestConsumer_Optional_LappedInMultiMode_ResumesARingBehind: in multi mode a lapped optional
// consumer's next slot holds a later round's availability word; it must still notice the lap
// (spec 5.10 step 4) rather than wait, and go on from the claimed count less a ring.
func TestConsumer_Optional_LappedInMultiMode_ResumesARingBehind(t *testing.T) {
	p, err := producer.Create[event](segment.SharedMemory(shmName(t)), producer.Options{Capacity: 8, Mode: producer.Multi})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "opt", Optional: true, ReadTimeout: 5 * time.Second})
	defer c.Close()
	for i := uint64(0); i < 20; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { fill(i, e) }))
	}
	var ev event
	_, err = c.Read(&ev)
	var le *consumer.LappedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, uint64(0), le.At)
	require.Equal(t, uint64(12), le.Lost)
	for want := uint64(12); want < 20; want++ {
		seq, err := c.Read(&ev)
		require.NoError(t, err)
		require.Equal(t, want, seq)
		require.NoError(t, check(want, &ev))
	}
}
