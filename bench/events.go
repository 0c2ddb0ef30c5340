package bench

import (
	"fmt"
	"unsafe"
)

// The event types of the throughput scenarios, one per size. Each begins with its sequence
// number, the only field producers write and consumers check (as the C and Rust baselines do), so
// a scenario's cost is the ring's, not the handler's. Event64 is the cross-language event: its
// descriptor struct{u64@0,[56]u8@8}:64:8 is written out in bench/interop/c/rwperf.c and
// bench/interop/rust/src/main.rs.
type (
	event8   struct{ Seq uint64 }
	event256 struct {
		Seq     uint64
		Payload [248]byte
	}
	event1024 struct {
		Seq     uint64
		Payload [1016]byte
	}
	event4096 struct {
		Seq     uint64
		Payload [4088]byte
	}
)

// event64 is the 64-byte event of the SPSC, cross-process and latency scenarios.
type event64 struct {
	Seq     uint64
	Payload [56]byte
}

// eventSizes are the sizes with an event type, smallest first.
var eventSizes = []int{8, 64, 256, 1024, 4096}

var (
	_ [8 - unsafe.Sizeof(event8{})]byte
	_ [unsafe.Sizeof(event8{}) - 8]byte
	_ [64 - unsafe.Sizeof(event64{})]byte
	_ [unsafe.Sizeof(event64{}) - 64]byte
	_ [4096 - unsafe.Sizeof(event4096{})]byte
	_ [unsafe.Sizeof(event4096{}) - 4096]byte
)

// seqOf points at the sequence word every event type starts with.
func seqOf[E any](e *E) *uint64 { return (*uint64)(unsafe.Pointer(e)) }

// bySize calls the instantiation of f for the event type of size bytes.
func bySize[R any](size int, f8, f64, f256, f1024, f4096 func() (R, error)) (R, error) {
	switch size {
	case 8:
		return f8()
	case 64:
		return f64()
	case 256:
		return f256()
	case 1024:
		return f1024()
	case 4096:
		return f4096()
	}
	var zero R
	return zero, fmt.Errorf("no event type of %d bytes (have %v)", size, eventSizes)
}
