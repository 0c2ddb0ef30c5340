package disruptor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/disruptor"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
)

type event struct {
	Value uint64
	Note  string // events may hold Go pointers in process
}

// recorder is a handler that checks order and remembers how far it got.
type recorder struct {
	name string
	next uint64
	done atomic.Uint64 // count of events finished
	err  error
	// before, if set, must have finished every event this handler sees.
	before []*recorder
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) OnEvent(ev *event, seq uint64, _ bool) error {
	if seq != r.next || ev.Value != seq || ev.Note != fmt.Sprint(seq) {
		return fmt.Errorf("%s: got seq %d value %d, want %d", r.name, seq, ev.Value, r.next)
	}
	for _, b := range r.before {
		if b.done.Load() <= seq {
			return fmt.Errorf("%s saw %d before %s finished it", r.name, seq, b.name)
		}
	}
	r.next++
	r.done.Store(r.next)
	return nil
}

func publishAll(t *testing.T, d *disruptor.Disruptor[event], n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, d.Publish(func(e *event) { e.Value, e.Note = uint64(i), fmt.Sprint(i) }))
	}
}

func newDisruptor(t *testing.T, o disruptor.Options) *disruptor.Disruptor[event] {
	t.Helper()
	if o.Wait == nil {
		o.Wait = coordination.Blocking()
	}
	d, err := disruptor.New[event](o)
	require.NoError(t, err)
	return d
}

func TestDisruptor_FanOut(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 64})
	a, b, c := &recorder{name: "a"}, &recorder{name: "b"}, &recorder{name: "c"}
	d.HandleEventsWith(a, b, c)
	require.NoError(t, d.Start())
	publishAll(t, d, 10_000)
	require.NoError(t, d.Shutdown())
	for _, r := range []*recorder{a, b, c} {
		require.Equal(t, uint64(10_000), r.done.Load(), r.name)
	}
}

func TestDisruptor_Pipeline(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 32})
	a := &recorder{name: "a"}
	b := &recorder{name: "b", before: []*recorder{a}}
	c := &recorder{name: "c", before: []*recorder{b}}
	d.HandleEventsWith(a).Then(b).Then(c)
	require.NoError(t, d.Start())
	publishAll(t, d, 20_000)
	require.NoError(t, d.Shutdown())
	require.Equal(t, uint64(20_000), c.done.Load())
}

func TestDisruptor_Diamond(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 32, Producer: producer.Multi})
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	c := &recorder{name: "c", before: []*recorder{a, b}}
	ga := d.HandleEventsWith(a)
	gb := d.HandleEventsWith(b)
	ga.And(gb).Then(c)
	require.NoError(t, d.Start())
	publishAll(t, d, 20_000)
	require.NoError(t, d.Shutdown())
	require.Equal(t, uint64(20_000), c.done.Load())
}

func TestDisruptor_WorkerPool_EachEventOnce(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 64})
	var seen [30_000]atomic.Int32
	var total atomic.Int64
	worker := disruptor.HandlerFunc[event](func(e *event, seq uint64, _ bool) error {
		seen[seq].Add(1)
		total.Add(1)
		return nil
	})
	after := &recorder{name: "after"}
	d.HandleEventsWithWorkerPool(worker, worker, worker).Then(disruptor.HandlerFunc[event](func(e *event, seq uint64, _ bool) error {
		if seen[seq].Load() != 1 {
			return fmt.Errorf("the stage after the pool saw %d before the pool finished it", seq)
		}
		return after.OnEvent(e, seq, false)
	}))
	require.NoError(t, d.Start())
	publishAll(t, d, len(seen))
	require.NoError(t, d.Shutdown())
	require.Equal(t, int64(len(seen)), total.Load())
	for i := range seen {
		require.Equal(t, int32(1), seen[i].Load(), "event %d", i)
	}
	require.Equal(t, uint64(len(seen)), after.done.Load())
}

// TestDisruptor_ShutdownDrainsConcurrentPublishers calls Shutdown while producers publish: every
// publish that returned nil must have reached the handler.
func TestDisruptor_ShutdownDrainsConcurrentPublishers(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 64, Producer: producer.Multi, Wait: coordination.Yield()})
	var handled atomic.Int64
	d.HandleEventsWith(disruptor.HandlerFunc[event](func(*event, uint64, bool) error {
		handled.Add(1)
		return nil
	}))
	require.NoError(t, d.Start())
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := d.Publish(func(e *event) {}); err != nil {
					return
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, d.Shutdown())
	wg.Wait()
	require.Positive(t, ok.Load())
	require.Equal(t, ok.Load(), handled.Load())
	require.ErrorIs(t, d.Publish(func(*event) {}), producer.ErrClosed)
}

func TestDisruptor_ExceptionPolicies(t *testing.T) {
	boom := errors.New("boom")
	failAt := func(at uint64, panics bool) disruptor.HandlerFunc[event] {
		return func(e *event, seq uint64, _ bool) error {
			if seq == at {
				if panics {
					panic("kaboom")
				}
				return boom
			}
			return nil
		}
	}
	t.Run("halt releases downstream and the blocked producer", func(t *testing.T) {
		d := newDisruptor(t, disruptor.Options{Size: 8})
		down := &recorder{name: "down"}
		d.HandleEventsWith(failAt(5, true)).Then(disruptor.HandlerFunc[event](func(e *event, seq uint64, eob bool) error {
			return down.OnEvent(e, seq, eob)
		}))
		require.NoError(t, d.Start())
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = d.Publish(func(e *event) { e.Value, e.Note = uint64(i), fmt.Sprint(i) })
		}
		require.ErrorIs(t, err, layout.ErrPoisoned, "a producer waiting on the halted stage gets an error")
		werr := d.Wait()
		var he *disruptor.HandlerError
		require.ErrorAs(t, werr, &he)
		require.Equal(t, uint64(5), he.Seq)
		require.True(t, he.Panic)
		require.Equal(t, uint64(5), down.done.Load(), "downstream handled everything before the failure")
		rec, poisoned := d.Failure()
		require.True(t, poisoned)
		require.Equal(t, layout.PhaseHandler, rec.Phase)
		require.Equal(t, uint64(5), rec.Seq)
		require.ErrorAs(t, d.Shutdown(), &he)
	})
	t.Run("log and continue", func(t *testing.T) {
		d := newDisruptor(t, disruptor.Options{Size: 8, Policy: disruptor.LogAndContinue})
		r := &recorder{name: "r"}
		d.HandleEventsWith(failAt(3, false)).Then(r)
		require.NoError(t, d.Start())
		publishAll(t, d, 50)
		require.NoError(t, d.Shutdown())
		require.Equal(t, uint64(50), r.done.Load())
	})
	t.Run("custom", func(t *testing.T) {
		var told []uint64
		d := newDisruptor(t, disruptor.Options{Size: 8, Policy: disruptor.Custom, OnError: func(he *disruptor.HandlerError) error {
			told = append(told, he.Seq)
			if he.Seq == 7 {
				return he
			}
			return nil
		}})
		d.HandleEventsWith(disruptor.HandlerFunc[event](func(e *event, seq uint64, _ bool) error {
			if seq == 2 || seq == 7 {
				return boom
			}
			return nil
		}))
		require.NoError(t, d.Start())
		for i := 0; i < 8; i++ {
			require.NoError(t, d.Publish(func(e *event) {}))
		}
		err := d.Shutdown()
		require.ErrorIs(t, err, boom)
		require.Equal(t, []uint64{2, 7}, told)
	})
}

func TestDisruptor_PublisherPanicPoisons(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 16})
	r := &recorder{name: "r"}
	d.HandleEventsWith(r)
	require.NoError(t, d.Start())
	publishAll(t, d, 4)
	require.Panics(t, func() { _ = d.Publish(func(e *event) { panic("bad input") }) })
	err := d.Shutdown()
	var pe *layout.PoisonedError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, uint64(4), pe.Record.Seq)
	require.Equal(t, layout.PhasePublish, pe.Record.Phase)
	require.Equal(t, uint64(4), r.done.Load(), "no unwritten slot was ever exposed")
}

func TestDisruptor_TryErrorsAndCapacity(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 4})
	gate := make(chan struct{})
	d.HandleEventsWith(disruptor.HandlerFunc[event](func(*event, uint64, bool) error {
		<-gate
		return nil
	}))
	require.ErrorIs(t, d.Publish(func(*event) {}), disruptor.ErrNotStarted)
	require.NoError(t, d.Start())
	require.Equal(t, uint64(4), d.Remaining())
	require.ErrorIs(t, d.PublishBatch(5, func(int, *event) {}), producer.ErrBatchTooLarge)
	require.Equal(t, uint64(4), d.Remaining(), "a refused batch claims nothing")
	for i := 0; i < 4; i++ {
		require.NoError(t, d.TryPublish(func(*event) {}))
	}
	require.Equal(t, uint64(4), d.FillLevel())
	err := d.TryPublish(func(*event) {})
	var fe *producer.FullError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, uint64(1), fe.Missing)
	require.True(t, producer.Temporary(err))
	close(gate)
	require.NoError(t, d.Shutdown())
	require.False(t, producer.Temporary(d.Publish(func(*event) {})))
}

func TestDisruptor_HaltStopsAtOnce(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 4})
	var handled atomic.Int64
	d.HandleEventsWith(disruptor.HandlerFunc[event](func(*event, uint64, bool) error {
		handled.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}))
	require.NoError(t, d.Start())
	errc := make(chan error, 1)
	go func() {
		for {
			if err := d.Publish(func(*event) {}); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, d.Halt())
	err := <-errc
	require.True(t, errors.Is(err, producer.ErrHalted) || errors.Is(err, producer.ErrClosed), "%v", err)
}

type hooked struct {
	recorder
	started, stopped atomic.Bool
}

func (h *hooked) OnStart() error    { h.started.Store(true); return nil }
func (h *hooked) OnShutdown() error { h.stopped.Store(true); return nil }

func TestDisruptor_HooksAndPinning(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 16, CPUs: []int{0}})
	h := &hooked{recorder: recorder{name: "h"}}
	d.HandleEventsWith(h)
	require.NoError(t, d.Start())
	require.ErrorIs(t, d.Start(), disruptor.ErrStarted)
	publishAll(t, d, 100)
	require.NoError(t, d.Shutdown())
	require.True(t, h.started.Load())
	require.True(t, h.stopped.Load())
	require.Equal(t, uint64(100), h.done.Load())
}

func TestDisruptor_TryPublishBatch(t *testing.T) {
	d := newDisruptor(t, disruptor.Options{Size: 4})
	gate := make(chan struct{})
	r := &recorder{name: "r"}
	d.HandleEventsWith(disruptor.HandlerFunc[event](func(e *event, seq uint64, eob bool) error {
		<-gate
		return r.OnEvent(e, seq, eob)
	}))
	set := func(i int, e *event) { e.Value, e.Note = uint64(i), fmt.Sprint(i) }
	require.ErrorIs(t, d.TryPublishBatch(1, set), disruptor.ErrNotStarted)
	require.NoError(t, d.Start())
	require.NoError(t, d.TryPublishBatch(0, set), "an empty batch is a no-op")
	require.ErrorIs(t, d.TryPublishBatch(-1, set), producer.ErrBadBatch)
	require.NoError(t, d.TryPublishBatch(4, set))
	var fe *producer.FullError
	require.ErrorAs(t, d.TryPublishBatch(2, set), &fe)
	require.Equal(t, uint64(2), fe.Missing)
	close(gate)
	require.NoError(t, d.Shutdown())
	require.Equal(t, uint64(4), r.done.Load())
}

// TestDisruptor_StopContext_NamesTheBlockedStage: Shutdown and Halt wait forever on a handler
// that blocks; their Context variants give up when the context ends, naming the stage still
// running, and a later Wait returns once it has stopped.
func TestDisruptor_StopContext_NamesTheBlockedStage(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*disruptor.Disruptor[event], context.Context) error
	}{
		{name: "ShutdownContext", stop: (*disruptor.Disruptor[event]).ShutdownContext},
		{name: "HaltContext", stop: (*disruptor.Disruptor[event]).HaltContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisruptor(t, disruptor.Options{Size: 8})
			release, entered := make(chan struct{}), make(chan struct{})
			fine := &recorder{name: "fine"}
			d.HandleEventsWith(fine, named{"stuck", func(*event, uint64, bool) error {
				select {
				case <-entered:
				default:
					close(entered)
				}
				<-release
				return nil
			}})
			require.NoError(t, d.Start())
			publishAll(t, d, 3)
			<-entered

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := tc.stop(d, ctx)
			var re *disruptor.RunningError
			require.ErrorAs(t, err, &re)
			require.Contains(t, re.Stages, "stuck")
			require.ErrorIs(t, err, disruptor.ErrRunning)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Contains(t, err.Error(), "stuck")
			// The stage that can stop does, and is then no longer named.
			require.Eventually(t, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				return errors.As(d.WaitContext(ctx), &re) && slices.Equal(re.Stages, []string{"stuck"})
			}, 10*time.Second, time.Millisecond)

			close(release)
			require.NoError(t, d.Wait())
			require.NoError(t, tc.stop(d, context.Background()), "stopping again waits for nothing")
		})
	}
}

// named is a handler function with a stage name.
type named struct {
	name string
	f    disruptor.HandlerFunc[event]
}

func (n named) Name() string { return n.name }

func (n named) OnEvent(ev *event, seq uint64, end bool) error { return n.f(ev, seq, end) }
