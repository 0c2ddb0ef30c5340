package conformance_test

// The cross-language suite: it builds every conformer it can find and runs, through real
// processes speaking conformance/PROTOCOL.md,
//
//   - <prod>-><cons>/spsc          every producer against every consumer;
//   - <prod>->all/broadcast        one producer, a Go, a C and a Rust consumer at once;
//   - multi/<a>+<b>-><cons>/...    a multi-producer ring created by a, joined by b, both
//                                  publishing one after the other (sequential) and at once
//                                  (concurrent);
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringwire/ringwire/conformance"
	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/layout"
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
	if err != nil {
		t.Fatal(err)
	}
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
	if out, err := runBuild(src, env, cargo, "build", "--release", "--bin", "ringwire-conformer"); err != nil {
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

// segCounter makes segment names unique within this test process.
var segCounter atomic.Uint64

// segName returns a fresh segment name and removes the segment when the test ends, pass or fail.
func segName(t *testing.T) string {
	name := fmt.Sprintf("/rw-conf-t-%d-%d", os.Getpid(), segCounter.Add(1))
	t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", name[1:])) })
	return name
}

// proc is one running conformer.
type proc struct {
	label    string
	cmd      *exec.Cmd
	out, err bytes.Buffer
	code     int
	waited   bool
}

// start runs a conformer under ctx; its output is logged if the test fails.
func start(t *testing.T, ctx context.Context, label, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{label: label}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	t.Cleanup(func() {
		if !p.waited {
			p.cmd.Process.Kill()
			p.wait()
		}
		if t.Failed() {
			t.Logf("%s: %s %s\nexit %d\nstdout:\n%s\nstderr:\n%s", p.label, bin, strings.Join(args, " "),
				p.code, p.out.String(), p.err.String())
		}
	})
	return p
}

// wait waits for the process and returns its exit code (-1 if it did not exit normally).
func (p *proc) wait() int {
	if p.waited {
		return p.code
	}
	p.waited = true
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
	return p.code
}

// line is one JSON output line.
type line map[string]any

// lines parses the process's standard output; a line that is not a JSON object fails the test.
func (p *proc) lines(t *testing.T) []line {
	t.Helper()
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(p.out.Bytes()))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("%s: output line %q is not a JSON object: %v", p.label, sc.Text(), err)
			continue
		}
		if _, ok := l["event"].(string); !ok {
			t.Errorf("%s: output line %q has no \"event\" member", p.label, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

// event returns the process's only line of the given event, failing the test if there is not
// exactly one.
func (p *proc) event(t *testing.T, event string) line {
	t.Helper()
	var found []line
	for _, l := range p.lines(t) {
		if l["event"] == event {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d %q lines, want 1", p.label, len(found), event)
	}
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
	if got := p.wait(); got != code {
		t.Errorf("%s exited %d, want %d", p.label, got, code)
	}
}

// checkDone checks a consumer's done line.
func checkDone(t *testing.T, p *proc, name string, count, producers uint64) {
	t.Helper()
	expectExit(t, p, 0)
	d := p.event(t, "done")
	r, _ := num(d, "received")
	k, _ := num(d, "producers")
	if d["consumer"] != name || r != count || k != producers || d["ok"] != true {
		t.Errorf("%s: done line %v, want consumer %q received %d producers %d ok true", p.label, d, name, count, producers)
	}
}

// checkRegistry checks the creating producer's registry line: exactly the entries in want (name ->
// cursor), all closed; names in ignore may also appear, closed, with any cursor. With reused, an
// entry of want may be missing because a later registration took it over once it was closed.
func checkRegistry(t *testing.T, p *proc, want map[string]uint64, reused bool, ignore ...string) {
	t.Helper()
	expectExit(t, p, 0)
	r := p.event(t, "registry")
	entries, ok := r["entries"].([]any)
	if !ok {
		t.Fatalf("%s: registry line %v has no entries array", p.label, r)
	}
	seen := map[string]bool{}
	last := -1
	for _, raw := range entries {
		e, _ := raw.(map[string]any)
		name, _ := e["name"].(string)
		idx, _ := num(e, "index")
		cur, _ := num(e, "cursor")
		if int(idx) <= last {
			t.Errorf("%s: registry entries not in index order: %v", p.label, entries)
		}
		last = int(idx)
		if e["state"] != "closed" {
			t.Errorf("%s: entry %v is not closed", p.label, e)
		}
		if want, ok := want[name]; ok {
			if cur != want {
				t.Errorf("%s: entry %q cursor %d, want %d", p.label, name, cur, want)
			}
			seen[name] = true
		} else if !contains(ignore, name) {
			t.Errorf("%s: unexpected registry entry %v", p.label, e)
		}
	}
	for name := range want {
		if !seen[name] && !reused {
			t.Errorf("%s: registry has no entry %q: %v", p.label, name, entries)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
	checkDone(t, c, "c1", matrixEvents, 1)
	checkRegistry(t, p, map[string]uint64{"c1": matrixEvents}, false)
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
		checkDone(t, c, "c"+itoa(uint64(i+1)), matrixEvents, 1)
	}
	checkRegistry(t, p, want, false)
}

// The multi-producer scenarios need care. PROTOCOL.md has the creator store producer_state = 2
// once its own events are out, and a consumer that has read everything published then ends the
// stream; nothing in the protocol makes the creator wait for the producers that attached. So the
// creator must not finish publishing before the others have. The test orders them through the
// creator's --wait-consumers 2 while the other producers wait for 1: the consumer under test
// releases those, and once they have exited the test registers an optional consumer of its own,
// "gate" entries, which release the creator (see openGate).

// runMultiSequential: a creates a multi-producer ring and publishes as producer 0, b attaches and
// publishes as producer 1, and one consumer reads both streams. b publishes first, then a.
func runMultiSequential(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	creator := start(t, ctx, a.lang+" creator (producer 0)", a.bin, "produce", "--name", name, "--count", n,
		"--capacity", itoa(matrixCapacity), "--mode", "multi", "--batch", "8", "--wait-consumers", "2",
		"--timeout-ms", conformerMs)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", itoa(2*matrixEvents), "--producers", "2", "--batch", "--timeout-ms", conformerMs)
	attacher := start(t, ctx, b.lang+" attacher (producer 1)", b.bin, "produce", "--name", name, "--count", n,
		"--attach", "--producer", "1", "--batch", "3", "--wait-consumers", "1", "--timeout-ms", conformerMs)
	expectExit(t, attacher, 0)
	if t.Failed() {
		return
	}
	// The creator has published once claimed passes what the attacher published.
	// The consumer is still active (it waits for the creator's events): one gate makes two.
	openGate(ctx, t, name, creator, 1, func(v *layout.View) bool { return v.Cursors().Claimed.Load() > matrixEvents })
	checkDone(t, c, "c1", 2*matrixEvents, 2)
	checkRegistry(t, creator, map[string]uint64{"c1": 2 * matrixEvents}, false, "gate1")
}

// runMultiConcurrent: a creates a multi-producer ring and publishes nothing; a (producer 0) and b
// (producer 1) attach and publish at the same time, contending for the claimed cursor; one
// consumer reads both streams.
func runMultiConcurrent(t *testing.T, a, b, cons *impl) {
	ctx, name := scenarioContext(t), segName(t)
	n := itoa(matrixEvents)
	creator := start(t, ctx, a.lang+" creator", a.bin, "produce", "--name", name, "--count", "0",
		"--capacity", itoa(matrixCapacity), "--mode", "multi", "--wait-consumers", "2", "--timeout-ms", conformerMs)
	c := start(t, ctx, cons.lang+" consumer", cons.bin, "consume", "--name", name, "--consumer", "c1",
		"--count", itoa(2*matrixEvents), "--producers", "2", "--timeout-ms", conformerMs)
	p0 := start(t, ctx, a.lang+" attacher (producer 0)", a.bin, "produce", "--name", name, "--count", n,
		"--attach", "--producer", "0", "--batch", "5", "--wait-consumers", "1", "--timeout-ms", conformerMs)
	p1 := start(t, ctx, b.lang+" attacher (producer 1)", b.bin, "produce", "--name", name, "--count", n,
		"--attach", "--producer", "1", "--batch", "2", "--wait-consumers", "1", "--timeout-ms", conformerMs)
	expectExit(t, p0, 0)
	expectExit(t, p1, 0)
	if t.Failed() {
		return
	}
	// The consumer may already have read everything and left, so two gates make two. The creator
	// has nothing to publish: it closes as soon as it sees them.
	openGate(ctx, t, name, creator, 2, func(v *layout.View) bool {
		return v.Header().ProducerState.Load() == layout.ProducerClosed
	})
	checkDone(t, c, "c1", 2*matrixEvents, 2)
	// When the consumer finished before the gates came, a gate may have reused its closed entry.
	checkRegistry(t, creator, map[string]uint64{"c1": 2 * matrixEvents}, true, "gate1", "gate2")
}

// openGate registers gates optional consumers of its own ("gate1", ...), which make the creator's
// --wait-consumers 2 hold, keeps them until passed reports that the creator is past its wait (or
// the creator exited, or ctx ended), then deregisters them. It waits for the creator to exit.
func openGate(ctx context.Context, t *testing.T, name string, creator *proc, gates int, passed func(*layout.View) bool) {
	t.Helper()
	var open []*consumer.Consumer[conformance.Event]
	defer func() {
		for _, g := range open {
			if err := g.Close(); err != nil {
				t.Errorf("close a gate consumer: %v", err)
			}
		}
	}()
	for i := 1; i <= gates; i++ {
		g, err := consumer.Attach[conformance.Event](segment.SharedMemory(name), consumer.Options{
			Name: "gate" + strconv.Itoa(i), Optional: true, Start: consumer.StartLatest,
			TypeName: conformance.TypeName, AttachTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatalf("register a gate consumer: %v", err)
		}
		open = append(open, g)
	}
	v := open[0].Segment().View()
	exited := make(chan struct{})
	go func() { creator.wait(); close(exited) }() // creator.wait is called from here only, until exited
wait:
	for !passed(v) {
		select {
		case <-exited:
			break wait
		case <-ctx.Done():
			break wait
		case <-time.After(time.Millisecond):
		}
	}
	for _, g := range open {
		if err := g.Close(); err != nil {
			t.Errorf("close a gate consumer: %v", err)
		}
	}
	open = nil
	<-exited
}

// runGolden: the conformer accepts every golden image, writes every scenario byte for byte (after
// masking), and rejects corrupt images with the right error code.
func runGolden(t *testing.T, im *impl) {
	dir := t.TempDir()
	for _, sc := range conformance.Scenarios {
		file := readGolden(t, sc)
		v, err := layout.Open(conformance.Aligned(file))
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		h := v.Header()
		t.Run("validate/"+sc, func(t *testing.T) {
			ctx := scenarioContext(t)
			p := start(t, ctx, im.lang+" validate", im.bin, "validate", filepath.Join(goldenDir, sc+".bin"))
			expectExit(t, p, 0)
			l := p.event(t, "valid")
			want := map[string]uint64{"major": uint64(h.VersionMajor), "minor": uint64(h.VersionMinor),
				"capacity": h.Capacity, "slot_size": uint64(h.SlotSize), "registry": uint64(h.RegistryCapacity)}
			for k, w := range want {
				if got, ok := num(l, k); !ok || got != w {
					t.Errorf("valid line %v: %s should be %d", l, k, w)
				}
			}
			if l["mode"] != layout.ModeName(h.ProducerMode) {
				t.Errorf("valid line %v: mode should be %q", l, layout.ModeName(h.ProducerMode))
			}
		})
		t.Run("write/"+sc, func(t *testing.T) {
			ctx := scenarioContext(t)
			out := filepath.Join(dir, sc+".bin")
			p := start(t, ctx, im.lang+" golden", im.bin, "golden", sc, out)
			expectExit(t, p, 0)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte(nil), file...)
			conformance.Mask(got)
			conformance.Mask(want)
			if !bytes.Equal(got, want) {
				i := firstDiff(got, want)
				t.Errorf("%s image differs from %s/%s.bin (masked): %d bytes vs %d, first difference at byte %d (%s)",
					im.lang, goldenDir, sc, len(got), len(want), i, describeOffset(v, i))
			}
		})
	}

	empty := readGolden(t, "empty")
	corrupt := []struct {
		name, code string
		mutate     func([]byte) []byte
	}{
		{"too_small", "too_small", func(b []byte) []byte { return b[:100] }},
		{"initializing", "initializing", func(b []byte) []byte { b[8] = 0; return b }},
		{"bad_magic", "bad_magic", func(b []byte) []byte { b[0] ^= 0xff; return b }},
		{"bad_state", "bad_state", func(b []byte) []byte { b[8] = 7; return b }},
		{"version", "version", func(b []byte) []byte { b[12] = 2; return b }},
		{"truncated", "truncated", func(b []byte) []byte { return b[:len(b)-layout.BlockSize] }},
		{"capacity", "capacity", func(b []byte) []byte { b[32] = 3; return b }},
		{"slot_geometry", "slot_geometry", func(b []byte) []byte { b[40] = 72; return b }},
		{"producer_mode", "producer_mode", func(b []byte) []byte { b[20] = 3; return b }},
		{"registry", "registry", func(b []byte) []byte { b[48] = 0; return b }},
		{"region", "region", func(b []byte) []byte { b[96] = 0x40; return b }}, // cursors at 576, not a multiple of 128
	}
	for _, tc := range corrupt {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			ctx := scenarioContext(t)
			path := filepath.Join(dir, "corrupt-"+tc.name+".bin")
			if err := os.WriteFile(path, tc.mutate(append([]byte(nil), empty...)), 0o644); err != nil {
				t.Fatal(err)
			}
			p := start(t, ctx, im.lang+" validate", im.bin, "validate", path)
			expectExit(t, p, 3)
			if l := p.event(t, "error"); l["code"] != tc.code {
				t.Errorf("error line %v, want code %q", l, tc.code)
			}
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
	}{{"cursors", h.Cursors}, {"wait", h.Wait}, {"registry", h.Registry}, {"availability", h.Availability}, {"slots", h.Slots}}
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
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, row := range strings.Split(string(raw), "\n") {
		if row == "" || strings.HasPrefix(row, "#") {
			continue
		}
		label, want, ok := strings.Cut(row, "\t")
		if !ok {
			t.Fatalf("portable.tsv row %q has no tab", row)
		}
		rows++
		ctx := scenarioContext(t)
		p := start(t, ctx, im.lang+" name", im.bin, "name", label)
		expectExit(t, p, 0)
		if got := p.out.String(); got != want+"\n" {
			t.Errorf("name %q printed %q, want %q", label, got, want+"\n")
		}
	}
	if rows == 0 {
		t.Fatal("portable.tsv has no vectors")
	}
}
