package consumer_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
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

// childMultiProduce joins the Multi ring RW_NAME with RW_G goroutines, each with its own
// Producer, each publishing RW_COUNT events tagged (process RW_PROC, goroutine, i).
func childMultiProduce() int {
	name := os.Getenv("RW_NAME")
	proc, _ := strconv.Atoi(os.Getenv("RW_PROC"))
	gs, _ := strconv.Atoi(os.Getenv("RW_G"))
	count, _ := strconv.Atoi(os.Getenv("RW_COUNT"))
	var wg sync.WaitGroup
	errs := make(chan error, gs)
	for g := 0; g < gs; g++ {
		p, err := producer.Attach[event](segment.SharedMemory(name), 5*time.Second, producer.Options{Wait: coordination.Yield()})
		if err != nil {
			fmt.Println("attach:", err)
			return 1
		}
		wg.Add(1)
		go func(tag uint64) {
			defer wg.Done()
			defer p.Close()
			for i := 0; i < count; i += 7 {
				n := min(7, count-i)
				if err := p.PublishBatch(n, func(j int, e *event) { e.Seq, e.Square = tag, uint64(i+j) }); err != nil {
					errs <- err
					return
				}
			}
		}(uint64(proc<<8 | g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("publish:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

// TestRing_MPMC_TwoProducerProcesses: two producer processes with three goroutines each publish
// into one Multi ring; two consumers each get every event once, each producer's order kept.
func TestRing_MPMC_TwoProducerProcesses(t *testing.T) {
	name := testseg.Name(t)
	const procs, gs, count = 2, 3, 20_000
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 128, Mode: producer.Multi})
	require.NoError(t, err)
	defer p.Close()
	var cs []*consumer.Consumer[event]
	for i := 0; i < 2; i++ {
		c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: fmt.Sprint("c", i), Wait: coordination.Yield(), ReadTimeout: 20 * time.Second})
		require.NoError(t, err)
		cs = append(cs, c)
	}
	results := make(chan error, len(cs))
	for _, c := range cs {
		go func(c *consumer.Consumer[event]) {
			next := map[uint64]uint64{}
			total := 0
			var err error
			for total < procs*gs*count && err == nil {
				var n int
				n, err = c.Process(func(e *event, _ uint64, _ bool) error {
					if e.Square != next[e.Seq] {
						return fmt.Errorf("producer %#x: got %d, want %d", e.Seq, e.Square, next[e.Seq])
					}
					next[e.Seq]++
					return nil
				}, 0)
				total += n
			}
			if err == nil && len(next) != procs*gs {
				err = fmt.Errorf("heard from %d producers, want %d", len(next), procs*gs)
			}
			results <- errors.Join(err, c.Close())
		}(c)
	}
	var cps []*child.Process
	for i := 0; i < procs; i++ {
		cps = append(cps, start(t, "mp-produce", "RW_NAME="+name, fmt.Sprint("RW_PROC=", i), fmt.Sprint("RW_G=", gs), fmt.Sprint("RW_COUNT=", count)))
	}
	for _, cp := range cps {
		require.NoError(t, cp.Wait(time.Minute), cp.Output())
	}
	for range cs {
		require.NoError(t, <-results)
	}
	require.Equal(t, uint64(procs*gs*count), p.Published())
}

// childStage attaches to RW_NAME as consumer RW_CONSUMER reading behind RW_AFTER (comma
// separated) and checks, for every event, that each stage it reads behind has finished it.
func childStage() int {
	name, cname := os.Getenv("RW_NAME"), os.Getenv("RW_CONSUMER")
	var after []string
	if a := os.Getenv("RW_AFTER"); a != "" {
		after = strings.Split(a, ",")
	}
	count, _ := strconv.ParseUint(os.Getenv("RW_COUNT"), 10, 64)
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{
		Name: cname, After: after, Wait: coordination.Blocking(), AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	v := c.Segment().View()
	var ups []*layout.Entry
	for i := 0; i < v.Entries(); i++ {
		e := v.Entry(i)
		for _, a := range after {
			if e.Is(layout.EntryActive) && e.NameString() == a {
				ups = append(ups, e)
			}
		}
	}
	fmt.Println("ready")
	var want uint64
	err = c.Run(func(e *event, seq uint64, _ bool) error {
		if seq != want {
			return fmt.Errorf("got %d, want %d", seq, want)
		}
		for _, u := range ups {
			if u.Cursor.Load() <= seq {
				return fmt.Errorf("%s saw %d before %s finished it", cname, seq, u.NameString())
			}
		}
		want++
		return check(seq, e)
	})
	if err == nil && want != count {
		err = fmt.Errorf("received %d of %d", want, count)
	}
	if err != nil {
		fmt.Println("stage:", err)
		return 1
	}
	fmt.Println("ok", want)
	return 0
}

// TestRing_StagesAcrossProcesses runs a pipeline (a then b then c) and a diamond (a and b, then
// c), each stage in its own process, gated through the registry's depends_on.
func TestRing_StagesAcrossProcesses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stages [][2]string // name, after
	}{
		{"pipeline", [][2]string{{"a", ""}, {"b", "a"}, {"c", "b"}}},
		{"diamond", [][2]string{{"a", ""}, {"b", ""}, {"c", "a,b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := testseg.Name(t)
			const total = 30_000
			p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 64, Wait: coordination.Blocking()})
			require.NoError(t, err)
			defer p.Close()
			var cps []*child.Process
			for i, s := range tc.stages {
				cps = append(cps, start(t, "stage", "RW_NAME="+name, "RW_CONSUMER="+s[0], "RW_AFTER="+s[1], fmt.Sprint("RW_COUNT=", total)))
				waitActive(t, p.Segment().View(), i+1) // a stage registers after those it reads behind
			}
			for i := uint64(0); i < total; i += 10 {
				require.NoError(t, p.PublishBatch(10, func(j int, e *event) { fill(i+uint64(j), e) }))
			}
			require.NoError(t, p.Close())
			for _, cp := range cps {
				require.NoError(t, cp.Wait(time.Minute), cp.Output())
				require.Equal(t, fmt.Sprintf("ready\nok %d\n", total), cp.Output())
			}
		})
	}
}
