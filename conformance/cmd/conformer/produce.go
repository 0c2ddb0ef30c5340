package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
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
	timeout       time.Duration
}

func parseProduce(args []string) (produceArgs, error) {
	var a produceArgs
	fs, err := parseFlags(args,
		[]string{"name", "count", "producer", "capacity", "mode", "batch", "wait-consumers", "timeout-ms"},
		[]string{"attach"})
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
	ms, err := fs.uint("timeout-ms", 20000, false)
	if err != nil {
		return a, err
	}
	a.timeout = time.Duration(ms) * time.Millisecond
	return a, nil
}

func produce(args []string) error {
	a, err := parseProduce(args)
	if err != nil {
		return err
	}
	b := segment.SharedMemory(a.name)
	opts := producer.Options{
		Capacity: a.capacity,
		Registry: 8,
		Mode:     a.mode,
		TypeName: conformance.TypeName,
		Wait:     waitStrategy,
		Timeout:  a.timeout,
		Replace:  true, // "replacing a stale one of the same name"
		Keep:     true, // the name is removed below, after the registry line
	}
	var p *producer.Producer[conformance.Event]
	if a.attach {
		p, err = producer.Attach[conformance.Event](b, a.timeout, opts)
	} else {
		p, err = producer.New[conformance.Event](b, opts)
	}
	if err != nil {
		return classify(err)
	}
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
	batch := min(a.batch, v.Capacity())
	for k := uint64(0); k < a.count; {
		n := min(batch, a.count-k)
		first := k
		err := p.PublishBatch(int(n), func(i int, ev *conformance.Event) {
			conformance.Fill(ev, first+uint64(i), a.producerID)
		})
		if err != nil {
			return closeErr(fmt.Errorf("publishing event %d: %w", k, err))
		}
		k += n
	}
	if a.attach {
		return classify(p.Close()) // an attached producer only detaches
	}

	// Spec 5.3: a producer that closes stores producer_state = 2, then wakes the consumers.
	v.Header().ProducerState.Store(layout.ProducerClosed)
	coordination.Notify(&v.Wait().Consumer)
	drained := waitActive(v, func(n uint64) bool { return n == 0 }, a.timeout)
	emitRegistry(v)
	removeErr := segment.Remove(b)
	closed := p.Close()
	if drained != nil {
		return fail("timeout", exitSegment, fmt.Errorf("waiting for the consumers to deregister: %w", drained))
	}
	if removeErr != nil {
		return classify(removeErr)
	}
	return classify(closed)
}

// activeEntries counts the registry entries whose state is active.
func activeEntries(v *layout.View) uint64 {
	var n uint64
	for i := 0; i < v.Entries(); i++ {
		if v.Entry(i).State.Load() == layout.EntryActive {
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
	for i := 0; i < v.Entries(); i++ {
		e := v.Entry(i)
		st := e.State.Load()
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
