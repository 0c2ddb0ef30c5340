/*
 * ringwire_layout.h - the ringwire segment format 2.1 as C overlay structs: the wire format, not
 * the API.
 *
 * Everything here is fixed by spec/LAYOUT.md and changes only with the format's major version:
 * the RW_<TABLE>_<FIELD>_OFFSET / _SIZE constants mirror the rows of each "### Table: <table>" of
 * the spec (header, cursors, wait, entry, producer, frame), the overlay structs are pinned to them with
 * static_asserts, and the C test "spec_tables" (tests/layout.c) parses spec/LAYOUT.md and compares
 * every row with these constants, both ways. So spec, constants and structs cannot drift apart.
 *
 * Who includes it: tools and tests that read a segment's bytes (the conformer, inspectors), and
 * the library itself. Programs that only produce and consume need ringwire.h alone, whose handles
 * are opaque; this header adds read access to the shared memory behind them
 * (rw_segment_header, rw_segment_entry, rw_segment_producer_entry).
 */
#ifndef RINGWIRE_LAYOUT_H
#define RINGWIRE_LAYOUT_H

#include "ringwire.h"

#include <assert.h>
#include <stdatomic.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ringwire: the overlay structs assume a little-endian host (spec 1.1)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Format constants (spec sections 3 and 4; the limits are in ringwire.h) ------------------ */

#define RW_MAGIC 0x45524957474E4952ULL /* "RINGWIRE" little-endian */
#define RW_HEADER_LEN 512u
#define RW_REGION_ALIGN 128u
#define RW_PAGE 4096u
#define RW_CURSORS_LEN 256u
#define RW_WAIT_LEN 256u
#define RW_ENTRY_LEN 256u
#define RW_PRODUCER_ENTRY_LEN 128u
#define RW_CLAIMED_CLOSED (1ull << 62)          /* claimed bit 62: closed to claims (4.1) */
#define RW_COUNT_MASK 0x3FFFFFFFFFFFFFFFull    /* claimed & this = the claimed count (4.1) */
#define RW_AVAIL_GAP (1ull << 63)              /* availability bit 63: passed over (4.5) */

/* Framed rings (spec section 11). */
#define RW_FRAME_HEADER_LEN 16u  /* frame_header_len this version writes; readers use the stored one */
#define RW_MIN_FRAME_ALIGN 16u   /* slot_align of a framed ring is at least this (11.1) */
#define RW_MIN_FRAMED_CAPACITY 8u /* a message spans at most capacity / 8 slots (11.1) */
#define RW_FRAME_PAD (1ull << 63)      /* seq_flags bit 63: a padding frame */
#define RW_FRAME_BIT62 (1ull << 62)    /* seq_flags bit 62: zero in a valid header */
#define RW_FRAME_SEQ_MASK RW_COUNT_MASK /* seq_flags bits 0-61: the frame's first sequence */
#define RW_DEFAULT_MESSAGE_TYPE "bytes" /* type_name of a framed ring whose application names none */

#define RW_INIT_INITIALIZING 0u
#define RW_INIT_READY 1u

/* header.producer_state: the stream state. */
#define RW_STREAM_OPEN 1u
#define RW_STREAM_CLOSED 2u

/* Consumer entry states (Table: entry). */
#define RW_ENTRY_FREE 0u
#define RW_ENTRY_CLAIMING 1u
#define RW_ENTRY_ACTIVE 2u
#define RW_ENTRY_CLOSED 3u
#define RW_ENTRY_EVICTED 4u
#define RW_ENTRY_STATE_MAX 4u /* a larger state value marks a corrupt entry (4.3) */
/* Entry flags bit 1, starting (5.7 steps 4 to 6): set with the other flags while claiming, cleared
 * (release) once the consumer's starting cursor is chosen and stored. Not a registration flag:
 * rw_consumer_register sets and clears it itself; it does not change gating. (Bit 0 is
 * RW_FLAG_REQUIRED, in ringwire.h.) */
#define RW_FLAG_STARTING 2u

/* Producer entry states (Table: producer). RW_PRODUCER_CLOSED: the producer detached; the
 * stream's own state is RW_STREAM_OPEN/RW_STREAM_CLOSED (header producer_state). */
#define RW_PRODUCER_FREE 0u
#define RW_PRODUCER_ACTIVE 1u
#define RW_PRODUCER_CLOSED 2u
#define RW_PRODUCER_DEAD 3u
#define RW_PRODUCER_STATE_MAX 3u

/* State words of registry and producer entries (4.3, 4.4): the state in bits 0-7, the generation
 * (incremented modulo 2^24 by every claim) in bits 8-31. */
#define RW_STATE_VALUE_MASK 0xFFu
#define RW_GENERATION_MASK 0xFFFFFFu
static inline uint32_t rw_state_value(uint32_t word) { return word & RW_STATE_VALUE_MASK; }
static inline uint32_t rw_state_generation(uint32_t word) { return word >> 8; }
static inline uint32_t rw_state_word(uint32_t value, uint32_t generation)
{
	return (generation & RW_GENERATION_MASK) << 8 | (value & RW_STATE_VALUE_MASK);
}
/* The word of the next claim of an entry whose state word is `word`: value, generation + 1. */
static inline uint32_t rw_state_claim(uint32_t word, uint32_t value)
{
	return rw_state_word(value, rw_state_generation(word) + 1);
}

/* Owner identities (spec 8): pid in bits 0-31, start time modulo 2^32 in bits 32-63. 0 means
 * nobody (never owned, or given up). */
static inline uint64_t rw_owner_identity(uint32_t pid, uint64_t start_time)
{
	return (uint64_t)pid | (start_time & 0xFFFFFFFFull) << 32;
}
static inline uint32_t rw_owner_pid(uint64_t owner) { return (uint32_t)owner; }
static inline uint32_t rw_owner_start_time(uint64_t owner) { return (uint32_t)(owner >> 32); }

/* poison_state (spec 5.9; poison_phase values RW_PHASE_* are in ringwire.h). */
#define RW_POISON_NONE 0u
#define RW_POISON_RECORDING 1u
#define RW_POISON_RECORDED 2u

/* ---- Table: header (spec section 3) ---- */
#define RW_HEADER_MAGIC_OFFSET 0
#define RW_HEADER_MAGIC_SIZE 8
#define RW_HEADER_INIT_STATE_OFFSET 8
#define RW_HEADER_INIT_STATE_SIZE 4
#define RW_HEADER_VERSION_MAJOR_OFFSET 12
#define RW_HEADER_VERSION_MAJOR_SIZE 2
#define RW_HEADER_VERSION_MINOR_OFFSET 14
#define RW_HEADER_VERSION_MINOR_SIZE 2
#define RW_HEADER_HEADER_LEN_OFFSET 16
#define RW_HEADER_HEADER_LEN_SIZE 4
#define RW_HEADER_PRODUCER_MODE_OFFSET 20
#define RW_HEADER_PRODUCER_MODE_SIZE 4
#define RW_HEADER_TOTAL_SIZE_OFFSET 24
#define RW_HEADER_TOTAL_SIZE_SIZE 8
#define RW_HEADER_CAPACITY_OFFSET 32
#define RW_HEADER_CAPACITY_SIZE 8
#define RW_HEADER_SLOT_SIZE_OFFSET 40
#define RW_HEADER_SLOT_SIZE_SIZE 4
#define RW_HEADER_SLOT_ALIGN_OFFSET 44
#define RW_HEADER_SLOT_ALIGN_SIZE 4
#define RW_HEADER_REGISTRY_CAPACITY_OFFSET 48
#define RW_HEADER_REGISTRY_CAPACITY_SIZE 4
#define RW_HEADER_REGISTRY_ENTRY_SIZE_OFFSET 52
#define RW_HEADER_REGISTRY_ENTRY_SIZE_SIZE 4
#define RW_HEADER_INCARNATION_OFFSET 56
#define RW_HEADER_INCARNATION_SIZE 8
#define RW_HEADER_CREATOR_PID_OFFSET 64
#define RW_HEADER_CREATOR_PID_SIZE 4
#define RW_HEADER_PRODUCER_STATE_OFFSET 68
#define RW_HEADER_PRODUCER_STATE_SIZE 4
#define RW_HEADER_CREATOR_START_TIME_OFFSET 72
#define RW_HEADER_CREATOR_START_TIME_SIZE 8
#define RW_HEADER_CREATED_UNIX_NS_OFFSET 80
#define RW_HEADER_CREATED_UNIX_NS_SIZE 8
#define RW_HEADER_PRODUCER_HEARTBEAT_NS_OFFSET 88
#define RW_HEADER_PRODUCER_HEARTBEAT_NS_SIZE 8
#define RW_HEADER_CURSORS_OFFSET 96
#define RW_HEADER_CURSORS_SIZE 16
#define RW_HEADER_WAIT_OFFSET 112
#define RW_HEADER_WAIT_SIZE 16
#define RW_HEADER_REGISTRY_OFFSET 128
#define RW_HEADER_REGISTRY_SIZE 16
#define RW_HEADER_AVAILABILITY_OFFSET 144
#define RW_HEADER_AVAILABILITY_SIZE 16
#define RW_HEADER_SLOTS_OFFSET 160
#define RW_HEADER_SLOTS_SIZE 16
#define RW_HEADER_PRODUCERS_OFFSET 176
#define RW_HEADER_PRODUCERS_SIZE 16
#define RW_HEADER_EVENT_SIZE_OFFSET 192
#define RW_HEADER_EVENT_SIZE_SIZE 4
#define RW_HEADER_EVENT_ALIGN_OFFSET 196
#define RW_HEADER_EVENT_ALIGN_SIZE 4
#define RW_HEADER_TYPE_FINGERPRINT_OFFSET 200
#define RW_HEADER_TYPE_FINGERPRINT_SIZE 8
#define RW_HEADER_TYPE_NAME_LEN_OFFSET 208
#define RW_HEADER_TYPE_NAME_LEN_SIZE 4
#define RW_HEADER_PRODUCER_CAPACITY_OFFSET 212
#define RW_HEADER_PRODUCER_CAPACITY_SIZE 4
#define RW_HEADER_TYPE_NAME_OFFSET 216
#define RW_HEADER_TYPE_NAME_SIZE 64
#define RW_HEADER_POISON_STATE_OFFSET 280
#define RW_HEADER_POISON_STATE_SIZE 4
#define RW_HEADER_POISON_PHASE_OFFSET 284
#define RW_HEADER_POISON_PHASE_SIZE 4
#define RW_HEADER_POISON_SEQ_OFFSET 288
#define RW_HEADER_POISON_SEQ_SIZE 8
#define RW_HEADER_POISON_PID_OFFSET 296
#define RW_HEADER_POISON_PID_SIZE 4
#define RW_HEADER_POISON_STAGE_OFFSET 300
#define RW_HEADER_POISON_STAGE_SIZE 4
#define RW_HEADER_POISON_MESSAGE_LEN_OFFSET 304
#define RW_HEADER_POISON_MESSAGE_LEN_SIZE 4
#define RW_HEADER_RESERVED1_OFFSET 308
#define RW_HEADER_RESERVED1_SIZE 4
#define RW_HEADER_POISON_MESSAGE_OFFSET 312
#define RW_HEADER_POISON_MESSAGE_SIZE 64
#define RW_HEADER_GAPS_OFFSET 376
#define RW_HEADER_GAPS_SIZE 8
#define RW_HEADER_CONSUMER_BLOCKERS_OFFSET 384
#define RW_HEADER_CONSUMER_BLOCKERS_SIZE 4
#define RW_HEADER_PRODUCER_BLOCKERS_OFFSET 388
#define RW_HEADER_PRODUCER_BLOCKERS_SIZE 4
#define RW_HEADER_PAYLOAD_KIND_OFFSET 392
#define RW_HEADER_PAYLOAD_KIND_SIZE 4
#define RW_HEADER_FRAME_HEADER_LEN_OFFSET 396
#define RW_HEADER_FRAME_HEADER_LEN_SIZE 4
#define RW_HEADER_MAX_MESSAGE_OFFSET 400
#define RW_HEADER_MAX_MESSAGE_SIZE 4
#define RW_HEADER_RESERVED3_OFFSET 404
#define RW_HEADER_RESERVED3_SIZE 4
#define RW_HEADER_RESERVED2_OFFSET 408
#define RW_HEADER_RESERVED2_SIZE 104

/* ---- Table: cursors (spec 4.1) ---- */
#define RW_CURSORS_PUBLISHED_OFFSET 0
#define RW_CURSORS_PUBLISHED_SIZE 8
#define RW_CURSORS_PAD0_OFFSET 8
#define RW_CURSORS_PAD0_SIZE 120
#define RW_CURSORS_CLAIMED_OFFSET 128
#define RW_CURSORS_CLAIMED_SIZE 8
#define RW_CURSORS_PAD1_OFFSET 136
#define RW_CURSORS_PAD1_SIZE 120

/* ---- Table: wait (spec 4.2) ---- */
#define RW_WAIT_CONSUMER_WAKE_OFFSET 0
#define RW_WAIT_CONSUMER_WAKE_SIZE 4
#define RW_WAIT_CONSUMER_WAITERS_OFFSET 4
#define RW_WAIT_CONSUMER_WAITERS_SIZE 4
#define RW_WAIT_PAD0_OFFSET 8
#define RW_WAIT_PAD0_SIZE 120
#define RW_WAIT_PRODUCER_WAKE_OFFSET 128
#define RW_WAIT_PRODUCER_WAKE_SIZE 4
#define RW_WAIT_PRODUCER_WAITERS_OFFSET 132
#define RW_WAIT_PRODUCER_WAITERS_SIZE 4
#define RW_WAIT_PAD1_OFFSET 136
#define RW_WAIT_PAD1_SIZE 120

/* ---- Table: entry (spec 4.3) ---- */
#define RW_ENTRY_STATE_OFFSET 0
#define RW_ENTRY_STATE_SIZE 4
#define RW_ENTRY_FLAGS_OFFSET 4
#define RW_ENTRY_FLAGS_SIZE 4
#define RW_ENTRY_OWNER_OFFSET 8
#define RW_ENTRY_OWNER_SIZE 8
#define RW_ENTRY_NAME_LEN_OFFSET 16
#define RW_ENTRY_NAME_LEN_SIZE 4
#define RW_ENTRY_RESERVED0_OFFSET 20
#define RW_ENTRY_RESERVED0_SIZE 4
#define RW_ENTRY_HEARTBEAT_NS_OFFSET 24
#define RW_ENTRY_HEARTBEAT_NS_SIZE 8
#define RW_ENTRY_DEPENDS_ON_OFFSET 32
#define RW_ENTRY_DEPENDS_ON_SIZE 8
#define RW_ENTRY_NAME_OFFSET 40
#define RW_ENTRY_NAME_SIZE 48
#define RW_ENTRY_LOST_OFFSET 88
#define RW_ENTRY_LOST_SIZE 8
#define RW_ENTRY_GAPS_SEEN_OFFSET 96
#define RW_ENTRY_GAPS_SEEN_SIZE 8
#define RW_ENTRY_RESERVED_OFFSET 104
#define RW_ENTRY_RESERVED_SIZE 24
#define RW_ENTRY_CURSOR_OFFSET 128
#define RW_ENTRY_CURSOR_SIZE 8
#define RW_ENTRY_PAD_OFFSET 136
#define RW_ENTRY_PAD_SIZE 120

/* ---- Table: producer (spec 4.4) ---- */
#define RW_PRODUCER_STATE_OFFSET 0
#define RW_PRODUCER_STATE_SIZE 4
#define RW_PRODUCER_RESERVED0_OFFSET 4
#define RW_PRODUCER_RESERVED0_SIZE 4
#define RW_PRODUCER_OWNER_OFFSET 8
#define RW_PRODUCER_OWNER_SIZE 8
#define RW_PRODUCER_HEARTBEAT_NS_OFFSET 16
#define RW_PRODUCER_HEARTBEAT_NS_SIZE 8
#define RW_PRODUCER_INTENT_START_OFFSET 24
#define RW_PRODUCER_INTENT_START_SIZE 8
#define RW_PRODUCER_INTENT_END_OFFSET 32
#define RW_PRODUCER_INTENT_END_SIZE 8
#define RW_PRODUCER_RESERVED_OFFSET 40
#define RW_PRODUCER_RESERVED_SIZE 88

/* ---- Table: frame (spec 11.1) ---- */
#define RW_FRAME_SEQ_FLAGS_OFFSET 0
#define RW_FRAME_SEQ_FLAGS_SIZE 8
#define RW_FRAME_LENGTH_OFFSET 8
#define RW_FRAME_LENGTH_SIZE 4
#define RW_FRAME_SLOTS_OFFSET 12
#define RW_FRAME_SLOTS_SIZE 4

/* ---- Overlay structs. Each mirrors one spec table; the static_asserts below pin every field
 * to the table constants. Atomic fields are _Atomic of the same width (lock-free, same size and
 * alignment as the plain integer on every supported ABI; asserted below). ---------------------- */

typedef struct rw_region {
	uint64_t offset;
	uint64_t length;
} rw_region;

/* Table: header. 512 bytes. */
typedef struct rw_header {
	uint64_t magic;
	_Atomic uint32_t init_state;
	uint16_t version_major;
	uint16_t version_minor;
	uint32_t header_len;
	uint32_t producer_mode;
	uint64_t total_size;
	uint64_t capacity;
	uint32_t slot_size;
	uint32_t slot_align;
	uint32_t registry_capacity;
	uint32_t registry_entry_size;
	uint64_t incarnation;
	uint32_t creator_pid;
	_Atomic uint32_t producer_state;
	uint64_t creator_start_time;
	uint64_t created_unix_ns;
	_Atomic uint64_t producer_heartbeat_ns;
	rw_region cursors;
	rw_region wait;
	rw_region registry;
	rw_region availability;
	rw_region slots;
	rw_region producers;
	uint32_t event_size;
	uint32_t event_align;
	uint64_t type_fingerprint;
	uint32_t type_name_len;
	uint32_t producer_capacity;
	uint8_t type_name[64];
	/* The poison record (spec 5.9): poison_state is the CAS'd lock, the rest is written only by
	 * the CAS winner before it stores poison_state = 2. */
	_Atomic uint32_t poison_state;
	uint32_t poison_phase;
	uint64_t poison_seq;
	uint32_t poison_pid;
	uint32_t poison_stage;
	uint32_t poison_message_len;
	uint32_t reserved1;
	uint8_t poison_message[64];
	_Atomic uint64_t gaps; /* sequences passed over (5.8), atomic add by any peer */
	/* Peers registered to block in the kernel (futex) on the consumer / producer wait word
	 * (5.6): seq-cst add of 1 then membarrier (F3) before a peer's first kernel wait, -1 when
	 * it leaves. Wakers load them after their cursor store and skip the handshake while 0. */
	_Atomic uint32_t consumer_blockers;
	_Atomic uint32_t producer_blockers;
	/* Format 2.1 (spec section 11): zero in a ring of fixed events. */
	uint32_t payload_kind;     /* RW_PAYLOAD_FIXED or RW_PAYLOAD_FRAMED */
	uint32_t frame_header_len; /* framed: bytes of a frame header (16 in 2.1) */
	uint32_t max_message;      /* framed: the largest payload in bytes */
	uint32_t reserved3;
	uint8_t reserved2[104]; /* later minors may place fields here */
} rw_header;

/* Table: cursors. Each word fills the first 8 bytes of its own 128-byte block; the padding keeps
 * the consumers' reads of `published` off the line the multi producers CAS `claimed` on. */
typedef struct rw_cursors {
	_Atomic uint64_t published;
	uint8_t pad0[120];
	_Atomic uint64_t claimed;
	uint8_t pad1[120];
} rw_cursors;

/* Table: wait. Consumer and producer wait words live in separate 128-byte blocks. */
typedef struct rw_wait {
	_Atomic uint32_t consumer_wake;
	_Atomic uint32_t consumer_waiters;
	uint8_t pad0[120];
	_Atomic uint32_t producer_wake;
	_Atomic uint32_t producer_waiters;
	uint8_t pad1[120];
} rw_wait;

/* Table: entry. The first 128 bytes describe the consumer; its cursor is alone in the second
 * 128 bytes because the producer polls it while the owner stores it. `state` and `owner` change
 * only by compare-and-swap (spec 4.3): read them with the accessors below. */
typedef struct rw_entry {
	_Atomic uint32_t state; /* bits 0-7 RW_ENTRY_*, bits 8-31 generation */
	_Atomic uint32_t flags; /* release/acquire (4.3); bit 1 cleared at 5.7 step 6 */
	_Atomic uint64_t owner; /* owner identity (spec 8), 0 when given up */
	uint32_t name_len;      /* 1..48 unless corrupt: use rw_entry_name */
	uint32_t reserved0;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t depends_on; /* release/acquire: a taker rewrites it (5.7) */
	uint8_t name[48];
	_Atomic uint64_t lost;
	_Atomic uint64_t gaps_seen;
	uint8_t reserved[24];
	_Atomic uint64_t cursor;
	uint8_t pad[120];
} rw_entry;

/* Table: producer. 128 bytes: a whole cache-line pair per producer, so one producer's intent
 * stores (every claim in multi mode) never share a line with another's. */
typedef struct rw_producer_entry {
	_Atomic uint32_t state; /* bits 0-7 RW_PRODUCER_*, bits 8-31 generation */
	uint32_t reserved0;
	_Atomic uint64_t owner; /* owner identity (spec 8), 0 when given up */
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t intent_start;
	_Atomic uint64_t intent_end;
	uint8_t reserved[88];
} rw_producer_entry;

/* Table: frame. The 16 bytes at the start of a frame's first slot (11.1); bytes 16 to
 * frame_header_len - 1 of a longer header are reserved. A producer writes it with plain stores
 * before it publishes the frame; an optional consumer may copy it while a producer rewrites it, so
 * readers load its words with rw_frame_load (relaxed atomic loads of each word). */
typedef struct rw_frame_header {
	uint64_t seq_flags; /* bits 0-61 the frame's first sequence, bit 62 zero, bit 63 PAD */
	uint32_t length;    /* payload bytes of a message, 0 to max_message; 0 for a PAD */
	uint32_t slots;     /* sequences (slots) the frame occupies, its first included */
} rw_frame_header;

#define RW_ASSERT_FIELD(T, TABLE, field, FIELD)                                                    \
	static_assert(offsetof(T, field) == RW_##TABLE##_##FIELD##_OFFSET,                        \
		      #T "." #field " offset differs from the spec table");                          \
	static_assert(sizeof(((T *)0)->field) == RW_##TABLE##_##FIELD##_SIZE,                     \
		      #T "." #field " size differs from the spec table")

static_assert(sizeof(_Atomic uint32_t) == 4 && _Alignof(_Atomic uint32_t) == 4, "atomic u32");
static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8, "atomic u64");
static_assert(sizeof(rw_header) == RW_HEADER_LEN, "header is 512 bytes");
static_assert(sizeof(rw_cursors) == RW_CURSORS_LEN, "cursors region is 256 bytes");
static_assert(sizeof(rw_wait) == RW_WAIT_LEN, "wait region is 256 bytes");
static_assert(sizeof(rw_entry) == RW_ENTRY_LEN, "registry entry is 256 bytes");
static_assert(sizeof(rw_producer_entry) == RW_PRODUCER_ENTRY_LEN, "producer entry is 128 bytes");
static_assert(sizeof(rw_frame_header) == RW_FRAME_HEADER_LEN, "frame header is 16 bytes");
RW_ASSERT_FIELD(rw_header, HEADER, magic, MAGIC);
RW_ASSERT_FIELD(rw_header, HEADER, init_state, INIT_STATE);
RW_ASSERT_FIELD(rw_header, HEADER, version_major, VERSION_MAJOR);
RW_ASSERT_FIELD(rw_header, HEADER, version_minor, VERSION_MINOR);
RW_ASSERT_FIELD(rw_header, HEADER, header_len, HEADER_LEN);
RW_ASSERT_FIELD(rw_header, HEADER, producer_mode, PRODUCER_MODE);
RW_ASSERT_FIELD(rw_header, HEADER, total_size, TOTAL_SIZE);
RW_ASSERT_FIELD(rw_header, HEADER, capacity, CAPACITY);
RW_ASSERT_FIELD(rw_header, HEADER, slot_size, SLOT_SIZE);
RW_ASSERT_FIELD(rw_header, HEADER, slot_align, SLOT_ALIGN);
RW_ASSERT_FIELD(rw_header, HEADER, registry_capacity, REGISTRY_CAPACITY);
RW_ASSERT_FIELD(rw_header, HEADER, registry_entry_size, REGISTRY_ENTRY_SIZE);
RW_ASSERT_FIELD(rw_header, HEADER, incarnation, INCARNATION);
RW_ASSERT_FIELD(rw_header, HEADER, creator_pid, CREATOR_PID);
RW_ASSERT_FIELD(rw_header, HEADER, producer_state, PRODUCER_STATE);
RW_ASSERT_FIELD(rw_header, HEADER, creator_start_time, CREATOR_START_TIME);
RW_ASSERT_FIELD(rw_header, HEADER, created_unix_ns, CREATED_UNIX_NS);
RW_ASSERT_FIELD(rw_header, HEADER, producer_heartbeat_ns, PRODUCER_HEARTBEAT_NS);
RW_ASSERT_FIELD(rw_header, HEADER, cursors, CURSORS);
RW_ASSERT_FIELD(rw_header, HEADER, wait, WAIT);
RW_ASSERT_FIELD(rw_header, HEADER, registry, REGISTRY);
RW_ASSERT_FIELD(rw_header, HEADER, availability, AVAILABILITY);
RW_ASSERT_FIELD(rw_header, HEADER, slots, SLOTS);
RW_ASSERT_FIELD(rw_header, HEADER, producers, PRODUCERS);
RW_ASSERT_FIELD(rw_header, HEADER, event_size, EVENT_SIZE);
RW_ASSERT_FIELD(rw_header, HEADER, event_align, EVENT_ALIGN);
RW_ASSERT_FIELD(rw_header, HEADER, type_fingerprint, TYPE_FINGERPRINT);
RW_ASSERT_FIELD(rw_header, HEADER, type_name_len, TYPE_NAME_LEN);
RW_ASSERT_FIELD(rw_header, HEADER, producer_capacity, PRODUCER_CAPACITY);
RW_ASSERT_FIELD(rw_header, HEADER, type_name, TYPE_NAME);
RW_ASSERT_FIELD(rw_header, HEADER, poison_state, POISON_STATE);
RW_ASSERT_FIELD(rw_header, HEADER, poison_phase, POISON_PHASE);
RW_ASSERT_FIELD(rw_header, HEADER, poison_seq, POISON_SEQ);
RW_ASSERT_FIELD(rw_header, HEADER, poison_pid, POISON_PID);
RW_ASSERT_FIELD(rw_header, HEADER, poison_stage, POISON_STAGE);
RW_ASSERT_FIELD(rw_header, HEADER, poison_message_len, POISON_MESSAGE_LEN);
RW_ASSERT_FIELD(rw_header, HEADER, reserved1, RESERVED1);
RW_ASSERT_FIELD(rw_header, HEADER, poison_message, POISON_MESSAGE);
RW_ASSERT_FIELD(rw_header, HEADER, gaps, GAPS);
RW_ASSERT_FIELD(rw_header, HEADER, consumer_blockers, CONSUMER_BLOCKERS);
RW_ASSERT_FIELD(rw_header, HEADER, producer_blockers, PRODUCER_BLOCKERS);
RW_ASSERT_FIELD(rw_header, HEADER, payload_kind, PAYLOAD_KIND);
RW_ASSERT_FIELD(rw_header, HEADER, frame_header_len, FRAME_HEADER_LEN);
RW_ASSERT_FIELD(rw_header, HEADER, max_message, MAX_MESSAGE);
RW_ASSERT_FIELD(rw_header, HEADER, reserved3, RESERVED3);
RW_ASSERT_FIELD(rw_header, HEADER, reserved2, RESERVED2);
RW_ASSERT_FIELD(rw_cursors, CURSORS, published, PUBLISHED);
RW_ASSERT_FIELD(rw_cursors, CURSORS, pad0, PAD0);
RW_ASSERT_FIELD(rw_cursors, CURSORS, claimed, CLAIMED);
RW_ASSERT_FIELD(rw_cursors, CURSORS, pad1, PAD1);
RW_ASSERT_FIELD(rw_wait, WAIT, consumer_wake, CONSUMER_WAKE);
RW_ASSERT_FIELD(rw_wait, WAIT, consumer_waiters, CONSUMER_WAITERS);
RW_ASSERT_FIELD(rw_wait, WAIT, pad0, PAD0);
RW_ASSERT_FIELD(rw_wait, WAIT, producer_wake, PRODUCER_WAKE);
RW_ASSERT_FIELD(rw_wait, WAIT, producer_waiters, PRODUCER_WAITERS);
RW_ASSERT_FIELD(rw_wait, WAIT, pad1, PAD1);
RW_ASSERT_FIELD(rw_entry, ENTRY, state, STATE);
RW_ASSERT_FIELD(rw_entry, ENTRY, flags, FLAGS);
RW_ASSERT_FIELD(rw_entry, ENTRY, owner, OWNER);
RW_ASSERT_FIELD(rw_entry, ENTRY, name_len, NAME_LEN);
RW_ASSERT_FIELD(rw_entry, ENTRY, reserved0, RESERVED0);
RW_ASSERT_FIELD(rw_entry, ENTRY, heartbeat_ns, HEARTBEAT_NS);
RW_ASSERT_FIELD(rw_entry, ENTRY, depends_on, DEPENDS_ON);
RW_ASSERT_FIELD(rw_entry, ENTRY, name, NAME);
RW_ASSERT_FIELD(rw_entry, ENTRY, lost, LOST);
RW_ASSERT_FIELD(rw_entry, ENTRY, gaps_seen, GAPS_SEEN);
RW_ASSERT_FIELD(rw_entry, ENTRY, reserved, RESERVED);
RW_ASSERT_FIELD(rw_entry, ENTRY, cursor, CURSOR);
RW_ASSERT_FIELD(rw_entry, ENTRY, pad, PAD);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, state, STATE);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, reserved0, RESERVED0);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, owner, OWNER);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, heartbeat_ns, HEARTBEAT_NS);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, intent_start, INTENT_START);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, intent_end, INTENT_END);
RW_ASSERT_FIELD(rw_producer_entry, PRODUCER, reserved, RESERVED);
RW_ASSERT_FIELD(rw_frame_header, FRAME, seq_flags, SEQ_FLAGS);
RW_ASSERT_FIELD(rw_frame_header, FRAME, length, LENGTH);
RW_ASSERT_FIELD(rw_frame_header, FRAME, slots, SLOTS);

/* ---- Frames (spec 11.1) ------------------------------------------------------------------------
 * The frame geometry a framed ring's header records, as validated by check 14: what a frame header
 * is checked against. Frozen: it is exactly the fields of 11.1 (frame_header_len, max_message,
 * slot_size, capacity), which only a new format version can change. */
typedef struct rw_frame_geometry {
	uint32_t header_len;  /* frame_header_len (H): a payload starts H bytes into its first slot */
	uint32_t max_message; /* the largest payload (M) */
	uint32_t slot_size;
	uint32_t reserved; /* zero */
	uint64_t capacity;
} rw_frame_geometry;

/* The slots a frame of a message of len payload bytes occupies: ceil((H + len) / slot_size), at
 * least 1 (11.2 step 2). */
static inline uint64_t rw_frame_slots(const rw_frame_geometry *g, uint32_t len)
{
	return ((uint64_t)g->header_len + len + g->slot_size - 1) / g->slot_size;
}

/* Which rule of 11.1 the frame header f, read at sequence seq, breaks: 0 if it is valid; 1 (its
 * sequence is not seq, or bit 62 is set: stale, or no header), 2 (slots 0, or the frame leaves
 * the slot array) or 3 (a message longer than max_message, or whose slots are not
 * ceil((H + length) / slot_size); a PAD with a length). It only compares numbers, so it is safe
 * on any bytes, and a frame it accepts lies inside the slot array with its payload inside the
 * frame. g must have passed check 14 (capacity a power of two, slot_size > header_len). */
int rw_frame_check(const rw_frame_geometry *g, uint64_t seq, const rw_frame_header *f);
/* Copies the frame header at p (a slot) word by word with relaxed atomic loads: a racing writer
 * (11.4) gives a torn copy, never undefined behaviour. */
static inline rw_frame_header rw_frame_load(const void *p)
{
	rw_frame_header f;
	f.seq_flags = atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)p, memory_order_relaxed);
	uint64_t w = atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)((const uint8_t *)p + 8),
					  memory_order_relaxed);
	f.length = (uint32_t)w;
	f.slots = (uint32_t)(w >> 32);
	return f;
}

/* ---- Reading the overlays of an attached segment ------------------------------------------------
 * The segment's header, its cursors region (at the offset validated at attach), registry entry i
 * (i < rw_segment_registry_capacity) and producer entry i (i < rw_segment_producer_capacity),
 * inside its mapping; NULL for an index out of range. Peers write these concurrently: read the
 * atomic fields with atomic loads or the accessors below, and treat every other field as
 * untrusted (5.2, last paragraph). */
rw_header *rw_segment_header(const rw_segment *seg);
rw_cursors *rw_segment_cursors(const rw_segment *seg);
rw_entry *rw_segment_entry(const rw_segment *seg, uint32_t i);
rw_producer_entry *rw_segment_producer_entry(const rw_segment *seg, uint32_t i);

/* Accessors of the registry overlays: the one place that masks state words and range-checks the
 * fields peers write (4.3, 5.2 last paragraph). */
static inline uint32_t rw_entry_state_word(const rw_entry *e)
{
	return atomic_load_explicit((_Atomic uint32_t *)&e->state, memory_order_seq_cst);
}
static inline uint64_t rw_entry_owner(const rw_entry *e)
{
	return atomic_load_explicit((_Atomic uint64_t *)&e->owner, memory_order_seq_cst);
}
/* The entry's flags (RW_FLAG_*), acquire: read after an acquire load of `state` (4.3). */
static inline uint32_t rw_entry_flags(const rw_entry *e)
{
	return atomic_load_explicit((_Atomic uint32_t *)&e->flags, memory_order_acquire);
}
/* The entry's cursor (acquire): the next sequence its consumer reads. */
static inline uint64_t rw_entry_cursor(const rw_entry *e)
{
	return atomic_load_explicit((_Atomic uint64_t *)&e->cursor, memory_order_acquire);
}
static inline uint32_t rw_producer_state_word(const rw_producer_entry *e)
{
	return atomic_load_explicit((_Atomic uint32_t *)&e->state, memory_order_seq_cst);
}
static inline uint64_t rw_producer_owner(const rw_producer_entry *e)
{
	return atomic_load_explicit((_Atomic uint64_t *)&e->owner, memory_order_seq_cst);
}
/* Copies an entry's name into out (49 bytes, NUL-terminated) and returns its length, or 0 if the
 * entry is corrupt (name_len 0 or over 48, or state value over 4): it then matches no name and
 * never gates. Read it after an acquire load of `state` that saw claiming or active. */
uint32_t rw_entry_name(const rw_entry *e, char out[RW_MAX_CONSUMER_NAME + 1]);
/* Whether entry e is active and required with a sane state word: it gates the producer (5.3). */
int rw_entry_gates(const rw_entry *e);
/* Whether entry e is active and has chosen where it starts reading (flags bit 1, starting, clear;
 * 5.7 step 6): every event published after this is seen reaches it. */
int rw_entry_ready(const rw_entry *e);
/* Human name of an entry state word ("free", "claiming", "active", "closed", "evicted",
 * "corrupt"); the generation bits are ignored. */
const char *rw_entry_state_name(uint32_t state);
/* Human name of a producer entry state word ("free", "active", "closed", "dead", "corrupt"; the
 * spec's words). */
const char *rw_producer_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif
#endif /* RINGWIRE_LAYOUT_H */
