package conformance_test

// The cross-language suite: it builds every conformer it can find and runs, through real
// processes speaking conformance/PROTOCOL.md,
//
//   - <prod>-><cons>/spsc          every producer against every consumer;
//   - <prod>->all/broadcast        one producer, a Go, a C and a Rust consumer at once;
//   - multi/<a>+<b>-><cons>/...    a multi-producer ring created by a, joined by b, both
//                                  publishing one after the other (sequential) and at once
//                                  (concurrent);
//   - crash/go+go-><cons>          a Go multi-producer ring whose attached producer is killed
//                                  with SIGKILL between claim and publish: the consumer passes
//                                  over its claim as gaps (spec 5.8) and reads everything else;
//   - .../framed, .../framed-refuses-fixed  the same for framed rings (framed_matrix_test.go);
//   - golden/<lang>/...            validate, write and reject the golden images;
//   - naming/<lang>                naming/testdata/portable.tsv.
//
// Languages: Go is always built. C is built when interop/c/Makefile exists, Rust when
// interop/rust/Cargo.toml does. With CI=true a missing toolchain or a failed build of a language
// that is in the tree fails the test; otherwise the language's cases are skipped with the reason.
//
// The machine may have two cores, so scenarios run one at a time, and the conformers wait by
// yielding and sleeping, never by spinning.

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/segment"
)

const (
	matrixEvents   = 3000 // events per producer: the 64-slot ring wraps about 47 times
	matrixCapacity = 64
	scenarioLimit  = 15 * time.Second // context of one scenario's processes
	conformerMs    = "10000"          // --timeout-ms given to the conformers, below scenarioLimit
	buildLimit     = 100 * time.Second
)

var inCI = os.Getenv("CI") == "true"

// impl is one language's conformer.
type impl struct {
	lang   string
	bin    string // absolute path, when built
	reason string // why it is not available
	fatal  bool   // unavailability fails the test (CI, and the language is in the tree)
}

func (im *impl) ok() bool { return im.bin != "" }

// need skips (or, in CI, fails) the calling test unless every im is available.
func need(t *testing.T, ims ...*impl) {
	t.Helper()
	for _, im := range ims {
		if im.ok() {
			continue
		}
		if im.fatal {
			t.Fatalf("%s conformer unavailable: %s", im.lang, im.reason)
		}
		t.Skipf("%s conformer unavailable: %s", im.lang, im.reason)
	}
}

// buildAll builds the three conformers concurrently (the Rust build dominates) and returns them
// in the order Go, C, Rust.
func buildAll(t *testing.T) []*impl {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	builders := []func() *impl{
		func() *impl { return buildGo(root, dir) },
		func() *impl { return buildC(root) },
		func() *impl { return buildRust(root) },
	}
	out := make([]*impl, len(builders))
	var wg sync.WaitGroup
	for i, b := range builders {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = b() }()
	}
	wg.Wait()
	return out
}

func buildGo(root, dir string) *impl {
	im := &impl{lang: "go", fatal: true} // the Go conformer is in this tree: it must build
	goTool, err := exec.LookPath("go")
	if err != nil {
		im.reason = "go tool not on PATH: " + err.Error()
		return im
	}
	bin := filepath.Join(dir, "conformer-go")
	if out, err := runBuild(filepath.Join(root, "conformance"), nil, goTool, "build", "-o", bin, "./cmd/conformer"); err != nil {
		im.reason = fmt.Sprintf("go build failed: %v\n%s", err, out)
		return im
	}
	im.bin = bin
	return im
}

func buildC(root string) *impl {
	im := &impl{lang: "c"}
	src := filepath.Join(root, "interop", "c")
	if _, err := os.Stat(filepath.Join(src, "Makefile")); err != nil {
		im.reason = "interop/c/Makefile not in the tree"
		return im
	}
	im.fatal = inCI
	makeTool, err := exec.LookPath("make")
	if err != nil {
		im.reason = "make not on PATH"
		return im
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		im.reason = "gcc not on PATH"
		return im
	}
	if out, err := runBuild(root, nil, makeTool, "-C", src); err != nil {
		im.reason = fmt.Sprintf("make -C interop/c failed: %v\n%s", err, out)
		return im
	}
	return executable(im, filepath.Join(src, "build", "conformer"))
}

func buildRust(root string) *impl {
	im := &impl{lang: "rust"}
	src := filepath.Join(root, "interop", "rust")
	if _, err := os.Stat(filepath.Join(src, "Cargo.toml")); err != nil {
		im.reason = "interop/rust/Cargo.toml not in the tree"
		return im
	}
	im.fatal = inCI
	cargo, err := exec.LookPath("cargo")
	if err != nil {
		im.reason = "cargo not on PATH"
		return im
	}
	target := filepath.Join(src, "target")
	env := append(os.Environ(), "CARGO_TARGET_DIR="+target)
	// The conformer needs the crate's conformance fixtures (its required feature).
	if out, err := runBuild(src, env, cargo, "build", "--release", "--features", "conformance", "--bin", "ringwire-conformer"); err != nil {
		im.reason = fmt.Sprintf("cargo build --release failed: %v\n%s", err, out)
		return im
	}
	return executable(im, filepath.Join(target, "release", "ringwire-conformer"))
}

func executable(im *impl, bin string) *impl {
	fi, err := os.Stat(bin)
	if err != nil || fi.Mode()&0o111 == 0 {
		im.reason = fmt.Sprintf("the build succeeded but %s is not an executable", bin)
		return im
	}
	im.bin = bin
	return im
}

func runBuild(dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, time.Second
	out, err := cmd.CombinedOutput()
	if len(out) > 4000 {
		out = append([]byte("...\n"), out[len(out)-4000:]...)
	}
	return out, err
}

// segName is testseg.Name: a fresh segment name, removed when the test ends, pass or fail (a
// conformer killed with SIGKILL leaves its segments to us; TestMain fails a run that leaks one).
var segName = testseg.Name

// proc is one running conformer.
type proc struct {
	label    string
	cmd      *exec.Cmd
	out, err syncBuffer
	exited   chan struct{} // closed once the process has exited and been reaped
	code     int           // its exit code, once exited is closed
}

// syncBuffer is a bytes.Buffer that the test may read while the process is still writing to it.
// Safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }

// start runs a conformer under ctx; its output is logged if the test fails.
func start(t *testing.T, ctx context.Context, label, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{label: label, exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	p.cmd.WaitDelay = time.Second
	require.NoError(t, p.cmd.Start(), "start %s", label)
	go p.reap()
	t.Cleanup(func() {
		if _, done := p.status(); !done {
			p.cmd.Process.Kill()
		}
		p.wait()
		if t.Failed() {
			t.Logf("%s: %s %s\nexit %d\nstdout:\n%s\nstderr:\n%s", p.label, bin, strings.Join(args, " "),
				p.code, p.out.String(), p.err.String())
		}
	})
	return p
}

// reap waits for the process, records its exit code (-1 if it did not exit normally) and closes
// exited.
func (p *proc) reap() {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		p.code = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		p.code = ee.ExitCode()
	default:
		p.code = -1
	}
	close(p.exited)
}

// wait waits for the process and returns its exit code (-1 if it did not exit normally).
func (p *proc) wait() int {
	<-p.exited
	return p.code
}

// status returns the exit code and true once the process has exited, without waiting.
func (p *proc) status() (int, bool) {
	select {
	case <-p.exited:
		return p.code, true
	default:
		return 0, false
	}
}

// awaitExit waits until p exits and fails the test unless its code is code; it fails at once,
// without waiting for p, if one of others (processes of the scenario expected to succeed) exits
// with another code than 0 first. A peer that failed (an unknown flag, an early refusal) thus
// ends the scenario at once instead of at p's timeout.
func awaitExit(t *testing.T, ctx context.Context, p *proc, code int, others ...*proc) {
	t.Helper()
	for {
		if got, done := p.status(); done {
			require.Equal(t, code, got, "exit code of %s", p.label)
			return
		}
		for _, o := range others {
			if got, done := o.status(); done && got != 0 {
				require.Failf(t, "a peer failed", "%s exited with %d while %s ran", o.label, got, p.label)
			}
		}
		select {
		case <-p.exited:
		case <-ctx.Done():
			require.Failf(t, "timed out", "%s still running after the scenario's limit", p.label)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// line is one JSON output line.
type line map[string]any

// lines parses the process's standard output so far; a line that is not a JSON object with an
// "event" member fails the test. A last line without its newline yet is left out.
func (p *proc) lines(t *testing.T) []line {
	t.Helper()
	var out []line
	raw := p.out.Bytes()
	if i := bytes.LastIndexByte(raw, '\n'); i >= 0 {
		raw = raw[:i+1]
	} else {
		raw = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "%s: output line %q is not a JSON object", p.label, sc.Text())
		_, ok := l["event"].(string)
		require.True(t, ok, "%s: output line %q has no \"event\" member", p.label, sc.Text())
		out = append(out, l)
	}
	return out
}

// find returns the process's lines of the given event so far.
func (p *proc) find(t *testing.T, event string) []line {
	t.Helper()
	var found []line
	for _, l := range p.lines(t) {
		if l["event"] == event {
			found = append(found, l)
		}
	}
	return found
}

// event returns the process's only line of the given event, failing the test if there is not
// exactly one.
func (p *proc) event(t *testing.T, event string) line {
	t.Helper()
	found := p.find(t, event)
	require.Len(t, found, 1, "%s: %q lines", p.label, event)
	return found[0]
}

// num reads a JSON number member as an integer.
func num(l line, key string) (uint64, bool) {
	f, ok := l[key].(float64)
	if !ok || f < 0 || f != float64(uint64(f)) {
		return 0, false
	}
	return uint64(f), true
}

// expectExit fails the test unless p exits with code.
func expectExit(t *testing.T, p *proc, code int) {
	t.Helper()
	require.Equal(t, code, p.wait(), "exit code of %s", p.label)
}

// checkDone checks a consumer's done line and returns it. The optional gaps member, where the
// consumer prints it, must be gaps.
func checkDone(t *testing.T, p *proc, name string, count, producers, gaps uint64) line {
	t.Helper()
	expectExit(t, p, 0)
	d := p.event(t, "done")
	r, _ := num(d, "received")
	k, _ := num(d, "producers")
	require.Equal(t, name, d["consumer"], "%s: done line %v", p.label, d)
	require.Equal(t, count, r, "%s: done line %v: received", p.label, d)
	require.Equal(t, producers, k, "%s: done line %v: producers", p.label, d)
	require.Equal(t, true, d["ok"], "%s: done line %v: ok", p.label, d)
	if _, present := d["gaps"]; present {
		n, ok := num(d, "gaps")
		require.True(t, ok, "%s: done line %v: gaps is not a count", p.label, d)
		require.Equal(t, gaps, n, "%s: done line %v: gaps", p.label, d)
	}
	return d
}

// checkRegistry checks the creating producer's registry line: exactly the entries in want (name ->
// cursor), all closed.
func checkRegistry(t *testing.T, p *proc, want map[string]uint64) {
	t.Helper()
	expectExit(t, p, 0)
	r := p.event(t, "registry")
	entries, ok := r["entries"].([]any)
	require.True(t, ok, "%s: registry line %v has no entries array", p.label, r)
	got := map[string]uint64{}
	last := -1
	for _, raw := range entries {
		e, _ := raw.(map[string]any)
		name, _ := e["name"].(string)
		idx, _ := num(e, "index")
		cur, _ := num(e, "cursor")
		require.Greater(t, int(idx), last, "%s: registry entries not in index order: %v", p.label, entries)
		last = int(idx)
		require.Equal(t, "closed", e["state"], "%s: entry %v", p.label, e)
		got[name] = cur
	}
	require.Equal(t, want, got, "%s: registry entries (name -> cursor): %v", p.label, entries)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the conformers of every language; not in -short")
	}
	impls := buildAll(t)
	for _, im := range impls {
		t.Run("build/"+im.lang, func(t *testing.T) {
			need(t, im)
			t.Logf("%s conformer: %s", im.lang, im.bin)
		})
	}

	for _, prod := range impls {
		for _, cons := range impls {
			t.Run(prod.lang+"->"+cons.lang+"/spsc", func(t *testing.T) {
				need(t, prod, cons)
				runSPSC(t, prod, cons)
			})
		}
	}
	for _, prod := range impls {
		t.Run(prod.lang+"->all/broadcast", func(t *testing.T) {
			need(t, prod)
			runBroadcast(t, prod, impls)
		})
	}
	for _, a := range impls {
		for _, b := range impls {
			for _, cons := range impls {
				t.Run("multi/"+a.lang+"+"+b.lang+"->"+cons.lang, func(t *testing.T) {
					need(t, a, b, cons)
					t.Run("sequential", func(t *testing.T) { runMultiSequential(t, a, b, cons) })
					t.Run("concurrent", func(t *testing.T) { runMultiConcurrent(t, a, b, cons) })
				})
			}
		}
	}
	goImpl := impls[0]
	for _, cons := range impls {
		t.Run("crash/go+go->"+cons.lang, func(t *testing.T) {
			need(t, goImpl, cons)
			runCrash(t, goImpl, cons)
		})
	}
	framedMatrix(t, impls)
	for _, im := range impls {
		t.Run("golden/"+im.lang, func(t *testing.T) {
			need(t, im)
			runGolden(t, im)
		})
	}
	for _, im := range impls {
		t.Run("naming/"+im.lang, func(t *testing.T) {
			need(t, im)
			runNaming(t, im)
		})
	}

	// The C conformer built with -fsanitize=address,undefined, against Go on both sides: any
	// out-of-bounds access, use after unmap or undefined behaviour aborts it, failing the run.
	asan := buildCSanitized(impls[1])
	t.Run("build/"+asan.lang, func(t *testing.T) { need(t, asan) })
	t.Run("go->c-asan/spsc", func(t *testing.T) { need(t, goImpl, asan); runSPSC(t, goImpl, asan) })
	t.Run("c-asan->go/spsc", func(t *testing.T) { need(t, asan, goImpl); runSPSC(t, asan, goImpl) })
	t.Run("multi/c-asan+go->c-asan", func(t *testing.T) {
		need(t, asan, goImpl)
		runMultiConcurrent(t, asan, goImpl, asan)
	})
	t.Run("crash/go+go->c-asan", func(t *testing.T) { need(t, goImpl, asan); runCrash(t, goImpl, asan) })
	t.Run("go->c-asan/framed", func(t *testing.T) { need(t, goImpl, asan); runFramed(t, goImpl, asan, 4, true) })
	t.Run("c-asan->go/framed", func(t *testing.T) { need(t, asan, goImpl); runFramed(t, asan, goImpl, 5, false) })
	t.Run("multi/c-asan+go->c-asan/framed", func(t *testing.T) {
		need(t, asan, goImpl)
		runFramedMulti(t, asan, goImpl, asan)
	})
	t.Run("crash/go+c-asan->c-asan/framed", func(t *testing.T) {
		need(t, goImpl, asan)
		runFramedCrash(t, goImpl, asan, asan)
	})
	t.Run("c-asan->c-asan/framed-refuses-fixed", func(t *testing.T) { need(t, asan); runRefusesKind(t, asan, asan) })
	t.Run("golden/c-asan", func(t *testing.T) { need(t, asan); runGolden(t, asan) })
}

// buildCSanitized builds interop/c's conformer with AddressSanitizer and UBSan (make target
// build/asan/conformer), once the plain C build worked.
func buildCSanitized(c *impl) *impl {
	im := &impl{lang: "c-asan", fatal: c.fatal}
	if !c.ok() {
		im.reason = "the C conformer itself is unavailable: " + c.reason
		return im
	}
	src := filepath.Join(filepath.Dir(filepath.Dir(c.bin)))
	if out, err := runBuild(src, nil, "make", "build/asan/conformer"); err != nil {
		im.reason = fmt.Sprintf("make build/asan/conformer failed: %v\n%s", err, out)
		return im
	}
	return executable(im, filepath.Join(src, "build", "asan", "conformer"))
}

func scenarioContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioLimit)
	t.Cleanup(cancel)
	return ctx
}

// runSPSC: one producer, one consumer reading one event at a time.
func runSPSC(t *testing.T, prod, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	p := start(t, ctx, prod.lang+" producer", prod.bin, "produce", "--name", name, "--count", n,
		"--capacity", itoa(matrixCapacity), "--wait-consumers", "1", "--timeout-ms", conformerMs)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", n, "--timeout-ms", conformerMs)
	checkDone(t, c, "c1", matrixEvents, 1, 0)
	checkRegistry(t, p, map[string]uint64{"c1": matrixEvents})
}

// runBroadcast: one producer publishing in batches to a Go, a C and a Rust consumer at once. A
// language that is unavailable (outside CI) is stood in for by another available one, so that
// three consumers always take part.
func runBroadcast(t *testing.T, prod *impl, impls []*impl) {
	var consumers, missing []*impl
	for _, im := range impls {
		if im.ok() {
			consumers = append(consumers, im)
		} else if im.fatal {
			t.Fatalf("%s conformer unavailable: %s", im.lang, im.reason)
		} else {
			missing = append(missing, im)
		}
	}
	for i, im := range missing {
		stand := consumers[i%len(consumers)]
		t.Logf("no %s consumer (%s): a %s consumer stands in", im.lang, im.reason, stand.lang)
		consumers = append(consumers, stand)
	}
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	p := start(t, ctx, prod.lang+" producer", prod.bin, "produce", "--name", name, "--count", n,
		"--capacity", itoa(matrixCapacity), "--batch", "16", "--wait-consumers", itoa(uint64(len(consumers))),
		"--timeout-ms", conformerMs)
	want := map[string]uint64{}
	var cs []*proc
	for i, cons := range consumers {
		cname := "c" + itoa(uint64(i+1))
		args := []string{"consume", "--name", name, "--consumer", cname, "--count", n, "--timeout-ms", conformerMs}
		if i%2 == 1 {
			args = append(args, "--batch")
		}
		cs = append(cs, start(t, ctx, cons.lang+" consumer "+cname, cons.bin, args...))
		want[cname] = matrixEvents
	}
	for i, c := range cs {
		checkDone(t, c, "c"+itoa(uint64(i+1)), matrixEvents, 1, 0)
	}
	checkRegistry(t, p, want)
}

// The multi-producer scenarios rely on --wait-producers 1 (PROTOCOL.md, produce): the creator
// publishes its own events as producer 0, then waits until the attached producer has registered
// and left before it ends the stream, so the consumer sees the end only after both streams.

// runMultiSequential: a creates a multi-producer ring and publishes as producer 0; once it has
// claimed all its events (the test watches the segment), b attaches and publishes as producer 1.
// One consumer reads both streams, in batches.
func runMultiSequential(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	creator := start(t, ctx, a.lang+" creator (producer 0)", a.bin, "produce", "--name", name, "--count", n,
		"--capacity", itoa(matrixCapacity), "--mode", "multi", "--batch", "8", "--wait-consumers", "1",
		"--wait-producers", "1", "--timeout-ms", conformerMs)
	v := watch(t, creator, name)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", itoa(2*matrixEvents), "--producers", "2", "--batch", "--timeout-ms", conformerMs)
	waitUntil(t, ctx, creator, "the creator claimed its events", func() bool {
		return v.Cursors().Claimed.Load()&layout.CountMask >= matrixEvents
	})
	attacher := start(t, ctx, b.lang+" attacher (producer 1)", b.bin, "produce", "--name", name, "--count", n,
		"--attach", "--producer", "1", "--batch", "3", "--timeout-ms", conformerMs)
	expectExit(t, attacher, 0)
	checkDone(t, c, "c1", 2*matrixEvents, 2, 0)
	checkRegistry(t, creator, map[string]uint64{"c1": 2 * matrixEvents})
	require.Equal(t, layout.ProducerClosed, v.Producer(1).Load().State(), "the attacher's producer entry")
}

// runMultiConcurrent: a creates a multi-producer ring and publishes as producer 0 while b attaches
// and publishes as producer 1 at the same time, contending for the claimed cursor; one consumer
// reads both streams, one event at a time.
func runMultiConcurrent(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	creator := start(t, ctx, a.lang+" creator (producer 0)", a.bin, "produce", "--name", name, "--count", n,
		"--capacity", itoa(matrixCapacity), "--mode", "multi", "--batch", "5", "--wait-consumers", "1",
		"--wait-producers", "1", "--timeout-ms", conformerMs)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", itoa(2*matrixEvents), "--producers", "2", "--timeout-ms", conformerMs)
	attacher := start(t, ctx, b.lang+" attacher (producer 1)", b.bin, "produce", "--name", name, "--count", n,
		"--attach", "--producer", "1", "--batch", "2", "--wait-consumers", "1", "--timeout-ms", conformerMs)
	expectExit(t, attacher, 0)
	checkDone(t, c, "c1", 2*matrixEvents, 2, 0)
	checkRegistry(t, creator, map[string]uint64{"c1": 2 * matrixEvents})
}

// Crash scenario sizes: the attacher publishes crashBefore events, then claims crashClaim more and
// is killed; the creator publishes crashEvents after that claim.
const (
	crashBefore = 10
	crashClaim  = 5
	crashEvents = 500
)

// runCrash: spec 5.8 across processes. A Go creator makes a multi-producer ring and holds back
// its own events (the Go conformer's hidden --wait-claimed) until a Go attacher has published
// crashBefore events as producer 1 and claimed crashClaim more (hidden --hang-after-claim). The
// test kills the attacher with SIGKILL, so sequences crashBefore..crashBefore+crashClaim-1 are
// claimed and will never be published; the creator's events follow them. The consumer under test
// must wait at the first of them, find that their producer is dead, pass them over as gaps and
// read every other event. The test checks the outcome in the segment itself (it keeps a mapping),
// and the done line's optional gaps member where the consumer prints it.
func runCrash(t *testing.T, goImpl, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	creator := start(t, ctx, "go creator (producer 0)", goImpl.bin, "produce", "--name", name,
		"--count", itoa(crashEvents), "--capacity", itoa(matrixCapacity), "--mode", "multi", "--batch", "4",
		"--wait-consumers", "1", "--wait-claimed", itoa(crashBefore+crashClaim), "--wait-producers", "1",
		"--timeout-ms", conformerMs)
	v := watch(t, creator, name)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", itoa(crashBefore+crashEvents), "--producers", "2", "--timeout-ms", conformerMs)
	victim := start(t, ctx, "go attacher (producer 1, killed)", goImpl.bin, "produce", "--name", name,
		"--attach", "--producer", "1", "--count", itoa(crashBefore), "--wait-consumers", "1",
		"--hang-after-claim", itoa(crashClaim), "--timeout-ms", conformerMs)

	waitUntil(t, ctx, victim, "the attacher's claimed line", func() bool { return len(victim.find(t, "claimed")) > 0 })
	claimed := victim.event(t, "claimed")
	seq, _ := num(claimed, "seq")
	count, _ := num(claimed, "count")
	require.Equal(t, uint64(crashBefore), seq, "claimed line %v", claimed)
	require.Equal(t, uint64(crashClaim), count, "claimed line %v", claimed)
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, victim.wait(), "the attacher should die of SIGKILL")

	d := checkDone(t, c, "c1", crashBefore+crashEvents, 2, crashClaim)
	checkRegistry(t, creator, map[string]uint64{"c1": crashBefore + crashClaim + crashEvents})

	require.Equal(t, uint64(crashClaim), v.Header().Gaps.Load(), "header gaps")
	// Spec 5.8: the killed producer's entry stays active, its owner dead and its claim resolved,
	// until an attaching producer retires it (5.4).
	require.Equal(t, layout.ProducerActive, v.Producer(1).Load().State(), "the killed producer's entry")
	require.True(t, liveness.Resolved(v, v.Producer(1)), "the killed producer's claim is resolved")
	var entry *layout.Entry
	for i := 0; i < v.Entries(); i++ {
		if e := v.Entry(i); e.NameString() == "c1" {
			entry = e
		}
	}
	require.NotNil(t, entry, "no registry entry c1")
	require.Equal(t, uint64(crashClaim), entry.GapsSeen.Load(), "c1's gaps_seen")
	if _, present := d["gaps"]; !present {
		t.Logf("the %s consumer's done line has no gaps member (optional): %v", cons.lang, d)
	}
}

// watch maps the segment creator is making, waiting for it (up to 5 seconds, and failing at once
// if the creator exits first), without registering in it, and keeps the mapping (which outlives
// the creator's unlink) until the test ends.
func watch(t *testing.T, creator *proc, name string) *layout.View {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		seg, err := segment.Attach(segment.SharedMemory(name), 20*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { seg.Release() })
			return seg.View()
		}
		if code, done := creator.status(); done {
			require.Failf(t, "no segment", "%s exited with %d before making %s: %v", creator.label, code, name, err)
		}
		require.True(t, time.Now().Before(deadline), "map the segment %s: %v", name, err)
	}
}

// waitUntil polls cond every millisecond; it fails the test if ctx ends or p prints an error
// line first.
func waitUntil(t *testing.T, ctx context.Context, p *proc, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		require.NoError(t, ctx.Err(), "waiting for %s", what)
		require.Empty(t, p.find(t, "error"), "%s failed while waiting for %s", p.label, what)
		time.Sleep(time.Millisecond)
	}
}

// runGolden: the conformer accepts every golden image, writes every scenario byte for byte (after
// masking), and rejects corrupt images with the right error code.
func runGolden(t *testing.T, im *impl) {
	dir := t.TempDir()
	for _, sc := range conformance.Scenarios {
		file := readGolden(t, sc)
		v, err := layout.Open(conformance.Aligned(file))
		require.NoError(t, err, sc)
		h := v.Header()
		t.Run("validate/"+sc, func(t *testing.T) {
			ctx := scenarioContext(t)
			p := start(t, ctx, im.lang+" validate", im.bin, "validate", filepath.Join(goldenDir, sc+".bin"))
			expectExit(t, p, 0)
			l := p.event(t, "valid")
			want := map[string]uint64{"major": uint64(h.VersionMajor), "minor": uint64(h.VersionMinor),
				"capacity": h.Capacity, "slot_size": uint64(h.SlotSize), "registry": uint64(h.RegistryCapacity)}
			for k, w := range want {
				got, ok := num(l, k)
				require.True(t, ok, "valid line %v: no %s", l, k)
				require.Equal(t, w, got, "valid line %v: %s", l, k)
			}
			require.Equal(t, layout.ModeName(h.ProducerMode), l["mode"], "valid line %v: mode", l)
			framed := map[string]uint64{"payload_kind": uint64(h.PayloadKind), "frame_header_len": uint64(h.FrameHeaderLen),
				"max_message": uint64(h.MaxMessage)}
			for k, w := range framed {
				if !v.Framed() {
					require.NotContains(t, l, k, "valid line %v of a fixed ring", l)
					continue
				}
				got, ok := num(l, k)
				require.True(t, ok, "valid line %v: no %s", l, k)
				require.Equal(t, w, got, "valid line %v: %s", l, k)
			}
		})
		t.Run("write/"+sc, func(t *testing.T) {
			ctx := scenarioContext(t)
			out := filepath.Join(dir, sc+".bin")
			p := start(t, ctx, im.lang+" golden", im.bin, "golden", sc, out)
			expectExit(t, p, 0)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			want := append([]byte(nil), file...)
			conformance.Mask(got)
			conformance.Mask(want)
			if !bytes.Equal(got, want) {
				i := firstDiff(got, want)
				require.Failf(t, "image differs", "%s image differs from %s/%s.bin (masked): %d bytes vs %d, first difference at byte %d (%s)",
					im.lang, goldenDir, sc, len(got), len(want), i, describeOffset(v, i))
			}
		})
	}

	for _, tc := range corruptions {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			ctx := scenarioContext(t)
			path := filepath.Join(dir, "corrupt-"+tc.name+".bin")
			require.NoError(t, os.WriteFile(path, tc.mutate(readGolden(t, tc.scenario)), 0o644))
			p := start(t, ctx, im.lang+" validate", im.bin, "validate", path)
			expectExit(t, p, 3)
			l := p.event(t, "error")
			require.Equal(t, tc.code, l["code"], "error line %v", l)
		})
	}
}

// describeOffset names the structure that holds byte i of an image laid out as v.
func describeOffset(v *layout.View, i int) string {
	h := v.Header()
	off := uint64(i)
	regions := []struct {
		name string
		r    layout.Region
	}{{"cursors", h.Cursors}, {"wait", h.Wait}, {"registry", h.Registry}, {"producers", h.Producers},
		{"availability", h.Availability}, {"slots", h.Slots}}
	if off < uint64(h.HeaderLen) {
		return fmt.Sprintf("header byte %d", off)
	}
	for _, r := range regions {
		if off >= r.r.Offset && off < r.r.End() {
			return fmt.Sprintf("%s region byte %d", r.name, off-r.r.Offset)
		}
	}
	return "padding"
}

// runNaming: `name LABEL` prints exactly the name naming/testdata/portable.tsv gives.
func runNaming(t *testing.T, im *impl) {
	raw, err := os.ReadFile(filepath.Join("..", "naming", "testdata", "portable.tsv"))
	require.NoError(t, err)
	rows := 0
	for _, row := range strings.Split(string(raw), "\n") {
		if row == "" || strings.HasPrefix(row, "#") {
			continue
		}
		label, want, ok := strings.Cut(row, "\t")
		require.True(t, ok, "portable.tsv row %q has no tab", row)
		rows++
		ctx := scenarioContext(t)
		p := start(t, ctx, im.lang+" name", im.bin, "name", label)
		expectExit(t, p, 0)
		require.Equal(t, want+"\n", p.out.String(), "name %q", label)
	}
	require.NotZero(t, rows, "portable.tsv has no vectors")
}
