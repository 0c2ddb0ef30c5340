package producer_test

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// startChild runs this test binary in a role and returns it with its first line of output.
func startChild(t *testing.T, role string, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "RW_CHILD="+role), env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

// TestProducer_Publish_FailLeavesDeadConsumersEventsUnread: under the Fail liveness action, a
// Single producer held back by a consumer killed with SIGKILL returns the *liveness.StalledError
// without publishing. It used to publish one event over the dead consumer's oldest unread one
// first, so that the consumer restarted under the same name read a wrong event.
func TestProducer_Publish_FailLeavesDeadConsumersEventsUnread(t *testing.T) {
	const capacity, read = 8, 3
	name := shmName(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: capacity,
		Wait:     coordination.Sleep(time.Microsecond, time.Millisecond),
		Liveness: liveness.Policy{Action: liveness.Fail, CheckInterval: time.Millisecond}})
	require.NoError(t, err)
	defer p.Close()
	cmd, out := startChild(t, "read-and-hang", "RW_NAME="+name, "RW_CONSUMER=durable", "RW_COUNT=3")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "attached\n", line)

	var seq uint64
	for ; seq < read; seq++ {
		require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	}
	line, err = out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "read 3\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	// The dead consumer's cursor is 3: room for sequences up to 3+capacity-1.
	for ; seq < read+capacity; seq++ {
		require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	}
	for try := 0; try < 3; try++ {
		err = p.Publish(func(e *event) { fill(seq, e) })
		var se *liveness.StalledError
		require.ErrorAs(t, err, &se)
		require.True(t, se.Laggard.Dead)
		require.Equal(t, "durable", se.Laggard.Name)
		require.Equal(t, uint64(read+capacity), p.Published(), "nothing published over the unread events")
	}

	// A consumer restarted under the dead one's name resumes at its cursor and reads exactly the
	// events it had not read; then the producer goes on.
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "durable"})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Resumed())
	want := uint64(read)
	n, err := c.Poll(func(e *event, s uint64, _ bool) error {
		require.Equal(t, want, s)
		want++
		return check(s, e)
	}, 0)
	require.NoError(t, err)
	require.Equal(t, capacity, n)
	require.NoError(t, p.Publish(func(e *event) { fill(seq, e) }))
	var ev event
	got, err := c.Read(&ev)
	require.NoError(t, err)
	require.Equal(t, seq, got)
	require.NoError(t, check(seq, &ev))
}
