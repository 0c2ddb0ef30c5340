package layout

import (
	"errors"
	"fmt"
)

// Validation errors, in the order spec/LAYOUT.md section 5.2 checks them. Open returns the first
// that applies, wrapped with detail; compare with errors.Is.
var (
	ErrTooSmall       = errors.New("segment too small for a header")
	ErrInitializing   = errors.New("segment is still initializing")
	ErrBadMagic       = errors.New("not a ringwire segment (bad magic)")
	ErrBadState       = errors.New("bad init state")
	ErrVersion        = errors.New("unsupported format version")
	ErrHeaderLength   = errors.New("bad header length")
	ErrTruncated      = errors.New("segment truncated")
	ErrCapacity       = errors.New("bad capacity")
	ErrSlotGeometry   = errors.New("bad slot geometry")
	ErrProducerMode   = errors.New("bad producer mode")
	ErrRegistry       = errors.New("bad registry")
	ErrRegion         = errors.New("bad region")
	ErrEventType      = errors.New("wrong event type")
	ErrMisaligned     = errors.New("segment memory is not 8-byte aligned")
	ErrBigEndian      = errors.New("ringwire segments are little-endian; this host is not")
	ErrInvalidConfig  = errors.New("invalid segment configuration")
	ErrNotRepresented = errors.New("type cannot be shared between processes")
)

// VersionError reports a segment whose major version this implementation cannot read.
type VersionError struct {
	Major, Minor       uint16 // the segment's
	WantMajor, WantMin uint16 // this implementation's
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("unsupported format version %d.%d (this implementation reads %d.x, writes %d.%d)",
		e.Major, e.Minor, e.WantMajor, e.WantMajor, e.WantMin)
}

// Unwrap makes errors.Is(err, ErrVersion) true.
func (e *VersionError) Unwrap() error { return ErrVersion }

// RegionError reports which region failed validation and why.
type RegionError struct {
	Region string
	Reason string
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("bad region %s: %s", e.Region, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRegion) true.
func (e *RegionError) Unwrap() error { return ErrRegion }

// EventTypeError reports an attacher whose event type differs from the segment's.
type EventTypeError struct {
	Segment, Want EventType
}

func (e *EventTypeError) Error() string {
	return fmt.Sprintf("wrong event type: segment holds %q (size %d, align %d, fingerprint %#016x), caller expects %q (size %d, align %d, fingerprint %#016x)",
		e.Segment.Name, e.Segment.Size, e.Segment.Align, e.Segment.Fingerprint,
		e.Want.Name, e.Want.Size, e.Want.Align, e.Want.Fingerprint)
}

// Unwrap makes errors.Is(err, ErrEventType) true.
func (e *EventTypeError) Unwrap() error { return ErrEventType }
