package consumer_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// message returns message k of producer p, n bytes: byte 0 names the producer, the rest follow
// from k (the framed conformance message's pattern).
func message(k uint64, p byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k*31 + uint64(p)*7 + uint64(i))
	}
	if n > 0 {
		b[0] = p
	}
	return b
}

// framedRing creates a framed shared-memory ring and registers a consumer named "c1" (o) in it.
func framedRing(t *testing.T, po producer.FramedOptions, co consumer.Options) (*producer.Framed, *consumer.Framed) {
	t.Helper()
	if po.Timeout == 0 {
		po.Timeout = 10 * time.Second // fail, not hang
	}
	if co.ReadTimeout == 0 {
		co.ReadTimeout = 10 * time.Second
	}
	p, err := producer.CreateFramed(segment.SharedMemory(testseg.Name(t)), po)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	if co.Name == "" {
		co.Name = "c1"
	}
	c, err := consumer.RegisterFramed(p.Segment(), co)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return p, c
}

// collect reads n messages from c (one Process call may deliver several), copying each.
func collect(t *testing.T, c *consumer.Framed, n int) (msgs [][]byte, seqs []uint64) {
	t.Helper()
	for len(msgs) < n {
		_, err := c.Process(func(m []byte, seq uint64, _ bool) error {
			msgs = append(msgs, bytes.Clone(m))
			seqs = append(seqs, seq)
			return nil
		}, 0)
		require.NoError(t, err)
	}
	return msgs, seqs
}

func frameAt(p *producer.Framed, seq uint64) layout.FrameHeader {
	return layout.LoadFrame(p.Segment().View().Frame(seq))
}

func TestFramed_WrapPutsAPaddingFrameBeforeTheMessage(t *testing.T) {
	// 16 slots of 64 bytes: largest message (16/8)*64 - 16 = 112.
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64}, consumer.Options{})
	require.Equal(t, 112, p.MaxMessage())
	sizes := []int{100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40} // the framed-wrapped golden scenario
	var msgs [][]byte
	var seqs []uint64
	for k, n := range sizes {
		if k == 10 { // the consumer reads the first ten (15 slots), making room for the wrap
			msgs, seqs = collect(t, c, 10)
		}
		require.NoError(t, p.Publish(message(uint64(k), 0, n)))
	}
	require.Equal(t, uint64(19), p.Published())
	pad := frameAt(p, 15)
	require.True(t, pad.Pad())
	require.Equal(t, layout.FrameHeader{SeqFlags: 15 | layout.FramePad, Length: 0, Slots: 1}, pad)
	require.Equal(t, layout.FrameHeader{SeqFlags: 16, Length: 100, Slots: 2}, frameAt(p, 16))
	m, sq := collect(t, c, 2)
	msgs, seqs = append(msgs, m...), append(seqs, sq...)
	require.Equal(t, []uint64{0, 2, 3, 5, 7, 8, 9, 11, 12, 14, 16, 18}, seqs)
	for k, n := range sizes {
		require.Equal(t, message(uint64(k), 0, n), msgs[k], "message %d", k)
	}
	require.Equal(t, uint64(19), c.Cursor())
}

func TestFramed_PayloadsAreAlignedTo16(t *testing.T) {
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 64}, SlotSize: 48}, consumer.Options{})
	for k := 0; k < 100; k++ {
		require.NoError(t, p.Publish(message(uint64(k), 0, k%p.MaxMessage())))
		_, err := c.Process(func(m []byte, _ uint64, _ bool) error {
			if len(m) > 0 {
				require.Zero(t, uintptr(unsafe.Pointer(&m[0]))%16)
			}
			return nil
		}, 0)
		require.NoError(t, err)
	}
}

func TestFramed_RandomSizesKeepOrderAndBytes(t *testing.T) {
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 256, Mode: mode}, SlotSize: 64},
				consumer.Options{Wait: coordination.Yield()})
			const total = 20_000
			rng := rand.New(rand.NewPCG(1, 2))
			sizes := make([]int, total)
			for i := range sizes {
				sizes[i] = rng.IntN(p.MaxMessage() + 1)
			}
			errc := make(chan error, 1)
			go func() {
				var k int
				errc <- c.Run(func(m []byte, _ uint64, _ bool) error {
					if !bytes.Equal(m, message(uint64(k), 0, sizes[k])) {
						return fmt.Errorf("message %d: %d bytes, want %d", k, len(m), sizes[k])
					}
					k++
					if k == total {
						return errDone
					}
					return nil
				})
			}()
			for k := 0; k < total; {
				if k%5 == 0 && k+4 <= total { // a batch now and then
					batch := [][]byte{}
					for j := 0; j < 4; j++ {
						batch = append(batch, message(uint64(k+j), 0, sizes[k+j]))
					}
					require.NoError(t, p.PublishBatch(batch))
					k += 4
					continue
				}
				require.NoError(t, p.Publish(message(uint64(k), 0, sizes[k])))
				k++
			}
			require.ErrorIs(t, <-errc, errDone)
		})
	}
}

var errDone = errors.New("done")

func TestFramed_BatchPadsInTheMiddle(t *testing.T) {
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64}, consumer.Options{})
	for i := 0; i < 13; i++ { // up to sequence 13
		require.NoError(t, p.Publish(message(uint64(i), 0, 10)))
	}
	_, _ = collect(t, c, 13)
	// At 13: a 2-slot message fits (13-14), the next needs a pad at 15.
	batch := [][]byte{message(13, 0, 100), message(14, 0, 100), message(15, 0, 5)}
	require.NoError(t, p.PublishBatch(batch))
	require.True(t, frameAt(p, 15).Pad())
	msgs, seqs := collect(t, c, 3)
	require.Equal(t, []uint64{13, 16, 18}, seqs)
	require.Equal(t, batch, msgs)
}

func TestFramed_ClaimInPlace_ShrinksAndAbandons(t *testing.T) {
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 64}, SlotSize: 64}, consumer.Options{})
	cl, err := p.Claim(400) // 7 slots
	require.NoError(t, err)
	require.Len(t, cl.Payload(), 400)
	require.ErrorIs(t, p.Publish([]byte("x")), producer.ErrClaimOutstanding)
	copy(cl.Payload(), "hello")
	require.NoError(t, p.PublishClaim(cl, 5))
	require.Equal(t, layout.FrameHeader{SeqFlags: 0, Length: 5, Slots: 1}, frameAt(p, 0))
	require.Equal(t, layout.FrameHeader{SeqFlags: 1 | layout.FramePad, Slots: 6}, frameAt(p, 1))
	require.ErrorIs(t, p.PublishClaim(cl, 5), producer.ErrNoClaim)

	cl, err = p.Claim(100)
	require.NoError(t, err)
	copy(cl.Payload(), "never")
	require.NoError(t, p.Abandon(cl))
	require.NoError(t, p.Publish([]byte("after")))
	msgs, seqs := collect(t, c, 2)
	require.Equal(t, [][]byte{[]byte("hello"), []byte("after")}, msgs)
	require.Equal(t, []uint64{0, 9}, seqs)
	require.Equal(t, uint64(10), c.Cursor())
}

func TestFramed_TooLargeIsRefusedBeforeClaiming(t *testing.T) {
	p, _ := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64}, consumer.Options{})
	claimed := p.Segment().View().Cursors().ClaimedCount()
	require.ErrorIs(t, p.Publish(make([]byte, 113)), producer.ErrTooLarge)
	require.ErrorIs(t, p.PublishBatch([][]byte{{1}, make([]byte, 113)}), producer.ErrTooLarge)
	_, err := p.Claim(113)
	require.ErrorIs(t, err, producer.ErrTooLarge)
	require.ErrorIs(t, p.PublishBatch(make([][]byte, 16)), producer.ErrBatchTooLarge) // 16 slots + a pad of 1
	require.Equal(t, claimed, p.Segment().View().Cursors().ClaimedCount())
	require.Equal(t, uint64(0), p.Published())
}

func TestFramed_CorruptHeaderIsAnErrorAndTheCursorStays(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(s uint64) layout.FrameHeader
	}{
		{"stale sequence", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s + 16, Length: 10, Slots: 1} }},
		{"bit 62", func(s uint64) layout.FrameHeader {
			return layout.FrameHeader{SeqFlags: s | 1<<62, Length: 10, Slots: 1}
		}},
		{"zero slots", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s, Length: 0, Slots: 0} }},
		{"past the array", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s | layout.FramePad, Slots: 16} }},
		{"over the largest", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s, Length: 113, Slots: 3} }},
		{"slots do not match", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s, Length: 10, Slots: 2} }},
		{"padding with a length", func(s uint64) layout.FrameHeader {
			return layout.FrameHeader{SeqFlags: s | layout.FramePad, Length: 4, Slots: 1}
		}},
		{"past what was published", func(s uint64) layout.FrameHeader { return layout.FrameHeader{SeqFlags: s, Length: 100, Slots: 2} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64}, consumer.Options{})
			require.NoError(t, p.Publish([]byte("first")))
			require.NoError(t, p.Publish([]byte("second"))) // sequence 1, one slot
			layout.StoreFrame(p.Segment().View().Frame(1), tc.f(1))
			var got [][]byte
			h := func(m []byte, _ uint64, _ bool) error { got = append(got, bytes.Clone(m)); return nil }
			n, err := c.Process(h, 0)
			require.NoError(t, err)
			require.Equal(t, 1, n) // the valid frame before it is delivered
			for i := 0; i < 2; i++ {
				_, err = c.Poll(h, 0)
				var fe *layout.FrameError
				require.ErrorAs(t, err, &fe)
				require.ErrorIs(t, err, consumer.ErrCorruptFrame)
				require.Equal(t, uint64(1), fe.Seq)
				require.Equal(t, uint64(1), c.Cursor())
			}
			require.Equal(t, [][]byte{[]byte("first")}, got)
		})
	}
}

func TestFramed_OptionalConsumerLappedResyncsAtABoundary(t *testing.T) {
	p, req := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}, SlotSize: 64}, consumer.Options{})
	req.Close() // nobody gates the producer
	opt, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "opt", Optional: true})
	require.NoError(t, err)
	defer opt.Close()
	require.NoError(t, p.Publish(message(0, 0, 100))) // 0-1
	var got [][]byte
	h := func(m []byte, _ uint64, _ bool) error { got = append(got, bytes.Clone(m)); return nil }
	n, err := opt.Process(h, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for k := 1; k <= 12; k++ { // 24 slots: a lap and a half past the optional consumer at 2
		require.NoError(t, p.Publish(message(uint64(k), 0, 100)))
	}
	_, err = opt.Process(h, 0)
	var le *consumer.LappedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, uint64(2), le.At)
	require.Equal(t, uint64(26-2), le.Lost) // resumed at the claimed count, 26
	require.Equal(t, uint64(26), opt.Cursor())
	require.Equal(t, uint64(24), p.Segment().View().Entry(opt.Index()).Lost.Load())
	require.NoError(t, p.Publish(message(13, 0, 7)))
	_, err = opt.Process(h, 0)
	require.NoError(t, err)
	require.Equal(t, [][]byte{message(0, 0, 100), message(13, 0, 7)}, got)
}

func TestFramed_KindsRefuseEachOther(t *testing.T) {
	p, _ := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16}}, consumer.Options{})
	_, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "fixed"})
	require.ErrorIs(t, err, layout.ErrPayloadKind)

	fp, err := producer.Create[event](segment.SharedMemory(testseg.Name(t)), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer fp.Close()
	_, err = consumer.RegisterFramed(fp.Segment(), consumer.Options{Name: "framed"})
	require.ErrorIs(t, err, layout.ErrPayloadKind)
	_, err = consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "typed", TypeName: "orders.v1"})
	require.ErrorIs(t, err, layout.ErrEventType)
}

func TestFramed_BadGeometryIsRefusedAtCreate(t *testing.T) {
	for name, o := range map[string]producer.FramedOptions{
		"capacity below 8":      {Options: producer.Options{Capacity: 4}},
		"slot not a multiple":   {Options: producer.Options{Capacity: 16}, SlotSize: 40},
		"slot too small":        {Options: producer.Options{Capacity: 16}, SlotSize: 16},
		"largest over an eight": {Options: producer.Options{Capacity: 16}, SlotSize: 64, MaxMessage: 113},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := producer.CreateFramed(segment.SharedMemory(testseg.Name(t)), o)
			require.ErrorIs(t, err, layout.ErrInvalidConfig)
		})
	}
}

func TestFramed_MultiProducersInterleaveWholeMessages(t *testing.T) {
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 128, Mode: producer.Multi}, SlotSize: 64},
		consumer.Options{Wait: coordination.Yield()})
	const producers, each = 3, 3000
	var wg sync.WaitGroup
	for id := 1; id <= producers; id++ {
		q, err := producer.RegisterFramed(p.Segment(), producer.Options{Wait: coordination.Yield()})
		require.NoError(t, err)
		wg.Add(1)
		go func(id byte) {
			defer wg.Done()
			defer q.Close()
			for k := 0; k < each; k++ {
				n := 1 + (k*37+int(id)*11)%q.MaxMessage()
				if err := q.Publish(message(uint64(k), id, n)); err != nil {
					panic(err)
				}
			}
		}(byte(id))
	}
	next := map[byte]int{}
	total := 0
	for total < producers*each {
		_, err := c.Process(func(m []byte, _ uint64, _ bool) error {
			id := m[0]
			k := next[id]
			n := 1 + (k*37+int(id)*11)%p.MaxMessage()
			if !bytes.Equal(m, message(uint64(k), id, n)) {
				return fmt.Errorf("producer %d message %d corrupt", id, k)
			}
			next[id]++
			total++
			return nil
		}, 0)
		require.NoError(t, err)
	}
	wg.Wait()
	for id := byte(1); id <= producers; id++ {
		require.Equal(t, each, next[id])
	}
}

// TestFramed_PartlyGappedFrameIsPassedOverWhole plays a producer that died after publishing the
// first slot of a two-slot frame (spec 11.3 step 4): the frame is passed over whole and counted.
func TestFramed_PartlyGappedFrameIsPassedOverWhole(t *testing.T) {
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16, Mode: producer.Multi, Producers: 2}, SlotSize: 64},
		consumer.Options{StallTimeout: 10 * time.Millisecond, Wait: coordination.Yield(), ReadTimeout: 10 * time.Second})
	require.NoError(t, p.Publish(message(0, 0, 20))) // sequence 0
	v := p.Segment().View()
	// Producer entry 1, owned by a process killed with SIGKILL, claimed 1-2 for a 2-slot
	// message, wrote it, and published sequence 1 only (spec 5.4 steps 2-5).
	pe := v.Producer(1)
	pe.Owner.Store(uint64(testseg.KilledOwner(t)))
	pe.IntentStart.Store(1)
	pe.IntentEnd.Store(3)
	pe.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))
	require.True(t, v.Cursors().Claimed.CompareAndSwap(1, 3))
	layout.StoreFrame(v.Frame(1), layout.FrameHeader{SeqFlags: 1, Length: 70, Slots: 2})
	v.Availability(1).Store(2)
	require.NoError(t, p.Publish(message(1, 0, 5))) // sequence 3
	var got [][]byte
	var gaps []*consumer.GapError
	for len(got) < 2 {
		_, err := c.Process(func(m []byte, _ uint64, _ bool) error { got = append(got, bytes.Clone(m)); return nil }, 0)
		var ge *consumer.GapError
		if errors.As(err, &ge) {
			gaps = append(gaps, ge)
			continue
		}
		require.NoError(t, err)
	}
	require.Equal(t, [][]byte{message(0, 0, 20), message(1, 0, 5)}, got)
	require.Len(t, gaps, 1)
	require.Equal(t, consumer.GapError{Seq: 1, Count: 2}, *gaps[0])
	require.Equal(t, uint64(2), v.Entry(c.Index()).GapsSeen.Load())
	require.Equal(t, uint64(1), v.Header().Gaps.Load()) // sequence 2 only was resolved as a gap
}

// TestFramed_OptionalConsumerLapped_MultiMode: in multi mode a lapped optional consumer finds
// availability words of a later round at its next sequence (nothing looks published there), yet
// it must notice the lap (spec 5.10 step 4, 11.4) instead of waiting forever.
func TestFramed_OptionalConsumerLapped_MultiMode(t *testing.T) {
	p, req := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 16, Mode: producer.Multi}, SlotSize: 64}, consumer.Options{})
	req.Close()
	opt, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "opt", Optional: true, ReadTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer opt.Close()
	for k := 0; k < 20; k++ { // 40 slots: more than two laps
		require.NoError(t, p.Publish(message(uint64(k), 0, 100)))
	}
	_, err = opt.Process(func([]byte, uint64, bool) error { return nil }, 0)
	var le *consumer.LappedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, uint64(0), le.At)
	require.Equal(t, uint64(40), opt.Cursor())
}

// TestFramed_RegisteringWhilePublishing_StartsAtAFrameBoundary registers consumers at oldest and
// at latest, over and over, while a producer publishes messages of many sizes: every start is a
// frame boundary (spec 11.3: registration needs nothing more), so each newcomer's first read is
// a valid frame, never a corrupt-frame error.
func TestFramed_RegisteringWhilePublishing_StartsAtAFrameBoundary(t *testing.T) {
	var halt atomic.Bool
	p, c := framedRing(t, producer.FramedOptions{Options: producer.Options{Capacity: 64, Mode: producer.Multi}, SlotSize: 64},
		consumer.Options{Wait: coordination.Yield(), Halt: &halt})
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		for k := uint64(0); ; k++ {
			select {
			case <-stop:
				pubErr <- nil
				return
			default:
			}
			if err := p.Publish(message(k, 0, 1+int(k*97%uint64(p.MaxMessage())))); err != nil {
				pubErr <- err
				return
			}
		}
	}()
	readErr := make(chan error, 1)
	go func() { // c1 keeps the ring moving
		readErr <- c.Run(func([]byte, uint64, bool) error { return nil })
	}()
	for i := 0; i < 200; i++ {
		start := consumer.StartOldest
		if i%2 == 1 {
			start = consumer.StartLatest
		}
		n, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "newcomer", Start: start, Wait: coordination.Yield(), ReadTimeout: 10 * time.Second})
		require.NoError(t, err)
		_, err = n.Process(func(m []byte, _ uint64, _ bool) error {
			if len(m) == 0 {
				return errors.New("empty message")
			}
			return nil
		}, 3)
		require.NoError(t, err, "registration %d (%v)", i, start)
		require.NoError(t, n.Close())
	}
	close(stop)
	require.NoError(t, <-pubErr)
	halt.Store(true)
	coordination.WakeAll(p.Segment().View().Wait())
	require.ErrorIs(t, <-readErr, consumer.ErrHalted)
}
