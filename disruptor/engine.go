package disruptor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// engine is what a disruptor of fixed events (Disruptor[T], whose handlers take *T) and one of
// framed messages (Framed, whose handlers take []byte) share: the stages, their goroutines, the
// exception policy, and the stopping. A is the type of what a handler is handed.
type engine[A any] struct {
	opts Options
	seg  *segment.Segment

	// register registers the consumer of one stage (reading behind the stages named in after,
	// or as a worker of pool); closeProducer ends the stream.
	register      func(name string, after []string, pool *consumer.Pool) (stage[A], error)
	closeProducer func() error

	mu       sync.Mutex
	procs    []*proc[A]
	buildErr error
	started  bool
	stopped  bool
	failure  error
	halt     atomic.Bool
	wg       sync.WaitGroup
	done     chan struct{} // closed once every handler goroutine has returned (made by Start)
}

// stage is one handler's consumer: consumer.Consumer[T] or consumer.Framed behind an adapter.
type stage[A any] interface {
	process(h func(A, uint64, bool) error) (int, error) // Process(h, 0)
	Cursor() uint64
	Index() int
	Close() error
}

type proc[A any] struct {
	name  string
	on    func(A, uint64, bool) error // the handler's method
	h     any                         // the handler, for its hooks (StartHook, ShutdownHook)
	after []*proc[A]
	pool  *consumer.Pool
	c     stage[A]

	running atomic.Bool // its goroutine has not returned yet
}

// group is a stage set that later stages can read behind (Group, FramedGroup).
type group[A any] struct {
	e     *engine[A]
	procs []*proc[A]
}

func (g group[A]) and(o group[A]) group[A] {
	return group[A]{e: g.e, procs: append(append([]*proc[A]{}, g.procs...), o.procs...)}
}

// add adds one stage per handler, each reading behind after; on returns a handler's method.
func add[A any, H any](e *engine[A], after []*proc[A], hs []H, pooled bool, on func(H) func(A, uint64, bool) error) group[A] {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := group[A]{e: e}
	if e.started {
		e.buildErr = errors.Join(e.buildErr, ErrStarted)
		return g
	}
	var pool *consumer.Pool
	if pooled {
		pool = consumer.NewPool(0)
	}
	for _, h := range hs {
		name := fmt.Sprintf("handler-%d", len(e.procs))
		if n, ok := any(h).(Named); ok {
			name = n.Name()
		}
		p := &proc[A]{name: name, on: on(h), h: h, after: after, pool: pool}
		e.procs = append(e.procs, p)
		g.procs = append(g.procs, p)
	}
	if len(e.procs) > layout.MaxRegistry {
		e.buildErr = errors.Join(e.buildErr, ErrTooMany)
	}
	return g
}

// Start registers every handler in the ring and starts their goroutines. Call it once, before
// publishing.
func (e *engine[A]) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return ErrStarted
	}
	if e.buildErr != nil {
		return e.buildErr
	}
	if len(e.procs) == 0 {
		return ErrNoHandlers
	}
	for _, p := range e.procs {
		after := make([]string, len(p.after))
		for i, a := range p.after {
			after[i] = a.name
		}
		c, err := e.register(p.name, after, p.pool)
		if err != nil {
			e.closeConsumers()
			return fmt.Errorf("start handler %s: %w", p.name, err)
		}
		p.c = c
	}
	e.started = true
	for i, p := range e.procs {
		cpu := -1
		if len(e.opts.CPUs) > 0 {
			cpu = e.opts.CPUs[i%len(e.opts.CPUs)]
		}
		e.wg.Add(1)
		p.running.Store(true)
		go e.run(p, cpu)
	}
	e.done = make(chan struct{})
	go func() {
		e.wg.Wait()
		close(e.done)
	}()
	return nil
}

func (e *engine[A]) closeConsumers() {
	for _, p := range e.procs {
		if p.c != nil {
			p.c.Close()
			p.c = nil
		}
	}
}

// run is one handler's goroutine.
func (e *engine[A]) run(p *proc[A], cpu int) {
	defer e.wg.Done()
	defer p.running.Store(false)
	if cpu >= 0 {
		if err := sys.Pin(cpu); err == nil {
			defer sys.Unpin()
		}
	}
	if s, ok := p.h.(StartHook); ok {
		if err := s.OnStart(); err != nil {
			e.fail(p, &HandlerError{Stage: p.name, Seq: p.c.Cursor(), Err: fmt.Errorf("on start: %w", err)})
			return
		}
	}
	handle := func(a A, seq uint64, end bool) error {
		err, panicked := safeCall(p.on, a, seq, end)
		if err == nil {
			return nil
		}
		he := &HandlerError{Stage: p.name, Seq: seq, Err: err, Panic: panicked}
		switch e.opts.Policy {
		case LogAndContinue:
			e.opts.Logger.Error("ringwire disruptor: handler failed; continuing", "stage", p.name, "seq", seq, "err", err, "panic", panicked)
			return nil
		case Custom:
			if e.opts.OnError == nil || e.opts.OnError(he) == nil {
				return nil
			}
		}
		return he
	}
	for {
		_, err := p.c.process(handle)
		if err == nil {
			continue
		}
		var he *HandlerError
		if errors.As(err, &he) {
			e.fail(p, he)
		}
		break // end of stream, halted, poisoned (recorded by whoever poisoned), or failed
	}
	if s, ok := p.h.(ShutdownHook); ok {
		if err := s.OnShutdown(); err != nil {
			e.record(&HandlerError{Stage: p.name, Seq: p.c.Cursor(), Err: fmt.Errorf("on shutdown: %w", err)})
		}
	}
}

// fail records a handler's failure and poisons the ring so that everyone stops (spec 5.9).
func (e *engine[A]) fail(p *proc[A], he *HandlerError) {
	e.record(he)
	e.seg.View().Poison(layout.Poison{Phase: layout.PhaseHandler, Seq: he.Seq, PID: uint32(os.Getpid()),
		Stage: uint32(p.c.Index()), Message: he.Error()})
	coordination.WakeAll(e.seg.View().Wait())
}

func (e *engine[A]) record(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failure == nil {
		e.failure = err
	}
}

func (e *engine[A]) ready() error {
	e.mu.Lock()
	started := e.started
	e.mu.Unlock()
	if !started {
		return ErrNotStarted
	}
	return nil
}

// Shutdown stops accepting events, lets every event published so far reach every handler, stops
// the handlers and returns the first failure (a *HandlerError, or the poisoning of a panicking
// publisher as a *layout.PoisonedError), or nil. It waits as long as the handlers take, forever
// for one that blocks: ShutdownContext bounds the wait.
func (e *engine[A]) Shutdown() error {
	return e.stop(context.Background(), false)
}

// ShutdownContext is Shutdown that gives up waiting for the handlers when ctx ends, returning a
// *RunningError naming the stages still running. The stream is ended either way; the handlers
// go on draining, and Wait, Shutdown or Halt may be called again to wait for them (a Halt then
// stops them without draining the rest).
func (e *engine[A]) ShutdownContext(ctx context.Context) error {
	return e.stop(ctx, false)
}

// Halt stops the handlers as soon as each finishes its current batch, without draining, wakes
// blocked publishers (who get producer.ErrHalted) and returns the first failure. It waits as long
// as the handlers take to return, forever for one that blocks: HaltContext bounds the wait.
func (e *engine[A]) Halt() error {
	return e.stop(context.Background(), true)
}

// HaltContext is Halt that gives up waiting for the handlers when ctx ends, returning a
// *RunningError naming the stages still running. The halt stays requested.
func (e *engine[A]) HaltContext(ctx context.Context) error {
	return e.stop(ctx, true)
}

// stop ends the stream (the first call only) and, for a halt, stops the handlers without
// draining (a Halt after a Shutdown still halts), then waits for the handlers up to ctx. The
// producer's Close, in Multi mode, first waits for claimed events to be published (up to 5s).
func (e *engine[A]) stop(ctx context.Context, halt bool) error {
	e.mu.Lock()
	first := !e.stopped
	e.stopped = true
	e.mu.Unlock()
	if halt && !e.halt.Swap(true) {
		coordination.WakeAll(e.seg.View().Wait())
	}
	var closeErr error
	if first {
		closeErr = e.closeProducer()
	}
	return errors.Join(e.WaitContext(ctx), closeErr)
}

// Wait blocks until every handler has stopped (after Shutdown or Halt, or after a failure under
// HaltOnError), then returns the first failure.
func (e *engine[A]) Wait() error {
	return e.WaitContext(context.Background())
}

// WaitContext is Wait that gives up when ctx ends, returning a *RunningError naming the stages
// whose handlers are still running.
func (e *engine[A]) WaitContext(ctx context.Context) error {
	e.mu.Lock()
	done := e.done
	e.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			select {
			case <-done: // both ready: the handlers did stop
			default:
				return &RunningError{Stages: e.running(), Err: ctx.Err()}
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		e.closeConsumers()
	}
	if e.failure != nil {
		return e.failure
	}
	return e.seg.View().PoisonErr()
}

// running returns the names of the stages whose handler goroutines have not returned.
func (e *engine[A]) running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for _, p := range e.procs {
		if p.running.Load() {
			names = append(names, p.name)
		}
	}
	return names
}

// Failure returns the poisoning record of the ring, if a handler or a publisher failed.
func (e *engine[A]) Failure() (layout.Poison, bool) { return e.seg.View().Poisoned() }

// safeCall runs a handler's method, turning a panic into an error.
func safeCall[A any](on func(A, uint64, bool) error, a A, seq uint64, end bool) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("%v", r), true
		}
	}()
	return on(a, seq, end), false
}
