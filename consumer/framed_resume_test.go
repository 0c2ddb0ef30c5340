package consumer_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// indexed returns message i: its index in the first 8 bytes, then a pattern; 8 to 300 bytes.
func indexed(i uint64) []byte {
	b := message(i, 0, 8+int(i*131%293))
	binary.LittleEndian.PutUint64(b, i)
	return b
}

// childFramedResume is a durable framed consumer named "durable": it prints the message index
// it starts at ("start K resumed"), the first and last message index of every batch it finished
// ("got A B"), and "done" at the end of the stream.
func childFramedResume() int {
	c, err := consumer.AttachFramed(segment.SharedMemory(os.Getenv("RW_NAME")), consumer.Options{
		Name: "durable", Start: consumer.StartOldest, Wait: coordination.Sleep(10*time.Microsecond, time.Millisecond),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	fmt.Println("start", c.Resumed())
	for {
		var first uint64
		seen := false
		_, err := c.Process(func(m []byte, _ uint64, end bool) error {
			k := binary.LittleEndian.Uint64(m)
			if string(m) != string(indexed(k)) {
				return fmt.Errorf("message %d corrupt", k)
			}
			if !seen {
				first, seen = k, true
			}
			if end {
				fmt.Println("got", first, k)
			}
			return nil
		}, 5)
		if errors.Is(err, consumer.ErrEndOfStream) {
			fmt.Println("done")
			return 0
		}
		if err != nil {
			fmt.Println("process:", err)
			return 1
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// TestFramed_Kill9_ResumesLosingNothing kills a framed consumer process with SIGKILL at random
// moments while a producer publishes messages of many sizes into a small ring (many wraps and
// padding frames); each restart under the same name resumes at the frame boundary the dead one
// stored. Every message is delivered at least once, whole, with no hole.
func TestFramed_Kill9_ResumesLosingNothing(t *testing.T) {
	name := testseg.Name(t)
	const total = 20_000
	p, err := producer.CreateFramed(segment.SharedMemory(name), producer.FramedOptions{
		Options: producer.Options{Capacity: 64, Keep: true, Wait: coordination.Sleep(time.Microsecond, time.Millisecond)}, SlotSize: 64})
	require.NoError(t, err)
	defer p.Close()
	pubErr := make(chan error, 1)
	go func() {
		if err := p.AwaitConsumers(producer.Await{Consumers: 1, Timeout: 10 * time.Second}); err != nil {
			pubErr <- err
			return
		}
		for i := uint64(0); i < total; i++ {
			if err := p.Publish(indexed(i)); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- p.Close()
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var reached uint64 // every message below it was delivered by some run
	done, first := false, true
	for kill := 0; !done; kill++ {
		require.Less(t, kill, 40, "the consumer never reached the end of the stream")
		cp := start(t, "framed-resume", "RW_NAME="+name)
		if kill < 10 {
			time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			cp.Kill()
		} else {
			_ = cp.Wait(time.Minute)
		}
		sc := bufio.NewScanner(strings.NewReader(cp.Output()))
		started, next := false, uint64(0)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "start":
				// The first run that registered starts afresh (a run killed before it registered, or
				// while its entry was still claiming, leaves nothing to resume); every later one
				// takes over the registration.
				started = true
				require.True(t, first || f[1] == "true", "run %d did not resume its predecessor", kill)
				first = false
			case len(f) == 3 && f[0] == "got":
				a, _ := strconv.ParseUint(f[1], 10, 64)
				b, _ := strconv.ParseUint(f[2], 10, 64)
				if next == 0 && a != 0 {
					require.LessOrEqual(t, a, reached, "run %d started at message %d, a hole after %d", kill, a, reached)
				} else {
					require.Equal(t, next, a, "run %d: a batch starts at %d, expected %d", kill, a, next)
				}
				next = b + 1
				reached = max(reached, next)
			case len(f) == 1 && f[0] == "done":
				done = true
			case started && len(f) > 0 && f[0] != "got":
				t.Fatalf("run %d: %s", kill, sc.Text())
			}
		}
	}
	require.NoError(t, <-pubErr)
	require.Equal(t, uint64(total), reached)
}
