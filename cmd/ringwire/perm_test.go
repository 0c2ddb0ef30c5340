package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	childproc "github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/segment"
)

// nobody is the uid and gid these tests run the command as.
const nobody = 65534

// binaryForAnyone copies this test binary where any user may run it (the one go test built sits
// in a directory only its owner may enter) and removes the copy when the test ends.
func binaryForAnyone(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rwseg-bin-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	src, err := os.Open(os.Args[0])
	require.NoError(t, err)
	defer src.Close()
	exe := filepath.Join(dir, "ringwire")
	dst, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, errors.Join(err, dst.Close()))
	return exe
}

// TestListInspectAndClean_AnotherUsersSegment_ReportPermissionDenied creates a segment with mode 0600
// and runs the commands as another user, who may not read it: they must say so on stderr and
// fail, not report that there are no segments.
func TestListInspectAndClean_AnotherUsersSegment_ReportPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running the command as another user needs root")
	}
	name := segName(t, "perm-a")
	s, err := segment.Create(segment.SharedMemory(name), eventConfig(t), segment.CreateOptions{Perm: 0o600})
	require.NoError(t, err)
	defer s.Release()
	exe := binaryForAnyone(t)
	prefix := segPrefix() + "perm-"

	tests := []struct {
		name string
		args []string
	}{
		{"list", []string{"list", prefix}},
		{"clean", []string{"clean", prefix}},
		{"clean dry run", []string{"clean", "--dry-run", prefix}},
		{"inspect prefix", []string{"inspect", "--prefix", prefix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := childproc.Command(context.Background(), "ringwire", childproc.Options{Path: exe, Args: tt.args,
				SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}})
			require.NoError(t, err)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Skipf("cannot run the command as uid %d: %v", nobody, err)
			}
			require.Equal(t, exitFailure, cmd.ProcessState.ExitCode(), "stdout %q, stderr %q", stdout.String(), stderr.String())
			require.Contains(t, stderr.String(), name+": permission denied")
			require.NotContains(t, stdout.String(), "no ringwire segments")
		})
	}
	_, err = os.Stat("/dev/shm" + name)
	require.NoError(t, err, "the segment survives")
}
