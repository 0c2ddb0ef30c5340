// Package producer publishes fixed-size events into a ringwire segment (spec/LAYOUT.md sections
// 5.3 and 5.4). A Producer is generic over its event type T, which must be plain fixed-size data
// (layout.TypeOf says which types qualify).
package producer

import (
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
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
type Mode uint32

const (
	Single Mode = Mode(layout.SingleProducer) // one producer (one goroutine at a time)
	Multi  Mode = Mode(layout.MultiProducer)  // any number of producers, in any processes
)

// Options configure a producer. The zero value is usable.
type Options struct {
	Capacity  uint64 // slots, a power of two; 0 means 1024
	Registry  uint32 // consumer registry entries, 1 to 64; 0 means 16
	Mode      Mode   // Single (default) or Multi
	Producers uint32 // Multi mode: producer registry entries, 1 to 64; 0 means 8
	TypeName  string // recorded in the header; default the Go type's name

	Wait    coordination.Strategy // how to wait while the ring is full; default coordination.Default() (Blocking)
	Timeout time.Duration         // longest wait for room in Publish; 0 waits forever
	// Await holds Create until the given consumers have attached (coordination modes): at least
	// Consumers active consumers and every one named in Names, within Timeout (0: no limit).
	// Create fails with coordination.ErrAwaitTimeout, removing the segment, when they do not come.
	Await Await
	// Liveness says what to do, while waiting for room, about required consumers that are dead
	// or stalled: wait for them (the zero value), fail the publish naming them, or evict them.
	Liveness liveness.Policy
	// Halt, if set, makes every wait for room fail with ErrHalted once it becomes true (the setter
	// must also wake blocked waiters, e.g. with coordination.WakeAll).
	Halt *atomic.Bool
	// CloseTimeout bounds how long the creator of a Multi ring waits in Close for claimed events
	// to be published; 0 means 5s.
	CloseTimeout time.Duration

	Perm         os.FileMode // of the shared-memory object or file; 0 means 0600
	Replace      bool        // replace an existing segment of the same name
	ReclaimStale bool        // replace an existing segment only if its creator is dead
	Keep         bool        // leave the segment's name in place on Close
}

func (o *Options) defaults() {
	if o.Capacity == 0 {
		o.Capacity = 1024
	}
	if o.Registry == 0 {
		o.Registry = 16
	}
	if o.Mode == 0 {
		o.Mode = Single
	}
	if o.Wait == nil {
		o.Wait = coordination.Default()
	}
}

// ring returns the core's options for events of type et.
func (o *Options) ring(et layout.EventType) ring.ProducerOptions {
	return ring.ProducerOptions{
		Event: et, Capacity: o.Capacity, Registry: o.Registry, Mode: uint32(o.Mode), Producers: o.Producers,
		Wait: o.Wait, Timeout: o.Timeout, Await: o.Await, Liveness: o.Liveness, Halt: o.Halt,
		CloseTimeout: o.CloseTimeout, Perm: o.Perm, Replace: o.Replace, ReclaimStale: o.ReclaimStale, Keep: o.Keep,
	}
}

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
	o.defaults()
	et, local, err := eventType[T](o.TypeName, b.Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	ro := o.ring(et)
	if local {
		ro.HeapSlots = func(n uint64) unsafe.Pointer { return unsafe.Pointer(&make([]T, n)[0]) }
	}
	r, err := ring.Create(b, ro)
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
	o.defaults()
	et, _, err := eventType[T](o.TypeName, seg.Backing().Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	r, err := ring.RegisterProducer(seg, o.ring(et))
	if err != nil {
		return nil, err
	}
	return &Producer[T]{r: r}, nil
}

// eventType describes T for the segment. On the heap, a T that cannot be shared between
// processes (it holds Go pointers) is still allowed: local reports that its slots must then be a
// Go slice the garbage collector scans.
func eventType[T any](name string, heap bool) (et layout.EventType, local bool, err error) {
	et, err = layout.TypeOf[T]()
	if errors.Is(err, layout.ErrNotRepresented) && heap {
		et, local, err = layout.LocalTypeOf[T](), true, nil
	}
	if err != nil {
		return et, false, err
	}
	if name != "" {
		et.Name = name
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
