package conformance

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"github.com/ringwire/ringwire/layout"
)

// Scenarios lists the golden scenarios of PROTOCOL.md ("Golden scenarios"), in table order.
var Scenarios = []string{"empty", "single-wrapped", "multi-wrapped", "closed", "multi-gap", "poisoned",
	"framed-wrapped", "framed-multi-gap"}

// scenario is one row of the golden table: the geometry, then what happened to the segment.
type scenario struct {
	mode      uint32
	capacity  uint64
	registry  uint32
	producers uint32 // producer registry entries; 0 means the protocol's default (1 single, 8 multi)
	build     func(g *golden)
}

// The table of PROTOCOL.md. Where it leaves a field unsaid, the value is what a real run leaves
// there: an entry that was registered once has generation 1, depends_on 0, lost 0; a slot no
// event was written to is zero.
var scenarios = map[string]scenario{
	"empty": {mode: layout.SingleProducer, capacity: 8, registry: 4, build: func(*golden) {}},
	"single-wrapped": {mode: layout.SingleProducer, capacity: 8, registry: 4, build: func(g *golden) {
		g.publishSingle(10)
		g.entry(0, "c1", layout.EntryActive, true, 5)
	}},
	"multi-wrapped": {mode: layout.MultiProducer, capacity: 4, registry: 2, build: func(g *golden) {
		for k := uint64(0); k < 6; k++ {
			g.publishMulti(k, k)
		}
		g.entry(0, "c1", layout.EntryActive, true, 4)
		g.entry(1, "c2", layout.EntryClosed, false, 6)
	}},
	"closed": {mode: layout.SingleProducer, capacity: 16, registry: 2, build: func(g *golden) {
		g.publishSingle(3)
		g.entry(0, "c1", layout.EntryClosed, true, 3)
		g.v.Header().ProducerState.Store(layout.StreamClosed)
	}},
	"multi-gap": {mode: layout.MultiProducer, capacity: 8, registry: 2, producers: 2, build: func(g *golden) {
		g.publishMulti(0, 0)
		g.publishMulti(1, 1)
		// Producer entry 1 announced and made the claim of sequences 2..4 (spec 5.4 steps 2-3),
		// died before writing them, and a consumer passed them over (spec 5.8).
		// Once they were resolved, a peer retired the entry (5.4 attach step 1); its owner word
		// still names the dead process (masked).
		pe := g.v.Producer(1)
		pe.IntentStart.Store(2)
		pe.IntentEnd.Store(5)
		pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))
		g.v.Cursors().Claimed.Store(5)
		pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerDead, 1)))
		for s := uint64(2); s < 5; s++ {
			g.v.Availability(s).Store((s + 1) | layout.AvailGap)
		}
		g.v.Header().Gaps.Store(3)
		g.publishMulti(5, 2)
		e := g.entry(0, "c1", layout.EntryActive, true, 6)
		e.GapsSeen.Store(3)
	}},
	"poisoned": {mode: layout.SingleProducer, capacity: 8, registry: 2, build: func(g *golden) {
		g.publishSingle(2)
		// Sequence 2 was claimed (spec 5.3 step 2), its fill failed, and the producer poisoned
		// the ring (spec 5.4, 5.9) instead of publishing it.
		g.v.Cursors().Claimed.Store(3)
		g.v.Poison(layout.Poison{Phase: layout.PhasePublish, Seq: 2, Stage: 0, Message: "fill panicked"})
	}},
}

// golden builds a scenario's image through the layout's typed view.
type golden struct{ v *layout.View }

// publishSingle publishes events k = 0..n-1 of producer 0 as a single-mode producer does, one
// event per claim (spec 5.3).
func (g *golden) publishSingle(n uint64) {
	c := g.v.Cursors()
	for k := uint64(0); k < n; k++ {
		c.Claimed.Store(k + 1)
		Fill((*Event)(g.v.Slot(k)), k, 0)
		c.Published.Store(k + 1)
	}
}

// publishMulti publishes event k of producer 0 as sequence seq, one event per claim, as the
// creator (producer entry 0) of a multi-mode ring does (spec 5.4): so its intent_start is left
// at the sequence of its last event and its intent_end at 0.
func (g *golden) publishMulti(seq, k uint64) {
	pe := g.v.Producer(0)
	pe.IntentStart.Store(seq)
	pe.IntentEnd.Store(seq + 1)
	g.v.Cursors().Claimed.Store(seq + 1)
	Fill((*Event)(g.v.Slot(seq)), k, 0)
	g.v.Availability(seq).Store(seq + 1)
	pe.IntentEnd.Store(0)
}

// entry registers consumer entry i once (generation 1) with the given state and cursor. Its
// owner word (masked) is left at zero.
func (g *golden) entry(i int, name string, state uint32, required bool, cursor uint64) *layout.Entry {
	e := g.v.Entry(i)
	if required {
		e.Flags = layout.FlagRequired
	}
	e.NameLen = uint32(copy(e.Name[:], name))
	e.Cursor.Store(cursor)
	e.StateGen.Store(uint32(layout.MakeState(state, 1)))
	return e
}

// Golden returns the segment image of a golden scenario: total_size bytes with every masked field
// zero (see Mask).
func Golden(name string) ([]byte, error) {
	if build, ok := framedScenarios[name]; ok {
		return framedGolden(name, build)
	}
	sc, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("unknown golden scenario %q (have %v)", name, Scenarios)
	}
	et, err := EventType()
	if err != nil {
		return nil, err
	}
	cfg := layout.Config{Capacity: sc.capacity, RegistryCapacity: sc.registry, Mode: sc.mode, Producers: sc.producers, Event: et}
	plan, err := layout.PlanFor(cfg)
	if err != nil {
		return nil, err
	}
	mem := alignedBytes(int(plan.TotalSize))
	// The zero Identity leaves incarnation, creator_pid, creator_start_time, created_unix_ns,
	// producer_heartbeat_ns and producer entry 0's owner word at zero: masked fields.
	v, err := layout.Init(mem, cfg, layout.Identity{})
	if err != nil {
		return nil, err
	}
	sc.build(&golden{v: v})
	return mem, nil
}

// maskedTSV is the one list of the golden images' masked fields (PROTOCOL.md, "Golden
// scenarios"): the fields that differ between runs and are zeroed before images are compared. C
// and Rust test their masking against the same file.
//
//go:embed testdata/v2/masked.tsv
var maskedTSV string

// masked holds the masked fields of maskedTSV as offsets and lengths within the header (spec
// "Table: header"), within each consumer registry entry ("Table: entry") and within each producer
// entry ("Table: producer"), found through the overlays' `spec` tags.
var masked = mustMaskedFields(maskedTSV)

type maskedFields struct{ header, entry, producer [][2]uintptr }

// mustMaskedFields parses a masked-field list; the list is part of this package, so a field the
// overlays do not have is a programming error.
func mustMaskedFields(tsv string) maskedFields {
	m, err := parseMaskedFields(tsv)
	if err != nil {
		panic(err)
	}
	return m
}

func parseMaskedFields(tsv string) (maskedFields, error) {
	var m maskedFields
	tables := map[string]struct {
		t   reflect.Type
		dst *[][2]uintptr
	}{
		"header":   {reflect.TypeFor[layout.Header](), &m.header},
		"entry":    {reflect.TypeFor[layout.Entry](), &m.entry},
		"producer": {reflect.TypeFor[layout.ProducerEntry](), &m.producer},
	}
	for n, line := range strings.Split(tsv, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		tab, ok := tables[cols[0]]
		if len(cols) != 2 || !ok {
			return m, fmt.Errorf("masked.tsv line %d: want \"header|entry|producer<TAB>field\", got %q", n+1, line)
		}
		f, ok := specField(tab.t, cols[1])
		if !ok {
			return m, fmt.Errorf("masked.tsv line %d: table %s has no field %q", n+1, cols[0], cols[1])
		}
		*tab.dst = append(*tab.dst, f)
	}
	return m, nil
}

// specField returns the offset and size of the overlay field whose `spec` tag names field.
func specField(t reflect.Type, field string) ([2]uintptr, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Tag.Get("spec") == field {
			return [2]uintptr{f.Offset, f.Type.Size()}, true
		}
	}
	return [2]uintptr{}, false
}

// Mask zeroes the masked fields of a segment image in place. It locates the consumer and
// producer registries through the header's own fields and touches nothing outside img, whatever
// img holds.
func Mask(img []byte) {
	zero := func(off, n uint64) {
		if off <= uint64(len(img)) && n <= uint64(len(img))-off {
			clear(img[off : off+n])
		}
	}
	for _, f := range masked.header {
		zero(uint64(f[0]), uint64(f[1]))
	}
	if len(img) < layout.HeaderLen {
		return
	}
	le := binary.LittleEndian
	u32 := func(off uintptr) uint64 { return uint64(le.Uint32(img[off:])) }
	u64 := func(off uintptr) uint64 { return le.Uint64(img[off:]) }

	regOff := u64(unsafe.Offsetof(layout.Header{}.Registry))
	entries := u32(unsafe.Offsetof(layout.Header{}.RegistryCapacity))
	entrySize := u32(unsafe.Offsetof(layout.Header{}.RegistryEntrySize))
	if entries <= layout.MaxRegistry && entrySize >= layout.EntrySize && entrySize <= 1<<20 {
		for i := uint64(0); i < entries; i++ {
			for _, f := range masked.entry {
				zero(regOff+i*entrySize+uint64(f[0]), uint64(f[1]))
			}
		}
	}
	prodOff := u64(unsafe.Offsetof(layout.Header{}.Producers))
	producers := u32(unsafe.Offsetof(layout.Header{}.ProducerCapacity))
	if producers <= layout.MaxProducers && prodOff <= uint64(len(img)) {
		for i := uint64(0); i < producers; i++ {
			for _, f := range masked.producer {
				zero(prodOff+i*layout.ProducerSize+uint64(f[0]), uint64(f[1]))
			}
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
