package consumer_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestConsumer_DeadProducerClaimBecomesGap kills (SIGKILL) a producer process that claimed
// sequences without publishing them. The consumer must not wait forever: it passes over the dead
// claim as a counted gap, reports it with its sequences, and goes on with later events.
func TestConsumer_DeadProducerClaimBecomesGap(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 64, Mode: producer.Multi})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "survivor", StallTimeout: 50 * time.Millisecond,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond), ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer c.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RW_CHILD=claim-and-hang", "RW_NAME="+name, "RW_COUNT=5")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "claimed\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	// The survivor publishes after the dead claim (sequences 6 and 7).
	require.NoError(t, p.PublishBatch(2, func(i int, e *event) { fill(uint64(100+i), e) }))

	var seen []uint64
	handler := func(e *event, seq uint64, _ bool) error {
		seen = append(seen, seq)
		return nil
	}
	_, err = c.Process(handler, 0) // sequence 0, from the child before it claimed
	require.NoError(t, err)
	_, err = c.Process(handler, 0)
	var gap *consumer.GapError
	require.ErrorAs(t, err, &gap)
	require.Equal(t, consumer.GapError{Seq: 1, Count: 5}, *gap)
	_, err = c.Process(handler, 0)
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 6, 7}, seen)

	v := p.Segment().View()
	require.Equal(t, uint64(5), v.Header().Gaps.Load())
	require.Equal(t, uint64(5), v.Entry(c.Index()).GapsSeen.Load())
	// Spec 5.8: the dead producer's entry stays active (its intent is what let the consumer pass
	// its claim over) until an attaching producer finds it resolved and retires it.
	require.Equal(t, layout.ProducerActive, v.Producer(1).Load().State())
	require.True(t, liveness.ProducerDead(v.Producer(1)))
	require.True(t, liveness.Resolved(v, v.Producer(1)))
}

func TestProducer_PanicInFillPoisonsRing(t *testing.T) {
	for _, mode := range []producer.Mode{producer.Single, producer.Multi} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16, Mode: mode})
			require.NoError(t, err)
			c := attach(t, p, consumer.Options{Name: "victim"})
			require.NoError(t, p.PublishBatch(3, func(i int, e *event) { fill(uint64(i), e) }))
			require.Panics(t, func() {
				_ = p.PublishBatch(2, func(i int, e *event) {
					if i == 1 {
						panic("disk on fire")
					}
				})
			})
			n, err := c.Process(func(*event, uint64, bool) error { return nil }, 0)
			require.NoError(t, err)
			require.Equal(t, 3, n, "events before the failure are delivered")
			_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
			var pe *layout.PoisonedError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, layout.PhasePublish, pe.Record.Phase)
			require.Equal(t, uint64(3), pe.Record.Seq)
			require.Equal(t, "disk on fire", pe.Record.Message)
			require.ErrorIs(t, p.Publish(func(*event) {}), producer.ErrPoisoned)
			require.NoError(t, c.Close())
			p.Close()
		})
	}
}

// Publish and TryPublish (one event, their own deferred recovery) poison with the panic's text.
func TestProducer_PanicInSingleFillPoisonsRing(t *testing.T) {
	publishers := map[string]func(*producer.Producer[event], func(*event)) error{
		"Publish":    (*producer.Producer[event]).Publish,
		"TryPublish": (*producer.Producer[event]).TryPublish,
	}
	for name, publish := range publishers {
		t.Run(name, func(t *testing.T) {
			p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 16})
			require.NoError(t, err)
			defer p.Close()
			c := attach(t, p, consumer.Options{Name: "victim"})
			defer c.Close()
			require.NoError(t, publish(p, func(e *event) { fill(0, e) }))
			require.PanicsWithValue(t, "producer: fill panicked at sequence 1; ring poisoned", func() {
				_ = publish(p, func(*event) { panic("out of paper") })
			})
			n, err := c.Process(func(*event, uint64, bool) error { return nil }, 0)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			_, err = c.Process(func(*event, uint64, bool) error { return nil }, 0)
			var pe *layout.PoisonedError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, uint64(1), pe.Record.Seq)
			require.Equal(t, "out of paper", pe.Record.Message)
		})
	}
}
