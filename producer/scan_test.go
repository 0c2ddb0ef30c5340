package producer_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_GatingScan_SecondPass is model finding F4 (spec 5.3 step 1): a scan that passes
// entry 0 just before a consumer activates there with StartOldest, copying entry 1's cursor, and
// then loads entry 1's cursor after it moved, must not take that later cursor as its bound. The
// scan's second pass sees entry 0's state change and scans again. Without it the producer would
// publish over the newcomer's first eight unread events.
func TestProducer_GatingScan_SecondPass(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer p.Close()
	d, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "d"})
	require.NoError(t, err)
	y, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "y"})
	require.NoError(t, err)
	defer y.Close()
	require.Equal(t, []int{0, 1}, []int{d.Index(), y.Index()})
	require.NoError(t, d.Close()) // entry 0: closed, claimable again

	for i := uint64(0); i < 16; i++ {
		require.NoError(t, p.Publish(func(e *event) { e.Seq = i }))
	}
	var ev event
	for i := 0; i < 8; i++ {
		_, err := y.Read(&ev)
		require.NoError(t, err)
	}

	var x *consumer.Consumer[event]
	fired := false
	restore := producer.SetScanHook(func(entry int) {
		if entry != 0 || fired {
			return
		}
		fired = true
		// Between the scan's load of entry 0's state and its load of entry 1's cursor: x
		// activates in entry 0 and starts where y is (8), then y reads to the end (16).
		var err error
		x, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "x", Start: consumer.StartOldest})
		require.NoError(t, err)
		for i := 0; i < 8; i++ {
			_, err := y.Read(&ev)
			require.NoError(t, err)
		}
	})
	room := p.Remaining()
	restore()
	require.True(t, fired)
	require.NotNil(t, x)
	defer x.Close()
	require.Equal(t, 0, x.Index())
	require.Equal(t, uint64(8), x.Cursor(), "x starts at y's cursor when it registered")
	require.Equal(t, uint64(8), room, "x holds slots 8 to 15 until it reads them")

	for i := uint64(16); i < 24; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { e.Seq = i }))
	}
	require.Error(t, p.TryPublish(func(e *event) { e.Seq = 24 }), "the ring is full for x")
	for want := uint64(8); want < 24; want++ {
		seq, err := x.Read(&ev)
		require.NoError(t, err)
		require.Equal(t, want, seq)
		require.Equal(t, want, ev.Seq, "x reads every event it started before, none overwritten")
	}
}
