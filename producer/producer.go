// Package producer publishes fixed-size events into a ringwire segment (spec/LAYOUT.md sections
// 5.3 and 5.4). A Producer is generic over its event type T, which must be plain fixed-size data
// (layout.TypeOf says which types qualify).
package producer

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// Errors returned by producers; compare with errors.Is.
var (
	ErrFull             = errors.New("ring full")
	ErrTimeout          = errors.New("timed out waiting for room")
	ErrClosed           = errors.New("producer closed")
	ErrBatchTooLarge    = errors.New("batch larger than the ring")
	ErrClaimOutstanding = errors.New("a claim is outstanding")
	ErrNoClaim          = errors.New("no outstanding claim to commit")
	ErrWrongMode        = errors.New("segment has the other producer mode")
	ErrExhausted        = errors.New("sequence space exhausted (2^63)")
)

// maxSequence is the first count a producer refuses to reach (spec section 2).
const maxSequence = 1 << 63

// Mode is the producer mode recorded in the segment.
type Mode uint32

const (
	Single Mode = Mode(layout.SingleProducer) // one producer (one goroutine at a time)
	Multi  Mode = Mode(layout.MultiProducer)  // any number of producers, in any processes
)

// Options configure a producer. The zero value is usable.
type Options struct {
	Capacity uint64 // slots, a power of two; 0 means 1024
	Registry uint32 // consumer registry entries, 1 to 64; 0 means 16
	Mode     Mode   // Single (default) or Multi
	TypeName string // recorded in the header; default the Go type's name

	Wait    coordination.Strategy // how to wait while the ring is full; default Yield
	Timeout time.Duration         // longest wait for room in Publish; 0 waits forever

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
		o.Wait = coordination.Yield()
	}
}

// Producer publishes events of type T. In Single mode it is not safe for concurrent use: one
// goroutine publishes at a time. In Multi mode every method except Close is safe for concurrent
// use, and other Multi producers may attach to the same segment from any process.
type Producer[T any] struct {
	seg     *segment.Segment
	v       *layout.View
	hdr     *layout.Header
	cursors *layout.Cursors
	wait    *layout.Wait
	mask    uint64
	cap     uint64
	multi   bool
	creator bool

	strategy coordination.Strategy
	timeout  time.Duration
	keep     bool

	// Single mode only: the private claim count and the cached gating bound (spec 5.3).
	next    uint64
	bound   uint64
	pending int // events claimed by Claim and not yet committed
	closed  bool
}

// New creates a segment for events of type T at b and returns its producer.
func New[T any](b segment.Backing, o Options) (*Producer[T], error) {
	o.defaults()
	et, err := eventType[T](o.TypeName)
	if err != nil {
		return nil, err
	}
	seg, err := segment.Create(b, layout.Config{
		Capacity: o.Capacity, RegistryCapacity: o.Registry, Mode: uint32(o.Mode), Event: et,
	}, segment.CreateOptions{Perm: o.Perm, Replace: o.Replace, ReclaimStale: o.ReclaimStale})
	if err != nil {
		return nil, err
	}
	p := newProducer[T](seg, o)
	p.creator = true
	return p, nil
}

// Attach joins an existing Multi-mode segment at b as one more producer, waiting up to timeout for
// it to appear. The segment's event type must be T's.
func Attach[T any](b segment.Backing, timeout time.Duration, o Options) (*Producer[T], error) {
	seg, err := segment.Attach(b, timeout)
	if err != nil {
		return nil, err
	}
	p, err := Join[T](seg, o)
	seg.Release() // Join took its own reference
	return p, err
}

// Join adds a producer to a segment this process already holds (an in-process Multi ring). The
// segment stays mapped until the producer's Close.
func Join[T any](seg *segment.Segment, o Options) (*Producer[T], error) {
	o.defaults()
	et, err := eventType[T](o.TypeName)
	if err != nil {
		return nil, err
	}
	if err := seg.View().CheckEventType(et); err != nil {
		return nil, err
	}
	if seg.View().Mode() != layout.MultiProducer {
		return nil, fmt.Errorf("join %s: %w: it is a single-producer ring", seg.Backing(), ErrWrongMode)
	}
	if err := seg.Acquire(); err != nil {
		return nil, err
	}
	return newProducer[T](seg, o), nil
}

func newProducer[T any](seg *segment.Segment, o Options) *Producer[T] {
	v := seg.View()
	p := &Producer[T]{
		seg: seg, v: v, hdr: v.Header(), cursors: v.Cursors(), wait: v.Wait(),
		cap: v.Capacity(), mask: v.Capacity() - 1, multi: v.Mode() == layout.MultiProducer,
		strategy: o.Wait, timeout: o.Timeout, keep: o.Keep,
	}
	if !p.multi {
		p.next = p.cursors.Published.Load()
		p.bound = p.next // forces a gating scan on the first publish
	}
	return p
}

func eventType[T any](name string) (layout.EventType, error) {
	et, err := layout.TypeOf[T]()
	if err != nil {
		return et, err
	}
	if name != "" {
		et.Name = name
	}
	return et, nil
}

// Segment returns the producer's segment, through which in-process consumers attach to a heap
// ring.
func (p *Producer[T]) Segment() *segment.Segment { return p.seg }

// Capacity returns the number of slots in the ring.
func (p *Producer[T]) Capacity() uint64 { return p.cap }

// Published returns how many events have been published (multi mode: claimed).
func (p *Producer[T]) Published() uint64 {
	if p.multi {
		return p.cursors.Claimed.Load()
	}
	return p.next
}

// gatingMin returns the lowest cursor of every active required consumer, or fallback when there
// is none (spec 5.3 step 1).
func (p *Producer[T]) gatingMin(fallback uint64) uint64 {
	m := fallback
	for i, n := 0, p.v.Entries(); i < n; i++ {
		e := p.v.Entry(i)
		if e.State.Load() == layout.EntryActive && e.Flags&layout.FlagRequired != 0 {
			if c := e.Cursor.Load(); c < m {
				m = c
			}
		}
	}
	return m
}

// Remaining returns how many events could be published now without waiting.
func (p *Producer[T]) Remaining() uint64 {
	pub := p.Published()
	m := p.gatingMin(pub)
	if pub-m >= p.cap {
		return 0
	}
	return p.cap - (pub - m)
}

func (p *Producer[T]) deadline() time.Time {
	if p.timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(p.timeout)
}

// Close marks the stream ended (consumers drain what was published, then see the end), wakes
// every waiter, unmaps the segment and, if this producer created it and Keep was not set,
// removes its name. A Multi producer that attached only detaches.
func (p *Producer[T]) Close() error {
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	var errs []error
	if p.creator {
		p.hdr.ProducerState.Store(layout.ProducerClosed)
		coordination.Notify(&p.wait.Consumer)
		if !p.keep && p.seg.Backing().Kind() != segment.KindHeap {
			if err := segment.Remove(p.seg.Backing()); err != nil && !errors.Is(err, segment.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, p.seg.Release())
	return errors.Join(errs...)
}

// Heartbeat records that the producer is alive (header producer_heartbeat_ns).
func (p *Producer[T]) Heartbeat() { p.hdr.ProducerHeartbeatNs.Store(sys.Monotonic()) }
