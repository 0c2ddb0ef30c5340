package segment_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// TestMain doubles as the child process of the multi-process tests (internal/child; roles are
// registered here and in init functions beside their tests). A run fails if it leaves a segment
// behind.
func TestMain(m *testing.M) {
	child.Register("create-and-hang", childCreateAndHang)
	child.Dispatch()
	os.Exit(testseg.Main(m))
}

// childCreateAndHang creates the segment args[0], says so, then waits to be killed: a crashed
// creator.
func childCreateAndHang(args []string) int {
	if _, err := segment.Create(segment.SharedMemory(args[0]), config(), segment.CreateOptions{}); err != nil {
		fmt.Println("create:", err)
		return 1
	}
	fmt.Println("created")
	time.Sleep(time.Minute)
	return 0
}

// rwName is testseg.Labeled: a shared-memory name under testseg.Prefix, removed when the test
// ends, pass or fail.
func rwName(t *testing.T, label string) string {
	t.Helper()
	return testseg.Labeled(t, label)
}

func config() layout.Config {
	et, _ := layout.TypeOf[[32]byte]()
	return layout.Config{Capacity: 16, RegistryCapacity: 2, Mode: layout.SingleProducer, Event: et}
}

func TestCreate_ExclusiveWithPermissions(t *testing.T) {
	b := segment.SharedMemory(testseg.Name(t))
	s, err := segment.Create(b, config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	fi, err := os.Stat("/dev/shm" + b.Name())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Equal(t, int64(s.View().Header().TotalSize), fi.Size())

	_, err = segment.Create(b, config(), segment.CreateOptions{})
	require.ErrorIs(t, err, segment.ErrExists)
	// Our own process is alive: reclaiming a live segment is refused.
	_, err = segment.Create(b, config(), segment.CreateOptions{ReclaimStale: true})
	require.ErrorIs(t, err, segment.ErrExists)
	require.Contains(t, err.Error(), "alive")

	r, err := segment.Create(b, config(), segment.CreateOptions{Replace: true, Perm: 0o640})
	require.NoError(t, err)
	defer r.Release()
	require.NotEqual(t, s.View().Header().Incarnation, r.View().Header().Incarnation)
	fi, err = os.Stat("/dev/shm" + b.Name())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	require.NoError(t, segment.Remove(b))
	require.ErrorIs(t, segment.Remove(b), segment.ErrNotFound)
}

// TestCreate_ReclaimsSegmentOfKilledCreator kills a real creator process with SIGKILL and reclaims
// the segment it left behind.
func TestCreate_ReclaimsSegmentOfKilledCreator(t *testing.T) {
	name := testseg.Name(t)
	cp, err := child.Start("create-and-hang", child.Options{Args: []string{name}})
	require.NoError(t, err)
	t.Cleanup(cp.Kill)
	line, err := cp.AwaitLine("create", 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, "created", line)
	cp.Kill()

	b := segment.SharedMemory(name)
	snap, err := segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, uint32(cp.Pid()), snap.CreatorPID)
	require.Equal(t, segment.ProcessDead, snap.Creator)
	require.False(t, snap.ProducerAlive, "the stream is open but its only producer is dead")
	require.True(t, snap.Stale())
	_, err = segment.Create(b, config(), segment.CreateOptions{})
	require.ErrorIs(t, err, segment.ErrExists)
	s, err := segment.Create(b, config(), segment.CreateOptions{ReclaimStale: true})
	require.NoError(t, err)
	require.Equal(t, uint32(os.Getpid()), s.View().Header().CreatorPID)
	require.NoError(t, s.Release())
}

func TestAttach_SeesSameBytesAndValidates(t *testing.T) {
	path := t.TempDir() + "/seg"
	b := segment.File(path)
	s, err := segment.Create(b, config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	a, err := segment.Attach(b, 0)
	require.NoError(t, err)
	defer a.Release()
	s.View().Cursors().Published.Store(7)
	require.Equal(t, uint64(7), a.View().Cursors().Published.Load())

	// A file that is not a segment gives the layout sentinel.
	junk := t.TempDir() + "/junk"
	require.NoError(t, os.WriteFile(junk, []byte(strings.Repeat("x", 8192)), 0o600))
	_, err = segment.Attach(segment.File(junk), 0)
	require.ErrorIs(t, err, layout.ErrBadMagic)
}

func TestSegment_RefcountUnmapsOnLastRelease(t *testing.T) {
	s, err := segment.Create(segment.Heap(), config(), segment.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Acquire())
	require.NoError(t, s.Release())
	require.NoError(t, s.Release())
	require.ErrorIs(t, s.Acquire(), segment.ErrClosed)
	require.ErrorIs(t, s.Release(), segment.ErrClosed)
}

func TestBacking_BadNames(t *testing.T) {
	for _, n := range []string{"", "noslash", "/a/b", "/", "/.."} {
		_, err := segment.Create(segment.SharedMemory(n), config(), segment.CreateOptions{})
		require.ErrorIs(t, err, segment.ErrBadName, n)
	}
}
