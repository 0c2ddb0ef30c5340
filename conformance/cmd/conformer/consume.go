package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/segment"
)

type consumeArgs struct {
	name      string
	consumer  string
	count     uint64
	producers uint64
	timeout   time.Duration
	batch     bool
	framed    bool
}

func parseConsume(args []string) (consumeArgs, error) {
	var a consumeArgs
	fs, err := parseFlags(args, []string{"name", "consumer", "count", "producers", "timeout-ms"}, []string{"batch", "framed"})
	if err != nil {
		return a, err
	}
	if a.name, err = fs.str("name", true); err != nil {
		return a, err
	}
	if a.consumer, err = fs.str("consumer", true); err != nil {
		return a, err
	}
	if a.count, err = fs.uint("count", 0, true); err != nil {
		return a, err
	}
	if a.producers, err = fs.uint("producers", 1, false); err != nil {
		return a, err
	}
	if a.producers == 0 {
		return a, usagef("--producers must be at least 1")
	}
	ms, err := fs.uint("timeout-ms", 20000, false)
	if err != nil {
		return a, err
	}
	a.timeout = time.Duration(ms) * time.Millisecond
	a.batch = fs.has("batch")
	a.framed = fs.has("framed")
	return a, nil
}

func consume(args []string) error {
	a, err := parseConsume(args)
	if err != nil {
		return err
	}
	if a.framed {
		return consumeFramed(a)
	}
	deadline := time.Now().Add(a.timeout)
	c, err := consumer.Attach[conformance.Event](segment.SharedMemory(a.name), consumer.Options{
		Name:          a.consumer,
		Start:         consumer.StartOldest,
		TypeName:      conformance.TypeName,
		Wait:          waitStrategy,
		AttachTimeout: a.timeout,
		ReadTimeout:   a.timeout, // bounded again by the overall deadline below
	})
	if err != nil {
		return classify(err)
	}
	r := &reader{c: c, tr: conformance.NewTracker(a.producers), count: a.count, deadline: deadline}
	var readErr error
	if a.batch {
		readErr = r.readBatches()
	} else {
		readErr = r.readOne()
	}
	closeErr := c.Close() // deregisters: the entry becomes closed
	if readErr == nil && closeErr != nil {
		readErr = classify(closeErr)
	}
	return done(a, r.received, r.gaps, readErr)
}

// done prints the outcome of consume: readErr's error line if it failed, then the done line.
func done(a consumeArgs, received, gaps uint64, readErr error) error {
	if readErr != nil {
		report(readErr) // the error line, then the done line saying ok false
	}
	emit(struct {
		Event     string `json:"event"`
		Consumer  string `json:"consumer"`
		Received  uint64 `json:"received"`
		Producers uint64 `json:"producers"`
		Gaps      uint64 `json:"gaps"`
		OK        bool   `json:"ok"`
	}{"done", a.consumer, received, a.producers, gaps, readErr == nil})
	if readErr != nil {
		return silent{readErr}
	}
	return nil
}

// silent is an error already reported; run only takes its exit code.
type silent struct{ error }

func (s silent) Unwrap() error { return s.error }

// reader reads count events and checks them. Sequences passed over as gaps (spec 5.8) are
// counted, not events: reading goes on after them.
type reader struct {
	c        *consumer.Consumer[conformance.Event]
	tr       *conformance.Tracker
	count    uint64
	deadline time.Time
	received uint64
	gaps     uint64
}

// gap counts err if it reports passed-over sequences.
func (r *reader) gap(err error) bool {
	var g *consumer.GapError
	if errors.As(err, &g) {
		r.gaps += g.Count
		return true
	}
	return false
}

// readOne reads events one at a time with Read.
func (r *reader) readOne() error {
	var ev conformance.Event
	for r.received < r.count {
		if !time.Now().Before(r.deadline) {
			return timedOut(r.received, r.count)
		}
		if _, err := r.c.Read(&ev); err != nil {
			if r.gap(err) {
				continue
			}
			return readFailure(err, r.received, r.count)
		}
		r.received++
		if err := r.tr.Observe(&ev); err != nil {
			return fail("verify", exitVerify, err)
		}
	}
	return nil
}

// readBatches reads every available event at once with Process, never more than are still
// expected.
func (r *reader) readBatches() error {
	var bad error
	h := func(ev *conformance.Event, _ uint64, _ bool) error {
		if err := r.tr.Observe(ev); err != nil {
			bad = err
			return err
		}
		r.received++
		return nil
	}
	for r.received < r.count {
		if !time.Now().Before(r.deadline) {
			return timedOut(r.received, r.count)
		}
		if _, err := r.c.Process(h, int(min(r.count-r.received, 1<<30))); err != nil {
			if bad != nil {
				r.received++ // the bad event was read too
				return fail("verify", exitVerify, bad)
			}
			if r.gap(err) {
				continue
			}
			return readFailure(err, r.received, r.count)
		}
	}
	return nil
}

func timedOut(received, count uint64) error {
	return fail("timeout", exitSegment, fmt.Errorf("timed out with %d of %d events", received, count))
}

// readFailure turns an error from a read into the protocol's failure.
func readFailure(err error, received, count uint64) error {
	if errors.Is(err, consumer.ErrEndOfStream) {
		return fail("verify", exitVerify, fmt.Errorf("the producer closed after %d of %d events: %w", received, count, err))
	}
	return classify(fmt.Errorf("after %d of %d events: %w", received, count, err))
}
