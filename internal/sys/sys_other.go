//go:build !linux

package sys

import (
	"fmt"
	"os"
)

// Reserve gives f its size with ftruncate. It cannot reserve the memory: without cgo there is no
// posix_fallocate here, and the shared-memory objects and files ftruncate sizes are sparse, so a
// file system that runs out of room is only noticed when a write through a mapping faults
// (SIGBUS). The caller's "no space" error therefore never comes from this platform.
func Reserve(f *os.File, size int64) error { return f.Truncate(size) }

// InUse reports ErrUnsupported: this platform has no /proc to tell which processes have a file
// open or mapped, so the caller must treat the file as in use.
func InUse(path string) (bool, error) {
	return false, fmt.Errorf("find the processes using %s: %w", path, ErrUnsupported)
}
