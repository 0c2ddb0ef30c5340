/*
 * ringwire_internal.h - private to the C library and its tests: the layout of the opaque handles
 * of ringwire.h, the geometry and validation internals, and the test hooks. Not part of the API
 * or the ABI: nothing outside interop/c includes it, and any of it may change in any release.
 */
#ifndef RINGWIRE_INTERNAL_H
#define RINGWIRE_INTERNAL_H

#include "ringwire_layout.h"

/* ---- Geometry and validation ------------------------------------------------------------------ */

typedef struct rw_region rw_region;
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
	/* Format 2.1 (spec 11): the payload kind, and for a framed ring the frame geometry and
	 * whether check 14 passed (computed at validation whatever the reader; the framed calls
	 * refuse a ring where it did not). type_name is a copy of the header's (check 9 bounds its
	 * length), from which check 14 recomputes the fingerprint. */
	uint32_t payload_kind;
	uint32_t frames_ok;
	rw_frame_geometry frames;
	uint32_t type_name_len;
	char type_name[RW_MAX_TYPE_NAME + 1];
} rw_geometry;

/* Computes the version 2.0 creator placement (spec 4) for cfg. */
rw_code rw_layout(const rw_config *cfg, rw_geometry *out, rw_error *err);

/* Writes a fresh segment into buf (total_size bytes, zeroed by the caller), following spec 5.1
 * steps 2 and 3: every field, producer entry 0 taken by the creator (owner = its identity,
 * heartbeat, state active generation 1), then init_state = 1 with release ordering. */
void rw_init_image(void *buf, const rw_geometry *g, const rw_event_type *type, uint64_t incarnation,
		   uint32_t creator_pid, uint64_t creator_start_time, uint64_t created_unix_ns);

/* Validates a mapping of len bytes at base, in the order of spec 5.2 (len 0 is "initializing").
 * expect NULL skips check 13; otherwise check 13 is a fixed-event reader's (payload_kind 0, then
 * the event type). On success fills *out (may be NULL). Never reads outside [base, base+len). */
rw_code rw_validate(const void *base, size_t len, const rw_event_type *expect, rw_geometry *out,
		    rw_error *err);
/* The same for a reader of framed messages: checks 1 to 12, then 13 (payload_kind 1; type_name,
 * if not NULL, equal to the header's) and 14 (the geometry of 11.1). */
rw_code rw_validate_framed(const void *base, size_t len, const char *type_name, rw_geometry *out,
			   rw_error *err);
/* Checks 13 and 14 for a framed reader on validated geometry (rw_segment_check_framed). */
rw_code rw_check_framed(const rw_geometry *g, const char *type_name, rw_error *err);

/* ---- Handles ---------------------------------------------------------------------------------- */

enum { RW_BACKING_SHM = 1, RW_BACKING_FILE = 2, RW_BACKING_MEMORY = 3 };

/* Blocker places of a producer or consumer in the header's counts (spec 5.6). */
enum { RW_BLOCKER_NONE = 0, RW_BLOCKER_REGISTERED, RW_BLOCKER_BOUNDED, RW_BLOCKER_NEVER };

/* An attached segment (immutable once created or attached). */
struct rw_segment {
	uint8_t *base;
	size_t map_len;
	int backing;
	int creator;
	char name[RW_MAX_NAME + 4];
	rw_geometry g;
	rw_header *hdr;
	rw_cursors *cursors;
	rw_wait *wait;
};

struct rw_producer {
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
	uint64_t bound; /* cached gating bound (min required cursor, or the count published) */
	uint64_t prefix; /* multi: the published prefix this producer last found (5.3 step 1) */
	uint64_t resolve_at; /* multi: monotonic ns from which a wait for room may run 5.8 again */
	uint64_t pending_lo, pending_hi; /* the claim awaiting rw_producer_publish_claim */
	/* The message claimed in place (rw_producer_claim_message) awaiting its publish or
	 * abandon: its frame's first sequence, its slots, and the bytes it was claimed for. */
	int msg_open;
	uint64_t msg_seq, msg_slots;
	uint32_t msg_max;
	uint64_t heartbeat_at;           /* monotonic ns of the last heartbeat while waiting */
};

struct rw_consumer {
	rw_segment *seg;
	rw_entry *entry;
	uint32_t index;
	uint32_t flags;
	uint32_t state_word; /* the entry's state word while it is ours (active, generation) */
	uint64_t owner;      /* our owner identity, as stored in the entry */
	uint64_t depends_on;
	uint64_t next;
	uint64_t touched; /* framed reads: slots below it were prefetched ahead of the walk */
	uint64_t lost;      /* events this (optional) consumer was lapped over, also in the entry */
	uint64_t gaps_seen; /* gaps passed over (spec 5.8), also in the entry */
	uint64_t gap_seq, gap_count;   /* the gaps reported by the last RW_ERR_GAP */
	uint64_t lost_seq, lost_count; /* the events reported lost by the last RW_ERR_LOST */
	/* Multi mode, required consumers: how long to wait at a claimed but unpublished sequence
	 * before resolving it per 5.8 (safe at any value: 5.8 only passes over claims of dead
	 * producers). rw_consumer_register sets 1000; set it afterwards to change it; < 0 never resolves. */
	int64_t stall_timeout_ms;
	int registered;         /* the entry is ours until rw_consumer_close or eviction */
	int taken_over;         /* registration took over a dead owner's entry */
	int blocker;            /* RW_BLOCKER_*: place in the header's consumer_blockers */
	uint64_t report_lost;   /* events to report lost on the next rw_consumer_consume (evicted entry) */
	int held;               /* framed reads: messages below next were delivered in place and not
				 * yet released (the cursor is stored by the next read or a release) */
	uint64_t wait_at;       /* the sequence a waiting consumer needs published (5.6 step 3) */
	uint64_t liveness_at;   /* monotonic ns of the next check that a producer lives (5.5 4) */
};

/* What an observer remembers of each registry entry to tell stalled consumers (spec 8). */
struct rw_stall_watch {
	uint32_t state_word[RW_MAX_REGISTRY];
	uint64_t cursor[RW_MAX_REGISTRY];
	uint64_t since_ns[RW_MAX_REGISTRY]; /* when this observer first saw that state and cursor */
};


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

/* ---- Passing over a dead producer's claims (spec 5.8; "internal" in spec/VOCABULARY.md) -------- */

/* For a required consumer stuck at sequence s of a multi-producer ring: resolves s per 5.8
 * (steps 1 to 4: below the claimed count, unresolved, no live producer's intent covering s or in
 * flux, a dead producer's intent covering it) by a CAS of its availability word to a gap, counted
 * once in the header's gaps; then the same for s + 1, ... while each is resolved that way.
 * Returns how many sequences this call turned into gaps. The dead producer's entry stays active
 * (its owner dead, its claim resolved) until a peer retires it. Safe for concurrent use. */
uint64_t rw_pass_over_dead_claims(rw_segment *seg, uint64_t s);

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
	/* A multi-mode claim calls it right before its compare-and-swap of claimed from c (its
	 * intent announced): a test may claim in between, so that the CAS fails. */
	void (*claim_cas)(rw_producer *p, uint64_t c);
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

#endif /* RINGWIRE_INTERNAL_H */
