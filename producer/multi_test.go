package producer_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestProducer_MultiGoroutines(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 64, Mode: producer.Multi})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "mp"})
	const per, writers = 5000, 3
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		q, err := producer.Register[event](p.Segment(), producer.Options{Wait: coordination.Yield()})
		require.NoError(t, err)
		go func(w uint64) {
			defer q.Close()
			for i := uint64(0); i < per; i++ {
				if err := q.Publish(func(e *event) { e.Seq, e.Square = w, i }); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}(uint64(w))
	}
	next := make([]uint64, writers)
	for n := 0; n < per*writers; {
		k, err := c.Process(func(e *event, _ uint64, _ bool) error {
			if e.Square != next[e.Seq] {
				return fmt.Errorf("writer %d: got %d, want %d", e.Seq, e.Square, next[e.Seq])
			}
			next[e.Seq]++
			return nil
		}, 0)
		require.NoError(t, err)
		n += k
	}
	for w := 0; w < writers; w++ {
		require.NoError(t, <-errc)
	}
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
}
