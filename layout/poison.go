package layout

import (
	"errors"
	"fmt"
	"time"
)

// Poison is the failure record of a poisoned ring (spec section 5.9).
type Poison struct {
	Phase   uint32 // PhasePublish or PhaseHandler
	Seq     uint64 // first sequence that will never be delivered
	PID     uint32
	Stage   uint32 // producer entry index (publish) or consumer entry index (handler)
	Message string
}

// PhaseName names a poison phase.
func PhaseName(p uint32) string {
	switch p {
	case PhasePublish:
		return "publish"
	case PhaseHandler:
		return "handler"
	}
	return "unknown"
}

// Poison records a failure that stops the ring, unless one was recorded already: only the first
// failure is kept. It reports whether this call recorded it. Callers wake both wait words
// afterwards so that blocked peers see it.
func (v *View) Poison(p Poison) bool {
	h := v.hdr
	if !h.PoisonState.CompareAndSwap(PoisonNone, PoisonRecording) {
		return false
	}
	h.PoisonPhase, h.PoisonSeq, h.PoisonPID, h.PoisonStage = p.Phase, p.Seq, p.PID, p.Stage
	h.PoisonMessage = [PoisonMax]byte{}
	h.PoisonMessageLen = uint32(copy(h.PoisonMessage[:], p.Message))
	h.PoisonState.Store(PoisonRecorded)
	return true
}

// Poisoned reports whether the ring is poisoned and, if so, its record. A record still being
// written is waited for briefly; if it does not complete, the record is returned as it stands.
func (v *View) Poisoned() (Poison, bool) {
	h := v.hdr
	st := h.PoisonState.Load()
	if st == PoisonNone {
		return Poison{}, false
	}
	for i := 0; st == PoisonRecording && i < 1000; i++ {
		time.Sleep(time.Microsecond)
		st = h.PoisonState.Load()
	}
	return Poison{Phase: h.PoisonPhase, Seq: h.PoisonSeq, PID: h.PoisonPID, Stage: h.PoisonStage,
		Message: h.PoisonMessageString()}, true
}

// ErrPoisoned is wrapped by every error that reports a poisoned ring.
var ErrPoisoned = errors.New("ring poisoned")

// PoisonedError reports the failure that poisoned the ring. errors.Is(err, ErrPoisoned) is true.
type PoisonedError struct{ Record Poison }

func (e *PoisonedError) Error() string {
	r := e.Record
	return fmt.Sprintf("ring poisoned: %s failed at sequence %d (pid %d, stage %d): %s",
		PhaseName(r.Phase), r.Seq, r.PID, r.Stage, r.Message)
}

// Unwrap makes errors.Is(err, ErrPoisoned) true.
func (e *PoisonedError) Unwrap() error { return ErrPoisoned }

// PoisonErr returns a *PoisonedError if the ring is poisoned, else nil.
func (v *View) PoisonErr() error {
	if r, ok := v.Poisoned(); ok {
		return &PoisonedError{Record: r}
	}
	return nil
}
