package conformance

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/ringwire/ringwire/layout"
)

// Scenarios lists the golden scenarios of PROTOCOL.md ("Golden scenarios"), in table order.
var Scenarios = []string{"empty", "single-wrapped", "multi-wrapped", "closed"}

// entrySpec is one registry entry of a scenario.
type entrySpec struct {
	index    int
	name     string
	state    uint32
	required bool
	gen      uint64
	cursor   uint64
}

// scenario is one row of the golden table.
type scenario struct {
	mode     uint32
	capacity uint64
	registry uint32
	events   uint64 // events k = 0..events-1 of producer 0 are published
	closed   bool   // producer_state 2
	entries  []entrySpec
}

// The table of PROTOCOL.md. Where it leaves a field unsaid, the value is what a real run leaves
// there: an entry that was registered once has generation 1 (multi-wrapped's c1), depends_on 0,
// lost 0.
var scenarios = map[string]scenario{
	"empty": {mode: layout.SingleProducer, capacity: 8, registry: 4},
	"single-wrapped": {mode: layout.SingleProducer, capacity: 8, registry: 4, events: 10, entries: []entrySpec{
		{index: 0, name: "c1", state: layout.EntryActive, required: true, gen: 1, cursor: 5},
	}},
	"multi-wrapped": {mode: layout.MultiProducer, capacity: 4, registry: 2, events: 6, entries: []entrySpec{
		{index: 0, name: "c1", state: layout.EntryActive, required: true, gen: 1, cursor: 4},
		{index: 1, name: "c2", state: layout.EntryClosed, required: false, gen: 1, cursor: 6},
	}},
	"closed": {mode: layout.SingleProducer, capacity: 16, registry: 2, events: 3, closed: true, entries: []entrySpec{
		{index: 0, name: "c1", state: layout.EntryClosed, required: true, gen: 1, cursor: 3},
	}},
}

// Golden returns the segment image of a golden scenario: total_size bytes with every masked field
// zero (see Mask).
func Golden(name string) ([]byte, error) {
	sc, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("unknown golden scenario %q (have %v)", name, Scenarios)
	}
	et, err := EventType()
	if err != nil {
		return nil, err
	}
	cfg := layout.Config{Capacity: sc.capacity, RegistryCapacity: sc.registry, Mode: sc.mode, Event: et}
	plan, err := layout.PlanFor(cfg)
	if err != nil {
		return nil, err
	}
	mem := alignedBytes(int(plan.TotalSize))
	// The zero Identity leaves incarnation, creator_pid, creator_start_time, created_unix_ns and
	// producer_heartbeat_ns at zero: exactly the masked header fields.
	v, err := layout.Init(mem, cfg, layout.Identity{})
	if err != nil {
		return nil, err
	}
	for k := uint64(0); k < sc.events; k++ {
		Fill((*Event)(v.Slot(k)), k, 0)
		if sc.mode == layout.MultiProducer {
			v.Availability(k).Store(k + 1) // spec 5.4 step 3
		}
	}
	v.Cursors().Claimed.Store(sc.events)
	if sc.mode == layout.SingleProducer {
		v.Cursors().Published.Store(sc.events)
	}
	for _, es := range sc.entries {
		e := v.Entry(es.index)
		e.Generation = es.gen
		if es.required {
			e.Flags = layout.FlagRequired
		}
		e.NameLen = uint32(copy(e.Name[:], es.name))
		e.Cursor.Store(es.cursor)
		e.State.Store(es.state)
	}
	if sc.closed {
		v.Header().ProducerState.Store(layout.ProducerClosed)
	}
	return mem, nil
}

// Masked fields: offsets and lengths within the header (spec "Table: header") and within each
// registry entry ("Table: entry") that differ between runs and are zeroed before comparing images
// (PROTOCOL.md, "Golden scenarios").
var (
	maskedHeader = [][2]uintptr{
		{unsafe.Offsetof(layout.Header{}.Incarnation), 8},
		{unsafe.Offsetof(layout.Header{}.CreatorPID), 4},
		{unsafe.Offsetof(layout.Header{}.CreatorStartTime), 8},
		{unsafe.Offsetof(layout.Header{}.CreatedUnixNs), 8},
		{unsafe.Offsetof(layout.Header{}.ProducerHeartbeatNs), 8},
	}
	maskedEntry = [][2]uintptr{
		{unsafe.Offsetof(layout.Entry{}.OwnerPID), 4},
		{unsafe.Offsetof(layout.Entry{}.OwnerStartTime), 8},
		{unsafe.Offsetof(layout.Entry{}.HeartbeatNs), 8},
	}
)

// Mask zeroes the masked fields of a segment image in place. It locates the registry through the
// header's own fields and touches nothing outside img, whatever img holds.
func Mask(img []byte) {
	zero := func(off, n uint64) {
		if off <= uint64(len(img)) && n <= uint64(len(img))-off {
			clear(img[off : off+n])
		}
	}
	for _, f := range maskedHeader {
		zero(uint64(f[0]), uint64(f[1]))
	}
	if len(img) < layout.HeaderLen {
		return
	}
	le := binary.LittleEndian
	regOff := le.Uint64(img[unsafe.Offsetof(layout.Header{}.Registry):])
	entries := uint64(le.Uint32(img[unsafe.Offsetof(layout.Header{}.RegistryCapacity):]))
	entrySize := uint64(le.Uint32(img[unsafe.Offsetof(layout.Header{}.RegistryEntrySize):]))
	if entries > layout.MaxRegistry || entrySize < layout.EntrySize || entrySize > 1<<20 {
		return
	}
	for i := uint64(0); i < entries; i++ {
		for _, f := range maskedEntry {
			zero(regOff+i*entrySize+uint64(f[0]), uint64(f[1]))
		}
	}
}

// alignedBytes returns n zeroed bytes starting at a multiple of layout.BlockSize, as layout.Init
// requires.
func alignedBytes(n int) []byte {
	raw := make([]byte, n+layout.BlockSize)
	pad := (layout.BlockSize - int(uintptr(unsafe.Pointer(&raw[0]))%layout.BlockSize)) % layout.BlockSize
	return raw[pad : pad+n : pad+n]
}

// Aligned returns a copy of b starting at a multiple of layout.BlockSize, so that layout.Open can
// overlay it (a file read into an ordinary slice need not be aligned).
func Aligned(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	out := alignedBytes(len(b))
	copy(out, b)
	return out
}
