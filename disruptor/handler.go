// Package disruptor is the in-process LMAX-style disruptor built on ringwire's ring: a
// preallocated ring on heap memory, one or many producers, and handlers arranged in stages
// (fan-out groups, pipelines, diamonds and work pools) that each run on their own goroutine.
// Events may hold Go pointers here. The same stages work across processes through the
// consumer.Options.After and producer packages over shared memory; this package is the
// convenient builder for the single-process case.
package disruptor

import "fmt"

// Handler receives the events of one stage in sequence order. endOfBatch is true on the last
// event of the run that was available when the batch began; ev is valid only during the call. A
// returned error (or a panic) goes to the disruptor's exception policy.
type Handler[T any] interface {
	OnEvent(ev *T, seq uint64, endOfBatch bool) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc[T any] func(ev *T, seq uint64, endOfBatch bool) error

// OnEvent calls f.
func (f HandlerFunc[T]) OnEvent(ev *T, seq uint64, endOfBatch bool) error {
	return f(ev, seq, endOfBatch)
}

// StartHook is implemented by handlers that want a call on their goroutine before the first event.
// An error halts the disruptor before any event is handled.
type StartHook interface{ OnStart() error }

// ShutdownHook is implemented by handlers that want a call on their goroutine after the last event.
type ShutdownHook interface{ OnShutdown() error }

// Named is implemented by handlers that name their stage (in errors, and in the ring's registry as
// seen by `ringwire inspect`); others are named "handler-N".
type Named interface{ Name() string }

// HandlerError is a handler's failure as the exception policy sees it.
type HandlerError struct {
	Stage string // the handler's name
	Seq   uint64 // the event it failed on
	Err   error  // what it returned, or the panic
	Panic bool   // Err came from a panic
}

func (e *HandlerError) Error() string {
	how := "failed"
	if e.Panic {
		how = "panicked"
	}
	return fmt.Sprintf("handler %s %s at sequence %d: %v", e.Stage, how, e.Seq, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// Policy says what happens when a handler fails.
type Policy int

const (
	// HaltOnError (the default) stops the failed handler, poisons the ring so that every handler
	// stops once it has handled what it could and blocked producers return an error, and reports
	// the failure from Shutdown, Halt and Wait.
	HaltOnError Policy = iota
	// LogAndContinue logs the failure (Options.Logger) and goes on with the next event; the
	// failed event counts as handled.
	LogAndContinue
	// Custom asks Options.OnError: nil goes on as LogAndContinue, an error halts as HaltOnError.
	Custom
)
