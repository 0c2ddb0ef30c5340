package segment_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// TestStat_InvalidSegment_ReportsCreator corrupts real segments: Stat returns the validation
// error and, from the header, who created them, for as long as the header is recognizably
// ringwire's.
func TestStat_InvalidSegment_ReportsCreator(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(h *layout.Header)
		want    error
		creator bool
	}{
		{"bad magic", func(h *layout.Header) { h.Magic ^= 1 }, layout.ErrBadMagic, true},
		{"bad capacity", func(h *layout.Header) { h.Capacity = 3 }, layout.ErrCapacity, true},
		{"stuck initializing", func(h *layout.Header) { h.InitState.Store(layout.InitInitializing) }, layout.ErrInitializing, true},
		{"another program's bytes", func(h *layout.Header) { h.Magic, h.HeaderLen, h.TotalSize = 1, 7, 9 }, layout.ErrBadMagic, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := segment.File(t.TempDir() + "/seg")
			s, err := segment.Create(b, config(), segment.CreateOptions{})
			require.NoError(t, err)
			tt.corrupt(s.View().Header())
			require.NoError(t, s.Release())

			snap, err := segment.Stat(b)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, b, snap.Backing)
			require.Zero(t, snap.Capacity, "nothing but the creator is read from an invalid header")
			require.False(t, snap.Stale(), "its creator is this live process, or unknown")
			if tt.creator {
				require.Equal(t, uint32(os.Getpid()), snap.CreatorPID)
				require.Equal(t, segment.ProcessAlive, snap.Creator)
			} else {
				require.Zero(t, snap.CreatorPID)
				require.Equal(t, segment.ProcessNone, snap.Creator)
			}
		})
	}
}
