package bench

import (
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// latency is the distribution of one latency scenario, in nanoseconds.
type latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ns"`
	P99     float64 `json:"p99_ns"`
	P999    float64 `json:"p999_ns"`
	Max     float64 `json:"max_ns"`
	Mean    float64 `json:"mean_ns"`
}

// newHist records 1 ns to 10 s with 3 significant digits (0.1% resolution).
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 10_000_000_000, 3) }

// latencyOf reads h, dividing every value by div (2 for a round trip).
func latencyOf(h *hdrhistogram.Histogram, div float64) latency {
	return latency{
		Samples: int(h.TotalCount()),
		P50:     float64(h.ValueAtQuantile(50)) / div,
		P99:     float64(h.ValueAtQuantile(99)) / div,
		P999:    float64(h.ValueAtQuantile(99.9)) / div,
		Max:     float64(h.Max()) / div,
		Mean:    h.Mean() / div,
	}
}

// pingPongWait bounces one 64-byte event between two Go processes pinned to CPUs 0 and 1 over two
// rings, ping->pong and pong->ping, both sides waiting with wait, and returns the one-way latency
// (round trip / 2) of samples round trips after warmup unrecorded ones. As in the C ping-pong
// baseline, the clock is read once per round trip and a sample is the time between two reads, so
// each includes one clock read and the recording of the previous sample.
func (t tools) pingPongWait(wait string, samples, warmup int) (latency, error) {
	if _, err := waitFor(wait); err != nil {
		return latency{}, err
	}
	return t.pingPong(langGo, wait, samples, warmup)
}

// pingPongIn is the busy-spin pingPongWait with both processes in lang (C or Rust: the rwperf
// programs of bench/interop, which poll the ring themselves, reading the next slot as they do).
func (t tools) pingPongIn(lang lang, samples, warmup int) (latency, error) {
	return t.pingPong(lang, "busy-spin", samples, warmup)
}

func (t tools) pingPong(lang lang, wait string, samples, warmup int) (latency, error) {
	there, rmThere := newName()
	defer rmThere()
	back, rmBack := newName()
	defer rmBack()
	pi := role{Role: "ping", Name: there, Back: back, Events: samples, Warmup: warmup, Wait: wait, CPU: 0}
	po := role{Role: "pong", Name: there, Back: back, Events: samples + warmup, Wait: wait, CPU: 1}
	timeout := 60*time.Second + time.Duration(samples+warmup)*200*time.Microsecond
	pingOut, _, err := t.runPair(lang, lang, pi, po, timeout)
	if err != nil {
		return latency{}, err
	}
	var l latency
	return l, lastJSON(pingOut, &l)
}

// ping creates the ping->pong ring, attaches to the pong->ping ring, and times round trips.
func ping(r role) error {
	w, err := waitFor(r.Wait)
	if err != nil {
		return err
	}
	p, err := producer.Create[event64](segment.SharedMemory(r.Name), producer.Options{Capacity: 64, Wait: w, Registry: 2})
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.Attach[event64](segment.SharedMemory(r.Back), consumer.Options{Name: "ping", Wait: w, AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	h := newHist()
	var e event64
	// time.Since reads only the monotonic clock (time.Now reads the wall clock too): one
	// CLOCK_MONOTONIC read per round trip, as in the C baseline.
	epoch := time.Now()
	prev := time.Since(epoch)
	for i := 0; i < r.Warmup+r.Events; i++ {
		seq := uint64(i)
		if err := p.Publish(func(e *event64) { e.Seq = seq }); err != nil {
			return err
		}
		if _, err := c.Read(&e); err != nil {
			return err
		}
		now := time.Since(epoch)
		if e.Seq != seq {
			return fmt.Errorf("pong answered %d to %d", e.Seq, seq)
		}
		if i >= r.Warmup {
			h.RecordValue(int64(now - prev))
		}
		prev = now
	}
	return printJSON(latencyOf(h, 2))
}

// pong creates the pong->ping ring, attaches to the ping->pong ring, and echoes every event.
func pong(r role) error {
	w, err := waitFor(r.Wait)
	if err != nil {
		return err
	}
	p, err := producer.Create[event64](segment.SharedMemory(r.Back), producer.Options{Capacity: 64, Wait: w, Registry: 2})
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := consumer.Attach[event64](segment.SharedMemory(r.Name), consumer.Options{Name: "pong", Wait: w, AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	var e event64
	for {
		if _, err := c.Read(&e); err != nil {
			if errors.Is(err, consumer.ErrEndOfStream) {
				return nil
			}
			return err
		}
		seq := e.Seq
		if err := p.Publish(func(e *event64) { e.Seq = seq }); err != nil {
			return err
		}
	}
}

// wakeUp measures the blocking strategy's wake-up: a producer process (CPU 0) publishes one event
// every gap, long enough for the consumer process (CPU 1, coordination.Blocking) to be asleep in
// the kernel, and the consumer records the time from just before the publish (a CLOCK_MONOTONIC
// stamp in the event) to its Read returning.
func (t tools) wakeUp(samples int, gap time.Duration) (latency, error) {
	name, remove := newName()
	defer remove()
	pr := role{Role: "wake-produce", Name: name, Events: samples, GapUs: int(gap / time.Microsecond), CPU: 0}
	cr := role{Role: "wake-consume", Name: name, Events: samples, CPU: 1}
	timeout := 60*time.Second + time.Duration(samples)*(gap+time.Millisecond)
	co, _, err := t.runPair(langGo, langGo, cr, pr, timeout)
	if err != nil {
		return latency{}, err
	}
	var l latency
	return l, lastJSON(co, &l)
}

func wakeProduce(r role) error {
	w, _ := waitFor("blocking")
	p, err := producer.Create[event64](segment.SharedMemory(r.Name), producer.Options{Capacity: 64, Wait: w, Registry: 2})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	gap := time.Duration(r.GapUs) * time.Microsecond
	for i := 0; i < r.Events; i++ {
		time.Sleep(gap)
		if err := p.Publish(func(e *event64) { e.Seq = sys.Monotonic() }); err != nil {
			return err
		}
	}
	return p.Close()
}

func wakeConsume(r role) error {
	w, _ := waitFor("blocking")
	c, err := consumer.Attach[event64](segment.SharedMemory(r.Name), consumer.Options{Name: "wake", Wait: w, AttachTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	h := newHist()
	var e event64
	for i := 0; i < r.Events; i++ {
		if _, err := c.Read(&e); err != nil {
			return err
		}
		now := sys.Monotonic()
		if now < e.Seq {
			return fmt.Errorf("event stamped %d after it was read (%d)", e.Seq, now)
		}
		h.RecordValue(int64(now - e.Seq))
	}
	return printJSON(latencyOf(h, 1))
}
