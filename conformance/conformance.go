// Package conformance holds what the Go conformer (cmd/conformer) shares with the cross-language
// test suite: the conformance event of conformance/PROTOCOL.md, its checks, the golden segment
// images and the masking that makes images from different processes comparable.
//
// The suite itself is matrix_test.go: it builds every conformer it can find (Go, C, Rust) and runs
// every producer against every consumer through real processes.
package conformance

import (
	"encoding/binary"
	"fmt"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/naming"
)

// TypeName is the event type name every conformer records in the header (PROTOCOL.md, "The
// conformance event").
const TypeName = "ringwire.conformance.v1"

// Fingerprint is the spec's fingerprint of the conformance event (spec/LAYOUT.md section 7,
// descriptor struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8). A test checks that layout.TypeOf[Event]
// computes it.
const Fingerprint uint64 = 0x8463538f676797d7

// PayloadLen is the length of Event.Payload.
const PayloadLen = 40

// Event is the 64-byte conformance event (PROTOCOL.md, table "The conformance event"). Its fields
// are fixed-width so that its bytes are the same in every language; Go lays them out at offsets 0,
// 8, 16 and 24 with no padding, as the descriptor says.
type Event struct {
	Seq      uint64           // k: the producer's own sequence, 0, 1, 2, ...
	Producer uint64           // p: the producer's id
	Checksum uint64           // FNV-1a 64 over bytes 0..15 then 24..63 of the event
	Payload  [PayloadLen]byte // byte i = (k*31 + p*7 + i) mod 256
}

// EventType returns the layout description of Event with the protocol's type name.
func EventType() (layout.EventType, error) {
	et, err := layout.TypeOf[Event]()
	if err != nil {
		return et, err
	}
	et.Name = TypeName
	return et, nil
}

// Fill writes the k-th event of producer p into ev.
func Fill(ev *Event, k, p uint64) {
	ev.Seq, ev.Producer = k, p
	for i := range ev.Payload {
		ev.Payload[i] = PayloadByte(k, p, i)
	}
	ev.Checksum = Checksum(ev)
}

// PayloadByte is byte i of the payload of the k-th event of producer p.
func PayloadByte(k, p uint64, i int) byte { return byte(k*31 + p*7 + uint64(i)) }

// Checksum computes the checksum field of ev from its other fields: FNV-1a 64 over the
// little-endian bytes of Seq and Producer followed by the payload.
func Checksum(ev *Event) uint64 {
	var b [16 + PayloadLen]byte
	binary.LittleEndian.PutUint64(b[0:], ev.Seq)
	binary.LittleEndian.PutUint64(b[8:], ev.Producer)
	copy(b[16:], ev.Payload[:])
	return naming.FNV1a64(b[:])
}

// Check reports what is wrong with ev as an event of a producer below producers; nil if it is
// well formed. It does not check ordering: see Tracker.
func Check(ev *Event, producers uint64) error {
	if ev.Producer >= producers {
		return fmt.Errorf("event from producer %d, expected producers 0 to %d", ev.Producer, producers-1)
	}
	if c := Checksum(ev); c != ev.Checksum {
		return fmt.Errorf("producer %d event %d: checksum %#016x, computed %#016x", ev.Producer, ev.Seq, ev.Checksum, c)
	}
	for i, b := range ev.Payload {
		if want := PayloadByte(ev.Seq, ev.Producer, i); b != want {
			return fmt.Errorf("producer %d event %d: payload byte %d is %d, expected %d", ev.Producer, ev.Seq, i, b, want)
		}
	}
	return nil
}

// Tracker checks that every producer's events arrive as 0, 1, 2, ... with none missing,
// duplicated or reordered. Not safe for concurrent use.
type Tracker struct {
	next []uint64
}

// NewTracker tracks producers 0 to producers-1.
func NewTracker(producers uint64) *Tracker { return &Tracker{next: make([]uint64, producers)} }

// Observe checks ev (with Check) and that it is the next event of its producer.
func (t *Tracker) Observe(ev *Event) error {
	if err := Check(ev, uint64(len(t.next))); err != nil {
		return err
	}
	want := t.next[ev.Producer]
	switch {
	case ev.Seq < want:
		return fmt.Errorf("producer %d: event %d again or out of order, expected %d", ev.Producer, ev.Seq, want)
	case ev.Seq > want:
		return fmt.Errorf("producer %d: events %d to %d missing (got %d)", ev.Producer, want, ev.Seq-1, ev.Seq)
	}
	t.next[ev.Producer]++
	return nil
}
