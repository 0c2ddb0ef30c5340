package layout

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

var testFrames = FrameGeometry{HeaderLen: 16, MaxMessage: 112, SlotSize: 64, Capacity: 16}

func TestFrameGeometry_Check(t *testing.T) {
	g := testFrames
	for _, tc := range []struct {
		name string
		seq  uint64
		f    FrameHeader
		ok   bool
	}{
		{"one-slot message", 3, FrameHeader{SeqFlags: 3, Length: 48, Slots: 1}, true},
		{"empty message", 3, FrameHeader{SeqFlags: 3, Length: 0, Slots: 1}, true},
		{"largest message", 14, FrameHeader{SeqFlags: 14, Length: 112, Slots: 2}, true},
		{"padding to the end", 35, FrameHeader{SeqFlags: 35 | FramePad, Slots: 13}, true},
		{"stale lap", 19, FrameHeader{SeqFlags: 3, Length: 1, Slots: 1}, false},
		{"bit 62", 3, FrameHeader{SeqFlags: 3 | 1<<62, Length: 1, Slots: 1}, false},
		{"zero slots", 3, FrameHeader{SeqFlags: 3, Slots: 0}, false},
		{"crosses the end", 15, FrameHeader{SeqFlags: 15, Length: 100, Slots: 2}, false},
		{"padding crosses the end", 15, FrameHeader{SeqFlags: 15 | FramePad, Slots: 2}, false},
		{"over the largest", 0, FrameHeader{SeqFlags: 0, Length: 113, Slots: 3}, false},
		{"too few slots", 0, FrameHeader{SeqFlags: 0, Length: 49, Slots: 1}, false},
		{"too many slots", 0, FrameHeader{SeqFlags: 0, Length: 10, Slots: 2}, false},
		{"padding with a length", 0, FrameHeader{SeqFlags: FramePad, Length: 1, Slots: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := g.Check(tc.seq, tc.f)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var fe *FrameError
			require.ErrorAs(t, err, &fe)
			require.ErrorIs(t, err, ErrCorruptFrame)
			require.Equal(t, tc.seq, fe.Seq)
		})
	}
}

// FuzzFrameCheck feeds arbitrary frame headers, sequences and geometries to Check: whatever it
// accepts must lie inside the slot array, carry at most the largest message, and have its payload
// inside the frame (spec 11.1). It must never panic.
func FuzzFrameCheck(f *testing.F) {
	f.Add(make([]byte, 16), uint64(0), uint32(64), uint32(112), uint8(4))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0, 1, 0, 0, 0}, uint64(3), uint32(64), uint32(112), uint8(4))
	f.Add([]byte{35, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 13, 0, 0, 0}, uint64(35), uint32(64), uint32(112), uint8(4))
	f.Fuzz(func(t *testing.T, hdr []byte, seq uint64, slot, max uint32, logCap uint8) {
		if len(hdr) < 16 {
			return
		}
		capacity := uint64(1) << (3 + logCap%20)
		slot = 32 + slot%4096&^15
		largest := LargestMessage(capacity, slot)
		if largest == 0 {
			return
		}
		g := FrameGeometry{HeaderLen: 16, MaxMessage: uint32(1 + uint64(max)%largest), SlotSize: slot, Capacity: capacity}
		seq &= FrameSeqMask
		fh := FrameHeader{SeqFlags: binary.LittleEndian.Uint64(hdr), Length: binary.LittleEndian.Uint32(hdr[8:]), Slots: binary.LittleEndian.Uint32(hdr[12:])}
		if g.Check(seq, fh) != nil {
			return
		}
		i := seq & (capacity - 1)
		require.GreaterOrEqual(t, fh.Slots, uint32(1))
		require.LessOrEqual(t, i+uint64(fh.Slots), capacity, "frame leaves the array")
		require.Equal(t, seq, fh.Seq())
		if !fh.Pad() {
			require.LessOrEqual(t, fh.Length, g.MaxMessage)
			require.LessOrEqual(t, uint64(g.HeaderLen)+uint64(fh.Length), uint64(fh.Slots)*uint64(slot), "payload leaves the frame")
		} else {
			require.Zero(t, fh.Length)
		}
	})
}
