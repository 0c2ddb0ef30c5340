package consumer_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// childIdleBlocking waits with the blocking strategy for one idle second, reports the CPU time
// that cost, then waits for one event.
func childIdleBlocking() int {
	c, err := consumer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), consumer.Options{
		Name: "idle", Wait: coordination.Blocking(), ReadTimeout: time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var ev event
	_, err = c.Read(&ev)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if !errors.Is(err, consumer.ErrTimeout) {
		fmt.Println("idle wait:", err)
		return 1
	}
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	fmt.Println("cpu", cpu.Microseconds())
	seq, err := c.Read(&ev) // woken by the parent's publish
	if err != nil || seq != 0 || check(0, &ev) != nil {
		fmt.Println("wake:", err)
		return 1
	}
	fmt.Println("woken")
	return 0
}

// TestConsumer_BlockingIdle_CostsAlmostNoCPU: a consumer process blocked for an idle second
// must use almost no CPU, and must wake when an event is published.
func TestConsumer_BlockingIdle_CostsAlmostNoCPU(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	cp := start(t, "idle-blocking", "RW_NAME="+name)
	waitActive(t, p.Segment().View(), 1)
	line, err := cp.AwaitLine("cpu ", 10*time.Second)
	require.NoError(t, err)
	us, err := strconv.Atoi(strings.TrimPrefix(line, "cpu "))
	require.NoError(t, err, cp.Output())
	t.Logf("CPU time over an idle second, blocking strategy: %dµs", us)
	require.Less(t, us, 50_000, "an idle blocking consumer used %dµs of CPU in one second", us)
	require.NoError(t, p.Publish(func(e *event) { fill(0, e) }))
	require.NoError(t, cp.Wait(10*time.Second), cp.Output())
	require.Contains(t, cp.Output(), "woken")
}
