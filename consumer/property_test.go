package consumer_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestRing_PropertyAgainstModel runs random sequences of publish, try-publish, claim/commit,
// consume, open and close against a plain model of the ring and checks, after every operation,
// that the ring and the model agree: what is full, what each consumer reads, and in what order.
func TestRing_PropertyAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			capacity := uint64(2) << rng.IntN(4) // 2..16
			mode := producer.Single
			if seed%2 == 0 {
				mode = producer.Multi
			}
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: capacity, Mode: mode, Registry: 4})
			require.NoError(t, err)
			defer p.Close()

			type modelConsumer struct {
				c      *consumer.Consumer[event]
				cursor uint64
			}
			var published uint64
			open := map[string]*modelConsumer{}
			names := []string{"w", "x", "y", "z"}
			minCursor := func() (uint64, bool) {
				m, any := published, false
				for _, mc := range open {
					m, any = min(m, mc.cursor), true
				}
				return m, any
			}
			room := func() uint64 {
				m, any := minCursor()
				if !any {
					return capacity // nobody gates: the producer never waits
				}
				return capacity - (published - m)
			}
			publish := func(n int) {
				seqs := published
				require.NoError(t, p.PublishBatch(n, func(i int, e *event) { fill(seqs+uint64(i), e) }))
				published += uint64(n)
			}
			for op := 0; op < 300; op++ {
				switch rng.IntN(6) {
				case 0: // try-publish one
					err := p.TryPublish(func(e *event) { fill(published, e) })
					if room() == 0 {
						require.ErrorIs(t, err, producer.ErrFull)
					} else {
						require.NoError(t, err)
						published++
					}
				case 1: // batch that fits
					if r := room(); r > 0 {
						publish(1 + rng.IntN(int(r)))
					}
				case 2: // claim and commit in place
					if r := room(); r > 0 {
						n := 1 + rng.IntN(int(r))
						cl, err := p.Claim(n)
						require.NoError(t, err)
						for i := 0; i < n; i++ {
							fill(cl.Seq(i), cl.At(i))
						}
						require.NoError(t, p.PublishClaim(cl))
						published += uint64(n)
					}
				case 3, 4: // consume up to k from one open consumer
					for _, mc := range open {
						k := 1 + rng.IntN(8)
						want := min(uint64(k), published-mc.cursor)
						last := mc.cursor + want - 1
						n, err := mc.c.Poll(func(e *event, seq uint64, end bool) error {
							if seq != mc.cursor {
								return fmt.Errorf("seq %d, model cursor %d", seq, mc.cursor)
							}
							if end != (seq == last) {
								return fmt.Errorf("endOfBatch %v at %d, batch ends at %d", end, seq, last)
							}
							mc.cursor++
							return check(seq, e)
						}, k)
						require.NoError(t, err)
						require.Equal(t, int(want), n)
						require.Equal(t, mc.cursor, mc.c.Cursor())
						break
					}
				case 5: // open or close a consumer
					name := names[rng.IntN(len(names))]
					if mc, ok := open[name]; ok {
						require.NoError(t, mc.c.Close())
						delete(open, name)
					} else {
						c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: name})
						require.NoError(t, err)
						require.Equal(t, published, c.Cursor(), "a new consumer starts at the producer's cursor")
						open[name] = &modelConsumer{c: c, cursor: published}
					}
				}
				require.Equal(t, published, p.Published())
				require.Equal(t, room(), p.Remaining(), "op %d", op)
			}
			for _, mc := range open {
				require.NoError(t, mc.c.Close())
			}
			require.False(t, errors.Is(p.Close(), producer.ErrClosed))
		})
	}
}
