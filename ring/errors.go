package ring

import (
	"errors"
	"fmt"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
)

// Errors of the ring's producers and consumers; compare with errors.Is. The producer and
// consumer packages re-export them under their own names (producer.ErrFull is ErrFull,
// consumer.ErrClosed is ErrConsumerClosed, ...).
var (
	ErrTimeout  = coordination.ErrTimeout // ringwire's one timeout
	ErrPoisoned = layout.ErrPoisoned      // errors carry a *layout.PoisonedError with the record

	// Producers.
	ErrFull             = errors.New("ring full")
	ErrProducerClosed   = errors.New("producer closed")
	ErrBatchTooLarge    = errors.New("batch larger than the ring")
	ErrBadBatch         = errors.New("batch size must be 1 to capacity") // a claim of n < 1, or a batch of n < 0
	ErrClaimOutstanding = errors.New("a claim is outstanding")
	ErrNoClaim          = errors.New("no outstanding claim to publish")
	ErrWrongMode        = errors.New("segment has the other producer mode")
	ErrExhausted        = errors.New("sequence space exhausted (2^62)")
	ErrProducersFull    = errors.New("producer registry full")
	ErrContended        = errors.New("claim contended by other producers")
	ErrProducerHalted   = errors.New("producer halted")

	// Consumers.
	ErrEndOfStream    = errors.New("end of stream: the producer closed and every event was read")
	ErrEmpty          = errors.New("no event available")
	ErrConsumerClosed = errors.New("consumer closed")
	ErrRegistryFull   = errors.New("consumer registry full")
	ErrDuplicateName  = errors.New("a consumer with this name is already active")
	ErrBadName        = errors.New("invalid consumer name")
	ErrEvicted        = errors.New("consumer was evicted")
	ErrLapped         = errors.New("optional consumer was lapped by the producer")
	ErrGap            = errors.New("sequence passed over: its producer died before publishing it")
	ErrConsumerHalted = errors.New("consumer halted")
	ErrUnknownStage   = errors.New("no active required consumer with that name to read behind")
	// ErrDependencyUnavailable: a consumer named in ConsumerOptions.After was still choosing its
	// start (spec 5.7 step 6) for the whole wait, or stopped being active while this one
	// registered.
	ErrDependencyUnavailable = errors.New("the consumer to read behind is not available")
	// ErrRegistryBusy: registration lost its race with other peers (takers, evictors) round
	// after round (spec 5.7 bounds the restarts).
	ErrRegistryBusy = errors.New("the consumer registry kept changing during registration")
	ErrReplaced     = errors.New("segment replaced: its producer restarted over it")
	ErrProducerDead = errors.New("producer died without closing the stream")
	ErrMissed       = errors.New("events published before the consumer re-attached were missed")
)

// FullError is the transient error of a try-claim on a full ring: it says how many more slots
// the claim needed. errors.Is(err, ErrFull) is true.
type FullError struct{ Missing uint64 }

func (e *FullError) Error() string { return fmt.Sprintf("ring full: %d more slots needed", e.Missing) }

// Unwrap makes errors.Is(err, ErrFull) true.
func (e *FullError) Unwrap() error { return ErrFull }

// Temporary reports whether retrying a producer's err later may succeed: true for a full or
// contended ring and a timeout, false for terminal errors (closed, halted, poisoned, a bad batch
// size).
func Temporary(err error) bool {
	return errors.Is(err, ErrFull) || errors.Is(err, ErrContended) || errors.Is(err, ErrTimeout)
}

// MissedError reports the events of a new incarnation of the segment (its producer restarted)
// that a consumer re-attaching with ConsumerOptions.Reattach could not read: sequences 0 to
// Lost-1, all published before it re-attached. An optional consumer starts at the oldest event
// still in the ring, so it missed only those already overwritten; a required consumer starts
// where it can gate the producer (the oldest cursor of the other required consumers, or the
// count). They are added to the entry's lost count. errors.Is(err, ErrMissed) is true. Reading
// may continue.
type MissedError struct {
	Incarnation uint64 // of the segment re-attached to
	Lost        uint64 // its sequences 0 to Lost-1 were missed
}

func (e *MissedError) Error() string {
	return fmt.Sprintf("re-attached to a new incarnation (%#x) of the segment: %d events published before were missed", e.Incarnation, e.Lost)
}

// Unwrap makes errors.Is(err, ErrMissed) true.
func (e *MissedError) Unwrap() error { return ErrMissed }

// ProducerDeadError reports that every producer of the stream died without closing it (killed,
// crashed) after the consumer had read everything they published: nothing more will come.
// errors.Is(err, ErrProducerDead) is true.
type ProducerDeadError struct {
	PID uint32 // the process that created the segment (in multi mode, its other producers died too)
	// Unpublished counts the claimed sequences from the consumer's cursor on that it never got:
	// their producer died before publishing them (in multi mode, for a consumer that may not pass
	// over a dead claim, also those published behind one).
	Unpublished uint64
}

func (e *ProducerDeadError) Error() string {
	s := fmt.Sprintf("producer (pid %d) died without closing the stream; every event it published was read", e.PID)
	if e.Unpublished > 0 {
		s += fmt.Sprintf(", %d claimed were never published", e.Unpublished)
	}
	return s
}

// Unwrap makes errors.Is(err, ErrProducerDead) true.
func (e *ProducerDeadError) Unwrap() error { return ErrProducerDead }

// GapError reports sequences that a producer claimed but died before publishing (multi mode, spec
// 5.8). They are passed over, never delivered as events; reading continues after them.
// errors.Is(err, ErrGap) is true.
type GapError struct {
	Seq   uint64 // the first sequence passed over
	Count uint64 // consecutive sequences passed over
}

func (e *GapError) Error() string {
	return fmt.Sprintf("%d sequence(s) from %d passed over: their producer died before publishing them", e.Count, e.Seq)
}

// Unwrap makes errors.Is(err, ErrGap) true.
func (e *GapError) Unwrap() error { return ErrGap }

// LappedError reports how many events an optional consumer lost because the producer overwrote
// them before they were read. errors.Is(err, ErrLapped) is true. Reading may continue: the
// consumer has already moved past the lost events.
type LappedError struct {
	Lost uint64 // events lost this time
	At   uint64 // the first sequence lost
}

func (e *LappedError) Error() string {
	return fmt.Sprintf("optional consumer was lapped: %d events lost from sequence %d", e.Lost, e.At)
}

// Unwrap makes errors.Is(err, ErrLapped) true.
func (e *LappedError) Unwrap() error { return ErrLapped }
