package layout

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// aligned returns n zeroed bytes starting on a 128-byte boundary.
func aligned(n uint64) []byte {
	raw := make([]byte, n+BlockSize)
	pad := (BlockSize - uintptr(unsafe.Pointer(&raw[0]))%BlockSize) % BlockSize
	return raw[pad : pad+uintptr(n)]
}

func testConfig(mode uint32) Config {
	et, _ := TypeOf[conformanceEvent]()
	return Config{Capacity: 8, RegistryCapacity: 4, Mode: mode, Event: et}
}

func newImage(t testing.TB, c Config) []byte {
	p, err := PlanFor(c)
	require.NoError(t, err)
	mem := aligned(p.TotalSize)
	_, err = Init(mem, c, Identity{Incarnation: 42, PID: 1})
	require.NoError(t, err)
	return mem
}

func TestPlanFor_Regions(t *testing.T) {
	p, err := PlanFor(testConfig(MultiProducer))
	require.NoError(t, err)
	require.Equal(t, Region{512, 256}, p.Cursors)
	require.Equal(t, Region{768, 256}, p.Wait)
	require.Equal(t, Region{1024, 4 * 256}, p.Registry)
	require.Equal(t, Region{2048, 8 * 128}, p.Producers)
	require.Equal(t, Region{3072, 8 * 8}, p.Availability)
	require.Equal(t, Region{4096, 8 * 64}, p.Slots)
	require.Equal(t, uint64(8192), p.TotalSize)

	p, err = PlanFor(testConfig(SingleProducer))
	require.NoError(t, err)
	require.Equal(t, Region{2048, 128}, p.Producers)
	require.Equal(t, Region{2176, 0}, p.Availability)
	require.Equal(t, Region{4096, 8 * 64}, p.Slots)
}

func TestOpen_AcceptsWhatInitWrites(t *testing.T) {
	for _, mode := range []uint32{SingleProducer, MultiProducer} {
		mem := newImage(t, testConfig(mode))
		v, err := Open(mem)
		require.NoError(t, err)
		require.Equal(t, uint64(8), v.Capacity())
		require.Equal(t, mode, v.Mode())
		require.Equal(t, "layout.conformanceEvent", v.EventType().Name)
		et, _ := TypeOf[conformanceEvent]()
		require.NoError(t, v.CheckEventType(et))
		u, _ := TypeOf[uint64]()
		require.ErrorIs(t, v.CheckEventType(u), ErrEventType)
	}
}

func TestOpen_AcceptsHigherMinor(t *testing.T) {
	mem := newImage(t, testConfig(SingleProducer))
	binary.LittleEndian.PutUint16(mem[14:], 7)
	_, err := Open(mem)
	require.NoError(t, err)
}

// TestOpen_CorruptFields flips each field that section 5.2 checks in a real image and expects the
// sentinel of that check.
func TestOpen_CorruptFields(t *testing.T) {
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	tests := []struct {
		name   string
		mutate func([]byte)
		trunc  int // mapping length to pass instead of the whole image; 0 = whole
		want   error
	}{
		{name: "too small", trunc: 511, want: ErrTooSmall},
		{name: "initializing", mutate: put32(8, 0), want: ErrInitializing},
		{name: "magic", mutate: func(b []byte) { b[0] ^= 0xff }, want: ErrBadMagic},
		{name: "init state", mutate: put32(8, 7), want: ErrBadState},
		{name: "major version", mutate: func(b []byte) { binary.LittleEndian.PutUint16(b[12:], 1) }, want: ErrVersion},
		{name: "header length short", mutate: put32(16, 256), want: ErrHeaderLength},
		{name: "header length odd", mutate: put32(16, 513), want: ErrHeaderLength},
		{name: "truncated", trunc: 2048, want: ErrTruncated},
		{name: "total size huge", mutate: put64(24, 1<<62), want: ErrTruncated},
		{name: "capacity not pow2", mutate: put64(32, 12), want: ErrCapacity},
		{name: "capacity zero", mutate: put64(32, 0), want: ErrCapacity},
		{name: "slot size", mutate: put32(40, 63), want: ErrSlotGeometry},
		{name: "slot align", mutate: put32(44, 16), want: ErrSlotGeometry},
		{name: "event size", mutate: put32(192, 0), want: ErrSlotGeometry},
		{name: "event align", mutate: put32(196, 3), want: ErrSlotGeometry},
		{name: "type name length", mutate: put32(208, 65), want: ErrSlotGeometry},
		{name: "producer mode", mutate: put32(20, 3), want: ErrProducerMode},
		{name: "registry capacity", mutate: put32(48, 65), want: ErrRegistry},
		{name: "registry entry size", mutate: put32(52, 200), want: ErrRegistry},
		{name: "cursors offset unaligned", mutate: put64(96, 520), want: ErrRegion},
		{name: "cursors inside header", mutate: put64(96, 384), want: ErrRegion},
		{name: "wait too short", mutate: put64(120, 128), want: ErrRegion},
		{name: "registry length", mutate: put64(136, 256), want: ErrRegion},
		{name: "registry overflows", mutate: put64(128, ^uint64(0)-127), want: ErrRegion},
		{name: "availability in single mode", mutate: put64(152, 64), want: ErrRegion},
		{name: "slots past end", mutate: put64(160, 8192), want: ErrRegion},
		{name: "availability offset unaligned", mutate: put64(144, 2180), want: ErrRegion},
		{name: "regions overlap", mutate: put64(112, 512), want: ErrRegion},
		{name: "multi without availability", mutate: put32(20, MultiProducer), want: ErrRegion},
		{name: "producer capacity in single mode", mutate: put32(212, 2), want: ErrProducerMode},
		{name: "producer capacity zero", mutate: put32(212, 0), want: ErrProducerMode},
		{name: "producers length", mutate: put64(184, 256), want: ErrRegion},
		{name: "producers overlap registry", mutate: put64(176, 1024), want: ErrRegion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := newImage(t, testConfig(SingleProducer))
			if tc.mutate != nil {
				tc.mutate(mem)
			}
			if tc.trunc != 0 {
				mem = mem[:tc.trunc]
			}
			_, err := Open(mem)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestOpen_VersionErrorNamesBothVersions(t *testing.T) {
	mem := newImage(t, testConfig(SingleProducer))
	binary.LittleEndian.PutUint16(mem[12:], 3)
	binary.LittleEndian.PutUint16(mem[14:], 4)
	_, err := Open(mem)
	var ve *VersionError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, err.Error(), "3.4")
	require.Contains(t, err.Error(), "2.1")
}

func TestOpen_RegionErrorNamesRegion(t *testing.T) {
	mem := newImage(t, testConfig(SingleProducer))
	binary.LittleEndian.PutUint64(mem[160:], 8192)
	_, err := Open(mem)
	var re *RegionError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "slots", re.Region)
}

func FuzzOpen(f *testing.F) {
	f.Add(newImage(f, testConfig(SingleProducer)))
	f.Add(newImage(f, testConfig(MultiProducer)))
	big := testConfig(MultiProducer)
	big.Capacity, big.RegistryCapacity = 64, 64
	f.Add(newImage(f, big))
	f.Add([]byte("RINGWIRE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := aligned(uint64(len(data)))
		copy(mem, data)
		v, err := Open(mem)
		if err != nil {
			require.Nil(t, v)
			return
		}
		// Every address the view hands out lies inside the mapping.
		base := uintptr(unsafe.Pointer(&mem[0]))
		inside := func(p unsafe.Pointer, n uintptr) {
			a := uintptr(p)
			require.True(t, a >= base && a+n <= base+uintptr(len(mem)), "address outside the mapping")
		}
		inside(unsafe.Pointer(v.Cursors()), CursorsLen)
		inside(unsafe.Pointer(v.Wait()), WaitLen)
		for i := 0; i < v.Producers(); i++ {
			inside(unsafe.Pointer(v.Producer(i)), ProducerSize)
		}
		for i := 0; i < v.Entries(); i++ {
			inside(unsafe.Pointer(v.Entry(i)), EntrySize)
			_ = v.Entry(i).NameString()
		}
		for _, s := range []uint64{0, 1, v.Capacity() - 1, v.Capacity(), 1 << 40} {
			inside(v.Slot(s), v.SlotSize())
			if a := v.Availability(s); a != nil {
				inside(unsafe.Pointer(a), AvailWord)
			}
		}
		_ = v.Header().TypeNameString()
	})
}

func TestPoison_FirstFailureWins(t *testing.T) {
	v, err := Open(newImage(t, testConfig(MultiProducer)))
	require.NoError(t, err)
	_, poisoned := v.Poisoned()
	require.False(t, poisoned)
	require.True(t, v.Poison(Poison{Phase: PhasePublish, Seq: 7, PID: 9, Stage: 1, Message: "fill panicked"}))
	require.False(t, v.Poison(Poison{Phase: PhaseHandler, Seq: 8}))
	p, poisoned := v.Poisoned()
	require.True(t, poisoned)
	require.Equal(t, Poison{Phase: PhasePublish, Seq: 7, PID: 9, Stage: 1, Message: "fill panicked"}, p)
}

func TestCursors_ClaimedCount_MasksTheClosedBit(t *testing.T) {
	tests := []struct {
		name   string
		word   uint64
		count  uint64
		closed bool
	}{
		{name: "open", word: 3, count: 3},
		{name: "closed", word: ClaimedClosed | 3, count: 3, closed: true},
		{name: "closed empty", word: ClaimedClosed, count: 0, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cursors
			c.Claimed.Store(tt.word)
			require.Equal(t, tt.count, c.ClaimedCount())
			require.Equal(t, tt.count, c.LoadClaimed().Count())
			require.Equal(t, tt.closed, c.LoadClaimed().Closed())
		})
	}
}

func TestView_AllEntriesAndProducers_VisitEveryEntryInOrder(t *testing.T) {
	v, err := Open(newImage(t, testConfig(MultiProducer)))
	require.NoError(t, err)
	var idx []int
	for i, e := range v.AllEntries() {
		require.Same(t, v.Entry(i), e)
		idx = append(idx, i)
	}
	require.Equal(t, []int{0, 1, 2, 3}, idx)
	idx = idx[:0]
	for i, p := range v.AllProducers() {
		require.Same(t, v.Producer(i), p)
		idx = append(idx, i)
		if i == 2 {
			break
		}
	}
	require.Equal(t, []int{0, 1, 2}, idx)

	a := v.Arrays()
	require.Equal(t, v.Slot(9), a.Slot(9))
	require.Equal(t, unsafe.Add(a.Slots, 64), a.Slot(9), "sequence 9 is in slot 1 of 8")
	require.Same(t, v.Availability(9), a.Availability(9))
	require.True(t, Published(10, 9))
	require.True(t, Published(AvailGap|10, 9))
	require.False(t, Published(9, 9))
}
