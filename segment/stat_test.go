package segment_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestStat_ClosedMultiRing_PublishedIsTheCount closes a real multi-producer ring, which sets bit
// 62 (closed to claims) of its claimed word: Published is the count without that bit.
func TestStat_ClosedMultiRing_PublishedIsTheCount(t *testing.T) {
	b := segment.SharedMemory(rwName(t, "multi"))
	p, err := producer.New[[32]byte](b, producer.Options{Mode: producer.Multi, Capacity: 16, Keep: true})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.Publish(func(ev *[32]byte) { ev[0] = byte(i) }))
	}
	require.NoError(t, p.Close())

	info, err := segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, "multi", info.Mode)
	require.True(t, info.Closed)
	require.Equal(t, uint64(3), info.Published)
}
