package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// produceFramed is produce --framed (PROTOCOL.md): it creates a framed ring (or attaches to a
// framed multi-producer one) and publishes the framed conformance messages k = 0..N-1 of producer
// P, up to B of them per claim; with --die-mid-frame D it dies with SIGKILL in the middle of the
// frame of message D.
func produceFramed(a produceArgs) error {
	b := segment.SharedMemory(a.name)
	opts := producerOptions(a)
	opts.TypeName = conformance.FramedTypeName
	var p *producer.Framed
	var err error
	if a.attach {
		p, err = producer.AttachFramed(b, a.timeout, opts)
	} else {
		p, err = producer.CreateFramed(b, producer.FramedOptions{Options: opts, SlotSize: uint32(a.slotSize),
			MaxMessage: uint32(a.maxMessage)})
	}
	if err != nil {
		return classify(err)
	}
	return lifecycle(a, p, func() error { return publishFrames(p, a) })
}

// publishFrames publishes messages 0..count-1 of the producer, each claim holding up to batch of
// them: as many as PublishBatch takes whatever the wrap costs (their slots plus one largest
// padding frame at most the capacity), and never message dieAt, which gets a claim of its own.
func publishFrames(p *producer.Framed, a produceArgs) error {
	g := p.Geometry()
	max := g.MaxMessage
	msgs := make([][]byte, 0, min(a.batch, g.Capacity))
	for k := uint64(0); k < a.count; {
		if k == a.dieAt {
			return dieMidFrame(p, k, a.producerID)
		}
		msgs = msgs[:0]
		var slots uint64
		for k+uint64(len(msgs)) < a.count && uint64(len(msgs)) < a.batch && k+uint64(len(msgs)) != a.dieAt {
			j := k + uint64(len(msgs))
			n := conformance.MessageLen(j, a.producerID, max)
			s := g.SlotsFor(uint32(n))
			if len(msgs) > 0 && slots+s+g.MaxSlots()-1 > g.Capacity {
				break
			}
			slots += s
			msgs = append(msgs, conformance.Message(j, a.producerID, n))
		}
		var err error
		if len(msgs) == 1 {
			err = p.Publish(msgs[0])
		} else {
			err = p.PublishBatch(msgs)
		}
		if err != nil {
			return fmt.Errorf("publishing message %d: %w", k, err)
		}
		k += uint64(len(msgs))
	}
	return nil
}

// dieMidFrame is --die-mid-frame: claim the frame of message k (spec 11.2; in multi mode the
// claim's intent is announced), write its frame header and the first half of its payload, and
// kill this process with SIGKILL before publishing: a real kill -9 in the middle of a frame.
// producer.Framed.Claim writes no frame header (PublishClaim does, with the length used), so
// this writes the one PublishClaim would write for the whole message, as PROTOCOL.md says and
// the C conformer's claim does; a consumer passes the claim over as gaps whatever the slots hold
// (spec 5.8, 11.3 steps 1 and 4).
func dieMidFrame(p *producer.Framed, k, producerID uint64) error {
	g := p.Geometry()
	n := conformance.MessageLen(k, producerID, g.MaxMessage)
	c, err := p.Claim(n)
	if err != nil {
		return fmt.Errorf("claiming message %d to die in: %w", k, err)
	}
	layout.StoreFrame(p.Segment().View().Frame(c.Seq()),
		layout.FrameHeader{SeqFlags: c.Seq(), Length: uint32(n), Slots: uint32(g.SlotsFor(uint32(n)))})
	conformance.FillMessage(c.Payload()[:n/2], k, producerID)
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		return fail("io", exitIO, fmt.Errorf("kill -9 of itself: %w", err))
	}
	select {} // SIGKILL cannot be caught: this process ends here
}

// consumeFramed is consume --framed (PROTOCOL.md): a required consumer of a framed ring reads
// count framed conformance messages in place, one at a time or in batches, and checks each with a
// conformance.MessageTracker. gaps counts the sequences (slots) passed over (spec 11.3 steps 1
// and 4). If the stream ends after gaps with fewer than count messages, that is no failure: a
// producer died mid-frame, and the messages it never published are the test's to account for.
func consumeFramed(a consumeArgs) error {
	deadline := time.Now().Add(a.timeout)
	c, err := consumer.AttachFramed(segment.SharedMemory(a.name), consumer.Options{
		Name:          a.consumer,
		Start:         consumer.StartOldest,
		TypeName:      conformance.FramedTypeName,
		Wait:          waitStrategy,
		AttachTimeout: a.timeout,
		ReadTimeout:   a.timeout, // bounded again by the overall deadline below
	})
	if err != nil {
		return classify(err)
	}
	tr := conformance.NewMessageTracker(a.producers, c.Geometry().MaxMessage)
	var gaps uint64
	var bad error
	h := func(msg []byte, _ uint64, _ bool) error {
		if err := tr.Observe(msg); err != nil {
			bad = err
			return err
		}
		return nil
	}
	max := 1
	if a.batch {
		max = 256
	}
	var readErr error
	for tr.Received < a.count {
		if !time.Now().Before(deadline) {
			readErr = fail("timeout", exitSegment, fmt.Errorf("timed out with %d of %d messages", tr.Received, a.count))
			break
		}
		_, err := c.Process(h, int(min(a.count-tr.Received, uint64(max))))
		if err == nil {
			continue
		}
		var g *consumer.GapError
		switch {
		case bad != nil:
			readErr = fail("verify", exitVerify, fmt.Errorf("message %d: %w", tr.Received, bad))
		case errors.As(err, &g):
			gaps += g.Count
			continue
		case errors.Is(err, consumer.ErrEndOfStream) && gaps > 0:
			// a producer died mid-frame: the messages it never published are missing
		case errors.Is(err, consumer.ErrEndOfStream):
			readErr = fail("verify", exitVerify, fmt.Errorf("the producer closed after %d of %d messages: %w", tr.Received, a.count, err))
		default:
			readErr = classify(fmt.Errorf("after %d of %d messages: %w", tr.Received, a.count, err))
		}
		break
	}
	closeErr := c.Close() // deregisters: the entry becomes closed
	if readErr == nil && closeErr != nil {
		readErr = classify(closeErr)
	}
	return done(a, tr.Received, gaps, readErr)
}

// framedValid is the part of the valid line only a framed ring has (PROTOCOL.md, Output).
type framedValid struct {
	PayloadKind    uint32 `json:"payload_kind"`
	FrameHeaderLen uint32 `json:"frame_header_len"`
	MaxMessage     uint32 `json:"max_message"`
}

// checkFramed is check 14 of spec 5.2 for validate: on a framed ring, the frame geometry; nil for
// a ring of fixed events.
func checkFramed(v *layout.View) (*framedValid, error) {
	if !v.Framed() {
		return nil, nil
	}
	g, err := v.Frames()
	if err != nil {
		return nil, classify(err)
	}
	return &framedValid{PayloadKind: layout.PayloadFramed, FrameHeaderLen: g.HeaderLen, MaxMessage: g.MaxMessage}, nil
}
