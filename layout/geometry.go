package layout

import (
	"fmt"
	"math/bits"
)

// Config is what a creator chooses for a new segment.
type Config struct {
	Capacity         uint64 // slots, a power of two from 2 to 2^30
	RegistryCapacity uint32 // consumer entries, 1 to 64
	Mode             uint32 // SingleProducer or MultiProducer
	Producers        uint32 // producer registry entries: 1 in single mode, 1 to 64 in multi mode (0 = 1 or 8)
	// ExternalSlots, for heap segments only, keeps the slot array outside the segment's bytes
	// (in a Go slice the caller hands to View.UseSlots): the memory given to Init then needs to
	// reach only the start of the slots region.
	ExternalSlots bool
	Event         EventType
	// Framed makes a framed ring (spec section 11): Event is then FramedType's (slots of
	// Event.Size bytes aligned to Event.Align), and MaxMessage its largest payload (0 means the
	// largest the geometry allows, LargestMessage).
	Framed     bool
	MaxMessage uint32
}

// maxMessage returns the max_message a framed ring records: MaxMessage, or the largest allowed.
func (c Config) maxMessage() uint32 {
	if c.MaxMessage != 0 {
		return c.MaxMessage
	}
	return uint32(min(LargestMessage(c.Capacity, c.Event.Size), 1<<31))
}

// Plan is where every region of a segment with a given Config goes (spec section 4), computed
// cumulatively from the end of the previous region.
type Plan struct {
	SlotSize     uint32
	SlotAlign    uint32
	Cursors      Region
	Wait         Region
	Registry     Region
	Producers    Region
	Availability Region
	Slots        Region
	TotalSize    uint64
}

// Validate reports the first problem with c, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Capacity < MinCapacity || c.Capacity > MaxCapacity || !isPow2(c.Capacity):
		return fmt.Errorf("%w: capacity %d is not a power of two from %d to %d", ErrInvalidConfig, c.Capacity, MinCapacity, MaxCapacity)
	case c.RegistryCapacity < 1 || c.RegistryCapacity > MaxRegistry:
		return fmt.Errorf("%w: registry capacity %d is not from 1 to %d", ErrInvalidConfig, c.RegistryCapacity, MaxRegistry)
	case c.Mode != SingleProducer && c.Mode != MultiProducer:
		return fmt.Errorf("%w: producer mode %d", ErrInvalidConfig, c.Mode)
	case c.Mode == SingleProducer && c.producers() != 1, c.producers() > MaxProducers:
		return fmt.Errorf("%w: %d producer entries (single mode has 1, multi mode up to %d)", ErrInvalidConfig, c.producers(), MaxProducers)
	case c.Event.Size < 1 || c.Event.Size > MaxEventSize:
		return fmt.Errorf("%w: event size %d is not from 1 to %d", ErrInvalidConfig, c.Event.Size, MaxEventSize)
	case c.Event.Align < 1 || c.Event.Align > MaxAlign || !isPow2(uint64(c.Event.Align)):
		return fmt.Errorf("%w: event alignment %d is not a power of two up to %d", ErrInvalidConfig, c.Event.Align, MaxAlign)
	case len(c.Event.Name) > TypeNameMax:
		return fmt.Errorf("%w: type name %q is longer than %d bytes", ErrInvalidConfig, c.Event.Name, TypeNameMax)
	}
	if c.Framed {
		return c.validateFrames()
	}
	return nil
}

// validateFrames checks a framed ring's configuration against spec 11.1.
func (c Config) validateFrames() error {
	switch {
	case c.Event.Align < MinFrameAlign:
		return fmt.Errorf("%w: framed slots must be aligned to at least %d, not %d", ErrInvalidConfig, MinFrameAlign, c.Event.Align)
	case c.Event.Size%c.Event.Align != 0 || c.Event.Size <= FrameHeaderLen:
		return fmt.Errorf("%w: framed slot size %d must be a multiple of its alignment %d and over %d", ErrInvalidConfig, c.Event.Size, c.Event.Align, FrameHeaderLen)
	case c.Capacity < MinFramedCapacity:
		return fmt.Errorf("%w: a framed ring needs at least %d slots, not %d", ErrInvalidConfig, MinFramedCapacity, c.Capacity)
	case c.Event.Fingerprint != Fingerprint(FramedDescriptor(c.Event.Name)):
		return fmt.Errorf("%w: a framed ring's event type must be FramedType's", ErrInvalidConfig)
	case uint64(c.maxMessage()) > LargestMessage(c.Capacity, c.Event.Size) || c.maxMessage() < 1:
		return fmt.Errorf("%w: largest message %d: at most %d for %d slots of %d bytes (a frame spans at most an eighth of the ring)",
			ErrInvalidConfig, c.MaxMessage, LargestMessage(c.Capacity, c.Event.Size), c.Capacity, c.Event.Size)
	}
	return nil
}

// PlanFor computes the regions of a segment with configuration c.
func PlanFor(c Config) (Plan, error) {
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	p := Plan{SlotAlign: c.Event.Align, SlotSize: uint32(alignUp(uint64(c.Event.Size), uint64(c.Event.Align)))}
	off := uint64(HeaderLen)
	next := func(length, align uint64) Region {
		off = alignUp(off, align)
		r := Region{Offset: off, Length: length}
		off += length
		return r
	}
	p.Cursors = next(CursorsLen, BlockSize)
	p.Wait = next(WaitLen, BlockSize)
	p.Registry = next(uint64(c.RegistryCapacity)*EntrySize, BlockSize)
	p.Producers = next(uint64(c.producers())*ProducerSize, BlockSize)
	if c.Mode == MultiProducer {
		p.Availability = next(c.Capacity*AvailWord, BlockSize)
	} else {
		p.Availability = Region{Offset: alignUp(off, BlockSize)}
	}
	// Page-aligned: sharing page offsets with the polled cursors costs up to a quarter of the
	// throughput on x86 (spec section 4).
	p.Slots = next(c.Capacity*uint64(p.SlotSize), max(PageSize, uint64(p.SlotAlign)))
	p.TotalSize = alignUp(off, PageSize)
	return p, nil
}

// producers returns the producer registry size, applying the default.
func (c Config) producers() uint32 {
	if c.Producers != 0 {
		return c.Producers
	}
	if c.Mode == MultiProducer {
		return 8
	}
	return 1
}

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func log2(v uint64) uint { return uint(bits.TrailingZeros64(v)) }
