package segment

import (
	"sync/atomic"
	"time"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// Snapshot is one reading of a segment, for tools (spec/VOCABULARY.md, "snapshot"): its header,
// its producer and consumer registries, the liveness of the processes they name, its counters
// and its poison record. inspect, list, clean and the demo of the ringwire command read
// segments only through it.
//
// It is a plain value copied out of the segment: it holds no reference to the mapping, so it
// may be kept and printed after the segment is gone, and it encodes to JSON with the spec's
// field names where the spec names the field. Peers go on working while it is taken: each field
// was true at some instant of the reading, not all of them at one instant. The registries are
// read before the counters, so that a consumer's lag is never negative.
//
// A Snapshot is not safe for concurrent mutation; reading it from many goroutines is.
type Snapshot struct {
	Backing     Backing   `json:"backing"`      // "shm:/name", "file:/path" or "heap" in JSON
	TakenAt     time.Time `json:"taken_at"`     // wall-clock time of the reading
	MonotonicNs uint64    `json:"monotonic_ns"` // CLOCK_MONOTONIC at the reading: heartbeat ages are measured from it

	// The header (spec section 3). Only Backing, TakenAt and the creator are set in a snapshot of a
	// segment that failed validation (see Stat).
	TotalSize        uint64    `json:"total_size"`
	VersionMajor     uint16    `json:"version_major"`
	VersionMinor     uint16    `json:"version_minor"`
	HeaderLen        uint32    `json:"header_len"`
	Mode             string    `json:"mode"` // producer_mode: "single" or "multi"
	Capacity         uint64    `json:"capacity"`
	SlotSize         uint32    `json:"slot_size"`
	EventSize        uint32    `json:"event_size"`
	EventAlign       uint32    `json:"event_align"`
	TypeName         string    `json:"type_name"`
	TypeFingerprint  uint64    `json:"type_fingerprint"`
	Incarnation      uint64    `json:"incarnation"`
	CreatorPID       uint32    `json:"creator_pid"` // 0: unknown
	CreatorStartTime uint64    `json:"creator_start_time"`
	Creator          Liveness  `json:"creator"` // the creator's process
	CreatedAt        time.Time `json:"created_at"`
	// Stream is producer_state: "open", "closed", or "unknown" for a value the spec does not
	// define.
	Stream               string        `json:"stream"`
	ProducerHeartbeatNs  uint64        `json:"producer_heartbeat_ns"`
	ProducerHeartbeatAge time.Duration `json:"producer_heartbeat_age_ns"` // -1: unknown (see HeartbeatAge)

	// Counters (spec 4.1, 5.6, 5.8).

	// Published is the count of events consumers read up to (spec 5.5 step 1): cursors.published
	// in single-producer mode, the claimed count in multi-producer mode, where the availability
	// words say which of them are published yet and cursors.published is unused.
	Published uint64 `json:"published"`
	// Claimed is the claimed count: cursors.claimed without its closed bit (Cursors.ClaimedCount).
	Claimed uint64 `json:"claimed"`
	// ClaimsClosed is bit 62 of cursors.claimed: the stream is closed to further claims.
	ClaimsClosed     bool   `json:"claims_closed"`
	Gaps             uint64 `json:"gaps"` // sequences passed over because their producer died
	ConsumerBlockers uint32 `json:"consumer_blockers"`
	ProducerBlockers uint32 `json:"producer_blockers"`

	// ProducerAlive says whether a process that can publish is alive, by the rule of
	// ProducerAlive: the creator, or the owner of any producer entry. An open stream without one
	// will get no more events.
	ProducerAlive bool `json:"producer_alive"`

	// The registries (spec 4.3, 4.4): their sizes, and every entry that is not free, in index
	// order.
	ProducerCapacity int            `json:"producer_capacity"`
	Producers        []ProducerInfo `json:"producers"`
	RegistryCapacity int            `json:"registry_capacity"`
	Consumers        []ConsumerInfo `json:"consumers"`

	// Poison is the poison record (spec 5.9); nil while the ring is not poisoned.
	Poison *PoisonInfo `json:"poison"`

	// Frames describes a framed ring (payload_kind 1, spec section 11); nil (absent in JSON) for a
	// ring of fixed events.
	Frames *FramesInfo `json:"frames,omitempty"`
}

// FramesInfo is the frame geometry of a framed ring (spec 11.1) as its header records it.
type FramesInfo struct {
	HeaderLen  uint32 `json:"frame_header_len"`
	MaxMessage uint32 `json:"max_message"`
	// Invalid says why the geometry fails check 14 of spec 5.2; empty when it passes.
	Invalid string `json:"invalid,omitempty"`
}

// ProducerInfo is one producer entry (spec 4.4) as a Snapshot saw it.
type ProducerInfo struct {
	Index        int           `json:"index"`
	State        string        `json:"state"` // "active", "closed", "dead", or "unknown" for a value the spec does not define
	Generation   uint32        `json:"generation"`
	OwnerPID     uint32        `json:"owner_pid"`
	Owner        Liveness      `json:"owner"`
	HeartbeatNs  uint64        `json:"heartbeat_ns"`
	HeartbeatAge time.Duration `json:"heartbeat_age_ns"` // -1: unknown (see HeartbeatAge)
	// The claim in progress, [IntentStart, IntentEnd) (spec 5.8); IntentEnd 0: none.
	// IntentChanging: the owner was changing it while it was read.
	IntentStart    uint64 `json:"intent_start"`
	IntentEnd      uint64 `json:"intent_end"`
	IntentChanging bool   `json:"intent_changing"`
}

// ConsumerInfo is one consumer entry (spec 4.3) as a Snapshot saw it.
type ConsumerInfo struct {
	Index      int      `json:"index"`
	Name       string   `json:"name"`  // as another process wrote it: quote it before printing it
	State      string   `json:"state"` // layout.StateName: "claiming", "active", "closed", "evicted" or "unknown"
	Generation uint32   `json:"generation"`
	Required   bool     `json:"required"` // it gates the producers
	Starting   bool     `json:"starting"` // its cursor is still being chosen (spec 5.7 step 6)
	OwnerPID   uint32   `json:"owner_pid"`
	Owner      Liveness `json:"owner"`
	Cursor     uint64   `json:"cursor"`
	// Lag is how many published events it has yet to release: Snapshot.Published - Cursor; -1
	// when it does not follow the stream (it is not active).
	Lag          int64         `json:"lag"`
	HeartbeatNs  uint64        `json:"heartbeat_ns"`
	HeartbeatAge time.Duration `json:"heartbeat_age_ns"` // -1: unknown (see HeartbeatAge)
	DependsOn    []int         `json:"depends_on"`       // indices of the entries it reads after
	Lost         uint64        `json:"lost"`
	GapsSeen     uint64        `json:"gaps_seen"`
}

// PoisonInfo is the poison record (spec 5.9) as a Snapshot saw it.
type PoisonInfo struct {
	Phase   string `json:"phase"` // layout.PhaseName: "publish", "handler" or "unknown"
	Seq     uint64 `json:"seq"`   // the first sequence that will never be delivered
	PID     uint32 `json:"pid"`
	Stage   uint32 `json:"stage"` // producer entry index (publish) or consumer entry index (handler)
	Message string `json:"message"`
}

// Liveness is what a Snapshot found of a process that a segment names by its pid and start time
// (spec section 8).
type Liveness string

const (
	ProcessNone  Liveness = "none"  // no process is named (pid 0 or owner 0)
	ProcessAlive Liveness = "alive" // the process runs (or cannot be told dead)
	ProcessDead  Liveness = "dead"  // no process has the pid, or another process has it now
)

// HeartbeatAge is how long before a snapshot taken at CLOCK_MONOTONIC now a heartbeat stored at
// then was: -1 when then is 0 (never stored) or later than now (a clock this host does not
// share).
func HeartbeatAge(now, then uint64) time.Duration {
	if then == 0 || then > now || now-then > 1<<63-1 {
		return -1
	}
	return time.Duration(now - then)
}

// Snapshot takes a snapshot of the segment. It reads the mapping: a tool reading a segment that
// other processes may truncate takes it under Guard.
func (s *Segment) Snapshot() Snapshot { return TakeSnapshot(s.backing, s.view) }

// TakeSnapshot takes a snapshot of the validated view v of the segment at b. It reads nothing
// outside v's mapping and never panics, whatever peers wrote into the segment, except that a
// mapping a peer truncated faults: a tool reading a segment of processes it does not trust takes
// the snapshot under Guard.
func TakeSnapshot(b Backing, v *layout.View) Snapshot {
	h := v.Header()
	mono := sys.Monotonic()
	s := Snapshot{
		Backing:          b,
		TakenAt:          time.Now(),
		MonotonicNs:      mono,
		TotalSize:        h.TotalSize,
		VersionMajor:     h.VersionMajor,
		VersionMinor:     h.VersionMinor,
		HeaderLen:        h.HeaderLen,
		Mode:             layout.ModeName(h.ProducerMode),
		Capacity:         h.Capacity,
		SlotSize:         h.SlotSize,
		EventSize:        h.EventSize,
		EventAlign:       h.EventAlign,
		TypeName:         h.TypeNameString(),
		TypeFingerprint:  h.TypeFingerprint,
		Incarnation:      h.Incarnation,
		CreatorPID:       h.CreatorPID,
		CreatorStartTime: h.CreatorStartTime,
		Creator:          creatorLiveness(h.CreatorPID, h.CreatorStartTime),
		CreatedAt:        time.Unix(0, int64(h.CreatedUnixNs)),
		Stream:           streamName(h.ProducerState.Load()),
		ProducerCapacity: v.Producers(),
		Producers:        []ProducerInfo{}, // [] rather than null in JSON
		RegistryCapacity: v.Entries(),
		Consumers:        []ConsumerInfo{},
	}
	if h.PayloadKind != layout.PayloadFixed {
		s.Frames = &FramesInfo{HeaderLen: h.FrameHeaderLen, MaxMessage: h.MaxMessage}
		if _, err := v.Frames(); err != nil {
			s.Frames.Invalid = err.Error()
		}
	}
	s.ProducerHeartbeatNs = h.ProducerHeartbeatNs.Load()
	s.ProducerHeartbeatAge = HeartbeatAge(mono, s.ProducerHeartbeatNs)

	s.ProducerAlive = s.Creator == ProcessAlive
	for i, e := range v.AllProducers() {
		st := e.Load()
		o := e.OwnerID()
		owner := ownerLiveness(o)
		// Any state: a producer between attach steps 2 and 3 holds an entry not yet active.
		s.ProducerAlive = s.ProducerAlive || owner == ProcessAlive
		if st.State() == layout.ProducerFree {
			continue
		}
		p := ProducerInfo{Index: i, State: producerStateName(st.State()), Generation: st.Gen(),
			OwnerPID: o.PID(), Owner: owner, HeartbeatNs: e.HeartbeatNs.Load()}
		p.HeartbeatAge = HeartbeatAge(mono, p.HeartbeatNs)
		start, end, ok := e.Intent()
		p.IntentStart, p.IntentEnd, p.IntentChanging = start, end, !ok
		s.Producers = append(s.Producers, p)
	}
	for i, e := range v.AllEntries() {
		st := e.Load()
		if st.State() == layout.EntryFree {
			continue
		}
		o := e.OwnerID()
		c := ConsumerInfo{Index: i, Name: e.NameString(), State: layout.StateName(st.State()), Generation: st.Gen(),
			Required: e.Required(), Starting: atomic.LoadUint32(&e.Flags)&layout.FlagStarting != 0,
			OwnerPID: o.PID(), Owner: ownerLiveness(o), Cursor: e.Cursor.Load(), Lag: -1,
			HeartbeatNs: e.HeartbeatNs.Load(), DependsOn: indices(e.DependsOn.Load()),
			Lost: e.Lost.Load(), GapsSeen: e.GapsSeen.Load()}
		c.HeartbeatAge = HeartbeatAge(mono, c.HeartbeatNs)
		s.Consumers = append(s.Consumers, c)
	}

	// The counters after the cursors: a cursor never passes the count, which only grows.
	c := v.Cursors()
	claimed := c.LoadClaimed()
	s.Claimed, s.ClaimsClosed = claimed.Count(), claimed.Closed()
	if h.ProducerMode == layout.MultiProducer {
		s.Published = s.Claimed
	} else {
		s.Published = c.Published.Load()
	}
	for i := range s.Consumers {
		if c := &s.Consumers[i]; c.State == layout.StateName(layout.EntryActive) && c.Cursor <= s.Published {
			c.Lag = int64(s.Published - c.Cursor)
		}
	}
	s.Gaps = h.Gaps.Load()
	s.ConsumerBlockers, s.ProducerBlockers = h.ConsumerBlockers.Load(), h.ProducerBlockers.Load()
	if rec, poisoned := v.Poisoned(); poisoned {
		s.Poison = &PoisonInfo{Phase: layout.PhaseName(rec.Phase), Seq: rec.Seq, PID: rec.PID, Stage: rec.Stage, Message: rec.Message}
	}
	return s
}

// Closed reports whether the producers closed the stream: no more events will come.
func (s Snapshot) Closed() bool { return s.Stream == streamClosed }

// ActiveConsumers counts the consumer entries that are active.
func (s Snapshot) ActiveConsumers() int {
	n := 0
	for _, c := range s.Consumers {
		if c.State == layout.StateName(layout.EntryActive) {
			n++
		}
	}
	return n
}

// Consumer returns the active consumer entry named name.
func (s Snapshot) Consumer(name string) (ConsumerInfo, bool) {
	for _, c := range s.Consumers {
		if c.Name == name && c.State == layout.StateName(layout.EntryActive) {
			return c, true
		}
	}
	return ConsumerInfo{}, false
}

// Stale reports whether nobody uses the segment any more: its creator is known and dead, no
// process that can publish is alive (ProducerAlive), and no consumer entry that is claiming or
// active has a live owner. A snapshot of a segment that failed validation (Stat's error) knows
// only the creator: it is stale when the creator is known and dead. A segment whose header
// names no creator is never stale by this rule (see Discover).
func (s Snapshot) Stale() bool {
	if s.Creator != ProcessDead || s.ProducerAlive {
		return false
	}
	for _, c := range s.Consumers {
		if c.Owner == ProcessAlive && (c.State == layout.StateName(layout.EntryActive) || c.State == layout.StateName(layout.EntryClaiming)) {
			return false
		}
	}
	return true
}

// ProducerAlive reports whether a process that can publish into v is alive: its creator, or the
// owner of any producer entry (spec 5.5 step 4). A pid of 0 names no process (section 8). It
// reads /proc: cold paths only. Snapshot.ProducerAlive is the same rule.
func ProducerAlive(v *layout.View) bool {
	h := v.Header()
	if creatorLiveness(h.CreatorPID, h.CreatorStartTime) == ProcessAlive {
		return true
	}
	for _, e := range v.AllProducers() {
		// Any state: a producer between attach steps 2 and 3 holds an entry not yet active.
		if ownerLiveness(e.OwnerID()) == ProcessAlive {
			return true
		}
	}
	return false
}

func creatorLiveness(pid uint32, start uint64) Liveness {
	switch {
	case pid == 0:
		return ProcessNone
	case sys.Alive(pid, start):
		return ProcessAlive
	}
	return ProcessDead
}

func ownerLiveness(o layout.OwnerID) Liveness {
	switch {
	case o == 0:
		return ProcessNone
	case sys.AliveOwner(o.PID(), o.StartTime()):
		return ProcessAlive
	}
	return ProcessDead
}

const (
	streamOpen   = "open"
	streamClosed = "closed"
)

func streamName(s uint32) string {
	switch s {
	case layout.StreamOpen:
		return streamOpen
	case layout.StreamClosed:
		return streamClosed
	}
	return "unknown"
}

// producerStateName names a producer entry state as spec 4.4 does.
func producerStateName(s uint32) string {
	switch s {
	case layout.ProducerFree:
		return "free"
	case layout.ProducerActive:
		return "active"
	case layout.ProducerClosed:
		return "closed"
	case layout.ProducerDead:
		return "dead"
	}
	return "unknown"
}

// indices lists the set bits of a depends_on mask.
func indices(mask uint64) []int {
	out := []int{}
	for i := 0; i < 64; i++ {
		if mask&(1<<i) != 0 {
			out = append(out, i)
		}
	}
	return out
}
