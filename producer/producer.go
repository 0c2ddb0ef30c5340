// Package producer publishes fixed-size events into a ringwire segment (spec/LAYOUT.md sections
// 5.3 and 5.4). A Producer is generic over its event type T, which must be plain fixed-size data
// (layout.TypeOf says which types qualify).
package producer

import (
	"errors"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// Errors returned by producers; compare with errors.Is. They are the ring package's: the
// byte-level core under this package returns them.
var (
	ErrFull             = ring.ErrFull
	ErrTimeout          = ring.ErrTimeout // the one timeout of ringwire: also consumer.ErrTimeout
	ErrClosed           = ring.ErrProducerClosed
	ErrBatchTooLarge    = ring.ErrBatchTooLarge
	ErrBadBatch         = ring.ErrBadBatch // a claim of n < 1, or a batch of n < 0
	ErrClaimOutstanding = ring.ErrClaimOutstanding
	ErrNoClaim          = ring.ErrNoClaim
	ErrWrongMode        = ring.ErrWrongMode
	ErrExhausted        = ring.ErrExhausted
	ErrPoisoned         = ring.ErrPoisoned // the ring is poisoned; errors carry a *layout.PoisonedError

	ErrProducersFull = ring.ErrProducersFull
	ErrContended     = ring.ErrContended
	ErrHalted        = ring.ErrProducerHalted
)

// FullError is the transient error of a try-publish on a full ring: it says how many more slots
// the claim needed. errors.Is(err, ErrFull) is true.
type FullError = ring.FullError

// Temporary reports whether retrying err later may succeed: true for a full or contended ring,
// false for terminal errors (closed, halted, poisoned, a bad batch size).
func Temporary(err error) bool { return ring.Temporary(err) }

// Mode is the producer mode recorded in the segment.
type Mode = ring.Mode

const (
	Single = ring.Single // one producer (one goroutine at a time)
	Multi  = ring.Multi  // any number of producers, in any processes
)

// Options configure a producer (the core's options: one list, one set of defaults). The zero
// value is usable. TypeName, if set, is recorded in the header instead of the Go type's name.
type Options = ring.ProducerOptions

// Producer publishes events of type T. In Single mode it is not safe for concurrent use: one
// goroutine publishes at a time. In Multi mode every method except Close is safe for concurrent
// use, and other Multi producers may attach to the same segment from any process.
//
// It is a typed layer over a ring.Producer, which owns the protocol: this type adds T's event
// type when creating or registering, turns slot addresses into *T and runs the fill functions.
type Producer[T any] struct {
	r *ring.Producer
}

// Create creates a segment for events of type T at b and returns its producer.
func Create[T any](b segment.Backing, o Options) (*Producer[T], error) {
	et, local, err := eventType[T](b.Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	ev := ring.Events{Type: et}
	if local {
		ev.HeapSlots = func(n uint64) unsafe.Pointer { return unsafe.Pointer(&make([]T, n)[0]) }
	}
	r, err := ring.Create(b, ev, o)
	if err != nil {
		return nil, err
	}
	return &Producer[T]{r: r}, nil
}

// Attach joins an existing Multi-mode segment at b as one more producer, waiting up to timeout for
// it to appear. The segment's event type must be T's.
func Attach[T any](b segment.Backing, timeout time.Duration, o Options) (*Producer[T], error) {
	seg, err := segment.Attach(b, timeout)
	if err != nil {
		return nil, err
	}
	p, err := Register[T](seg, o)
	seg.Release() // Register took its own reference
	return p, err
}

// Register adds a producer to a segment this process already holds (an in-process Multi ring). The
// segment stays mapped until the producer's Close.
func Register[T any](seg *segment.Segment, o Options) (*Producer[T], error) {
	et, _, err := eventType[T](seg.Backing().Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	r, err := ring.RegisterProducer(seg, et, o)
	if err != nil {
		return nil, err
	}
	return &Producer[T]{r: r}, nil
}

// eventType describes T for the segment. On the heap, a T that cannot be shared between
// processes (it holds Go pointers) is still allowed: local reports that its slots must then be a
// Go slice the garbage collector scans.
func eventType[T any](heap bool) (et layout.EventType, local bool, err error) {
	et, err = layout.TypeOf[T]()
	if errors.Is(err, layout.ErrNotRepresented) && heap {
		et, local, err = layout.LocalTypeOf[T](), true, nil
	}
	if err != nil {
		return et, false, err
	}
	return et, local, nil
}

// Segment returns the producer's segment, through which in-process consumers attach to a heap
// ring.
func (p *Producer[T]) Segment() *segment.Segment { return p.r.Segment() }

// Capacity returns the number of slots in the ring.
func (p *Producer[T]) Capacity() uint64 { return p.r.Capacity() }

// Published returns how many events have been published: every sequence below it is readable.
// In Multi mode that is the contiguous prefix of sequences published (or passed over as gaps,
// spec 5.8) by all the ring's producers, read from the availability words: sequences claimed but
// still being written, and those after them, do not count yet. Safe for concurrent use in Multi
// mode; it reads up to one word per slot.
func (p *Producer[T]) Published() uint64 { return p.r.Published() }

// Poisoned returns the failure record if the ring is poisoned.
func (p *Producer[T]) Poisoned() (layout.Poison, bool) { return p.r.Poisoned() }

// Await says which consumers to wait for before publishing.
type Await = ring.Await

// AwaitConsumers waits until the consumers a describes are active in the ring.
func (p *Producer[T]) AwaitConsumers(a Await) error { return p.r.AwaitConsumers(a) }

// Remaining returns how many events could be published now without waiting.
func (p *Producer[T]) Remaining() uint64 { return p.r.Remaining() }

// Close marks the stream ended (consumers drain what was published, then see the end), wakes
// every waiter, unmaps the segment and, if this producer created it and Keep was not set,
// removes its name. A Multi producer that attached only detaches.
func (p *Producer[T]) Close() error { return p.r.Close() }

// Heartbeat records that the producer is alive (header producer_heartbeat_ns).
func (p *Producer[T]) Heartbeat() { p.r.Heartbeat() }
