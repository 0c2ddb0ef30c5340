package conformance_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/layout"
)

// goldenDir holds the frozen images of format 2.0; a later major version gets its own directory.
const goldenDir = "testdata/v2"

func readGolden(t *testing.T, scenario string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, scenario+".bin"))
	require.NoError(t, err, "read golden %s (regenerate with: go run ./cmd/conformer golden %s %s/%s.bin)",
		scenario, scenario, goldenDir, scenario)
	return b
}

func TestEvent_TypeOf_MatchesSpecFingerprint(t *testing.T) {
	et, err := conformance.EventType()
	require.NoError(t, err)
	require.Equal(t, "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8", et.Descriptor)
	require.Equal(t, uint64(0x8463538f676797d7), et.Fingerprint)
	require.Equal(t, uint32(64), et.Size)
	require.Equal(t, uint32(8), et.Align)
	require.Equal(t, "ringwire.conformance.v1", et.Name)
}

func TestEvent_Fill_PassesCheck(t *testing.T) {
	var ev conformance.Event
	conformance.Fill(&ev, 12345, 1)
	require.NoError(t, conformance.Check(&ev, 2))
	require.Error(t, conformance.Check(&ev, 1), "producer 1 accepted when only producer 0 exists")
	bad := ev
	bad.Payload[39]++
	require.Error(t, conformance.Check(&bad, 2), "corrupt payload accepted")
	bad = ev
	bad.Checksum ^= 1
	require.Error(t, conformance.Check(&bad, 2), "corrupt checksum accepted")
}

func TestTracker_Observe_RejectsGapsAndRepeats(t *testing.T) {
	ev := func(k, p uint64) *conformance.Event {
		var e conformance.Event
		conformance.Fill(&e, k, p)
		return &e
	}
	tests := []struct {
		name   string
		events [][2]uint64 // k, p
		ok     bool
	}{
		{name: "in order, interleaved", events: [][2]uint64{{0, 0}, {0, 1}, {1, 1}, {1, 0}}, ok: true},
		{name: "gap", events: [][2]uint64{{0, 0}, {2, 0}}},
		{name: "repeat", events: [][2]uint64{{0, 0}, {1, 0}, {1, 0}}},
		{name: "late start", events: [][2]uint64{{1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := conformance.NewTracker(2)
			var err error
			for _, e := range tt.events {
				if err = tr.Observe(ev(e[0], e[1])); err != nil {
					break
				}
			}
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// goldenWant is what the Golden scenarios table of PROTOCOL.md says about a scenario, checked
// through layout's typed view.
type goldenWant struct {
	mode          uint32
	capacity      uint64
	registry      uint32
	producers     int
	published     uint64
	claimed       uint64
	producerState uint32
	entries       []wantEntry
	// events maps every sequence still in the ring to the k of the producer-0 event its slot
	// holds; every other slot is zero.
	events map[uint64]uint64
	// avail lists every availability word (multi mode).
	avail []uint64
	gaps  uint64
	// prods lists the leading producer entries: state, generation, intent_start, intent_end.
	prods  [][4]uint64
	poison *layout.Poison
	// frames, for a framed ring (PROTOCOL.md, "Framed scenarios"), lists every frame ever
	// written, in the order written; the slots must hold exactly what writing their headers and
	// payloads in that order over zero slots leaves (spec 11.1: a producer writes nothing else).
	frames []wantFrame
}

// wantFrame is one frame of a framed scenario: a PAD of slots slots, or message k of producer p
// with length bytes.
type wantFrame struct {
	seq    uint64
	pad    bool
	slots  uint32
	k, p   uint64
	length uint32
}

// msgFrames lays out the messages of producer p of the given lengths (k = k0, k0+1, ...) one per
// claim from sequence seq in a framed ring of 64-byte slots and frame header 16, no wrap.
func msgFrames(seq, p, k0 uint64, lengths ...uint32) []wantFrame {
	var fs []wantFrame
	for i, n := range lengths {
		slots := (16 + n + 63) / 64
		fs = append(fs, wantFrame{seq: seq, slots: slots, k: k0 + uint64(i), p: p, length: n})
		seq += uint64(slots)
	}
	return fs
}

// joined concatenates frame lists.
func joined(lists ...[]wantFrame) []wantFrame {
	var out []wantFrame
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

type wantEntry struct {
	name     string
	state    uint32
	required bool
	cursor   uint64
	gapsSeen uint64
}

// seqs maps sequences from..to-1 to k = s - shift.
func seqs(from, to, shift uint64) map[uint64]uint64 {
	m := map[uint64]uint64{}
	for s := from; s < to; s++ {
		m[s] = s - shift
	}
	return m
}

var goldenWants = map[string]goldenWant{
	"empty": {mode: layout.SingleProducer, capacity: 8, registry: 4, producers: 1, producerState: layout.StreamOpen,
		prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 0, 0}}},
	"single-wrapped": {mode: layout.SingleProducer, capacity: 8, registry: 4, producers: 1, published: 10, claimed: 10,
		producerState: layout.StreamOpen, entries: []wantEntry{{"c1", layout.EntryActive, true, 5, 0}},
		events: seqs(2, 10, 0), prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 0, 0}}},
	"multi-wrapped": {mode: layout.MultiProducer, capacity: 4, registry: 2, producers: 8, claimed: 6,
		producerState: layout.StreamOpen,
		entries:       []wantEntry{{"c1", layout.EntryActive, true, 4, 0}, {"c2", layout.EntryClosed, false, 6, 0}},
		events:        seqs(2, 6, 0), avail: []uint64{5, 6, 3, 4},
		prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 5, 0}, {0, 0, 0, 0}}},
	"closed": {mode: layout.SingleProducer, capacity: 16, registry: 2, producers: 1, published: 3, claimed: 3,
		producerState: layout.StreamClosed, entries: []wantEntry{{"c1", layout.EntryClosed, true, 3, 0}},
		events: seqs(0, 3, 0), prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 0, 0}}},
	"multi-gap": {mode: layout.MultiProducer, capacity: 8, registry: 2, producers: 2, claimed: 6,
		producerState: layout.StreamOpen, entries: []wantEntry{{"c1", layout.EntryActive, true, 6, 3}},
		events: map[uint64]uint64{0: 0, 1: 1, 5: 2},
		avail:  []uint64{1, 2, 3 | layout.AvailGap, 4 | layout.AvailGap, 5 | layout.AvailGap, 6, 0, 0}, gaps: 3,
		prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 5, 0}, {uint64(layout.ProducerDead), 1, 2, 5}}},
	"poisoned": {mode: layout.SingleProducer, capacity: 8, registry: 2, producers: 1, published: 2, claimed: 3,
		producerState: layout.StreamOpen, events: seqs(0, 2, 0),
		prods:  [][4]uint64{{uint64(layout.ProducerActive), 1, 0, 0}},
		poison: &layout.Poison{Phase: layout.PhasePublish, Seq: 2, Stage: 0, Message: "fill panicked"}},
	// Messages 0..9 fill sequences 0..14; message 10 needs two slots and slot 15 is the last, so
	// a PAD of one slot at 15 precedes it at 16-17 (slots 0-1); message 11 at 18 (slot 2).
	"framed-wrapped": {mode: layout.SingleProducer, capacity: 16, registry: 2, producers: 1, published: 19, claimed: 19,
		producerState: layout.StreamOpen, entries: []wantEntry{{"c1", layout.EntryActive, true, 15, 0}},
		prods: [][4]uint64{{uint64(layout.ProducerActive), 1, 0, 0}},
		frames: joined(msgFrames(0, 0, 0, 100, 20, 112, 64, 1, 48, 112, 30, 112, 7),
			[]wantFrame{{seq: 15, pad: true, slots: 1}}, msgFrames(16, 0, 10, 100, 40))},
	// Producer 1 claimed 3-4 for its message 0, published 3 and died: 4 is a gap, and c1 passed
	// the frame at 3 over whole (gaps_seen 2, spec 11.3 step 4).
	"framed-multi-gap": {mode: layout.MultiProducer, capacity: 16, registry: 2, producers: 2, claimed: 8,
		producerState: layout.StreamOpen, entries: []wantEntry{{"c1", layout.EntryActive, true, 8, 2}},
		avail: []uint64{1, 2, 3, 4, 5 | layout.AvailGap, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0}, gaps: 1,
		prods:  [][4]uint64{{uint64(layout.ProducerActive), 1, 7, 0}, {uint64(layout.ProducerDead), 1, 3, 5}},
		frames: joined(msgFrames(0, 0, 0, 100, 20), msgFrames(3, 1, 0, 70), msgFrames(5, 0, 2, 112, 5))},
}

// framedSlots returns the slot array the frames of w leave in a ring of 64-byte slots: each
// frame's header and payload written in order over zero bytes.
func framedSlots(w goldenWant) []byte {
	const slot = 64
	out := make([]byte, w.capacity*slot)
	for _, f := range w.frames {
		at := f.seq % w.capacity * slot
		h := (*layout.FrameHeader)(unsafe.Pointer(&out[at]))
		if f.pad {
			*h = layout.FrameHeader{SeqFlags: f.seq | layout.FramePad, Slots: f.slots}
			continue
		}
		*h = layout.FrameHeader{SeqFlags: f.seq, Length: f.length, Slots: f.slots}
		copy(out[at+layout.FrameHeaderLen:], conformance.Message(f.k, f.p, int(f.length)))
	}
	return out
}

// framedGeometry is the frame geometry of both framed scenarios.
var framedGeometry = layout.FrameGeometry{HeaderLen: 16, MaxMessage: 112, SlotSize: 64, Capacity: 16}

// checkFramedHeader checks what PROTOCOL.md's "Framed scenarios" says of every framed image's
// header: format 2.1, payload kind 1, frame header 16, largest message 112, 64-byte slots
// aligned to 16, the framed type name and its fingerprint (spec 11.1); and check 14 passes.
func checkFramedHeader(t *testing.T, v *layout.View) {
	t.Helper()
	h := v.Header()
	require.Equal(t, uint16(layout.VersionMinorFramed), h.VersionMinor, "version_minor")
	require.Equal(t, layout.PayloadFramed, h.PayloadKind, "payload_kind")
	require.Equal(t, uint32(16), h.FrameHeaderLen, "frame_header_len")
	require.Equal(t, uint32(112), h.MaxMessage, "max_message")
	require.Equal(t, uint32(64), h.SlotSize, "slot_size")
	require.Equal(t, uint32(16), h.SlotAlign, "slot_align")
	require.Equal(t, uint32(64), h.EventSize, "event_size")
	require.Equal(t, uint32(16), h.EventAlign, "event_align")
	require.Equal(t, conformance.FramedTypeName, h.TypeNameString(), "type_name")
	require.Equal(t, layout.Fingerprint("frames{"+conformance.FramedTypeName+"}"), h.TypeFingerprint, "type_fingerprint")
	require.Zero(t, h.Reserved3, "reserved3")
	g, err := v.Frames()
	require.NoError(t, err, "check 14")
	require.Equal(t, framedGeometry, g)
}

// TestGolden_Files_ReproducedAndValid checks that the committed images are exactly what the Go
// conformer writes (conformance.Golden is its `golden` subcommand), that layout.Open accepts each,
// and that each holds what PROTOCOL.md's table says.
func TestGolden_Files_ReproducedAndValid(t *testing.T) {
	require.Len(t, goldenWants, len(conformance.Scenarios))
	for _, sc := range conformance.Scenarios {
		t.Run(sc, func(t *testing.T) {
			w, ok := goldenWants[sc]
			require.True(t, ok, "no expectations for scenario %s", sc)
			file := readGolden(t, sc)
			img, err := conformance.Golden(sc)
			require.NoError(t, err)
			require.True(t, bytes.Equal(img, file), "conformer image differs from %s/%s.bin at byte %d",
				goldenDir, sc, firstDiff(img, file))

			v, err := layout.Open(conformance.Aligned(file))
			require.NoError(t, err, "layout.Open")
			if w.frames != nil {
				checkFramedHeader(t, v)
			} else {
				et, err := conformance.EventType()
				require.NoError(t, err)
				require.NoError(t, v.CheckEventType(et))
				require.Equal(t, uint16(0), v.Header().VersionMinor, "a fixed ring keeps version 2.0")
				require.Equal(t, layout.PayloadFixed, v.Header().PayloadKind, "payload_kind")
			}

			h := v.Header()
			require.Equal(t, w.mode, h.ProducerMode, "producer_mode")
			require.Equal(t, w.capacity, h.Capacity, "capacity")
			require.Equal(t, w.registry, h.RegistryCapacity, "registry_capacity")
			require.Equal(t, w.producers, v.Producers(), "producer_capacity")
			require.Equal(t, w.producerState, h.ProducerState.Load(), "producer_state")
			require.Equal(t, uint64(len(file)), h.TotalSize, "total_size")
			require.Equal(t, w.published, v.Cursors().Published.Load(), "published")
			require.Equal(t, w.claimed, v.Cursors().Claimed.Load(), "claimed")
			require.Equal(t, w.gaps, h.Gaps.Load(), "gaps")

			for i := 0; i < v.Entries(); i++ {
				e := v.Entry(i)
				if i >= len(w.entries) {
					require.Equal(t, layout.StateWord(0), e.Load(), "entry %d", i)
					continue
				}
				we := w.entries[i]
				require.Equal(t, we.name, e.NameString(), "entry %d name", i)
				require.Equal(t, we.state, e.Load().State(), "entry %d state", i)
				require.Equal(t, we.required, e.Required(), "entry %d required", i)
				require.Equal(t, we.cursor, e.Cursor.Load(), "entry %d cursor", i)
				require.Equal(t, we.gapsSeen, e.GapsSeen.Load(), "entry %d gaps_seen", i)
				require.Equal(t, uint32(1), e.Load().Gen(), "entry %d generation", i)
			}
			for i := 0; i < v.Producers(); i++ {
				pe := v.Producer(i)
				st := pe.Load()
				got := [4]uint64{uint64(st.State()), uint64(st.Gen()), pe.IntentStart.Load(), pe.IntentEnd.Load()}
				want := [4]uint64{}
				if i < len(w.prods) {
					want = w.prods[i]
				}
				require.Equal(t, want, got, "producer entry %d: state, generation, intent_start, intent_end", i)
			}
			if w.mode == layout.MultiProducer {
				require.Len(t, w.avail, int(w.capacity))
				for s, want := range w.avail {
					require.Equal(t, want, v.Availability(uint64(s)).Load(), "availability word %d", s)
				}
			}
			if w.frames != nil {
				want := framedSlots(w)
				got := v.Bytes()[h.Slots.Offset:][:len(want)]
				require.True(t, bytes.Equal(want, got), "slots differ from the frames written, first at slot byte %d", firstDiff(got, want))
				for _, f := range w.frames {
					if f.seq+w.capacity < w.claimed { // overwritten by a later frame
						continue
					}
					fh := layout.LoadFrame(v.Frame(f.seq))
					require.NoError(t, framedGeometry.Check(f.seq, fh),
						"frame at sequence %d", f.seq)
					require.Equal(t, f.pad, fh.Pad(), "frame at sequence %d: PAD", f.seq)
				}
			}
			written := map[uint64]bool{} // slots some event reached
			for seq, k := range w.events {
				ev := (*conformance.Event)(v.Slot(seq))
				require.NoError(t, conformance.Check(ev, 1), "slot of sequence %d", seq)
				require.Equal(t, k, ev.Seq, "slot of sequence %d", seq)
				written[seq%w.capacity] = true
			}
			for s := uint64(0); s < w.capacity && w.frames == nil; s++ {
				if !written[s] {
					require.Equal(t, conformance.Event{}, *(*conformance.Event)(v.Slot(s)), "slot %d should be zero", s)
				}
			}
			rec, poisoned := v.Poisoned()
			require.Equal(t, w.poison != nil, poisoned, "poisoned")
			if w.poison != nil {
				require.Equal(t, *w.poison, rec)
			}
		})
	}
}

func TestGolden_UnknownScenario(t *testing.T) {
	_, err := conformance.Golden("nope")
	require.Error(t, err)
}

// TestGolden_Corrupt_Rejected flips real bytes of real golden images and expects the sentinel of
// the first check (spec 5.2) that fails: checks 1 to 12 (layout.Open), then check 14 on a framed
// image (View.Frames), as the conformer's validate does.
func TestGolden_Corrupt_Rejected(t *testing.T) {
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(readGolden(t, tc.scenario))
			v, err := layout.Open(conformance.Aligned(img))
			if err == nil && v.Framed() {
				_, err = v.Frames()
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}

// put32 stores a little-endian u32 at off of an image.
func put32(b []byte, off int, v uint32) []byte {
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

// corruption is one way to break a golden image, with the protocol's error code and the layout
// sentinel it must be rejected with.
type corruption struct {
	name, scenario, code string
	err                  error
	mutate               func([]byte) []byte
}

var corruptions = []corruption{
	{"too_small", "empty", "too_small", layout.ErrTooSmall, func(b []byte) []byte { return b[:100] }},
	{"initializing", "empty", "initializing", layout.ErrInitializing, func(b []byte) []byte { b[8] = 0; return b }},
	{"bad_magic", "empty", "bad_magic", layout.ErrBadMagic, func(b []byte) []byte { b[0] ^= 0xff; return b }},
	{"bad_state", "empty", "bad_state", layout.ErrBadState, func(b []byte) []byte { b[8] = 7; return b }},
	{"version", "empty", "version", layout.ErrVersion, func(b []byte) []byte { b[12] = 1; return b }},
	{"truncated", "empty", "truncated", layout.ErrTruncated, func(b []byte) []byte { return b[:len(b)-layout.BlockSize] }},
	{"capacity", "empty", "capacity", layout.ErrCapacity, func(b []byte) []byte { b[32] = 3; return b }},
	{"slot_geometry", "empty", "slot_geometry", layout.ErrSlotGeometry, func(b []byte) []byte { b[40] = 72; return b }},
	{"producer_mode", "empty", "producer_mode", layout.ErrProducerMode, func(b []byte) []byte { b[20] = 3; return b }},
	// Single mode with two producer entries (spec 5.2 check 10).
	{"producer_capacity", "empty", "producer_mode", layout.ErrProducerMode, func(b []byte) []byte { b[212] = 2; return b }},
	{"multi_producer_capacity", "multi-gap", "producer_mode", layout.ErrProducerMode, func(b []byte) []byte { b[212] = 65; return b }},
	{"registry", "empty", "registry", layout.ErrRegistry, func(b []byte) []byte { b[48] = 0; return b }},
	// cursors at 576, not a multiple of 128.
	{"region", "empty", "region", layout.ErrRegion, func(b []byte) []byte { b[96] = 0x40; return b }},
	// producers region one entry short of producer_capacity x 128.
	{"producers_region", "multi-gap", "region", layout.ErrRegion, func(b []byte) []byte { b[184] = 128; return b }},

	// Check 14 on framed images (spec 11.1): header offsets version_minor 14, slot_align 44,
	// event_size 192, event_align 196, type_fingerprint 200, frame_header_len 396, max_message 400.
	{"frame_header_len_8", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 396, 8) }},
	{"frame_header_len_24", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 396, 24) }},
	{"frame_header_len_slot", "framed-multi-gap", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 396, 64) }},
	// 16 + 113 bytes do not fit in capacity/8 = 2 slots of 64.
	{"max_message_over", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 400, 113) }},
	{"max_message_zero", "framed-multi-gap", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 400, 0) }},
	// A 2.0 header has no framed rings.
	{"framed_minor_0", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { b[14] = 0; return b }},
	{"framed_align_8", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte {
		return put32(put32(b, 44, 8), 196, 8)
	}},
	// An event size of 50 aligned to 16 passes check 12 (slot 64) but is not the slot size.
	{"framed_event_size", "framed-wrapped", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { return put32(b, 192, 50) }},
	{"framed_fingerprint", "framed-multi-gap", "frame_geometry", layout.ErrFrameGeometry, func(b []byte) []byte { b[200] ^= 1; return b }},
}

// TestMask_ZeroesOnlyMaskedFields fills every masked field of golden images and checks that Mask
// restores the image, and that nothing else is touched.
func TestMask_ZeroesOnlyMaskedFields(t *testing.T) {
	for _, sc := range []string{"multi-wrapped", "multi-gap", "poisoned", "framed-multi-gap"} {
		t.Run(sc, func(t *testing.T) {
			file := readGolden(t, sc)
			img := conformance.Aligned(file)
			v, err := layout.Open(img)
			require.NoError(t, err)
			h := v.Header()
			h.Incarnation, h.CreatorPID, h.CreatorStartTime, h.CreatedUnixNs, h.PoisonPID = 1, 2, 3, 4, 9
			h.ProducerHeartbeatNs.Store(5)
			for i := 0; i < v.Entries(); i++ {
				e := v.Entry(i)
				e.Owner.Store(6 | 7<<32)
				e.HeartbeatNs.Store(8)
			}
			for i := 0; i < v.Producers(); i++ {
				pe := v.Producer(i)
				pe.Owner.Store(10 | 11<<32)
				pe.HeartbeatNs.Store(12)
			}
			conformance.Mask(img)
			require.True(t, bytes.Equal(img, file), "masked image differs at byte %d", firstDiff(img, file))

			// Unmasked fields survive Mask.
			v.Cursors().Claimed.Store(99)
			v.Producer(0).IntentStart.Store(98)
			h.PoisonSeq = 97
			conformance.Mask(img)
			require.Equal(t, uint64(99), v.Cursors().Claimed.Load(), "Mask cleared claimed")
			require.Equal(t, uint64(98), v.Producer(0).IntentStart.Load(), "Mask cleared intent_start")
			require.Equal(t, uint64(97), h.PoisonSeq, "Mask cleared poison_seq")
		})
	}
}

// FuzzMask: Mask reads offsets from bytes another process wrote; it must never panic.
func FuzzMask(f *testing.F) {
	for _, sc := range conformance.Scenarios {
		b, err := os.ReadFile(filepath.Join(goldenDir, sc+".bin"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		conformance.Mask(b)
		if _, err := layout.Open(conformance.Aligned(b)); err != nil && errors.Is(err, layout.ErrMisaligned) {
			t.Fatal("Aligned returned misaligned memory")
		}
	})
}

// firstDiff returns the first offset where a and b differ (or the shorter length).
func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestFingerprint_ConstantMatchesSpec(t *testing.T) {
	require.Equal(t, layout.Fingerprint("struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8"), conformance.Fingerprint)
}
