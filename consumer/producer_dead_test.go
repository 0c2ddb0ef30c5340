package consumer_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// childProduceAndHang creates the segment RW_NAME (mode RW_MODE: "single" or "multi"), waits for
// one consumer, publishes RW_COUNT events, claims RW_HOLD more without publishing them (if set),
// says "published", and hangs until it is killed: a producer that dies without closing its
// stream.
func childProduceAndHang() int {
	count, _ := strconv.ParseUint(os.Getenv("RW_COUNT"), 10, 64)
	hold, _ := strconv.Atoi(os.Getenv("RW_HOLD"))
	mode := producer.Single
	if os.Getenv("RW_MODE") == "multi" {
		mode = producer.Multi
	}
	p, err := producer.Create[event](segment.SharedMemory(os.Getenv("RW_NAME")), producer.Options{
		Capacity: 128, Mode: mode, Await: producer.Await{Consumers: 1, Timeout: 10 * time.Second}})
	if err != nil {
		fmt.Println("create:", err)
		return 1
	}
	for i := uint64(0); i < count; i++ {
		if err := p.Publish(func(e *event) { fill(i, e) }); err != nil {
			fmt.Println("publish:", err)
			return 1
		}
	}
	if hold > 0 {
		if _, err := p.Claim(hold); err != nil {
			fmt.Println("claim:", err)
			return 1
		}
	}
	fmt.Println("published")
	time.Sleep(time.Minute)
	return 0
}

// killedProducer starts a producer process on a new segment, attaches a consumer with o, lets the
// producer publish count events and kills it with SIGKILL. It returns the consumer and the pid.
func killedProducer(t *testing.T, mode string, count int, o consumer.Options, env ...string) (*consumer.Consumer[event], int) {
	t.Helper()
	name := shmName(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "RW_CHILD=produce-and-hang", "RW_NAME="+name, "RW_MODE="+mode, fmt.Sprint("RW_COUNT=", count)), env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	o.AttachTimeout = 10 * time.Second
	c, err := consumer.Attach[event](segment.SharedMemory(name), o)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "published\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	return c, cmd.Process.Pid
}

// TestConsumer_Run_ProducerKilled: a consumer whose producer process is killed with SIGKILL reads
// every event it published and then fails with a *ProducerDeadError naming the producer's pid,
// under every waiting strategy, instead of waiting forever (ReadTimeout is only a safety net
// here: reaching it fails the test).
func TestConsumer_Run_ProducerKilled(t *testing.T) {
	const count = 100
	for _, tc := range []struct {
		name string
		mode string
		wait coordination.Strategy
	}{
		{name: "single/yield", mode: "single", wait: coordination.Yield()},
		{name: "single/sleep", mode: "single", wait: coordination.Sleep(time.Microsecond, 10*time.Millisecond)},
		{name: "single/blocking", mode: "single", wait: coordination.Blocking()},
		{name: "multi/blocking", mode: "multi", wait: coordination.Blocking()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, pid := killedProducer(t, tc.mode, count, consumer.Options{Name: "orphan", Wait: tc.wait, ReadTimeout: 20 * time.Second})
			var want uint64
			err := c.Run(func(e *event, seq uint64, _ bool) error {
				if seq != want {
					return fmt.Errorf("sequence %d, want %d", seq, want)
				}
				want++
				return check(seq, e)
			})
			require.ErrorIs(t, err, consumer.ErrProducerDead)
			var de *consumer.ProducerDeadError
			require.ErrorAs(t, err, &de)
			require.Equal(t, uint32(pid), de.PID)
			require.Zero(t, de.Unpublished)
			require.Contains(t, err.Error(), fmt.Sprintf("pid %d", pid))
			require.Equal(t, uint64(count), want, "every published event was delivered first")

			// A later read says the same, not that the wait timed out.
			var ev event
			_, err = c.Read(&ev)
			require.ErrorIs(t, err, consumer.ErrProducerDead)
		})
	}
}

// TestConsumer_Read_MultiStreamDeadOnlyWithoutLiveProducers: in multi mode the stream is dead
// only when its creator is dead and no other producer is alive: while a producer of this process
// is attached, the consumer waits (and gets what it publishes); once it detaches, the consumer
// fails with ErrProducerDead.
func TestConsumer_Read_MultiStreamDeadOnlyWithoutLiveProducers(t *testing.T) {
	c, _ := killedProducer(t, "multi", 3, consumer.Options{Name: "orphan", Wait: coordination.Blocking(),
		ReadTimeout: 300 * time.Millisecond})
	p, err := producer.Attach[event](c.Segment().Backing(), time.Second, producer.Options{})
	require.NoError(t, err)
	var ev event
	for i := uint64(0); i < 3; i++ {
		seq, err := c.Read(&ev)
		require.NoError(t, err)
		require.Equal(t, i, seq)
	}
	_, err = c.Read(&ev)
	require.ErrorIs(t, err, consumer.ErrTimeout, "a live producer is attached: the stream goes on")
	require.NoError(t, p.Publish(func(e *event) { fill(3, e) }))
	seq, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, uint64(3), seq)
	require.NoError(t, check(3, &ev))
	require.NoError(t, p.Close())
	_, err = c.Read(&ev)
	require.True(t, errors.Is(err, consumer.ErrProducerDead), "%v", err)
}

// TestConsumer_Run_ProducerKilledMidClaim: a producer killed with SIGKILL between claim and
// publish. In Single mode the consumer reads what was published, then the *ProducerDeadError
// counts the claimed events that never came; in Multi mode it passes over the dead claim as a
// gap (spec 5.8) without waiting for StallTimeout, then reports the death.
func TestConsumer_Run_ProducerKilledMidClaim(t *testing.T) {
	const count, hold = 10, 4
	for _, tc := range []struct {
		name            string
		mode            string
		wantGap         uint64
		wantUnpublished uint64
	}{
		{name: "single", mode: "single", wantUnpublished: hold},
		{name: "multi", mode: "multi", wantGap: hold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gaps uint64
			c, pid := killedProducer(t, tc.mode, count, consumer.Options{Name: "orphan", Wait: coordination.Blocking(),
				StallTimeout: time.Hour, ReadTimeout: 20 * time.Second, OnLoss: func(err error) {
					var ge *consumer.GapError
					if errors.As(err, &ge) {
						gaps += ge.Count
					}
				}}, fmt.Sprint("RW_HOLD=", hold))
			var got uint64
			err := c.Run(func(e *event, seq uint64, _ bool) error {
				got++
				return check(seq, e)
			})
			var de *consumer.ProducerDeadError
			require.ErrorAs(t, err, &de)
			require.Equal(t, uint32(pid), de.PID)
			require.Equal(t, uint64(count), got)
			require.Equal(t, tc.wantGap, gaps)
			require.Equal(t, tc.wantUnpublished, de.Unpublished)
			if tc.wantUnpublished > 0 {
				require.Contains(t, err.Error(), fmt.Sprintf("%d claimed were never published", tc.wantUnpublished))
			}
		})
	}
}
