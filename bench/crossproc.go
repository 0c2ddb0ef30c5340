package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/naming"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// ChildEnv names the environment variable that turns a binary using this package into the
// consumer process of CrossProcessSPSC. Call MaybeChild first thing in main or TestMain.
const ChildEnv = "RINGWIRE_BENCH_CHILD"

// MaybeChild runs the consumer role and exits if this process was started as one.
func MaybeChild() {
	spec := os.Getenv(ChildEnv)
	if spec == "" {
		return
	}
	name, countStr, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(countStr)
	defer Pin(1)()
	c, err := consumer.Attach[Event64](segment.SharedMemory(name), consumer.Options{
		Name: "bench", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second,
	})
	if err == nil {
		err = Drain(c, n)
		c.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench consumer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// CrossProcessSPSC moves n events from this process to a consumer process (this binary
// re-executed, pinned to CPU 1) over POSIX shared memory, and returns the time from the first
// publish to the consumer's exit.
func CrossProcessSPSC(n, capacity, batch int) (time.Duration, error) {
	name := naming.Portable(fmt.Sprintf("rw-bench-%d-%d", os.Getpid(), time.Now().UnixNano()))
	p, err := producer.New[Event64](segment.SharedMemory(name), producer.Options{Capacity: uint64(capacity), Wait: coordination.BusySpin()})
	if err != nil {
		return 0, err
	}
	defer p.Close()
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", ChildEnv, name, n))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Process.Kill()
	v := p.Segment().View()
	deadline := time.Now().Add(10 * time.Second)
	for v.Entry(0).State.Load() != layout.EntryActive {
		if time.Now().After(deadline) {
			return 0, errors.New("bench consumer did not attach")
		}
		time.Sleep(time.Millisecond)
	}
	unpin := Pin(0)
	start := time.Now()
	perr := Produce(p, n, batch)
	p.Close()
	werr := cmd.Wait()
	d := time.Since(start)
	unpin()
	if perr != nil {
		return 0, perr
	}
	if werr != nil {
		return 0, fmt.Errorf("bench consumer: %w", werr)
	}
	return d, nil
}
