package segment_test

import (
	"encoding/json"
	"os/exec"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// self and killedProcess are testseg.SelfOwner and KilledOwner: this process, and a peer killed with SIGKILL.
var (
	self          = testseg.SelfOwner
	killedProcess = testseg.KilledOwner
)

func multiConfig(t *testing.T) layout.Config {
	t.Helper()
	et, err := layout.TypeOf[[32]byte]()
	require.NoError(t, err)
	return layout.Config{Capacity: 16, RegistryCapacity: 4, Mode: layout.MultiProducer, Producers: 4, Event: et}
}

// TestSnapshot_HeapRing_ReportsEveryField puts the producer and consumer entries, the counters and
// the poison record of a heap ring in known states and checks each field of its snapshot.
func TestSnapshot_HeapRing_ReportsEveryField(t *testing.T) {
	cfg := multiConfig(t)
	seg, err := segment.Create(segment.Heap(), cfg, segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	v := seg.View()
	me, dead := self(t), killedProcess(t)
	mono := sys.Monotonic()

	// Producer 0 is the creator, this process. Producer 1 died mid-claim; 2 left.
	p1 := v.Producer(1)
	p1.Owner.Store(uint64(dead))
	p1.HeartbeatNs.Store(mono - uint64(time.Second))
	p1.IntentStart.Store(5)
	p1.IntentEnd.Store(9)
	p1.StateGen.Store(uint32(layout.MakeState(layout.ProducerDead, 3)))
	p2 := v.Producer(2)
	p2.Owner.Store(uint64(me))
	p2.StateGen.Store(uint32(layout.MakeState(layout.ProducerClosed, 1)))

	// Consumer 0 is active and required; 1 optional, still starting, after 0, its owner dead;
	// 2 closed; 3 free.
	e0 := v.Entry(0)
	require.True(t, e0.SetName("audit"))
	e0.Flags = layout.FlagRequired
	e0.Owner.Store(uint64(me))
	e0.Cursor.Store(4)
	e0.HeartbeatNs.Store(mono)
	e0.Lost.Store(2)
	e0.GapsSeen.Store(1)
	e0.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 7)))
	e1 := v.Entry(1)
	require.True(t, e1.SetName("risk\n"))
	e1.Flags = layout.FlagStarting
	e1.Owner.Store(uint64(dead))
	e1.DependsOn.Store(1<<0 | 1<<3)
	e1.Cursor.Store(2)
	e1.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	e2 := v.Entry(2)
	require.True(t, e2.SetName("gone"))
	e2.Cursor.Store(1)
	e2.StateGen.Store(uint32(layout.MakeState(layout.EntryClosed, 2)))

	v.Cursors().Claimed.Store(10 | layout.ClaimedClosed)
	h := v.Header()
	h.ProducerState.Store(layout.StreamClosed)
	h.Gaps.Store(1)
	h.ConsumerBlockers.Store(2)
	h.ProducerBlockers.Store(1)
	require.True(t, v.Poison(layout.Poison{Phase: layout.PhaseHandler, Seq: 6, PID: 42, Stage: 1, Message: "boom"}))

	s := seg.Snapshot()
	require.Equal(t, segment.Heap(), s.Backing)
	require.GreaterOrEqual(t, s.MonotonicNs, mono)
	require.WithinDuration(t, time.Now(), s.TakenAt, time.Minute)
	require.Equal(t, h.TotalSize, s.TotalSize)
	require.Equal(t, uint16(layout.VersionMajor), s.VersionMajor)
	require.Equal(t, uint16(layout.VersionMinorFixed), s.VersionMinor)
	require.Equal(t, uint32(layout.HeaderLen), s.HeaderLen)
	require.Equal(t, "multi", s.Mode)
	require.Equal(t, uint64(16), s.Capacity)
	require.Equal(t, uint32(32), s.SlotSize)
	require.Equal(t, uint32(32), s.EventSize)
	require.Equal(t, uint32(1), s.EventAlign)
	require.Equal(t, cfg.Event.Name, s.TypeName)
	require.Equal(t, cfg.Event.Fingerprint, s.TypeFingerprint)
	require.Equal(t, h.Incarnation, s.Incarnation)
	require.Equal(t, me.PID(), s.CreatorPID)
	require.Equal(t, segment.ProcessAlive, s.Creator)
	require.Equal(t, time.Unix(0, int64(h.CreatedUnixNs)), s.CreatedAt)
	require.Equal(t, "closed", s.Stream)
	require.True(t, s.Closed())
	require.True(t, s.ProducerAlive)
	require.False(t, s.Stale())

	require.Equal(t, uint64(10), s.Published, "multi mode: the claimed count, without bit 62")
	require.Equal(t, uint64(10), s.Claimed)
	require.True(t, s.ClaimsClosed)
	require.Equal(t, uint64(1), s.Gaps)
	require.Equal(t, uint32(2), s.ConsumerBlockers)
	require.Equal(t, uint32(1), s.ProducerBlockers)
	require.Equal(t, &segment.PoisonInfo{Phase: "handler", Seq: 6, PID: 42, Stage: 1, Message: "boom"}, s.Poison)

	require.Equal(t, 4, s.ProducerCapacity)
	require.Len(t, s.Producers, 3)
	require.Equal(t, 0, s.Producers[0].Index)
	require.Equal(t, "active", s.Producers[0].State)
	require.Equal(t, segment.ProcessAlive, s.Producers[0].Owner)
	p := s.Producers[1]
	require.Equal(t, 1, p.Index)
	require.Equal(t, "dead", p.State)
	require.Equal(t, uint32(3), p.Generation)
	require.Equal(t, dead.PID(), p.OwnerPID)
	require.Equal(t, segment.ProcessDead, p.Owner)
	require.Equal(t, uint64(5), p.IntentStart)
	require.Equal(t, uint64(9), p.IntentEnd)
	require.False(t, p.IntentChanging)
	require.GreaterOrEqual(t, p.HeartbeatAge, time.Second)
	require.Equal(t, "closed", s.Producers[2].State)

	require.Equal(t, 4, s.RegistryCapacity)
	require.Equal(t, 2, s.ActiveConsumers())
	require.Equal(t, []segment.ConsumerInfo{
		{Index: 0, Name: "audit", State: "active", Generation: 7, Required: true, OwnerPID: me.PID(),
			Owner: segment.ProcessAlive, Cursor: 4, Lag: 6, HeartbeatNs: mono, HeartbeatAge: s.Consumers[0].HeartbeatAge,
			DependsOn: []int{}, Lost: 2, GapsSeen: 1},
		{Index: 1, Name: "risk\n", State: "active", Generation: 1, Starting: true, OwnerPID: dead.PID(),
			Owner: segment.ProcessDead, Cursor: 2, Lag: 8, HeartbeatAge: -1, DependsOn: []int{0, 3}},
		{Index: 2, Name: "gone", State: "closed", Generation: 2, Owner: segment.ProcessNone, Cursor: 1, Lag: -1,
			HeartbeatAge: -1, DependsOn: []int{}},
	}, s.Consumers)
	require.GreaterOrEqual(t, s.Consumers[0].HeartbeatAge, time.Duration(0))
	audit, ok := s.Consumer("audit")
	require.True(t, ok)
	require.Equal(t, 0, audit.Index)
	_, ok = s.Consumer("gone")
	require.False(t, ok, "Consumer finds active entries only")
}

// TestSnapshot_ClosedMultiRing_PublishedIsTheCount closes a real multi-producer ring, which sets
// bit 62 (closed to claims) of its claimed word: Published and Claimed are the count without it.
func TestSnapshot_ClosedMultiRing_PublishedIsTheCount(t *testing.T) {
	b := segment.SharedMemory(testseg.Name(t))
	p, err := producer.Create[[32]byte](b, producer.Options{Mode: producer.Multi, Capacity: 16, Keep: true})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.Publish(func(ev *[32]byte) { ev[0] = byte(i) }))
	}
	require.NoError(t, p.Close())

	s, err := segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, "multi", s.Mode)
	require.True(t, s.Closed())
	require.True(t, s.ClaimsClosed)
	require.Equal(t, uint64(3), s.Published)
	require.Equal(t, uint64(3), s.Claimed)
}

// TestSnapshot_ProducerKilled_EntryShowsDead gives a producer entry of a real ring to a real
// process and kills it with SIGKILL: the entry shows its owner alive, then dead, and the stream
// is left to the creator.
func TestSnapshot_ProducerKilled_EntryShowsDead(t *testing.T) {
	b := segment.SharedMemory(testseg.Name(t))
	seg, err := segment.Create(b, multiConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, err := sys.ProcessStartTime(cmd.Process.Pid)
	require.NoError(t, err)
	e := seg.View().Producer(1)
	e.Owner.Store(uint64(layout.MakeOwner(uint32(cmd.Process.Pid), st)))
	e.StateGen.Store(uint32(layout.MakeState(layout.ProducerActive, 1)))

	s, err := segment.Stat(b)
	require.NoError(t, err)
	require.Len(t, s.Producers, 2)
	require.Equal(t, uint32(cmd.Process.Pid), s.Producers[1].OwnerPID)
	require.Equal(t, segment.ProcessAlive, s.Producers[1].Owner)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	s, err = segment.Stat(b)
	require.NoError(t, err)
	require.Equal(t, "active", s.Producers[1].State, "nobody has retired it yet")
	require.Equal(t, segment.ProcessDead, s.Producers[1].Owner)
	require.True(t, s.ProducerAlive, "the creator, this process, can still publish")
}

// TestSnapshot_OnlyDeadProducers_NotAlive: with its creator and every producer entry's owner dead,
// an open stream has nobody left to publish, by ProducerAlive's rule, and the segment is stale.
func TestSnapshot_OnlyDeadProducers_NotAlive(t *testing.T) {
	seg, err := segment.Create(segment.Heap(), multiConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	v := seg.View()
	dead := killedProcess(t)
	v.Header().CreatorPID, v.Header().CreatorStartTime = dead.PID(), 0
	v.Producer(0).Owner.Store(uint64(dead))

	s := seg.Snapshot()
	require.Equal(t, segment.ProcessDead, s.Creator)
	require.Equal(t, segment.ProcessDead, s.Producers[0].Owner)
	require.False(t, s.ProducerAlive)
	require.Equal(t, segment.ProducerAlive(v), s.ProducerAlive, "one rule")
	require.Equal(t, "open", s.Stream)
	require.True(t, s.Stale())

	// A live consumer keeps it in use.
	e := v.Entry(0)
	e.Owner.Store(uint64(self(t)))
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	s = seg.Snapshot()
	require.False(t, s.Stale())
}

// TestSnapshot_SegmentTruncatedByPeer_GuardReturnsFault has another process shrink a segment this
// process has mapped: a snapshot taken under Guard gives ErrFault, and Stat refuses it.
func TestSnapshot_SegmentTruncatedByPeer_GuardReturnsFault(t *testing.T) {
	b := segment.SharedMemory(testseg.Name(t))
	seg, err := segment.Create(b, multiConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	out, err := exec.Command("truncate", "-s", "0", "/dev/shm"+b.Name()).CombinedOutput()
	require.NoError(t, err, "%s", out)

	err = segment.Guard(func() error { seg.Snapshot(); return nil })
	require.ErrorIs(t, err, segment.ErrFault)
	s, err := segment.Stat(b)
	require.ErrorIs(t, err, layout.ErrInitializing, "an empty object is one being created")
	require.Equal(t, b, s.Backing)
	require.Equal(t, segment.ProcessNone, s.Creator)
}

// TestSnapshot_JSON_RoundTrips encodes a snapshot with the spec's field names and decodes it back.
func TestSnapshot_JSON_RoundTrips(t *testing.T) {
	b := segment.File(t.TempDir() + "/seg")
	seg, err := segment.Create(b, multiConfig(t), segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	e := seg.View().Entry(1)
	require.True(t, e.SetName("audit"))
	e.DependsOn.Store(1)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	s := seg.Snapshot()

	raw, err := json.Marshal(s)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(raw, &fields))
	require.Equal(t, "file:"+b.Name(), fields["backing"])
	for _, k := range []string{"capacity", "claimed", "claims_closed", "published", "gaps", "creator_pid",
		"type_fingerprint", "producers", "consumers", "poison", "producer_alive"} {
		require.Contains(t, fields, k)
	}
	require.Nil(t, fields["poison"])
	consumer := fields["consumers"].([]any)[0].(map[string]any)
	require.Equal(t, "audit", consumer["name"])
	require.Equal(t, []any{0.0}, consumer["depends_on"])

	var back segment.Snapshot
	require.NoError(t, json.Unmarshal(raw, &back))
	require.True(t, s.TakenAt.Equal(back.TakenAt))
	require.True(t, s.CreatedAt.Equal(back.CreatedAt))
	s.TakenAt, back.TakenAt, s.CreatedAt, back.CreatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	require.Equal(t, s, back)
}

// image returns the bytes of a heap ring with producers and consumers in several states, in
// 8-byte aligned memory.
func image(t testing.TB) []byte {
	et, err := layout.TypeOf[[32]byte]()
	require.NoError(t, err)
	seg, err := segment.Create(segment.Heap(), layout.Config{Capacity: 16, RegistryCapacity: 4,
		Mode: layout.MultiProducer, Producers: 2, Event: et}, segment.CreateOptions{})
	require.NoError(t, err)
	defer seg.Release()
	v := seg.View()
	e := v.Entry(1)
	e.SetName("audit")
	e.Flags = layout.FlagRequired | layout.FlagStarting
	e.DependsOn.Store(1)
	e.StateGen.Store(uint32(layout.MakeState(layout.EntryActive, 1)))
	v.Producer(1).IntentEnd.Store(3)
	v.Producer(1).StateGen.Store(uint32(layout.MakeState(layout.ProducerDead, 1)))
	v.Poison(layout.Poison{Phase: layout.PhasePublish, Message: "x"})
	return append([]byte(nil), v.Bytes()...)
}

// aligned copies b into 8-byte aligned memory, as a mapping is.
func aligned(b []byte) []byte {
	words := make([]uint64, (len(b)+7)/8)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)[:len(b)]
	copy(mem, b)
	return mem
}

// FuzzSnapshot corrupts a real image, bytes at a time anywhere in it, and takes a snapshot of
// whatever layout.Open accepts: the snapshot must neither panic nor read outside the image (the
// race detector and the bounds checks would say), and must encode to JSON.
func FuzzSnapshot(f *testing.F) {
	img := image(f)
	var h layout.Header
	ones := []byte{0xff, 0xff, 0xff, 0xff}
	f.Add(uint32(0), []byte{})
	f.Add(uint32(unsafe.Offsetof(h.TypeNameLen)), ones)
	f.Add(uint32(unsafe.Offsetof(h.PoisonMessageLen)), ones)
	f.Add(uint32(unsafe.Offsetof(h.PoisonState)), []byte{0x03})
	f.Add(uint32(unsafe.Offsetof(h.CreatorPID)), []byte{0x01, 0x00, 0x00, 0x80})
	f.Add(uint32(unsafe.Offsetof(h.ProducerCapacity)), []byte{0x03})
	f.Add(uint32(unsafe.Offsetof(h.Registry)), []byte{0x80})
	v, err := layout.Open(aligned(img))
	require.NoError(f, err)
	entry := uint32(uintptr(unsafe.Pointer(v.Entry(1))) - uintptr(unsafe.Pointer(&v.Bytes()[0])))
	var e layout.Entry
	f.Add(entry+uint32(unsafe.Offsetof(e.NameLen)), ones)
	f.Add(entry+uint32(unsafe.Offsetof(e.DependsOn)), ones)
	f.Fuzz(func(t *testing.T, at uint32, patch []byte) {
		mem := aligned(img)
		for i, c := range patch {
			mem[(int(at)+i)%len(mem)] ^= c
		}
		v, err := layout.Open(mem)
		if err != nil {
			return
		}
		s := segment.TakeSnapshot(segment.File("/fuzz"), v)
		require.LessOrEqual(t, len(s.Consumers), s.RegistryCapacity)
		require.LessOrEqual(t, len(s.Producers), s.ProducerCapacity)
		for _, c := range s.Consumers {
			require.LessOrEqual(t, len(c.Name), layout.NameMax)
		}
		_, err = json.Marshal(s)
		require.NoError(t, err)
	})
}

// TestBacking_Text_RoundTrips: a snapshot names its segment in one string, and reads it back.
func TestBacking_Text_RoundTrips(t *testing.T) {
	for _, b := range []segment.Backing{segment.SharedMemory("/orders"), segment.File("/tmp/a:b"), segment.Heap()} {
		text, err := b.MarshalText()
		require.NoError(t, err)
		require.Equal(t, b.String(), string(text))
		var back segment.Backing
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, b, back)
	}
	var b segment.Backing
	require.ErrorIs(t, b.UnmarshalText([]byte("tcp:/x")), segment.ErrBadName)
	_, err := segment.Backing{}.MarshalText()
	require.ErrorIs(t, err, segment.ErrBadName)
}
