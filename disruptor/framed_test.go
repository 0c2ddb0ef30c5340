package disruptor_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/disruptor"
	"github.com/ringwire/ringwire/producer"
)

// stamp returns message i: its length varies from 1 to 300 bytes, its bytes follow from i.
func stamp(i int) []byte {
	b := make([]byte, 1+(i*53)%300)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

type msgRecorder struct {
	name   string
	next   int
	done   atomic.Int64
	before []*msgRecorder
}

func (r *msgRecorder) Name() string { return r.name }

func (r *msgRecorder) OnMessage(m []byte, _ uint64, _ bool) error {
	if !bytes.Equal(m, stamp(r.next)) {
		return fmt.Errorf("%s: message %d corrupt (%d bytes)", r.name, r.next, len(m))
	}
	for _, b := range r.before {
		if b.done.Load() <= int64(r.next) {
			return fmt.Errorf("%s saw message %d before %s finished it", r.name, r.next, b.name)
		}
	}
	r.next++
	r.done.Store(int64(r.next))
	return nil
}

// TestFramed_Diamond_EveryStageSeesEveryMessageInOrder: a pipeline a -> (b, c) -> d on a framed
// heap ring small enough to wrap many times.
func TestFramed_Diamond_EveryStageSeesEveryMessageInOrder(t *testing.T) {
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			d, err := disruptor.NewFramed(disruptor.FramedOptions{Options: disruptor.Options{Size: 64, Producer: mode}, SlotSize: 64})
			require.NoError(t, err)
			a := &msgRecorder{name: "a"}
			b := &msgRecorder{name: "b", before: []*msgRecorder{a}}
			c := &msgRecorder{name: "c", before: []*msgRecorder{a}}
			e := &msgRecorder{name: "d", before: []*msgRecorder{b, c}}
			ga := d.HandleMessagesWith(a)
			ga.Then(b).And(ga.Then(c)).Then(e)
			require.NoError(t, d.Start())
			const n = 5000
			for i := 0; i < n; i++ {
				if i%7 == 0 && i+3 <= n {
					require.NoError(t, d.PublishBatch([][]byte{stamp(i), stamp(i + 1), stamp(i + 2)}))
					i += 2
					continue
				}
				require.NoError(t, d.Publish(stamp(i)))
			}
			require.NoError(t, d.Shutdown())
			for _, r := range []*msgRecorder{a, b, c, e} {
				require.Equal(t, n, r.next, r.name)
			}
		})
	}
}

func TestFramed_HandlerFailureHalts(t *testing.T) {
	d, err := disruptor.NewFramed(disruptor.FramedOptions{Options: disruptor.Options{Size: 64}})
	require.NoError(t, err)
	boom := errors.New("boom")
	d.HandleMessagesWith(disruptor.MessageHandlerFunc(func(m []byte, _ uint64, _ bool) error {
		if string(m) == "bad" {
			return boom
		}
		return nil
	}))
	require.NoError(t, d.Start())
	require.NoError(t, d.Publish([]byte("good")))
	require.NoError(t, d.Publish([]byte("bad")))
	err = d.Wait()
	require.ErrorIs(t, err, boom)
	var he *disruptor.HandlerError
	require.ErrorAs(t, err, &he)
	require.Equal(t, uint64(1), he.Seq)
	_, poisoned := d.Failure()
	require.True(t, poisoned)
	require.Error(t, d.Shutdown())
}

func TestFramed_TooLargeIsRefused(t *testing.T) {
	d, err := disruptor.NewFramed(disruptor.FramedOptions{Options: disruptor.Options{Size: 64}})
	require.NoError(t, err)
	d.HandleMessagesWith(disruptor.MessageHandlerFunc(func([]byte, uint64, bool) error { return nil }))
	require.NoError(t, d.Start())
	require.ErrorIs(t, d.Publish(make([]byte, d.MaxMessage()+1)), producer.ErrTooLarge)
	require.NoError(t, d.Shutdown())
}
