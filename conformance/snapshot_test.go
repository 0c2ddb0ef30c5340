package conformance_test

// snapshot/<lang>/<case>: Go puts a real segment in known states, the C and the Rust conformer each
// print its snapshot (`snapshot --name`), and their JSON must be Go's segment.Stat snapshot
// marshalled by Go: the same field names, and the same value in every field except those that are
// per reading, and frames.invalid, whose presence only is compared.

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// perReading are the members whose value depends on the instant of the reading, at every level
// of the object: they must be present but may differ.
var perReading = map[string]bool{
	"taken_at": true, "monotonic_ns": true, "producer_heartbeat_age_ns": true, "heartbeat_age_ns": true,
}

// presenceOnly are the members, by path, that must be present exactly where Go's are, each a
// non-empty string, whatever its text: frames.invalid says why a framed ring's geometry fails
// check 14 of spec 5.2 in each implementation's own words.
var presenceOnly = map[string]bool{".frames.invalid": true}

// self and killedOwner are testseg.SelfOwner and KilledOwner: this process, and a peer killed with SIGKILL.
var (
	self        = testseg.SelfOwner
	killedOwner = testseg.KilledOwner
)

// createRing creates the segment at b (released when the test ends; testseg removes its name).
func createRing(t *testing.T, b segment.Backing, mode uint32, producers uint32) *layout.View {
	t.Helper()
	et, err := layout.TypeOf[[32]byte]()
	require.NoError(t, err)
	seg, err := segment.Create(b, layout.Config{Capacity: 16, RegistryCapacity: 4, Mode: mode,
		Producers: producers, Event: et}, segment.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = seg.Release() })
	return seg.View()
}

// consumers puts a required consumer (entry 0) and an optional one after it (entry 2, its name of
// quotes, a backslash, control and non-UTF-8 bytes, its owner dead) in known states, and entry 3
// closed.
func consumers(t *testing.T, v *layout.View, dead layout.OwnerID) {
	t.Helper()
	me := self(t)
	e := v.Entry(0)
	require.True(t, e.SetName("audit"))
	e.Flags = layout.FlagRequired
	e.Owner.Store(uint64(me))
	e.Cursor.Store(4)
	e.HeartbeatNs.Store(sys.Monotonic())
	e.Lost.Store(0)
	e.GapsSeen.Store(1)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 7)))
	e = v.Entry(2)
	require.True(t, e.SetName("q\"\\\x01\x7f\t<&>\xe2\x82z\xff\xc3\xa9"))
	e.Flags = layout.FlagStarting
	e.Owner.Store(uint64(dead))
	e.DependsOn.Store(1<<0 | 1<<3)
	e.Cursor.Store(2)
	e.Lost.Store(3)
	e.GapsSeen.Store(2)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 2)))
	e = v.Entry(3)
	require.True(t, e.SetName("gone"))
	e.Cursor.Store(1)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryClosed, 3)))
}

func TestSnapshot_Conformers_MatchGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the C and Rust conformers; not in -short")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	var (
		conformers = make([]*impl, 2)
		wg         sync.WaitGroup
	)
	for i, build := range []func(string) *impl{buildC, buildRust} {
		wg.Add(1)
		go func() { defer wg.Done(); conformers[i] = build(root) }()
	}
	wg.Wait()

	cases := []struct {
		name  string
		build func(t *testing.T, b segment.Backing)
	}{
		{"single", func(t *testing.T, b segment.Backing) {
			v := createRing(t, b, layout.SingleProducer, 1)
			consumers(t, v, killedOwner(t))
			v.Cursors().Claimed.Store(6)
			v.Cursors().Published.Store(5)
			v.Header().Gaps.Store(1)
			v.Header().ConsumerBlockers.Store(2)
		}},
		{"multi-dead-producer", func(t *testing.T, b segment.Backing) {
			v := createRing(t, b, layout.MultiProducer, 4)
			dead := killedOwner(t)
			p := v.Producer(1) // died mid-claim, not yet retired
			p.Owner.Store(uint64(dead))
			p.HeartbeatNs.Store(sys.Monotonic() - uint64(time.Second))
			p.IntentStart.Store(5)
			p.IntentEnd.Store(9)
			p.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 3)))
			p = v.Producer(2) // left
			p.IntentStart.Store(4)
			p.StateGen.Store(uint32(layout.MakeState(layout.ProducerClosed, 1)))
			consumers(t, v, dead)
			v.Cursors().Claimed.Store(10)
			v.Header().ProducerBlockers.Store(1)
		}},
		{"closed-multi", func(t *testing.T, b segment.Backing) {
			p, err := producer.Create[[32]byte](b, producer.Options{Mode: producer.Multi, Capacity: 16, Keep: true})
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, p.Publish(func(ev *[32]byte) { ev[0] = byte(i) }))
			}
			require.NoError(t, p.Close())
		}},
		{"framed", func(t *testing.T, b segment.Backing) {
			framedRing(t, b)
			s, err := segment.Stat(b)
			require.NoError(t, err)
			require.Equal(t, &segment.FramesInfo{HeaderLen: 16, MaxMessage: 2*64 - 16}, s.Frames)
		}},
		{"framed-bad-geometry", func(t *testing.T, b segment.Backing) {
			// max_message past an eighth of the ring: checks 1 to 12 pass, check 14 does not.
			p := framedRing(t, b)
			p.Segment().View().Header().MaxMessage = 2*64 - 16 + 1
			s, err := segment.Stat(b)
			require.NoError(t, err)
			require.NotNil(t, s.Frames)
			require.NotEmpty(t, s.Frames.Invalid)
		}},
		{"poisoned", func(t *testing.T, b segment.Backing) {
			v := createRing(t, b, layout.SingleProducer, 1)
			consumers(t, v, killedOwner(t))
			v.Cursors().Claimed.Store(3)
			v.Cursors().Published.Store(2)
			require.True(t, v.Poison(layout.Poison{Phase: layout.PhaseHandler, Seq: 2, PID: 42, Stage: 2,
				Message: "fill \"panicked\"\n\xff"}))
		}},
	}
	for _, im := range conformers {
		for _, tc := range cases {
			t.Run("snapshot/"+im.lang+"/"+tc.name, func(t *testing.T) {
				need(t, im)
				name := segName(t)
				b := segment.SharedMemory(name)
				tc.build(t, b)

				cmd := exec.Command(im.bin, "snapshot", "--name", name)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				require.NoError(t, err, "%s snapshot: %s\n%s", im.lang, out, stderr.String())
				require.Equal(t, 1, bytes.Count(out, []byte("\n")), "one line: %s", out)
				s, err := segment.Stat(b)
				require.NoError(t, err)
				goJSON, err := json.Marshal(s)
				require.NoError(t, err)

				got, want := decode(t, out), decode(t, goJSON)
				compareJSON(t, "", want, got)
			})
		}
	}
}

// framedRing creates a framed multi-producer ring at b (16 slots of 64 bytes) with a required
// framed consumer that read the first of three messages (of 1, 2 and 1 slots), both still
// registered (closed when the test ends).
func framedRing(t *testing.T, b segment.Backing) *producer.Framed {
	t.Helper()
	p, err := producer.CreateFramed(b, producer.FramedOptions{
		Options: producer.Options{Mode: producer.Multi, Capacity: 16}, SlotSize: 64})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	c, err := consumer.RegisterFramed(p.Segment(), consumer.Options{Name: "framed-reader"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	for i, n := range []int{20, 100, 7} {
		require.NoError(t, p.Publish(bytes.Repeat([]byte{byte(i)}, n)))
	}
	n, err := c.Process(func([]byte, uint64, bool) error { return nil }, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	return p
}

// decode reads one JSON object, numbers as json.Number so that 64-bit values compare exactly.
func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m), "%s", raw)
	return m
}

// compareJSON requires got to have exactly want's members, at every level, with equal values
// except the per-reading ones and the presence-only ones (a non-empty string will do); times
// compare as instants (Go writes its local offset, C and Rust UTC).
func compareJSON(t *testing.T, path string, want, got map[string]any) {
	t.Helper()
	require.Equal(t, keys(want), keys(got), "%s: member names", path)
	for k, w := range want {
		g, at := got[k], path+"."+k
		switch {
		case perReading[k]:
		case presenceOnly[at]:
			text, ok := g.(string)
			require.True(t, ok && text != "", "%s: go %q, got %v", at, w, g)
		case k == "created_at":
			wt, err := time.Parse(time.RFC3339Nano, w.(string))
			require.NoError(t, err, at)
			gt, err := time.Parse(time.RFC3339Nano, g.(string))
			require.NoError(t, err, "%s: %v", at, g)
			require.True(t, wt.Equal(gt), "%s: go %v, got %v", at, w, g)
		default:
			wa, isArray := w.([]any)
			ga, _ := g.([]any)
			wo, isObject := w.(map[string]any)
			goo, _ := g.(map[string]any)
			switch {
			case isArray && len(wa) > 0 && isObjectValue(wa[0]):
				require.Len(t, ga, len(wa), "%s: go %v, got %v", at, w, g)
				for i := range wa {
					compareJSON(t, at+"["+itoa(uint64(i))+"]", wa[i].(map[string]any), ga[i].(map[string]any))
				}
			case isObject:
				require.NotNil(t, goo, "%s: go %v, got %v", at, w, g)
				compareJSON(t, at, wo, goo)
			default:
				require.Equal(t, w, g, "%s", at)
			}
		}
	}
}

func isObjectValue(v any) bool { _, ok := v.(map[string]any); return ok }

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
