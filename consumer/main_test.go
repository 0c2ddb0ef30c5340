package consumer_test

import (
	"fmt"
	"os"
	"strconv"
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

// TestMain doubles as the child process of the multi-process tests (internal/child): started in
// a role, the test binary plays it instead of running the tests. Each role reads its parameters
// from RW_* environment variables, documented on its function. A run fails if it leaves a segment
// behind.
func TestMain(m *testing.M) {
	for name, role := range map[string]func() int{
		"consume":             childConsume,
		"claim-and-hang":      childClaimAndHang,
		"mp-produce":          childMultiProduce,
		"stage":               childStage,
		"idle-blocking":       childIdleBlocking,
		"resume-consume":      childResumeConsume,
		"mp-forever":          childProduceForever,
		"produce-and-hang":    childProduceAndHang,
		"restarting-producer": childRestartingProducer,
		"framed-resume":       childFramedResume,
	} {
		child.Register(name, func([]string) int { return role() })
	}
	child.Dispatch()
	os.Exit(testseg.Main(m))
}

// start is testseg.Start: this test binary as a child in role, killed when the test ends.
var start = testseg.Start

// shmName is testseg.Name: a fresh segment name removed when t ends, pass or fail (a child
// killed with SIGKILL leaves its segments to us).
var shmName = testseg.Name

// event is the 64-byte test event (testseg.Event); fill writes it and check verifies it.
type event = testseg.Event

var (
	fill  = testseg.Fill
	check = testseg.Check
)

// childConsume attaches to RW_NAME as RW_CONSUMER, reads RW_COUNT events in batches checking
// each, and prints "ok N" or the first problem. Exit 0 only if every event arrived in order.
func childConsume() int {
	name, cname := os.Getenv("RW_NAME"), os.Getenv("RW_CONSUMER")
	count, _ := strconv.ParseUint(os.Getenv("RW_COUNT"), 10, 64)
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{
		Name: cname, Start: consumer.StartOldest, Wait: coordination.Yield(),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	var want uint64
	err = c.Run(func(e *event, seq uint64, _ bool) error {
		if seq != want {
			return fmt.Errorf("got sequence %d, want %d", seq, want)
		}
		want++
		return check(seq, e)
	})
	if err != nil {
		fmt.Println("run:", err)
		return 1
	}
	if want != count {
		fmt.Printf("received %d of %d\n", want, count)
		return 1
	}
	fmt.Println("ok", want)
	return 0
}

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
