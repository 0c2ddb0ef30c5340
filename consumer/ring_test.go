package consumer_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// backings returns one of each backing kind, cleaned up at the end of t.
func backings(t *testing.T) map[string]segment.Backing {
	return map[string]segment.Backing{
		"heap": segment.Heap(),
		"shm":  segment.SharedMemory(testseg.Name(t)),
		"file": segment.File(t.TempDir() + "/ring"),
	}
}

// attach registers a consumer on p's segment: through the segment for the heap, by name otherwise.
func attach[T any](t *testing.T, p *producer.Producer[T], o consumer.Options) *consumer.Consumer[T] {
	t.Helper()
	var c *consumer.Consumer[T]
	var err error
	if p.Segment().Backing().Kind() == segment.KindHeap {
		c, err = consumer.Register[T](p.Segment(), o)
	} else {
		c, err = consumer.Attach[T](p.Segment().Backing(), o)
	}
	require.NoError(t, err)
	return c
}

func TestRing_WrapsAroundManyTimes(t *testing.T) {
	for name, b := range backings(t) {
		t.Run(name, func(t *testing.T) {
			p, err := producer.Create[event](b, producer.Options{Capacity: 8})
			require.NoError(t, err)
			c := attach(t, p, consumer.Options{Name: "c1"})
			const total = 50_000 // 6250 laps of an 8-slot ring
			errc := make(chan error, 1)
			go func() {
				var want uint64
				errc <- c.Run(func(e *event, seq uint64, _ bool) error {
					if seq != want {
						return fmt.Errorf("sequence %d, want %d", seq, want)
					}
					want++
					return check(seq, e)
				})
			}()
			for i := uint64(0); i < total; i++ {
				if i%3 == 0 {
					require.NoError(t, p.Publish(func(e *event) { fill(i, e) }))
					continue
				}
				n := min(5, total-i)
				require.NoError(t, p.PublishBatch(int(n), func(j int, e *event) { fill(i+uint64(j), e) }))
				i += n - 1
			}
			require.NoError(t, p.Close())
			require.NoError(t, <-errc)
			require.Equal(t, uint64(total), c.Cursor())
			require.NoError(t, c.Close())
		})
	}
}

// TestRing_ThreeConsumerProcesses runs one producer here and three consumer processes, each of
// which must receive every event in order.
func TestRing_ThreeConsumerProcesses(t *testing.T) {
	name := testseg.Name(t)
	const total = 200_000
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 256})
	require.NoError(t, err)
	defer p.Close()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for i := 0; i < 3; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RW_CHILD=consume", "RW_NAME="+name,
			fmt.Sprintf("RW_CONSUMER=c%d", i), fmt.Sprintf("RW_COUNT=%d", total))
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
		}
	})
	waitActive(t, p.Segment().View(), 3)
	for i := uint64(0); i < total; i += 100 {
		require.NoError(t, p.PublishBatch(100, func(j int, e *event) { fill(i+uint64(j), e) }))
	}
	require.NoError(t, p.Close())
	for i, cmd := range cmds {
		err := cmd.Wait()
		require.NoError(t, err, "consumer %d: %s", i, outs[i])
		require.Equal(t, fmt.Sprintf("ok %d\n", total), outs[i].String())
	}
}

// waitActive waits until n registry entries are active.
func waitActive(t *testing.T, v *layout.View, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		active := 0
		for i := 0; i < v.Entries(); i++ {
			if v.Entry(i).Ready() { // active and past its start (spec 5.7 step 6)
				active++
			}
		}
		return active >= n
	}, 20*time.Second, time.Millisecond)
}

func testSize[T any](t *testing.T, set func(*T, uint64), get func(*T) uint64) {
	p, err := producer.Create[T](segment.SharedMemory(testseg.Name(t)), producer.Options{Capacity: 16})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "sizes"})
	for i := uint64(0); i < 40; i++ {
		require.NoError(t, p.Publish(func(e *T) { set(e, i) }))
		var got T
		seq, err := c.Read(&got)
		require.NoError(t, err)
		require.Equal(t, i, seq)
		require.Equal(t, i, get(&got))
	}
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
}

func TestRing_EventSizes(t *testing.T) {
	t.Run("1", func(t *testing.T) {
		testSize(t, func(e *[1]byte, v uint64) { e[0] = byte(v) }, func(e *[1]byte) uint64 { return uint64(e[0]) })
	})
	t.Run("3", func(t *testing.T) {
		testSize(t, func(e *[3]byte, v uint64) { e[2] = byte(v) }, func(e *[3]byte) uint64 { return uint64(e[2]) })
	})
	t.Run("24", func(t *testing.T) {
		type ev struct {
			A uint16
			B uint64
			C [6]byte
		}
		testSize(t, func(e *ev, v uint64) { e.B = v }, func(e *ev) uint64 { return e.B })
	})
	t.Run("64", func(t *testing.T) {
		testSize(t, func(e *event, v uint64) { fill(v, e) }, func(e *event) uint64 { return e.Seq })
	})
	t.Run("4096", func(t *testing.T) {
		testSize(t, func(e *[512]uint64, v uint64) { e[0], e[511] = v, v }, func(e *[512]uint64) uint64 {
			if e[0] != e[511] {
				return ^uint64(0)
			}
			return e[511]
		})
	})
}

func TestProducer_TryPublish_FullThenPublishWaits(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 4})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "slow"})
	for i := uint64(0); i < 4; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { fill(i, e) }))
	}
	require.Equal(t, uint64(0), p.Remaining())
	err = p.TryPublish(func(e *event) { fill(4, e) })
	require.ErrorIs(t, err, producer.ErrFull)

	published := make(chan error, 1)
	go func() { published <- p.Publish(func(e *event) { fill(4, e) }) }()
	select {
	case err := <-published:
		t.Fatalf("Publish returned %v on a full ring", err)
	case <-time.After(50 * time.Millisecond):
	}
	var got event
	seq, err := c.Read(&got)
	require.NoError(t, err)
	require.Equal(t, uint64(0), seq)
	require.NoError(t, <-published)
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
}

func TestProducer_Publish_TimesOutWhenFull(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 2, Timeout: 20 * time.Millisecond,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond)})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "stuck"})
	defer c.Close()
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(i), e) }))
	err = p.Publish(func(e *event) {})
	require.ErrorIs(t, err, producer.ErrTimeout)
	require.ErrorIs(t, p.PublishBatch(3, func(int, *event) {}), producer.ErrBatchTooLarge)
	require.NoError(t, p.Close())
}

func TestConsumer_Attach_WrongEventTypeRefused(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	_, err = consumer.Attach[[64]byte](segment.SharedMemory(name), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, layout.ErrEventType)
	require.Contains(t, err.Error(), "testseg.Event")
	type other struct{ A, B uint64 }
	_, err = consumer.Attach[other](segment.SharedMemory(name), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, layout.ErrEventType)
}

func TestConsumer_RegistryFullAndDuplicateName(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Registry: 2})
	require.NoError(t, err)
	defer p.Close()
	a := attach(t, p, consumer.Options{Name: "a"})
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "a"})
	require.ErrorIs(t, err, consumer.ErrDuplicateName)
	b := attach(t, p, consumer.Options{Name: "b"})
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: "c"})
	require.ErrorIs(t, err, consumer.ErrRegistryFull)
	require.NoError(t, b.Close())
	c := attach(t, p, consumer.Options{Name: "c"}) // the closed entry is reused
	require.Equal(t, b.Index(), c.Index())
	require.Equal(t, uint32(2), p.Segment().View().Entry(c.Index()).Load().Gen())
	require.NoError(t, a.Close())
	require.NoError(t, c.Close())
	_, err = consumer.Register[event](p.Segment(), consumer.Options{Name: ""})
	require.ErrorIs(t, err, consumer.ErrBadName)
}

func TestConsumer_StartLatestAndOldest(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	defer p.Close()
	first := attach(t, p, consumer.Options{Name: "first"})
	defer first.Close()
	require.NoError(t, p.PublishBatch(10, func(i int, e *event) { fill(uint64(i), e) }))
	var ev event
	for i := 0; i < 3; i++ {
		_, err := first.Read(&ev)
		require.NoError(t, err)
	}
	latest := attach(t, p, consumer.Options{Name: "latest"})
	defer latest.Close()
	oldest := attach(t, p, consumer.Options{Name: "oldest", Start: consumer.StartOldest})
	defer oldest.Close()
	require.Equal(t, uint64(10), latest.Cursor())
	require.Equal(t, uint64(3), oldest.Cursor())
	seq, err := oldest.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)
	require.NoError(t, check(3, &ev))
}

func TestConsumer_TryNext_LeaseHoldsSlot(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 2})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "leaser"})
	defer c.Close()
	_, _, err = c.TryNext()
	require.ErrorIs(t, err, consumer.ErrEmpty)
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(i), e) }))
	ev, seq, err := c.TryNext()
	require.NoError(t, err)
	require.Equal(t, uint64(0), seq)
	_, _, err = c.TryNext()
	require.ErrorIs(t, err, consumer.ErrLeased)
	// The leased slot is not overwritten while the lease is held.
	require.ErrorIs(t, p.TryPublish(func(e *event) { fill(2, e) }), producer.ErrFull)
	require.NoError(t, check(0, ev))
	require.NoError(t, c.Release())
	require.ErrorIs(t, c.Release(), consumer.ErrNotLeased)
	require.NoError(t, p.TryPublish(func(e *event) { fill(2, e) }))
}

func TestConsumer_EndOfBatchAndBatches(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 64})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "batches"})
	require.NoError(t, p.PublishBatch(10, func(i int, e *event) { fill(uint64(i), e) }))
	var ends []uint64
	n, err := c.Process(func(e *event, seq uint64, end bool) error {
		if end {
			ends = append(ends, seq)
		}
		return nil
	}, 4)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = c.Process(func(e *event, seq uint64, end bool) error {
		if end {
			ends = append(ends, seq)
		}
		return nil
	}, 0)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	require.Equal(t, []uint64{3, 9}, ends)

	// A handler error stops the batch; the failed event is delivered again.
	require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(10+i), e) }))
	boom := errors.New("boom")
	n, err = c.Process(func(e *event, seq uint64, end bool) error {
		if seq == 11 {
			return boom
		}
		return nil
	}, 0)
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, n)
	require.Equal(t, uint64(11), c.Cursor())
	require.NoError(t, p.Close())
	n, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEndOfStream)
	require.NoError(t, c.Close())
}

func TestConsumer_Optional_LappedLossIsCounted(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "opt", Optional: true})
	defer c.Close()
	// An optional consumer never gates: 20 events go into 8 slots without waiting.
	for i := uint64(0); i < 20; i++ {
		require.NoError(t, p.TryPublish(func(e *event) { fill(i, e) }))
	}
	var ev event
	_, err = c.Read(&ev)
	var le *consumer.LappedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, uint64(0), le.At)
	require.Equal(t, uint64(20), le.Lost)
	require.Equal(t, uint64(20), p.Segment().View().Entry(c.Index()).Lost.Load())
	require.NoError(t, p.Publish(func(e *event) { fill(20, e) }))
	seq, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(20), seq)
	require.NoError(t, check(20, &ev))
}

func TestConsumer_AttachErrors(t *testing.T) {
	_, err := consumer.Attach[event](segment.SharedMemory(testseg.Name(t)), consumer.Options{Name: "x", AttachTimeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, segment.ErrNotFound)
	_, err = consumer.Attach[event](segment.Heap(), consumer.Options{Name: "x"})
	require.ErrorIs(t, err, segment.ErrHeapAttach)

	// A segment whose creator never finished initializing: an error after the deadline.
	name := testseg.Name(t)
	require.NoError(t, os.WriteFile("/dev/shm"+name, make([]byte, 4096), 0o600))
	_, err = consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "x", AttachTimeout: 20 * time.Millisecond})
	require.ErrorIs(t, err, segment.ErrTimeout)
	require.ErrorIs(t, err, layout.ErrInitializing)
}

func TestConsumer_WaitsForProducerToAppear(t *testing.T) {
	name := testseg.Name(t)
	got := make(chan error, 1)
	go func() {
		c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "early", AttachTimeout: 5 * time.Second})
		if err == nil {
			err = c.Close()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	require.NoError(t, <-got)
	require.NoError(t, p.Close())
}

func TestProducer_MultiGoroutines(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 64, Mode: producer.Multi})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "mp"})
	const per, writers = 5000, 3
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		q, err := producer.Register[event](p.Segment(), producer.Options{Wait: coordination.Yield()})
		require.NoError(t, err)
		go func(w uint64) {
			defer q.Close()
			for i := uint64(0); i < per; i++ {
				if err := q.Publish(func(e *event) { e.Seq, e.Square = w, i }); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}(uint64(w))
	}
	next := make([]uint64, writers)
	for n := 0; n < per*writers; {
		k, err := c.Process(func(e *event, _ uint64, _ bool) error {
			if e.Square != next[e.Seq] {
				return fmt.Errorf("writer %d: got %d, want %d", e.Seq, e.Square, next[e.Seq])
			}
			next[e.Seq]++
			return nil
		}, 0)
		require.NoError(t, err)
		n += k
	}
	for w := 0; w < writers; w++ {
		require.NoError(t, <-errc)
	}
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())
}

func TestProducer_Close_RemovesNameUnlessKept(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Close(), producer.ErrClosed)
	_, err = os.Stat("/dev/shm" + name)
	require.ErrorIs(t, err, os.ErrNotExist)

	p, err = producer.Create[event](segment.SharedMemory(name), producer.Options{Keep: true})
	require.NoError(t, err)
	require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(i), e) }))
	require.NoError(t, p.Close())
	// The kept segment still holds the closed stream: a late consumer starting at the oldest
	// event finds the end of the stream.
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "late", Start: consumer.StartOldest})
	require.NoError(t, err)
	_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEndOfStream)
	require.NoError(t, c.Close())
	require.NoError(t, segment.Remove(segment.SharedMemory(name)))
}

// TestRing_HeapEventsWithGoPointers carries strings and slices through a heap ring while the
// garbage collector runs: the slots are a Go slice it scans.
func TestRing_HeapEventsWithGoPointers(t *testing.T) {
	type msg struct {
		Text string
		Tags []string
		N    *int
	}
	p, err := producer.Create[msg](segment.Heap(), producer.Options{Capacity: 16})
	require.NoError(t, err)
	c := attach(t, p, consumer.Options{Name: "gc"})
	done := make(chan error, 1)
	go func() {
		var i int
		done <- c.Run(func(m *msg, seq uint64, _ bool) error {
			if m.Text != fmt.Sprint("event ", seq) || len(m.Tags) != 2 || *m.N != int(seq) {
				return fmt.Errorf("event %d corrupt: %+v", seq, m)
			}
			i++
			return nil
		})
	}()
	for i := 0; i < 5000; i++ {
		n := i
		require.NoError(t, p.Publish(func(m *msg) {
			*m = msg{Text: fmt.Sprint("event ", i), Tags: []string{"a", fmt.Sprint(i)}, N: &n}
		}))
		if i%500 == 0 {
			runtime.GC()
		}
	}
	require.NoError(t, p.Close())
	require.NoError(t, <-done)
	require.NoError(t, c.Close())

	_, err = producer.Create[msg](segment.SharedMemory(testseg.Name(t)), producer.Options{})
	require.ErrorIs(t, err, layout.ErrNotRepresented, "pointers never go into shared memory")
}

func TestRing_SlicesAcrossTheWrap(t *testing.T) {
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 8})
	require.NoError(t, err)
	defer p.Close()
	c := attach(t, p, consumer.Options{Name: "slices"})
	defer c.Close()
	var next uint64
	for round := 0; round < 50; round++ {
		n := 1 + round%8
		cl, err := p.Claim(n)
		require.NoError(t, err)
		a, b := cl.Slices()
		require.Equal(t, n, len(a)+len(b))
		for i := range a {
			fill(cl.Seq(i), &a[i])
		}
		for i := range b {
			fill(cl.Seq(len(a)+i), &b[i])
		}
		require.NoError(t, p.PublishClaim(cl))
		calls := 0
		got, err := c.ProcessSlices(func(evs []event, first uint64) error {
			calls++
			for i := range evs {
				if err := check(first+uint64(i), &evs[i]); err != nil {
					return err
				}
			}
			if first != next {
				return fmt.Errorf("run starts at %d, want %d", first, next)
			}
			next += uint64(len(evs))
			return nil
		}, 0)
		require.NoError(t, err)
		require.Equal(t, n, got)
		require.Equal(t, 1+min(1, len(b)), calls, "one call per contiguous run")
	}
}
