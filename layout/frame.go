package layout

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Errors of framed rings (spec section 11), compared with errors.Is.
var (
	ErrPayloadKind   = errors.New("wrong payload kind")
	ErrFrameGeometry = errors.New("bad frame geometry")
	ErrCorruptFrame  = errors.New("corrupt frame")
)

// FrameHeader mirrors "Table: frame" of spec/LAYOUT.md: the header at the start of a frame's
// first slot. Its words are written with plain stores before the frame is published and read
// after the acquire load that makes it visible; SeqFlags is accessed atomically so that an
// optional consumer's racy copy (spec 11.4) is a well-defined read.
type FrameHeader struct {
	SeqFlags uint64 `spec:"seq_flags"` // bits 0-61: the frame's first sequence; bit 63: PAD
	Length   uint32 `spec:"length"`    // payload bytes; 0 for a PAD
	Slots    uint32 `spec:"slots"`     // slots the frame occupies, its first included
}

// Pad reports whether the frame is a padding frame.
func (f FrameHeader) Pad() bool { return f.SeqFlags&FramePad != 0 }

// Seq returns the sequence the header says the frame starts at.
func (f FrameHeader) Seq() uint64 { return f.SeqFlags & FrameSeqMask }

// LoadFrame copies the frame header at ptr, word by word with atomic loads (an optional
// consumer may read it while a producer rewrites it; spec 11.4).
func LoadFrame(ptr unsafe.Pointer) FrameHeader {
	w := atomic.LoadUint64((*uint64)(ptr))
	x := atomic.LoadUint64((*uint64)(unsafe.Add(ptr, 8)))
	return FrameHeader{SeqFlags: w, Length: uint32(x), Slots: uint32(x >> 32)}
}

// StoreFrame writes a frame header at ptr (plain stores: the publish that follows releases them).
func StoreFrame(ptr unsafe.Pointer, f FrameHeader) { *(*FrameHeader)(ptr) = f }

// FrameGeometry is what a framed ring's header says about its frames (spec 11.1), checked by
// Frames. It is a plain value, safe to copy and share.
type FrameGeometry struct {
	HeaderLen  uint32 // frame_header_len: where a payload starts in its first slot
	MaxMessage uint32 // max_message: the largest payload
	SlotSize   uint32
	Capacity   uint64
}

// SlotsFor returns the slots a message of n payload bytes occupies: max(1, ceil((H + n) /
// slot_size)) (spec 11.2 step 2).
func (g FrameGeometry) SlotsFor(n uint32) uint64 {
	b, s := uint64(g.HeaderLen)+uint64(n), uint64(g.SlotSize)
	if s&(s-1) == 0 { // the usual slot sizes: a shift, not a division (tens of cycles a message)
		return (b + s - 1) >> bits.TrailingZeros64(s)
	}
	return (b + s - 1) / s
}

// MaxSlots returns the slots of the largest message.
func (g FrameGeometry) MaxSlots() uint64 { return g.SlotsFor(g.MaxMessage) }

// Check validates the frame header f read at sequence seq (spec 11.1, "valid"): it returns a
// *FrameError (ErrCorruptFrame) naming the rule that failed, or nil. It only compares numbers:
// it never reads memory, so it is safe on any bytes.
func (g FrameGeometry) Check(seq uint64, f FrameHeader) error {
	bad := func(format string, args ...any) error {
		return &FrameError{Seq: seq, Header: f, Reason: fmt.Sprintf(format, args...)}
	}
	i := seq & (g.Capacity - 1)
	switch {
	case f.SeqFlags&(FramePad-1) != seq&FrameSeqMask || f.SeqFlags&(FramePad>>1) != 0:
		return bad("header names sequence %d (stale or not a frame header)", f.Seq())
	case f.Slots < 1 || i+uint64(f.Slots) > g.Capacity:
		return bad("%d slots from slot %d of %d", f.Slots, i, g.Capacity)
	case f.Pad() && f.Length != 0:
		return bad("padding frame with length %d", f.Length)
	case !f.Pad() && f.Length > g.MaxMessage:
		return bad("length %d over the largest message %d", f.Length, g.MaxMessage)
	case !f.Pad() && !g.fits(f.Length, f.Slots):
		return bad("%d slots for %d bytes (expected %d)", f.Slots, f.Length, g.SlotsFor(f.Length))
	}
	return nil
}

// fits reports whether slots is exactly the number of slots a message of n bytes occupies,
// ceil((H + n) / slot_size), without a division: (slots-1)*slot_size < H + n <= slots*slot_size.
// slots is at least 1 and at most the capacity (checked before), so nothing overflows.
func (g FrameGeometry) fits(n, slots uint32) bool {
	b, room := uint64(g.HeaderLen)+uint64(n), uint64(slots)*uint64(g.SlotSize)
	return b <= room && b > room-uint64(g.SlotSize)
}

// FrameError reports a frame header that is not valid at its sequence (spec 11.3 step 2).
type FrameError struct {
	Seq    uint64
	Header FrameHeader
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("corrupt frame at sequence %d: %s", e.Seq, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorruptFrame) true.
func (e *FrameError) Unwrap() error { return ErrCorruptFrame }

// FramedDescriptor returns the string whose FNV-1a 64 is the type_fingerprint of a framed ring
// carrying messages of the named type (spec 11.1): "frames{" + name + "}".
func FramedDescriptor(name string) string { return "frames{" + name + "}" }

// FramedType returns the event type a framed ring records in its header (spec 11.1): slots of
// slotSize bytes aligned to align, and the fingerprint of FramedDescriptor(name). An empty name
// is DefaultMessageType.
func FramedType(name string, slotSize, align uint32) EventType {
	if name == "" {
		name = DefaultMessageType
	}
	d := FramedDescriptor(name)
	return EventType{Name: name, Descriptor: d, Size: slotSize, Align: align, Fingerprint: Fingerprint(d)}
}

// Framed reports whether the segment holds framed messages (payload_kind 1).
func (v *View) Framed() bool { return v.hdr.PayloadKind == PayloadFramed }

// Frames is checks 13 and 14 of spec section 5.2 for a reader of framed messages: the payload
// kind, then the frame geometry of 11.1. It returns the geometry the reader uses.
func (v *View) Frames() (FrameGeometry, error) {
	h := v.hdr
	if h.PayloadKind != PayloadFramed {
		return FrameGeometry{}, &PayloadKindError{Segment: h.PayloadKind, Want: PayloadFramed}
	}
	g := FrameGeometry{HeaderLen: h.FrameHeaderLen, MaxMessage: h.MaxMessage, SlotSize: h.SlotSize, Capacity: h.Capacity}
	if err := checkFrames(h); err != nil {
		return FrameGeometry{}, fmt.Errorf("%w: %s", ErrFrameGeometry, err)
	}
	return g, nil
}

// checkFrames is check 14: the geometry of a framed ring (spec 11.1), on a header that passed
// checks 1 to 12.
func checkFrames(h *Header) error {
	hl, slot := uint64(h.FrameHeaderLen), uint64(h.SlotSize)
	switch {
	case h.VersionMinor < VersionMinorFramed:
		return fmt.Errorf("version %d.%d has no framed rings", h.VersionMajor, h.VersionMinor)
	case h.SlotAlign < MinFrameAlign:
		return fmt.Errorf("slot alignment %d is below %d", h.SlotAlign, MinFrameAlign)
	case h.EventSize != h.SlotSize:
		return fmt.Errorf("event size %d is not the slot size %d", h.EventSize, h.SlotSize)
	case hl < FrameHeaderLen || hl%16 != 0 || hl >= slot:
		return fmt.Errorf("frame header length %d (a multiple of 16, at least 16, below the slot size %d)", hl, slot)
	case h.Capacity < MinFramedCapacity:
		return fmt.Errorf("capacity %d is below %d", h.Capacity, MinFramedCapacity)
	case h.MaxMessage < 1 || hl+uint64(h.MaxMessage) > h.Capacity/8*slot:
		return fmt.Errorf("largest message %d: a frame of %d bytes must fit in %d slots of %d (an eighth of the ring)",
			h.MaxMessage, hl+uint64(h.MaxMessage), h.Capacity/8, slot)
	case h.TypeFingerprint != Fingerprint(FramedDescriptor(h.TypeNameString())):
		return fmt.Errorf("fingerprint %#016x is not that of %q", h.TypeFingerprint, FramedDescriptor(h.TypeNameString()))
	}
	return nil
}

// PayloadKindError reports a ring whose payload kind is not the reader's (check 13).
type PayloadKindError struct {
	Segment, Want uint32
}

func (e *PayloadKindError) Error() string {
	return fmt.Sprintf("wrong payload kind: the ring holds %s, the reader expects %s", PayloadName(e.Segment), PayloadName(e.Want))
}

// Unwrap makes errors.Is(err, ErrPayloadKind) true.
func (e *PayloadKindError) Unwrap() error { return ErrPayloadKind }

// PayloadName names a payload_kind value.
func PayloadName(k uint32) string {
	switch k {
	case PayloadFixed:
		return "fixed events"
	case PayloadFramed:
		return "framed messages"
	}
	return fmt.Sprintf("unknown payload kind %d", k)
}

// Frame returns the address of the frame header at sequence seq: the start of its slot.
func (v *View) Frame(seq uint64) unsafe.Pointer { return v.Slot(seq) }

// LargestMessage returns the largest max_message a framed ring of this geometry may record:
// (capacity / 8) * slot_size - frame header (spec 11.1).
func LargestMessage(capacity uint64, slotSize uint32) uint64 {
	room := capacity / 8 * uint64(slotSize)
	if room <= FrameHeaderLen {
		return 0
	}
	return room - FrameHeaderLen
}
