package ring_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// holdClaim plays a producer in entry 1, owned by owner, that claimed [c, c+2) at the claimed
// count and has not published it (spec 5.4 steps 2-3).
func holdClaim(t *testing.T, v *layout.View, owner layout.OwnerID) uint64 {
	t.Helper()
	pe := v.Producer(1)
	pe.Owner.Store(uint64(owner))
	pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))
	c := v.Cursors().ClaimedCount()
	pe.IntentStart.Store(c)
	pe.IntentEnd.Store(c + 2)
	require.True(t, v.Cursors().Claimed.CompareAndSwap(c, c+2))
	return c
}

// TestProducer_Multi_NoRequiredConsumer_NeverLapsAnUnpublishedClaim is finding F5 of the models:
// with no required consumer, the gating bound is the published prefix, not the claimed count, so a
// producer never claims the slot of a sequence another live producer claimed a lap earlier and
// has not written yet.
func TestProducer_Multi_NoRequiredConsumer_NeverLapsAnUnpublishedClaim(t *testing.T) {
	et := eventType(t)
	p, err := ring.Create(segment.SharedMemory(testseg.Name(t)), ring.Events{Type: et},
		ring.ProducerOptions{Capacity: 8, Mode: ring.Multi, Producers: 2, Wait: coordination.Yield()})
	require.NoError(t, err)
	defer p.Close()
	v := p.View()
	// A live producer (this process; start time 0, "unknown", so that the test also runs where
	// a process cannot read its own start time, as under qemu) holds [0, 2).
	c := holdClaim(t, v, layout.MakeOwner(uint32(os.Getpid()), 0))
	published := 0
	for {
		cl, err := p.TryClaim(1)
		if err != nil {
			require.True(t, errors.Is(err, ring.ErrFull), "%v", err)
			break
		}
		require.Less(t, cl.Start(), c+8, "claimed %d over the unpublished %d", cl.Start(), cl.Start()-8)
		require.NoError(t, p.PublishClaim(cl))
		published++
	}
	require.Equal(t, 6, published) // sequences 2..7: then slot 0 holds the unpublished 0
	for s := c; s < c+2; s++ {     // the other producer publishes: room again
		v.Availability(s).Store(s + 1)
	}
	v.Producer(1).IntentEnd.Store(0)
	cl, err := p.TryClaim(2)
	require.NoError(t, err)
	require.Equal(t, c+8, cl.Start())
	require.NoError(t, p.PublishClaim(cl))
}

// TestProducer_Multi_PassesOverADeadClaimItWaitsBehind: with no required consumer, nobody else
// runs spec 5.8, so a producer that waits for room behind a dead producer's claim passes it over.
func TestProducer_Multi_PassesOverADeadClaimItWaitsBehind(t *testing.T) {
	et := eventType(t)
	p, err := ring.Create(segment.SharedMemory(testseg.Name(t)), ring.Events{Type: et},
		ring.ProducerOptions{Capacity: 8, Mode: ring.Multi, Producers: 2, Wait: coordination.Yield(), Timeout: 10 * time.Second})
	require.NoError(t, err)
	defer p.Close()
	v := p.View()
	c := holdClaim(t, v, testseg.KilledOwner(t))
	for i := 0; i < 7; i++ { // 2..7, then 8 waits for slot 0
		cl, err := p.Claim(1)
		require.NoError(t, err)
		require.Equal(t, c+2+uint64(i), cl.Start())
		require.NoError(t, p.PublishClaim(cl))
	}
	require.Equal(t, (c+2)|layout.AvailGap, v.Availability(c+1).Load(), "sequence %d passed over", c+1)
	require.Equal(t, c+9, v.Availability(c+8).Load(), "slot 0 reused for %d once 0 was passed over", c+8)
	require.Equal(t, uint64(2), v.Header().Gaps.Load())
}
