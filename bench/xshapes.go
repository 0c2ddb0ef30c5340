package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// shapeRole is what a process of a cross-process shape does (Role.Shape is set).
type shapeRole struct {
	Index     int      `json:"index"`     // producer index (0 creates the ring) or consumer index
	Producers int      `json:"producers"` // publishing processes
	Consumers int      `json:"consumers"` // consumer processes the producers wait for
	Total     int      `json:"total"`     // events of all producers together
	Stage     string   `json:"stage,omitempty"`
	After     []string `json:"after,omitempty"`
}

// crossShape runs cfg.Shape (64-byte events) with each producer and each consumer in a Go process
// of its own, all on one shared-memory ring: MPSC is two producer processes (multi-producer mode)
// and a consumer process, SPMC three consumer processes, Pipeline and Diamond one process per
// stage, each reading behind the stages it follows (consumer.Options.After). Every consumer checks
// that it saw every event in order (per producer). The duration runs from the first producer's
// first publish to the last consumer's last event, all read from CLOCK_MONOTONIC.
func (t tools) crossShape(cfg config, n int) (time.Duration, error) {
	if cfg.EventSize != 64 {
		return 0, fmt.Errorf("cross-process shapes use 64-byte events, not %d", cfg.EventSize)
	}
	name, remove := newName()
	defer remove()
	np, stages := cfg.Shape.producers(), stagesOf(cfg.Shape)
	per := n / np
	base := role{Name: name, Batch: max(cfg.Batch, 1), Capacity: cfg.Capacity, Wait: cfg.Wait}
	var roles []role
	cpu := 0
	for i, st := range stages { // consumers first, in dependency order
		r := base
		r.Role, r.Events, r.CPU = "shape-consume", per, 1-cpu%2
		r.Shape = &shapeRole{Index: i, Producers: np, Consumers: len(stages), Total: per * np, Stage: st.name, After: st.after}
		roles = append(roles, r)
		cpu++
	}
	for j := 0; j < np; j++ {
		r := base
		r.Role, r.Events, r.CPU = "shape-produce", per, j%2
		r.Shape = &shapeRole{Index: j, Producers: np, Consumers: len(stages), Total: per * np}
		roles = append(roles, r)
	}
	outs, err := t.runAll(roles, 60*time.Second+time.Duration(n)*time.Microsecond)
	if err != nil {
		return 0, err
	}
	var start, end uint64
	for i, out := range outs {
		var tm timing
		if err := lastJSON(out, &tm); err != nil {
			return 0, fmt.Errorf("%s %d: %w", roles[i].Role, roles[i].Shape.Index, err)
		}
		if roles[i].Role == "shape-produce" && (start == 0 || tm.StartNs < start) {
			start = tm.StartNs
		}
		if roles[i].Role == "shape-consume" && tm.EndNs > end {
			end = tm.EndNs
		}
	}
	if end <= start {
		return 0, fmt.Errorf("consumers ended (%d) before the producers started (%d)", end, start)
	}
	return time.Duration(end - start), nil
}

// runAll starts every role (in order) as a Go process, waits for all of them, killing all if one
// fails or the timeout passes, and returns the stdout of each.
func (t tools) runAll(roles []role, timeout time.Duration) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	outs := make([]bytes.Buffer, len(roles))
	errc := make(chan error, len(roles))
	started := 0
	var first error
	for i, r := range roles {
		cmd, err := t.command(ctx, langGo, r)
		if err == nil {
			cmd.Stdout = &outs[i]
			err = cmd.Start()
		}
		if err != nil {
			first = err
			cancel()
			break
		}
		started++
		go func() {
			if err := cmd.Wait(); err != nil {
				errc <- fmt.Errorf("%s %d: %w", r.Role, r.Shape.Index, err)
				return
			}
			errc <- nil
		}()
	}
	for i := 0; i < started; i++ {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // kills the others
		}
	}
	if first != nil {
		if ctx.Err() == context.DeadlineExceeded {
			first = fmt.Errorf("timed out after %v: %w", timeout, first)
		}
		return nil, first
	}
	res := make([][]byte, len(roles))
	for i := range outs {
		res[i] = outs[i].Bytes()
	}
	return res, nil
}

// shapeProduce publishes its share of events; producer 0 creates the ring, waits for every
// consumer, and ends the stream once every producer's events are claimed.
func shapeProduce(r role) error {
	w, err := waitFor(r.Wait)
	if err != nil {
		return err
	}
	s := r.Shape
	mode := producer.Single
	if s.Producers > 1 {
		mode = producer.Multi
	}
	opts := producer.Options{Capacity: uint64(r.Capacity), Mode: mode, Wait: w, Registry: 8}
	var p *producer.Producer[event64]
	if s.Index == 0 {
		p, err = producer.Create[event64](segment.SharedMemory(r.Name), opts)
	} else {
		p, err = producer.Attach[event64](segment.SharedMemory(r.Name), 10*time.Second, opts)
	}
	if err != nil {
		return err
	}
	defer p.Close()
	v := p.Segment().View()
	if err := waitForConsumers(v, s.Consumers, 10*time.Second); err != nil {
		return err
	}
	start := sys.Monotonic()
	if err := publishN(p, r.Events, r.Batch, uint64(s.Index)<<producerShift); err != nil {
		return err
	}
	if s.Index == 0 && s.Producers > 1 {
		// Closing ends the stream for every producer: first wait for the others' claims.
		deadline := time.Now().Add(30 * time.Second)
		for v.Cursors().ClaimedCount() < uint64(s.Total) {
			if time.Now().After(deadline) {
				return errors.New("the other producers did not claim their events")
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	end := sys.Monotonic()
	if err := p.Close(); err != nil {
		return err
	}
	return printJSON(timing{"go", "producer", r.Events, r.Batch, start, end, float64(end-start) / 1e9})
}

// shapeConsume registers as its stage (behind the stages it follows, which register first) and
// checks every event until the end of the stream.
func shapeConsume(r role) error {
	w, err := waitFor(r.Wait)
	if err != nil {
		return err
	}
	s := r.Shape
	seg, err := segment.Attach(segment.SharedMemory(r.Name), 10*time.Second)
	if err != nil {
		return err
	}
	defer seg.Release()
	var c *consumer.Consumer[event64]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err = consumer.Register[event64](seg, consumer.Options{Name: s.Stage, After: s.After, Wait: w})
		if err == nil || !errors.Is(err, consumer.ErrUnknownStage) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Microsecond) // a stage it follows has not registered yet
	}
	if err != nil {
		return err
	}
	defer c.Close()
	var k checker
	var start uint64
	err = consumeAll(c, r.Batch, func(v uint64) {
		if start == 0 {
			start = sys.Monotonic()
		}
		k.see(v)
	})
	end := sys.Monotonic()
	if err == nil {
		err = k.done(r.Events, s.Producers)
	}
	if err != nil {
		return err
	}
	return printJSON(timing{"go", "consumer", r.Events * s.Producers, 0, start, end, float64(end-start) / 1e9})
}

// waitForConsumers waits until k consumers are registered in v.
func waitForConsumers(v *layout.View, k int, timeout time.Duration) error {
	return coordination.AwaitConsumers(v, k, nil, time.Now().Add(timeout))
}
