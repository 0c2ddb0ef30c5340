package conformance_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/layout"
)

// goldenDir holds the frozen images of format 1.0; a later major version gets its own directory.
const goldenDir = "testdata/v1"

func readGolden(t *testing.T, scenario string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, scenario+".bin"))
	if err != nil {
		t.Fatalf("read golden %s: %v (regenerate with: go run ./cmd/conformer golden %s %s/%s.bin)",
			scenario, err, scenario, goldenDir, scenario)
	}
	return b
}

func TestEvent_TypeOf_MatchesSpecFingerprint(t *testing.T) {
	et, err := conformance.EventType()
	if err != nil {
		t.Fatal(err)
	}
	const descriptor = "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8"
	if et.Descriptor != descriptor {
		t.Errorf("descriptor %q, spec says %q", et.Descriptor, descriptor)
	}
	if et.Fingerprint != 0x8463538f676797d7 {
		t.Errorf("fingerprint %#016x, spec says 0x8463538f676797d7", et.Fingerprint)
	}
	if et.Size != 64 || et.Align != 8 {
		t.Errorf("size %d align %d, want 64 and 8", et.Size, et.Align)
	}
	if et.Name != "ringwire.conformance.v1" {
		t.Errorf("type name %q", et.Name)
	}
}

func TestEvent_Fill_PassesCheck(t *testing.T) {
	var ev conformance.Event
	conformance.Fill(&ev, 12345, 1)
	if err := conformance.Check(&ev, 2); err != nil {
		t.Fatal(err)
	}
	if err := conformance.Check(&ev, 1); err == nil {
		t.Error("producer 1 accepted when only producer 0 exists")
	}
	bad := ev
	bad.Payload[39]++
	if err := conformance.Check(&bad, 2); err == nil {
		t.Error("corrupt payload accepted")
	}
	bad = ev
	bad.Checksum ^= 1
	if err := conformance.Check(&bad, 2); err == nil {
		t.Error("corrupt checksum accepted")
	}
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
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

// TestGolden_Files_ReproducedAndValid checks that the committed images are exactly what the Go
// conformer writes (conformance.Golden is its `golden` subcommand) and that layout.Open accepts
// each with the scenario's geometry.
func TestGolden_Files_ReproducedAndValid(t *testing.T) {
	want := map[string]struct {
		mode             uint32
		capacity         uint64
		registry         uint32
		published        uint64
		claimed          uint64
		producerState    uint32
		entries, cursors []uint64 // states and cursors of the leading entries
	}{
		"empty":          {layout.SingleProducer, 8, 4, 0, 0, layout.ProducerOpen, nil, nil},
		"single-wrapped": {layout.SingleProducer, 8, 4, 10, 10, layout.ProducerOpen, []uint64{2}, []uint64{5}},
		"multi-wrapped":  {layout.MultiProducer, 4, 2, 0, 6, layout.ProducerOpen, []uint64{2, 3}, []uint64{4, 6}},
		"closed":         {layout.SingleProducer, 16, 2, 3, 3, layout.ProducerClosed, []uint64{3}, []uint64{3}},
	}
	for _, sc := range conformance.Scenarios {
		t.Run(sc, func(t *testing.T) {
			file := readGolden(t, sc)
			img, err := conformance.Golden(sc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img, file) {
				t.Fatalf("conformer image differs from %s/%s.bin at byte %d", goldenDir, sc, firstDiff(img, file))
			}
			v, err := layout.Open(conformance.Aligned(file))
			if err != nil {
				t.Fatalf("layout.Open: %v", err)
			}
			et, _ := conformance.EventType()
			if err := v.CheckEventType(et); err != nil {
				t.Fatal(err)
			}
			w, h := want[sc], v.Header()
			if h.ProducerMode != w.mode || h.Capacity != w.capacity || h.RegistryCapacity != w.registry ||
				h.ProducerState.Load() != w.producerState || h.TotalSize != uint64(len(file)) {
				t.Errorf("header: mode %d capacity %d registry %d state %d total %d", h.ProducerMode, h.Capacity,
					h.RegistryCapacity, h.ProducerState.Load(), h.TotalSize)
			}
			if p, c := v.Cursors().Published.Load(), v.Cursors().Claimed.Load(); p != w.published || c != w.claimed {
				t.Errorf("published %d claimed %d, want %d and %d", p, c, w.published, w.claimed)
			}
			for i, st := range w.entries {
				e := v.Entry(i)
				if uint64(e.State.Load()) != st || e.Cursor.Load() != w.cursors[i] || e.Generation != 1 {
					t.Errorf("entry %d: state %d cursor %d generation %d", i, e.State.Load(), e.Cursor.Load(), e.Generation)
				}
			}
			// Every published event still in the ring is intact: the newest capacity of them.
			for k := w.claimed - min(w.claimed, w.capacity); k < w.claimed; k++ {
				ev := (*conformance.Event)(v.Slot(k))
				if err := conformance.Check(ev, 1); err != nil || ev.Seq != k {
					t.Errorf("slot of event %d holds event %d: %v", k, ev.Seq, err)
				}
			}
		})
	}
}

func TestGolden_UnknownScenario(t *testing.T) {
	if _, err := conformance.Golden("nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

// TestMask_ZeroesOnlyMaskedFields fills every masked field of a golden image and checks that Mask
// restores the image, and that nothing else is touched.
func TestMask_ZeroesOnlyMaskedFields(t *testing.T) {
	file := readGolden(t, "multi-wrapped")
	img := conformance.Aligned(file)
	v, err := layout.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Header()
	h.Incarnation, h.CreatorPID, h.CreatorStartTime, h.CreatedUnixNs = 1, 2, 3, 4
	h.ProducerHeartbeatNs.Store(5)
	for i := 0; i < v.Entries(); i++ {
		e := v.Entry(i)
		e.OwnerPID, e.OwnerStartTime = 6, 7
		e.HeartbeatNs.Store(8)
	}
	conformance.Mask(img)
	if !bytes.Equal(img, file) {
		t.Fatalf("masked image differs at byte %d", firstDiff(img, file))
	}
	// Unmasked fields survive Mask.
	v.Cursors().Claimed.Store(99)
	conformance.Mask(img)
	if v.Cursors().Claimed.Load() != 99 {
		t.Fatal("Mask cleared claimed")
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
	if conformance.Fingerprint != layout.Fingerprint("struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8") {
		t.Fatalf("conformance.Fingerprint %#016x", conformance.Fingerprint)
	}
}
