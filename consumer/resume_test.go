package consumer_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// childResumeConsume is a durable consumer named "durable": it prints where it starts, then the
// first and last sequence of every batch it finished, slowly, until the end of the stream.
func childResumeConsume() int {
	c, err := consumer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), consumer.Options{
		Name: "durable", Start: consumer.StartOldest, Wait: coordination.Sleep(10*time.Microsecond, time.Millisecond),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	fmt.Println("start", c.Cursor(), c.Resumed())
	for {
		var first uint64
		seen := false
		_, err := c.Process(func(e *event, seq uint64, end bool) error {
			if !seen {
				first, seen = seq, true
			}
			if end {
				// Reported before the cursor is stored: a kill after this line redelivers the
				// batch, one before it leaves the batch uncommitted. Either way no hole.
				fmt.Println("got", first, seq, seq-first+1)
			}
			return check(seq, e)
		}, 7)
		if errors.Is(err, consumer.ErrEndOfStream) {
			fmt.Println("done", c.Cursor())
			return 0
		}
		if err != nil {
			fmt.Println("process:", err)
			return 1
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// incarnation is what one run of the durable consumer reported before it was killed or ended.
type incarnation struct {
	started bool // it lived long enough to register and say so
	start   uint64
	resumed bool
	got     [][2]uint64
	done    int64 // cursor at the end of the stream, or -1
}

func readIncarnation(r io.Reader) incarnation {
	in := incarnation{done: -1}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "start":
			in.start, _ = strconv.ParseUint(f[1], 10, 64)
			in.resumed, in.started = f[2] == "true", true
		case len(f) == 4 && f[0] == "got":
			a, _ := strconv.ParseUint(f[1], 10, 64)
			b, _ := strconv.ParseUint(f[2], 10, 64)
			in.got = append(in.got, [2]uint64{a, b})
		case len(f) == 2 && f[0] == "done":
			in.done, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return in
}

// TestConsumer_Kill9_ResumesLosingNothing kills a required consumer process with SIGKILL at
// random moments, over and over, while the producer keeps publishing; each restart with the
// same name resumes after the last cursor the dead one stored. Every event is delivered at least
// once, in order within each run, with no hole anywhere.
func TestConsumer_Kill9_ResumesLosingNothing(t *testing.T) {
	name := testseg.Name(t)
	const total = 40_000
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 64, Keep: true,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond)})
	require.NoError(t, err)
	defer p.Close()
	pubErr := make(chan error, 1)
	go func() {
		// Start only once the first consumer is there, so that nothing predates it.
		if err := p.AwaitConsumers(producer.Await{Consumers: 1, Timeout: 10 * time.Second}); err != nil {
			pubErr <- err
			return
		}
		for i := uint64(0); i < total; i += 10 {
			if err := p.PublishBatch(10, func(j int, e *event) { fill(i+uint64(j), e) }); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- p.Close()
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var runs []incarnation
	for kill := 0; ; kill++ {
		cp := start(t, "resume-consume", "RW_NAME="+name)
		if kill < 12 {
			time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			cp.Kill()
		} else {
			_ = cp.Wait(time.Minute) // its status is judged by what it printed
		}
		in := readIncarnation(strings.NewReader(cp.Output()))
		runs = append(runs, in)
		if in.done >= 0 {
			break
		}
		require.Less(t, kill, 40, "the consumer never reached the end of the stream")
	}
	require.NoError(t, <-pubErr)

	// Check coverage: each run starts no later than one past the last event any earlier run
	// finished, and the last run reaches the end.
	var reached uint64 // events known delivered: every sequence below it was seen
	first := true
	for i, in := range runs {
		if !in.started {
			continue // killed before it registered, or before it could say where it starts
		}
		require.LessOrEqual(t, in.start, reached, "run %d started at %d, a hole after %d", i, in.start, reached)
		if !first {
			require.True(t, in.resumed, "run %d did not resume its predecessor's registration", i)
		}
		first = false
		next := in.start
		for _, g := range in.got {
			require.Equal(t, next, g[0], "run %d: batch starts at %d, expected %d", i, g[0], next)
			next = g[1] + 1
		}
		reached = max(reached, next)
	}
	require.Equal(t, int64(total), runs[len(runs)-1].done)
	require.Equal(t, uint64(total), reached)
	t.Logf("%d runs, %d killed with SIGKILL", len(runs), len(runs)-1)
}
