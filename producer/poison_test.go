package producer_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

func TestProducer_PanicInFillPoisonsRing(t *testing.T) {
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Mode: mode})
			require.NoError(t, err)
			c := attach(t, p, consumer.Options{Name: "victim"})
			require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(i), e) }))
			require.Panics(t, func() {
				_ = p.PublishBatch(2, func(i int, e *event) {
					if i == 1 {
						panic("disk on fire")
					}
				})
			})
			n, err := c.Process(func(*event, uint64, bool) error { return nil }, 0)
			require.NoError(t, err)
			require.Equal(t, 3, n, "events before the failure are delivered")
			_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
			var pe *layout.PoisonedError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, layout.PhasePublish, pe.Record.Phase)
			require.Equal(t, uint64(3), pe.Record.Seq)
			require.Equal(t, "disk on fire", pe.Record.Message)
			require.ErrorIs(t, p.Publish(func(*event) {}), producer.ErrPoisoned)
			require.NoError(t, c.Close())
			p.Close()
		})
	}
}

// Publish and TryPublish (one event, their own deferred recovery) poison with the panic's text.
func TestProducer_PanicInSingleFillPoisonsRing(t *testing.T) {
	publishers := map[string]func(*producer.Producer[event], func(*event)) error{
		"Publish":    (*producer.Producer[event]).Publish,
		"TryPublish": (*producer.Producer[event]).TryPublish,
	}
	for name, publish := range publishers {
		t.Run(name, func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
			require.NoError(t, err)
			defer p.Close()
			c := attach(t, p, consumer.Options{Name: "victim"})
			defer c.Close()
			require.NoError(t, publish(p, func(e *event) { fill(0, e) }))
			require.PanicsWithValue(t, "producer: fill panicked at sequence 1; ring poisoned", func() {
				_ = publish(p, func(*event) { panic("out of paper") })
			})
			n, err := c.Process(func(*event, uint64, bool) error { return nil }, 0)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
			var pe *layout.PoisonedError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, uint64(1), pe.Record.Seq)
			require.Equal(t, "out of paper", pe.Record.Message)
		})
	}
}
