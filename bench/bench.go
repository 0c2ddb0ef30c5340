// Package bench measures ringwire against its baselines. Each scenario is a function that moves a
// number of 64-byte events from a producer to a consumer and returns the elapsed time; the
// rwbench command runs them (medians of several runs, every ratio within one run) and
// bench_test.go exposes the in-process ones to `go test -bench`.
package bench

import (
	"fmt"
	"sync"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// Event64 is the 64-byte event every throughput scenario carries.
type Event64 struct {
	Seq     uint64
	Payload [56]byte
}

// Pin locks the calling goroutine to cpu (a no-op where pinning is unsupported) and returns the
// undo function.
func Pin(cpu int) func() {
	if err := sys.Pin(cpu); err != nil {
		return func() {}
	}
	return sys.Unpin
}

// Produce publishes n events in batches of batch (1 = Publish one at a time).
func Produce(p *producer.Producer[Event64], n, batch int) error {
	if batch <= 1 {
		for i := 0; i < n; i++ {
			seq := uint64(i)
			if err := p.Publish(func(e *Event64) { e.Seq = seq }); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		base := uint64(i)
		if err := p.PublishBatch(k, func(j int, e *Event64) { e.Seq = base + uint64(j) }); err != nil {
			return err
		}
	}
	return nil
}

// Drain consumes until the end of the stream and checks that n events arrived in order.
func Drain(c *consumer.Consumer[Event64], n int) error {
	var want uint64
	err := c.Run(func(e *Event64, _ uint64, _ bool) error {
		if e.Seq != want {
			return fmt.Errorf("got event %d, want %d", e.Seq, want)
		}
		want++
		return nil
	})
	if err != nil {
		return err
	}
	if want != uint64(n) {
		return fmt.Errorf("received %d of %d events", want, n)
	}
	return nil
}

// InProcessSPSC moves n events through a heap ring of the given capacity between two pinned
// goroutines, busy-spinning, and returns the elapsed time.
func InProcessSPSC(n, capacity, batch int) (time.Duration, error) {
	p, err := producer.New[Event64](segment.Heap(), producer.Options{Capacity: uint64(capacity), Wait: coordination.BusySpin()})
	if err != nil {
		return 0, err
	}
	c, err := consumer.New[Event64](p.Segment(), consumer.Options{Name: "bench", Wait: coordination.BusySpin()})
	if err != nil {
		p.Close()
		return 0, err
	}
	var wg sync.WaitGroup
	var cerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer Pin(1)()
		cerr = Drain(c, n)
		c.Close()
	}()
	unpin := Pin(0)
	start := time.Now()
	perr := Produce(p, n, batch)
	p.Close()
	wg.Wait()
	d := time.Since(start)
	unpin()
	if perr != nil {
		return 0, perr
	}
	return d, cerr
}

// Channel moves n events through a buffered Go channel of the given capacity between two pinned
// goroutines: the baseline a Go user would reach for first.
func Channel(n, capacity int) (time.Duration, error) {
	ch := make(chan Event64, capacity)
	var wg sync.WaitGroup
	var cerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer Pin(1)()
		var want uint64
		for e := range ch {
			if e.Seq != want {
				cerr = fmt.Errorf("got event %d, want %d", e.Seq, want)
			}
			want++
		}
	}()
	unpin := Pin(0)
	start := time.Now()
	for i := 0; i < n; i++ {
		ch <- Event64{Seq: uint64(i)}
	}
	close(ch)
	wg.Wait()
	d := time.Since(start)
	unpin()
	return d, cerr
}
