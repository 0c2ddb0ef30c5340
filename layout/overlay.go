package layout

import "sync/atomic"

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
	Reserved2           [120]byte         `spec:"reserved2"`
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
// the owner when it registers; the cursor is alone in the second block because the owner writes it
// on every batch while the producer reads it.
type Entry struct {
	State          atomic.Uint32 `spec:"state"`
	Flags          uint32        `spec:"flags"`
	Generation     uint64        `spec:"generation"`
	OwnerPID       uint32        `spec:"owner_pid"`
	NameLen        uint32        `spec:"name_len"`
	OwnerStartTime uint64        `spec:"owner_start_time"`
	HeartbeatNs    atomic.Uint64 `spec:"heartbeat_ns"`
	DependsOn      uint64        `spec:"depends_on"`
	Name           [NameMax]byte `spec:"name"`
	Lost           atomic.Uint64 `spec:"lost"`
	GapsSeen       atomic.Uint64 `spec:"gaps_seen"`
	Reserved       [16]byte      `spec:"reserved"`
	Cursor         atomic.Uint64 `spec:"cursor"`
	Pad            [120]byte     `spec:"pad"`
}

// NameString returns the entry's name, clamped to the field.
func (e *Entry) NameString() string {
	n := e.NameLen
	if n > NameMax {
		n = NameMax
	}
	return string(e.Name[:n])
}

// Required reports whether the entry gates the producer.
func (e *Entry) Required() bool { return e.Flags&FlagRequired != 0 }

// ProducerEntry mirrors "Table: producer": one producer's registration and, in multi mode, the
// range it is claiming, so peers can pass over the claims of a producer that died (spec 5.8).
type ProducerEntry struct {
	State          atomic.Uint32 `spec:"state"`
	OwnerPID       uint32        `spec:"owner_pid"`
	OwnerStartTime uint64        `spec:"owner_start_time"`
	HeartbeatNs    atomic.Uint64 `spec:"heartbeat_ns"`
	Generation     uint64        `spec:"generation"`
	IntentStart    atomic.Uint64 `spec:"intent_start"`
	IntentEnd      atomic.Uint64 `spec:"intent_end"`
	Reserved       [80]byte      `spec:"reserved"`
}

// PoisonMessageString returns the poison message, clamped to the field.
func (h *Header) PoisonMessageString() string {
	n := h.PoisonMessageLen
	if n > PoisonMax {
		n = PoisonMax
	}
	return string(h.PoisonMessage[:n])
}
