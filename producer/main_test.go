package producer_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/segment"
)

// TestMain doubles as the child process of the multi-process tests: with RW_CHILD set, the test
// binary runs that role instead of the tests. A run fails if it leaves a segment behind.
func TestMain(m *testing.M) {
	switch os.Getenv("RW_CHILD") {
	case "read-and-hang":
		os.Exit(childReadAndHang())
	case "":
		os.Exit(testseg.Main(m))
	default:
		fmt.Fprintln(os.Stderr, "unknown RW_CHILD role", os.Getenv("RW_CHILD"))
		os.Exit(2)
	}
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

// childReadAndHang attaches to RW_NAME as the required consumer RW_CONSUMER, reads and checks
// RW_COUNT events, says "read N", and hangs until it is killed: a consumer that died holding the
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
