package main

import (
	"errors"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// codes maps the library's sentinels to the protocol's error codes, checked in order: timeouts
// first (a timed-out attach also wraps the error it kept seeing), then the validation errors in
// the order of spec section 5.2.
var codes = []struct {
	err  error
	code string
	exit int
}{
	{segment.ErrTimeout, "timeout", exitSegment},
	{producer.ErrTimeout, "timeout", exitSegment},
	{consumer.ErrTimeout, "timeout", exitSegment},
	{coordination.ErrTimeout, "timeout", exitSegment},
	{segment.ErrNotFound, "not_found", exitSegment},
	{layout.ErrTooSmall, "too_small", exitSegment},
	{layout.ErrInitializing, "initializing", exitSegment},
	{layout.ErrBadMagic, "bad_magic", exitSegment},
	{layout.ErrBadState, "bad_state", exitSegment},
	{layout.ErrVersion, "version", exitSegment},
	{layout.ErrHeaderLength, "header_length", exitSegment},
	{layout.ErrTruncated, "truncated", exitSegment},
	{layout.ErrCapacity, "capacity", exitSegment},
	{layout.ErrSlotGeometry, "slot_geometry", exitSegment},
	{layout.ErrProducerMode, "producer_mode", exitSegment},
	{producer.ErrWrongMode, "producer_mode", exitSegment},
	{layout.ErrRegistry, "registry", exitSegment},
	{layout.ErrRegion, "region", exitSegment},
	{layout.ErrEventType, "event_type", exitSegment},
	// Framed rings (spec section 11): checks 13 and 14 of 5.2, then what reading or publishing
	// a message may meet.
	{layout.ErrPayloadKind, "payload_kind", exitSegment},
	{layout.ErrFrameGeometry, "frame_geometry", exitSegment},
	{layout.ErrCorruptFrame, "corrupt_frame", exitVerify},
	{producer.ErrTooLarge, "too_large", exitSegment}, // as the C conformer: the ring refuses the message
	{consumer.ErrRegistryFull, "registry_full", exitSegment},
	{producer.ErrProducersFull, "registry_full", exitSegment}, // the producer registry (spec 5.4)
	{consumer.ErrDuplicateName, "duplicate_name", exitSegment},
	{consumer.ErrEvicted, "evicted", exitSegment},
	{producer.ErrExhausted, "exhausted", exitSegment},
	// A poisoned ring (spec 5.9) is terminal for everyone: a segment error, like an invalid one.
	{layout.ErrPoisoned, "poisoned", exitSegment},
	{producer.ErrClosed, "closed", exitSegment}, // a claim after the creator ended the stream
	{layout.ErrInvalidConfig, "usage", exitUsage},
	{segment.ErrBadName, "usage", exitUsage},
	{consumer.ErrBadName, "usage", exitUsage},
	{producer.ErrBatchTooLarge, "usage", exitUsage},
}

// classify wraps err in the failure its sentinel calls for; anything unknown is an I/O error.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return fail(c.code, c.exit, err)
		}
	}
	return fail("io", exitIO, err)
}
