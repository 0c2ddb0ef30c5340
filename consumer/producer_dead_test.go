package consumer_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
	"github.com/ringwire/ringwire/liveness"
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
	cp := start(t, "produce-and-hang", append(env, "RW_NAME="+name, "RW_MODE="+mode, fmt.Sprint("RW_COUNT=", count))...)
	o.AttachTimeout = 10 * time.Second
	c, err := consumer.Attach[event](segment.SharedMemory(name), o)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	line, err := cp.AwaitLine("published", 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, "published", line)
	cp.Kill()
	return c, cp.Pid()
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

	cp := start(t, "claim-and-hang", "RW_NAME="+name, "RW_COUNT=5")
	line, err := cp.AwaitLine("claimed", 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, "claimed", line)
	cp.Kill()

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

// childClaimAndHang joins the multi-producer ring RW_NAME, publishes one event, claims RW_COUNT
// more without publishing them, says "claimed", and hangs until it is killed: a producer that
// dies between claim and publish.
func childClaimAndHang() int {
	count, _ := strconv.Atoi(os.Getenv("RW_COUNT"))
	p, err := producer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), 5*time.Second, producer.Options{})
	if err == nil {
		err = p.Publish(func(e *event) { fill(0, e) })
	}
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	if _, err := p.Claim(count); err != nil {
		fmt.Println("claim:", err)
		return 1
	}
	fmt.Println("claimed")
	time.Sleep(time.Minute)
	return 0
}

// childProduceForever joins the Multi ring RW_NAME and publishes events tagged RW_TAG, numbered
// from 0, in claims of 1 to 8, some of them slow to fill, until it is killed.
func childProduceForever() int {
	tag, _ := strconv.ParseUint(os.Getenv("RW_TAG"), 10, 64)
	p, err := producer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), 5*time.Second,
		producer.Options{Wait: coordination.Sleep(time.Microsecond, time.Millisecond)})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	fmt.Println("attached")
	rng := rand.New(rand.NewPCG(tag, 2))
	for k := uint64(0); ; {
		n := 1 + rng.IntN(8)
		cl, err := p.Claim(n)
		if err != nil {
			fmt.Println("claim:", err)
			return 1
		}
		for i := 0; i < n; i++ {
			e := cl.At(i)
			e.Seq, e.Square = tag, k+uint64(i)
		}
		if rng.IntN(4) == 0 {
			time.Sleep(100 * time.Microsecond) // slow fills: a kill often lands mid-claim
		}
		if err := p.PublishClaim(cl); err != nil {
			return 1
		}
		k += uint64(n)
	}
}

// TestConsumer_ProducersKilledAtRandom_RingNeverWedges kills multi-mode producer processes with
// SIGKILL at random moments while a required consumer reads. The ring never wedges: claims of
// dead producers are passed over as counted gaps, every event arrives at most once and each
// producer's events in order.
func TestConsumer_ProducersKilledAtRandom_RingNeverWedges(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 64, Mode: producer.Multi, Producers: 6})
	require.NoError(t, err)
	defer p.Close()
	c, err := consumer.Register[event](p.Segment(), consumer.Options{Name: "watcher", StallTimeout: 20 * time.Millisecond,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond), ReadTimeout: 50 * time.Millisecond})
	require.NoError(t, err)

	type result struct {
		events, gaps uint64
		perTag       map[uint64]uint64
		err          error
	}
	stop := make(chan struct{})
	res := make(chan result, 1)
	go func() {
		r := result{perTag: map[uint64]uint64{}}
		last := map[uint64]int64{}
		for {
			select {
			case <-stop:
				res <- r
				return
			default:
			}
			handler := func(e *event, _ uint64, _ bool) error {
				if prev, ok := last[e.Seq]; ok && int64(e.Square) <= prev {
					return fmt.Errorf("producer %d: event %d after %d", e.Seq, e.Square, prev)
				}
				last[e.Seq] = int64(e.Square)
				r.perTag[e.Seq]++
				return nil
			}
			n, err := c.Poll(handler, 0)
			var gap *consumer.GapError
			switch {
			case errors.As(err, &gap):
				r.gaps += gap.Count
			case err != nil:
				r.err = err
				res <- r
				return
			case n == 0:
				// Nothing published: wait (a stuck claim gets passed over meanwhile); the wait
				// times out when the producers are gone, so that stop is seen.
				n, err = c.Process(handler, 1)
				if errors.As(err, &gap) {
					r.gaps += gap.Count
				} else if err != nil && !errors.Is(err, consumer.ErrTimeout) {
					r.err = err
					res <- r
					return
				}
			}
			r.events += uint64(n)
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var live []*child.Process
	startProducer := func(tag int) {
		cp := start(t, "mp-forever", "RW_NAME="+name, fmt.Sprint("RW_TAG=", tag))
		line, err := cp.AwaitLine("attached", 20*time.Second)
		require.NoError(t, err)
		require.Equal(t, "attached", line)
		live = append(live, cp)
	}
	startProducer(1)
	startProducer(2)
	progress := uint64(0)
	for tag := 3; tag < 3+15; tag++ {
		time.Sleep(time.Duration(2+rng.IntN(15)) * time.Millisecond)
		victim := live[0]
		live = live[1:]
		victim.Kill()
		startProducer(tag)
		// The ring keeps moving after every kill.
		require.Eventually(t, func() bool {
			return p.Published() > progress+100
		}, 10*time.Second, time.Millisecond, "no progress after kill %d", tag-2)
		progress = p.Published()
	}
	for _, cp := range live {
		cp.Kill()
	}
	live = nil
	// Drain: everything claimed is published or passed over (Published counts both, up to the
	// first sequence that is neither).
	v := p.Segment().View()
	claimed := v.Cursors().Claimed.Load() & layout.CountMask
	cursor := &v.Entry(c.Index()).Cursor
	require.Eventually(t, func() bool { return cursor.Load() >= claimed }, 10*time.Second, time.Millisecond)
	close(stop)
	r := <-res
	require.NoError(t, r.err)
	require.Equal(t, v.Header().Gaps.Load(), r.gaps, "gaps reported equal gaps counted in the header")
	require.Equal(t, r.gaps, v.Entry(c.Index()).GapsSeen.Load())
	require.Equal(t, claimed, r.events+r.gaps, "every claimed sequence was delivered or passed over")
	require.Equal(t, claimed, p.Published())
	t.Logf("%d events from %d producers, %d sequences passed over after 15 kills", r.events, len(r.perTag), r.gaps)
	require.NoError(t, c.Close())
}
