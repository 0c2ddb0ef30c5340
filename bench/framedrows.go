package bench

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// expected is what every consumer of the framed group must have received: counts, payload
// bytes and checksums of the stream's prefixes, computed once per length.
var expected = struct {
	sync.Mutex
	stream *messageStream
	byN    map[int][2]uint64
}{byN: map[int][2]uint64{}}

// expect returns the payload bytes and checksum of the first n messages of the stream.
func expect(n int) (bytes, checksum uint64) {
	expected.Lock()
	defer expected.Unlock()
	if v, ok := expected.byN[n]; ok {
		return v[0], v[1]
	}
	if expected.stream == nil {
		expected.stream = newStream()
	}
	bytes, checksum = expected.stream.expect(n)
	expected.byN[n] = [2]uint64{bytes, checksum}
	return bytes, checksum
}

// errWrongResult marks a consumer whose count, bytes or checksum is not the stream's: the row
// fails.
var errWrongResult = errors.New("wrong result")

// checkReceived compares what a consumer reports with the first n messages of the stream.
func checkReceived(who string, n int, gotN, gotBytes, gotSum uint64) error {
	bytes, sum := expect(n)
	switch {
	case gotN != uint64(n):
		return fmt.Errorf("%w: %s received %d messages, want %d", errWrongResult, who, gotN, n)
	case gotBytes != bytes:
		return fmt.Errorf("%w: %s received %d payload bytes, want %d", errWrongResult, who, gotBytes, bytes)
	case gotSum != sum:
		return fmt.Errorf("%w: %s checksum %#016x, want %#016x", errWrongResult, who, gotSum, sum)
	}
	return nil
}

// messageRun moves the first n messages of the stream from a Go producer process (CPU 0) to a
// consumer process in cons (CPU 1) through a fresh framed ring (kind "framed": slots of 128
// bytes, 16384 of them) or fixed-slot ring (kind "fixed": 4096 fixedMessage events), both
// busy-spinning, publishing messageBatch messages at a time (mode "claim": framed, one Claim
// written in place per message). It checks the consumer's count, bytes and checksum and returns
// the time from the producer's first publish to the consumer's last message.
func (t tools) messageRun(kind string, cons lang, n int, mode string) (time.Duration, error) {
	name, remove := newName()
	defer remove()
	capacity := framedCapacity
	if kind == "fixed" {
		capacity = fixedCapacity
	}
	pr := role{Role: kind + "-produce", Name: name, Events: n, Batch: messageBatch, Capacity: capacity, CPU: 0, Mode: mode}
	cr := role{Role: kind + "-consume", Name: name, Events: n, CPU: 1}
	co, po, err := t.runPair(cons, langGo, cr, pr, 60*time.Second+time.Duration(n)*time.Microsecond)
	if err != nil {
		return 0, err
	}
	var ct msgTiming
	var pt timing
	if err := lastJSON(co, &ct); err != nil {
		return 0, fmt.Errorf("%s consumer: %w", cons, err)
	}
	if err := lastJSON(po, &pt); err != nil {
		return 0, fmt.Errorf("go producer: %w", err)
	}
	if err := checkReceived(fmt.Sprintf("%s %s consumer", cons, kind), n, uint64(ct.Events), ct.Bytes, ct.Checksum); err != nil {
		return 0, err
	}
	if ct.EndNs <= pt.StartNs {
		return 0, fmt.Errorf("consumer ended (%d) before the producer started (%d)", ct.EndNs, pt.StartNs)
	}
	return time.Duration(ct.EndNs - pt.StartNs), nil
}

// udsRun runs the C socket baseline (bench/baselines/c/uds.c) once: mode "seqpacket" (one
// message per send and per recv) or "stream" (messageBatch length-prefixed messages per write),
// and checks its consumer's result as messageRun does.
func udsRun(bin, mode string, n int) (time.Duration, error) {
	if bin == "" {
		return 0, fmt.Errorf("%w: no uds program", errSkipped)
	}
	cmd := exec.Command(bin, "--mode", mode, "--events", fmt.Sprint(n), "--batch", fmt.Sprint(messageBatch))
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, fmt.Errorf("%s --mode %s: %w: %s", bin, mode, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("%s --mode %s: %w", bin, mode, err)
	}
	var v struct {
		Events   uint64  `json:"events"`
		Bytes    uint64  `json:"bytes"`
		Checksum uint64  `json:"checksum"`
		Seconds  float64 `json:"seconds"`
	}
	if err := lastJSON(out, &v); err != nil {
		return 0, fmt.Errorf("%s --mode %s: %w", bin, mode, err)
	}
	if err := checkReceived("uds "+mode+" consumer", n, v.Events, v.Bytes, v.Checksum); err != nil {
		return 0, err
	}
	if v.Seconds <= 0 {
		return 0, fmt.Errorf("%s --mode %s: %v seconds", bin, mode, v.Seconds)
	}
	return time.Duration(v.Seconds * 1e9), nil
}

// pingPongMessages bounces pingSize-byte messages between two Go processes (CPUs 0 and 1) over
// two framed rings (kind "framed") or two rings of fixedMessage events (kind "fixed"), both
// busy-spinning, and returns the one-way latency as pingPong does. The pong side publishes each
// message straight from the slots it reads; the ping side checks every byte of each reply.
func (t tools) pingPongMessages(kind string, samples, warmup int) (latency, error) {
	there, rmThere := newName()
	defer rmThere()
	back, rmBack := newName()
	defer rmBack()
	pi := role{Role: kind + "-ping", Name: there, Back: back, Events: samples, Warmup: warmup, CPU: 0}
	po := role{Role: kind + "-pong", Name: there, Back: back, Events: samples + warmup, CPU: 1}
	timeout := 60*time.Second + time.Duration(samples+warmup)*200*time.Microsecond
	pingOut, _, err := t.runPair(langGo, langGo, pi, po, timeout)
	if err != nil {
		return latency{}, err
	}
	var l latency
	return l, lastJSON(pingOut, &l)
}

// series is one row of the framed group being measured run by run.
type series struct {
	row    row
	n      int                                // messages (throughput) or samples (latency) per run
	run    func(n int) (time.Duration, error) // throughput
	lat    func() (latency, error)            // latency
	rates  []float64                          // Mmsg/s of each run
	lats   []latency
	failed bool
}

// once runs one more run, unless a run failed already: an error (a wrong checksum, a missing
// program) fails the row, earlier runs included.
func (s *series) once() {
	if s.failed {
		return
	}
	var err error
	if s.lat != nil {
		var l latency
		if l, err = s.lat(); err == nil {
			s.lats = append(s.lats, l)
		}
	} else {
		var d time.Duration
		if d, err = s.run(s.n); err == nil {
			s.rates = append(s.rates, float64(s.n)/d.Seconds()/1e6)
		}
	}
	if err != nil {
		s.fail(err)
	}
}

// warm runs a throughput series once with n messages (at most its own count), unrecorded: the
// first run in a fresh machine state (page cache, CPU frequency) would otherwise count against
// whichever series comes first. A failure fails the row at once.
func (s *series) warm(n int) {
	if s.failed || s.run == nil {
		return
	}
	if _, err := s.run(min(n, s.n)); err != nil {
		s.fail(err)
	}
}

func (s *series) fail(err error) {
	s.failed, s.rates, s.lats = true, nil, nil
	s.row.Note = err.Error()
	if !errors.Is(err, errSkipped) {
		s.row.Note = "failed: " + s.row.Note
	}
}

// result is the row with the median of the runs, payload bytes/s and the runs' range in its note.
func (s *series) result() row {
	r := s.row
	if s.failed {
		return r
	}
	lo, hi := minMax(s.rates)
	if s.lat != nil {
		if len(s.lats) == 0 {
			return r
		}
		l := medianLatency(s.lats)
		r.Lat = &l
		var p50s []float64
		for _, l := range s.lats {
			p50s = append(p50s, l.P50)
		}
		lo, hi = minMax(p50s)
		r.Note = joinNote(fmt.Sprintf("p50 of the runs %.0f-%.0f ns", lo, hi), r.Note)
		return r
	}
	if len(s.rates) == 0 {
		return r
	}
	bytes, _ := expect(s.n)
	perMsg := float64(bytes) / float64(s.n)
	r.Mevs = median(s.rates)
	r.MBps = r.Mevs * perMsg
	r.Note = joinNote(fmt.Sprintf("Mevents/s = million messages/s; payload %.0f MB/s; runs %.2f-%.2f Mmsg/s", r.MBps, lo, hi), r.Note)
	return r
}

func minMax(xs []float64) (lo, hi float64) {
	for i, x := range xs {
		if i == 0 || x < lo {
			lo = x
		}
		if i == 0 || x > hi {
			hi = x
		}
	}
	return lo, hi
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// framedCounts returns the messages per run of the framed group's ring rows and its two socket
// rows: a quarter of the cross-process event count (payloads average 288 bytes), and an eighth
// and a half of that for the sockets, whose syscalls make a message cost microseconds.
func framedCounts(events int) (ring, seqpacket, stream int) {
	ring = max(events/4, 1024)
	return ring, max(ring/8, 1024), max(ring/2, 1024)
}

// framedRows measures the framed group: a framed ring against a fixed-slot ring with the same
// messages, Go->Go, Go->C and Go->Rust, their runs alternating (ABBA: framed first in even runs,
// fixed first in odd ones), beside the Unix-socket baselines, after one unrecorded warm-up run
// of each; then the ping-pong of each, alternating too.
func framedRows(o Options, p programs) []row {
	nRing, nSeq, nStream := framedCounts(o.Events)
	fmt.Fprintf(o.Log, "framed: messages of 64..512 bytes (mean 288), Go producer on CPU 0, consumer on CPU 1, busy-spin; %d messages per ring run\n", nRing)
	base := row{Group: "framed", Batch: messageBatch, Wait: "busy-spin", Threads: 2, Runs: o.Runs}
	missing := func(l lang) string {
		if why, ok := p.Missing[string(l)]; ok && l != langGo {
			return why
		}
		return ""
	}
	type pair struct{ framed, fixed *series }
	var pairs []pair
	for _, cons := range []lang{langGo, langC, langRust} {
		cons := cons
		f := base
		f.Scenario, f.Impl, f.EventSize, f.Capacity, f.Events = "Go->"+langName(cons), "ringwire-framed", framedSlot, framedCapacity, nRing
		f.Note = "slots of 128 B, PublishBatch of 64, zero-copy reads of up to 256; runs alternate with ringwire-fixed's"
		x := base
		x.Scenario, x.Impl, x.EventSize, x.Capacity, x.Events = f.Scenario, "ringwire-fixed", 520, fixedCapacity, nRing
		x.Note = "u32 length + 512-byte room per event, claims of 64 written in place, reads of up to 256"
		fs := &series{row: f, n: nRing, run: func(n int) (time.Duration, error) { return p.messageRun("framed", cons, n, "") }}
		xs := &series{row: x, n: nRing, run: func(n int) (time.Duration, error) { return p.messageRun("fixed", cons, n, "") }}
		if why := missing(cons); why != "" {
			fs.failed, xs.failed, fs.row.Note, xs.row.Note = true, true, why, why
		}
		pairs = append(pairs, pair{fs, xs})
	}
	seq := base
	seq.Scenario, seq.Impl, seq.Batch, seq.Wait, seq.Events = "C->C", "c-uds-seqpacket", 1, "blocking", nSeq
	seq.Note = "AF_UNIX SOCK_SEQPACKET, one message per send() and per recv(), blocking, pinned"
	stream := base
	stream.Scenario, stream.Impl, stream.Wait, stream.Events = "C->C", "c-uds-stream", "blocking", nStream
	stream.Note = "AF_UNIX SOCK_STREAM, 64 length-prefixed messages per writev(), blocking reads of 64 KiB, pinned"
	sockets := []*series{
		{row: seq, n: nSeq, run: func(n int) (time.Duration, error) { return udsRun(p.UDSBin, "seqpacket", n) }},
		{row: stream, n: nStream, run: func(n int) (time.Duration, error) { return udsRun(p.UDSBin, "stream", n) }},
	}
	if p.UDSBin == "" {
		for _, s := range sockets {
			s.failed, s.row.Note = true, p.Missing["c-uds"]
		}
	}
	var claim *series
	if o.Full {
		c := base
		c.Scenario, c.Impl, c.Batch, c.EventSize, c.Capacity, c.Events = "Go->Go", "ringwire-framed", 1, framedSlot, framedCapacity, nRing
		c.Note = "Claim, copy into Payload, PublishClaim per message"
		claim = &series{row: c, n: nRing, run: func(n int) (time.Duration, error) { return p.messageRun("framed", langGo, n, "claim") }}
	}
	all := append([]*series{}, sockets...)
	for _, pr := range pairs {
		all = append(all, pr.framed, pr.fixed)
	}
	if claim != nil {
		all = append(all, claim)
	}
	for _, s := range all {
		s.warm(50_000)
	}
	for run := 0; run < o.Runs; run++ {
		for _, pr := range pairs {
			a, b := pr.framed, pr.fixed
			if run%2 == 1 {
				a, b = b, a
			}
			a.once()
			b.once()
		}
		for _, s := range sockets {
			s.once()
		}
		if claim != nil {
			claim.once()
		}
	}
	var rows []row
	add := func(r row) {
		logRow(o, r)
		rows = append(rows, r)
	}
	var gogo row
	for _, pr := range pairs {
		f, x := pr.framed.result(), pr.fixed.result()
		if f.MBps > 0 && x.MBps > 0 {
			f.Baseline, f.Ratio = "ringwire-fixed bytes/s", f.MBps/x.MBps
		}
		if f.Scenario == "Go->Go" {
			gogo = f
		}
		add(f)
		add(x)
	}
	seqRow := sockets[0].result()
	add(seqRow)
	add(sockets[1].result())
	if claim != nil {
		add(claim.result())
	}
	vs := row{Group: "framed", Scenario: "Go->Go vs UDS seqpacket", Impl: "ringwire-framed", EventSize: framedSlot, Capacity: framedCapacity,
		Batch: messageBatch, Wait: "busy-spin", Threads: 2, Events: nRing, Runs: o.Runs, Mevs: gogo.Mevs, MBps: gogo.MBps, Note: "messages/s against messages/s"}
	if gogo.Mevs > 0 && seqRow.Mevs > 0 {
		vs.Baseline, vs.Ratio = "c-uds-seqpacket", gogo.Mevs/seqRow.Mevs
	}
	add(vs)
	return append(rows, framedLatencyRows(o, p)...)
}

// framedLatencyRows is the ping-pong of 256-byte messages through framed rings and through rings
// of fixedMessage events, their runs alternating.
func framedLatencyRows(o Options, p programs) []row {
	samples := 200_000
	if o.Full {
		samples = 1_000_000
	}
	fmt.Fprintf(o.Log, "framed latency: ping-pong of %d-byte messages between two pinned Go processes, one-way = round trip / 2\n", pingSize)
	base := row{Group: "latency", Scenario: fmt.Sprintf("ping-pong %d B", pingSize), Batch: 1, Wait: "busy-spin", Threads: 2, Events: samples, Runs: o.Runs}
	f := base
	f.Impl, f.EventSize, f.Capacity = "ringwire-framed", framedSlot, framedPingCap
	f.Note = "framed rings, slots of 128 B; runs alternate with ringwire-fixed's"
	x := base
	x.Impl, x.EventSize, x.Capacity = "ringwire-fixed", 520, fixedPingCap
	x.Note = "the 256 bytes in 520-byte fixedMessage events"
	fs := &series{row: f, n: samples, lat: func() (latency, error) { return p.pingPongMessages("framed", samples, samples/10) }}
	xs := &series{row: x, n: samples, lat: func() (latency, error) { return p.pingPongMessages("fixed", samples, samples/10) }}
	for run := 0; run < o.Runs; run++ {
		a, b := fs, xs
		if run%2 == 1 {
			a, b = b, a
		}
		a.once()
		b.once()
	}
	fr, xr := fs.result(), xs.result()
	if fr.Lat != nil && xr.Lat != nil {
		fr.Baseline, fr.Ratio = "ringwire-fixed p50", fr.Lat.P50/xr.Lat.P50
	}
	for _, r := range []row{fr, xr} {
		logRow(o, r)
	}
	return []row{fr, xr}
}
