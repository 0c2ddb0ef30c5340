package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Options configure a run of the suite.
type Options struct {
	Full      bool          // the full matrix; else the quick set
	Runs      int           // runs per figure (median reported); 0 means 3
	target    time.Duration // length of one in-process run; 0 means 60 ms (quick) or 120 ms (full)
	Events    int           // events per cross-process run; 0 means 20M (quick) or 50M (full)
	RustLimit time.Duration // longest Rust build; 0 skips the Rust scenarios
	Only      string        // run this group alone (one of Groups); "" runs them all
	Log       io.Writer     // progress lines
}

// row is one line of the results.
type row struct {
	Group     string // in-process, cross-process, rust-baseline, latency, framed
	Scenario  string // SPSC, MPSC, ..., Go->C, ping-pong, wake-up
	Impl      string // ringwire, chan, c-shmring, c-pingpong, rust-disruptor, crossbeam-channel
	EventSize int
	Capacity  int
	Batch     int
	Wait      string
	Threads   int
	Events    int // per run (latency: samples)
	Runs      int
	Mevs      float64  // throughput, million events per second (median); framed group: messages
	MBps      float64  // framed group: payload megabytes (1e6) per second (median), also in Note
	Lat       *latency // latency rows (median of each figure)
	Baseline  string   // what Ratio compares with
	Ratio     float64  // throughput: this / baseline; latency: p50 / baseline p50
	Note      string   // why it was skipped, or how it was made
}

// skipped reports whether the row holds no figure.
func (r row) skipped() bool { return r.Mevs == 0 && r.Lat == nil }

// readmeTarget is one of the goals the README states, checked against this run.
type readmeTarget struct {
	What  string
	Want  string
	Ratio float64 // 0: not measured
	Met   bool
	Note  string
}

// Results are everything a run produced.
type Results struct {
	machine  machine
	mode     string
	started  time.Time
	elapsed  time.Duration
	rows     []row
	targets  []readmeTarget
	built    []string
	settings string
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRate runs f runs times with n events and returns the median rate in Mevents/s.
func medianRate(runs, n int, f func(n int) (time.Duration, error)) (float64, error) {
	var rates []float64
	for i := 0; i < runs; i++ {
		d, err := f(n)
		if err != nil {
			return 0, err
		}
		rates = append(rates, float64(n)/d.Seconds()/1e6)
	}
	return median(rates), nil
}

// calibrate runs f once small (also a warm-up) and returns the event count for a run of about
// target.
func calibrate(target time.Duration, f func(n int) (time.Duration, error)) (int, error) {
	const n0 = 20_000
	d, err := f(n0)
	if err != nil {
		return 0, err
	}
	n := int(float64(n0) * target.Seconds() / max(d.Seconds(), 1e-6))
	n = min(max(n, n0), 100_000_000)
	return n &^ 127, nil
}

// Groups are the groups of rows, in the order a run measures them; Options.Only picks one.
// "framed" also measures the framed ping-pong rows, which the latency table shows.
var Groups = []string{"in-process", "cross-process", "rust-baseline", "latency", "framed"}

// Run runs the quick or full suite and returns its results.
func Run(o Options) (*Results, error) {
	if o.Only != "" && !slices.Contains(Groups, o.Only) {
		return nil, fmt.Errorf("no group %q (have %s)", o.Only, strings.Join(Groups, ", "))
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.target <= 0 {
		o.target = 60 * time.Millisecond
		if o.Full {
			o.target = 120 * time.Millisecond
		}
	}
	if o.Events <= 0 {
		o.Events = 20_000_000
		if o.Full {
			o.Events = 50_000_000
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	res := &Results{machine: readMachine(), mode: "quick", started: time.Now()}
	if o.Full {
		res.mode = "full"
	}
	defer RemoveLeftovers()
	root, err := Root()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "building baselines and interop programs...\n")
	progs := prepare(root, o.RustLimit)
	res.built = progs.Built
	res.settings = fmt.Sprintf("%s run, median of %d runs, in-process runs of about %v (event count calibrated per scenario), cross-process runs of %d events, GOMAXPROCS %d (raised to the thread count for shapes of more than %d threads)",
		res.mode, o.Runs, o.target, o.Events, runtime.GOMAXPROCS(0), runtime.NumCPU())

	if o.Only != "" {
		res.settings += ", only the " + o.Only + " group"
	}
	want := func(g string) bool { return o.Only == "" || o.Only == g }
	if want("in-process") {
		res.rows = append(res.rows, inProcessRows(o)...)
	}
	if want("cross-process") {
		res.rows = append(res.rows, crossProcessRows(o, progs)...)
	}
	if want("rust-baseline") {
		res.rows = append(res.rows, rustRows(o, progs)...)
	}
	if want("latency") {
		res.rows = append(res.rows, latencyRows(o, progs)...)
	}
	if want("framed") {
		ring, seq, stream := framedCounts(o.Events)
		res.settings += fmt.Sprintf("; framed group: %d messages per ring run, %d per UDS seqpacket run, %d per UDS stream run", ring, seq, stream)
		res.rows = append(res.rows, framedRows(o, progs)...)
	}
	res.targets = targets(res.rows)
	res.elapsed = time.Since(res.started)
	return res, nil
}

func logRow(o Options, r row) {
	switch {
	case r.Lat != nil:
		fmt.Fprintf(o.Log, "  %-14s %-18s %-10s p50 %8.0f ns  p99 %8.0f ns\n", r.Scenario, r.Impl, r.Wait, r.Lat.P50, r.Lat.P99)
	case r.Mevs > 0:
		fmt.Fprintf(o.Log, "  %-14s %-18s ev=%-4d cap=%-5d batch=%-3d %-9s %8.1f Mev/s\n", r.Scenario, r.Impl, r.EventSize, r.Capacity, r.Batch, r.Wait, r.Mevs)
	default:
		fmt.Fprintf(o.Log, "  %-14s %-18s skipped: %s\n", r.Scenario, r.Impl, r.Note)
	}
}

func inProcessRows(o Options) []row {
	sizes, caps := []int{64}, []int{4096, 64}
	if o.Full {
		sizes, caps = eventSizes, []int{64, 256, 1024, 4096, 16384, 65536}
	}
	fmt.Fprintf(o.Log, "in-process throughput (%d shapes x %d sizes x %d capacities x batch 1/64, and channels)\n", len(shapes), len(sizes), len(caps))
	var rows []row
	for _, shape := range shapes {
		for _, size := range sizes {
			for _, capacity := range caps {
				base := row{Group: "in-process", Scenario: string(shape), EventSize: size, Capacity: capacity, Threads: shape.threads(), Runs: o.Runs}
				ch := base
				ch.Impl, ch.Batch, ch.Wait = "chan", 1, "-"
				cfg := config{Shape: shape, EventSize: size, Capacity: capacity, Batch: 1}
				f := func(n int) (time.Duration, error) { return channelShape(cfg, n) }
				n, err := calibrate(o.target, f)
				if err == nil {
					ch.Events = n
					ch.Mevs, err = medianRate(o.Runs, n, f)
				}
				if err != nil {
					ch.Note = err.Error()
				}
				logRow(o, ch)
				rows = append(rows, ch)
				for _, batch := range []int{1, 64} {
					r := base
					r.Impl, r.Batch, r.Wait = "ringwire", batch, defaultWait(shape)
					cfg := config{Shape: shape, EventSize: size, Capacity: capacity, Batch: batch, Wait: r.Wait}
					f := func(n int) (time.Duration, error) { return inProcess(cfg, n) }
					n, err := calibrate(o.target, f)
					if err == nil {
						r.Events = n
						r.Mevs, err = medianRate(o.Runs, n, f)
					}
					if err != nil {
						r.Note = err.Error()
					}
					if ch.Mevs > 0 && r.Mevs > 0 {
						r.Baseline, r.Ratio = "chan", r.Mevs/ch.Mevs
					}
					logRow(o, r)
					rows = append(rows, r)
				}
			}
		}
	}
	return rows
}

func skipRow(r row, why string) row {
	r.Note = why
	return r
}

func crossProcessRows(o Options, p programs) []row {
	fmt.Fprintf(o.Log, "cross-process throughput, capacity 4096, pairs: producer on CPU 0, consumer on CPU 1, busy-spin\n")
	var rows []row
	// The C minimal ring, the ceiling for this machine, and Go->Go in batches, the figure set
	// against it: their runs alternate, so that both medians come from the same minutes (this
	// machine's neighbours move every figure by tens of percent from one minute to the next).
	shm, gogo := ringBeside(o, p, 64, o.Events)
	rows = append(rows, shm, gogo)
	pairs := []struct {
		prod, cons lang
		batch      int
	}{{langGo, langGo, 1}, {langC, langC, 64}, {langGo, langC, 64}, {langC, langGo, 64}, {langGo, langRust, 64}, {langRust, langGo, 64}}
	if o.Full {
		pairs = append(pairs, struct {
			prod, cons lang
			batch      int
		}{langC, langC, 1})
	}
	var cc float64
	for _, pc := range pairs {
		r := row{Group: "cross-process", Scenario: langName(pc.prod) + "->" + langName(pc.cons), Impl: "ringwire", EventSize: 64, Capacity: 4096, Batch: pc.batch, Wait: "busy-spin", Threads: 2, Events: o.Events, Runs: o.Runs}
		if pc.batch == 1 {
			r.Events = o.Events / 4
		}
		missing := ""
		for _, l := range []lang{pc.prod, pc.cons} {
			if why, ok := p.Missing[string(l)]; ok && l != langGo {
				missing = why
			}
		}
		if missing != "" {
			r = skipRow(r, missing)
		} else {
			rate, err := medianRate(o.Runs, r.Events, func(n int) (time.Duration, error) {
				return p.crossProcessIn(pc.prod, pc.cons, n, 4096, pc.batch)
			})
			if err != nil {
				r.Note = err.Error()
			}
			r.Mevs = rate
		}
		if r.Mevs > 0 && shm.Mevs > 0 {
			r.Baseline, r.Ratio = "c-shmring", r.Mevs/shm.Mevs
		}
		if pc.prod == langC && pc.cons == langC && pc.batch == 64 {
			cc = r.Mevs
		}
		logRow(o, r)
		rows = append(rows, r)
	}
	if o.Full { // other event sizes, as many bytes per run as at 64 bytes
		for _, size := range []int{8, 256, 1024, 4096} {
			shm, gogo := ringBeside(o, p, size, o.Events*64/max(size, 64))
			rows = append(rows, shm, gogo)
		}
	}
	// The other shapes across processes: each producer and each stage a Go process of its own.
	for _, shape := range []shape{shapeMPSC, shapeSPMC, shapePipeline, shapeDiamond} {
		for _, batch := range []int{1, 64} {
			cfg := config{Shape: shape, EventSize: 64, Capacity: 4096, Batch: batch, Wait: "yield"}
			r := row{Group: "cross-process", Scenario: string(shape), Impl: "ringwire", EventSize: 64, Capacity: 4096, Batch: batch, Wait: cfg.Wait,
				Threads: shape.threads(), Events: o.Events / 4, Runs: o.Runs, Note: "a process per producer and per consumer"}
			if batch == 1 {
				r.Events = o.Events / 16
			}
			rate, err := medianRate(o.Runs, r.Events, func(n int) (time.Duration, error) { return p.crossShape(cfg, n) })
			if err != nil {
				r.Note = err.Error()
			}
			r.Mevs = rate
			logRow(o, r)
			rows = append(rows, r)
		}
	}
	// Go->Go against C->C, the same library protocol in C.
	for i := range rows {
		if rows[i].Scenario == "Go->Go" && rows[i].Batch == 64 && rows[i].EventSize == 64 && rows[i].Mevs > 0 && cc > 0 {
			rows = append(rows, row{Group: "cross-process", Scenario: "Go->Go vs C->C", Impl: "ringwire", EventSize: 64, Capacity: 4096, Batch: 64, Wait: "busy-spin", Threads: 2,
				Events: rows[i].Events, Runs: o.Runs, Mevs: rows[i].Mevs, Baseline: "C->C ringwire", Ratio: rows[i].Mevs / cc})
		}
	}
	return rows
}

// ringBeside measures the C minimal ring and Go->Go (capacity 4096, batches of 64) with events of
// size bytes, n per run, their runs alternating, and returns both rows (Go's with its ratio).
func ringBeside(o Options, p programs, size, n int) (shm, gogo row) {
	shm = row{Group: "cross-process", Scenario: "C minimal ring", Impl: "c-shmring", EventSize: size, Capacity: 4096, Batch: 64, Wait: "busy-spin", Threads: 2, Events: n, Runs: o.Runs}
	gogo = row{Group: "cross-process", Scenario: "Go->Go", Impl: "ringwire", EventSize: size, Capacity: 4096, Batch: 64, Wait: "busy-spin", Threads: 2, Events: n, Runs: o.Runs,
		Note: "runs alternate with c-shmring's"}
	if p.ShmRingBin == "" {
		shm = skipRow(shm, p.Missing["c-shmring"])
	}
	var shmRates, goRates []float64
	for i := 0; i < o.Runs; i++ {
		if p.ShmRingBin != "" && shm.Note == "" {
			if rates, err := jsonRates(p.ShmRingBin, "--events", fmt.Sprint(n), "--event-size", fmt.Sprint(size)); err != nil {
				shm.Note = err.Error()
			} else {
				shmRates = append(shmRates, rates["c-shmring"]...)
			}
		}
		d, err := p.crossProcessSized(n, 4096, 64, size)
		if err != nil {
			gogo.Note = err.Error()
			break
		}
		goRates = append(goRates, float64(n)/d.Seconds()/1e6)
	}
	shm.Mevs, gogo.Mevs = median(shmRates), median(goRates)
	if gogo.Mevs > 0 && shm.Mevs > 0 {
		gogo.Baseline, gogo.Ratio = "c-shmring", gogo.Mevs/shm.Mevs
	}
	logRow(o, shm)
	logRow(o, gogo)
	return shm, gogo
}

func langName(l lang) string {
	switch l {
	case langGo:
		return "Go"
	case langC:
		return "C"
	}
	return "Rust"
}

// jsonRates runs a baseline program and collects events_per_sec (in millions) per baseline name
// from its JSON lines; an error line becomes the error.
func jsonRates(bin string, args ...string) (map[string][]float64, error) {
	cmd := exec.Command(bin, args...)
	out, err := cmd.Output()
	rates := map[string][]float64{}
	var errs []string
	for _, line := range strings.Split(string(out), "\n") {
		var v struct {
			Baseline string  `json:"baseline"`
			Rate     float64 `json:"events_per_sec"`
			Error    string  `json:"error"`
		}
		if json.Unmarshal([]byte(line), &v) != nil || v.Baseline == "" {
			continue
		}
		if v.Error != "" {
			errs = append(errs, v.Baseline+": "+v.Error)
			continue
		}
		rates[v.Baseline] = append(rates[v.Baseline], v.Rate/1e6)
	}
	if len(rates) == 0 {
		if err == nil {
			err = errors.New("no results")
		}
		return nil, fmt.Errorf("%s: %v %s", bin, err, strings.Join(errs, "; "))
	}
	return rates, nil
}

func rustRows(o Options, p programs) []row {
	fmt.Fprintf(o.Log, "Rust in-process baselines (SPSC, 64-byte events, capacity 4096, pinned, busy-spin)\n")
	var rows []row
	var rates map[string][]float64
	var err error
	if p.RustBaselines != "" {
		rates, err = jsonRates(p.RustBaselines, "--runs", fmt.Sprint(o.Runs), "--events", fmt.Sprint(o.Events))
	}
	for _, name := range []string{"rust-disruptor", "crossbeam-channel"} {
		r := row{Group: "rust-baseline", Scenario: "SPSC", Impl: name, EventSize: 64, Capacity: 4096, Batch: 64, Wait: "busy-spin", Threads: 2, Events: o.Events, Runs: o.Runs}
		if name == "crossbeam-channel" {
			r.Batch = 1
		}
		switch {
		case p.RustBaselines == "":
			r.Note = p.Missing["rust-baselines"]
		case err != nil:
			r.Note = err.Error()
		case len(rates[name]) == 0:
			r.Note = "no result from rust-baselines"
		default:
			r.Mevs = median(rates[name])
		}
		logRow(o, r)
		rows = append(rows, r)
	}
	return rows
}

func latencyRows(o Options, p programs) []row {
	samples, wakes := 200_000, 1000
	if o.Full {
		samples, wakes = 1_000_000, 5000
	}
	fmt.Fprintf(o.Log, "latency: ping-pong between two pinned processes, one-way = round trip / 2\n")
	var rows []row
	add := func(r row) {
		logRow(o, r)
		rows = append(rows, r)
	}
	bare := row{Group: "latency", Scenario: "ping-pong", Impl: "c-pingpong", EventSize: 8, Wait: "busy-spin", Threads: 2, Events: samples, Runs: o.Runs, Note: "one cache line, no ring"}
	if p.PingPongBin == "" {
		bare = skipRow(bare, p.Missing["c-pingpong"])
	}
	var bares []latency
	var bareErr error
	for _, wait := range []string{"busy-spin", "yield", "blocking"} {
		r := row{Group: "latency", Scenario: "ping-pong", Impl: "ringwire", EventSize: 64, Capacity: 64, Batch: 1, Wait: wait, Threads: 2, Events: samples, Runs: o.Runs}
		if wait == "blocking" {
			r.Events = samples / 4
		}
		if wait == "busy-spin" {
			r.Note = "runs alternate with c-pingpong's"
		}
		r = latencyRuns(o.Runs, r, func() (latency, error) {
			// The bare ping-pong's runs alternate with busy-spin's, the figure set against it.
			if wait == "busy-spin" && p.PingPongBin != "" && bareErr == nil {
				var bl []latency
				if bl, bareErr = cPingPong(p.PingPongBin, samples, 1); bareErr == nil {
					bares = append(bares, bl...)
				}
			}
			return p.pingPongWait(wait, r.Events, r.Events/10)
		})
		if wait == "busy-spin" {
			if bareErr != nil {
				bare.Note = bareErr.Error()
			} else if len(bares) > 0 {
				l := medianLatency(bares)
				bare.Lat = &l
			}
			add(bare)
		}
		add(againstBare(r, bare))
	}
	// The C and Rust implementations, both processes in the language, busy-spinning.
	for _, lang := range []lang{langC, langRust} {
		r := row{Group: "latency", Scenario: "ping-pong", Impl: "ringwire-" + string(lang), EventSize: 64, Capacity: 64, Batch: 1, Wait: "busy-spin", Threads: 2, Events: samples, Runs: o.Runs}
		add(againstBare(latencyRuns(o.Runs, r, func() (latency, error) { return p.pingPongIn(lang, samples, samples/10) }), bare))
	}
	add(latencyRuns(o.Runs, row{Group: "latency", Scenario: "wake-up", Impl: "ringwire", EventSize: 64, Capacity: 64, Batch: 1, Wait: "blocking", Threads: 2, Events: wakes, Runs: o.Runs,
		Note: "publish to the sleeping consumer's return, one event every 300us"}, func() (latency, error) { return p.wakeUp(wakes, 300*time.Microsecond) }))
	return rows
}

// latencyRuns runs f up to runs times, stopping at the first error, and returns r with the
// median of the runs, or with the error as its note (skipped when a program is missing).
func latencyRuns(runs int, r row, f func() (latency, error)) row {
	var ls []latency
	for i := 0; i < runs; i++ {
		l, err := f()
		if errors.Is(err, errSkipped) {
			return skipRow(r, err.Error())
		}
		if err != nil {
			r.Note = err.Error()
			return r
		}
		ls = append(ls, l)
	}
	l := medianLatency(ls)
	r.Lat = &l
	return r
}

// againstBare sets r's ratio to the bare ping-pong's p50 when both were measured.
func againstBare(r, bare row) row {
	if r.Lat != nil && bare.Lat != nil {
		r.Baseline, r.Ratio = "c-pingpong p50", r.Lat.P50/bare.Lat.P50
	}
	return r
}

func medianLatency(ls []latency) latency {
	pick := func(f func(latency) float64) float64 {
		var xs []float64
		for _, l := range ls {
			xs = append(xs, f(l))
		}
		return median(xs)
	}
	return latency{
		Samples: ls[0].Samples,
		P50:     pick(func(l latency) float64 { return l.P50 }),
		P99:     pick(func(l latency) float64 { return l.P99 }),
		P999:    pick(func(l latency) float64 { return l.P999 }),
		Max:     pick(func(l latency) float64 { return l.Max }),
		Mean:    pick(func(l latency) float64 { return l.Mean }),
	}
}

func cPingPong(bin string, samples, runs int) ([]latency, error) {
	out, err := exec.Command(bin, "--runs", fmt.Sprint(runs), "--samples", fmt.Sprint(samples)).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	var ls []latency
	for _, line := range strings.Split(string(out), "\n") {
		var l latency
		if json.Unmarshal([]byte(line), &l) == nil && l.Samples > 0 {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("%s: no results", bin)
	}
	return ls, nil
}

func find(rows []row, f func(row) bool) (row, bool) {
	for _, r := range rows {
		if f(r) {
			return r, true
		}
	}
	return row{}, false
}

// targets checks the goals of the README against this run's ratios.
func targets(rows []row) []readmeTarget {
	var ts []readmeTarget
	add := func(what, want string, goal float64, lower bool, r row, ok bool) {
		t := readmeTarget{What: what, Want: want}
		switch {
		case !ok || r.Ratio == 0:
			t.Note = "not measured"
			if ok && r.Note != "" {
				t.Note = r.Note
			}
		case lower:
			t.Ratio, t.Met = r.Ratio, r.Ratio <= goal
		default:
			t.Ratio, t.Met = r.Ratio, r.Ratio >= goal
		}
		ts = append(ts, t)
	}
	r, ok := find(rows, func(r row) bool { return r.Scenario == "Go->Go" && r.Batch == 64 && r.EventSize == 64 })
	add("Go->Go cross-process, batch 64 / C minimal ring (c-shmring)", ">= 0.8x", 0.8, false, r, ok)
	r, ok = find(rows, func(r row) bool { return r.Scenario == "Go->Go vs C->C" })
	add("Go->Go / C->C (ringwire C library), batch 64", ">= 0.8x", 0.8, false, r, ok)
	for _, b := range []int{64, 1} {
		r, ok = find(rows, func(r row) bool {
			return r.Group == "in-process" && r.Scenario == "SPSC" && r.Impl == "ringwire" && r.EventSize == 64 && r.Capacity == 4096 && r.Batch == b
		})
		add(fmt.Sprintf("in-process SPSC, batch %d / channel (64 B, capacity 4096)", b), ">= 4x", 4, false, r, ok)
	}
	for _, b := range []int{64, 1} {
		r, ok = find(rows, func(r row) bool {
			return r.Group == "in-process" && r.Scenario == "MPSC" && r.Impl == "ringwire" && r.EventSize == 64 && r.Capacity == 4096 && r.Batch == b
		})
		add(fmt.Sprintf("MPSC 2 producers, batch %d / 2-sender channel (64 B, capacity 4096)", b), ">= 3x", 3, false, r, ok)
	}
	r, ok = find(rows, func(r row) bool { return r.Scenario == "ping-pong" && r.Impl == "ringwire" && r.Wait == "busy-spin" })
	add("ping-pong busy-spin p50 / bare cache-line ping-pong p50", "<= 1.5x", 1.5, true, r, ok)
	if _, ok := find(rows, func(r row) bool { return r.Group == "framed" }); !ok {
		return ts // a run without the framed group (rwbench -only)
	}
	for _, cons := range []string{"Go", "C", "Rust"} {
		r, ok = find(rows, func(r row) bool {
			return r.Group == "framed" && r.Scenario == "Go->"+cons && r.Impl == "ringwire-framed" && r.Batch == messageBatch
		})
		add(fmt.Sprintf("framed / fixed-slot ring, payload bytes/s, Go->%s", cons), ">= 0.8x", 0.8, false, r, ok)
	}
	r, ok = find(rows, func(r row) bool { return r.Group == "framed" && r.Scenario == "Go->Go vs UDS seqpacket" })
	add("framed Go->Go messages/s / Unix socket SOCK_SEQPACKET messages/s", ">= 10x", 10, false, r, ok)
	r, ok = find(rows, func(r row) bool {
		return r.Scenario == fmt.Sprintf("ping-pong %d B", pingSize) && r.Impl == "ringwire-framed"
	})
	add(fmt.Sprintf("framed ping-pong p50 / fixed-slot ping-pong p50 (%d B)", pingSize), "<= 1.5x", 1.5, true, r, ok)
	return ts
}
