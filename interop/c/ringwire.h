/*
 * ringwire.h - C11 implementation of the ringwire segment format 2.1: the stable API.
 *
 * The byte layout is the one of spec/LAYOUT.md. Its overlay structs and offsets are not in this
 * header but in ringwire_layout.h (for tools and tests that read a segment's bytes), so that this
 * header is an ABI that can grow:
 *  - the library's state is behind opaque handles (rw_segment, rw_producer, rw_consumer,
 *    rw_stall_watch) that the library allocates: create / attach / register / new return one
 *    through an out-parameter, accessor functions read what a user needs, and close / free
 *    releases it. A new private field changes no user's binary.
 *  - the structs a user fills or reads are transparent, each for a stated reason:
 *      rw_config     grows: its first field `size` is set by rw_config_init (an inline function,
 *                    so it is the sizeof of the caller's compile); the library reads only the
 *                    fields that fit in `size` and uses defaults for later ones, and refuses a
 *                    config whose size is 0 (never initialized) or smaller than the first
 *                    version's. New fields are only ever appended.
 *      rw_event_type frozen: it is exactly the event type of spec 5.2 check 13 (event_size,
 *                    event_align, type_fingerprint, type_name), which only a new major format
 *                    version can change, and a new major is a new library (new soname).
 *      rw_poison     frozen, for the same reason: the poison record of spec 5.9 field by field.
 *      rw_error      frozen: code, errno and message; details a caller needs beyond them are read
 *                    through accessors of the handle involved (rw_consumer_last_gap,
 *                    rw_consumer_last_lost, rw_segment_poisoned), never added here.
 *      rw_message    frozen: a message as a framed read delivers it (payload, length, first
 *                    sequence: spec 11.3), which is all a frame says about a message.
 *  - the test hooks are in ringwire_internal.h, which only the library and its tests include.
 * Names follow spec/VOCABULARY.md: create (new segment), attach (map and validate one), register
 * (take a registry entry), close (give it up and free the handle); claim / publish on the producer
 * side, consume / release on the consumer side.
 *
 * Dependencies: libc only (C11 <stdatomic.h>, POSIX shm/mmap). Linux blocks in futex and registers
 * blockers with membarrier; other systems sleep with a bounded backoff (spec 5.6).
 *
 * Concurrency: an rw_segment may be shared by the threads of one process once it is created or
 * attached (what it holds is immutable). An rw_producer and an rw_consumer are NOT safe for
 * concurrent use: each belongs to one thread at a time. Several rw_producers (one per thread or
 * process) may publish into one multi-producer segment. Close every producer and consumer of a
 * segment before the segment itself.
 */
#ifndef RINGWIRE_H
#define RINGWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Format version and limits (spec sections 3 and 4) ----------------------------------------- */

#define RW_VERSION_MAJOR 2u
#define RW_VERSION_MINOR 1u        /* the newest minor this library reads and writes */
#define RW_VERSION_MINOR_FIXED 0u  /* version_minor of a ring of fixed events: 2.0's bytes (spec 6) */
#define RW_VERSION_MINOR_FRAMED 1u /* version_minor of a framed ring (spec 11) */
#define RW_MIN_CAPACITY 2ull
#define RW_MAX_CAPACITY (1ull << 30)
#define RW_MAX_EVENT_SIZE 65536u
#define RW_MAX_ALIGN 4096u
#define RW_MAX_REGISTRY 64u
#define RW_MAX_TYPE_NAME 64u
#define RW_MAX_CONSUMER_NAME 48u
#define RW_MAX_PRODUCERS 64u
#define RW_DEFAULT_MULTI_PRODUCERS 8u
#define RW_MAX_POISON_MESSAGE 64u
#define RW_MAX_SEQUENCE (1ull << 62) /* counts stay below this: claims end at most 2^62 - 1 (spec 2, 4.1) */

#define RW_PAYLOAD_FIXED 0u  /* header.payload_kind: fixed-size events, one per slot (spec 4.6) */
#define RW_PAYLOAD_FRAMED 1u /* header.payload_kind: variable-length messages in frames (spec 11) */

#define RW_MODE_SINGLE 1u
#define RW_MODE_MULTI 2u
#define RW_FLAG_REQUIRED 1u /* a consumer registration flag: it gates the producers (4.3) */
#define RW_PHASE_PUBLISH 1u /* poison_phase (spec 5.9) */
#define RW_PHASE_HANDLER 2u

/* ---- Handles (opaque) and the wire structs tools may read (ringwire_layout.h) ------------------ */

typedef struct rw_segment rw_segment;
typedef struct rw_producer rw_producer;
typedef struct rw_consumer rw_consumer;
typedef struct rw_stall_watch rw_stall_watch;
typedef struct rw_header rw_header;
typedef struct rw_entry rw_entry;
typedef struct rw_producer_entry rw_producer_entry;

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
	RW_ERR_GAP,             /* sequences were passed over (spec 5.8); see rw_consumer_last_gap */
	RW_ERR_NO_SPACE,        /* creation could not reserve the segment's memory (spec 5.1) */
	RW_ERR_INVALID_NAME,    /* not a segment name of the spec 9 grammar */
	RW_ERR_NOT_REGULAR,     /* the backing is a symlink or not a regular file (spec 5.1) */
	RW_ERR_PRODUCER_DEAD,   /* every producer died without closing (spec 5.5 step 4) */
	RW_ERR_LOST,            /* an optional consumer was lapped (spec 5.10); see rw_consumer_last_lost */
	RW_ERR_BUSY,            /* registry busy: registration lost its races (a takeover's owner or
				 * state CAS) in each of its 16 rounds (spec 5.7, taking over) */
	RW_ERR_PAYLOAD_KIND,    /* check 13: a framed ring read as fixed events or the other way */
	RW_ERR_FRAME_GEOMETRY,  /* check 14: a framed ring's frame geometry (spec 11.1) */
	RW_ERR_CORRUPT_FRAME,   /* spec 11.3 step 2 or 3: the frame at rw_consumer_next is invalid */
	RW_ERR_TOO_LARGE,       /* spec 11.2 step 1: a message over max_message, refused unclaimed */
	RW_ERR_COUNT_
} rw_code;

/* Details of a failure (frozen, see the top of this file). Every function taking an rw_error *
 * accepts NULL. The message names the field, region, versions or pid involved. */
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
/* The same for an owner identity (pid in bits 0-31, start time modulo 2^32 in bits 32-63),
 * comparing start times modulo 2^32. 0 (nobody) is dead. */
int rw_owner_dead(uint64_t owner);
/* This process's owner identity (recomputed after a fork). */
uint64_t rw_self_identity(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rw_monotonic_ns(void);

/* ---- Event type and configuration ------------------------------------------------------------- */

/* What an attacher expects of the event type (spec 5.2 check 13). Frozen (see the top). */
typedef struct rw_event_type {
	uint32_t event_size;
	uint32_t event_align;
	uint64_t fingerprint;
	const char *name; /* informational type_name, at most 64 bytes; may be NULL */
} rw_event_type;

/* Parameters of a new segment. Initialize with rw_config_init, then set the fields:
 *     rw_config cfg;
 *     rw_config_init(&cfg);
 *     cfg.capacity = 1024; cfg.mode = RW_MODE_SINGLE; cfg.registry_capacity = 8; cfg.type = t;
 * Fields are only ever appended; a later library reads a field only if it fits in `size`. */
typedef struct rw_config {
	uint32_t size;              /* sizeof(rw_config) of the caller: set by rw_config_init */
	uint32_t mode;              /* RW_MODE_SINGLE or RW_MODE_MULTI */
	uint64_t capacity;          /* power of two, 2 to 2^30 */
	uint32_t registry_capacity; /* 1 to 64 */
	uint32_t producer_capacity; /* producer entries: 1 in single mode, 1 to 64 in multi mode;
				     * 0 means 1 (single) or 8 (multi) */
	rw_event_type type;
	unsigned perm; /* file mode of the backing object; 0 means 0600 */
	/* Appended in format 2.1 (spec 11). */
	uint32_t payload_kind; /* RW_PAYLOAD_FIXED (0) or RW_PAYLOAD_FRAMED (1); see below */
	uint32_t max_message;  /* framed: the largest payload; 0 means the largest allowed,
				* (capacity / 8) * slot_size - 16 (at most 2^31) */
} rw_config;
/* A framed ring (payload_kind RW_PAYLOAD_FRAMED, spec 11.1) takes its slots from cfg.type, which
 * rw_framed_type fills: event_size is the slot size (a multiple of event_align, over 16),
 * event_align the slot alignment (a power of two, 16 to 4096), name the message type (NULL:
 * "bytes") and fingerprint that of "frames{" + name + "}" (0 means: computed from the name).
 * capacity is at least 8 and 16 + max_message at most (capacity / 8) * slot_size. Creation fails
 * with RW_ERR_FRAME_GEOMETRY otherwise, and writes version_minor 1; a ring of fixed events keeps
 * version_minor 0 and the bytes of format 2.0. */


/* The type_fingerprint of a framed ring of messages named type_name (NULL: "bytes"): FNV-1a 64 of
 * "frames{" + type_name + "}" (spec 11.1). */
uint64_t rw_framed_fingerprint(const char *type_name);
/* The rw_config.type of a framed ring: slots of slot_size bytes aligned to slot_align, the
 * message type type_name (NULL: "bytes", kept by pointer) and its framed fingerprint. */
rw_event_type rw_framed_type(const char *type_name, uint32_t slot_size, uint32_t slot_align);

/* Zeroes cfg and sets cfg->size. Inline on purpose: the size recorded is the one the caller was
 * compiled with. */
static inline void rw_config_init(rw_config *cfg)
{
	*cfg = (rw_config){.size = (uint32_t)sizeof(rw_config)};
}

/* The bytes a segment of cfg occupies (spec 4: the creator's placement): what to allocate for
 * rw_segment_create_memory. Fails as creation would for a bad cfg. */
rw_code rw_segment_size(const rw_config *cfg, uint64_t *total_size, rw_error *err);

/* ---- Segments (spec 5.1, 5.2) ------------------------------------------------------------------ */

/* Creates a POSIX shared-memory segment exclusively (spec 5.1: O_CREAT | O_EXCL | O_NOFOLLOW, mode
 * cfg->perm), reserving its memory with posix_fallocate on Linux, and returns its handle in *out.
 * Fails with RW_ERR_INVALID_NAME before touching the system if name is not of the spec 9 grammar,
 * RW_ERR_EXISTS if name exists (call rw_segment_unlink_shm first to replace a stale one),
 * RW_ERR_NO_SPACE if the memory cannot be reserved; on any failure it removes what it created.
 * The creator holds producer entry 0 (rw_producer_register uses it).
 * Every function that returns a handle through `out` sets *out to NULL when it fails. */
rw_code rw_segment_create_shm(const char *name, const rw_config *cfg, rw_segment **out,
			      rw_error *err);
/* Same, backed by a file at path (any path; the name grammar does not apply). */
rw_code rw_segment_create_file(const char *path, const rw_config *cfg, rw_segment **out,
			       rw_error *err);
/* Creates a segment in caller-owned memory (heap backing, spec 1): lays it out for cfg, zeroes and
 * initializes the first total_size bytes of buf (len must be at least rw_segment_size; buf at
 * least 128-aligned). The memory must outlive the handle; rw_segment_close does not free it. */
rw_code rw_segment_create_memory(void *buf, size_t len, const rw_config *cfg, rw_segment **out,
				 rw_error *err);
/* Attaches and validates (spec 5.1, 5.2). Opens with O_NOFOLLOW and refuses anything but a
 * regular file (RW_ERR_NOT_REGULAR). While the object does not exist, is 0 bytes long, or
 * init_state is 0, retries (sleeping 1 ms) until timeout_ms has passed, then fails with
 * RW_ERR_NOT_FOUND or RW_ERR_INITIALIZING; 1 to 511 bytes fail at once with RW_ERR_TOO_SMALL.
 * expect NULL skips check 13. */
rw_code rw_segment_attach_shm(const char *name, const rw_event_type *expect, int64_t timeout_ms,
			      rw_segment **out, rw_error *err);
rw_code rw_segment_attach_file(const char *path, const rw_event_type *expect, int64_t timeout_ms,
			       rw_segment **out, rw_error *err);
/* Attaches caller-owned memory holding a segment image (heap backing, spec 1) after validating it
 * (checks 1 to 13 on its first len bytes; expect NULL skips 13; len 0 is "initializing"). buf must
 * be at least 128-aligned. A producer on it takes a producer entry of its own. */
rw_code rw_segment_attach_memory(void *buf, size_t len, const rw_event_type *expect,
				 rw_segment **out, rw_error *err);
/* The same for a reader of framed messages (spec 5.2 checks 1 to 14): check 13 refuses a ring
 * whose payload_kind is not framed (RW_ERR_PAYLOAD_KIND) and, if type_name is not NULL, one whose
 * type_name differs (RW_ERR_EVENT_TYPE); check 14 a bad frame geometry (RW_ERR_FRAME_GEOMETRY).
 * Conversely the attach functions above, given an expect, refuse a framed ring at check 13 with
 * RW_ERR_PAYLOAD_KIND. */
rw_code rw_segment_attach_framed_shm(const char *name, const char *type_name, int64_t timeout_ms,
				     rw_segment **out, rw_error *err);
rw_code rw_segment_attach_framed_file(const char *path, const char *type_name, int64_t timeout_ms,
				      rw_segment **out, rw_error *err);
rw_code rw_segment_attach_framed_memory(void *buf, size_t len, const char *type_name,
					rw_segment **out, rw_error *err);
/* Unmaps (shm and file backings) and frees the handle; NULL is a no-op. Does not unlink. */
void rw_segment_close(rw_segment *seg);
/* Removes the name; 0 on success or if it did not exist. */
int rw_segment_unlink_shm(const char *name);

/* Geometry, as validated at create or attach: copies taken once, never re-read from the header
 * (which a peer could corrupt later). */
uint64_t rw_segment_capacity(const rw_segment *seg);
uint32_t rw_segment_mode(const rw_segment *seg); /* RW_MODE_SINGLE or RW_MODE_MULTI */
uint32_t rw_segment_event_size(const rw_segment *seg);
uint32_t rw_segment_slot_size(const rw_segment *seg);
uint32_t rw_segment_registry_capacity(const rw_segment *seg);
uint32_t rw_segment_producer_capacity(const rw_segment *seg);
uint64_t rw_segment_total_size(const rw_segment *seg);
void rw_segment_version(const rw_segment *seg, uint16_t *major, uint16_t *minor);
uint64_t rw_segment_incarnation(const rw_segment *seg);
uint32_t rw_segment_creator_pid(const rw_segment *seg);
/* Whether this handle created the segment (rw_segment_create_*). */
int rw_segment_is_creator(const rw_segment *seg);
/* Framed rings (spec 11.1): payload_kind (RW_PAYLOAD_FIXED or RW_PAYLOAD_FRAMED),
 * frame_header_len and max_message as validated (0 and 0 in a ring of fixed events). */
uint32_t rw_segment_payload_kind(const rw_segment *seg);
uint32_t rw_segment_frame_header_len(const rw_segment *seg);
uint32_t rw_segment_max_message(const rw_segment *seg);
/* Checks 13 and 14 of spec 5.2 for a reader of framed messages on an attached segment (a tool
 * that attached with expect NULL): RW_ERR_PAYLOAD_KIND, RW_ERR_EVENT_TYPE (type_name not NULL and
 * different), RW_ERR_FRAME_GEOMETRY, or RW_OK. */
rw_code rw_segment_check_framed(const rw_segment *seg, const char *type_name, rw_error *err);

/* The slot of sequence seq: event_size bytes to fill after rw_producer_claim, or to read between
 * rw_consumer_available and rw_consumer_release. */
void *rw_segment_slot(const rw_segment *seg, uint64_t seq);
/* The claimed count: `claimed` without the closed bit (4.1), acquire. */
uint64_t rw_segment_claimed_count(const rw_segment *seg);
/* The published cursor (4.1), acquire: in single mode the producers' count. */
uint64_t rw_segment_published(const rw_segment *seg);
/* Whether sequence seq was passed over as a gap (multi mode, spec 4.5): its slot holds no event. */
int rw_segment_is_gap(const rw_segment *seg, uint64_t seq);
/* Number of registry entries that are active with bit 1 (starting) of flags clear: what a producer
 * that awaits consumers before publishing waits for (5.7 step 6). */
uint32_t rw_segment_active_count(const rw_segment *seg);

/* ---- Poisoning (spec 5.9) ---------------------------------------------------------------------- */

/* A poison record (frozen, see the top). message is NUL-terminated (at most 64 bytes of UTF-8). */
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
int rw_segment_poison(rw_segment *seg, const rw_poison *rec);
/* 0 if the ring is not poisoned; else 1 and *out (may be NULL) receives the record, its message
 * length clamped to 64. A record still being written (state 1) is waited for up to about 1 ms,
 * then returned as it stands. */
int rw_segment_poisoned(const rw_segment *seg, rw_poison *out);

/* ---- Producer entries left and dead (spec 5.4, 5.8) -------------------------------------------- */

/* Retires (CAS of state active -> dead, same generation) every active producer entry whose owner
 * is dead and whose claims are all resolved, as 5.4 attach step 1 does before reusing one; an
 * entry with an unresolved claim is never retired (5.8). Returns how many this call retired. */
uint32_t rw_segment_retire_resolved(rw_segment *seg);
/* Whether producer entry i has left: closed or dead, or active with a dead owner and every claim
 * of its intent resolved (so that 5.4 attach step 1 would retire it). Never changes the entry. */
int rw_segment_producer_entry_left(rw_segment *seg, uint32_t i);

/* ---- Eviction (spec 5.7, 8) -------------------------------------------------------------------- */

/* Evicts entry i if its state word is still `state_word` (active): CAS of state to evicted (same
 * generation), then of owner from the evicted owner's identity to 0, then wakes both wait words
 * unconditionally. Returns 1 if this call evicted it. Safe for concurrent use. */
int rw_segment_evict(rw_segment *seg, uint32_t i, uint32_t state_word);
/* Evicts every active entry whose owner is dead (spec 8); returns how many. A dead required
 * consumer gates the producer until it is taken over (spec 5.7) or evicted; evicting it gives up
 * that takeover, so callers do it only when no takeover is expected (the conformer does it while
 * draining after close). */
uint32_t rw_segment_evict_dead(rw_segment *seg);
#define RW_MIN_STALL_TIMEOUT_MS 5000 /* spec 8: a stall timeout is at least 5 s */
/* What an observer remembers of each registry entry to tell stalled consumers (spec 8): one per
 * observer, not safe for concurrent use. rw_stall_watch_new returns NULL when out of memory;
 * rw_stall_watch_free(NULL) is a no-op. */
rw_stall_watch *rw_stall_watch_new(void);
void rw_stall_watch_free(rw_stall_watch *w);
/* Evicts every active required entry whose owner is dead, or alive but stalled: its state word
 * and cursor unchanged in w for at least stall_timeout_ms and its heartbeat older than that.
 * stall_timeout_ms below RW_MIN_STALL_TIMEOUT_MS fails with RW_ERR_INVALID_ARG. *evicted (may be
 * NULL) receives how many entries this call evicted. */
rw_code rw_segment_evict_stalled(rw_segment *seg, rw_stall_watch *w, int64_t stall_timeout_ms,
				 uint32_t *evicted, rw_error *err);

/* ---- Waiting (spec 5.6) ------------------------------------------------------------------------
 * A producer or consumer that waits and finds nothing after a few yields blocks in futex on Linux:
 * before its first kernel wait it registers as a blocker (seq-cst add to the header's count, then
 * membarrier(MEMBARRIER_CMD_GLOBAL)); if the barrier fails it bounds every kernel wait to 1 ms
 * while registered. It stays registered until rw_producer_close / rw_consumer_close. Kernel waits
 * are woken by a wake-word bump and last at most 20 ms; every wakeup is re-checked, so spurious
 * ones are harmless. Elsewhere (and after rw_*_poll_only) waiters sleep, 1 us doubling to 1 ms. */

/* ---- Producer (spec 5.3, 5.4) ------------------------------------------------------------------
 * Blocking calls wait for room: woken by a consumer moving its cursor, closing or being evicted,
 * by a poisoning or a close; timeout_ms < 0 waits forever, 0 does not wait. While it waits a
 * producer refreshes its heartbeats (header and entry) at least every 250 ms. */

/* Registers a producer on seg and returns it in *out. The creator of seg (rw_segment_create_*)
 * uses producer entry 0, which creation filled in; anyone else takes an entry per spec 5.4 (owner
 * CAS, then state CAS to active with generation + 1), failing with RW_ERR_PRODUCERS_FULL when no
 * entry is usable (single mode has only the creator's). */
rw_code rw_producer_register(rw_segment *seg, rw_producer **out, rw_error *err);
/* The segment and the producer entry index of p. */
rw_segment *rw_producer_segment(const rw_producer *p);
uint32_t rw_producer_index(const rw_producer *p);
/* p never registers as a blocker: its waits for room sleep with a bounded backoff (1 us doubling
 * to 1 ms) instead of blocking in futex (leaving the count if it had registered). For a producer
 * that spins or never waits; not safe concurrently with a wait of p. */
void rw_producer_poll_only(rw_producer *p);
/* Stores the producer's heartbeats (header and its entry) = now. */
void rw_producer_heartbeat(rw_producer *p);
/* The fixed-event calls below (rw_producer_claim, _publish, _publish_fill) refuse a framed ring
 * with RW_ERR_PAYLOAD_KIND (check 13); the framed calls further down refuse a ring of fixed
 * events the same way. */
/* Claims n (1..capacity) sequences; *first receives the first. Write the events at
 * rw_segment_slot(seg, first + i), then call rw_producer_publish_claim, or
 * rw_producer_abort_claim if writing them failed. Single mode: stores claimed, then a release
 * fence (F1). Multi mode: announces the claim in the producer entry (intent) before the CAS on
 * claimed. Fails with RW_ERR_POISONED (the message has the record), RW_ERR_CLOSED (multi: the
 * creator ended the stream), RW_ERR_OVERFLOW, RW_ERR_TIMEOUT. */
rw_code rw_producer_claim(rw_producer *p, uint32_t n, int64_t timeout_ms, uint64_t *first,
			  rw_error *err);
/* Publishes the claim made by the last rw_producer_claim (release stores), then loads
 * consumer_blockers and, only if it is not 0, does the waiters handshake (F2, then wake if
 * consumer_waiters != 0; spec 5.3 steps 4-5, 5.4 steps 5-7). */
void rw_producer_publish_claim(rw_producer *p);
/* Gives up the claim made by the last rw_producer_claim without publishing it: poisons the ring
 * (phase 1, poison_seq = the claim's first sequence, stage = this producer's entry index, spec 5.4
 * and 5.9) with message (NULL: "fill failed"). Later claims of this producer fail with
 * RW_ERR_POISONED. */
void rw_producer_abort_claim(rw_producer *p, const char *message);
/* Claims, copies n events of event_size bytes each from events, publishes. */
rw_code rw_producer_publish(rw_producer *p, const void *events, uint32_t n, int64_t timeout_ms,
			    rw_error *err);
/* Writes one event in place. Returns 0 on success; nonzero means it failed, and may set *why to
 * a message for the poison record. */
typedef int (*rw_fill_fn)(void *arg, void *event, uint64_t seq, uint32_t index, const char **why);
/* Claims n sequences and calls fill for each; if every fill succeeds, publishes. If one fails, the
 * claim is never published: the ring is poisoned instead (rw_producer_abort_claim) and
 * RW_ERR_POISONED is returned. */
rw_code rw_producer_publish_fill(rw_producer *p, uint32_t n, rw_fill_fn fill, void *arg,
				 int64_t timeout_ms, rw_error *err);
/* ---- Framed producer (spec 11.2) ----------------------------------------------------------------
 * Framed rings only (RW_ERR_PAYLOAD_KIND otherwise). A message of len bytes takes a frame of
 * ceil((16 + len) / slot_size) slots: a 16-byte frame header, then the payload, contiguous and
 * 16-aligned. A frame that would cross the end of the slot array is preceded, in the same claim,
 * by a padding frame (PAD) up to the end. The producer writes the frame headers and the payloads
 * and nothing else. Multi mode: the claim's frames are laid out again from the new first sequence
 * whenever the compare-and-swap of claimed fails, and the intent covers the whole claim. Blocking
 * and errors as rw_producer_claim; a message longer than max_message is refused before anything
 * is claimed (RW_ERR_TOO_LARGE). */

/* Publishes one message of len bytes (copied from msg; len 0 is a message too). */
rw_code rw_producer_publish_message(rw_producer *p, const void *msg, uint32_t len,
				    int64_t timeout_ms, rw_error *err);
/* Publishes n messages (msgs[i] of lens[i] bytes) with one claim, PADs included. A batch whose
 * claim could exceed capacity (the sum of the frames plus the largest frame less one slot, the
 * longest PAD it could need) fails with RW_ERR_INVALID_ARG before claiming. */
rw_code rw_producer_publish_messages(rw_producer *p, const void *const *msgs, const uint32_t *lens,
				     uint32_t n, int64_t timeout_ms, rw_error *err);
/* Claims the frame of a message of up to max_len bytes for the caller to write in place:
 * *payload receives its first byte (16-aligned, max_len bytes writable). Its frame header (for
 * max_len bytes) and any PAD before it are written at once. End the claim with
 * rw_producer_publish_message_claim or rw_producer_abandon_message_claim before any other call
 * of p that claims (RW_ERR_INVALID_ARG while one is open). */
rw_code rw_producer_claim_message(rw_producer *p, uint32_t max_len, int64_t timeout_ms,
				  void **payload, rw_error *err);
/* Publishes the claimed message with its first used bytes (used <= max_len, else
 * RW_ERR_INVALID_ARG and the claim stays open): its frame header is rewritten for used bytes, and
 * the slots of the claim it no longer needs become a PAD. Every claimed sequence is published. */
rw_code rw_producer_publish_message_claim(rw_producer *p, uint32_t used, rw_error *err);
/* Gives the claimed message up: its slots become a PAD, and the claim is published (spec 11.2:
 * nothing is poisoned, nothing lost). No-op without an open claim. */
void rw_producer_abandon_message_claim(rw_producer *p);

/* Ends this producer and frees p (NULL is a no-op). A producer that is not the creator leaves
 * (CAS of its entry's state active -> left, then of owner from its identity to 0). The creator
 * ends the stream: in multi mode it first sets the closed bit of claimed and waits (sleep backoff,
 * 10 us doubling to 1 ms, up to timeout_ms) until every claimed sequence is published or a gap, or
 * the ring is poisoned (spec 5.4); then stores producer_state = closed (seq-cst) and wakes the
 * consumer word unconditionally (5.6). Returns RW_ERR_TIMEOUT if claimed sequences were still
 * unpublished at the timeout (the stream is ended anyway). Leaves producer_blockers. */
rw_code rw_producer_close(rw_producer *p, int64_t timeout_ms, rw_error *err);

/* ---- Consumer (spec 5.5, 5.7, 5.10) ------------------------------------------------------------ */
typedef enum rw_start { RW_START_LATEST = 0, RW_START_OLDEST = 1 } rw_start;

/* Registration is the same for both payload kinds; rw_consumer_consume and
 * rw_consumer_available are for rings of fixed events (consume refuses a framed ring with
 * RW_ERR_PAYLOAD_KIND), rw_consumer_read_messages and rw_consumer_copy_message for framed rings. */
/* Registers name (1..48 bytes) per spec 5.7 and returns the consumer in *out. flags:
 * RW_FLAG_REQUIRED or 0. depends_on: bit i = read behind entry i, which must be active and
 * required when step 6 reads its cursor (an entry that is not active, or optional, fails with
 * RW_ERR_INVALID_ARG: an optional entry does not gate the producers, so its cursor is no safe
 * start); one still choosing its start (flags bit 1) is waited for, up to 5 s (RW_ERR_TIMEOUT), and
 * refused if its owner dies meanwhile (RW_ERR_INVALID_ARG). A registration that fails at step 6
 * gives its entry up. The entry first gates at a provisional cursor a ring below the producers'
 * count; the start (latest: the count; oldest: the lowest cursor of the other started required
 * entries, if lower; with depends_on at most each dependency's cursor; never below the entry's
 * cursor loaded at step 6: the provisional one, or a start a dead owner stored) only raises it.
 * Fails with RW_ERR_REGISTRY_FULL or RW_ERR_DUPLICATE_NAME (a live active entry has the name
 * anywhere in the registry, or a racing registration of it won, or a dead owner's entry of that
 * name was registered with the other required/optional choice). An active or claiming entry of
 * that name whose owner is dead is taken over: a CAS of its owner word, then of its state word to
 * the same state with generation + 1 (which voids evictions prepared against the dead owner). An
 * active entry stays active throughout, its name, flags and cursor are kept, and reading resumes at
 * the dead owner's cursor (start is ignored) unless that owner died before choosing its start (bit
 * 1 set): then the start is chosen now, from start. An evicted entry of that name is claimed again
 * when free to claim, and the events between its old cursor and the new start are reported by the
 * first rw_consumer_consume as RW_ERR_LOST. A taker that loses the owner CAS, or whose state CAS
 * fails, starts again from step 1; after 16 rounds registration fails with RW_ERR_BUSY. */
rw_code rw_consumer_register(rw_segment *seg, const char *name, uint32_t flags, uint64_t depends_on,
			     rw_start start, rw_consumer **out, rw_error *err);
/* Waits until at least one event is available (or the stream ended, or the timeout), copies up
 * to max events into out (max * event_size bytes), releases them (cursor store) and wakes
 * blocked peers as 5.5 step 3 says. *got receives the count. Returns:
 *  RW_ERR_ENDED when producer_state is closed and next reached the producers' count (published;
 *   multi: claimed): a consumer behind a slower one (depends_on) keeps waiting for it;
 *  RW_ERR_POISONED when the ring is poisoned and nothing more is available (message: record);
 *  RW_ERR_EVICTED when the entry's state word or owner word changed, also when a required
 *   consumer finds it so after copying a batch (after F4): the copies are discarded (*got = 0,
 *   cursor not stored), their slots may have been in reuse (5.5 step 2);
 *  RW_ERR_PRODUCER_DEAD when, while waiting, the creator and (multi) the owner of every
 *   producer entry, whatever its state, are found dead with producer_state still open (checked
 *   every 500 ms);
 *  RW_ERR_GAP (multi): a call that starts at a gap passes over the whole run of gaps, counts it
 *   in gaps_seen, releases it and reports it through rw_consumer_last_gap (*got = 0); reading may
 *   go on;
 *  RW_ERR_LOST (optional consumers): the consumer was lapped (5.10); the events reported by
 *   rw_consumer_last_lost were overwritten unread, are counted in lost and released; reading goes
 *   on after them, at the claimed count less capacity. Checked before anything else and in every
 *   re-check of a wait, also when nothing looks published at next (multi mode: a consumer lapped
 *   more than once finds a later round's availability word there), so a lap ends a wait;
 *  RW_ERR_TIMEOUT.
 * Events before a gap are returned first. Optional consumers copy, fence (F4) and verify against
 * claimed before delivering (5.10). A required multi-mode consumer waiting at a claimed but
 * unpublished sequence for its stall timeout (rw_consumer_set_stall_timeout) passes over the
 * claims of dead producers there (5.8), then retries every 10 ms. Woken by a publish, a poisoning,
 * a close or its eviction; wakeups may be spurious. Refreshes the entry's heartbeat while it
 * waits. */
rw_code rw_consumer_consume(rw_consumer *c, void *out, uint32_t max, uint32_t *got,
			    int64_t timeout_ms, rw_error *err);
/* Non-blocking, zero-copy: the highest available count (spec 5.5 step 1), at most next + max.
 * Read the slots from rw_consumer_next to it with rw_segment_slot, then rw_consumer_release. In
 * multi mode gaps count as available: check rw_segment_is_gap before reading a slot. For
 * required consumers: it neither copies nor verifies, so an optional consumer (which the producers
 * may lap) reads with rw_consumer_consume or rw_consumer_copy_message, which do (5.10, 11.4). */
uint64_t rw_consumer_available(rw_consumer *c, uint64_t max);
/* Releases events below hi (release store of the cursor); on a framed ring hi must be a frame
 * boundary: rw_consumer_next(c) releases every message read, then loads both blockers counts and,
 * if either is not 0, does the waiters handshake of 5.5 step 3 on each word whose count is not 0:
 * producers waiting for room and consumers that read behind this one (depends_on). */
void rw_consumer_release(rw_consumer *c, uint64_t hi);
/* ---- Framed consumer (spec 11.3, 11.4) -----------------------------------------------------------
 * Framed rings only (RW_ERR_PAYLOAD_KIND otherwise). Blocking, waking, heartbeats, the end of the
 * stream, poisoning, eviction, producer death and 5.8 as rw_consumer_consume. A consumer's next
 * (rw_consumer_next) is always a frame boundary. */

/* A message as a read delivers it (frozen, see the top). */
typedef struct rw_message {
	const void *data; /* the payload in the slots (required) or in the caller's buffer (copy) */
	uint32_t len;     /* payload bytes */
	uint32_t slots;   /* sequences its frame occupies */
	uint64_t seq;     /* the frame's first sequence */
} rw_message;

/* Required consumers, zero-copy (11.3): waits until a message is available, then delivers up to
 * max messages in place into out[0..*got), pointers into the slots, which stay valid (the
 * producers do not reuse them) until rw_consumer_release or the next read, which releases them
 * first. PADs are passed over silently. Returns RW_OK with *got >= 1, or:
 *  RW_ERR_GAP (multi, *got 0): the sequences reported by rw_consumer_last_gap were passed over,
 *   counted in gaps_seen and released: GAPs at next one sequence at a time, and a frame any of
 *   whose sequences is a GAP (its producer died mid-publish) whole, all its slots; reading may go
 *   on;
 *  RW_ERR_CORRUPT_FRAME (*got 0): the frame at rw_consumer_next breaks a rule of 11.1 (named in
 *   the message), or runs past what is published in single mode or past the claimed count in
 *   multi mode; nothing past its header was read and the cursor does not move past it: every
 *   further read fails the same way;
 *  RW_ERR_EVICTED: the entry is no longer ours (checked before delivering each message, after F4;
 *   the whole batch is then discarded);
 *  and the codes of rw_consumer_consume (ended, poisoned, producer dead, timeout).
 * Messages before a gap or a corrupt frame are returned first. Multi mode: a frame whose header is
 * published but whose other sequences are not yet is waited for (with 5.8 at the first of them).
 * Optional consumers cannot read in place (RW_ERR_INVALID_ARG): they copy. */
rw_code rw_consumer_read_messages(rw_consumer *c, rw_message *out, uint32_t max, uint32_t *got,
				  int64_t timeout_ms, rw_error *err);
/* rw_consumer_read_messages with max 1. */
rw_code rw_consumer_read_message(rw_consumer *c, rw_message *msg, int64_t timeout_ms,
				 rw_error *err);
/* Any consumer, by copy (11.4; the only way for an optional consumer): copies the next message's
 * payload into buf (cap bytes, at least max_message, else RW_ERR_INVALID_ARG) and releases it.
 * *msg receives its length, slots and sequence, with data = buf. An optional consumer copies the
 * header and at most max_message bytes (never past the slot array) whatever the header says, then
 * F4, then verifies against claimed: if it was lapped it adds L - next to lost, releases up to the
 * claimed count L (a frame boundary) and returns RW_ERR_LOST (rw_consumer_last_lost: first
 * sequence and count, in sequences); reading goes on at L. A lap is also found, and ends a wait,
 * when nothing looks published at next (as rw_consumer_consume). Other codes as
 * rw_consumer_read_messages. */
rw_code rw_consumer_copy_message(rw_consumer *c, void *buf, uint32_t cap, rw_message *msg,
				 int64_t timeout_ms, rw_error *err);

/* RW_OK while our entry is still ours (state word and owner word unchanged), else
 * RW_ERR_EVICTED. */
rw_code rw_consumer_check_owner(const rw_consumer *c);
/* Stores heartbeat_ns = now. */
void rw_consumer_heartbeat(rw_consumer *c);
/* c never registers as a blocker: its waits sleep with a bounded backoff (1 us doubling to 1 ms)
 * instead of blocking in futex (leaving the count if it had registered). For a consumer that
 * spins or only polls (timeout 0); not safe concurrently with a wait of c. */
void rw_consumer_poll_only(rw_consumer *c);
/* Leaves consumer_blockers (once), gives up the entry (5.7): CAS of state from our active word to
 * closed, then of owner from our identity to 0, then wakes the producer word unconditionally; if
 * the entry is no longer ours it only clears owner by CAS from our identity. Then frees c (NULL is
 * a no-op). */
void rw_consumer_close(rw_consumer *c);

/* What a consumer knows of itself. */
rw_segment *rw_consumer_segment(const rw_consumer *c);
uint32_t rw_consumer_index(const rw_consumer *c);   /* its registry entry */
uint64_t rw_consumer_next(const rw_consumer *c);    /* the next sequence it reads (its cursor) */
uint64_t rw_consumer_lost(const rw_consumer *c);    /* events it was lapped over (also in the entry) */
uint64_t rw_consumer_gaps_seen(const rw_consumer *c); /* gaps passed over (also in the entry) */
/* Whether registration took over a dead owner's entry (5.7). */
int rw_consumer_taken_over(const rw_consumer *c);
/* The run of gaps reported by the last RW_ERR_GAP: first sequence and count (0, 0 before any). */
void rw_consumer_last_gap(const rw_consumer *c, uint64_t *seq, uint64_t *count);
/* The events reported lost by the last RW_ERR_LOST: first sequence and count (0, 0 before any). */
void rw_consumer_last_lost(const rw_consumer *c, uint64_t *seq, uint64_t *count);
/* Multi mode, required consumers: how long to wait at a claimed but unpublished sequence before
 * resolving it per 5.8 (safe at any value: 5.8 only passes over claims of dead producers).
 * Registration sets 1000; < 0 never resolves. */
void rw_consumer_set_stall_timeout(rw_consumer *c, int64_t ms);
int64_t rw_consumer_stall_timeout(const rw_consumer *c);

#ifdef __cplusplus
}
#endif
#endif /* RINGWIRE_H */
