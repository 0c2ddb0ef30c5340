package layout

import (
	"encoding/binary"
	"fmt"
	"iter"
	"sync/atomic"
	"unsafe"
)

// Identity is what a creator records about itself and this incarnation of the segment.
type Identity struct {
	Incarnation   uint64
	PID           uint32
	StartTime     uint64
	CreatedUnixNs uint64
	HeartbeatNs   uint64
}

// View is a validated, typed window onto a segment's bytes. All offsets a View uses come from the
// header it validated, never from constants. A View is safe for concurrent use: its own fields
// are immutable, and the segment's shared fields are reached through atomics.
type View struct {
	mem      []byte
	hdr      *Header
	cursors  *Cursors
	wait     *Wait
	registry unsafe.Pointer
	entries  uint32
	entrySz  uintptr
	avail    unsafe.Pointer // nil in single-producer mode
	prods    unsafe.Pointer
	nprods   uint32
	slots    unsafe.Pointer
	slotSize uintptr
	mask     uint64
	capacity uint64
}

// Init writes a new segment into mem following the init protocol (spec section 5.1): every field,
// then init_state last with a release store. mem must be zeroed, at least plan.TotalSize long and
// 128-byte aligned.
func Init(mem []byte, c Config, id Identity) (*View, error) {
	if !littleEndian() {
		return nil, ErrBigEndian
	}
	p, err := PlanFor(c)
	if err != nil {
		return nil, err
	}
	need := p.TotalSize
	if c.ExternalSlots {
		need = p.Slots.Offset
	}
	if uint64(len(mem)) < need {
		return nil, fmt.Errorf("%w: %d bytes given, %d needed", ErrInvalidConfig, len(mem), need)
	}
	if uintptr(unsafe.Pointer(&mem[0]))%BlockSize != 0 {
		return nil, fmt.Errorf("%w: memory is not %d-byte aligned", ErrInvalidConfig, BlockSize)
	}
	h := (*Header)(unsafe.Pointer(&mem[0]))
	h.Magic = Magic
	h.VersionMajor, h.VersionMinor = VersionMajor, VersionMinorFixed
	h.HeaderLen = HeaderLen
	h.ProducerMode = c.Mode
	h.TotalSize = p.TotalSize
	h.Capacity = c.Capacity
	h.SlotSize, h.SlotAlign = p.SlotSize, p.SlotAlign
	h.RegistryCapacity, h.RegistryEntrySize = c.RegistryCapacity, EntrySize
	h.Incarnation = id.Incarnation
	h.CreatorPID = id.PID
	h.CreatorStartTime = id.StartTime
	h.CreatedUnixNs = id.CreatedUnixNs
	h.ProducerHeartbeatNs.Store(id.HeartbeatNs)
	h.Cursors, h.Wait, h.Registry, h.Availability, h.Slots = p.Cursors, p.Wait, p.Registry, p.Availability, p.Slots
	h.Producers, h.ProducerCapacity = p.Producers, c.producers()
	h.EventSize, h.EventAlign = c.Event.Size, c.Event.Align
	h.TypeFingerprint = c.Event.Fingerprint
	h.TypeNameLen = uint32(copy(h.TypeName[:], c.Event.Name))
	if c.Framed {
		// Spec section 11: format 2.1's fields; a ring of fixed events keeps 2.0's bytes.
		h.VersionMinor = VersionMinorFramed
		h.PayloadKind, h.FrameHeaderLen, h.MaxMessage = PayloadFramed, FrameHeaderLen, c.maxMessage()
	}
	h.ProducerState.Store(StreamOpen)
	v := newView(mem, h)
	// The creator is producer 0 (spec 5.4).
	pe := v.Producer(0)
	pe.Owner.Store(uint64(MakeOwner(id.PID, id.StartTime)))
	pe.HeartbeatNs.Store(id.HeartbeatNs)
	pe.StateGen.Store(uint32(MakeState(ProducerActive, 1)))
	h.InitState.Store(InitReady) // last: attachers acquire-load it before anything else
	return v, nil
}

// Open validates mem as a segment (spec section 5.2, checks 1 to 12) and returns a View of it.
// It reads nothing outside mem and never panics, whatever mem holds. Check 13, the event type, is
// CheckEventType.
func Open(mem []byte) (*View, error) {
	if !littleEndian() {
		return nil, ErrBigEndian
	}
	if len(mem) < HeaderLen {
		return nil, fmt.Errorf("%w: %d bytes, a header needs %d", ErrTooSmall, len(mem), HeaderLen)
	}
	if uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, ErrMisaligned
	}
	h := (*Header)(unsafe.Pointer(&mem[0]))
	st := h.InitState.Load()
	if st == InitInitializing {
		return nil, ErrInitializing
	}
	if h.Magic != Magic {
		return nil, fmt.Errorf("%w: %#016x", ErrBadMagic, h.Magic)
	}
	if st != InitReady {
		return nil, fmt.Errorf("%w: %d", ErrBadState, st)
	}
	if h.VersionMajor != VersionMajor {
		return nil, &VersionError{Major: h.VersionMajor, Minor: h.VersionMinor, WantMajor: VersionMajor, WantMin: VersionMinor}
	}
	if h.HeaderLen < HeaderLen || h.HeaderLen%8 != 0 || uint64(h.HeaderLen) > h.TotalSize {
		return nil, fmt.Errorf("%w: %d (total size %d)", ErrHeaderLength, h.HeaderLen, h.TotalSize)
	}
	if h.TotalSize > uint64(len(mem)) {
		return nil, fmt.Errorf("%w: header says %d bytes, mapping has %d", ErrTruncated, h.TotalSize, len(mem))
	}
	if h.Capacity < MinCapacity || h.Capacity > MaxCapacity || !isPow2(h.Capacity) {
		return nil, fmt.Errorf("%w: %d", ErrCapacity, h.Capacity)
	}
	if err := checkSlots(h); err != nil {
		return nil, err
	}
	if h.ProducerMode != SingleProducer && h.ProducerMode != MultiProducer {
		return nil, fmt.Errorf("%w: %d", ErrProducerMode, h.ProducerMode)
	}
	if h.ProducerCapacity < 1 || h.ProducerCapacity > MaxProducers || h.ProducerMode == SingleProducer && h.ProducerCapacity != 1 {
		return nil, fmt.Errorf("%w: %d producer entries in %s mode", ErrProducerMode, h.ProducerCapacity, ModeName(h.ProducerMode))
	}
	if h.RegistryCapacity < 1 || h.RegistryCapacity > MaxRegistry || h.RegistryEntrySize < EntrySize || h.RegistryEntrySize%BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrRegistry, h.RegistryCapacity, h.RegistryEntrySize)
	}
	if err := checkRegions(h); err != nil {
		return nil, err
	}
	return newView(mem, h), nil
}

func checkSlots(h *Header) error {
	switch {
	case h.EventSize < 1 || h.EventSize > MaxEventSize:
		return fmt.Errorf("%w: event size %d", ErrSlotGeometry, h.EventSize)
	case h.EventAlign < 1 || h.EventAlign > MaxAlign || !isPow2(uint64(h.EventAlign)):
		return fmt.Errorf("%w: event alignment %d", ErrSlotGeometry, h.EventAlign)
	case h.SlotAlign != h.EventAlign:
		return fmt.Errorf("%w: slot alignment %d differs from event alignment %d", ErrSlotGeometry, h.SlotAlign, h.EventAlign)
	case uint64(h.SlotSize) != alignUp(uint64(h.EventSize), uint64(h.EventAlign)):
		return fmt.Errorf("%w: slot size %d for events of %d bytes aligned to %d", ErrSlotGeometry, h.SlotSize, h.EventSize, h.EventAlign)
	case h.TypeNameLen > TypeNameMax:
		return fmt.Errorf("%w: type name length %d", ErrSlotGeometry, h.TypeNameLen)
	}
	return nil
}

func checkRegions(h *Header) error {
	type named struct {
		name string
		r    Region
		want uint64
		min  bool // want is a minimum, not an exact length
	}
	availLen := uint64(0)
	if h.ProducerMode == MultiProducer {
		availLen = h.Capacity * AvailWord
	}
	regions := []named{
		{"cursors", h.Cursors, CursorsLen, true},
		{"wait", h.Wait, WaitLen, true},
		{"registry", h.Registry, uint64(h.RegistryCapacity) * uint64(h.RegistryEntrySize), false},
		{"producers", h.Producers, uint64(h.ProducerCapacity) * ProducerSize, false},
		{"availability", h.Availability, availLen, false},
		{"slots", h.Slots, h.Capacity * uint64(h.SlotSize), false},
	}
	for _, n := range regions {
		r := n.r
		switch {
		case r.Offset%BlockSize != 0:
			return &RegionError{n.name, fmt.Sprintf("offset %d is not a multiple of %d", r.Offset, BlockSize)}
		case r.Offset < uint64(h.HeaderLen):
			return &RegionError{n.name, fmt.Sprintf("offset %d is inside the header", r.Offset)}
		case r.Offset+r.Length < r.Offset || r.Offset+r.Length > h.TotalSize:
			return &RegionError{n.name, fmt.Sprintf("%d bytes at %d run past the segment end %d", r.Length, r.Offset, h.TotalSize)}
		case n.min && r.Length < n.want, !n.min && r.Length != n.want:
			return &RegionError{n.name, fmt.Sprintf("length %d, expected %d", r.Length, n.want)}
		}
	}
	if h.Slots.Offset%uint64(h.SlotAlign) != 0 {
		return &RegionError{"slots", fmt.Sprintf("offset %d is not aligned to %d", h.Slots.Offset, h.SlotAlign)}
	}
	for i := range regions {
		for j := i + 1; j < len(regions); j++ {
			a, b := regions[i], regions[j]
			if a.r.Length != 0 && b.r.Length != 0 && a.r.Offset < b.r.End() && b.r.Offset < a.r.End() {
				return &RegionError{a.name, "overlaps " + b.name}
			}
		}
	}
	return nil
}

func newView(mem []byte, h *Header) *View {
	base := unsafe.Pointer(&mem[0])
	v := &View{
		mem:      mem,
		hdr:      h,
		cursors:  (*Cursors)(unsafe.Add(base, h.Cursors.Offset)),
		wait:     (*Wait)(unsafe.Add(base, h.Wait.Offset)),
		registry: unsafe.Add(base, h.Registry.Offset),
		entries:  h.RegistryCapacity,
		entrySz:  uintptr(h.RegistryEntrySize),
		slots:    unsafe.Add(base, h.Slots.Offset),
		prods:    unsafe.Add(base, h.Producers.Offset),
		nprods:   h.ProducerCapacity,
		slotSize: uintptr(h.SlotSize),
		capacity: h.Capacity,
		mask:     h.Capacity - 1,
	}
	if h.Availability.Length != 0 {
		v.avail = unsafe.Add(base, h.Availability.Offset)
	}
	return v
}

// CheckEventType is check 13 of spec section 5.2 for a reader of fixed events: the segment must
// hold fixed events (payload_kind 0), of type want.
func (v *View) CheckEventType(want EventType) error {
	h := v.hdr
	if h.PayloadKind != PayloadFixed {
		return &PayloadKindError{Segment: h.PayloadKind, Want: PayloadFixed}
	}
	if h.EventSize != want.Size || h.EventAlign != want.Align || h.TypeFingerprint != want.Fingerprint {
		return &EventTypeError{Segment: v.EventType(), Want: want}
	}
	return nil
}

// EventType returns the event type recorded in the header (its descriptor is not stored).
func (v *View) EventType() EventType {
	h := v.hdr
	return EventType{Name: h.TypeNameString(), Size: h.EventSize, Align: h.EventAlign, Fingerprint: h.TypeFingerprint}
}

// Bytes returns the whole mapping the view was made from.
func (v *View) Bytes() []byte { return v.mem }

// Header returns the segment header.
func (v *View) Header() *Header { return v.hdr }

// Cursors returns the producers' cursors.
func (v *View) Cursors() *Cursors { return v.cursors }

// Wait returns the wait/wake words.
func (v *View) Wait() *Wait { return v.wait }

// Capacity returns the number of slots.
func (v *View) Capacity() uint64 { return v.capacity }

// Mode returns the producer mode.
func (v *View) Mode() uint32 { return v.hdr.ProducerMode }

// Entries returns the number of registry entries.
func (v *View) Entries() int { return int(v.entries) }

// Entry returns registry entry i, which must be below Entries.
func (v *View) Entry(i int) *Entry {
	if uint(i) >= uint(v.entries) {
		panic(fmt.Sprintf("layout: registry entry %d out of range [0,%d)", i, v.entries))
	}
	return (*Entry)(unsafe.Add(v.registry, uintptr(i)*v.entrySz))
}

// Producers returns the number of producer registry entries.
func (v *View) Producers() int { return int(v.nprods) }

// Producer returns producer entry i, which must be below Producers.
func (v *View) Producer(i int) *ProducerEntry {
	if uint(i) >= uint(v.nprods) {
		panic(fmt.Sprintf("layout: producer entry %d out of range [0,%d)", i, v.nprods))
	}
	return (*ProducerEntry)(unsafe.Add(v.prods, uintptr(i)*ProducerSize))
}

// AllEntries iterates over the consumer registry: every entry with its index, in index order.
// It is the one registry scan; callers filter by state (Entry.Gates, Entry.Is).
func (v *View) AllEntries() iter.Seq2[int, *Entry] {
	return func(yield func(int, *Entry) bool) {
		for i := 0; i < int(v.entries); i++ {
			if !yield(i, v.Entry(i)) {
				return
			}
		}
	}
}

// AllProducers iterates over the producer registry: every producer entry with its index, in
// index order, whatever its state.
func (v *View) AllProducers() iter.Seq2[int, *ProducerEntry] {
	return func(yield func(int, *ProducerEntry) bool) {
		for i := 0; i < int(v.nprods); i++ {
			if !yield(i, v.Producer(i)) {
				return
			}
		}
	}
}

// Published reports whether availability word w says sequence seq is published (spec 4.5): the
// word, without its gap bit, is seq + 1 or more. A gap (bit 63) with the count seq + 1 is
// published too: consumers pass over it as a gap.
func Published(w, seq uint64) bool { return w&CountMask >= seq+1 }

// Slot returns the address of the slot that holds sequence seq.
func (v *View) Slot(seq uint64) unsafe.Pointer {
	a := v.Arrays()
	return a.Slot(seq)
}

// UseSlots makes the view read and write slots at base instead of inside the segment: the first
// element of a Go slice of capacity events of slot size bytes each, for a heap segment created
// with Config.ExternalSlots. The view keeps base reachable for the garbage collector.
func (v *View) UseSlots(base unsafe.Pointer) { v.slots = base }

// SlotSize returns the distance between consecutive slots.
func (v *View) SlotSize() uintptr { return v.slotSize }

// Arrays is where a view's slots and availability words are, for code that must compute their
// addresses inline (see Arrays).
type Arrays struct {
	Slots    unsafe.Pointer // slot 0
	Avail    unsafe.Pointer // availability word 0; nil in single-producer mode
	SlotSize uintptr        // bytes from one slot to the next
	Mask     uint64         // capacity - 1: sequence s is in slot s & Mask
}

// Slot returns the address of the slot that holds sequence seq: the one home of the formula.
func (a *Arrays) Slot(seq uint64) unsafe.Pointer {
	return unsafe.Add(a.Slots, uintptr(seq&a.Mask)*a.SlotSize)
}

// Availability returns seq's availability word (multi-producer mode).
func (a *Arrays) Availability(seq uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(a.Avail, uintptr(seq&a.Mask)*AvailWord))
}

// Arrays returns the slot and availability arrays' geometry. Slot(s) is
// Slots + (s & Mask) * SlotSize, and Availability(s) is Avail + (s & Mask) * AvailWord. Generic
// hot paths compute these themselves: Go does not inline, into a generic function instantiated in
// a package that does not import layout, calls to layout's methods.
func (v *View) Arrays() Arrays {
	return Arrays{Slots: v.slots, Avail: v.avail, SlotSize: v.slotSize, Mask: v.mask}
}

// Availability returns the availability word of the slot that holds seq (multi-producer mode
// only; nil in single-producer mode).
func (v *View) Availability(seq uint64) *atomic.Uint64 {
	if v.avail == nil {
		return nil
	}
	a := v.Arrays()
	return a.Availability(seq)
}

func littleEndian() bool {
	var x [2]byte
	binary.NativeEndian.PutUint16(x[:], 1)
	return x[0] == 1
}

// RawHeader returns mem's header without validating anything but its length, for tools that
// must look at a segment that failed validation (such as one still initializing). Only plain
// fields may be trusted, and only as far as the caller checks them.
func RawHeader(mem []byte) (*Header, bool) {
	if len(mem) < HeaderLen || uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, false
	}
	return (*Header)(unsafe.Pointer(&mem[0])), true
}
