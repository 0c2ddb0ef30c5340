package layout

// Format version written by this implementation (spec/LAYOUT.md section 6): 2.1. A ring of fixed
// events is written as 2.0 (VersionMinorFixed), whose bytes it keeps; a framed ring as 2.1.
const (
	VersionMajor      = 2
	VersionMinor      = 1
	VersionMinorFixed = 0
)

// Magic is the first 8 bytes of every segment: "RINGWIRE" read as a little-endian uint64.
const Magic uint64 = 0x45524957474E4952

// Sizes of the fixed structures, in bytes.
const (
	HeaderLen    = 512 // header_len written by this version; readers use the stored value
	BlockSize    = 128 // every cursor and region is alone in, and aligned to, such a block
	CursorsLen   = 2 * BlockSize
	WaitLen      = 2 * BlockSize
	EntrySize    = 256 // registry_entry_size written by this version
	AvailWord    = 8   // bytes per availability word
	PageSize     = 4096
	TypeNameMax  = 64
	NameMax      = 48 // longest consumer name
	MaxRegistry  = 64 // depends_on is a 64-bit mask of entry indices
	ProducerSize = 128
	MaxProducers = 64
	PoisonMax    = 64
	MinCapacity  = 2
	MaxCapacity  = 1 << 30
	MaxEventSize = 65536
	MaxAlign     = 4096
)

// Values of header.payload_kind (spec section 3; added in format 2.1).
const (
	PayloadFixed  uint32 = 0 // fixed-size events, one per slot (spec 4.6)
	PayloadFramed uint32 = 1 // variable-length messages in frames (spec section 11)
)

// Framed rings (spec section 11).
const (
	VersionMinorFramed = 1  // version_minor of a framed ring: the first minor that has them
	FrameHeaderLen     = 16 // frame_header_len written by this version; readers use the stored value
	MinFrameAlign      = 16 // slot_align of a framed ring is at least this (payloads are 16-aligned)
	MinFramedCapacity  = 8  // a message spans at most capacity/8 slots
	FramePad           = uint64(1) << 63
	FrameSeqMask       = MaxSequence - 1 // bits 0-61 of seq_flags
	DefaultMessageType = "bytes"         // type_name of a framed ring whose application names none
)

// Values of header.init_state.
const (
	InitInitializing uint32 = 0
	InitReady        uint32 = 1
)

// Values of header.producer_mode.
const (
	SingleProducer uint32 = 1
	MultiProducer  uint32 = 2
)

// Values of header.producer_state.
const (
	StreamOpen   uint32 = 1
	StreamClosed uint32 = 2
)

// Values of entry.state.
const (
	EntryFree     uint32 = 0
	EntryClaiming uint32 = 1
	EntryActive   uint32 = 2
	EntryClosed   uint32 = 3
	EntryEvicted  uint32 = 4
)

// Flag bits of the cursors' claimed word and of availability words (spec 4.1, 4.5).
const (
	ClaimedClosed uint64 = 1 << 62 // claimed: the stream is closed to claims
	CountMask     uint64 = ClaimedClosed - 1
	AvailGap      uint64 = 1 << 63 // availability: the sequence was passed over
	MaxSequence   uint64 = 1 << 62 // first count a producer refuses to reach
)

// Values of producer entry state.
const (
	ProducerFree   uint32 = 0
	ProducerActive uint32 = 1
	ProducerClosed uint32 = 2 // the producer detached (Close); the stream's state is StreamOpen/StreamClosed
	ProducerDead   uint32 = 3 // its claims were passed over
)

// Values of header.poison_state and poison_phase.
const (
	PoisonNone      uint32 = 0
	PoisonRecording uint32 = 1
	PoisonRecorded  uint32 = 2

	PhasePublish uint32 = 1
	PhaseHandler uint32 = 2
)

// Bits of entry.flags.
const (
	FlagRequired uint32 = 1 << 0
	FlagStarting uint32 = 1 << 1 // the cursor is still being chosen (spec 5.7 step 6)
)

// StateName returns the spec's name for an entry state.
func StateName(s uint32) string {
	switch s {
	case EntryFree:
		return "free"
	case EntryClaiming:
		return "claiming"
	case EntryActive:
		return "active"
	case EntryClosed:
		return "closed"
	case EntryEvicted:
		return "evicted"
	}
	return "unknown"
}

// ModeName returns "single" or "multi" for a producer_mode value.
func ModeName(m uint32) string {
	switch m {
	case SingleProducer:
		return "single"
	case MultiProducer:
		return "multi"
	}
	return "unknown"
}
