// Package testseg gives tests unique shared-memory segment names that are removed when the test
// ends, pass or fail, and a TestMain check that nothing was left behind in /dev/shm.
package testseg

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var counter atomic.Uint64

// Prefix is the name prefix of every segment a test of this process creates.
func Prefix() string { return fmt.Sprintf("/rw-t-%d-", os.Getpid()) }

// Name returns a fresh segment name and removes the segment at the end of t.
func Name(t testing.TB) string {
	name := fmt.Sprintf("%s%d", Prefix(), counter.Add(1))
	t.Cleanup(func() { os.Remove("/dev/shm" + name) })
	return name
}

// Labeled returns the segment name Prefix()+label and removes the segment at the end of t: for a
// test that needs a name it can recognise (in a listing, under a common prefix of its own). The
// label must be unique within the process; Name's names never collide with it.
func Labeled(t testing.TB, label string) string {
	name := Prefix() + label
	t.Cleanup(func() { os.Remove("/dev/shm" + name) })
	return name
}

// Leaked lists the segments of this process still in /dev/shm.
func Leaked() []string {
	m, _ := filepath.Glob("/dev/shm" + Prefix() + "*")
	return m
}

// Main runs the tests and fails the run if any segment of this process was left behind.
func Main(m *testing.M) int {
	code := m.Run()
	if left := Leaked(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left shared-memory segments behind: %s\n", strings.Join(left, " "))
		for _, p := range left {
			os.Remove(p)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Event is the 64-byte test event of the producer and consumer tests: a sequence, a value derived
// from it, and a payload Check recomputes.
type Event struct {
	Seq     uint64
	Square  uint64
	Payload [48]byte
}

// Fill writes the event of sequence seq.
func Fill(seq uint64, e *Event) {
	e.Seq = seq
	e.Square = seq * seq
	for i := range e.Payload {
		e.Payload[i] = byte(seq) + byte(i)
	}
}

// Check reports whether e is the event of sequence seq, byte for byte.
func Check(seq uint64, e *Event) error {
	if e.Seq != seq || e.Square != seq*seq {
		return fmt.Errorf("event %d holds seq %d", seq, e.Seq)
	}
	for i := range e.Payload {
		if e.Payload[i] != byte(seq)+byte(i) {
			return fmt.Errorf("event %d: payload byte %d corrupt", seq, i)
		}
	}
	return nil
}
