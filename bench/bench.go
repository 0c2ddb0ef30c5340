// Package bench measures ringwire against its baselines. Each scenario is a function that moves a
// number of events from producers to consumers (or bounces one between processes) and returns the
// elapsed time or a latency histogram; Run (the rwbench command) runs the quick or full set,
// median of several runs per figure, every ratio between figures of the same run, and writes the
// tables and charts of bench/results. Its tests run every scenario once, small, so that a broken
// scenario fails a test rather than printing a number. The library's own `go test -bench` of the
// in-process shapes is disruptor/bench_test.go.
package bench

import (
	"fmt"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/producer"
)

// pin locks the calling goroutine to cpu (a no-op where pinning is unsupported) and returns the
// undo function.
func pin(cpu int) func() {
	if err := sys.Pin(cpu); err != nil {
		return func() {}
	}
	return sys.Unpin
}

// produce publishes n events numbered from 0, one at a time (batch 1) or in claims of batch
// written as slices. It is publishN written out for Event64: in the generic version the
// sequence store goes through a call per event (GC-shape stenciling), which costs a third of the
// cross-process throughput.
func produce(p *producer.Producer[event64], n, batch int) error {
	if batch <= 1 {
		return publishN(p, n, batch, 0)
	}
	for i := 0; i < n; i += batch {
		cl, err := p.Claim(min(batch, n-i))
		if err != nil {
			return err
		}
		first, second := cl.Slices()
		s := uint64(i)
		for j := range first {
			first[j].Seq = s
			s++
		}
		for j := range second {
			second[j].Seq = s
			s++
		}
		if err := p.PublishClaim(cl); err != nil {
			return err
		}
	}
	return nil
}

// drain consumes until the end of the stream and checks that n events arrived in order.
func drain(c *consumer.Consumer[event64], n int) error {
	var want uint64
	err := c.Run(func(e *event64, _ uint64, _ bool) error {
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

// inProcessSPSC moves n 64-byte events through a heap ring of the given capacity between two
// pinned goroutines, busy-spinning, and returns the elapsed time.
func inProcessSPSC(n, capacity, batch int) (time.Duration, error) {
	return inProcess(config{Shape: shapeSPSC, EventSize: 64, Capacity: capacity, Batch: batch, Wait: "busy-spin"}, n)
}

// channel moves n 64-byte events through a buffered Go channel of the given capacity between two
// pinned goroutines: the baseline a Go user would reach for first.
func channel(n, capacity int) (time.Duration, error) {
	return channelShape(config{Shape: shapeSPSC, EventSize: 64, Capacity: capacity, Batch: 1}, n)
}
