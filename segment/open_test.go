package segment_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/segment"
)

// TestAttach_NotRegularFile_Refused plants a symbolic link in /dev/shm to a real segment, as an
// attacker who may write there can, and other things that are not regular files: Attach and Stat
// refuse them all (C and Rust, through shm_open's O_NOFOLLOW, refuse the link too).
func TestAttach_NotRegularFile_Refused(t *testing.T) {
	target := rwName(t, "target")
	s, err := segment.Create(segment.SharedMemory(target), config(), segment.CreateOptions{})
	require.NoError(t, err)
	defer s.Release()
	link := rwName(t, "link")
	require.NoError(t, os.Symlink("/dev/shm"+target, "/dev/shm"+link))
	dir := t.TempDir()
	require.NoError(t, os.Symlink("/dev/shm"+target, dir+"/link"))
	require.NoError(t, syscall.Mkfifo(dir+"/fifo", 0o600))

	tests := []struct {
		name string
		b    segment.Backing
	}{
		{"symbolic link in /dev/shm to a segment", segment.SharedMemory(link)},
		{"symbolic link to a segment", segment.File(dir + "/link")},
		{"FIFO", segment.File(dir + "/fifo")},
		{"directory", segment.File(dir)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := segment.Attach(tt.b, 0)
			if a != nil {
				a.Release()
			}
			require.ErrorIs(t, err, segment.ErrNotRegular)
			_, err = segment.Stat(tt.b)
			require.ErrorIs(t, err, segment.ErrNotRegular)
		})
	}

	// Creating over the link neither follows it nor touches the segment it points to.
	_, err = segment.Create(segment.SharedMemory(link), config(), segment.CreateOptions{})
	require.ErrorIs(t, err, segment.ErrExists)
	require.Equal(t, s.Incarnation(), func() uint64 {
		snap, err := segment.Stat(segment.SharedMemory(target))
		require.NoError(t, err)
		return snap.Incarnation
	}())
	// Nor does listing report the link.
	bs, err := segment.List(target[:len(target)-len("target")])
	require.NoError(t, err)
	require.Equal(t, []segment.Backing{segment.SharedMemory(target)}, bs)
}
