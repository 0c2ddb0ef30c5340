package disruptor_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/disruptor"
	"github.com/ringwire/ringwire/producer"
)

// The in-process shapes, each beside the buffered Go channel a Go user would reach for first:
//
//	go test -run '^$' -bench . ./disruptor
//
// One op is one event through the whole shape (ns/op is per event). Sub-benchmarks are
// ringwire/batch=1 (Publish), ringwire/batch=64 (PublishBatch) and chan, with 64-byte events and
// 4096 slots or channel places. Handlers busy-spin when every goroutine of the shape has a core,
// and yield otherwise. Cross-process and cross-language figures are the rwbench harness's
// (bench/, a module of its own).

// benchEvent is 64 bytes: the sequence and a payload no one reads.
type benchEvent struct {
	Seq     uint64
	Payload [56]byte
}

const benchCapacity = 4096

// shape is a topology: its publishers and how its handlers are wired.
type shape struct {
	publishers int
	handlers   int
	wire       func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent])
	channels   func(n int) // the same topology over channels, moving n events
}

// counter is a handler that checks it sees every sequence once, in order.
type counter struct {
	next uint64
	err  error
}

func (c *counter) OnEvent(_ *benchEvent, seq uint64, _ bool) error {
	if seq != c.next && c.err == nil {
		c.err = fmt.Errorf("got sequence %d, want %d", seq, c.next)
	}
	c.next++
	return nil
}

func benchShape(b *testing.B, s shape) {
	for _, batch := range []int{1, 64} {
		if batch > 1 && s.publishers > 1 {
			continue
		}
		b.Run(fmt.Sprintf("ringwire/batch=%d", batch), func(b *testing.B) { benchRing(b, s, batch) })
	}
	b.Run("chan", func(b *testing.B) {
		b.ResetTimer()
		s.channels(b.N)
	})
}

func benchRing(b *testing.B, s shape, batch int) {
	wait := coordination.BusySpin()
	if s.publishers+s.handlers > runtime.NumCPU() {
		wait = coordination.Yield()
	}
	mode := producer.Single
	if s.publishers > 1 {
		mode = producer.Multi
	}
	d, err := disruptor.New[benchEvent](disruptor.Options{Size: benchCapacity, Producer: mode, Wait: wait})
	if err != nil {
		b.Fatal(err)
	}
	cs := make([]*counter, s.handlers)
	hs := make([]disruptor.Handler[benchEvent], s.handlers)
	for i := range cs {
		cs[i] = &counter{}
		hs[i] = cs[i]
	}
	s.wire(d, hs)
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	n := b.N - b.N%s.publishers
	errs := make(chan error, s.publishers)
	b.ResetTimer()
	for range s.publishers {
		go func() { errs <- publish(d, n/s.publishers, batch) }()
	}
	for range s.publishers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Shutdown(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for i, c := range cs {
		if c.err != nil || c.next != uint64(n) {
			b.Fatalf("handler %d: %d of %d events (%v)", i, c.next, n, c.err)
		}
	}
}

func publish(d *disruptor.Disruptor[benchEvent], n, batch int) error {
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		if err := d.PublishBatch(k, func(j int, e *benchEvent) { e.Seq = uint64(i + j) }); err != nil {
			return err
		}
	}
	return nil
}

// relay moves n events from in to every out.
func relay(n int, in <-chan benchEvent, outs ...chan<- benchEvent) {
	for range n {
		e := <-in
		for _, o := range outs {
			o <- e
		}
	}
}

// runAll runs fs concurrently and returns when all have returned.
func runAll(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(f)
	}
	wg.Wait()
}

func source(n int, outs ...chan<- benchEvent) func() {
	return func() {
		for i := range n {
			for _, o := range outs {
				o <- benchEvent{Seq: uint64(i)}
			}
		}
	}
}

func sink(n int, in <-chan benchEvent) func() { return func() { relay(n, in) } }

func newChan() chan benchEvent { return make(chan benchEvent, benchCapacity) }

func BenchmarkSPSC(b *testing.B) {
	benchShape(b, shape{publishers: 1, handlers: 1,
		wire: func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent]) {
			d.HandleEventsWith(hs...)
		},
		channels: func(n int) {
			c := newChan()
			runAll(source(n, c), sink(n, c))
		}})
}

func BenchmarkMPSC(b *testing.B) {
	benchShape(b, shape{publishers: 2, handlers: 1,
		wire: func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent]) {
			d.HandleEventsWith(hs...)
		},
		channels: func(n int) {
			c := newChan()
			runAll(source(n/2, c), source(n/2, c), sink(n/2*2, c))
		}})
}

// BenchmarkSPMC: three handlers, each seeing every event.
func BenchmarkSPMC(b *testing.B) {
	benchShape(b, shape{publishers: 1, handlers: 3,
		wire: func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent]) {
			d.HandleEventsWith(hs...)
		},
		channels: func(n int) {
			c0, c1, c2 := newChan(), newChan(), newChan()
			runAll(source(n, c0, c1, c2), sink(n, c0), sink(n, c1), sink(n, c2))
		}})
}

// BenchmarkPipeline: three stages in series.
func BenchmarkPipeline(b *testing.B) {
	benchShape(b, shape{publishers: 1, handlers: 3,
		wire: func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent]) {
			d.HandleEventsWith(hs[0]).Then(hs[1]).Then(hs[2])
		},
		channels: func(n int) {
			c1, c2, c3 := newChan(), newChan(), newChan()
			runAll(source(n, c1), func() { relay(n, c1, c2) }, func() { relay(n, c2, c3) }, sink(n, c3))
		}})
}

// BenchmarkDiamond: two stages in parallel, a third behind both (over channels it takes one event
// from each per event).
func BenchmarkDiamond(b *testing.B) {
	benchShape(b, shape{publishers: 1, handlers: 3,
		wire: func(d *disruptor.Disruptor[benchEvent], hs []disruptor.Handler[benchEvent]) {
			d.HandleEventsWith(hs[0]).And(d.HandleEventsWith(hs[1])).Then(hs[2])
		},
		channels: func(n int) {
			a, bc, ja, jb := newChan(), newChan(), newChan(), newChan()
			join := func() {
				for range n {
					<-ja
					<-jb
				}
			}
			runAll(source(n, a, bc), func() { relay(n, a, ja) }, func() { relay(n, bc, jb) }, join)
		}})
}
