package segment_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

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

// TestDiscover_SnapshotsEveryKindOfObject puts a valid segment with a consumer, one whose
// capacity was corrupted and a zeroed object under one prefix: Discover snapshots the first,
// reports the others as invalid with what it still knows, and maps nothing it cannot recognize.
func TestDiscover_SnapshotsEveryKindOfObject(t *testing.T) {
	prefix := testseg.Prefix() + "disc-"
	valid := segment.SharedMemory(rwName(t, "disc-a"))
	s, err := segment.Create(valid, config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	e := s.View().Entry(0)
	require.True(t, e.SetName("audit"))
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))

	corrupt := segment.SharedMemory(rwName(t, "disc-b"))
	c, err := segment.Create(corrupt, config(), segment.CreateOptions{})
	require.NoError(t, err)
	c.View().Header().Capacity = 3
	require.NoError(t, c.Release())

	blank := segment.SharedMemory(rwName(t, "disc-c"))
	require.NoError(t, os.WriteFile("/dev/shm"+blank.Name(), make([]byte, 8192), 0o600))

	found, err := segment.Discover(prefix)
	require.NoError(t, err)
	require.Len(t, found, 3)

	require.Equal(t, valid, found[0].Backing)
	require.Equal(t, segment.HeaderMagic, found[0].Header)
	require.NoError(t, found[0].Err)
	require.NoError(t, found[0].Invalid)
	require.Equal(t, uint64(16), found[0].Snapshot.Capacity)
	require.Equal(t, "audit", found[0].Snapshot.Consumers[0].Name)
	require.False(t, found[0].Snapshot.Stale())

	require.Equal(t, corrupt, found[1].Backing)
	require.ErrorIs(t, found[1].Invalid, layout.ErrCapacity)
	require.Equal(t, uint32(os.Getpid()), found[1].Snapshot.CreatorPID)
	require.Equal(t, segment.ProcessAlive, found[1].Snapshot.Creator)

	require.Equal(t, blank, found[2].Backing)
	require.Equal(t, segment.HeaderBlank, found[2].Header)
	require.ErrorIs(t, found[2].Invalid, layout.ErrInitializing)
	require.Equal(t, segment.ProcessNone, found[2].Snapshot.Creator)
}

// TestRemoveStale_RemovesOnlyWhatItsCreatorAbandoned gives a valid segment and a corrupted one a
// creator that really died (a process killed with SIGKILL), and leaves a segment of this live
// process and a zeroed object beside them: RemoveStale removes the first two only.
func TestRemoveStale_RemovesOnlyWhatItsCreatorAbandoned(t *testing.T) {
	prefix := testseg.Prefix() + "stale-"
	dead := killedProcess(t)
	abandon := func(label string, change func(*layout.Header)) segment.Backing {
		b := segment.SharedMemory(rwName(t, "stale-"+label))
		s, err := segment.Create(b, config(), segment.CreateOptions{})
		require.NoError(t, err)
		h := s.View().Header()
		h.CreatorPID, h.CreatorStartTime = dead.PID(), 0
		s.View().Producer(0).Owner.Store(uint64(dead))
		change(h)
		require.NoError(t, s.Release())
		return b
	}
	valid := abandon("a-valid", func(*layout.Header) {})
	corrupt := abandon("b-corrupt", func(h *layout.Header) { h.Magic ^= 1 })
	live := segment.SharedMemory(rwName(t, "stale-c-live"))
	s, err := segment.Create(live, config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	blank := segment.SharedMemory(rwName(t, "stale-d-blank"))
	require.NoError(t, os.WriteFile("/dev/shm"+blank.Name(), nil, 0o600))

	want := []string{valid.Name(), corrupt.Name()}
	names, err := segment.RemoveStale(prefix, true)
	require.NoError(t, err)
	require.Equal(t, want, names)
	require.FileExists(t, "/dev/shm"+valid.Name(), "a dry run removes nothing")

	names, err = segment.RemoveStale(prefix, false)
	require.NoError(t, err)
	require.Equal(t, want, names)
	require.NoFileExists(t, "/dev/shm"+valid.Name())
	require.NoFileExists(t, "/dev/shm"+corrupt.Name())
	require.FileExists(t, "/dev/shm"+live.Name())
	require.FileExists(t, "/dev/shm"+blank.Name(), "nothing says who abandoned it")
}
