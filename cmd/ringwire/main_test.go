package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	childproc "github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestMain: started in the role "ringwire" (internal/child), the test binary is the ringwire
// command. The demo re-executes its own binary for its producer and consumers, so in these tests
// the children are this test binary too, and inherit the role. A run fails if it leaves a
// segment behind.
func TestMain(m *testing.M) {
	childproc.Register("ringwire", func(args []string) int { return run(args, os.Stdout, os.Stderr) })
	childproc.Dispatch()
	os.Exit(testseg.Main(m))
}

// cmdPrefix is the prefix of every testName of this process.
func cmdPrefix() string { return testseg.Prefix() + "cmd-" }

// testName returns a segment name unique to this test process (cmdPrefix()+label) and removes the
// segment when the test ends, whatever happened.
func testName(t *testing.T, label string) string {
	t.Helper()
	name := cmdPrefix() + label
	t.Cleanup(func() {
		if err := segment.Remove(segment.SharedMemory(name)); err != nil && !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("remove %s: %v", name, err)
		}
	})
	return name
}

// command returns the test binary set up to run as "ringwire args...".
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd, err := childproc.Command(ctx, "ringwire", childproc.Options{Args: args})
	if err != nil {
		panic(err) // the role is registered in TestMain
	}
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run: %v", err)
	return -1
}

func shmExists(name string) bool {
	_, err := os.Stat("/dev/shm" + name)
	return err == nil
}

// The demo's consumers use blocking waits in these tests, so that a run never has more than its
// producer and one consumer busy on the test machine's two cores; the default yield waits are
// exercised by running "ringwire demo" itself.
func TestDemo_SmallRun_EveryConsumerReceivesEveryEvent(t *testing.T) {
	name := testName(t, "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := command(ctx, "demo", "-n", "1000000", "-batch", "100", "-capacity", "1024",
		"-wait", "blocking", "-progress", "20ms", "-name", name).CombinedOutput()
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("demo exited with %d:\n%s", code, out)
	}
	for _, want := range []string{
		"producer: published 1,000,000 events",
		"consumer-1: OK: received all 1,000,000 events in order (sequences 0 to 999999), every checksum valid",
		"consumer-2: OK: received all 1,000,000 events in order (sequences 0 to 999999), every checksum valid",
		"segment " + name + " removed",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "FAIL") {
		t.Errorf("output reports a failure:\n%s", out)
	}
	if shmExists(name) {
		t.Errorf("%s still exists after the demo", name)
	}
}

// startDemo starts a long demo and returns it with a scanner over its combined output, once it
// has printed its first progress line.
func startDemo(t *testing.T, name string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := command(ctx, "demo", "-n", "4000000000", "-wait", "blocking", "-progress", "20ms", "-name", name)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { r.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(r)
	var log bytes.Buffer
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "published") && strings.Contains(sc.Text(), "consumer-2") {
			return cmd, sc, &log
		}
	}
	t.Fatalf("the demo ended before printing progress:\n%s", log.String())
	return nil, nil, nil
}

// finishDemo reads the rest of the output and waits for the demo to exit.
func finishDemo(t *testing.T, cmd *exec.Cmd, sc *bufio.Scanner, log *bytes.Buffer) int {
	t.Helper()
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	return exitCode(t, cmd.Wait())
}

// childPIDs returns the pids the demo printed for its producer and consumers.
func childPIDs(t *testing.T, out string) []int {
	t.Helper()
	var pids []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "pid" {
			if pid, err := strconv.Atoi(f[2]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) != 3 {
		t.Fatalf("found pids %v in the output, want 3:\n%s", pids, out)
	}
	return pids
}

func requireGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("demo child %d still exists (kill 0: %v)", pid, err)
		}
	}
}

func TestDemo_Interrupted_KillsChildrenAndRemovesSegment(t *testing.T) {
	name := testName(t, "int")
	cmd, sc, log := startDemo(t, name)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := finishDemo(t, cmd, sc, log)
	if code != exitInterrupted {
		t.Errorf("exit code %d, want %d:\n%s", code, exitInterrupted, log)
	}
	if !strings.Contains(log.String(), "segment "+name+" removed") {
		t.Errorf("output does not say the segment was removed:\n%s", log)
	}
	if shmExists(name) {
		t.Errorf("%s still exists after the interrupted demo", name)
	}
	requireGone(t, childPIDs(t, log.String()))
}

func TestDemo_ConsumerKilled_FailsAndRemovesSegment(t *testing.T) {
	name := testName(t, "kill")
	cmd, sc, log := startDemo(t, name)
	pids := childPIDs(t, log.String())
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil { // consumer-2
		t.Fatal(err)
	}
	code := finishDemo(t, cmd, sc, log)
	if code != exitFailure {
		t.Errorf("exit code %d, want %d:\n%s", code, exitFailure, log)
	}
	if !strings.Contains(log.String(), "consumer-2 failed") {
		t.Errorf("output does not name the failed consumer:\n%s", log)
	}
	if shmExists(name) {
		t.Errorf("%s still exists after the failed demo", name)
	}
	requireGone(t, pids)
}

// runHere runs the command in this process and returns its exit code, stdout and stderr.
func runHere(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestInspect_Segment_ShowsConsumer(t *testing.T) {
	name := testName(t, "insp")
	p, err := producer.Create[Event](segment.SharedMemory(name), producer.Options{Capacity: 64, Wait: coordination.Blocking()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := consumer.Attach[Event](segment.SharedMemory(name), consumer.Options{
		Name: "inspect-probe", Start: consumer.StartOldest, Wait: coordination.Blocking(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := p.PublishBatch(10, func(i int, ev *Event) { ev.fill(uint64(i)) }); err != nil {
		t.Fatal(err)
	}
	n, err := c.Process(func(*Event, uint64, bool) error { return nil }, 4)
	if err != nil || n != 4 {
		t.Fatalf("Process: %d events, %v", n, err)
	}

	code, out, errOut := runHere("inspect", name)
	if code != exitOK {
		t.Fatalf("inspect exited with %d: %s", code, errOut)
	}
	for _, want := range []string{"shm:" + name, "single producer", "64 slots of 64 bytes",
		`"main.Event", fingerprint 0x8463538f676797d7`, "published    10", "claimed      10",
		"1 of 16 entries used, 1 active"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "inspect-probe") {
			row = strings.Fields(line)
		}
	}
	// IDX NAME STATE KIND PID (alive) CURSOR LAG HEARTBEAT ago LOST GAPS
	want := []string{"0", "inspect-probe", "active", "required", strconv.Itoa(os.Getpid()), "(alive)", "4", "6"}
	if len(row) != 12 || !equal(row[:8], want) || row[10] != "0" || row[11] != "0" {
		t.Errorf("registry row %q, want %q followed by a heartbeat age, lost 0 and gaps 0:\n%s", row, want, out)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInspect_Errors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte{0xa5}, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("RINGWIRE"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := cmdPrefix() + "missing"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not found", []string{"inspect", missing}, exitFailure, missing + ": " + segment.ErrNotFound.Error()},
		{"not found without slash", []string{"inspect", missing[1:]}, exitFailure, missing + ": " + segment.ErrNotFound.Error()},
		{"missing file", []string{"inspect", "--file", filepath.Join(dir, "none")}, exitFailure, segment.ErrNotFound.Error()},
		{"bad magic", []string{"inspect", "--file", junk}, exitFailure, layout.ErrBadMagic.Error()},
		{"too small", []string{"inspect", "--file", short}, exitFailure, layout.ErrTooSmall.Error()},
		{"bad name", []string{"inspect", "/a/b"}, exitFailure, segment.ErrBadName.Error()},
		{"no name", []string{"inspect"}, exitUsage, "usage: ringwire inspect"},
		{"name and file", []string{"inspect", "--file", junk, "/x"}, exitUsage, "usage: ringwire inspect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runHere(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

func TestList_Prefix_FindsSegment(t *testing.T) {
	name := testName(t, "list")
	p, err := producer.Create[Event](segment.SharedMemory(name), producer.Options{Capacity: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.PublishBatch(3, func(i int, ev *Event) { ev.fill(uint64(i)) }); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runHere("list", name)
	if code != exitOK {
		t.Fatalf("list exited with %d: %s", code, errOut)
	}
	want := []string{name, strconv.Itoa(os.Getpid()), "(alive)", "single", "128", "3", "open", "-", "no"}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			row = f
		}
	}
	if !equal(row, want) {
		t.Errorf("row %q, want %q:\n%s", row, want, out)
	}

	code, out, _ = runHere("list", cmdPrefix()+"no-such-prefix-")
	if code != exitOK || !strings.Contains(out, "no ringwire segments") {
		t.Errorf("list of an unused prefix: exit %d, output %q", code, out)
	}
}

func TestEvent_Fingerprint_IsTheConformanceEvent(t *testing.T) {
	et, err := layout.TypeOf[Event]()
	if err != nil {
		t.Fatal(err)
	}
	if et.Size != eventSize || et.Fingerprint != 0x8463538f676797d7 {
		t.Errorf("Event is %d bytes, fingerprint %#x (%s); want %d bytes, 0x8463538f676797d7",
			et.Size, et.Fingerprint, et.Descriptor, eventSize)
	}
}

func TestEvent_Checksum_DetectsChanges(t *testing.T) {
	var ev Event
	ev.fill(42)
	if !ev.valid() {
		t.Fatal("a filled event is not valid")
	}
	for i := range 64 {
		bad := ev
		b := (*[64]byte)(unsafe.Pointer(&bad))
		if i >= 16 && i < 24 {
			continue // the checksum itself
		}
		b[i] ^= 1
		if bad.valid() {
			t.Errorf("flipping a bit of byte %d went unnoticed", i)
		}
	}
}

func TestCheckConsumer(t *testing.T) {
	tests := []struct {
		name string
		r    consumerReport
		want string // substring of the problem; "" for none
	}{
		{"complete", consumerReport{Received: 5, First: 0, Last: 4}, ""},
		{"nothing published", consumerReport{}, ""},
		{"short", consumerReport{Received: 4, First: 0, Last: 3}, "received 4 events, the producer published 5"},
		{"late start", consumerReport{Received: 5, First: 1, Last: 5}, "sequences 1 to 5"},
		{"disorder", consumerReport{Received: 5, Last: 4, OutOfOrder: 1, FirstError: "x"}, "1 events out of order"},
		{"checksum", consumerReport{Received: 5, Last: 4, BadChecksum: 2, FirstError: "x"}, "2 with bad checksums"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			published := uint64(5)
			if tt.name == "nothing published" {
				published = 0
			}
			got := checkConsumer(tt.r, published)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkConsumer = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGroup(t *testing.T) {
	for v, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 20_000_000: "20,000,000", 123456789012: "123,456,789,012"} {
		if got := group(v); got != want {
			t.Errorf("group(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestClean_RemovesOnlyStale gives one segment a creator that really died (a killed child) and
// leaves another with a live creator: clean removes the first only.
func TestClean_RemovesOnlyStale(t *testing.T) {
	live := testName(t, "clean-live")
	p, err := producer.Create[Event](segment.SharedMemory(live), producer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	stale := testName(t, "clean-stale")
	q, err := producer.Create[Event](segment.SharedMemory(stale), producer.Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("sleep", "10")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	h := q.Segment().View().Header()
	h.CreatorPID, h.CreatorStartTime = uint32(dead.Process.Pid), 0
	q.Segment().View().Producer(0).Owner.Store(uint64(layout.MakeOwner(uint32(dead.Process.Pid), 0)))
	dead.Process.Kill()
	dead.Wait()
	q.Close() // Keep: the name stays, as after a crash

	code, out, errOut := runHere("clean", "--dry-run", cmdPrefix()+"clean")
	if code != exitOK || !strings.Contains(out, "would remove "+stale) || strings.Contains(out, live) {
		t.Fatalf("dry run: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat("/dev/shm" + stale); err != nil {
		t.Fatal("a dry run removed the segment")
	}
	code, out, errOut = runHere("clean", cmdPrefix()+"clean")
	if code != exitOK || !strings.Contains(out, "removed "+stale) {
		t.Fatalf("clean: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat("/dev/shm" + stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("the stale segment is still there")
	}
	if _, err := os.Stat("/dev/shm" + live); err != nil {
		t.Error("clean removed a live segment")
	}
}

func TestInspect_Prefix_DescribesEverySegment(t *testing.T) {
	var names []string
	for _, n := range []string{"disc-a", "disc-b"} {
		name := testName(t, n)
		p, err := producer.Create[Event](segment.SharedMemory(name), producer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		c, err := consumer.Attach[Event](segment.SharedMemory(name), consumer.Options{Name: "reader-" + n})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		names = append(names, name)
	}
	code, out, errOut := runHere("inspect", "--prefix", cmdPrefix()+"disc-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"shm:" + names[0], "shm:" + names[1], "reader-disc-a", "reader-disc-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
