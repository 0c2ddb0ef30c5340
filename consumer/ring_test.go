package consumer_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

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
	var cps []*child.Process
	for i := 0; i < 3; i++ {
		cps = append(cps, start(t, "consume", "RW_NAME="+name,
			fmt.Sprintf("RW_CONSUMER=c%d", i), fmt.Sprintf("RW_COUNT=%d", total)))
	}
	waitActive(t, p.Segment().View(), 3)
	for i := uint64(0); i < total; i += 100 {
		require.NoError(t, p.PublishBatch(100, func(j int, e *event) { fill(i+uint64(j), e) }))
	}
	require.NoError(t, p.Close())
	for i, cp := range cps {
		require.NoError(t, cp.Wait(time.Minute), "consumer %d: %s", i, cp.Output())
		require.Equal(t, fmt.Sprintf("ok %d\n", total), cp.Output())
	}
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
