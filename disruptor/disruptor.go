package disruptor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
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

// Disruptor is a ring with its handlers. Build it with New and HandleEventsWith (and friends),
// Start it, publish, then Shutdown or Halt. Publishing is safe for concurrent use in Multi mode;
// in Single mode one goroutine publishes, and calls Shutdown when it is done. Other methods are
// safe for concurrent use.
type Disruptor[T any] struct {
	opts Options
	prod *producer.Producer[T]
	seg  *segment.Segment

	mu       sync.Mutex
	procs    []*proc[T]
	buildErr error
	started  bool
	stopped  bool
	failure  error
	halt     atomic.Bool
	wg       sync.WaitGroup
	done     chan struct{} // closed once every handler goroutine has returned (made by Start)
}

type proc[T any] struct {
	name  string
	h     Handler[T]
	after []*proc[T]
	pool  *consumer.Pool
	c     *consumer.Consumer[T]

	running atomic.Bool // its goroutine has not returned yet
}

// New creates a disruptor over a heap ring of opts.Size slots.
func New[T any](opts Options) (*Disruptor[T], error) {
	if opts.Wait == nil {
		opts.Wait = coordination.Default()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Disruptor[T]{opts: opts}
	p, err := producer.Create[T](segment.Heap(), producer.Options{
		Capacity: opts.Size, Registry: layout.MaxRegistry, Mode: opts.Producer,
		Wait: opts.Wait, Timeout: opts.PublishTimeout, Halt: &d.halt,
	})
	if err != nil {
		return nil, err
	}
	d.prod, d.seg = p, p.Segment()
	return d, nil
}

// Group is a set of handlers that later stages can read behind.
type Group[T any] struct {
	d     *Disruptor[T]
	procs []*proc[T]
}

// HandleEventsWith adds handlers that each see every event, reading behind the producer.
func (d *Disruptor[T]) HandleEventsWith(hs ...Handler[T]) *Group[T] { return d.add(nil, hs, false) }

// HandleEventsWithWorkerPool adds a work-pool stage: each event goes to exactly one of hs.
func (d *Disruptor[T]) HandleEventsWithWorkerPool(hs ...Handler[T]) *Group[T] {
	return d.add(nil, hs, true)
}

// Then adds handlers that each see every event after every handler of g has finished with it.
func (g *Group[T]) Then(hs ...Handler[T]) *Group[T] { return g.d.add(g.procs, hs, false) }

// ThenWorkerPool adds a work-pool stage behind g.
func (g *Group[T]) ThenWorkerPool(hs ...Handler[T]) *Group[T] { return g.d.add(g.procs, hs, true) }

// And returns a group of the handlers of g and o, so that a later stage reads behind both (a
// diamond: a.And(b).Then(c)).
func (g *Group[T]) And(o *Group[T]) *Group[T] {
	return &Group[T]{d: g.d, procs: append(append([]*proc[T]{}, g.procs...), o.procs...)}
}

func (d *Disruptor[T]) add(after []*proc[T], hs []Handler[T], pooled bool) *Group[T] {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := &Group[T]{d: d}
	if d.started {
		d.buildErr = errors.Join(d.buildErr, ErrStarted)
		return g
	}
	var pool *consumer.Pool
	if pooled {
		pool = consumer.NewPool(0)
	}
	for _, h := range hs {
		name := fmt.Sprintf("handler-%d", len(d.procs))
		if n, ok := h.(Named); ok {
			name = n.Name()
		}
		p := &proc[T]{name: name, h: h, after: after, pool: pool}
		d.procs = append(d.procs, p)
		g.procs = append(g.procs, p)
	}
	if len(d.procs) > layout.MaxRegistry {
		d.buildErr = errors.Join(d.buildErr, ErrTooMany)
	}
	return g
}

// Start registers every handler in the ring and starts their goroutines. Call it once, before
// publishing.
func (d *Disruptor[T]) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return ErrStarted
	}
	if d.buildErr != nil {
		return d.buildErr
	}
	if len(d.procs) == 0 {
		return ErrNoHandlers
	}
	for _, p := range d.procs {
		after := make([]string, len(p.after))
		for i, a := range p.after {
			after[i] = a.name
		}
		c, err := consumer.Register[T](d.seg, consumer.Options{
			Name: p.name, After: after, Pool: p.pool, Wait: d.opts.Wait, Halt: &d.halt,
		})
		if err != nil {
			d.closeConsumers()
			return fmt.Errorf("start handler %s: %w", p.name, err)
		}
		p.c = c
	}
	d.started = true
	for i, p := range d.procs {
		cpu := -1
		if len(d.opts.CPUs) > 0 {
			cpu = d.opts.CPUs[i%len(d.opts.CPUs)]
		}
		d.wg.Add(1)
		p.running.Store(true)
		go d.run(p, cpu)
	}
	d.done = make(chan struct{})
	go func() {
		d.wg.Wait()
		close(d.done)
	}()
	return nil
}

func (d *Disruptor[T]) closeConsumers() {
	for _, p := range d.procs {
		if p.c != nil {
			p.c.Close()
			p.c = nil
		}
	}
}

// run is one handler's goroutine.
func (d *Disruptor[T]) run(p *proc[T], cpu int) {
	defer d.wg.Done()
	defer p.running.Store(false)
	if cpu >= 0 {
		if err := sys.Pin(cpu); err == nil {
			defer sys.Unpin()
		}
	}
	if s, ok := p.h.(StartHook); ok {
		if err := s.OnStart(); err != nil {
			d.fail(p, &HandlerError{Stage: p.name, Seq: p.c.Cursor(), Err: fmt.Errorf("on start: %w", err)})
			return
		}
	}
	handle := func(ev *T, seq uint64, end bool) error {
		err, panicked := safeCall(p.h, ev, seq, end)
		if err == nil {
			return nil
		}
		he := &HandlerError{Stage: p.name, Seq: seq, Err: err, Panic: panicked}
		switch d.opts.Policy {
		case LogAndContinue:
			d.opts.Logger.Error("ringwire disruptor: handler failed; continuing", "stage", p.name, "seq", seq, "err", err, "panic", panicked)
			return nil
		case Custom:
			if d.opts.OnError == nil || d.opts.OnError(he) == nil {
				return nil
			}
		}
		return he
	}
	for {
		_, err := p.c.Process(handle, 0)
		if err == nil {
			continue
		}
		var he *HandlerError
		if errors.As(err, &he) {
			d.fail(p, he)
		}
		break // end of stream, halted, poisoned (recorded by whoever poisoned), or failed
	}
	if s, ok := p.h.(ShutdownHook); ok {
		if err := s.OnShutdown(); err != nil {
			d.record(&HandlerError{Stage: p.name, Seq: p.c.Cursor(), Err: fmt.Errorf("on shutdown: %w", err)})
		}
	}
}

// fail records a handler's failure and poisons the ring so that everyone stops (spec 5.9).
func (d *Disruptor[T]) fail(p *proc[T], he *HandlerError) {
	d.record(he)
	d.seg.View().Poison(layout.Poison{Phase: layout.PhaseHandler, Seq: he.Seq, PID: uint32(os.Getpid()),
		Stage: uint32(p.c.Index()), Message: he.Error()})
	coordination.WakeAll(d.seg.View().Wait())
}

func (d *Disruptor[T]) record(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failure == nil {
		d.failure = err
	}
}

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

func (d *Disruptor[T]) ready() error {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if !started {
		return ErrNotStarted
	}
	return nil
}

// Remaining returns how many events could be published now without waiting.
func (d *Disruptor[T]) Remaining() uint64 { return d.prod.Remaining() }

// FillLevel returns how many slots hold events some handler has not finished with.
func (d *Disruptor[T]) FillLevel() uint64 { return d.prod.Capacity() - d.prod.Remaining() }

// Capacity returns the number of slots.
func (d *Disruptor[T]) Capacity() uint64 { return d.prod.Capacity() }

// Shutdown stops accepting events, lets every event published so far reach every handler, stops
// the handlers and returns the first failure (a *HandlerError, or the poisoning of a panicking
// publisher as a *layout.PoisonedError), or nil. It waits as long as the handlers take, forever
// for one that blocks: ShutdownContext bounds the wait.
func (d *Disruptor[T]) Shutdown() error {
	return d.stop(context.Background(), false)
}

// ShutdownContext is Shutdown that gives up waiting for the handlers when ctx ends, returning a
// *RunningError naming the stages still running. The stream is ended either way; the handlers
// go on draining, and Wait, Shutdown or Halt may be called again to wait for them (a Halt then
// stops them without draining the rest).
func (d *Disruptor[T]) ShutdownContext(ctx context.Context) error {
	return d.stop(ctx, false)
}

// Halt stops the handlers as soon as each finishes its current batch, without draining, wakes
// blocked publishers (who get producer.ErrHalted) and returns the first failure. It waits as long
// as the handlers take to return, forever for one that blocks: HaltContext bounds the wait.
func (d *Disruptor[T]) Halt() error {
	return d.stop(context.Background(), true)
}

// HaltContext is Halt that gives up waiting for the handlers when ctx ends, returning a
// *RunningError naming the stages still running. The halt stays requested.
func (d *Disruptor[T]) HaltContext(ctx context.Context) error {
	return d.stop(ctx, true)
}

// stop ends the stream (the first call only) and, for a halt, stops the handlers without
// draining (a Halt after a Shutdown still halts), then waits for the handlers up to ctx. The
// producer's Close, in Multi mode, first waits for claimed events to be published (up to 5s).
func (d *Disruptor[T]) stop(ctx context.Context, halt bool) error {
	d.mu.Lock()
	first := !d.stopped
	d.stopped = true
	d.mu.Unlock()
	if halt && !d.halt.Swap(true) {
		coordination.WakeAll(d.seg.View().Wait())
	}
	var closeErr error
	if first {
		closeErr = d.prod.Close()
	}
	return errors.Join(d.WaitContext(ctx), closeErr)
}

// Wait blocks until every handler has stopped (after Shutdown or Halt, or after a failure under
// HaltOnError), then returns the first failure.
func (d *Disruptor[T]) Wait() error {
	return d.WaitContext(context.Background())
}

// WaitContext is Wait that gives up when ctx ends, returning a *RunningError naming the stages
// whose handlers are still running.
func (d *Disruptor[T]) WaitContext(ctx context.Context) error {
	d.mu.Lock()
	done := d.done
	d.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			select {
			case <-done: // both ready: the handlers did stop
			default:
				return &RunningError{Stages: d.running(), Err: ctx.Err()}
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		d.closeConsumers()
	}
	if d.failure != nil {
		return d.failure
	}
	return d.seg.View().PoisonErr()
}

// running returns the names of the stages whose handler goroutines have not returned.
func (d *Disruptor[T]) running() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for _, p := range d.procs {
		if p.running.Load() {
			names = append(names, p.name)
		}
	}
	return names
}

// Failure returns the poisoning record of the ring, if a handler or a publisher failed.
func (d *Disruptor[T]) Failure() (layout.Poison, bool) { return d.seg.View().Poisoned() }
