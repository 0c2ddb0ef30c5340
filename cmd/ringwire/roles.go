package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// Hidden subcommands: the demo re-executes this binary with them, one process per role.
const (
	roleProducer = "demo-producer"
	roleConsumer = "demo-consumer"
)

// producerReport is what a demo producer prints on stdout, as one JSON line, when it succeeds.
type producerReport struct {
	Published uint64  `json:"published"`
	Seconds   float64 `json:"seconds"` // from the first publish to the last
}

// consumerReport is what a demo consumer prints on stdout, as one JSON line, when it has read
// to the end of the stream.
type consumerReport struct {
	Name        string  `json:"name"`
	Received    uint64  `json:"received"`
	First       uint64  `json:"first"` // sequence of the first event received
	Last        uint64  `json:"last"`  // sequence of the last event received
	OutOfOrder  uint64  `json:"out_of_order"`
	BadChecksum uint64  `json:"bad_checksum"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// waitStrategy parses the -wait flag shared by the demo's processes.
func waitStrategy(name string) (coordination.Strategy, error) {
	switch name {
	case "yield":
		return coordination.Yield(), nil
	case "blocking":
		return coordination.Blocking(), nil
	case "sleep":
		return coordination.Sleep(time.Microsecond, time.Millisecond), nil
	}
	return nil, fmt.Errorf("unknown wait strategy %q (want yield, blocking or sleep)", name)
}

// ignoreInterrupts leaves SIGINT and SIGTERM to the demo's parent, which kills its children and
// removes the segment; a child that died on Ctrl-C by itself could not clean up anyway.
func ignoreInterrupts() { signal.Ignore(os.Interrupt, syscall.SIGTERM) }

func runDemoProducer(args []string, stdout, stderr io.Writer) int {
	ignoreInterrupts()
	fs := flag.NewFlagSet(roleProducer, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "shared-memory segment name")
	n := fs.Uint64("n", 0, "events to publish")
	batch := fs.Int("batch", 256, "events per PublishBatch")
	capacity := fs.Uint64("capacity", 65536, "ring capacity in slots")
	consumers := fs.String("consumers", "", "comma-separated consumer names to wait for")
	wait := fs.String("wait", "yield", "wait strategy while the ring is full")
	register := fs.Duration("register-timeout", 20*time.Second, "longest wait for the consumers to register")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	strategy, err := waitStrategy(*wait)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	p, err := producer.Create[Event](segment.SharedMemory(*name), producer.Options{
		Capacity: *capacity, Registry: 8, Wait: strategy, ReclaimStale: true,
	})
	if err != nil {
		fmt.Fprintf(stderr, "create segment: %v\n", err)
		return exitFailure
	}
	// Close marks the stream ended, so the consumers finish, and removes the segment's name.
	defer p.Close()

	var want []string
	if *consumers != "" {
		want = strings.Split(*consumers, ",")
	}
	if err := p.AwaitConsumers(producer.Await{Names: want, Timeout: *register}); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}

	start := time.Now()
	var done uint64
	for batches := 0; done < *n; batches++ {
		k := uint64(*batch)
		if left := *n - done; left < k {
			k = left
		}
		base := p.Published()
		if err := p.PublishBatch(int(k), func(i int, ev *Event) { ev.fill(base + uint64(i)) }); err != nil {
			fmt.Fprintf(stderr, "publish: %v\n", err)
			return exitFailure
		}
		done += k
		if batches%1024 == 0 {
			p.Heartbeat()
		}
	}
	elapsed := time.Since(start)
	if err := p.Close(); err != nil {
		fmt.Fprintf(stderr, "close: %v\n", err)
		return exitFailure
	}
	return writeJSON(stdout, stderr, producerReport{Published: done, Seconds: elapsed.Seconds()})
}

func runDemoConsumer(args []string, stdout, stderr io.Writer) int {
	ignoreInterrupts()
	fs := flag.NewFlagSet(roleConsumer, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "shared-memory segment name")
	cname := fs.String("consumer", "", "consumer name")
	wait := fs.String("wait", "yield", "wait strategy while the ring is empty")
	attach := fs.Duration("attach-timeout", 20*time.Second, "longest wait for the segment to appear")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	strategy, err := waitStrategy(*wait)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	c, err := consumer.Attach[Event](segment.SharedMemory(*name), consumer.Options{
		Name: *cname, Start: consumer.StartOldest, Wait: strategy, AttachTimeout: *attach,
	})
	if err != nil {
		fmt.Fprintf(stderr, "attach: %v\n", err)
		return exitFailure
	}
	defer c.Close()

	r := consumerReport{Name: *cname}
	var start time.Time
	expect := c.Cursor()
	h := func(ev *Event, seq uint64, _ bool) error {
		if r.Received == 0 {
			start = time.Now()
			r.First = ev.Seq
		}
		r.Received++
		r.Last = ev.Seq
		if ev.Seq != seq || seq != expect {
			r.OutOfOrder++
			if r.FirstError == "" {
				r.FirstError = fmt.Sprintf("expected sequence %d, slot for %d holds %d", expect, seq, ev.Seq)
			}
		}
		if !ev.valid() {
			r.BadChecksum++
			if r.FirstError == "" {
				r.FirstError = fmt.Sprintf("bad checksum at sequence %d", seq)
			}
		}
		expect = seq + 1
		return nil
	}
	if err := c.Run(h); err != nil && !errors.Is(err, consumer.ErrEndOfStream) {
		fmt.Fprintf(stderr, "consume: %v\n", err)
		return exitFailure
	}
	if r.Received > 0 {
		r.Seconds = time.Since(start).Seconds()
	}
	return writeJSON(stdout, stderr, r)
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	if err := json.NewEncoder(stdout).Encode(v); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return exitFailure
	}
	return exitOK
}
