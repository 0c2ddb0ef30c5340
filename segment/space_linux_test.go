package segment_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// bigConfig is a segment of a little over 2 MiB: more than the 1 MiB tmpfs of these tests.
func bigConfig() layout.Config {
	c := config()
	c.Capacity = 1 << 16
	return c
}

// mountTmpfs mounts a tmpfs of the given size (such as "1m") on a new directory and unmounts it
// when the test ends, pass or fail. It skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): this test needs root (CAP_SYS_ADMIN)", err)
	}
	t.Cleanup(func() { // runs before TempDir's removal
		if err := syscall.Unmount(dir, 0); err != nil {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
			t.Errorf("unmount %s: %v (detached it instead)", dir, err)
		}
	})
	return dir
}

// TestCreate_File_NoSpace_FailsAndRemovesFile creates a segment larger than the tmpfs that holds
// it: Create must fail with ErrNoSpace, not succeed and leave the first write to a missing page
// to die of SIGBUS, and must remove the file it made.
func TestCreate_File_NoSpace_FailsAndRemovesFile(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := dir + "/seg"
	s, err := segment.Create(segment.File(path), bigConfig(), segment.CreateOptions{})
	if s != nil {
		s.Release() // touch nothing: its slots are past the end of the tmpfs
	}
	require.ErrorIs(t, err, segment.ErrNoSpace)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoFileExists(t, path)

	// What fits is created there as usual, and its bytes really are reserved.
	s, err = segment.Create(segment.File(path), config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	defer os.Remove(path)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	require.GreaterOrEqual(t, st.Blocks*512, int64(s.View().Header().TotalSize), "the file is sparse")
}

// TestCreate_SharedMemory_NoSpace_FailsAndRemovesObject checks that a shared-memory segment goes
// through the same reservation: a child process, in a mount namespace of its own, mounts a
// 1 MiB tmpfs on its /dev/shm (nobody else sees it) and creates a larger segment there.
func TestCreate_SharedMemory_NoSpace_FailsAndRemovesObject(t *testing.T) {
	name := rwName(t, "nospace")
	cmd, err := child.Command(context.Background(), "no-space",
		child.Options{Args: []string{name}, SysProcAttr: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}})
	require.NoError(t, err)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Skipf("cannot start a process in a new mount namespace (%v): this test needs root (CAP_SYS_ADMIN)", err)
	}
	if msg, ok := strings.CutPrefix(string(out), "skip: "); ok {
		t.Skip(msg)
	}
	require.NoError(t, err, "%s", out)
	require.Equal(t, "no space, object removed\n", string(out))
}

func init() { child.Register("no-space", childNoSpace) }

// childNoSpace is the child of TestCreate_SharedMemory_NoSpace_FailsAndRemovesObject. It runs in
// its own mount namespace (Go marks / private in it), so the tmpfs it mounts on /dev/shm is
// gone when it exits.
func childNoSpace(args []string) int {
	name := args[0]
	if err := syscall.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m"); err != nil {
		fmt.Printf("skip: cannot mount a tmpfs on /dev/shm in a new mount namespace: %v\n", err)
		return 0
	}
	s, err := segment.Create(segment.SharedMemory(name), bigConfig(), segment.CreateOptions{})
	switch {
	case err == nil:
		s.Release()
		fmt.Println("created a segment larger than /dev/shm")
		return 1
	case !errors.Is(err, segment.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC):
		fmt.Println("create:", err)
		return 1
	}
	if _, err := os.Stat("/dev/shm" + name); !errors.Is(err, os.ErrNotExist) {
		fmt.Println("the failed create left its object behind:", err)
		return 1
	}
	fmt.Println("no space, object removed")
	return 0
}
