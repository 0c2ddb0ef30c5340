package consumer_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// childRestartingProducer is one incarnation of a producer that restarts over its segment: it
// creates RW_NAME with Replace, waits for RW_AWAIT consumers if set, and publishes events tagged
// RW_TAG (in Square), in batches of 8 with a pause after each, until it is killed, or, with
// RW_COUNT set, RW_COUNT events and then it closes the stream.
func childRestartingProducer() int {
	tag, _ := strconv.ParseUint(os.Getenv("RW_TAG"), 10, 64)
	await, _ := strconv.Atoi(os.Getenv("RW_AWAIT"))
	count, _ := strconv.ParseUint(os.Getenv("RW_COUNT"), 10, 64)
	p, err := producer.Create[event](segment.SharedMemory(os.Getenv("RW_NAME")), producer.Options{Capacity: 64, Replace: true,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond), Await: producer.Await{Consumers: await, Timeout: 10 * time.Second}})
	if err != nil {
		fmt.Println("create:", err)
		return 1
	}
	for seq := uint64(0); count == 0 || seq < count; seq += 8 {
		n := 8
		if count > 0 {
			n = int(min(8, count-seq))
		}
		err := p.PublishBatch(n, func(i int, e *event) {
			fill(seq+uint64(i), e)
			e.Square = tag
		})
		if err != nil {
			fmt.Println("publish:", err)
			return 1
		}
		time.Sleep(20 * time.Microsecond)
	}
	if err := p.Close(); err != nil {
		fmt.Println("close:", err)
		return 1
	}
	return 0
}

// lossTracker checks that a consumer accounts for every event of every incarnation it reads: each
// is either delivered, in order, or reported lost with its sequences.
type lossTracker struct {
	c         *consumer.Consumer[event]
	err       error        // the first inconsistency
	inc       uint64       // the incarnation being read
	tag       uint64       // its producer's tag, once an event was seen
	next      uint64       // every sequence of inc below it was delivered or reported lost
	incs      int          // incarnations read
	reached   atomic.Int32 // incs, for the test's goroutine
	ended     atomic.Bool  // Run returned
	missed    uint64       // reported by *MissedError
	lapped    uint64       // reported by *LappedError
	delivered uint64
}

func (tr *lossTracker) incarnation() {
	if inc := tr.c.Segment().Incarnation(); inc != tr.inc {
		tr.inc, tr.next, tr.tag = inc, 0, 0
		tr.incs++
		tr.reached.Store(int32(tr.incs))
	}
}

func (tr *lossTracker) event(e *event, seq uint64, _ bool) error {
	tr.incarnation()
	switch {
	case tr.err != nil:
	case seq != tr.next:
		tr.err = fmt.Errorf("incarnation %d: got sequence %d, want %d: %d events skipped silently", tr.incs, seq, tr.next, seq-tr.next)
	case e.Seq != seq || (tr.tag != 0 && e.Square != tr.tag):
		tr.err = fmt.Errorf("incarnation %d, sequence %d: event holds sequence %d of producer %d", tr.incs, seq, e.Seq, e.Square)
	default:
		tr.tag = e.Square
		tr.next++
		tr.delivered++
	}
	return tr.err
}

func (tr *lossTracker) loss(err error) {
	tr.incarnation()
	var me *consumer.MissedError
	var le *consumer.LappedError
	switch {
	case tr.err != nil:
	case errors.As(err, &me):
		if tr.next != 0 || me.Incarnation != tr.inc {
			tr.err = fmt.Errorf("incarnation %d: %v after %d events", tr.incs, err, tr.next)
		}
		tr.next = me.Lost
		tr.missed += me.Lost
	case errors.As(err, &le):
		if le.At != tr.next {
			tr.err = fmt.Errorf("incarnation %d: %v, but the next sequence is %d", tr.incs, err, tr.next)
		}
		tr.next += le.Lost
		tr.lapped += le.Lost
	default:
		tr.err = fmt.Errorf("unexpected loss: %w", err)
	}
}

// TestConsumer_Reattach_ReportsEveryMissedEvent restarts a producer process (kill -9, then a new
// incarnation over the same name that publishes at once) while an optional and a required
// consumer with Reattach read. Each must account for every event of every incarnation: delivered
// in order, or reported lost (*MissedError for what a new incarnation published before the
// consumer re-attached, *LappedError for what the optional one was lapped on). The optional
// consumer used to rejoin at the required consumer's cursor, or at the count, skipping hundreds
// of events per restart without a word.
func TestConsumer_Reattach_ReportsEveryMissedEvent(t *testing.T) {
	const restarts, last = 3, 2_000
	name := shmName(t)
	startProducer := func(tag int, env ...string) *child.Process {
		return start(t, "restarting-producer", append(env, "RW_NAME="+name, fmt.Sprint("RW_TAG=", tag))...)
	}
	running := startProducer(1, "RW_AWAIT=2")

	type result struct {
		name string
		tr   *lossTracker
		err  error
	}
	results := make(chan result, 2)
	var trackers []*lossTracker
	for _, optional := range []bool{true, false} {
		cname := "required"
		if optional {
			cname = "optional"
		}
		tr := &lossTracker{}
		c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: cname, Optional: optional,
			Reattach: true, OnLoss: tr.loss, Wait: coordination.Sleep(time.Microsecond, time.Millisecond),
			AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second})
		require.NoError(t, err)
		tr.c = c
		trackers = append(trackers, tr)
		go func() {
			err := c.Run(tr.event)
			tr.ended.Store(true)
			results <- result{cname, tr, errors.Join(err, c.Close())}
		}()
	}
	ended := func() bool { return trackers[0].ended.Load() || trackers[1].ended.Load() }
	for tag := 2; tag <= restarts+1 && !ended(); tag++ {
		// Kill each incarnation once both consumers have read from it (or one stopped: its
		// error is reported below).
		for deadline := time.Now().Add(10 * time.Second); !ended(); time.Sleep(time.Millisecond) {
			if trackers[0].reached.Load() == int32(tag-1) && trackers[1].reached.Load() == int32(tag-1) {
				break
			}
			require.True(t, time.Now().Before(deadline), "the consumers did not re-attach to incarnation %d", tag-1)
		}
		time.Sleep(20 * time.Millisecond)
		running.Kill()
		if tag <= restarts {
			running = startProducer(tag) // publishes at once: consumers re-attach ~100 ms later
		} else {
			// The last incarnation waits for both, publishes a known count and ends the stream.
			running = startProducer(tag, "RW_AWAIT=2", fmt.Sprint("RW_COUNT=", last))
		}
	}
	for range 2 {
		r := <-results
		require.NoError(t, r.err, r.name)
		require.NoError(t, r.tr.err, r.name)
		t.Logf("%s: %d incarnations, %d events delivered, %d missed on re-attaching, %d lapped",
			r.name, r.tr.incs, r.tr.delivered, r.tr.missed, r.tr.lapped)
		require.Equal(t, restarts+1, r.tr.incs, "%s read every incarnation", r.name)
		require.Equal(t, uint64(last), r.tr.next, "%s accounted for every event of the last incarnation", r.name)
		require.Positive(t, r.tr.missed, "%s re-attached after new incarnations had published", r.name)
	}
	require.NoError(t, running.Wait(time.Minute), running.Output())
}

// TestConsumer_ReplacedSegment: a producer restarting over the segment (a new incarnation under
// the same name) is noticed by a waiting consumer, which fails with ErrReplaced or re-attaches.
func TestConsumer_ReplacedSegment(t *testing.T) {
	for _, reattach := range []bool{false, true} {
		t.Run(fmt.Sprint("reattach=", reattach), func(t *testing.T) {
			name := testseg.Name(t)
			p1, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Keep: true})
			require.NoError(t, err)
			c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "follower", Reattach: reattach,
				Wait: coordination.Sleep(time.Microsecond, time.Millisecond), ReadTimeout: 5 * time.Second})
			require.NoError(t, err)
			defer c.Close()
			first := c.Segment().Incarnation()
			// The first producer "crashes" (never closes its stream); a new one replaces the
			// segment.
			defer p1.Close()
			p2, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Replace: true})
			require.NoError(t, err)
			defer p2.Close()
			published := make(chan struct{})
			go func() {
				defer close(published)
				if reattach {
					waitActiveQuiet(p2.Segment().View(), 1, 5*time.Second)
					p2.Publish(func(e *event) { fill(0, e) })
				}
			}()
			defer func() { <-published }()
			var ev event
			seq, err := c.Read(&ev)
			if !reattach {
				require.ErrorIs(t, err, consumer.ErrReplaced)
				return
			}
			require.NoError(t, err)
			require.Equal(t, uint64(0), seq)
			require.NoError(t, check(0, &ev))
			require.NotEqual(t, first, c.Segment().Incarnation())
		})
	}
}

func waitActiveQuiet(v *layout.View, n int, d time.Duration) {
	coordination.AwaitConsumers(v, n, nil, time.Now().Add(d))
}
