package testseg

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// SelfOwner is this process's owner identity (spec 8), as the entries it registers record it.
func SelfOwner(t testing.TB) layout.OwnerID {
	t.Helper()
	st, err := sys.ProcessStartTime(os.Getpid())
	require.NoError(t, err)
	return layout.MakeOwner(uint32(os.Getpid()), st)
}

// KilledOwner starts a real process, kills it with SIGKILL, reaps it, and returns the owner
// identity it had: a peer that crashed.
func KilledOwner(t testing.TB) layout.OwnerID {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	st, err := sys.ProcessStartTime(cmd.Process.Pid)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	return layout.MakeOwner(uint32(cmd.Process.Pid), st)
}

// Start runs this test binary as role (internal/child), with extra environment, and kills it
// (SIGKILL) when t ends if it still runs.
func Start(t testing.TB, role string, env ...string) *child.Process {
	t.Helper()
	p, err := child.Start(role, child.Options{Env: env})
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p
}
