package consumer_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// childResumeConsume is a durable consumer named "durable": it prints where it starts, then the
// first and last sequence of every batch it finished, slowly, until the end of the stream.
func childResumeConsume() int {
	c, err := consumer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), consumer.Options{
		Name: "durable", Start: consumer.StartOldest, Wait: coordination.Sleep(10*time.Microsecond, time.Millisecond),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	fmt.Println("start", c.Cursor(), c.Resumed())
	for {
		var first uint64
		seen := false
		_, err := c.Process(func(e *event, seq uint64, end bool) error {
			if !seen {
				first, seen = seq, true
			}
			if end {
				// Reported before the cursor is stored: a kill after this line redelivers the
				// batch, one before it leaves the batch uncommitted. Either way no hole.
				fmt.Println("got", first, seq, seq-first+1)
			}
			return check(seq, e)
		}, 7)
		if errors.Is(err, consumer.ErrEndOfStream) {
			fmt.Println("done", c.Cursor())
			return 0
		}
		if err != nil {
			fmt.Println("process:", err)
			return 1
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// incarnation is what one run of the durable consumer reported before it was killed or ended.
type incarnation struct {
	started bool // it lived long enough to register and say so
	start   uint64
	resumed bool
	got     [][2]uint64
	done    int64 // cursor at the end of the stream, or -1
}

func readIncarnation(r io.Reader) incarnation {
	in := incarnation{done: -1}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "start":
			in.start, _ = strconv.ParseUint(f[1], 10, 64)
			in.resumed, in.started = f[2] == "true", true
		case len(f) == 4 && f[0] == "got":
			a, _ := strconv.ParseUint(f[1], 10, 64)
			b, _ := strconv.ParseUint(f[2], 10, 64)
			in.got = append(in.got, [2]uint64{a, b})
		case len(f) == 2 && f[0] == "done":
			in.done, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return in
}

// TestCrash_ConsumerKill9ResumesLosingNothing kills a required consumer process with SIGKILL at
// random moments, over and over, while the producer keeps publishing; each restart with the
// same name resumes after the last cursor the dead one stored. Every event is delivered at least
// once, in order within each run, with no hole anywhere.
func TestCrash_ConsumerKill9ResumesLosingNothing(t *testing.T) {
	name := testseg.Name(t)
	const total = 40_000
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 64, Keep: true,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond)})
	require.NoError(t, err)
	defer p.Close()
	pubErr := make(chan error, 1)
	go func() {
		// Start only once the first consumer is there, so that nothing predates it.
		if err := p.AwaitConsumers(producer.Await{Consumers: 1, Timeout: 10 * time.Second}); err != nil {
			pubErr <- err
			return
		}
		for i := uint64(0); i < total; i += 10 {
			if err := p.PublishBatch(10, func(j int, e *event) { fill(i+uint64(j), e) }); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- p.Close()
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var runs []incarnation
	for kill := 0; ; kill++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RW_CHILD=resume-consume", "RW_NAME="+name)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		got := make(chan incarnation, 1)
		go func() { got <- readIncarnation(out) }()
		if kill < 12 {
			time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
		}
		in := <-got // read to the end first: Wait closes the pipe and would drop unread output
		cmd.Wait()
		runs = append(runs, in)
		if in.done >= 0 {
			break
		}
		require.Less(t, kill, 40, "the consumer never reached the end of the stream")
	}
	require.NoError(t, <-pubErr)

	// Check coverage: each run starts no later than one past the last event any earlier run
	// finished, and the last run reaches the end.
	var reached uint64 // events known delivered: every sequence below it was seen
	first := true
	for i, in := range runs {
		if !in.started {
			continue // killed before it registered, or before it could say where it starts
		}
		require.LessOrEqual(t, in.start, reached, "run %d started at %d, a hole after %d", i, in.start, reached)
		if !first {
			require.True(t, in.resumed, "run %d did not resume its predecessor's registration", i)
		}
		first = false
		next := in.start
		for _, g := range in.got {
			require.Equal(t, next, g[0], "run %d: batch starts at %d, expected %d", i, g[0], next)
			next = g[1] + 1
		}
		reached = max(reached, next)
	}
	require.Equal(t, int64(total), runs[len(runs)-1].done)
	require.Equal(t, uint64(total), reached)
	t.Logf("%d runs, %d killed with SIGKILL", len(runs), len(runs)-1)
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

// TestCrash_ProducersKilledAtRandom_RingNeverWedges kills multi-mode producer processes with
// SIGKILL at random moments while a required consumer reads. The ring never wedges: claims of
// dead producers are passed over as counted gaps, every event arrives at most once and each
// producer's events in order.
func TestCrash_ProducersKilledAtRandom_RingNeverWedges(t *testing.T) {
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
	var mu sync.Mutex
	var live []*exec.Cmd
	start := func(tag int) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RW_CHILD=mp-forever", "RW_NAME="+name, fmt.Sprint("RW_TAG=", tag))
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, _ := bufio.NewReader(out).ReadString('\n')
		require.Equal(t, "attached\n", line)
		mu.Lock()
		live = append(live, cmd)
		mu.Unlock()
	}
	t.Cleanup(func() {
		for _, cmd := range live {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	start(1)
	start(2)
	progress := uint64(0)
	for tag := 3; tag < 3+15; tag++ {
		time.Sleep(time.Duration(2+rng.IntN(15)) * time.Millisecond)
		victim := live[0]
		live = live[1:]
		victim.Process.Signal(syscall.SIGKILL)
		victim.Wait()
		start(tag)
		// The ring keeps moving after every kill.
		require.Eventually(t, func() bool {
			return p.Published() > progress+100
		}, 10*time.Second, time.Millisecond, "no progress after kill %d", tag-2)
		progress = p.Published()
	}
	for _, cmd := range live {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
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

// TestLiveness_DeadConsumer: a required consumer killed with SIGKILL holds the producer back
// until the liveness policy acts: Fail names it, Evict removes it; a restart under the same name
// is told exactly how many events it lost.
func TestLiveness_DeadConsumer(t *testing.T) {
	for _, action := range []liveness.Action{liveness.Fail, liveness.Evict} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			name := testseg.Name(t)
			p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Capacity: 8, Keep: true,
				Wait:     coordination.Sleep(time.Microsecond, time.Millisecond),
				Liveness: liveness.Policy{Action: action, CheckInterval: 5 * time.Millisecond}})
			require.NoError(t, err)
			defer p.Close()
			cmd, _ := child(t, "resume-consume", "RW_NAME="+name)
			waitActive(t, p.Segment().View(), 1)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			cmd.Wait()

			var err2 error
			for i := uint64(0); i < 30 && err2 == nil; i++ {
				err2 = p.Publish(func(e *event) { fill(i, e) })
			}
			if action == liveness.Fail {
				var se *liveness.StalledError
				require.ErrorAs(t, err2, &se)
				require.True(t, se.Laggard.Dead)
				require.Equal(t, "durable", se.Laggard.Name)
				require.Equal(t, uint32(cmd.Process.Pid), se.Laggard.PID)
				require.Contains(t, err2.Error(), `"durable"`)
				return
			}
			require.NoError(t, err2, "the dead consumer was evicted and no longer holds the producer")
			require.Equal(t, layout.EntryEvicted, p.Segment().View().Entry(0).Load().State())
			require.Zero(t, p.Segment().View().Entry(0).Owner.Load(), "the evictor clears the owner word (spec 5.7)")
			c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "durable"})
			require.NoError(t, err)
			defer c.Close()
			require.True(t, c.Resumed())
			_, err = c.Poll(func(*event, uint64, bool) error { return nil }, 0)
			var le *consumer.LappedError
			require.ErrorAs(t, err, &le)
			require.Equal(t, uint64(30), le.Lost, "every event published while it was evicted is reported lost")
		})
	}
}

// TestLiveness_StalledConsumerEvictedByDecision: a live consumer that stops reading is stalled
// once its cursor and heartbeat are older than the timeout; Decide evicts it, and the evicted
// consumer is told so when it next reads.
func TestLiveness_StalledConsumerEvictedByDecision(t *testing.T) {
	var decided []liveness.Laggard
	p, err := producer.Create[event](segment.Heap(), producer.Options{Capacity: 4,
		Wait: coordination.Sleep(time.Microsecond, time.Millisecond),
		Liveness: liveness.Policy{StallTimeout: 30 * time.Millisecond, CheckInterval: 5 * time.Millisecond,
			Decide: func(l liveness.Laggard) liveness.Action {
				decided = append(decided, l)
				return liveness.Evict
			}}})
	require.NoError(t, err)
	defer p.Close()
	slow := attach(t, p, consumer.Options{Name: "slow"})
	for i := uint64(0); i < 10; i++ {
		require.NoError(t, p.Publish(func(e *event) { fill(i, e) }))
	}
	require.Len(t, decided, 1)
	require.False(t, decided[0].Dead)
	require.Equal(t, "slow", decided[0].Name)
	require.GreaterOrEqual(t, decided[0].Still, 30*time.Millisecond)
	_, err = slow.Poll(func(*event, uint64, bool) error { return nil }, 0)
	require.ErrorIs(t, err, consumer.ErrEvicted)
}

// TestConsumer_ReplacedSegment: a producer restarting over the segment (a new incarnation under
// the same name) is noticed by a waiting consumer, which fails with ErrReplaced or re-attaches.
func TestConsumer_ReplacedSegment(t *testing.T) {
	for _, reattach := range []bool{false, true} {
		t.Run(fmt.Sprint("reattach=", reattach), func(t *testing.T) {
			name := testseg.Name(t)
			p1, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Keep: true})
			require.NoError(t, err)
			c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: "follower", Reattach: reattach,
				Wait: coordination.Sleep(time.Microsecond, time.Millisecond), ReadTimeout: 5 * time.Second})
			require.NoError(t, err)
			defer c.Close()
			first := c.Segment().Incarnation()
			// The first producer "crashes" (never closes its stream); a new one replaces the
			// segment.
			defer p1.Close()
			p2, err := producer.Create[event](segment.SharedMemory(name), producer.Options{Replace: true})
			require.NoError(t, err)
			defer p2.Close()
			published := make(chan struct{})
			go func() {
				defer close(published)
				if reattach {
					waitActiveQuiet(p2.Segment().View(), 1, 5*time.Second)
					p2.Publish(func(e *event) { fill(0, e) })
				}
			}()
			defer func() { <-published }()
			var ev event
			seq, err := c.Read(&ev)
			if !reattach {
				require.ErrorIs(t, err, consumer.ErrReplaced)
				return
			}
			require.NoError(t, err)
			require.Equal(t, uint64(0), seq)
			require.NoError(t, check(0, &ev))
			require.NotEqual(t, first, c.Segment().Incarnation())
		})
	}
}

func waitActiveQuiet(v *layout.View, n int, d time.Duration) {
	coordination.AwaitConsumers(v, n, nil, time.Now().Add(d))
}

func TestProducer_AwaitConsumers(t *testing.T) {
	name := testseg.Name(t)
	_, err := producer.Create[event](segment.SharedMemory(name), producer.Options{
		Await: producer.Await{Names: []string{"risk"}, Timeout: 20 * time.Millisecond}})
	require.ErrorIs(t, err, coordination.ErrAwaitTimeout)
	require.Contains(t, err.Error(), "risk")
	_, err = os.Stat("/dev/shm" + name)
	require.ErrorIs(t, err, os.ErrNotExist, "a producer that gave up removes its segment")

	got := make(chan error, 1)
	go func() {
		p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{
			Await: producer.Await{Consumers: 2, Names: []string{"risk"}, Timeout: 5 * time.Second}})
		if err == nil {
			err = p.Close()
		}
		got <- err
	}()
	var cs []*consumer.Consumer[event]
	for _, n := range []string{"audit", "risk"} {
		c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{Name: n, AttachTimeout: 5 * time.Second})
		require.NoError(t, err)
		cs = append(cs, c)
	}
	require.NoError(t, <-got)
	for _, c := range cs {
		c.Close()
	}
}

// TestAttach_RefusedClearly: another user's segment (mode 0600) and a producer of the wrong mode
// get clear errors.
func TestAttach_RefusedClearly(t *testing.T) {
	name := testseg.Name(t)
	p, err := producer.Create[event](segment.SharedMemory(name), producer.Options{})
	require.NoError(t, err)
	defer p.Close()
	_, err = producer.Attach[event](segment.SharedMemory(name), 0, producer.Options{})
	require.ErrorIs(t, err, producer.ErrWrongMode)

	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as another user")
	}
	// A copy of this test binary that the other user may run.
	dir, err := os.MkdirTemp("", "rw-other-user-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	exe := dir + "/child.test"
	require.NoError(t, os.WriteFile(exe, bin, 0o755))
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RW_CHILD=consume", "RW_NAME="+name, "RW_CONSUMER=intruder", "RW_COUNT=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the child ran and failed: %s", out)
	require.Contains(t, string(out), "attach: attach shm:"+name+": open /dev/shm"+name+": permission denied", string(out))
}
