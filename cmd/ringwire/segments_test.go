package main

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// segName is testseg.Labeled: a shared-memory name unique to this test process
// (segPrefix()+label), removed when the test ends, pass or fail.
func segName(t *testing.T, label string) string {
	t.Helper()
	return testseg.Labeled(t, label)
}

// segPrefix is the prefix of every segName of this process.
func segPrefix() string { return testseg.Prefix() }

// eventConfig is the configuration of a small ring of the demo's events.
func eventConfig(t *testing.T) layout.Config {
	t.Helper()
	et, err := layout.TypeOf[Event]()
	require.NoError(t, err)
	return layout.Config{Capacity: 64, RegistryCapacity: 4, Mode: layout.SingleProducer, Event: et}
}

// startCreator starts a real producer process (this binary as "ringwire demo-producer") that
// creates the segment name and then waits for a consumer that never comes. It returns once the
// segment is ready; the process is killed when the test ends.
func startCreator(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := command(ctx, roleProducer, "-name", name, "-n", "1", "-capacity", "64",
		"-consumers", "nobody-comes", "-register-timeout", "50s")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	seg, err := segment.Attach(segment.SharedMemory(name), 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, uint32(cmd.Process.Pid), seg.Snapshot().CreatorPID)
	require.NoError(t, seg.Release())
	return cmd
}

// killedCreator has a real producer process create the segment name and kills it with SIGKILL,
// as a crash would; it returns the dead creator's pid.
func killedCreator(t *testing.T, name string) int {
	t.Helper()
	cmd := startCreator(t, name)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	return cmd.Process.Pid
}
