package disruptor

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// Errors of the disruptor; publishing errors are the producer package's (producer.ErrFull,
// producer.ErrClosed, ...), and producer.Temporary says which are worth retrying.
var (
	ErrStarted    = errors.New("disruptor already started")
	ErrNotStarted = errors.New("disruptor not started")
	ErrNoHandlers = errors.New("disruptor has no handlers")
	ErrTooMany    = errors.New("too many handlers: at most 64")
	ErrRunning    = errors.New("handlers still running")
)

// RunningError is returned by ShutdownContext, HaltContext and WaitContext when their context
// ends before every handler has stopped: it names the stages whose handler goroutines are still
// running (typically a handler blocked in OnEvent or OnShutdown). errors.Is(err, ErrRunning) is
// true, and so is errors.Is(err, context.DeadlineExceeded) (or context.Canceled) as the context
// says. The disruptor stays stopping: a later Wait, Shutdown or Halt waits for the same stages.
type RunningError struct {
	Stages []string // in the order their handlers were added
	Err    error    // the context's error
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("handlers still running in stage(s) %s: %v", strings.Join(e.Stages, ", "), e.Err)
}

// Unwrap makes errors.Is true for ErrRunning and for the context's error.
func (e *RunningError) Unwrap() []error { return []error{ErrRunning, e.Err} }

// Options configure a disruptor. The zero value is usable.
type Options struct {
	Size     uint64                // ring slots, a power of two; 0 means 1024
	Producer producer.Mode         // producer.Single (one publishing goroutine) or producer.Multi
	Wait     coordination.Strategy // for handlers and for publishers on a full ring; default coordination.Default() (Blocking)

	Policy  Policy
	OnError func(*HandlerError) error // for Policy Custom
	Logger  *slog.Logger              // for LogAndContinue; default slog.Default()

	// CPUs pins handler goroutines, in the order their handlers were added, to these CPUs
	// round-robin (LockOSThread and sched_setaffinity on Linux; a documented no-op elsewhere).
	CPUs []int
	// PublishTimeout bounds a publish waiting for room; 0 waits forever.
	PublishTimeout time.Duration
}

// Disruptor is a ring of fixed events of type T with its handlers. Build it with New and
// HandleEventsWith (and friends), Start it, publish, then Shutdown or Halt. Publishing is safe
// for concurrent use in Multi mode; in Single mode one goroutine publishes, and calls Shutdown
// when it is done. Other methods are safe for concurrent use. Start, Shutdown, ShutdownContext,
// Halt, HaltContext, Wait, WaitContext and Failure are the engine's, shared with Framed.
type Disruptor[T any] struct {
	*engine[*T]
	prod *producer.Producer[T]
}

// New creates a disruptor over a heap ring of opts.Size slots.
func New[T any](opts Options) (*Disruptor[T], error) {
	opts.defaults()
	e := &engine[*T]{opts: opts}
	p, err := producer.Create[T](segment.Heap(), producer.Options{
		Capacity: opts.Size, Registry: layout.MaxRegistry, Mode: opts.Producer,
		Wait: opts.Wait, Timeout: opts.PublishTimeout, Halt: &e.halt,
	})
	if err != nil {
		return nil, err
	}
	e.seg, e.closeProducer = p.Segment(), p.Close
	e.register = func(name string, after []string, pool *consumer.Pool) (stage[*T], error) {
		c, err := consumer.Register[T](e.seg, consumer.Options{Name: name, After: after, Pool: pool, Wait: opts.Wait, Halt: &e.halt})
		if err != nil {
			return nil, err
		}
		return typedStage[T]{c}, nil
	}
	return &Disruptor[T]{engine: e, prod: p}, nil
}

func (o *Options) defaults() {
	if o.Wait == nil {
		o.Wait = coordination.Default()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// typedStage is a stage of fixed events.
type typedStage[T any] struct{ *consumer.Consumer[T] }

func (s typedStage[T]) process(h func(*T, uint64, bool) error) (int, error) { return s.Process(h, 0) }

// Group is a set of handlers that later stages can read behind.
type Group[T any] struct{ g group[*T] }

func onEvent[T any](h Handler[T]) func(*T, uint64, bool) error { return h.OnEvent }

// HandleEventsWith adds handlers that each see every event, reading behind the producer.
func (d *Disruptor[T]) HandleEventsWith(hs ...Handler[T]) *Group[T] {
	return &Group[T]{add(d.engine, nil, hs, false, onEvent[T])}
}

// HandleEventsWithWorkerPool adds a work-pool stage: each event goes to exactly one of hs.
func (d *Disruptor[T]) HandleEventsWithWorkerPool(hs ...Handler[T]) *Group[T] {
	return &Group[T]{add(d.engine, nil, hs, true, onEvent[T])}
}

// Then adds handlers that each see every event after every handler of g has finished with it.
func (g *Group[T]) Then(hs ...Handler[T]) *Group[T] {
	return &Group[T]{add(g.g.e, g.g.procs, hs, false, onEvent[T])}
}

// ThenWorkerPool adds a work-pool stage behind g.
func (g *Group[T]) ThenWorkerPool(hs ...Handler[T]) *Group[T] {
	return &Group[T]{add(g.g.e, g.g.procs, hs, true, onEvent[T])}
}

// And returns a group of the handlers of g and o, so that a later stage reads behind both (a
// diamond: a.And(b).Then(c)).
func (g *Group[T]) And(o *Group[T]) *Group[T] { return &Group[T]{g.g.and(o.g)} }

// Publish claims the next slot (waiting for room per Options.Wait and PublishTimeout), lets fill
// write the event in place and publishes it. fill must not keep ev. A panic in fill poisons the
// ring (see Failure) and continues.
func (d *Disruptor[T]) Publish(fill func(ev *T)) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.Publish(fill)
}

// TryPublish is Publish without waiting: a full ring is a *producer.FullError saying how many
// slots were missing, and a contended claim (Multi) is producer.ErrContended; both are
// producer.Temporary.
func (d *Disruptor[T]) TryPublish(fill func(ev *T)) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.TryPublish(fill)
}

// PublishBatch publishes n events with one claim, fill writing event i of the batch. A batch
// larger than the ring (producer.ErrBatchTooLarge) or of n < 0 (producer.ErrBadBatch) is refused
// before anything is claimed; n == 0 publishes nothing and returns nil.
func (d *Disruptor[T]) PublishBatch(n int, fill func(i int, ev *T)) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.PublishBatch(n, fill)
}

// TryPublishBatch is PublishBatch without waiting: a ring without room for all n events is a
// *producer.FullError, and a contended claim (Multi) producer.ErrContended.
func (d *Disruptor[T]) TryPublishBatch(n int, fill func(i int, ev *T)) error {
	if err := d.ready(); err != nil {
		return err
	}
	return d.prod.TryPublishBatch(n, fill)
}

// Remaining returns how many events could be published now without waiting.
func (d *Disruptor[T]) Remaining() uint64 { return d.prod.Remaining() }

// FillLevel returns how many slots hold events some handler has not finished with.
func (d *Disruptor[T]) FillLevel() uint64 { return d.prod.Capacity() - d.prod.Remaining() }

// Capacity returns the number of slots.
func (d *Disruptor[T]) Capacity() uint64 { return d.prod.Capacity() }
