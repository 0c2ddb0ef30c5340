// Package consumer reads events from a ringwire segment (spec/LAYOUT.md sections 5.5 and 5.7).
// A Consumer registers in the segment's registry under a name, reads every event in sequence
// order, and publishes its progress through its own cursor, which gates the producer unless the
// consumer is optional.
package consumer

import (
	"errors"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// Errors returned by consumers; compare with errors.Is. They are the ring package's: the
// byte-level core under this package returns them.
var (
	ErrEndOfStream   = ring.ErrEndOfStream
	ErrTimeout       = ring.ErrTimeout // the one timeout of ringwire: also producer.ErrTimeout
	ErrEmpty         = ring.ErrEmpty
	ErrClosed        = ring.ErrConsumerClosed
	ErrRegistryFull  = ring.ErrRegistryFull
	ErrDuplicateName = ring.ErrDuplicateName
	ErrBadName       = ring.ErrBadName
	ErrEvicted       = ring.ErrEvicted
	ErrLeased        = errors.New("a leased event has not been released")
	ErrNotLeased     = errors.New("no leased event to release")
	ErrLapped        = ring.ErrLapped
	ErrGap           = ring.ErrGap
	ErrPoisoned      = ring.ErrPoisoned // errors carry a *layout.PoisonedError with the record
	ErrHalted        = ring.ErrConsumerHalted
	ErrUnknownStage  = ring.ErrUnknownStage
	// ErrDependencyUnavailable: a consumer named in Options.After was still choosing its start
	// (spec 5.7 step 6) for the whole wait, or stopped being active while this one registered.
	ErrDependencyUnavailable = ring.ErrDependencyUnavailable
	// ErrRegistryBusy: registration lost its race with other peers (takers, evictors) round
	// after round (spec 5.7 bounds the restarts).
	ErrRegistryBusy = ring.ErrRegistryBusy
	ErrReplaced     = ring.ErrReplaced
	ErrProducerDead = ring.ErrProducerDead
	ErrMissed       = ring.ErrMissed
)

// MissedError reports the events of a new incarnation of the segment (its producer restarted)
// that a consumer re-attaching with Options.Reattach could not read: sequences 0 to Lost-1, all
// published before it re-attached. An optional consumer starts at the oldest event still in the
// ring, so it missed only those already overwritten; a required consumer starts where it can
// gate the producer (the oldest cursor of the other required consumers, or the count). They are
// added to the entry's lost count. errors.Is(err, ErrMissed) is true. Reading may continue.
type MissedError = ring.MissedError

// ProducerDeadError reports that every producer of the stream died without closing it (killed,
// crashed) after the consumer had read everything they published: nothing more will come.
// errors.Is(err, ErrProducerDead) is true.
type ProducerDeadError = ring.ProducerDeadError

// GapError reports sequences that a producer claimed but died before publishing (multi mode, spec
// 5.8). They are passed over, never delivered as events; reading continues after them.
// errors.Is(err, ErrGap) is true.
type GapError = ring.GapError

// LappedError reports how many events an optional consumer lost because the producer overwrote
// them before they were read. errors.Is(err, ErrLapped) is true. Reading may continue: the
// consumer has already moved past the lost events.
type LappedError = ring.LappedError

// Start says where a new consumer begins reading.
type Start = ring.Start

const (
	// StartLatest begins at the producer's current cursor: only events published from now on.
	StartLatest = ring.StartLatest
	// StartOldest begins at the oldest event still unconsumed by any active required consumer,
	// or at the producer's cursor if there is none.
	StartOldest = ring.StartOldest
)

// Options configure a consumer: the core's options (one list, one set of defaults). OnLoss is
// what Run does with a loss.
type Options = ring.ConsumerOptions

// Handler receives events in sequence order. endOfBatch is true on the last event of the run
// that was available when the batch began. ev is valid only during the call. A non-nil error
// stops the batch: the events before ev count as consumed, ev does not.
type HandlerFunc[T any] func(ev *T, seq uint64, endOfBatch bool) error

// Consumer reads events of type T. It is not safe for concurrent use: one goroutine reads.
//
// It is a typed layer over a ring.Consumer, which owns the protocol: this type adds T's event
// type when registering, turns slot addresses into *T, runs the handlers and keeps the lease of
// TryNext.
type Consumer[T any] struct {
	r      *ring.Consumer
	opt    bool // optional: every read is copied, then checked against laps
	pooled bool // a worker of a Pool
	leased bool
}

// Attach maps the segment at b (waiting up to Options.AttachTimeout for it to exist and finish
// initializing), checks that it carries events of type T, and registers a consumer in it.
func Attach[T any](b segment.Backing, o Options) (*Consumer[T], error) {
	seg, err := segment.Attach(b, o.AttachWait())
	if err != nil {
		return nil, err
	}
	c, err := Register[T](seg, o)
	seg.Release() // Register took its own reference
	return c, err
}

// Register registers a consumer in a segment this process already holds, such as a heap ring's
// (producer.Segment()). The segment stays mapped until the consumer's Close.
func Register[T any](seg *segment.Segment, o Options) (*Consumer[T], error) {
	if err := ring.CheckName(o.Name); err != nil {
		return nil, err
	}
	et, err := layout.TypeOf[T]()
	if errors.Is(err, layout.ErrNotRepresented) && seg.Backing().Kind() == segment.KindHeap {
		et, err = layout.LocalTypeOf[T](), nil // a Go-typed heap ring (see producer.Create)
	}
	if err != nil {
		return nil, err
	}
	r, err := ring.RegisterConsumer(seg, et, o)
	if err != nil {
		return nil, err
	}
	return &Consumer[T]{r: r, opt: o.Optional, pooled: o.Pool != nil}, nil
}

// Resumed reports whether this consumer took over the registration of a dead (or evicted)
// consumer of the same name and continues from its cursor rather than from Options.Start.
func (c *Consumer[T]) Resumed() bool { return c.r.Resumed() }

// Segment returns the consumer's segment.
func (c *Consumer[T]) Segment() *segment.Segment { return c.r.Segment() }

// Cursor returns the count of events this consumer has finished with: the next sequence it reads.
func (c *Consumer[T]) Cursor() uint64 { return c.r.Next() }

// Index returns the consumer's registry entry index.
func (c *Consumer[T]) Index() int { return c.r.Index() }

// Lag returns how many published events this consumer has not read yet.
func (c *Consumer[T]) Lag() uint64 { return c.r.Lag() }

// ProducerCheckEvery is how often a waiting consumer checks that the stream's producers are alive
// (see Options.ReadTimeout).
const ProducerCheckEvery = ring.ProducerCheckEvery

// Close deregisters the consumer (its entry becomes closed and stops gating the producer) and
// releases the segment.
func (c *Consumer[T]) Close() error { return c.r.Close() }
