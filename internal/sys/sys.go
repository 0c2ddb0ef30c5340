// Package sys is the only importer of golang.org/x/sys/unix. It wraps the few operating-system
// calls ringwire needs: shared-memory objects, mappings, futexes, the monotonic clock, process
// identity and CPU pinning. Linux is the primary platform; other Unix systems (macOS) get honest
// fallbacks documented on each function.
package sys

import "errors"

// ErrUnsupported is returned by calls this platform cannot do, such as POSIX shared memory without
// cgo on macOS.
var ErrUnsupported = errors.New("not supported on this platform")
