package main

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// truncate shrinks the file at path to size bytes from another process, truncate(1), as a
// hostile or buggy peer would.
func truncate(t *testing.T, path string, size string) {
	t.Helper()
	out, err := exec.Command("truncate", "-s", size, path).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// TestInspect_SegmentTruncatedWhileRead_ReportsError truncates a real segment after inspect has
// mapped it and before it reads it: inspect reports the fault instead of dying of SIGBUS.
func TestInspect_SegmentTruncatedWhileRead_ReportsError(t *testing.T) {
	name := segName(t, "insp-trunc")
	s, err := segment.Create(segment.SharedMemory(name), eventConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release() // unmaps only: nothing may touch the truncated memory
	testHookAttached = func(segment.Backing) { truncate(t, "/dev/shm"+name, "0") }
	t.Cleanup(func() { testHookAttached = nil })

	code, out, errOut := runHere("inspect", name)
	require.Equal(t, exitFailure, code)
	require.Empty(t, out)
	require.Contains(t, errOut, name+": "+segment.ErrFault.Error())
	require.Contains(t, errOut, "another process truncated it")
}

// TestInspectAndList_TruncatedSegment_ReportTruncation shrinks a real segment into its header
// before the tools look: both say it was truncated.
func TestInspectAndList_TruncatedSegment_ReportTruncation(t *testing.T) {
	name := segName(t, "trunc")
	s, err := segment.Create(segment.SharedMemory(name), eventConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Release())
	truncate(t, "/dev/shm"+name, "100")

	code, _, errOut := runHere("inspect", name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, name+": "+layout.ErrTruncated.Error())
	code, out, errOut := runHere("list", name)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, layout.ErrTruncated.Error())
}

// TestDemo_Watch_SegmentTruncated_ReturnsFault gives the demo's progress reader a segment that a
// peer has truncated: it returns segment.ErrFault instead of crashing the demo's parent.
func TestDemo_Watch_SegmentTruncated_ReturnsFault(t *testing.T) {
	path := t.TempDir() + "/seg"
	s, err := segment.Create(segment.File(path), eventConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	truncate(t, path, "0")

	d := &demo{stdout: io.Discard, stderr: io.Discard}
	d.children = []*child{{role: "producer", done: make(chan struct{})}} // still running, for all watch knows
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = d.watch(ctx, s, 1, time.Millisecond)
	require.ErrorIs(t, err, segment.ErrFault)
	require.True(t, strings.HasPrefix(err.Error(), "read the segment's cursors"), err.Error())
}
