/*
 * ringwire.h - C11 implementation of the ringwire segment format 2.0.
 *
 * The byte layout is the one of spec/LAYOUT.md; this header is one of the derived copies of it.
 * Every RW_<TABLE>_<FIELD>_OFFSET / _SIZE constant below mirrors one row of a "### Table: <table>"
 * of the spec (header, cursors, wait, entry, producer). The C unit test "spec_tables"
 * (test_ringwire.c) parses spec/LAYOUT.md and compares every row with these constants, both ways;
 * the overlay structs are pinned to the same constants with static_asserts, so spec, constants and
 * structs cannot drift apart.
 *
 * Dependencies: libc only (C11 <stdatomic.h>, POSIX shm/mmap). Linux blocks in futex and registers
 * blockers with membarrier; other systems sleep with a bounded backoff (spec 5.6).
 *
 * Concurrency: an rw_segment may be shared by the threads of one process once it is created or
 * attached (its fields are immutable). An rw_producer and an rw_consumer are NOT safe for
 * concurrent use: each belongs to one thread at a time. Several rw_producers (one per thread or
 * process) may publish into one multi-producer segment.
 */
#ifndef RINGWIRE_H
#define RINGWIRE_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ringwire: the overlay structs assume a little-endian host (spec 1.1)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Format constants (spec sections 3 and 4) ---------------------------------------------- */

#define RW_MAGIC 0x45524957474E4952ULL /* "RINGWIRE" little-endian */
#define RW_VERSION_MAJOR 2u
#define RW_VERSION_MINOR 0u
#define RW_HEADER_LEN 512u
#define RW_REGION_ALIGN 128u
#define RW_PAGE 4096u
#define RW_CURSORS_LEN 256u
#define RW_WAIT_LEN 256u
#define RW_ENTRY_LEN 256u
#define RW_MIN_CAPACITY 2ull
#define RW_MAX_CAPACITY (1ull << 30)
#define RW_MAX_EVENT_SIZE 65536u
#define RW_MAX_ALIGN 4096u
#define RW_MAX_REGISTRY 64u
#define RW_MAX_TYPE_NAME 64u
#define RW_MAX_CONSUMER_NAME 48u
#define RW_MAX_PRODUCERS 64u
#define RW_PRODUCER_ENTRY_LEN 128u
#define RW_DEFAULT_MULTI_PRODUCERS 8u
#define RW_MAX_POISON_MESSAGE 64u
#define RW_MAX_SEQUENCE (1ull << 62) /* counts stay below this: claims end at most 2^62 - 1 (spec 2, 4.1) */
#define RW_CLAIMED_CLOSED (1ull << 62)          /* claimed bit 62: closed to claims (4.1) */
#define RW_COUNT_MASK 0x3FFFFFFFFFFFFFFFull    /* claimed & this = the claimed count (4.1) */
#define RW_AVAIL_GAP (1ull << 63)              /* availability bit 63: passed over (4.5) */

#define RW_INIT_INITIALIZING 0u
#define RW_INIT_READY 1u
#define RW_MODE_SINGLE 1u
#define RW_MODE_MULTI 2u
#define RW_PRODUCER_OPEN 1u
#define RW_PRODUCER_CLOSED 2u

#define RW_ENTRY_FREE 0u
#define RW_ENTRY_CLAIMING 1u
#define RW_ENTRY_ACTIVE 2u
#define RW_ENTRY_CLOSED 3u
#define RW_ENTRY_EVICTED 4u
#define RW_ENTRY_STATE_MAX 4u /* a larger state value marks a corrupt entry (4.3) */
#define RW_FLAG_REQUIRED 1u
/* Entry flags bit 1, starting (5.7 steps 4 to 6): set with the other flags while claiming, cleared
 * (release) once the consumer's starting cursor is chosen and stored. Not a registration flag:
 * rw_register sets and clears it itself; it does not change gating. */
#define RW_FLAG_STARTING 2u

/* Producer entry states (Table: producer). */
#define RW_PRODUCER_ENTRY_FREE 0u
#define RW_PRODUCER_ENTRY_ACTIVE 1u
#define RW_PRODUCER_ENTRY_CLOSED 2u
#define RW_PRODUCER_ENTRY_DEAD 3u
#define RW_PRODUCER_ENTRY_STATE_MAX 3u

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

/* poison_state and poison_phase (spec 5.9). */
#define RW_POISON_NONE 0u
#define RW_POISON_RECORDING 1u
#define RW_POISON_RECORDED 2u
#define RW_PHASE_PUBLISH 1u
#define RW_PHASE_HANDLER 2u

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
#define RW_HEADER_RESERVED2_OFFSET 392
#define RW_HEADER_RESERVED2_SIZE 120

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
	uint8_t reserved2[120]; /* later minors may place fields here */
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
	_Atomic uint32_t state; /* bits 0-7 RW_PRODUCER_ENTRY_*, bits 8-31 generation */
	uint32_t reserved0;
	_Atomic uint64_t owner; /* owner identity (spec 8), 0 when given up */
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t intent_start;
	_Atomic uint64_t intent_end;
	uint8_t reserved[88];
} rw_producer_entry;

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

/* ---- Errors ---------------------------------------------------------------------------------
 * RW_ERR_TOO_SMALL .. RW_ERR_EVENT_TYPE are the validation errors of spec 5.2, in check order.
 * Codes are appended, never renumbered. */
typedef enum rw_code {
	RW_OK = 0,
	RW_ERR_TOO_SMALL,       /* check 1: 1 to 511 bytes */
	RW_ERR_INITIALIZING,    /* checks 1 (0 bytes) and 2, after the attach deadline */
	RW_ERR_BAD_MAGIC,       /* check 3 */
	RW_ERR_BAD_STATE,       /* check 4 */
	RW_ERR_VERSION,         /* check 5 */
	RW_ERR_HEADER_LENGTH,   /* check 6 */
	RW_ERR_TRUNCATED,       /* check 7 */
	RW_ERR_CAPACITY,        /* check 8 */
	RW_ERR_SLOT_GEOMETRY,   /* check 9 */
	RW_ERR_PRODUCER_MODE,   /* check 10 */
	RW_ERR_REGISTRY,        /* check 11 */
	RW_ERR_REGION,          /* check 12 */
	RW_ERR_EVENT_TYPE,      /* check 13 */
	RW_ERR_NOT_FOUND,       /* no segment of that name/path (after the attach deadline) */
	RW_ERR_EXISTS,          /* exclusive create found an existing segment */
	RW_ERR_REGISTRY_FULL,   /* spec 5.7 step 2: no claimable entry */
	RW_ERR_DUPLICATE_NAME,  /* spec 5.7 steps 1 and 5: a live entry has the name */
	RW_ERR_EVICTED,         /* our entry's state word or owner word changed (spec 5.5 step 4) */
	RW_ERR_ENDED,           /* producer closed and every published event was read (spec 5.5 4) */
	RW_ERR_TIMEOUT,         /* a deadline passed */
	RW_ERR_OVERFLOW,        /* sequence space exhausted: a claim would pass 2^62 (spec 2) */
	RW_ERR_WRONG_MODE,      /* operation needs the other producer mode */
	RW_ERR_INVALID_ARG,     /* bad argument from the caller */
	RW_ERR_IO,              /* a system call failed; errno is in rw_error.sys_errno */
	RW_ERR_PRODUCERS_FULL,  /* no usable producer entry (spec 5.4 attach step 1) */
	RW_ERR_CLOSED,          /* multi mode: claimed is closed to claims (spec 4.1, 5.4) */
	RW_ERR_POISONED,        /* the ring is poisoned (spec 5.9); the message has the record */
	RW_ERR_GAP,             /* sequences were passed over (spec 5.8); see rw_consumer.gap_* */
	RW_ERR_NO_SPACE,        /* creation could not reserve the segment's memory (spec 5.1) */
	RW_ERR_INVALID_NAME,    /* not a segment name of the spec 9 grammar */
	RW_ERR_NOT_REGULAR,     /* the backing is a symlink or not a regular file (spec 5.1) */
	RW_ERR_PRODUCER_DEAD,   /* every producer died without closing (spec 5.5 step 4) */
	RW_ERR_LOST,            /* an optional consumer was lapped (spec 5.10); see rw_consumer.lost_* */
	RW_ERR_BUSY,            /* registry busy: registration lost its races (a takeover's owner or
				 * state CAS) in each of its 16 rounds (spec 5.7, taking over) */
	RW_ERR_COUNT_
} rw_code;

/* Details of a failure. The message names the field, region, versions or pid involved. */
typedef struct rw_error {
	rw_code code;
	int sys_errno;
	char message[192];
} rw_error;

/* Short stable identifier (the conformer's JSON "code" where one exists), e.g. "bad_magic". */
const char *rw_code_name(rw_code code);
/* One-line human description of a code, e.g. "bad magic". */
const char *rw_strerror(rw_code code);

/* ---- Hashes, names, process identity --------------------------------------------------------- */

/* FNV-1a 64 (spec 7). */
uint64_t rw_fnv1a64(const void *data, size_t len);
/* type_fingerprint of a descriptor string such as "u64:8:8" (spec 7). */
uint64_t rw_type_fingerprint(const char *descriptor);
/* Portable segment name of a label (spec 9). out must hold RW_PORTABLE_NAME_MAX bytes; the result
 * is NUL-terminated. label is label_len bytes (may contain NUL). Returns the name length. */
#define RW_PORTABLE_NAME_MAX 32
size_t rw_portable_name(const char *label, size_t label_len, char out[RW_PORTABLE_NAME_MAX]);
/* Whether name (len bytes, may contain NUL) is a segment name of the spec 9 grammar: "/" and 1 to
 * 255 bytes, none of them "/" or NUL, not "." or ".."; on macOS at most 31 bytes in all. */
#define RW_MAX_NAME 256
int rw_valid_name(const char *name, size_t len);

/* Start time of a process (spec 8): Linux starttime ticks, macOS microseconds; 0 when unknown. */
uint64_t rw_process_start_time(pid_t pid);
/* Whether the process (pid, start_time) is dead (spec 8): pid 0 or >= 2^31 (never passed to
 * kill), no such process, a zombie, or another start time (0 on either side compares equal). */
int rw_process_dead(uint32_t pid, uint64_t start_time);
/* The same for an owner identity, comparing start times modulo 2^32. 0 (nobody) is dead. */
int rw_owner_dead(uint64_t owner);
/* This process's owner identity (recomputed after a fork). */
uint64_t rw_self_identity(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rw_monotonic_ns(void);

/* ---- Geometry and validation ------------------------------------------------------------------ */

/* What an attacher expects of the event type (spec 5.2 check 13). */
typedef struct rw_event_type {
	uint32_t event_size;
	uint32_t event_align;
	uint64_t fingerprint;
	const char *name; /* informational type_name, at most 64 bytes; may be NULL */
} rw_event_type;

/* Parameters of a new segment. */
typedef struct rw_config {
	uint64_t capacity;          /* power of two, 2 to 2^30 */
	uint32_t mode;              /* RW_MODE_SINGLE or RW_MODE_MULTI */
	uint32_t registry_capacity; /* 1 to 64 */
	uint32_t producer_capacity; /* producer entries: 1 in single mode, 1 to 64 in multi mode;
				     * 0 means 1 (single) or 8 (multi) */
	rw_event_type type;
	unsigned perm; /* file mode of the backing object; 0 means 0600 */
} rw_config;

/* Validated geometry: copies of the header fields, taken once at validation. Code after
 * validation uses only these copies, never the header again, so a peer that corrupts the header
 * later cannot make this process read outside its mapping. */
typedef struct rw_geometry {
	uint16_t version_major, version_minor;
	uint32_t header_len;
	uint32_t mode;
	uint64_t total_size;
	uint64_t capacity;
	uint32_t slot_size, slot_align;
	uint32_t event_size, event_align;
	uint32_t registry_capacity, registry_entry_size;
	uint32_t producer_capacity;
	uint64_t type_fingerprint;
	uint64_t incarnation;
	uint32_t creator_pid;
	uint64_t creator_start_time;
	rw_region cursors, wait, registry, producers, availability, slots;
} rw_geometry;

/* Computes the version 2.0 creator placement (spec 4) for cfg. */
rw_code rw_layout(const rw_config *cfg, rw_geometry *out, rw_error *err);

/* Writes a fresh segment into buf (total_size bytes, zeroed by the caller), following spec 5.1
 * steps 2 and 3: every field, producer entry 0 taken by the creator (owner = its identity,
 * heartbeat, state active generation 1), then init_state = 1 with release ordering. */
void rw_init_image(void *buf, const rw_geometry *g, const rw_event_type *type, uint64_t incarnation,
		   uint32_t creator_pid, uint64_t creator_start_time, uint64_t created_unix_ns);

/* Validates a mapping of len bytes at base, in the order of spec 5.2 (len 0 is "initializing").
 * expect NULL skips check 13. On success fills *out (may be NULL). Never reads outside
 * [base, base+len). */
rw_code rw_validate(const void *base, size_t len, const rw_event_type *expect, rw_geometry *out,
		    rw_error *err);

/* ---- Segments --------------------------------------------------------------------------------- */

enum { RW_BACKING_SHM = 1, RW_BACKING_FILE = 2, RW_BACKING_MEMORY = 3 };

/* An open segment. Fields are read-only for users. */
typedef struct rw_segment {
	uint8_t *base;
	size_t map_len;
	int backing;
	int creator;
	char name[RW_MAX_NAME + 4];
	rw_geometry g;
	rw_header *hdr;
	rw_cursors *cursors;
	rw_wait *wait;
} rw_segment;

/* Creates a POSIX shared-memory segment exclusively (spec 5.1: O_CREAT | O_EXCL | O_NOFOLLOW, mode
 * cfg->perm), reserving its memory with posix_fallocate on Linux. Fails with RW_ERR_INVALID_NAME
 * before touching the system if name is not of the spec 9 grammar, RW_ERR_EXISTS if name exists
 * (call rw_unlink_shm first to replace a stale one), RW_ERR_NO_SPACE if the memory cannot be
 * reserved; on any failure it removes what it created. */
rw_code rw_create_shm(const char *name, const rw_config *cfg, rw_segment *seg, rw_error *err);
/* Same, backed by a file at path (any path; the name grammar does not apply). */
rw_code rw_create_file(const char *path, const rw_config *cfg, rw_segment *seg, rw_error *err);
/* Attaches and validates (spec 5.1, 5.2). Opens with O_NOFOLLOW and refuses anything but a
 * regular file (RW_ERR_NOT_REGULAR). While the object does not exist, is 0 bytes long, or
 * init_state is 0, retries (sleeping 1 ms) until timeout_ms has passed, then fails with
 * RW_ERR_NOT_FOUND or RW_ERR_INITIALIZING; 1 to 511 bytes fail at once with RW_ERR_TOO_SMALL.
 * expect NULL skips check 13. */
rw_code rw_attach_shm(const char *name, const rw_event_type *expect, int64_t timeout_ms,
		      rw_segment *seg, rw_error *err);
rw_code rw_attach_file(const char *path, const rw_event_type *expect, int64_t timeout_ms,
		       rw_segment *seg, rw_error *err);
/* Unmaps. Does not unlink. */
void rw_segment_close(rw_segment *seg);
/* Creates a segment in caller-owned memory (heap backing, spec 1): lays it out for cfg, zeroes and
 * initializes the first total_size bytes of buf (len must be at least that; buf at least
 * 128-aligned) and opens it as its creator, so rw_producer_init uses producer entry 0. */
rw_code rw_create_memory(void *buf, size_t len, const rw_config *cfg, rw_segment *seg,
			 rw_error *err);
/* Wraps caller-owned memory holding a segment image (heap backing, spec 1), after validating it
 * like an attach (checks 1 to 13; expect NULL skips 13). buf must be at least 128-aligned. The
 * segment is opened as an attacher (a producer on it takes a producer entry of its own). */
rw_code rw_open_memory(void *buf, size_t len, const rw_event_type *expect, rw_segment *seg,
		       rw_error *err);
/* Removes the name; 0 on success or if it did not exist. */
int rw_unlink_shm(const char *name);

/* Pointer to the slot of sequence seq. */
static inline uint8_t *rw_slot(const rw_segment *seg, uint64_t seq)
{
	return seg->base + seg->g.slots.offset + (seq & (seg->g.capacity - 1)) * seg->g.slot_size;
}
/* Pointer to registry entry i (i < registry_capacity). */
static inline rw_entry *rw_entry_at(const rw_segment *seg, uint32_t i)
{
	return (rw_entry *)(void *)(seg->base + seg->g.registry.offset +
				    (uint64_t)i * seg->g.registry_entry_size);
}
/* Pointer to producer entry i (i < producer_capacity). */
static inline rw_producer_entry *rw_producer_entry_at(const rw_segment *seg, uint32_t i)
{
	return (rw_producer_entry *)(void *)(seg->base + seg->g.producers.offset +
					     (uint64_t)i * RW_PRODUCER_ENTRY_LEN);
}
/* Pointer to the availability word of sequence seq (multi mode only). */
static inline _Atomic uint64_t *rw_availability_word(const rw_segment *seg, uint64_t seq)
{
	return (_Atomic uint64_t *)(void *)(seg->base + seg->g.availability.offset +
					    (seq & (seg->g.capacity - 1)) * 8);
}
/* The claimed count: `claimed` without the closed bit (4.1), acquire. */
static inline uint64_t rw_claimed_count(const rw_segment *seg)
{
	return atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire) & RW_COUNT_MASK;
}

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

/* Whether sequence seq was passed over as a gap (multi mode, spec 4.5): its slot holds no event. */
int rw_is_gap(const rw_segment *seg, uint64_t seq);
/* Whether entry e is active and has chosen where it starts reading (flags bit 1, starting, clear;
 * 5.7 step 6): every event published after this is seen reaches it. */
int rw_entry_ready(const rw_entry *e);
/* Number of registry entries that are active with bit 1 (starting) of flags clear (rw_entry_ready):
 * what a producer that awaits consumers before publishing waits for (5.7 step 6). */
uint32_t rw_active_count(const rw_segment *seg);
/* Human name of an entry state word ("free", "claiming", "active", "closed", "evicted",
 * "corrupt"); the generation bits are ignored. */
const char *rw_entry_state_name(uint32_t state);
/* Human name of a producer entry state word ("free", "active", "closed", "dead", "corrupt"). */
const char *rw_producer_state_name(uint32_t state);

/* ---- Poisoning (spec 5.9) ---------------------------------------------------------------------- */

/* A poison record. message is NUL-terminated (at most 64 bytes of UTF-8 before the NUL). */
typedef struct rw_poison {
	uint32_t phase; /* RW_PHASE_PUBLISH or RW_PHASE_HANDLER */
	uint64_t seq;   /* first sequence that will never be delivered */
	uint32_t pid;
	uint32_t stage; /* producer entry index (publish) or consumer entry index (handler) */
	char message[RW_MAX_POISON_MESSAGE + 1];
} rw_poison;

/* Records rec as the ring's poison unless one is recorded already (only the first failure is
 * kept; rec->pid 0 means this process), stores poison_state = 2 (seq-cst) and wakes both wait
 * words unconditionally (5.6). Returns 1 if this call recorded it. The message is cut to 64 bytes
 * at a UTF-8 boundary. */
int rw_poison_ring(rw_segment *seg, const rw_poison *rec);
/* 0 if the ring is not poisoned; else 1 and *out (may be NULL) receives the record, its message
 * length clamped to 64. A record still being written (state 1) is waited for up to about 1 ms,
 * then returned as it stands. */
int rw_poisoned(const rw_segment *seg, rw_poison *out);

/* ---- Passing over a dead producer's claims (spec 5.8) ------------------------------------------ */

/* For a required consumer stuck at sequence s of a multi-producer ring: resolves s per 5.8
 * (steps 1 to 4: below the claimed count, unresolved, no live producer's intent covering s or in
 * flux, a dead producer's intent covering it) by a CAS of its availability word to a gap, counted
 * once in the header's gaps; then the same for s + 1, ... while each is resolved that way.
 * Returns how many sequences this call turned into gaps. The dead producer's entry stays active
 * (its owner dead, its claim resolved) until a peer retires it. Safe for concurrent use. */
uint64_t rw_pass_over_dead_claims(rw_segment *seg, uint64_t s);
/* Retires (CAS of state active -> dead, same generation) every active producer entry whose owner
 * is dead and whose claims are all resolved, as 5.4 attach step 1 does before reusing one; an
 * entry with an unresolved claim is never retired (5.8). Returns how many this call retired. */
uint32_t rw_retire_resolved(rw_segment *seg);

/* Whether producer entry i has left: closed or dead, or active with a dead owner and every claim
 * of its intent resolved (so that 5.4 attach step 1 would retire it). Never changes the entry. */
int rw_producer_entry_left(rw_segment *seg, uint32_t i);

/* ---- Waiting (spec 5.6) ------------------------------------------------------------------------
 * A producer or consumer that waits and finds nothing after a few yields blocks in futex on Linux:
 * before its first kernel wait it registers as a blocker (seq-cst add to the header's count, then
 * membarrier(MEMBARRIER_CMD_GLOBAL)); if the barrier fails it bounds every kernel wait to 1 ms
 * while registered. It stays registered until rw_producer_close / rw_deregister. Kernel waits are
 * woken by a wake-word bump and last at most 20 ms; every wakeup is re-checked, so spurious ones
 * are harmless. Elsewhere (and after rw_*_poll_only) waiters sleep, 1 us doubling to 1 ms. */
enum { RW_BLOCKER_NONE = 0, RW_BLOCKER_REGISTERED, RW_BLOCKER_BOUNDED, RW_BLOCKER_NEVER };

/* ---- Producer (spec 5.3, 5.4) ------------------------------------------------------------------
 * Blocking calls wait for room: woken by a consumer moving its cursor, deregistering or being
 * evicted, by a poisoning or a close; timeout_ms < 0 waits forever, 0 does not wait. While it
 * waits a producer refreshes its heartbeats (header and entry) at least every 250 ms. */
typedef struct rw_producer {
	rw_segment *seg;
	rw_producer_entry *entry; /* this producer's entry in the producer registry */
	uint32_t index;           /* its index */
	uint32_t state_word;      /* the entry's state word while it is ours (active, generation) */
	uint64_t owner;           /* our owner identity, as stored in the entry */
	int creator;              /* uses the creator's entry 0; ends the stream on close */
	int closed;               /* rw_producer_close was called */
	int failed;               /* this producer poisoned the ring */
	int blocker;              /* RW_BLOCKER_*: place in the header's producer_blockers */
	uint64_t next;  /* single: count claimed; multi: unused between calls */
	uint64_t bound; /* cached gating bound (min required cursor) */
	uint64_t pending_lo, pending_hi; /* the claim awaiting rw_commit */
	uint64_t heartbeat_at;           /* monotonic ns of the last heartbeat while waiting */
} rw_producer;

/* Prepares a producer on seg. The creator of seg (rw_create_*) uses producer entry 0, which
 * creation filled in; anyone else attaches per spec 5.4 (owner CAS, then state CAS to active with
 * generation + 1), failing with RW_ERR_PRODUCERS_FULL when no entry is usable (single mode has
 * only the creator's). */
rw_code rw_producer_init(rw_producer *p, rw_segment *seg, rw_error *err);
/* p never registers as a blocker: its waits for room sleep with a bounded backoff (1 us doubling
 * to 1 ms) instead of blocking in futex (leaving the count if it had registered). For a producer
 * that spins or never waits; not safe concurrently with a wait of p. */
void rw_producer_poll_only(rw_producer *p);
/* Stores the producer's heartbeats (header and its entry) = now. */
void rw_producer_heartbeat(rw_producer *p);
/* Claims n (1..capacity) sequences; *first receives the first. Write the events at
 * rw_slot(seg, first + i), then call rw_commit, or rw_abort_claim if writing them failed.
 * Single mode: stores claimed, then a release fence (F1). Multi mode: announces the claim in the
 * producer entry (intent) before the CAS on claimed. Fails with RW_ERR_POISONED (the message has
 * the record), RW_ERR_CLOSED (multi: the creator ended the stream), RW_ERR_OVERFLOW,
 * RW_ERR_TIMEOUT. */
rw_code rw_claim(rw_producer *p, uint32_t n, int64_t timeout_ms, uint64_t *first, rw_error *err);
/* Publishes the claim made by the last rw_claim (release stores), then loads consumer_blockers
 * and, only if it is not 0, does the waiters handshake (F2, then wake if consumer_waiters != 0;
 * spec 5.3 steps 4-5, 5.4 steps 5-7). */
void rw_commit(rw_producer *p);
/* Gives up the claim made by the last rw_claim without publishing it: poisons the ring (phase 1,
 * poison_seq = the claim's first sequence, stage = this producer's entry index, spec 5.4 and
 * 5.9) with message (NULL: "fill failed"). Later claims of this producer fail with
 * RW_ERR_POISONED. */
void rw_abort_claim(rw_producer *p, const char *message);
/* Claims, copies n events of event_size bytes each from events, commits. */
rw_code rw_publish(rw_producer *p, const void *events, uint32_t n, int64_t timeout_ms,
		   rw_error *err);
/* Writes one event in place. Returns 0 on success; nonzero means it failed, and may set *why to
 * a message for the poison record. */
typedef int (*rw_fill_fn)(void *arg, void *event, uint64_t seq, uint32_t index, const char **why);
/* Claims n sequences and calls fill for each; if every fill succeeds, commits. If one fails, the
 * claim is never published: the ring is poisoned instead (rw_abort_claim) and RW_ERR_POISONED is
 * returned. */
rw_code rw_publish_fill(rw_producer *p, uint32_t n, rw_fill_fn fill, void *arg, int64_t timeout_ms,
			rw_error *err);
/* Ends this producer. An attached producer detaches (CAS of its entry's state active -> closed,
 * then of owner from its identity to 0). The creator ends the stream: in multi mode it first sets
 * the closed bit of claimed and waits (sleep backoff, 10 us doubling to 1 ms, up to timeout_ms)
 * until every claimed sequence is published or a gap, or the ring is poisoned (spec 5.4); then
 * stores producer_state = 2 (seq-cst) and wakes the consumer word unconditionally (5.6). Returns
 * RW_ERR_TIMEOUT if claimed sequences were still unpublished at the timeout (the stream is ended
 * anyway). Leaves producer_blockers. */
rw_code rw_producer_close(rw_producer *p, int64_t timeout_ms, rw_error *err);

/* ---- Eviction (spec 5.7, 8) ---------------------------------------------------------------------- */

/* Evicts entry i if its state word is still `state_word` (active): CAS of state to evicted (same
 * generation), then of owner from the evicted owner's identity to 0, then wakes both wait words
 * unconditionally. Returns 1 if this call evicted it. Safe for concurrent use. */
int rw_evict_entry(rw_segment *seg, uint32_t i, uint32_t state_word);
/* Evicts every active entry whose owner is dead (spec 8); returns how many. A dead required
 * consumer gates the producer until it is taken over (spec 5.7) or evicted; evicting it gives up
 * that takeover, so callers do it only when no takeover is expected (the conformer does it while
 * draining after close). */
uint32_t rw_evict_dead(rw_segment *seg);
/* What an observer remembers of each registry entry to tell stalled consumers (spec 8). Zero it
 * before the first rw_evict_stalled; one watch per observer, not safe for concurrent use. */
typedef struct rw_stall_watch {
	uint32_t state_word[RW_MAX_REGISTRY];
	uint64_t cursor[RW_MAX_REGISTRY];
	uint64_t since_ns[RW_MAX_REGISTRY]; /* when this observer first saw that state and cursor */
} rw_stall_watch;
#define RW_MIN_STALL_TIMEOUT_MS 5000 /* spec 8: a stall timeout is at least 5 s */
/* Evicts every active required entry whose owner is dead, or alive but stalled: its state word
 * and cursor unchanged in w for at least stall_timeout_ms and its heartbeat older than that.
 * stall_timeout_ms below RW_MIN_STALL_TIMEOUT_MS fails with RW_ERR_INVALID_ARG. *evicted (may be
 * NULL) receives how many entries this call evicted. */
rw_code rw_evict_stalled(rw_segment *seg, rw_stall_watch *w, int64_t stall_timeout_ms,
			 uint32_t *evicted, rw_error *err);

/* ---- Consumer (spec 5.5, 5.7, 5.10) ------------------------------------------------------------ */
typedef enum rw_start { RW_START_LATEST = 0, RW_START_OLDEST = 1 } rw_start;

typedef struct rw_consumer {
	rw_segment *seg;
	rw_entry *entry;
	uint32_t index;
	uint32_t flags;
	uint32_t state_word; /* the entry's state word while it is ours (active, generation) */
	uint64_t owner;      /* our owner identity, as stored in the entry */
	uint64_t depends_on;
	uint64_t next;
	uint64_t lost;      /* events this (optional) consumer was lapped over, also in the entry */
	uint64_t gaps_seen; /* gaps passed over (spec 5.8), also in the entry */
	uint64_t gap_seq, gap_count;   /* the gaps reported by the last RW_ERR_GAP */
	uint64_t lost_seq, lost_count; /* the events reported lost by the last RW_ERR_LOST */
	/* Multi mode, required consumers: how long to wait at a claimed but unpublished sequence
	 * before resolving it per 5.8 (safe at any value: 5.8 only passes over claims of dead
	 * producers). rw_register sets 1000; set it afterwards to change it; < 0 never resolves. */
	int64_t stall_timeout_ms;
	int registered;         /* the entry is ours until rw_deregister or eviction */
	int taken_over;         /* registration took over a dead owner's entry */
	int blocker;            /* RW_BLOCKER_*: place in the header's consumer_blockers */
	uint64_t report_lost;   /* events to report lost on the next rw_consume (evicted entry) */
	uint64_t liveness_at;   /* monotonic ns of the next check that a producer lives (5.5 4) */
} rw_consumer;

/* Registers name (1..48 bytes) per spec 5.7. flags: RW_FLAG_REQUIRED or 0. depends_on: bit i =
 * read behind entry i, which must be active and required when step 6 reads its cursor (an entry
 * that is not active, or optional, fails with RW_ERR_INVALID_ARG: an optional entry does not gate
 * the producers, so its cursor is no safe start); one still choosing its start (flags bit 1) is
 * waited for, up to 5 s (RW_ERR_TIMEOUT), and refused if its owner dies meanwhile
 * (RW_ERR_INVALID_ARG). A registration that fails at step 6 deregisters its entry. The entry first
 * gates at a provisional cursor a ring below the producers' count; the start (latest: the count;
 * oldest: the lowest cursor of the other started required entries, if lower; with depends_on at
 * most each dependency's cursor; never below the entry's cursor loaded at step 6: the provisional
 * one, or a start a dead owner stored) only raises it. Fails with RW_ERR_REGISTRY_FULL or
 * RW_ERR_DUPLICATE_NAME (a live active entry has the name anywhere in the registry, or a racing
 * registration of it won, or a dead owner's entry of that name was registered with the other
 * required/optional choice). An active or claiming entry of that name whose owner is dead is
 * taken over: a CAS of its owner word, then of its state word to the same state with generation
 * + 1 (which voids evictions prepared against the dead owner; c->state_word is the new word).
 * An active entry stays active throughout, its name, flags and cursor are kept, and reading
 * resumes at the dead owner's cursor (start is ignored) unless that owner died before choosing
 * its start (bit 1 set): then the start is chosen now, from start. An evicted entry of that name
 * is claimed again when free to claim, and the events between its old cursor and the new start
 * are reported by the first rw_consume as RW_ERR_LOST. A taker that loses the owner CAS, or
 * whose state CAS fails, starts again from step 1; after 16 rounds registration fails with
 * RW_ERR_BUSY. */
rw_code rw_register(rw_consumer *c, rw_segment *seg, const char *name, uint32_t flags,
		    uint64_t depends_on, rw_start start, rw_error *err);
/* Waits until at least one event is available (or the stream ended, or the timeout), copies up
 * to max events into out (max * event_size bytes), releases them (cursor store) and wakes
 * blocked peers as 5.5 step 3 says. *got receives the count. Returns:
 *  RW_ERR_ENDED when producer_state is 2 and next reached the producers' count (published;
 *   multi: claimed): a consumer behind a slower one (depends_on) keeps waiting for it;
 *  RW_ERR_POISONED when the ring is poisoned and nothing more is available (message: record);
 *  RW_ERR_EVICTED when the entry's state word or owner word changed, also when a required
 *   consumer finds it so after copying a batch (after F4): the copies are discarded (*got = 0,
 *   cursor not stored), their slots may have been in reuse (5.5 step 2);
 *  RW_ERR_PRODUCER_DEAD when, while waiting, the creator and (multi) the owner of every
 *   producer entry, whatever its state, are found dead with producer_state still 1 (checked
 *   every 500 ms);
 *  RW_ERR_GAP (multi): a call that starts at a gap passes over the whole run of gaps, counts it
 *   in gaps_seen, releases it and sets gap_seq, gap_count (*got = 0); reading may go on;
 *  RW_ERR_LOST (optional consumers): the consumer was lapped (5.10); the events from lost_seq,
 *   lost_count of them, were overwritten unread, are counted in lost and released; reading goes
 *   on after them;
 *  RW_ERR_TIMEOUT.
 * Events before a gap are returned first. Optional consumers copy, fence (F4) and verify against
 * claimed before delivering (5.10). A required multi-mode consumer waiting at a claimed but
 * unpublished sequence for stall_timeout_ms runs rw_pass_over_dead_claims, then every 10 ms.
 * Woken by a publish, a poisoning, a close or its eviction; wakeups may be spurious. Refreshes
 * the entry's heartbeat while it waits. */
rw_code rw_consume(rw_consumer *c, void *out, uint32_t max, uint32_t *got, int64_t timeout_ms,
		   rw_error *err);
/* Non-blocking: highest available count (spec 5.5 step 1), at most next + max. In multi mode
 * gaps count as available: check rw_is_gap before reading a slot. */
uint64_t rw_available(rw_consumer *c, uint64_t max);
/* Releases events below hi (release store of the cursor), then loads both blockers counts and,
 * if either is not 0, does the waiters handshake of 5.5 step 3 on each word whose count is not 0:
 * producers waiting for room and consumers that read behind this one (depends_on). */
void rw_release(rw_consumer *c, uint64_t hi);
/* RW_OK while our entry is still ours (state word and owner word unchanged), else
 * RW_ERR_EVICTED. */
rw_code rw_check_owner(const rw_consumer *c);
/* Stores heartbeat_ns = now. */
void rw_heartbeat(rw_consumer *c);
/* Leaves consumer_blockers (once), then deregisters (5.7): CAS of state from our active word to
 * closed, then of owner from our identity to 0, then wakes the producer word unconditionally. If
 * the entry is no longer ours it only clears owner by CAS from our identity. */
void rw_deregister(rw_consumer *c);
/* c never registers as a blocker: its waits sleep with a bounded backoff (1 us doubling to 1 ms)
 * instead of blocking in futex (leaving the count if it had registered). For a consumer that
 * spins or only polls (timeout 0); not safe concurrently with a wait of c. */
void rw_consumer_poll_only(rw_consumer *c);

/* ---- Test hooks: all zero outside tests; not safe to change while another thread uses the
 * library. ----------------------------------------------------------------------------------------- */
typedef struct rw_test_hooks {
	/* The gating scan (5.3 step 1) calls it in its first pass right after loading entry i's
	 * state word (before its flags and cursor). */
	void (*gating_scan)(const rw_segment *seg, uint32_t i);
	/* A takeover (5.7) calls it with step 1 right after winning the owner CAS. */
	void (*takeover)(rw_entry *e, int step);
	/* A registration (5.7) calls it with step 4 right after activating its entry (which gates
	 * the producers at the provisional cursor, flags bit 1 set), before steps 5 and 6. */
	void (*registration)(rw_entry *e, int step);
	/* A producer attaching (5.4) calls it with step 2 right after winning the owner CAS, before
	 * step 3 makes the entry active. */
	void (*producer_attach)(rw_producer_entry *e, int step);
	/* 5.8 calls it between the loads of intent_end, intent_start, intent_end (step 1, 2). */
	void (*intent_read)(rw_producer_entry *e, int step);
	/* A consumer calls it after copying a batch, before the fence F4 and the claimed load
	 * (optional) or the state and owner loads (required). */
	void (*after_copy)(rw_consumer *c);
	/* Called before every kill(pid, 0) of a liveness check. */
	void (*before_kill)(uint32_t pid);
	/* Called before every futex wait with its timeout. */
	void (*before_kernel_wait)(uint64_t timeout_ns);
	int membarrier_fails;        /* F3 reports failure (as on a kernel without it) */
	uint64_t wait_slice_ns;      /* longest kernel wait of a registered blocker (0: 20 ms) */
	uint64_t liveness_period_ns; /* consumers' producer-liveness period (0: 500 ms) */
	uint64_t start_wait_ns;      /* 5.7 step 6: longest wait for a starting dependency (0: 5 s) */
} rw_test_hooks;
extern rw_test_hooks rw_test;

#ifdef __cplusplus
}
#endif
#endif /* RINGWIRE_H */
