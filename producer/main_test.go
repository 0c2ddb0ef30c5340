package producer_test

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
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestMain doubles as the child process of the multi-process tests (internal/child): started in
// a role, the test binary plays it instead of running the tests. A run fails if it leaves a
// segment behind.
func TestMain(m *testing.M) {
	child.Register("read-and-hang", func([]string) int { return childReadAndHang() })
	child.Dispatch()
	os.Exit(testseg.Main(m))
}

// start is testseg.Start: this test binary as a child in role, killed when the test ends.
var start = testseg.Start

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

// shmName is testseg.Name: a fresh segment name removed when t ends, pass or fail (a child
// killed with SIGKILL leaves its segments to us).
var shmName = testseg.Name

// event is the 64-byte test event (testseg.Event); fill writes it and check verifies it.
type event = testseg.Event

var (
	fill  = testseg.Fill
	check = testseg.Check
)

// childReadAndHang attaches to RW_NAME as the required consumer RW_CONSUMER, says "attached",
// reads and checks RW_COUNT events, says "read N", and hangs until it is killed: a consumer that died holding the
// producer back.
func childReadAndHang() int {
	count, _ := strconv.Atoi(os.Getenv("RW_COUNT"))
	c, err := consumer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), consumer.Options{
		Name: os.Getenv("RW_CONSUMER"), Wait: coordination.Sleep(time.Microsecond, time.Millisecond),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	fmt.Println("attached")
	var ev event
	for i := 0; i < count; i++ {
		seq, err := c.Read(&ev)
		if err == nil {
			err = check(seq, &ev)
		}
		if err != nil {
			fmt.Println("read:", err)
			return 1
		}
	}
	fmt.Println("read", count)
	time.Sleep(time.Minute)
	return 0
}
