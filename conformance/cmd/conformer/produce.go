package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// waitStrategy is how the conformer waits for room or for events: a few yields, then sleeps of
// 20 microseconds doubling to 1 millisecond. It never spins without yielding (PROTOCOL.md), and
// it does not depend on the peer implementation waking it through the futex words.
var waitStrategy = coordination.Sleep(20*time.Microsecond, time.Millisecond)

// pollEvery is the period of the conformer's own polls (registry states).
const pollEvery = time.Millisecond

type produceArgs struct {
	name          string
	count         uint64
	producerID    uint64
	capacity      uint64
	mode          producer.Mode
	attach        bool
	batch         uint64
	waitConsumers uint64
	waitProducers uint64
	timeout       time.Duration

	// --framed [--slot-size S] [--max-message M] [--die-mid-frame D] (PROTOCOL.md, produce).
	framed     bool
	slotSize   uint64
	maxMessage uint64 // 0: the largest the geometry allows
	dieAt      uint64 // --die-mid-frame D; noDeath without it

	// Hidden flags, for the Go conformer only (the crash scenario of matrix_test.go); not part
	// of PROTOCOL.md.
	waitClaimed    uint64 // --wait-claimed X: before publishing, wait until the claimed count is at least X
	hangAfterClaim uint64 // --hang-after-claim B: after publishing, claim B more, print a claimed line, hang
}

func parseProduce(args []string) (produceArgs, error) {
	var a produceArgs
	fs, err := parseFlags(args,
		[]string{"name", "count", "producer", "capacity", "mode", "batch", "wait-consumers", "wait-producers",
			"timeout-ms", "wait-claimed", "hang-after-claim", "slot-size", "max-message", "die-mid-frame"},
		[]string{"attach", "framed"})
	if err != nil {
		return a, err
	}
	if a.name, err = fs.str("name", true); err != nil {
		return a, err
	}
	if a.count, err = fs.uint("count", 0, true); err != nil {
		return a, err
	}
	if a.producerID, err = fs.uint("producer", 0, false); err != nil {
		return a, err
	}
	if a.capacity, err = fs.uint("capacity", 1024, false); err != nil {
		return a, err
	}
	switch m, _ := fs.str("mode", false); m {
	case "", "single":
		a.mode = producer.Single
	case "multi":
		a.mode = producer.Multi
	default:
		return a, usagef("--mode %q: want single or multi", m)
	}
	a.attach = fs.has("attach")
	if a.batch, err = fs.uint("batch", 1, false); err != nil {
		return a, err
	}
	if a.batch == 0 {
		return a, usagef("--batch must be at least 1")
	}
	if a.waitConsumers, err = fs.uint("wait-consumers", 0, false); err != nil {
		return a, err
	}
	if a.waitProducers, err = fs.uint("wait-producers", 0, false); err != nil {
		return a, err
	}
	if a.waitClaimed, err = fs.uint("wait-claimed", 0, false); err != nil {
		return a, err
	}
	if a.hangAfterClaim, err = fs.uint("hang-after-claim", 0, false); err != nil {
		return a, err
	}
	if a.hangAfterClaim != 0 && a.mode != producer.Multi && !a.attach {
		return a, usagef("--hang-after-claim needs a multi-producer ring")
	}
	ms, err := fs.uint("timeout-ms", 20000, false)
	if err != nil {
		return a, err
	}
	a.timeout = time.Duration(ms) * time.Millisecond
	return a, parseFramed(fs, &a)
}

// noDeath is dieAt without --die-mid-frame: no message has this number.
const noDeath = ^uint64(0)

// parseFramed reads --framed and the flags that need it.
func parseFramed(fs *flagSet, a *produceArgs) error {
	var err error
	a.framed = fs.has("framed")
	if !a.framed {
		for _, f := range []string{"slot-size", "max-message", "die-mid-frame"} {
			if fs.has(f) {
				return usagef("--%s needs --framed", f)
			}
		}
		return nil
	}
	if a.hangAfterClaim != 0 || a.waitClaimed != 0 {
		return usagef("--hang-after-claim and --wait-claimed are for fixed rings")
	}
	if a.slotSize, err = fs.uint("slot-size", 64, false); err != nil {
		return err
	}
	if a.slotSize%layout.MinFrameAlign != 0 || a.slotSize <= layout.FrameHeaderLen || a.slotSize > math.MaxUint32 {
		return usagef("--slot-size %d: want a multiple of %d above %d", a.slotSize, layout.MinFrameAlign, layout.FrameHeaderLen)
	}
	if a.maxMessage, err = fs.uint("max-message", 0, false); err != nil {
		return err
	}
	if fs.has("max-message") && (a.maxMessage == 0 || a.maxMessage > math.MaxUint32) {
		return usagef("--max-message %d: want 1 to %d", a.maxMessage, uint32(math.MaxUint32))
	}
	if a.dieAt, err = fs.uint("die-mid-frame", noDeath, false); err != nil {
		return err
	}
	return nil
}

func produce(args []string) error {
	a, err := parseProduce(args)
	if err != nil {
		return err
	}
	if a.framed {
		return produceFramed(a)
	}
	b := segment.SharedMemory(a.name)
	opts := producerOptions(a)
	var p *producer.Producer[conformance.Event]
	if a.attach {
		p, err = producer.Attach[conformance.Event](b, a.timeout, opts)
	} else {
		p, err = producer.Create[conformance.Event](b, opts)
	}
	if err != nil {
		return classify(err)
	}
	publish := func() error {
		if a.waitClaimed != 0 {
			v := p.Segment().View()
			if err := poll(a.timeout, func() bool { return v.Cursors().ClaimedCount() >= a.waitClaimed }); err != nil {
				return fmt.Errorf("waiting for the claimed count to reach %d: %w", a.waitClaimed, err)
			}
		}
		batch := min(a.batch, p.Segment().View().Capacity())
		for k := uint64(0); k < a.count; {
			n := min(batch, a.count-k)
			first := k
			err := p.PublishBatch(int(n), func(i int, ev *conformance.Event) {
				conformance.Fill(ev, first+uint64(i), a.producerID)
			})
			if err != nil {
				return fmt.Errorf("publishing event %d: %w", k, err)
			}
			k += n
		}
		if a.hangAfterClaim != 0 {
			return hang(p, a)
		}
		return nil
	}
	return lifecycle(a, p, publish)
}

// producerOptions are the producer options of the protocol for a: registry capacity 8; in multi
// mode 8 producer entries; a stale segment of the same name replaced.
func producerOptions(a produceArgs) producer.Options {
	opts := producer.Options{
		Capacity:     a.capacity,
		Registry:     8,
		Mode:         a.mode,
		TypeName:     conformance.TypeName,
		Wait:         waitStrategy,
		Timeout:      a.timeout,
		CloseTimeout: a.timeout, // the end of a multi stream waits for every claimed sequence
		Replace:      true,      // "replacing a stale one of the same name"
		Keep:         true,      // the name is removed below, after the registry line
	}
	if a.mode == producer.Multi {
		opts.Producers = 8 // PROTOCOL.md: producer registry capacity 8 in multi mode
	}
	return opts
}

// ringProducer is what the producer's lifecycle needs of a fixed or a framed producer.
type ringProducer interface {
	Segment() *segment.Segment
	Close() error
}

// lifecycle runs the part of produce that is the same for fixed and framed rings: wait for the
// consumers, publish, then either detach (--attach) or end the stream, print the registry line
// and remove the segment (PROTOCOL.md, produce).
func lifecycle(a produceArgs, p ringProducer, publish func() error) error {
	b := segment.SharedMemory(a.name)
	v := p.Segment().View()
	closeErr := func(err error) error {
		// On failure the segment is still removed if this process created it, so that a failed
		// run leaves nothing behind.
		if !a.attach {
			_ = segment.Remove(b)
		}
		return errors.Join(classify(err), p.Close())
	}

	if err := waitActive(v, func(n uint64) bool { return n >= a.waitConsumers }, a.timeout); err != nil {
		return closeErr(fmt.Errorf("waiting for %d consumers: %w", a.waitConsumers, err))
	}
	if err := publish(); err != nil {
		return closeErr(err)
	}
	if a.attach {
		return classify(p.Close()) // an attached producer only detaches: its entry becomes closed
	}

	if v.Header().ProducerMode == layout.MultiProducer {
		if err := poll(a.timeout, func() bool { return leftProducers(v) >= a.waitProducers }); err != nil {
			return closeErr(fmt.Errorf("waiting for %d attached producers to leave (%d did): %w", a.waitProducers, leftProducers(v), err))
		}
	}
	// Close ends the stream (multi mode: closes claimed to claims and waits until every claimed
	// sequence is published or a gap, spec 5.4), stores producer_state = 2 and wakes the
	// consumers (spec 5.3). It also unmaps the producer's reference, so this process keeps one
	// of its own for the registry line.
	seg := p.Segment()
	if err := seg.Acquire(); err != nil {
		return closeErr(err)
	}
	closed := p.Close()
	drained := waitActive(v, func(n uint64) bool { return n == 0 }, a.timeout)
	emitRegistry(v)
	removeErr := segment.Remove(b)
	releaseErr := seg.Release()
	switch {
	case closed != nil:
		return classify(closed)
	case drained != nil:
		return fail("timeout", exitSegment, fmt.Errorf("waiting for the consumers to deregister: %w", drained))
	case removeErr != nil:
		return classify(removeErr)
	}
	return classify(releaseErr)
}

// hang is --hang-after-claim B: claim B sequences as the next events of this producer, announce
// the claim on standard output, and never publish it. The test kills the process with SIGKILL,
// leaving a dead producer's claim for the consumers to pass over (spec 5.8). If nobody kills it,
// it exits after the timeout, still without publishing (which leaves the same state).
func hang(p *producer.Producer[conformance.Event], a produceArgs) error {
	c, err := p.Claim(int(a.hangAfterClaim))
	if err != nil {
		return classify(fmt.Errorf("claiming %d events to hang on: %w", a.hangAfterClaim, err))
	}
	emit(struct {
		Event string `json:"event"`
		Seq   uint64 `json:"seq"`
		Count int    `json:"count"`
	}{"claimed", c.Seq(0), c.Len()})
	time.Sleep(a.timeout)
	os.Exit(exitSegment) // as if killed: no Close, the producer entry stays active
	return nil
}

// leftProducers counts the producer entries other than the creator's (1..) that attached
// producers registered and left again: closed or dead, or active with a dead owner whose claims
// are all resolved (spec 5.8: such an entry is retired only by a later attach).
func leftProducers(v *layout.View) uint64 {
	var n uint64
	for i := 1; i < v.Producers(); i++ {
		e := v.Producer(i)
		switch e.Load().State() {
		case layout.ProducerClosed, layout.ProducerDead:
			n++
		case layout.ProducerActive:
			if liveness.ProducerDead(e) && liveness.Resolved(v, e) {
				n++
			}
		}
	}
	return n
}

// poll calls ok every pollEvery until it returns true, or timeout passes.
func poll(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w after %v", coordination.ErrTimeout, timeout)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// activeEntries counts the registry entries whose state is active.
func activeEntries(v *layout.View) uint64 {
	var n uint64
	for _, e := range v.AllEntries() {
		if e.Ready() {
			n++
		}
	}
	return n
}

// waitActive polls the registry until ok accepts the number of active entries, or timeout passes.
func waitActive(v *layout.View, ok func(uint64) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !ok(activeEntries(v)) {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w after %v (%d entries active)", coordination.ErrTimeout, timeout, activeEntries(v))
		}
		time.Sleep(pollEvery)
	}
	return nil
}

type registryEntry struct {
	Index  int    `json:"index"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Cursor uint64 `json:"cursor"`
}

// emitRegistry prints the registry line: every entry that is not free, in index order.
func emitRegistry(v *layout.View) {
	entries := []registryEntry{}
	for i, e := range v.AllEntries() {
		st := e.Load().State()
		if st == layout.EntryFree {
			continue
		}
		entries = append(entries, registryEntry{Index: i, Name: e.NameString(), State: layout.StateName(st), Cursor: e.Cursor.Load()})
	}
	emit(struct {
		Event   string          `json:"event"`
		Entries []registryEntry `json:"entries"`
	}{"registry", entries})
}
