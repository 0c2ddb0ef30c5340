package bench

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// shape is the topology of an in-process throughput scenario.
type shape string

// The in-process shapes. Every consumer sees every event (a broadcast, as in the LMAX
// disruptor), so the channel baselines fan out by sending each event to one channel per reader.
const (
	shapeSPSC     shape = "SPSC"     // one producer, one consumer
	shapeMPSC     shape = "MPSC"     // two producers, one consumer
	shapeSPMC     shape = "SPMC"     // one producer, three consumers each seeing every event
	shapePipeline shape = "Pipeline" // one producer, three stages in series
	shapeDiamond  shape = "Diamond"  // one producer, two stages in parallel, a third behind both
)

// shapes lists every shape in table order.
var shapes = []shape{shapeSPSC, shapeMPSC, shapeSPMC, shapePipeline, shapeDiamond}

// threads is the number of goroutines (each on its own OS thread) a shape runs.
func (s shape) threads() int {
	switch s {
	case shapeSPSC:
		return 2
	case shapeMPSC:
		return 3
	default:
		return 4
	}
}

// producers is the number of publishing goroutines.
func (s shape) producers() int {
	if s == shapeMPSC {
		return 2
	}
	return 1
}

// config is one in-process scenario.
type config struct {
	Shape     shape
	EventSize int    // bytes: one of EventSizes
	Capacity  int    // ring slots, and the channel buffer
	Batch     int    // events per publish (1 = one at a time); channels always send one
	Wait      string // "busy-spin", "yield" or "blocking"; see WaitFor
}

// defaultWait is the wait a shape runs with: busy-spin when its threads fit the machine's cores
// (never more spinning threads than cores), else yield.
func defaultWait(s shape) string {
	if s.threads() <= runtime.NumCPU() {
		return "busy-spin"
	}
	return "yield"
}

// waitFor returns the strategy of a wait name.
func waitFor(name string) (coordination.Strategy, error) {
	switch name {
	case "busy-spin":
		return coordination.BusySpin(), nil
	case "yield":
		return coordination.Yield(), nil
	case "blocking":
		return coordination.Blocking(), nil
	}
	return nil, fmt.Errorf("unknown wait %q (busy-spin, yield, blocking)", name)
}

// inProcess moves n events through a heap ring in cfg's shape and returns the time from the first
// publish to the last consumer finishing. Every consumer checks that it saw every event in order.
func inProcess(cfg config, n int) (time.Duration, error) {
	defer noGC()()
	return bySize(cfg.EventSize,
		func() (time.Duration, error) { return ringShape[event8](cfg, n) },
		func() (time.Duration, error) { return ringShape[event64](cfg, n) },
		func() (time.Duration, error) { return ringShape[event256](cfg, n) },
		func() (time.Duration, error) { return ringShape[event1024](cfg, n) },
		func() (time.Duration, error) { return ringShape[event4096](cfg, n) })
}

// channelShape is inProcess over buffered Go channels of cfg.Capacity: one channel for SPSC and
// MPSC (two senders), one per reader for SPMC, one per hop for Pipeline, and four for Diamond
// (producer to each of the two parallel stages, each of them to the joining stage, which takes one
// from each per event). Batch and Wait do not apply.
func channelShape(cfg config, n int) (time.Duration, error) {
	defer noGC()()
	return bySize(cfg.EventSize,
		func() (time.Duration, error) { return chanShape[event8](cfg, n) },
		func() (time.Duration, error) { return chanShape[event64](cfg, n) },
		func() (time.Duration, error) { return chanShape[event256](cfg, n) },
		func() (time.Duration, error) { return chanShape[event1024](cfg, n) },
		func() (time.Duration, error) { return chanShape[event4096](cfg, n) })
}

// noGC collects garbage now and turns the collector off until the returned function runs. An
// in-process run has as many spinning goroutines as cores: a collection during it (of what earlier
// runs left) takes a core from one of them, and the run measured 100 instead of 250 M events/s.
// Runs allocate little (the ring, a few goroutines), so the heap stays small meanwhile.
func noGC() func() {
	runtime.GC()
	old := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(old) }
}

// producerShift puts the producer's index above the sequence in MPSC events, so the consumer can
// check each producer's order.
const producerShift = 48

// checker verifies one reader's events: in order for one producer, in order per producer for two.
type checker struct {
	next [2]uint64
	err  error
}

func (k *checker) see(v uint64) {
	p := v >> producerShift
	if p > 1 {
		k.fail(fmt.Errorf("event %#x has producer %d", v, p))
		return
	}
	if s := v & (1<<producerShift - 1); s != k.next[p] {
		k.fail(fmt.Errorf("producer %d: got event %d, want %d", p, s, k.next[p]))
	}
	k.next[p]++
}

func (k *checker) fail(err error) {
	if k.err == nil {
		k.err = err
	}
}

func (k *checker) done(perProducer int, producers int) error {
	if k.err != nil {
		return k.err
	}
	for p := 0; p < producers; p++ {
		if k.next[p] != uint64(perProducer) {
			return fmt.Errorf("producer %d: received %d of %d events", p, k.next[p], perProducer)
		}
	}
	return nil
}

// threadSetup pins the goroutine of thread i to a CPU when the shape fits the cores (2 threads on
// 2 cores: CPU 0 and 1), else only locks it to an OS thread, and returns the undo function.
func threadSetup(threads, i int) func() {
	if threads <= runtime.NumCPU() {
		return pin(i % runtime.NumCPU())
	}
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// withProcs raises GOMAXPROCS to at least threads for the run. Yield waits call sched_yield, which
// hands the CPU to another OS thread, not to another goroutine of the same P: with 4 spinning
// goroutines on 2 Ps, the two without a P would run only at the next preemption (about 10 ms). One
// P per thread lets the kernel share the cores among all of them.
func withProcs(threads int) func() {
	old := runtime.GOMAXPROCS(0)
	if threads > old {
		runtime.GOMAXPROCS(threads)
	}
	return func() { runtime.GOMAXPROCS(old) }
}

type stageDef struct {
	name  string
	after []string
}

func stagesOf(s shape) []stageDef {
	switch s {
	case shapeSPMC:
		return []stageDef{{"c0", nil}, {"c1", nil}, {"c2", nil}}
	case shapePipeline:
		return []stageDef{{"s1", nil}, {"s2", []string{"s1"}}, {"s3", []string{"s2"}}}
	case shapeDiamond:
		return []stageDef{{"a", nil}, {"b", nil}, {"join", []string{"a", "b"}}}
	}
	return []stageDef{{"c0", nil}}
}

func ringShape[E any](cfg config, n int) (time.Duration, error) {
	w, err := waitFor(cfg.Wait)
	if err != nil {
		return 0, err
	}
	threads := cfg.Shape.threads()
	defer withProcs(threads)()
	np := cfg.Shape.producers()
	mode := producer.Single
	if np > 1 {
		mode = producer.Multi
	}
	opts := producer.Options{Capacity: uint64(cfg.Capacity), Mode: mode, Wait: w}
	p0, err := producer.Create[E](segment.Heap(), opts)
	if err != nil {
		return 0, err
	}
	prods := []*producer.Producer[E]{p0}
	closeAll := func() {
		for i := len(prods) - 1; i >= 0; i-- {
			prods[i].Close()
		}
	}
	for len(prods) < np {
		p, err := producer.Register[E](p0.Segment(), opts)
		if err != nil {
			closeAll()
			return 0, err
		}
		prods = append(prods, p)
	}
	var cons []*consumer.Consumer[E]
	for _, st := range stagesOf(cfg.Shape) {
		c, err := consumer.Register[E](p0.Segment(), consumer.Options{Name: st.name, After: st.after, Wait: w})
		if err != nil {
			for _, c := range cons {
				c.Close()
			}
			closeAll()
			return 0, err
		}
		cons = append(cons, c)
	}
	per := n / np
	var wg sync.WaitGroup
	errs := make([]error, len(cons)+np)
	for i, c := range cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer threadSetup(threads, np+i)()
			var k checker
			err := consumeAll(c, cfg.Batch, k.see)
			if err == nil {
				err = k.done(per, np)
			}
			errs[i] = err
			c.Close()
		}()
	}
	var pw sync.WaitGroup
	start := time.Now()
	for j := 1; j < np; j++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			defer threadSetup(threads, j)()
			errs[len(cons)+j] = publishN(prods[j], per, cfg.Batch, uint64(j)<<producerShift)
		}()
	}
	undo := threadSetup(threads, 0)
	errs[len(cons)] = publishN(p0, per, cfg.Batch, 0)
	undo()
	pw.Wait()
	closeAll()
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}

// publishN publishes n events whose sequence words are base+i, in batches of batch.
func publishN[E any](p *producer.Producer[E], n, batch int, base uint64) error {
	if batch <= 1 {
		for i := 0; i < n; i++ {
			v := base + uint64(i)
			if err := p.Publish(func(e *E) { *seqOf(e) = v }); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		cl, err := p.Claim(k)
		if err != nil {
			return err
		}
		first, second := cl.Slices()
		s := base + uint64(i)
		for j := range first {
			*seqOf(&first[j]) = s
			s++
		}
		for j := range second {
			*seqOf(&second[j]) = s
			s++
		}
		if err := p.PublishClaim(cl); err != nil {
			return err
		}
	}
	return nil
}

// consumeAll reads until the end of the stream, whole runs at a time when batching (no call per
// event), one event per handler call otherwise.
func consumeAll[E any](c *consumer.Consumer[E], batch int, see func(uint64)) error {
	if batch <= 1 {
		return c.Run(func(e *E, _ uint64, _ bool) error {
			see(*seqOf(e))
			return nil
		})
	}
	for {
		_, err := c.ProcessSlices(func(evs []E, _ uint64) error {
			for i := range evs {
				see(*seqOf(&evs[i]))
			}
			return nil
		}, 0)
		if errors.Is(err, consumer.ErrEndOfStream) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func chanShape[E any](cfg config, n int) (time.Duration, error) {
	threads := cfg.Shape.threads()
	defer withProcs(threads)()
	np := cfg.Shape.producers()
	per := n / np
	mk := func() chan E { return make(chan E, cfg.Capacity) }
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// reader checks every event of in and forwards it to each of outs, then closes them.
	reader := func(idx int, in chan E, outs ...chan E) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer threadSetup(threads, np+idx)()
			var k checker
			for e := range in {
				k.see(*seqOf(&e))
				for _, o := range outs {
					o <- e
				}
			}
			for _, o := range outs {
				close(o)
			}
			report(k.done(per, np))
		}()
	}
	var heads []chan E // what the producers send every event to
	switch cfg.Shape {
	case shapeSPSC, shapeMPSC:
		ch := mk()
		heads = []chan E{ch}
		reader(0, ch)
	case shapeSPMC:
		heads = []chan E{mk(), mk(), mk()}
		for i, ch := range heads {
			reader(i, ch)
		}
	case shapePipeline:
		a, b, c := mk(), mk(), mk()
		heads = []chan E{a}
		reader(0, a, b)
		reader(1, b, c)
		reader(2, c)
	case shapeDiamond:
		a, b, ac, bc := mk(), mk(), mk(), mk()
		heads = []chan E{a, b}
		reader(0, a, ac)
		reader(1, b, bc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer threadSetup(threads, np+2)()
			var k checker
			for e := range ac {
				f, ok := <-bc
				if !ok || *seqOf(&f) != *seqOf(&e) {
					k.fail(fmt.Errorf("join: stages disagree at event %d", *seqOf(&e)))
				}
				k.see(*seqOf(&e))
			}
			report(k.done(per, np))
		}()
	default:
		return 0, fmt.Errorf("unknown shape %q", cfg.Shape)
	}
	send := func(base uint64) {
		var e E
		for i := 0; i < per; i++ {
			*seqOf(&e) = base + uint64(i)
			for _, h := range heads {
				h <- e
			}
		}
	}
	var pw sync.WaitGroup
	start := time.Now()
	for j := 1; j < np; j++ {
		pw.Add(1)
		go func() {
			defer pw.Done()
			defer threadSetup(threads, j)()
			send(uint64(j) << producerShift)
		}()
	}
	undo := threadSetup(threads, 0)
	send(0)
	undo()
	pw.Wait()
	for _, h := range heads {
		close(h)
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}
