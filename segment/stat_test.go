package segment_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestStat_ClosedMultiRing_PublishedIsTheCount closes a real multi-producer ring, which sets bit
// 62 (closed to claims) of its claimed word: Published is the count without that bit.
func TestStat_ClosedMultiRing_PublishedIsTheCount(t *testing.T) {
	b := segment.SharedMemory(rwName(t, "multi"))
	p, err := producer.Create[[32]byte](b, producer.Options{Mode: producer.Multi, Capacity: 16, Keep: true})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.Publish(func(ev *[32]byte) { ev[0] = byte(i) }))
	}
	require.NoError(t, p.Close())

	info, err := segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, "multi", info.Mode)
	require.True(t, info.Closed)
	require.Equal(t, uint64(3), info.Published)
}

// TestStat_InvalidSegment_ReportsCreator corrupts real segments: Stat returns the validation
// error and, from the header, who created them, for as long as the header is recognizably
// ringwire's.
func TestStat_InvalidSegment_ReportsCreator(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(h *layout.Header)
		want    error
		creator bool
	}{
		{"bad magic", func(h *layout.Header) { h.Magic ^= 1 }, layout.ErrBadMagic, true},
		{"bad capacity", func(h *layout.Header) { h.Capacity = 3 }, layout.ErrCapacity, true},
		{"stuck initializing", func(h *layout.Header) { h.InitState.Store(layout.InitInitializing) }, layout.ErrInitializing, true},
		{"another program's bytes", func(h *layout.Header) { h.Magic, h.HeaderLen, h.TotalSize = 1, 7, 9 }, layout.ErrBadMagic, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := segment.File(t.TempDir() + "/seg")
			s, err := segment.Create(b, config(), segment.CreateOptions{})
			require.NoError(t, err)
			tt.corrupt(s.View().Header())
			require.NoError(t, s.Release())

			info, err := segment.Stat(b)
			require.ErrorIs(t, err, tt.want)
			if tt.creator {
				require.Equal(t, uint32(os.Getpid()), info.CreatorPID)
				require.True(t, info.CreatorAlive)
			} else {
				require.Zero(t, info.CreatorPID)
			}
		})
	}
}

// TestScan_ClassifiesHeaders puts a valid segment, one with its magic overwritten, an empty
// object, a zeroed one and another program's object under one prefix.
func TestScan_ClassifiesHeaders(t *testing.T) {
	prefix := testseg.Prefix() + "scan-"
	create := func(label string) (segment.Backing, *layout.Header) {
		b := segment.SharedMemory(rwName(t, "scan-"+label))
		s, err := segment.Create(b, config(), segment.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Release() })
		return b, s.View().Header()
	}
	valid, _ := create("a-valid")
	damaged, h := create("b-damaged")
	h.Magic = 0
	write := func(label string, data []byte) segment.Backing {
		b := segment.SharedMemory(rwName(t, "scan-"+label))
		require.NoError(t, os.WriteFile("/dev/shm"+b.Name(), data, 0o600))
		return b
	}
	empty := write("c-empty", nil)
	zeroed := write("d-zeroed", make([]byte, 8192))
	write("e-foreign", []byte("#!/bin/sh\necho this is not a segment, nor anything like one, at all\n"+string(make([]byte, 600))))
	write("f-short-zeros", make([]byte, 32)) // a named semaphore's size: too short to be ours

	found, err := segment.Scan(prefix)
	require.NoError(t, err)
	got := map[segment.Backing]segment.HeaderKind{}
	for _, f := range found {
		require.NoError(t, f.Err)
		got[f.Backing] = f.Header
	}
	require.Equal(t, map[segment.Backing]segment.HeaderKind{
		valid:   segment.HeaderMagic,
		damaged: segment.HeaderDamaged,
		empty:   segment.HeaderBlank,
		zeroed:  segment.HeaderBlank,
	}, got)
	bs, err := segment.List(prefix)
	require.NoError(t, err)
	require.Equal(t, []segment.Backing{valid}, bs)
}
