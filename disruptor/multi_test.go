package disruptor_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/disruptor"
	"github.com/ringwire/ringwire/producer"
)

// TestDisruptor_MultiBlocking_NeverWedges publishes from four goroutines into small Multi rings
// with the Blocking strategy. It once wedged within a few thousand events: the extra seq-cst
// store that served as the fence of spec 5.4 step 5 could land after a later lap had published
// the same slot, putting back an older availability word, so that the handler waited forever on
// a sequence that was published. The test fails if the handler makes no progress for 10s (a
// wedge, not a slow run) or misses or reorders an event of any publisher.
func TestDisruptor_MultiBlocking_NeverWedges(t *testing.T) {
	const publishers, per = 4, 5_000
	for _, size := range []uint64{2, 4, 16} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			d := newDisruptor(t, disruptor.Options{Size: size, Producer: producer.Multi, Wait: coordination.Blocking()})
			var handled atomic.Uint64
			var next [publishers]uint64
			d.HandleEventsWith(disruptor.HandlerFunc[event](func(e *event, _ uint64, _ bool) error {
				w, i := e.Value>>32, e.Value&(1<<32-1)
				if i != next[w] {
					return fmt.Errorf("publisher %d: event %d, want %d", w, i, next[w])
				}
				next[w]++
				handled.Add(1)
				return nil
			}))
			require.NoError(t, d.Start())
			errs := make(chan error, publishers)
			var wg sync.WaitGroup
			for w := uint64(0); w < publishers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := uint64(0); i < per; i++ {
						if err := d.Publish(func(e *event) { e.Value = w<<32 | i }); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			last, since := uint64(0), time.Now()
			for stop := false; !stop; {
				select {
				case <-done:
					stop = true
				case <-time.After(10 * time.Millisecond):
				}
				if n := handled.Load(); n != last {
					last, since = n, time.Now()
				} else if time.Since(since) > 10*time.Second {
					// Wedged: release everyone so that the goroutines end, then fail.
					_ = d.Halt()
					wg.Wait()
					t.Fatalf("wedged after %d of %d events", last, publishers*per)
				}
			}
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			require.NoError(t, d.Shutdown())
			require.Equal(t, uint64(publishers*per), handled.Load())
		})
	}
}
