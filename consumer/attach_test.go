package consumer_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestConsumer_Attach_AnotherUsersSegment_PermissionDenied: a consumer process of another user
// attaching to a segment of mode 0600 is refused with a clear error.
func TestConsumer_Attach_AnotherUsersSegment_PermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	// A copy of this test binary that the other user may run.
	dir, err := os.MkdirTemp("", "rw-other-user-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	bin, err := os.ReadFile(self)
	require.NoError(t, err)
	exe := dir + "/child.test"
	require.NoError(t, os.WriteFile(exe, bin, 0o755))
	cp, err := child.Start("consume", child.Options{Path: exe, Dir: dir,
		Env:         []string{"RW_NAME=" + name, "RW_CONSUMER=intruder", "RW_COUNT=1"},
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}})
	require.NoError(t, err)
	err = cp.Wait(time.Minute)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the child ran and failed: %s", cp.Output())
	require.Contains(t, cp.Output(), "attach: attach shm:"+name+": open /dev/shm"+name+": permission denied")
}

func TestConsumer_Attach_WrongEventTypeRefused(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	_, err = consumer.Attach[[64]byte](segment.SharedMemory(name), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, layout.ErrEventType)
	require.Contains(t, err.Error(), "testseg.Event")
	type other struct{ A, B uint64 }
	_, err = consumer.Attach[other](segment.SharedMemory(name), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, layout.ErrEventType)
}

func TestConsumer_AttachErrors(t *testing.T) {
	_, err := consumer.Attach[event](segment.SharedMemory(testseg.Name(t)), consumer.Options{Name: "x", AttachTimeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, segment.ErrNotFound)
	_, err = consumer.Attach[event](segment.Heap(), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, segment.ErrHeapAttach)

	// A segment whose creator never finished initializing: an error after the deadline.
	name := testseg.Name(t)
	require.NoError(t, os.WriteFile("/dev/shm"+name, make([]byte, 4096), 0o600))
	_, err = consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "x", AttachTimeout: 20 * time.Millisecond})
	require.ErrorIs(t, err, segment.ErrTimeout)
	require.ErrorIs(t, err, layout.ErrInitializing)
}

func TestConsumer_WaitsForProducerToAppear(t *testing.T) {
	name := testseg.Name(t)
	got := make(chan error, 1)
	go func() {
		c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "early", AttachTimeout: 5 * time.Second})
		if err == nil {
			err = c.Close()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	require.NoError(t, <-got)
	require.NoError(t, p.Close())
}
