// Package consumer reads events from a ringwire segment (spec/LAYOUT.md sections 5.5 and 5.7).
// A Consumer registers in the segment's registry under a name, reads every event in sequence
// order, and publishes its progress through its own cursor, which gates the producer unless the
// consumer is optional.
package consumer

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/ringwire/ringwire/coordination"
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
type Start int

const (
	// StartLatest begins at the producer's current cursor: only events published from now on.
	StartLatest Start = iota
	// StartOldest begins at the oldest event still unconsumed by any active required consumer,
	// or at the producer's cursor if there is none.
	StartOldest
)

// Options configure a consumer.
type Options struct {
	Name     string // unique among active consumers, 1 to 48 bytes; required
	Optional bool   // never gate the producer (see spec section 10)
	Start    Start
	TypeName string // only for error messages; the fingerprint decides

	Wait          coordination.Strategy // how to wait for events; default coordination.Default() (Blocking)
	AttachTimeout time.Duration         // Attach waits this long for the segment to appear; default 5s
	// ReadTimeout is the longest wait for an event; 0 waits forever, unless the producer dies.
	// A waiting read checks every 100 ms (ProducerCheckEvery) whether the stream's producers are
	// alive: once they are all dead (spec section 8) and every event they published was read, it
	// fails with a *ProducerDeadError (ErrProducerDead). The check runs between two polls of the
	// strategy, so it comes at most 100 ms plus one wait of the strategy after the death: about
	// 100 ms spinning or yielding, 200 ms Blocking (one kernel sleep is at most 100 ms), 100 ms
	// plus the longest sleep with Sleep. With Reattach, a dead producer is not an error: the
	// consumer goes on waiting for it to restart over the name. Non-waiting reads (Poll,
	// TryNext) do not check.
	ReadTimeout time.Duration
	// StallTimeout is how long a required consumer of a multi-producer ring waits at a claimed
	// but unpublished sequence before it checks whether the claiming producer died, and if so
	// passes over its claim (spec 5.8); 0 means 1s.
	StallTimeout time.Duration

	// After names the consumers this one reads behind (spec 4.3 depends_on): it sees a sequence
	// only once every one of them has finished with it. They must be registered already. Empty
	// means it reads behind the producer.
	After []string
	// Pool makes this consumer a worker of a work-pool stage: each sequence goes to one worker
	// of the pool only (in-process; see Pool). Process then handles one event per call.
	Pool *Pool
	// Halt, if set, stops every wait of this consumer with ErrHalted once it becomes true (the
	// setter must also wake blocked waiters, e.g. with coordination.WakeAll).
	Halt *atomic.Bool

	// Reattach, when the segment's name comes to hold a new incarnation (its producer restarted
	// with Replace or ReclaimStale), attaches to the new segment under the same name and goes on
	// reading there; without it, reads fail with ErrReplaced. Checked only while waiting, every
	// 100 ms. An optional consumer starts in the new segment at the oldest event still in its
	// ring, a required one as StartOldest says; if that is not the segment's first event, the
	// read that re-attached returns the events missed as a *MissedError (also counted in the
	// entry's lost field), before any event of the new segment.
	Reattach bool

	// OnLoss, if set, is told of every loss Run meets (a *GapError, *LappedError or
	// *MissedError) and Run goes on; if nil, Run returns the loss as its error.
	OnLoss func(error)
}

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
	onLoss func(error)
	leased bool
}

// Attach maps the segment at b (waiting up to Options.AttachTimeout for it to exist and finish
// initializing), checks that it carries events of type T, and registers a consumer in it.
func Attach[T any](b segment.Backing, o Options) (*Consumer[T], error) {
	timeout := o.AttachTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	seg, err := segment.Attach(b, timeout)
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
	if o.TypeName != "" {
		et.Name = o.TypeName
	}
	r, err := ring.RegisterConsumer(seg, ring.ConsumerOptions{
		Event: et, Name: o.Name, Optional: o.Optional, Start: ring.Start(o.Start),
		Wait: o.Wait, AttachTimeout: o.AttachTimeout, ReadTimeout: o.ReadTimeout, StallTimeout: o.StallTimeout,
		After: o.After, Pool: o.Pool, Halt: o.Halt, Reattach: o.Reattach,
	})
	if err != nil {
		return nil, err
	}
	return &Consumer[T]{r: r, opt: o.Optional, pooled: o.Pool != nil, onLoss: o.OnLoss}, nil
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
