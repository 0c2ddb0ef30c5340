package segment_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// TestAttach_TruncatedSegment_ReportsTruncated shrinks real segments before anyone maps them:
// Attach and Stat compare the file's size with total_size and say so, without mapping what is
// gone.
func TestAttach_TruncatedSegment_ReportsTruncated(t *testing.T) {
	tests := []struct {
		name string
		size func(total int64) int64
		want error
	}{
		{"to half", func(total int64) int64 { return total / 2 }, layout.ErrTruncated},
		{"inside the header", func(int64) int64 { return 100 }, layout.ErrTruncated},
		// An empty file is what a creator has between open and sizing it: initializing (spec 5.2 check 1).
		{"to nothing", func(int64) int64 { return 0 }, layout.ErrInitializing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := t.TempDir() + "/seg"
			s, err := segment.Create(segment.File(path), config(), segment.CreateOptions{})
			require.NoError(t, err)
			total := int64(s.View().Header().TotalSize)
			require.NoError(t, s.Release())
			require.NoError(t, os.Truncate(path, tt.size(total)))

			a, err := segment.Attach(segment.File(path), 0)
			if a != nil {
				a.Release()
			}
			require.ErrorIs(t, err, tt.want)
			_, err = segment.Stat(segment.File(path))
			require.ErrorIs(t, err, tt.want)
		})
	}
}

// TestGuard_SegmentTruncatedByPeer_ReturnsErrFault has another process (truncate(1)) shrink a
// live segment this process has mapped: a read under Guard returns ErrFault instead of killing
// the process with SIGBUS.
func TestGuard_SegmentTruncatedByPeer_ReturnsErrFault(t *testing.T) {
	b := segment.SharedMemory(rwName(t, "guard"))
	s, err := segment.Create(b, config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	a, err := segment.Attach(b, 0)
	require.NoError(t, err)
	defer a.Release()
	require.NoError(t, segment.Guard(func() error {
		a.View().Cursors().Published.Load()
		return nil
	}), "nothing faults before the truncation")

	out, err := exec.Command("truncate", "-s", "0", "/dev/shm"+b.Name()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	err = segment.Guard(func() error {
		a.View().Cursors().Published.Load()
		return nil
	})
	require.ErrorIs(t, err, segment.ErrFault)

	// A nil-pointer dereference is a bug, not a fault of the segment: it still panics.
	require.Panics(t, func() {
		_ = segment.Guard(func() error {
			var p *layout.Header
			_ = p.Capacity
			return nil
		})
	})
}
