package producer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
		code := testseg.Main(m)
		if left, _ := filepath.Glob("/dev/shm" + shmPrefix() + "*"); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left shared-memory segments behind: %s\n", strings.Join(left, " "))
			for _, f := range left {
				os.Remove(f)
			}
			code = max(code, 1)
		}
		os.Exit(code)
	default:
		fmt.Fprintln(os.Stderr, "unknown RW_CHILD role", os.Getenv("RW_CHILD"))
		os.Exit(2)
	}
}

var shmCount atomic.Uint64

func shmPrefix() string { return fmt.Sprintf("/rwimpl-%d-", os.Getpid()) }

// shmName returns a fresh segment name of this process and removes the segment when t ends,
// pass or fail (a child killed with SIGKILL leaves its segments to us).
func shmName(t testing.TB) string {
	name := fmt.Sprintf("%s%d", shmPrefix(), shmCount.Add(1))
	t.Cleanup(func() { os.Remove("/dev/shm" + name) })
	return name
}

// event is 64 bytes: a sequence, a value derived from it, and a payload the checker recomputes.
type event struct {
	Seq     uint64
	Square  uint64
	Payload [48]byte
}

func fill(seq uint64, e *event) {
	e.Seq = seq
	e.Square = seq * seq
	for i := range e.Payload {
		e.Payload[i] = byte(seq) + byte(i)
	}
}

func check(seq uint64, e *event) error {
	if e.Seq != seq || e.Square != seq*seq {
		return fmt.Errorf("event %d holds seq %d", seq, e.Seq)
	}
	for i := range e.Payload {
		if e.Payload[i] != byte(seq)+byte(i) {
			return fmt.Errorf("event %d: payload byte %d corrupt", seq, i)
		}
	}
	return nil
}

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
