package segment

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Guard runs fn and turns a memory fault in it into an error: when fn's goroutine touches memory
// that faults, such as a segment another process truncated under it (SIGBUS), Guard returns
// ErrFault instead of letting the process die (it sets runtime/debug.SetPanicOnFault for the
// duration of fn). Otherwise it returns fn's error. Only the calling goroutine is covered, not
// goroutines that fn starts. Other panics, nil-pointer dereferences among them, propagate.
// After a fault, whatever fn had read may be incomplete: discard it. Mappings made inside fn by
// this package are released when a fault unwinds them.
//
// Guard is for tools that read segments of processes they do not trust to leave the segment's
// size alone; producers' and consumers' hot paths do not use it.
func Guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		// A fault at an address SetPanicOnFault reports carries the address; the runtime's
		// nil-pointer error does not.
		if f, ok := r.(interface {
			runtime.Error
			Addr() uintptr
		}); ok {
			err = fmt.Errorf("%w: fault at address %#x", ErrFault, f.Addr())
			return
		}
		panic(r)
	}()
	return fn()
}
