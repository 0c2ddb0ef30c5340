package producer_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestProducer_Batch_SizesOutsideOneToCapacity: an empty batch publishes nothing and is not an
// error; a negative batch, or a claim of fewer than one slot, is ErrBadBatch (it used to be
// ErrBatchTooLarge); more than the ring is ErrBatchTooLarge. Nothing is claimed by any of them.
func TestProducer_Batch_SizesOutsideOneToCapacity(t *testing.T) {
	never := func(int, *event) { panic("fill called") }
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		for _, tc := range []struct {
			name string
			call func(p *producer.Producer[event]) error
			want error // nil: no error
		}{
			{name: "PublishBatch(0)", call: func(p *producer.Producer[event]) error { return p.PublishBatch(0, never) }},
			{name: "TryPublishBatch(0)", call: func(p *producer.Producer[event]) error { return p.TryPublishBatch(0, never) }},
			{name: "PublishBatch(-1)", call: func(p *producer.Producer[event]) error { return p.PublishBatch(-1, never) }, want: producer.ErrBadBatch},
			{name: "TryPublishBatch(-1)", call: func(p *producer.Producer[event]) error { return p.TryPublishBatch(-1, never) }, want: producer.ErrBadBatch},
			{name: "Claim(0)", call: func(p *producer.Producer[event]) error { _, err := p.Claim(0); return err }, want: producer.ErrBadBatch},
			{name: "TryClaim(-3)", call: func(p *producer.Producer[event]) error { _, err := p.TryClaim(-3); return err }, want: producer.ErrBadBatch},
			{name: "PublishBatch(capacity+1)", call: func(p *producer.Producer[event]) error { return p.PublishBatch(9, never) }, want: producer.ErrBatchTooLarge},
			{name: "TryClaim(capacity+1)", call: func(p *producer.Producer[event]) error { _, err := p.TryClaim(9); return err }, want: producer.ErrBatchTooLarge},
		} {
			t.Run(fmt.Sprint(mode, "/", tc.name), func(t *testing.T) {
				p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8, Mode: mode})
				require.NoError(t, err)
				defer p.Close()
				err = tc.call(p)
				if tc.want == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tc.want)
					require.False(t, producer.Temporary(err))
				}
				if tc.want == producer.ErrBadBatch {
					require.NotErrorIs(t, err, producer.ErrBatchTooLarge)
					require.Contains(t, err.Error(), "batch size must be 1 to capacity")
				}
				require.Zero(t, p.Published())
				require.Equal(t, uint64(8), p.Remaining())
			})
		}
	}
}

// TestProducer_TryPublishBatch_TryClaim_FullWithoutWaiting: the non-waiting batch and claim take
// what fits, then return a *FullError saying how many slots were missing, claiming nothing.
func TestProducer_TryPublishBatch_TryClaim_FullWithoutWaiting(t *testing.T) {
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8, Mode: mode})
			require.NoError(t, err)
			defer p.Close()
			c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "slow"})
			require.NoError(t, err)
			defer c.Close()

			require.NoError(t, p.TryPublishBatch(5, func(i int, e *event) { fill(uint64(i), e) }))
			var fe *producer.FullError
			err = p.TryPublishBatch(4, func(int, *event) { panic("fill called on a full ring") })
			require.ErrorAs(t, err, &fe)
			require.Equal(t, uint64(1), fe.Missing)
			require.True(t, producer.Temporary(err))

			cl, err := p.TryClaim(3)
			require.NoError(t, err)
			for i := 0; i < cl.Len(); i++ {
				fill(cl.Seq(i), cl.At(i))
			}
			require.NoError(t, p.PublishClaim(cl))
			_, err = p.TryClaim(1)
			require.ErrorAs(t, err, &fe)
			require.Equal(t, uint64(1), fe.Missing)
			require.Equal(t, uint64(8), p.Published())

			n, err := c.Poll(func(e *event, seq uint64, _ bool) error { return check(seq, e) }, 0)
			require.NoError(t, err)
			require.Equal(t, 8, n)
			cl, err = p.TryClaim(1)
			require.NoError(t, err, "room again once the consumer read")
			fill(cl.Seq(0), cl.At(0))
			require.NoError(t, p.PublishClaim(cl))
		})
	}
}
