/* shmring: the smallest single-producer single-consumer ring over POSIX shared memory that
 * still does the job, between two processes pinned to two CPUs and busy-spinning. It is the
 * yardstick for "how fast can a shared-memory ring go on this machine"; anything ringwire adds
 * (headers, registries, wait words, deadlines) is measured against it.
 *
 * Protocol (counts, as in spec/LAYOUT.md section 2: a cursor of c means sequences below c):
 *   producer: wait until end - consumed <= capacity (re-reading `consumed` only when its cached
 *             copy says the ring is full), write the batch [next, end) into the slots, then one
 *             release store of published = end.
 *   consumer: when its cached copy of `published` says nothing is new, acquire-load it until it
 *             moves; verify every sequence in [next, published); then one release store of
 *             consumed = published.
 * Sequence s lives in slot s & (capacity - 1); its first 8 bytes hold s (all 8-byte words of the
 * event with --fill). The release store of `published` pairs with the consumer's acquire load
 * (the slot bytes are visible before the cursor); the release store of `consumed` pairs with the
 * producer's acquire load (the consumer's reads finish before the slot is reused). */
#define _GNU_SOURCE
#include "common.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shared header: three 128-byte lines, then the slots. */
struct ring_shared {
	/* Line 0, written only by the producer: its cursor, and its start stamp (written once,
	 * before the first publish). */
	_Alignas(BL_LINE) _Atomic uint64_t published;
	uint64_t t_start_ns;
	/* Line 1, written only by the consumer: its cursor, and its end stamp (written once, after
	 * the last event). */
	_Alignas(BL_LINE) _Atomic uint64_t consumed;
	uint64_t t_end_ns;
	/* Line 2, start handshake: the consumer is attached and spinning. */
	_Alignas(BL_LINE) _Atomic uint32_t consumer_ready;
};

_Static_assert(sizeof(struct ring_shared) == 3 * BL_LINE, "three lines");
_Static_assert(offsetof(struct ring_shared, consumed) == BL_LINE, "consumed on line 1");
_Static_assert(offsetof(struct ring_shared, consumer_ready) == 2 * BL_LINE, "ready on line 2");

#define SLOTS_OFFSET sizeof(struct ring_shared)
#define MAX_SEGMENT (UINT64_C(1) << 30)

struct ring {
	struct ring_shared *sh;
	unsigned char *slots;
	uint64_t events;
	uint64_t capacity;
	uint64_t batch;
	uint64_t event_size;
	int fill;
};

/* The hot loops take the event size and the fill mode as parameters and are always inlined, so
 * the default case (64 bytes, no fill) is compiled with constants and no branch per event (see
 * run_producer / run_consumer). At -O2 that is worth about 40% here: a runtime `fill` test in
 * the per-event loop is not unswitched below -O3. */
static inline __attribute__((always_inline)) int produce(const struct ring *r, uint64_t esz, int fill) {
	struct ring_shared *sh = r->sh;
	unsigned char *slots = r->slots;
	const uint64_t n = r->events, cap = r->capacity, mask = cap - 1, batch = r->batch;
	const uint64_t words = esz / 8;

	while (atomic_load_explicit(&sh->consumer_ready, memory_order_acquire) == 0) {
		bl_spin_hint();
	}
	sh->t_start_ns = bl_now_ns();

	uint64_t next = 0, cached_consumed = 0;
	while (next < n) {
		const uint64_t end = next + (n - next < batch ? n - next : batch);
		if (end - cached_consumed > cap) {
			for (;;) {
				cached_consumed = atomic_load_explicit(&sh->consumed, memory_order_acquire);
				if (end - cached_consumed <= cap) {
					break;
				}
				bl_spin_hint();
			}
		}
		for (uint64_t s = next; s < end; s++) {
			uint64_t *w = (uint64_t *)(void *)(slots + (s & mask) * esz);
			w[0] = s;
#ifdef BL_INJECT_FAULT /* `make check` only: prove the consumer catches a wrong event */
			if (s == BL_INJECT_FAULT) {
				w[0] = s + 1;
			}
#endif
			if (fill) {
				for (uint64_t i = 1; i < words; i++) {
					w[i] = s;
				}
			}
		}
		atomic_store_explicit(&sh->published, end, memory_order_release);
		next = end;
	}
	return 0;
}

static inline __attribute__((always_inline)) int consume(const struct ring *r, uint64_t esz, int fill) {
	struct ring_shared *sh = r->sh;
	const unsigned char *slots = r->slots;
	const uint64_t n = r->events, mask = r->capacity - 1;
	const uint64_t last_word = esz / 8 - 1;

	atomic_store_explicit(&sh->consumer_ready, 1, memory_order_release);

	uint64_t next = 0, cached_published = 0;
	while (next < n) {
		if (cached_published == next) {
			for (;;) {
				cached_published = atomic_load_explicit(&sh->published, memory_order_acquire);
				if (cached_published != next) {
					break;
				}
				bl_spin_hint();
			}
		}
		for (uint64_t s = next; s < cached_published; s++) {
			const uint64_t *w = (const uint64_t *)(const void *)(slots + (s & mask) * esz);
			if (w[0] != s || (fill && w[last_word] != s)) {
				fprintf(stderr, "%s: consumer: sequence %" PRIu64 " read %" PRIu64 "/%" PRIu64
					" (first/last word)\n", bl_prog, s, w[0], w[last_word]);
				return 3;
			}
		}
		next = cached_published;
		atomic_store_explicit(&sh->consumed, next, memory_order_release);
	}
	sh->t_end_ns = bl_now_ns();
	if (next != n) {
		fprintf(stderr, "%s: consumer: ended at %" PRIu64 ", want %" PRIu64 "\n", bl_prog, next, n);
		return 3;
	}
	return 0;
}

static int run_producer(void *arg) {
	const struct ring *r = arg;
	return r->event_size == 64 && !r->fill ? produce(r, 64, 0) : produce(r, r->event_size, r->fill);
}

static int run_consumer(void *arg) {
	const struct ring *r = arg;
	return r->event_size == 64 && !r->fill ? consume(r, 64, 0) : consume(r, r->event_size, r->fill);
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: shmring [flags]\n"
		"  --events N        events per run (default 20000000)\n"
		"  --event-size B    bytes per event, a multiple of 8 (default 64)\n"
		"  --capacity C      slots, a power of two >= 2 (default 4096)\n"
		"  --batch K         events per producer release store, 1..capacity (default 64)\n"
		"  --runs R          runs, one JSON line each (default 1)\n"
		"  --name /NAME      shared-memory object (default /rw-bl-<pid>)\n"
		"  --producer-cpu N  (default 0)    --consumer-cpu N  (default 1)\n"
		"  --fill            producer writes every 8-byte word of the event (default: only the\n"
		"                    first, which holds the sequence); consumer then checks the last too\n"
		"  --pause           spin with a pause instruction between checks (default: none)\n"
		"  --timeout S       kill a run after S seconds, 0 = never (default 60)\n");
}

int main(int argc, char **argv) {
	bl_init(argv[0]);
	uint64_t events = 20000000, event_size = 64, capacity = 4096, batch = 64, runs = 1;
	uint64_t producer_cpu = 0, consumer_cpu = 1, timeout = 60;
	int fill = 0;
	char name[64];
	bl_default_name(name, sizeof name);

	enum { O_EVENTS = 1, O_SIZE, O_CAP, O_BATCH, O_RUNS, O_NAME, O_PCPU, O_CCPU, O_FILL, O_PAUSE, O_TIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"events", required_argument, NULL, O_EVENTS},
		{"event-size", required_argument, NULL, O_SIZE},
		{"capacity", required_argument, NULL, O_CAP},
		{"batch", required_argument, NULL, O_BATCH},
		{"runs", required_argument, NULL, O_RUNS},
		{"name", required_argument, NULL, O_NAME},
		{"producer-cpu", required_argument, NULL, O_PCPU},
		{"consumer-cpu", required_argument, NULL, O_CCPU},
		{"fill", no_argument, NULL, O_FILL},
		{"pause", no_argument, NULL, O_PAUSE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_EVENTS: bad = bl_parse_u64("events", optarg, &events); break;
		case O_SIZE: bad = bl_parse_u64("event-size", optarg, &event_size); break;
		case O_CAP: bad = bl_parse_u64("capacity", optarg, &capacity); break;
		case O_BATCH: bad = bl_parse_u64("batch", optarg, &batch); break;
		case O_RUNS: bad = bl_parse_u64("runs", optarg, &runs); break;
		case O_PCPU: bad = bl_parse_u64("producer-cpu", optarg, &producer_cpu); break;
		case O_CCPU: bad = bl_parse_u64("consumer-cpu", optarg, &consumer_cpu); break;
		case O_TIMEOUT: bad = bl_parse_u64("timeout", optarg, &timeout); break;
		case O_NAME: snprintf(name, sizeof name, "%s", optarg); break;
		case O_FILL: fill = 1; break;
		case O_PAUSE: bl_pause = 1; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
		if (bad) {
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	const char *invalid = NULL;
	if (events == 0 || events >= (UINT64_C(1) << 62)) {
		invalid = "--events must be in 1..2^62";
	} else if (event_size < 8 || event_size % 8 != 0 || event_size > 65536) {
		invalid = "--event-size must be a multiple of 8 in 8..65536";
	} else if (capacity < 2 || (capacity & (capacity - 1)) != 0 || capacity > (UINT64_C(1) << 30)) {
		invalid = "--capacity must be a power of two in 2..2^30";
	} else if (batch == 0 || batch > capacity) {
		invalid = "--batch must be in 1..capacity";
	} else if (runs == 0) {
		invalid = "--runs must be at least 1";
	} else if (capacity * event_size > MAX_SEGMENT - SLOTS_OFFSET) {
		invalid = "--capacity x --event-size must stay under 1 GiB";
	} else if (producer_cpu > 1023 || consumer_cpu > 1023 || timeout > 86400) {
		invalid = "--producer-cpu/--consumer-cpu must be < 1024, --timeout <= 86400";
	}
	if (invalid != NULL) {
		fprintf(stderr, "%s: %s\n", bl_prog, invalid);
		return 64;
	}

	struct bl_shm shm;
	if (bl_shm_create(&shm, name, SLOTS_OFFSET + capacity * event_size) != 0) {
		return 1;
	}
	struct ring r = {
		.sh = shm.base,
		.slots = (unsigned char *)shm.base + SLOTS_OFFSET,
		.events = events,
		.capacity = capacity,
		.batch = batch,
		.event_size = event_size,
		.fill = fill,
	};
	int rc = 0;
	for (uint64_t run = 0; run < runs; run++) {
		memset(r.sh, 0, sizeof *r.sh); /* no child is alive between runs */
		struct bl_role roles[2] = {
			{.label = "consumer", .cpu = (int)consumer_cpu, .fn = run_consumer, .arg = &r},
			{.label = "producer", .cpu = (int)producer_cpu, .fn = run_producer, .arg = &r},
		};
		if (bl_run_pair(roles, (unsigned)timeout) != 0) {
			rc = 1;
			break;
		}
		double seconds = (double)(r.sh->t_end_ns - r.sh->t_start_ns) / 1e9;
		printf("{\"baseline\":\"c-shmring\",\"event_size\":%" PRIu64 ",\"batch\":%" PRIu64
		       ",\"capacity\":%" PRIu64 ",\"events\":%" PRIu64 ",\"seconds\":%.6f,\"events_per_sec\":%.0f%s%s}\n",
		       event_size, batch, capacity, events, seconds, (double)events / seconds,
		       fill ? ",\"fill\":true" : "", bl_pause ? ",\"pause\":true" : "");
		fflush(stdout);
	}
	bl_shm_destroy(&shm);
	return rc;
}
