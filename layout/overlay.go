package layout

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// Region is the header's (offset, length) pair locating one region (spec section 4).
type Region struct {
	Offset uint64
	Length uint64
}

// End returns the first byte after the region.
func (r Region) End() uint64 { return r.Offset + r.Length }

// Header mirrors "Table: header" of spec/LAYOUT.md byte for byte; the `spec` tag names the row.
// Atomic fields are the ones the table gives release/acquire ordering. Not safe to mutate
// concurrently except through its atomic fields.
type Header struct {
	Magic               uint64            `spec:"magic"`
	InitState           atomic.Uint32     `spec:"init_state"`
	VersionMajor        uint16            `spec:"version_major"`
	VersionMinor        uint16            `spec:"version_minor"`
	HeaderLen           uint32            `spec:"header_len"`
	ProducerMode        uint32            `spec:"producer_mode"`
	TotalSize           uint64            `spec:"total_size"`
	Capacity            uint64            `spec:"capacity"`
	SlotSize            uint32            `spec:"slot_size"`
	SlotAlign           uint32            `spec:"slot_align"`
	RegistryCapacity    uint32            `spec:"registry_capacity"`
	RegistryEntrySize   uint32            `spec:"registry_entry_size"`
	Incarnation         uint64            `spec:"incarnation"`
	CreatorPID          uint32            `spec:"creator_pid"`
	ProducerState       atomic.Uint32     `spec:"producer_state"`
	CreatorStartTime    uint64            `spec:"creator_start_time"`
	CreatedUnixNs       uint64            `spec:"created_unix_ns"`
	ProducerHeartbeatNs atomic.Uint64     `spec:"producer_heartbeat_ns"`
	Cursors             Region            `spec:"cursors"`
	Wait                Region            `spec:"wait"`
	Registry            Region            `spec:"registry"`
	Availability        Region            `spec:"availability"`
	Slots               Region            `spec:"slots"`
	Producers           Region            `spec:"producers"`
	EventSize           uint32            `spec:"event_size"`
	EventAlign          uint32            `spec:"event_align"`
	TypeFingerprint     uint64            `spec:"type_fingerprint"`
	TypeNameLen         uint32            `spec:"type_name_len"`
	ProducerCapacity    uint32            `spec:"producer_capacity"`
	TypeName            [TypeNameMax]byte `spec:"type_name"`
	PoisonState         atomic.Uint32     `spec:"poison_state"`
	PoisonPhase         uint32            `spec:"poison_phase"`
	PoisonSeq           uint64            `spec:"poison_seq"`
	PoisonPID           uint32            `spec:"poison_pid"`
	PoisonStage         uint32            `spec:"poison_stage"`
	PoisonMessageLen    uint32            `spec:"poison_message_len"`
	Reserved1           uint32            `spec:"reserved1"`
	PoisonMessage       [PoisonMax]byte   `spec:"poison_message"`
	Gaps                atomic.Uint64     `spec:"gaps"`
	ConsumerBlockers    atomic.Uint32     `spec:"consumer_blockers"`
	ProducerBlockers    atomic.Uint32     `spec:"producer_blockers"`
	PayloadKind         uint32            `spec:"payload_kind"`
	FrameHeaderLen      uint32            `spec:"frame_header_len"`
	MaxMessage          uint32            `spec:"max_message"`
	Reserved3           uint32            `spec:"reserved3"`
	Reserved2           [104]byte         `spec:"reserved2"`
}

// TypeNameString returns the type name, clamped to the field.
func (h *Header) TypeNameString() string {
	n := h.TypeNameLen
	if n > TypeNameMax {
		n = TypeNameMax
	}
	return string(h.TypeName[:n])
}

// Cursors mirrors "Table: cursors": the producers' two counts, each alone in a 128-byte block.
// Published is written only by a single producer; Claimed by every producer (CAS in multi mode).
type Cursors struct {
	Published atomic.Uint64 `spec:"published"`
	Pad0      [120]byte     `spec:"pad0"`
	Claimed   atomic.Uint64 `spec:"claimed"`
	Pad1      [120]byte     `spec:"pad1"`
}

// ClaimedWord is a value of cursors.claimed (spec 4.1): the count of sequences claimed, and in
// bit 62 whether the stream is closed to claims. Read the count through Count, never the raw word.
type ClaimedWord uint64

// Count returns the number of sequences claimed: the word without its closed bit.
func (w ClaimedWord) Count() uint64 { return uint64(w) & CountMask }

// Closed reports whether the stream is closed to claims (bit 62).
func (w ClaimedWord) Closed() bool { return uint64(w)&ClaimedClosed != 0 }

// LoadClaimed returns the claimed word (an acquire load).
func (c *Cursors) LoadClaimed() ClaimedWord { return ClaimedWord(c.Claimed.Load()) }

// ClaimedCount returns the number of sequences claimed (the claimed word without bit 62).
func (c *Cursors) ClaimedCount() uint64 { return c.Claimed.Load() & CountMask }

// WaitWord is one futex word and the count of waiters blocked on it (spec section 5.6).
type WaitWord struct {
	Wake    atomic.Uint32
	Waiters atomic.Uint32
}

// Wait mirrors "Table: wait": consumers sleep on Consumer, producers on Producer.
type Wait struct {
	Consumer WaitWord  `spec:"consumer_wake,consumer_waiters"`
	Pad0     [120]byte `spec:"pad0"`
	Producer WaitWord  `spec:"producer_wake,producer_waiters"`
	Pad1     [120]byte `spec:"pad1"`
}

// Entry mirrors "Table: entry": one consumer's registration. The first 128 bytes are written by
// the claimer while the entry is claiming (flags, name) or by the owner (heartbeat, counters); the
// cursor is alone in the second block because the owner writes it on every batch while the
// producer reads it. State and Owner change only by compare-and-swap (spec 4.3, 5.7): use
// Load/CompareAndSwapState and OwnerWord, never plain reads of the words.
type Entry struct {
	StateGen    atomic.Uint32 `spec:"state"` // a StateWord: state in bits 0-7, generation in 8-31
	Flags       uint32        `spec:"flags"`
	Owner       atomic.Uint64 `spec:"owner"` // an OwnerID (spec section 8)
	NameLen     uint32        `spec:"name_len"`
	Reserved0   uint32        `spec:"reserved0"`
	HeartbeatNs atomic.Uint64 `spec:"heartbeat_ns"`
	DependsOn   atomic.Uint64 `spec:"depends_on"`
	Name        [NameMax]byte `spec:"name"`
	Lost        atomic.Uint64 `spec:"lost"`
	GapsSeen    atomic.Uint64 `spec:"gaps_seen"`
	Reserved    [24]byte      `spec:"reserved"`
	Cursor      atomic.Uint64 `spec:"cursor"`
	Pad         [120]byte     `spec:"pad"`
}

// Load returns the entry's state word.
func (e *Entry) Load() StateWord { return StateWord(e.StateGen.Load()) }

// CompareAndSwapState moves the entry's state word from old to new.
func (e *Entry) CompareAndSwapState(old, new StateWord) bool {
	return e.StateGen.CompareAndSwap(uint32(old), uint32(new))
}

// Is reports whether the entry is currently in state s (any generation).
func (e *Entry) Is(s uint32) bool { return e.Load().State() == s }

// OwnerID returns the entry's owner identity.
func (e *Entry) OwnerID() OwnerID { return OwnerID(e.Owner.Load()) }

// NameString returns the entry's name, or "" if name_len is out of range (a corrupt entry matches
// no name, spec 4.3). It reads with atomic loads, word by word: registration scans read the names
// of entries that other peers may be filling in at that moment (a torn name matches nothing and
// is judged again after the state word says claiming or active).
func (e *Entry) NameString() string {
	n := atomic.LoadUint32(&e.NameLen)
	if n == 0 || n > NameMax {
		return ""
	}
	var b [NameMax]byte
	words := (*[NameMax / 8]uint64)(unsafe.Pointer(&e.Name))
	for i := range words {
		binary.LittleEndian.PutUint64(b[8*i:], atomic.LoadUint64(&words[i]))
	}
	return string(b[:n])
}

// SetName writes the entry's name and name_len (spec 5.7 step 4), zeroing the unused bytes, with
// atomic stores (see NameString). It returns false, writing nothing, for a name that is empty or
// longer than the field.
func (e *Entry) SetName(name string) bool {
	if len(name) == 0 || len(name) > NameMax {
		return false
	}
	var b [NameMax]byte
	copy(b[:], name)
	words := (*[NameMax / 8]uint64)(unsafe.Pointer(&e.Name))
	for i := range words {
		atomic.StoreUint64(&words[i], binary.LittleEndian.Uint64(b[8*i:]))
	}
	atomic.StoreUint32(&e.NameLen, uint32(len(name)))
	return true
}

// Required reports whether the entry gates the producer.
func (e *Entry) Required() bool { return atomic.LoadUint32(&e.Flags)&FlagRequired != 0 }

// Ready reports whether the entry is active and has chosen where it starts reading (spec 5.7 step
// 6): a producer that awaits consumers waits for this, so that every event it publishes afterwards
// reaches them.
func (e *Entry) Ready() bool {
	return e.Is(EntryActive) && atomic.LoadUint32(&e.Flags)&FlagStarting == 0
}

// Gates reports whether the entry gates the producer now: active and required (spec 5.3 step 1).
func (e *Entry) Gates() bool { return e.Is(EntryActive) && e.Required() }

// ProducerEntry mirrors "Table: producer": one producer's registration and, in multi mode, the
// range it is claiming, so peers can pass over the claims of a producer that died (spec 5.8).
type ProducerEntry struct {
	StateGen    atomic.Uint32 `spec:"state"` // a StateWord: state in bits 0-7, generation in 8-31
	Reserved0   uint32        `spec:"reserved0"`
	Owner       atomic.Uint64 `spec:"owner"` // an OwnerID (spec section 8)
	HeartbeatNs atomic.Uint64 `spec:"heartbeat_ns"`
	IntentStart atomic.Uint64 `spec:"intent_start"`
	IntentEnd   atomic.Uint64 `spec:"intent_end"`
	Reserved    [88]byte      `spec:"reserved"`
}

// Load returns the producer entry's state word.
func (e *ProducerEntry) Load() StateWord { return StateWord(e.StateGen.Load()) }

// CompareAndSwapState moves the producer entry's state word from old to new.
func (e *ProducerEntry) CompareAndSwapState(old, new StateWord) bool {
	return e.StateGen.CompareAndSwap(uint32(old), uint32(new))
}

// Is reports whether the producer entry is in state s (any generation).
func (e *ProducerEntry) Is(s uint32) bool { return e.Load().State() == s }

// OwnerID returns the producer entry's owner identity.
func (e *ProducerEntry) OwnerID() OwnerID { return OwnerID(e.Owner.Load()) }

// Intent reads the entry's intent as spec 5.8 says: intent_end, intent_start, intent_end again.
// ok is false while the intent is in flux (the two reads of intent_end differ); end is 0 when the
// owner holds no claim.
func (e *ProducerEntry) Intent() (start, end uint64, ok bool) {
	e1 := e.IntentEnd.Load()
	start = e.IntentStart.Load()
	if e.IntentEnd.Load() != e1 {
		return 0, 0, false
	}
	return start, e1, true
}

// StateWord is a registry entry's state word (spec 4.3, 4.4): the state in bits 0-7 and the
// generation, incremented by every claim, in bits 8-31.
type StateWord uint32

// MakeState builds a state word.
func MakeState(state, gen uint32) StateWord { return StateWord(state&0xFF | gen<<8) }

// State returns the state value (bits 0-7).
func (w StateWord) State() uint32 { return uint32(w) & 0xFF }

// Gen returns the generation (bits 8-31).
func (w StateWord) Gen() uint32 { return uint32(w) >> 8 }

// With returns w with its state replaced and the generation kept.
func (w StateWord) With(state uint32) StateWord { return MakeState(state, w.Gen()) }

// Next returns the word of the next claim: state s, generation + 1 (modulo 2^24).
func (w StateWord) Next(state uint32) StateWord { return MakeState(state, (w.Gen()+1)&0xFFFFFF) }

// OwnerID is an owner identity (spec section 8): the pid in bits 0-31, the start time modulo
// 2^32 in bits 32-63. It is one word so that a reader never pairs one process's pid with another
// process's start time.
type OwnerID uint64

// MakeOwner builds the owner identity of a process.
func MakeOwner(pid uint32, startTime uint64) OwnerID { return OwnerID(uint64(pid) | startTime<<32) }

// PID returns the pid part.
func (o OwnerID) PID() uint32 { return uint32(o) }

// StartTime returns the start time modulo 2^32.
func (o OwnerID) StartTime() uint32 { return uint32(o >> 32) }

// PoisonMessageString returns the poison message, clamped to the field.
func (h *Header) PoisonMessageString() string {
	n := h.PoisonMessageLen
	if n > PoisonMax {
		n = PoisonMax
	}
	return string(h.PoisonMessage[:n])
}
