package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// role is what a re-executed child process does.
type role struct {
	Role     string `json:"role"` // produce, consume, ping, pong, wake-produce, wake-consume; framed.go's
	Name     string `json:"name"` // segment name (ping/pong: the ping->pong ring)
	Back     string `json:"back,omitempty"`
	Events   int    `json:"events"`
	Warmup   int    `json:"warmup,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	Capacity int    `json:"capacity,omitempty"`
	CPU      int    `json:"cpu"`
	Wait     string `json:"wait,omitempty"`
	GapUs    int    `json:"gap_us,omitempty"`

	Shape     *shapeRole `json:"shape,omitempty"`      // shape-produce, shape-consume
	EventSize int        `json:"event_size,omitempty"` // produce, consume (Go): 0 means 64
	Mode      string     `json:"mode,omitempty"`       // framed-produce: "claim" publishes in place
}

// lang is the implementation of one side of a cross-process scenario.
type lang string

// The languages of the cross-process matrix.
const (
	langGo   lang = "go"
	langC    lang = "c"
	langRust lang = "rust"
)

// tools says where the programs of the cross-process scenarios are: the Go side is this binary
// re-executed through internal/child (the rwbench command or the test binary, which call
// child.Dispatch first), CPerf and RustPerf the rwperf programs of bench/interop (empty: not
// available).
type tools struct {
	CPerf    string
	RustPerf string
}

// roleNames are the roles of the Go child processes; each takes one argument, its role as JSON.
var roleNames = []string{"produce", "consume", "ping", "pong", "wake-produce", "wake-consume",
	"shape-produce", "shape-consume"}

func init() {
	for _, name := range roleNames {
		child.Register(name, childMain)
	}
}

// childMain is every Go child process: args[0] is its role as JSON.
func childMain(args []string) int {
	var r role
	err := errors.New("want one argument, the role as JSON")
	if len(args) == 1 {
		err = json.Unmarshal([]byte(args[0]), &r)
	}
	if err == nil {
		err = runRole(r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", r.Role, err)
		return 1
	}
	return 0
}

func runRole(r role) error {
	defer pin(r.CPU)()
	if path := os.Getenv("RINGWIRE_BENCH_PROFILE"); path != "" {
		// A CPU profile of this role, for looking into a figure: RINGWIRE_BENCH_PROFILE=/tmp/x
		// writes /tmp/x.produce, /tmp/x.consume, ...
		if f, err := os.Create(path + "." + r.Role); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	switch r.Role {
	case "produce":
		return goProduce(r)
	case "consume":
		return goConsume(r)
	case "ping":
		return ping(r)
	case "pong":
		return pong(r)
	case "wake-produce":
		return wakeProduce(r)
	case "wake-consume":
		return wakeConsume(r)
	case "shape-produce":
		return shapeProduce(r)
	case "shape-consume":
		return shapeConsume(r)
	}
	if f, ok := framedRoles[r.Role]; ok {
		return f(r)
	}
	return fmt.Errorf("unknown role %q", r.Role)
}

// timing is the JSON line every throughput role prints (as bench/interop's rwperf programs do).
type timing struct {
	Lang    string  `json:"lang"`
	Role    string  `json:"role"`
	Events  int     `json:"events"`
	Batch   int     `json:"batch"`
	StartNs uint64  `json:"start_ns"`
	EndNs   uint64  `json:"end_ns"`
	Seconds float64 `json:"seconds"`
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

// waitForConsumer waits until a consumer is registered in v: consumers start at the latest event,
// so a producer that published first would run ahead of them.
func waitForConsumer(v *layout.View, timeout time.Duration) error {
	return coordination.AwaitConsumers(v, 1, nil, time.Now().Add(timeout))
}

func goProduce(r role) error {
	if r.EventSize != 0 && r.EventSize != 64 {
		_, err := bySize(r.EventSize,
			func() (int, error) { return 0, goProduceSized[event8](r) },
			func() (int, error) { return 0, goProduceSized[event64](r) },
			func() (int, error) { return 0, goProduceSized[event256](r) },
			func() (int, error) { return 0, goProduceSized[event1024](r) },
			func() (int, error) { return 0, goProduceSized[event4096](r) })
		return err
	}
	p, err := producer.Create[event64](segment.SharedMemory(r.Name), producer.Options{
		Capacity: uint64(r.Capacity), Wait: coordination.BusySpin(), Registry: 4,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	start := sys.Monotonic()
	if err := produce(p, r.Events, r.Batch); err != nil {
		return err
	}
	end := sys.Monotonic()
	if err := p.Close(); err != nil {
		return err
	}
	return printJSON(timing{"go", "producer", r.Events, r.Batch, start, end, float64(end-start) / 1e9})
}

func goConsume(r role) error {
	if r.EventSize != 0 && r.EventSize != 64 {
		_, err := bySize(r.EventSize,
			func() (int, error) { return 0, goConsumeSized[event8](r) },
			func() (int, error) { return 0, goConsumeSized[event64](r) },
			func() (int, error) { return 0, goConsumeSized[event256](r) },
			func() (int, error) { return 0, goConsumeSized[event1024](r) },
			func() (int, error) { return 0, goConsumeSized[event4096](r) })
		return err
	}
	c, err := consumer.Attach[event64](segment.SharedMemory(r.Name), consumer.Options{
		Name: "bench", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	var start uint64
	var want uint64
	for {
		_, err = c.ProcessSlices(func(evs []event64, _ uint64) error {
			if want == 0 {
				start = sys.Monotonic()
			}
			w := want // a local: the captured variable lives in memory, a store and a load per event
			for i := range evs {
				if evs[i].Seq != w {
					return fmt.Errorf("got event %d, want %d", evs[i].Seq, w)
				}
				w++
			}
			want = w
			return nil
		}, 0)
		if err != nil {
			break
		}
	}
	if errors.Is(err, consumer.ErrEndOfStream) {
		err = nil
	}
	end := sys.Monotonic()
	if err != nil {
		return err
	}
	if want != uint64(r.Events) {
		return fmt.Errorf("received %d of %d events", want, r.Events)
	}
	return printJSON(timing{"go", "consumer", r.Events, 0, start, end, float64(end-start) / 1e9})
}

// goProduceSized is goProduce for events of other sizes: claims of r.Batch written through
// Claim.Slices, storing each event's first word, the sequence, as the 64-byte path and c-shmring
// do. goProduce and goConsume
// keep their own code for Event64, the figure set against the C ring: routed through these
// generic roles it measured 4-7% lower (five alternating pairs each).
func goProduceSized[E any](r role) error {
	p, err := producer.Create[E](segment.SharedMemory(r.Name), producer.Options{
		Capacity: uint64(r.Capacity), Wait: coordination.BusySpin(), Registry: 4,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := waitForConsumer(p.Segment().View(), 10*time.Second); err != nil {
		return err
	}
	start := sys.Monotonic()
	for i := 0; i < r.Events; i += r.Batch {
		cl, err := p.Claim(min(r.Batch, r.Events-i))
		if err != nil {
			return err
		}
		first, second := cl.Slices()
		next := stampSeqs(first, uint64(i))
		stampSeqs(second, next)
		if err := p.PublishClaim(cl); err != nil {
			return err
		}
	}
	end := sys.Monotonic()
	if err := p.Close(); err != nil {
		return err
	}
	return printJSON(timing{"go", "producer", r.Events, r.Batch, start, end, float64(end-start) / 1e9})
}

// stampSeqs writes s, s+1, ... into the first word of each event and returns the next sequence.
// The word is reached by pointer arithmetic: through the generic seqOf, each store was a call.
func stampSeqs[E any](evs []E, s uint64) uint64 {
	if len(evs) == 0 {
		return s
	}
	base, size := unsafe.Pointer(unsafe.SliceData(evs)), unsafe.Sizeof(evs[0])
	for j := range evs {
		*(*uint64)(unsafe.Add(base, uintptr(j)*size)) = s
		s++
	}
	return s
}

// checkSeqs checks that the first words of evs are want, want+1, ... and returns the next want.
func checkSeqs[E any](evs []E, want uint64) (uint64, error) {
	if len(evs) == 0 {
		return want, nil
	}
	base, size := unsafe.Pointer(unsafe.SliceData(evs)), unsafe.Sizeof(evs[0])
	for j := range evs {
		if got := *(*uint64)(unsafe.Add(base, uintptr(j)*size)); got != want {
			return want, fmt.Errorf("got event %d, want %d", got, want)
		}
		want++
	}
	return want, nil
}

// goConsumeSized is goConsume for events of other sizes.
func goConsumeSized[E any](r role) error {
	c, err := consumer.Attach[E](segment.SharedMemory(r.Name), consumer.Options{
		Name: "bench", Wait: coordination.BusySpin(), AttachTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	var start, want uint64
	for err == nil {
		_, err = c.ProcessSlices(func(evs []E, _ uint64) error {
			if start == 0 {
				start = sys.Monotonic()
			}
			var err error
			want, err = checkSeqs(evs, want)
			return err
		}, 0)
	}
	end := sys.Monotonic()
	if !errors.Is(err, consumer.ErrEndOfStream) {
		return err
	}
	if want != uint64(r.Events) {
		return fmt.Errorf("received %d of %d events", want, r.Events)
	}
	return printJSON(timing{"go", "consumer", r.Events, 0, start, end, float64(end-start) / 1e9})
}

var segCounter atomic.Uint64

// segmentPrefix is the name prefix of every segment this process's scenarios create:
// /rw-bench-<pid>-.
func segmentPrefix() string { return fmt.Sprintf("/rw-bench-%d-", os.Getpid()) }

// newName returns a fresh segment name and the function that removes it (whether or not it still
// exists).
func newName() (string, func()) {
	name := fmt.Sprintf("%s%d", segmentPrefix(), segCounter.Add(1))
	return name, func() { _ = segment.Remove(segment.SharedMemory(name)) }
}

// RemoveLeftovers removes every segment of this process still in /dev/shm (for signal handlers
// and deferred clean-up) and returns their names.
func RemoveLeftovers() []string {
	m, _ := filepath.Glob("/dev/shm" + segmentPrefix() + "*")
	for _, p := range m {
		os.Remove(p)
	}
	return m
}

// command builds the process of one role in lang.
func (t tools) command(ctx context.Context, lang lang, r role) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	switch lang {
	case langGo:
		spec, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if cmd, err = child.Command(ctx, r.Role, child.Options{Args: []string{string(spec)}}); err != nil {
			return nil, err
		}
	case langC, langRust:
		bin := t.CPerf
		if lang == langRust {
			bin = t.RustPerf
		}
		if bin == "" {
			return nil, fmt.Errorf("%w: no %s rwperf program", errSkipped, lang)
		}
		role := map[string]string{"produce": "produce", "consume": "consume", "ping": "ping", "pong": "pong",
			"framed-consume": "consume-framed", "fixed-consume": "consume-fixed"}[r.Role]
		if role == "" {
			return nil, fmt.Errorf("%w: no %s program for role %s", errSkipped, lang, r.Role)
		}
		args := []string{role, "--name", r.Name, "--events", fmt.Sprint(r.Events), "--cpu", fmt.Sprint(r.CPU)}
		switch role {
		case "produce":
			args = append(args, "--batch", fmt.Sprint(r.Batch), "--capacity", fmt.Sprint(r.Capacity))
		case "ping":
			args = append(args, "--back", r.Back, "--warmup", fmt.Sprint(r.Warmup))
		case "pong":
			args = append(args, "--back", r.Back)
		}
		cmd = exec.CommandContext(ctx, bin, args...)
		dieWithParent(cmd)
	default:
		return nil, fmt.Errorf("unknown language %q", lang)
	}
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// errSkipped marks a scenario that could not run for want of a tool; the report shows it as
// skipped with the error's text.
var errSkipped = errors.New("skipped")

// runPair starts the consumer role, then the producer role, waits for both (killing both if either
// fails or the timeout passes) and returns the stdout of each.
func (t tools) runPair(cons, prod lang, cr, pr role, timeout time.Duration) (consOut, prodOut []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cc, err := t.command(ctx, cons, cr)
	if err != nil {
		return nil, nil, err
	}
	pc, err := t.command(ctx, prod, pr)
	if err != nil {
		return nil, nil, err
	}
	var cb, pb bytes.Buffer
	cc.Stdout, pc.Stdout = &cb, &pb
	if err := cc.Start(); err != nil {
		return nil, nil, err
	}
	if err := pc.Start(); err != nil {
		cc.Process.Kill()
		cc.Wait()
		return nil, nil, err
	}
	errc := make(chan error, 2)
	go func() {
		if err := cc.Wait(); err != nil {
			errc <- fmt.Errorf("%s %s: %w", cons, cr.Role, err)
			return
		}
		errc <- nil
	}()
	go func() {
		if err := pc.Wait(); err != nil {
			errc <- fmt.Errorf("%s %s: %w", prod, pr.Role, err)
			return
		}
		errc <- nil
	}()
	var first error
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // kills the other
		}
	}
	if ctx.Err() == context.DeadlineExceeded && first != nil {
		first = fmt.Errorf("timed out after %v: %w", timeout, first)
	}
	return cb.Bytes(), pb.Bytes(), first
}

func lastJSON(out []byte, v any) error {
	var line []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 && b[0] == '{' {
			line = append(line[:0], b...)
		}
	}
	if line == nil {
		return fmt.Errorf("no JSON line in output %q", out)
	}
	return json.Unmarshal(line, v)
}

// crossProcessIn moves n 64-byte events from a producer process in prod to a consumer process in
// cons over a fresh POSIX shared-memory segment (producer pinned to CPU 0, consumer to CPU 1, both
// busy-spinning), and returns the time from the producer's first publish to the consumer's last
// event, both read from CLOCK_MONOTONIC, which every process shares.
func (t tools) crossProcessIn(prod, cons lang, n, capacity, batch int) (time.Duration, error) {
	return t.crossProcess(prod, cons, n, capacity, batch, 64)
}

// crossProcessSized is crossProcessIn from Go to Go with events of size bytes (one of eventSizes).
func (t tools) crossProcessSized(n, capacity, batch, size int) (time.Duration, error) {
	return t.crossProcess(langGo, langGo, n, capacity, batch, size)
}

func (t tools) crossProcess(prod, cons lang, n, capacity, batch, size int) (time.Duration, error) {
	name, remove := newName()
	defer remove()
	pr := role{Role: "produce", Name: name, Events: n, Batch: max(batch, 1), Capacity: capacity, CPU: 0, EventSize: size}
	cr := role{Role: "consume", Name: name, Events: n, CPU: 1, EventSize: size}
	co, po, err := t.runPair(cons, prod, cr, pr, 60*time.Second)
	if err != nil {
		return 0, err
	}
	var ct, pt timing
	if err := lastJSON(co, &ct); err != nil {
		return 0, fmt.Errorf("%s consumer: %w", cons, err)
	}
	if err := lastJSON(po, &pt); err != nil {
		return 0, fmt.Errorf("%s producer: %w", prod, err)
	}
	if ct.EndNs <= pt.StartNs {
		return 0, fmt.Errorf("consumer ended (%d) before the producer started (%d)", ct.EndNs, pt.StartNs)
	}
	return time.Duration(ct.EndNs - pt.StartNs), nil
}

// crossProcessSPSC is crossProcessIn from Go to Go with the test binary or rwbench as the children.
func crossProcessSPSC(n, capacity, batch int) (time.Duration, error) {
	return tools{}.crossProcessIn(langGo, langGo, n, capacity, batch)
}
