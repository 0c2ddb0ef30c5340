package conformance_test

// The framed rings of the cross-language suite (spec section 11, PROTOCOL.md "The framed
// conformance message"), run by TestMatrix:
//
//   - <prod>-><cons>/framed               single mode, messages of 1 byte to the largest, a ring
//                                         that wraps about a hundred times, batches on some pairs;
//   - multi/<a>+<b>-><cons>/framed        a framed multi-producer ring created by a and joined by
//                                         b, both publishing at once;
//   - crash/<a>+<b>-><cons>/framed        b dies with SIGKILL in the middle of a frame
//                                         (--die-mid-frame): the consumer passes its claim over;
//   - <a>-><b>/framed-refuses-fixed       a fixed consumer refuses a framed ring and a framed
//                                         consumer a fixed one (check 13: payload_kind).

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/segment"
)

// Framed ring geometry of the matrix: 64 slots of 64 bytes, so the largest message is
// 64/8*64 - 16 = 496 bytes (8 slots) and the sizes F gives average about 4.6 slots.
const (
	framedCapacity = 64
	framedSlot     = 64
	framedMax      = framedCapacity/8*framedSlot - layout.FrameHeaderLen
	framedMessages = 1500 // per producer: about 6900 slots, the ring wraps about 100 times
	// The crash scenario: the attacher publishes its messages 0..framedDieAt-1, then dies in the
	// frame of message framedDieAt (99 mod 97 = 2: the largest message, 8 slots); the creator
	// then publishes framedCrashEvents messages.
	framedDieAt       = 99
	framedCrashEvents = 1000
)

var framedGeometryOfMatrix = layout.FrameGeometry{HeaderLen: layout.FrameHeaderLen, MaxMessage: framedMax,
	SlotSize: framedSlot, Capacity: framedCapacity}

// framedMatrix adds the framed cases to TestMatrix: every producer against every consumer, with
// batches of 1, 4 or 16 messages and a consumer reading one at a time or in batches, spread over
// the pairs; every creator, attacher and consumer of a multi-producer ring and of a crash; every
// pair for the payload-kind refusals.
func framedMatrix(t *testing.T, impls []*impl) {
	for i, prod := range impls {
		for j, cons := range impls {
			batch := []uint64{1, 4, 16}[(i+j)%3]
			consBatch := (i+j)%2 == 1
			t.Run(prod.lang+"->"+cons.lang+"/framed", func(t *testing.T) {
				need(t, prod, cons)
				runFramed(t, prod, cons, batch, consBatch)
			})
		}
	}
	for _, a := range impls {
		for _, b := range impls {
			for _, cons := range impls {
				t.Run("multi/"+a.lang+"+"+b.lang+"->"+cons.lang+"/framed", func(t *testing.T) {
					need(t, a, b, cons)
					runFramedMulti(t, a, b, cons)
				})
			}
		}
	}
	for _, a := range impls {
		for _, b := range impls {
			for _, cons := range impls {
				t.Run("crash/"+a.lang+"+"+b.lang+"->"+cons.lang+"/framed", func(t *testing.T) {
					need(t, a, b, cons)
					runFramedCrash(t, a, b, cons)
				})
			}
		}
	}
	for _, a := range impls {
		for _, b := range impls {
			t.Run(a.lang+"->"+b.lang+"/framed-refuses-fixed", func(t *testing.T) {
				need(t, a, b)
				runRefusesKind(t, a, b)
			})
		}
	}
}

// framedSpan returns the sequences a single-mode producer p uses for its messages 0..n-1 of the
// matrix geometry: each frame in turn, preceded by a PAD to the end of the array where the frame
// would cross it (spec 11.2). Claims of several messages lay them out the same way.
func framedSpan(n, p uint64) uint64 {
	g := framedGeometryOfMatrix
	var t uint64
	for k := uint64(0); k < n; k++ {
		s := g.SlotsFor(uint32(conformance.MessageLen(k, p, framedMax)))
		if i := t % g.Capacity; i+s > g.Capacity {
			t += g.Capacity - i
		}
		t += s
	}
	return t
}

func TestFramedSpan_MatchesSizes(t *testing.T) {
	// Messages 0, 1, 2 of producer 0: F(0) (hash), 1 byte (one slot), 496 bytes (8 slots).
	f0 := framedGeometryOfMatrix.SlotsFor(uint32(conformance.MessageLen(0, 0, framedMax)))
	require.Equal(t, f0, framedSpan(1, 0))
	require.Equal(t, f0+1, framedSpan(2, 0))
	require.Equal(t, uint64(8), framedGeometryOfMatrix.SlotsFor(framedMax))
	require.Greater(t, framedSpan(framedMessages, 0), uint64(50*framedCapacity), "the ring should wrap many times")
}

// framedProduceArgs are the produce flags of a framed ring of the matrix geometry.
func framedProduceArgs(name string, count uint64, extra ...string) []string {
	return append([]string{"produce", "--framed", "--name", name, "--count", itoa(count),
		"--capacity", itoa(framedCapacity), "--slot-size", itoa(framedSlot), "--max-message", itoa(framedMax),
		"--timeout-ms", conformerMs}, extra...)
}

// runFramed: one producer, one consumer, single mode. Batches of up to batch messages per claim
// (1: one each), and the consumer reads in batches if consBatch. The consumer's cursor must end
// at the sequence the layout of spec 11.2 gives.
func runFramed(t *testing.T, prod, cons *impl, batch uint64, consBatch bool) {
	ctx, name := scenarioContext(t), segName(t)
	p := start(t, ctx, prod.lang+" framed producer", prod.bin,
		framedProduceArgs(name, framedMessages, "--batch", itoa(batch), "--wait-consumers", "1")...)
	args := []string{"consume", "--framed", "--name", name, "--consumer", "c1", "--count", itoa(framedMessages),
		"--timeout-ms", conformerMs}
	if consBatch {
		args = append(args, "--batch")
	}
	c := start(t, ctx, cons.lang+" framed consumer", cons.bin, args...)
	awaitExit(t, ctx, c, 0, p)
	checkDone(t, c, "c1", framedMessages, 1, 0)
	checkRegistry(t, p, map[string]uint64{"c1": framedSpan(framedMessages, 0)})
}

// runFramedMulti: a creates a framed multi-producer ring and publishes as producer 0 while b
// attaches and publishes as producer 1; the consumer checks that each producer's messages arrive
// in order, complete, with none missing.
func runFramedMulti(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	creator := start(t, ctx, a.lang+" framed creator (producer 0)", a.bin,
		framedProduceArgs(name, framedMessages, "--mode", "multi", "--batch", "3", "--wait-consumers", "1",
			"--wait-producers", "1")...)
	v := watch(t, creator, name)
	c := start(t, ctx, cons.lang+" framed consumer", cons.bin, "consume", "--framed", "--name", name,
		"--consumer", "c1", "--count", itoa(2*framedMessages), "--producers", "2", "--batch", "--timeout-ms", conformerMs)
	attacher := start(t, ctx, b.lang+" framed attacher (producer 1)", b.bin, "produce", "--framed", "--name", name,
		"--attach", "--producer", "1", "--count", itoa(framedMessages), "--wait-consumers", "1", "--timeout-ms", conformerMs)
	awaitExit(t, ctx, attacher, 0, creator, c)
	awaitExit(t, ctx, c, 0, creator)
	checkDone(t, c, "c1", 2*framedMessages, 2, 0)
	expectExit(t, creator, 0)
	// Every claim of both producers: at least their messages' frames, plus the PADs the wraps
	// needed where they fell.
	claimed := v.Cursors().ClaimedCount()
	checkRegistry(t, creator, map[string]uint64{"c1": claimed})
	g := framedGeometryOfMatrix
	var least uint64
	for p := uint64(0); p < 2; p++ {
		for k := uint64(0); k < framedMessages; k++ {
			least += g.SlotsFor(uint32(conformance.MessageLen(k, p, framedMax)))
		}
	}
	require.GreaterOrEqual(t, claimed, least, "claimed count")
	require.Zero(t, v.Header().Gaps.Load(), "header gaps")
	require.Equal(t, layout.ProducerClosed, v.Producer(1).Load().State(), "the attacher's producer entry")
}

// runFramedCrash: spec 5.8 and 11.3 across processes with a real kill -9 in the middle of a frame.
// a creates a framed multi-producer ring; b attaches as producer 1, publishes its messages
// 0..framedDieAt-1, claims the frame of message framedDieAt, writes half of its payload and kills
// itself with SIGKILL (--die-mid-frame). Only then does a publish its framedCrashEvents messages,
// after the dead claim: a waits for two active consumers, the consumer under test and an optional
// one this process registers once b is dead (optional: it never gates, and it reads nothing). The
// consumer must read b's messages, wait at the dead claim, pass it over as gaps (its slots, and
// the PAD before it if the claim held one) and read all of a's.
func runFramedCrash(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	creator := start(t, ctx, a.lang+" framed creator (producer 0)", a.bin,
		framedProduceArgs(name, framedCrashEvents, "--mode", "multi", "--batch", "2", "--wait-consumers", "2",
			"--wait-producers", "1")...)
	v := watch(t, creator, name)
	victim := start(t, ctx, b.lang+" framed attacher (producer 1, dies mid-frame)", b.bin, "produce", "--framed",
		"--name", name, "--attach", "--producer", "1", "--count", itoa(framedDieAt+50), "--die-mid-frame", itoa(framedDieAt),
		"--wait-consumers", "1", "--timeout-ms", conformerMs)
	c := start(t, ctx, cons.lang+" framed consumer", cons.bin, "consume", "--framed", "--name", name,
		"--consumer", "c1", "--count", itoa(framedCrashEvents+framedDieAt), "--producers", "2", "--timeout-ms", conformerMs)

	awaitExit(t, ctx, victim, -1, creator, c) // -1: it died of SIGKILL
	require.Empty(t, victim.find(t, "error"), "the attacher failed before dying")
	// The attacher published alone, as a single producer would lay its frames out; then claimed
	// the frame of message framedDieAt (a PAD first if the wrap needs one).
	pe := v.Producer(1)
	from, to := pe.IntentStart.Load(), pe.IntentEnd.Load()
	require.Equal(t, [2]uint64{framedSpan(framedDieAt, 1), framedSpan(framedDieAt+1, 1)}, [2]uint64{from, to},
		"the dead claim (intent_start, intent_end)")
	require.Equal(t, to, v.Cursors().ClaimedCount(), "the claimed count when the attacher died")
	gaps := to - from

	w, err := consumer.AttachFramed(segment.SharedMemory(name), consumer.Options{Name: "w", Optional: true,
		Start: consumer.StartOldest, AttachTimeout: 5 * time.Second})
	require.NoError(t, err, "register the optional consumer that lets the creator start")
	waitUntil(t, ctx, creator, "the creator's first claim", func() bool { return v.Cursors().ClaimedCount() > to })
	wCursor := w.Cursor()
	require.NoError(t, w.Close())

	awaitExit(t, ctx, c, 0, creator)
	d := checkDone(t, c, "c1", framedCrashEvents+framedDieAt, 2, gaps)
	expectExit(t, creator, 0)
	claimed := v.Cursors().ClaimedCount()
	checkRegistry(t, creator, map[string]uint64{"c1": claimed, "w": wCursor})
	require.Equal(t, gaps, v.Header().Gaps.Load(), "header gaps: every sequence of the dead claim")
	require.True(t, liveness.Resolved(v, pe), "the dead producer's claim is resolved")
	require.Equal(t, gaps, entryNamed(t, v, "c1").GapsSeen.Load(), "c1's gaps_seen")
	if _, present := d["gaps"]; !present {
		t.Logf("the %s consumer's done line has no gaps member (optional): %v", cons.lang, d)
	}
}

// entryNamed returns the consumer registry entry named name.
func entryNamed(t *testing.T, v *layout.View, name string) *layout.Entry {
	t.Helper()
	for i := 0; i < v.Entries(); i++ {
		if e := v.Entry(i); e.NameString() == name {
			return e
		}
	}
	require.Failf(t, "no registry entry", "no consumer entry %s", name)
	return nil
}

// runRefusesKind: check 13 across processes. a creates a framed ring and b's fixed consumer must
// refuse it; a creates a fixed ring and b's framed consumer must refuse it; both exit with
// payload_kind (exit 3) and leave no registry entry. A consumer of the right kind, in this
// process, then lets a end its stream: a's registry line holds it alone.
func runRefusesKind(t *testing.T, a, b *impl) {
	for _, framedRing := range []bool{true, false} {
		what := "fixed consumer on a framed ring"
		if !framedRing {
			what = "framed consumer on a fixed ring"
		}
		t.Run(what, func(t *testing.T) {
			ctx, name := scenarioContext(t), segName(t)
			pargs := []string{"produce", "--name", name, "--count", "0", "--wait-consumers", "1", "--timeout-ms", conformerMs}
			cargs := []string{"consume", "--name", name, "--consumer", "c1", "--count", "1", "--timeout-ms", conformerMs}
			if framedRing {
				pargs = append(pargs, "--framed")
			} else {
				cargs = append(cargs, "--framed")
			}
			p := start(t, ctx, a.lang+" producer", a.bin, pargs...)
			c := start(t, ctx, b.lang+" consumer of the other kind", b.bin, cargs...)
			awaitExit(t, ctx, c, 3, p)
			l := c.event(t, "error")
			require.Equal(t, "payload_kind", l["code"], "error line %v", l)
			require.Empty(t, p.find(t, "error"), "the producer failed")

			o := consumer.Options{Name: "c2", Start: consumer.StartOldest, Wait: coordination.Sleep(20*time.Microsecond, time.Millisecond),
				AttachTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}
			backing := segment.SharedMemory(name)
			var err error
			if framedRing {
				var fc *consumer.Framed
				fc, err = consumer.AttachFramed(backing, o)
				require.NoError(t, err, "a framed consumer of the framed ring")
				_, err = fc.Process(func([]byte, uint64, bool) error { return errors.New("no message was published") }, 0)
				require.NoError(t, fc.Close())
			} else {
				var ec *consumer.Consumer[conformance.Event]
				ec, err = consumer.Attach[conformance.Event](backing, o)
				require.NoError(t, err, "a fixed consumer of the fixed ring")
				var ev conformance.Event
				_, err = ec.Read(&ev)
				require.NoError(t, ec.Close())
			}
			require.ErrorIs(t, err, consumer.ErrEndOfStream, "the producer published nothing, then ended the stream")
			checkRegistry(t, p, map[string]uint64{"c2": 0})
		})
	}
}
