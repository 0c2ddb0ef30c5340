package segment_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// Spec 5.2 check 1: a 0-byte object is a creation in progress (created, not yet sized): an
// attacher retries until its deadline and then says "initializing"; 1 to 511 bytes is "too small".
func TestAttach_EmptyObjectIsInitializing(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		want error
	}{
		{name: "empty", size: 0, want: layout.ErrInitializing},
		{name: "short", size: 100, want: layout.ErrTooSmall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := testseg.Name(t)
			path := "/dev/shm" + name
			require.NoError(t, os.WriteFile(path, make([]byte, tc.size), 0o600))
			t.Cleanup(func() { os.Remove(path) })
			_, err := segment.Attach(segment.SharedMemory(name), 50*time.Millisecond)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
