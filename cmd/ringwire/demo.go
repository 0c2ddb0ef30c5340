package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/naming"
	"github.com/ringwire/ringwire/segment"
)

// demoConsumers are the names the demo's consumer processes register under.
var demoConsumers = []string{"consumer-1", "consumer-2"}

// child is one re-executed process of the demo.
type child struct {
	role   string // "producer", "consumer-1", ...
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{} // closed once the process has exited and err is set
	err    error
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Uint64("n", 20_000_000, "events to publish")
	batch := fs.Int("batch", 256, "events per batch")
	capacity := fs.Uint64("capacity", 65536, "ring capacity in slots (a power of two)")
	wait := fs.String("wait", "yield", "wait strategy of the producer and consumers: yield, blocking or sleep")
	name := fs.String("name", naming.Portable("ringwire-demo-"+strconv.Itoa(os.Getpid())), "shared-memory segment name")
	every := fs.Duration("progress", 250*time.Millisecond, "interval between progress lines")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up (and clean up) after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "ringwire demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if _, err := waitStrategy(*wait); err != nil {
		fmt.Fprintf(stderr, "ringwire demo: %v\n", err)
		return exitUsage
	}
	if *batch < 1 || uint64(*batch) > *capacity {
		fmt.Fprintf(stderr, "ringwire demo: -batch must be from 1 to the capacity (%d)\n", *capacity)
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "ringwire demo: cannot find this binary to start the demo's processes: %v\n", err)
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	d := &demo{exe: exe, name: *name, backing: segment.SharedMemory(*name), stdout: stdout, stderr: stderr}
	// Whatever happens below: kill the children that are still running, then remove the
	// segment. The order matters: a producer killed after the removal could create it again.
	defer d.cleanup()

	fmt.Fprintf(stdout, "ringwire demo: segment %s, %s events of %d bytes, batches of %d, ring of %d slots, %s waits\n",
		*name, group(*n), eventSize, *batch, *capacity, *wait)
	common := []string{"-name", *name, "-wait", *wait}
	prod := d.start(ctx, "producer", roleProducer, append(common,
		"-n", strconv.FormatUint(*n, 10), "-batch", strconv.Itoa(*batch),
		"-capacity", strconv.FormatUint(*capacity, 10), "-consumers", strings.Join(demoConsumers, ",")))
	if prod == nil {
		return exitFailure
	}
	seg, err := d.attach(ctx, prod)
	if err != nil {
		return d.fail(ctx, err)
	}
	defer seg.Release()
	fmt.Fprintf(stdout, "producer pid %d created %s\n", prod.cmd.Process.Pid, *name)
	for _, cn := range demoConsumers {
		c := d.start(ctx, cn, roleConsumer, append(common, "-consumer", cn))
		if c == nil {
			return exitFailure
		}
		fmt.Fprintf(stdout, "%s pid %d started\n", cn, c.cmd.Process.Pid)
	}

	if err := d.watch(ctx, seg, *n, *every); err != nil {
		return d.fail(ctx, err)
	}
	return d.report(*n)
}

// eventSize is the size of the demo's event.
const eventSize = 64

// demo is the parent's state: the children it started and the segment they share.
type demo struct {
	exe            string
	name           string
	backing        segment.Backing
	stdout, stderr io.Writer

	mu       sync.Mutex
	children []*child
}

// start re-executes this binary as one of the demo's roles. Its stdout (the JSON report) is
// kept; its stderr is copied to ours, prefixed with the role.
func (d *demo) start(ctx context.Context, role, sub string, args []string) *child {
	if ctx.Err() != nil {
		return nil
	}
	c := &child{role: role, done: make(chan struct{})}
	c.cmd = exec.Command(d.exe, append([]string{sub}, args...)...)
	c.cmd.Stdout = &c.stdout
	c.cmd.Stderr = &prefixWriter{w: d.stderr, prefix: role + ": "}
	c.cmd.SysProcAttr = childAttr()
	if err := c.cmd.Start(); err != nil {
		fmt.Fprintf(d.stderr, "ringwire demo: start %s: %v\n", role, err)
		return nil
	}
	d.mu.Lock()
	d.children = append(d.children, c)
	d.mu.Unlock()
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c
}

// attach maps the producer's segment as soon as it exists, for watching the cursors.
func (d *demo) attach(ctx context.Context, prod *child) (*segment.Segment, error) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var seg *segment.Segment
		err := segment.Guard(func() (err error) { // the producer may truncate it meanwhile
			seg, err = segment.Attach(d.backing, 0)
			return err
		})
		if err == nil {
			return seg, nil
		}
		retry := errors.Is(err, segment.ErrNotFound) || errors.Is(err, layout.ErrInitializing) || errors.Is(err, layout.ErrTooSmall)
		if !retry {
			return nil, fmt.Errorf("watch the segment: %w", err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the producer did not create %s within 20s: %w", d.name, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-prod.done:
			return nil, fmt.Errorf("the producer exited before creating the segment: %v", prod.err)
		case <-tick.C:
		}
	}
}

// watch prints a progress line, from a snapshot of seg, every interval until every child has
// exited. It returns an error as soon as one child fails (the others are then killed by
// cleanup), ctx ends, or reading the segment faults (a child truncated it: segment.ErrFault).
func (d *demo) watch(ctx context.Context, seg *segment.Segment, n uint64, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	begin := time.Now()
	last, lastAt := uint64(0), begin
	d.mu.Lock()
	children := append([]*child(nil), d.children...)
	d.mu.Unlock()
	exits := make(chan struct{}, len(children))
	for _, c := range children {
		go func() {
			<-c.done
			exits <- struct{}{} // re-check at once rather than at the next tick
		}()
	}
	for {
		exited, failed := 0, (*child)(nil)
		for _, c := range children {
			select {
			case <-c.done:
				exited++
				if c.err != nil && failed == nil {
					failed = c
				}
			default:
			}
		}
		if failed != nil {
			return fmt.Errorf("%s failed: %v", failed.role, failed.err)
		}
		if exited == len(children) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exits:
		case now := <-tick.C:
			var snap segment.Snapshot
			err := segment.Guard(func() error { snap = seg.Snapshot(); return nil })
			if err != nil {
				return fmt.Errorf("read the segment's cursors: %w", err)
			}
			pub := snap.Published
			rate := float64(pub-last) / now.Sub(lastAt).Seconds()
			last, lastAt = pub, now
			var b strings.Builder
			fmt.Fprintf(&b, "[%6.2fs] published %11s (%3.0f%%)", now.Sub(begin).Seconds(), group(pub), percent(pub, n))
			for _, cn := range demoConsumers {
				if c, ok := snap.Consumer(cn); ok {
					fmt.Fprintf(&b, " | %s %11s", cn, group(c.Cursor))
				} else {
					fmt.Fprintf(&b, " | %s %11s", cn, "-")
				}
			}
			fmt.Fprintf(&b, " | %s events/s", rateString(rate))
			fmt.Fprintln(d.stdout, b.String())
		}
	}
}

// report prints the producer's rate and one check line per consumer, and returns the exit code.
func (d *demo) report(n uint64) int {
	code := exitOK
	var pr producerReport
	for _, c := range d.children {
		if c.role != "producer" {
			continue
		}
		if err := json.Unmarshal(c.stdout.Bytes(), &pr); err != nil {
			fmt.Fprintf(d.stdout, "producer: FAIL: unreadable report %q: %v\n", c.stdout.String(), err)
			return exitFailure
		}
	}
	rate := 0.0
	if pr.Seconds > 0 {
		rate = float64(pr.Published) / pr.Seconds
	}
	fmt.Fprintf(d.stdout, "producer: published %s events in %.2fs: %s events/s\n", group(pr.Published), pr.Seconds, rateString(rate))
	if pr.Published != n {
		fmt.Fprintf(d.stdout, "producer: FAIL: published %s events, asked for %s\n", group(pr.Published), group(n))
		code = exitFailure
	}
	for _, c := range d.children {
		if c.role == "producer" {
			continue
		}
		var r consumerReport
		if err := json.Unmarshal(c.stdout.Bytes(), &r); err != nil {
			fmt.Fprintf(d.stdout, "%s: FAIL: unreadable report %q: %v\n", c.role, c.stdout.String(), err)
			code = exitFailure
			continue
		}
		if problem := checkConsumer(r, pr.Published); problem != "" {
			fmt.Fprintf(d.stdout, "%s: FAIL: %s\n", c.role, problem)
			code = exitFailure
			continue
		}
		crate := 0.0
		if r.Seconds > 0 {
			crate = float64(r.Received) / r.Seconds
		}
		fmt.Fprintf(d.stdout, "%s: OK: received all %s events in order (sequences 0 to %d), every checksum valid, %s events/s\n",
			c.role, group(r.Received), r.Last, rateString(crate))
	}
	return code
}

// checkConsumer returns what is wrong with a consumer's report, or "" if it received exactly the
// published events, in order, intact.
func checkConsumer(r consumerReport, published uint64) string {
	switch {
	case r.OutOfOrder != 0 || r.BadChecksum != 0:
		return fmt.Sprintf("%d events out of order, %d with bad checksums; first: %s", r.OutOfOrder, r.BadChecksum, r.FirstError)
	case r.Received != published:
		return fmt.Sprintf("received %s events, the producer published %s", group(r.Received), group(published))
	case published > 0 && (r.First != 0 || r.Last != published-1):
		return fmt.Sprintf("received sequences %d to %d, want 0 to %d", r.First, r.Last, published-1)
	}
	return ""
}

// fail reports a run that stopped early, interrupted or failed, and returns its exit code.
func (d *demo) fail(ctx context.Context, err error) int {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		fmt.Fprintln(d.stderr, "ringwire demo: interrupted")
		return exitInterrupted
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		fmt.Fprintln(d.stderr, "ringwire demo: gave up: the run took longer than -timeout")
	default:
		fmt.Fprintf(d.stderr, "ringwire demo: %v\n", err)
	}
	return exitFailure
}

// cleanup kills every child still running, waits for them, and removes the segment if it is
// still there (the producer removes it itself when it closes normally).
func (d *demo) cleanup() {
	d.mu.Lock()
	children := d.children
	d.mu.Unlock()
	for _, c := range children {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
			fmt.Fprintf(d.stderr, "ringwire demo: killed %s (pid %d)\n", c.role, c.cmd.Process.Pid)
		}
	}
	err := segment.Remove(d.backing)
	switch {
	case err == nil:
		fmt.Fprintf(d.stdout, "segment %s removed\n", d.name)
	case errors.Is(err, segment.ErrNotFound):
		fmt.Fprintf(d.stdout, "segment %s removed by the producer\n", d.name)
	default:
		fmt.Fprintf(d.stderr, "ringwire demo: could not remove the segment: %v\n", err)
	}
}

// prefixWriter writes each line to w with a prefix. Safe for concurrent use.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, p.partial[:i+1]); err != nil {
			return 0, err
		}
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

// group formats v with thousands separators.
func group(v uint64) string {
	s := strconv.FormatUint(v, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rateString formats events per second compactly: 12.3M, 456.7k.
func rateString(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func percent(v, of uint64) float64 {
	if of == 0 {
		return 100
	}
	return 100 * float64(v) / float64(of)
}
