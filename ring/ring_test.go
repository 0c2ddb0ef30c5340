package ring_test

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// slotBytes is the size of the test rings' slots: the event type is 16 raw bytes.
const slotBytes = 16

func eventType(t *testing.T) layout.EventType {
	t.Helper()
	et, err := layout.TypeOf[[slotBytes]byte]()
	require.NoError(t, err)
	return et
}

// create makes a shared-memory ring of capacity slots and a required consumer of it.
func create(t *testing.T, capacity uint64, mode ring.Mode) (*ring.Producer, *ring.Consumer) {
	t.Helper()
	et := eventType(t)
	p, err := ring.Create(segment.SharedMemory(testseg.Name(t)), ring.Events{Type: et}, ring.ProducerOptions{
		Capacity: capacity, Mode: mode, Registry: 4,
		Wait: coordination.Yield(), Timeout: 10 * time.Second,
	})
	require.NoError(t, err)
	c, err := ring.RegisterConsumer(p.Segment(), et, ring.ConsumerOptions{
		Name: "reader", Wait: coordination.Yield(), ReadTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		p.Close()
	})
	return p, c
}

// put writes v into the first 8 bytes of a slot.
func put(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

func get(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// fillClaim writes into each claimed slot its sequence times 3, through the claim's byte runs.
func fillClaim(cl ring.Claim) {
	first, second := cl.Bytes()
	for i := 0; i < cl.Len(); i++ {
		b := first
		off := i * slotBytes
		if off >= len(first) {
			b, off = second, off-len(first)
		}
		put(b[off:off+slotBytes], cl.Seq(i)*3)
	}
}

func TestRing_Claim_SpansAtTheWrap(t *testing.T) {
	p, c := create(t, 8, ring.Single)
	cl, err := p.Claim(6)
	require.NoError(t, err)
	first, second := cl.Spans()
	require.Equal(t, uint64(6), first.Len)
	require.Zero(t, second.Len, "a claim that does not wrap has one run")
	require.NoError(t, p.PublishClaim(cl))
	require.NoError(t, c.Wait())
	start, end, err := c.Range(0)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{0, 6}, [2]uint64{start, end})
	c.Release(end)

	cl, err = p.Claim(5) // sequences 6..10: slots 6, 7, then 0, 1, 2
	require.NoError(t, err)
	require.Equal(t, uint64(6), cl.Start())
	first, second = cl.Spans()
	require.Equal(t, uint64(2), first.Len)
	require.Equal(t, uint64(3), second.Len)
	require.Equal(t, p.Slot(6), first.Ptr)
	require.Equal(t, p.Slot(8), second.Ptr, "the second run starts at slot 0")
	require.Equal(t, p.Slot(0), second.Ptr)
	require.Equal(t, uintptr(slotBytes), first.SlotSize)
	require.Equal(t, unsafe.Add(first.Ptr, slotBytes), cl.Slot(1))
	require.Equal(t, second.Ptr, cl.Slot(2))
	fb, sb := cl.Bytes()
	require.Len(t, fb, 2*slotBytes)
	require.Len(t, sb, 3*slotBytes)
	require.Panics(t, func() { cl.Slot(5) })
	require.NoError(t, p.PublishClaim(cl))
	require.ErrorIs(t, p.PublishClaim(cl), ring.ErrNoClaim, "a claim is published once")
}

func TestRing_PublishConsume_BytesAcrossTheWrap(t *testing.T) {
	p, c := create(t, 8, ring.Single)
	const total = 100
	done := make(chan error, 1)
	go func() {
		for seq := uint64(0); seq < total; {
			cl, err := p.Claim(int(min(3, total-seq))) // batches of 3 wrap at every other lap
			if err != nil {
				done <- err
				return
			}
			fillClaim(cl)
			seq += uint64(cl.Len())
			if err := p.PublishClaim(cl); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got uint64
	for got < total {
		require.NoError(t, c.Wait())
		start, end, err := c.Range(5)
		require.NoError(t, err)
		require.Equal(t, got, start)
		first, second := c.Spans(start, end)
		require.Equal(t, end-start, first.Len+second.Len)
		for s := start; s < end; s++ {
			b := c.SlotBytes(s)
			require.Len(t, b, slotBytes)
			require.Equal(t, s*3, get(b), "sequence %d", s)
		}
		require.True(t, c.Registered())
		c.Release(end)
		got = end
	}
	require.NoError(t, <-done)
	require.Equal(t, uint64(total), c.Next())
	require.Equal(t, uint64(total), p.Published())
}

// A reader of variable-length frames: a header slot that gives the payload's length in slots,
// then the payload over the following slots (across the wrap), released a frame at a time.
func TestRing_Consumer_ReadsFramesAsBytes(t *testing.T) {
	p, c := create(t, 8, ring.Single)
	frames := [][]byte{[]byte("one slot"), make([]byte, 3*slotBytes), []byte("the payload of two slots!")}
	for i := range frames[1] {
		frames[1][i] = byte(i)
	}
	for _, f := range frames {
		k := (len(f) + slotBytes - 1) / slotBytes
		cl, err := p.Claim(1 + k)
		require.NoError(t, err)
		header, _ := cl.Bytes()
		put(header, uint64(len(f))) // the header: the payload's length
		for i := 0; i < k; i++ {
			copy(unsafe.Slice((*byte)(cl.Slot(1+i)), slotBytes), f[i*slotBytes:])
		}
		require.NoError(t, p.PublishClaim(cl))
		// Read it: the header first, then the payload's slots as at most two byte runs.
		require.NoError(t, c.Wait())
		start, end, err := c.Range(0)
		require.NoError(t, err)
		n := get(c.SlotBytes(start))
		require.Equal(t, uint64(len(f)), n)
		first, second := c.Spans(start+1, start+1+uint64(k))
		require.LessOrEqual(t, start+1+uint64(k), end)
		payload := append(append([]byte{}, first.Bytes()...), second.Bytes()...)
		require.Equal(t, f, payload[:n])
		c.Release(start + 1 + uint64(k)) // up to the frame's end
		require.Equal(t, start+1+uint64(k), c.Next())
	}
	require.Equal(t, uint64(1+1+1+3+1+2), c.Next())
}

func TestRing_Claim_MultiProducerFromGoroutines(t *testing.T) {
	p, c := create(t, 16, ring.Multi)
	const writers, claims, per = 4, 50, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := uint64(0); w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); i < claims; i++ {
				cl, err := p.Claim(per)
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < per; j++ {
					b := unsafe.Slice((*byte)(cl.Slot(j)), slotBytes)
					put(b, w)
					put(b[8:], i*per+uint64(j))
				}
				if err := p.PublishClaim(cl); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	next := make([]uint64, writers) // what each writer's next event must be
	for read := 0; read < writers*claims*per; {
		require.NoError(t, c.Wait())
		start, end, err := c.Range(0)
		require.NoError(t, err)
		for s := start; s < end; s++ {
			b := c.SlotBytes(s)
			w, v := get(b), get(b[8:])
			require.Less(t, w, uint64(writers))
			require.Equal(t, next[w], v, "writer %d's events arrive in order, each once", w)
			next[w]++
		}
		c.Release(end)
		read += int(end - start)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for w := range next {
		require.Equal(t, uint64(claims*per), next[w])
	}
}

func TestRing_Consumer_EvictedDeliversNothingMore(t *testing.T) {
	p, c := create(t, 8, ring.Single)
	cl, err := p.Claim(4)
	require.NoError(t, err)
	fillClaim(cl)
	require.NoError(t, p.PublishClaim(cl))
	require.NoError(t, c.Begin())
	require.NoError(t, c.Wait())
	start, end, err := c.Range(0)
	require.NoError(t, err)
	require.Equal(t, uint64(3), get(c.SlotBytes(start+1)))
	require.True(t, c.Registered())

	// Evict it as a producer's liveness policy does (spec 5.7, evicting): the state word first.
	e := p.View().Entry(c.Index())
	st := e.Load()
	require.True(t, e.CompareAndSwapState(st, st.With(layout.EntryEvicted)))
	e.Owner.CompareAndSwap(uint64(e.OwnerID()), 0)

	require.False(t, c.Registered(), "the per-event check sees the eviction at once")
	require.ErrorIs(t, c.Check(), ring.ErrEvicted)
	require.ErrorIs(t, c.Begin(), ring.ErrEvicted, "no further read starts")
	require.Equal(t, start, c.Next(), "nothing of the batch was released")
	require.Less(t, start, end)
	// The producer no longer waits for it: a whole ring fits again.
	require.Equal(t, p.Capacity(), p.Remaining())
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Close(), ring.ErrConsumerClosed)
}

func TestRing_TryClaim_FullAndOutstanding(t *testing.T) {
	p, c := create(t, 4, ring.Single)
	cl, err := p.TryClaim(4)
	require.NoError(t, err)
	_, err = p.TryClaim(1)
	require.ErrorIs(t, err, ring.ErrClaimOutstanding)
	require.NoError(t, p.PublishClaim(cl))
	_, err = p.TryClaim(1)
	var full *ring.FullError
	require.ErrorAs(t, err, &full)
	require.Equal(t, uint64(1), full.Missing)
	require.True(t, ring.Temporary(err))
	_, err = p.TryClaim(5)
	require.ErrorIs(t, err, ring.ErrBatchTooLarge)
	require.False(t, ring.Temporary(err))
	require.NoError(t, c.Wait())
	_, end, err := c.Range(1)
	require.NoError(t, err)
	c.Release(end)
	cl, err = p.TryClaim(1)
	require.NoError(t, err, "releasing one slot makes room for one")
	require.NoError(t, p.PublishClaim(cl))
}

func TestRing_Consumer_EndOfStream(t *testing.T) {
	et := eventType(t)
	p, err := ring.Create(segment.SharedMemory(testseg.Name(t)), ring.Events{Type: et}, ring.ProducerOptions{Capacity: 8})
	require.NoError(t, err)
	c, err := ring.RegisterConsumer(p.Segment(), et, ring.ConsumerOptions{Name: "reader", ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	seq, ok := p.ClaimFast(2)
	if !ok {
		seq, err = p.ClaimSlow(2, true)
		require.NoError(t, err)
	}
	p.Publish(seq, 2)
	require.NoError(t, p.Close())
	require.NoError(t, c.Wait(), "what was published is read after the close")
	require.False(t, c.Ended())
	c.Release(c.End())
	require.True(t, c.Ended())
	require.True(t, errors.Is(c.Wait(), ring.ErrEndOfStream))
}
