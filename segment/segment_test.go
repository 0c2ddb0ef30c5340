package segment_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

func TestMain(m *testing.M) {
	if name := os.Getenv("RW_CHILD_CREATE"); name != "" {
		// Create a segment, say so, then wait to be killed: a crashed creator.
		if _, err := segment.Create(segment.SharedMemory(name), config(), segment.CreateOptions{}); err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		fmt.Println("created")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	for env, child := range children {
		if v := os.Getenv(env); v != "" {
			os.Exit(child(v))
		}
	}
	os.Exit(testseg.Main(m))
}

// children are the roles this test binary plays when re-executed by a test: when the
// environment variable is set, TestMain runs the function with its value and exits with its
// result instead of running the tests.
var children = map[string]func(string) int{}

// rwName returns a shared-memory name unique to this test process and removes the object when
// the test ends, pass or fail.
func rwName(t *testing.T, label string) string {
	t.Helper()
	name := fmt.Sprintf("/rwseg-%d-%s", os.Getpid(), label)
	t.Cleanup(func() { os.Remove("/dev/shm" + name) })
	return name
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RW_CHILD_CREATE="+name)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	require.Equal(t, "created\n", string(buf[:n]))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	b := segment.SharedMemory(name)
	snap, err := segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, uint32(cmd.Process.Pid), snap.CreatorPID)
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
