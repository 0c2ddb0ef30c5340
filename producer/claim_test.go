package producer_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// tagged is an event that says who wrote it: writer w's i-th event.
type tagged struct{ W, I uint64 }

// TestProducer_ClaimPublish_ConcurrentMulti shares one Multi producer between goroutines that
// Claim and PublishClaim, as its documentation allows. Under -race this used to report the producer's
// outstanding-claim count, which every Claim and PublishClaim wrote. Every event arrives once, each
// writer's in order.
func TestProducer_ClaimPublish_ConcurrentMulti(t *testing.T) {
	const writers, per = 4, 2_000
	p, err := producer.Create[tagged](segment.Heap(), producer.Options{Capacity: 16, Mode: producer.Multi, Wait: coordination.Yield()})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[tagged](p.Segment(), consumer.Options{Name: "all", Wait: coordination.Yield()})
	require.NoError(t, err)
	defer c.Close()

	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := uint64(0); w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); i < per; {
				n := int(min(1+i%3, per-i))
				cl, err := p.Claim(n)
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < n; j++ {
					*cl.At(j) = tagged{W: w, I: i + uint64(j)}
				}
				if err := p.PublishClaim(cl); err != nil {
					errs <- err
					return
				}
				i += uint64(n)
			}
		}()
	}
	var next [writers]uint64
	total := 0
	for total < writers*per {
		n, err := c.Process(func(e *tagged, _ uint64, _ bool) error {
			if e.I < next[e.W] {
				return fmt.Errorf("writer %d: event %d after %d", e.W, e.I, next[e.W])
			}
			next[e.W] = e.I + 1
			return nil
		}, 0)
		require.NoError(t, err)
		total += n
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, writers*per, total)
}

// TestProducer_Claim_SingleOneOutstanding: in Single mode a second claim before the commit is
// refused, and a commit without a claim is refused.
func TestProducer_Claim_SingleOneOutstanding(t *testing.T) {
	p, err := producer.Create[tagged](segment.Heap(), producer.Options{Capacity: 8})
	require.NoError(t, err)
	defer p.Close()
	cl, err := p.Claim(2)
	require.NoError(t, err)
	_, err = p.Claim(1)
	require.ErrorIs(t, err, producer.ErrClaimOutstanding)
	require.NoError(t, p.PublishClaim(cl))
	require.ErrorIs(t, p.PublishClaim(cl), producer.ErrNoClaim)
	require.Equal(t, uint64(2), p.Published())
}

// TestProducer_Published_MultiCountsOnlyPublished: in Multi mode Published is the contiguous
// prefix of published sequences, not the claimed count (which it used to return): a claim still
// being written holds back what later claims published, until it is committed.
func TestProducer_Published_MultiCountsOnlyPublished(t *testing.T) {
	p, err := producer.Create[tagged](segment.Heap(), producer.Options{Capacity: 4, Mode: producer.Multi})
	require.NoError(t, err)
	defer p.Close()
	q, err := producer.Register[tagged](p.Segment(), producer.Options{})
	require.NoError(t, err)
	defer q.Close()
	c, err := consumer.Register[tagged](p.Segment(), consumer.Options{Name: "c"})
	require.NoError(t, err)
	defer c.Close()

	slow, err := p.Claim(2) // sequences 0 and 1, still being written
	require.NoError(t, err)
	require.NoError(t, q.PublishBatch(2, func(i int, e *tagged) { e.I = uint64(2 + i) }))
	require.Zero(t, p.Published())
	require.Zero(t, q.Published())
	require.Zero(t, p.Remaining(), "all four slots are claimed")
	require.NoError(t, p.PublishClaim(slow))
	require.Equal(t, uint64(4), p.Published())
	require.Equal(t, uint64(4), q.Published())

	// Many laps later the count still follows.
	var ev tagged
	for i := 0; i < 40; i++ {
		_, err := c.Read(&ev)
		require.NoError(t, err)
		require.NoError(t, q.Publish(func(e *tagged) {}))
		require.Equal(t, uint64(5+i), p.Published())
	}
}
