/* tests/consumer.c - consuming and releasing: batches, optional consumers, eviction mid-batch (spec 5.5, 5.10). */
#include "harness.h"

/* ---- producer -> consumer across processes ---------------------------------------------------- */

void test_spsc_fork_wraparound(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("spsc");
	rw_config cfg = config(64, RW_MODE_SINGLE, 4);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	const uint64_t n = 100000; /* 1562 laps of the ring */
	struct stream_arg one = {name, "one-at-a-time", n, 1, 1, 0, 0};
	struct stream_arg bat = {name, "batched", n, 64, 1, 0, 0};
	pid_t c1 = spawn(child_consume, &one);
	pid_t c2 = spawn(child_consume, &bat);
	CHECK(wait_active(seg, 2, 5000), "both consumers registered");
	rw_producer *p = NULL;
	CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
	uint8_t ev[EV_SIZE * 7];
	rw_code rc = RW_OK;
	for (uint64_t k = 0; k < n && rc == RW_OK;) {
		/* first half one at a time, second half in batches of 7 that straddle the wrap */
		uint32_t b = k < n / 2 ? 1 : (uint32_t)(n - k < 7 ? n - k : 7);
		uint64_t first;
		rc = rw_producer_claim(p, b, 10000, &first, &err);
		if (rc != RW_OK)
			break;
		for (uint32_t i = 0; i < b; i++)
			ev_make(rw_slot(seg, first + i), k + i, 0);
		rw_producer_publish_claim(p);
		k += b;
	}
	(void)ev;
	CHECK_RC(rc, RW_OK, err);
	rw_producer_close(p, 1000, NULL);
	int s1 = reap(c1), s2 = reap(c2);
	CHECK(s1 == 0, "one-at-a-time consumer status %d", s1);
	CHECK(s2 == 0, "batched consumer status %d", s2);
	CHECK(atomic_load(&seg->cursors->published) == n && atomic_load(&seg->cursors->claimed) == n,
	      "published %llu", (unsigned long long)atomic_load(&seg->cursors->published));
	for (uint32_t i = 0; i < 2; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		CHECK(rw_state_value(atomic_load(&e->state)) == RW_ENTRY_CLOSED &&
			      atomic_load(&e->cursor) == n,
		      "entry %u closed at %llu", i, (unsigned long long)atomic_load(&e->cursor));
	}
	CHECK(atomic_load(&seg->wait->consumer_waiters) == 0 &&
		      atomic_load(&seg->wait->producer_waiters) == 0,
	      "no waiter left counted");
	rw_segment_close(seg);
	shm_unlink(name);
}

/* A stage ("b", reading behind entry a_index) attached to a closed segment: it must receive every
 * event once the slower stage moves, then the end, and block meanwhile rather than spin. */
struct stage_arg {
	const char *name;
	uint32_t a_index;
	uint32_t events;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int child_stage(void *argp)
{
	struct stage_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	long_waits();
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_consumer_register(seg, "b", RW_FLAG_REQUIRED, 1ull << a->a_index, RW_START_OLDEST, &c,
			NULL) != RW_OK)
		return 80;
	uint64_t cpu0 = cpu_ns();
	uint8_t ev[EV_SIZE * 8];
	uint32_t got, n = 0;
	rw_code rc;
	while ((rc = rw_consumer_consume(c, ev, 8, &got, 10000, NULL)) == RW_OK) {
		for (uint32_t i = 0; i < got; i++)
			if (ev_check(ev + i * EV_SIZE, n + i, 0) != 0)
				return 81;
		n += got;
	}
	uint64_t cpu = cpu_ns() - cpu0;
	rw_consumer_close(c);
	if (rc != RW_ERR_ENDED)
		return 82; /* timed out or failed */
	if (n != a->events)
		return 83; /* ended before receiving every event */
	return cpu < 150000000ull ? 0 : 84; /* 84: spun while the slower stage held it back */
}

/* 5.5 step 4, 5.6 step 3: the stream has ended for a consumer only once it read up to the
 * producers' count. A stage behind a slower one after the producer closed keeps waiting for it
 * (blocked, not spinning) and receives every event. */
void test_stage_after_close(void)
{
	rw_error err;
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		/* in one process */
		rw_config cfg = config(8, mode, 2);
		rw_segment *seg = NULL;
		uint8_t *img = heap_segment(&cfg, &seg);
		rw_producer *p = NULL;
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		rw_consumer *a = NULL, *b = NULL;
		CHECK_RC(rw_consumer_register(seg, "a", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &a, &err),
			 RW_OK, err);
		CHECK_RC(rw_consumer_register(seg, "b", RW_FLAG_REQUIRED, 1ull << a->index,
				     RW_START_OLDEST, &b, &err),
			 RW_OK, err);
		uint8_t ev[EV_SIZE * 8];
		for (int k = 0; k < 4; k++)
			ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);
		CHECK_RC(rw_producer_close(p, 1000, &err), RW_OK, err);
		uint32_t got = 99;
		CHECK_RC(rw_consumer_consume(b, ev, 8, &got, 0, &err), RW_ERR_TIMEOUT, err);
		CHECK(got == 0, "mode %u: b behind a: nothing yet, not the end", mode);
		CHECK_RC(rw_consumer_consume(a, ev, 8, &got, 0, &err), RW_OK, err);
		CHECK_RC(rw_consumer_consume(b, ev, 8, &got, 0, &err), RW_OK, err);
		CHECK(got == 4 && ev_check(ev + 3 * EV_SIZE, 3, 0) == 0, "mode %u: b got %u", mode,
		      got);
		CHECK_RC(rw_consumer_consume(b, ev, 8, &got, 0, &err), RW_ERR_ENDED, err);
		CHECK_RC(rw_consumer_consume(a, ev, 8, &got, 0, &err), RW_ERR_ENDED, err);
		rw_consumer_close(a);
		rw_consumer_close(b);
		rw_segment_close(seg);
		free(img);

		/* across processes: b blocks (5 s kernel waits) until a's cursor store wakes it */
		const char *name = shm_name(mode == RW_MODE_SINGLE ? "stage-s" : "stage-m");
		CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		CHECK_RC(rw_consumer_register(seg, "a", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &a, &err),
			 RW_OK, err);
		CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);
		CHECK_RC(rw_producer_close(p, 1000, &err), RW_OK, err);
		struct stage_arg sa = {name, a->index, 4};
		pid_t child = spawn(child_stage, &sa);
		for (int i = 0; i < 5000 && atomic_load(&seg->wait->consumer_waiters) == 0; i++)
			sleep_ms(1);
		sleep_ms(300); /* b must wait this out, blocked */
		CHECK_RC(rw_consumer_consume(a, ev, 8, &got, 0, &err), RW_OK, err);
		int st = reap(child);
		CHECK(st == 0, "mode %u: stage behind a slower one after the close: child status %d "
			       "(83 stopped early, 84 spun)",
		      mode, st);
		rw_consumer_close(a);
		rw_segment_close(seg);
		shm_unlink(name);
	}
}

/* ---- eviction mid-batch (spec 5.5 step 2) ------------------------------------------------------ */

static rw_producer *evict_producer;

/* Evicts the consumer while it copies its batch, then reuses the slots it no longer gates. */
static void evict_during_copy(rw_consumer *c)
{
	if (!evict_producer)
		return;
	rw_segment_evict(c->seg, c->index, c->state_word);
	uint8_t ev[EV_SIZE];
	for (uint64_t k = 0; k < c->seg->g.capacity; k++) {
		ev_make(ev, 2000 + k, 0);
		rw_producer_publish(evict_producer, ev, 1, 0, NULL);
	}
	evict_producer = NULL;
}

/* A required consumer evicted in the middle of a batch delivers nothing more of it (the copies
 * may come from reused slots) and reports evicted; its cursor is not stored. */
void test_evicted_mid_batch(void)
{
	rw_error err;
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		rw_config cfg = config(8, mode, 2);
		rw_segment *seg = NULL;
		uint8_t *img = heap_segment(&cfg, &seg);
		rw_producer *p = NULL;
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		rw_consumer *r = NULL;
		CHECK_RC(rw_consumer_register(seg, "r", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &r, &err),
			 RW_OK, err);
		uint8_t ev[EV_SIZE * 8];
		for (int k = 0; k < 4; k++)
			ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);
		evict_producer = p;
		rw_test.after_copy = evict_during_copy;
		uint32_t got = 99;
		CHECK_RC(rw_consumer_consume(r, ev, 8, &got, 0, &err), RW_ERR_EVICTED, err);
		rw_test.after_copy = NULL;
		CHECK(evict_producer == NULL, "mode %u: the hook ran", mode);
		CHECK(got == 0 && !r->registered && atomic_load(&r->entry->cursor) == 0 &&
			      rw_entry_owner(r->entry) == 0,
		      "mode %u: evicted mid-batch: got %u, cursor %llu", mode, got,
		      (unsigned long long)atomic_load(&r->entry->cursor));
		CHECK_RC(rw_consumer_consume(r, ev, 8, &got, 0, &err), RW_ERR_EVICTED, err);
		rw_consumer_close(r);
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(img);
	}
}

/* ---- optional consumers (spec 5.10) -------------------------------------------------------------- */

static rw_producer *lap_producer;
static int lap_now;

/* Plays a producer that laps the optional consumer while it copies. */
static void lap_during_copy(rw_consumer *c)
{
	(void)c;
	if (!lap_now)
		return;
	lap_now = 0;
	uint8_t ev[EV_SIZE];
	uint64_t base = rw_claimed_count(lap_producer->seg);
	for (uint64_t k = 0; k < lap_producer->seg->g.capacity; k++) {
		ev_make(ev, 1000 + base + k, 0);
		rw_producer_publish(lap_producer, ev, 1, 0, NULL);
	}
}

void test_optional_verify(void)
{
	rw_error err;
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		rw_config cfg = config(8, mode, 2);
		rw_segment *seg = NULL;
		uint8_t *img = heap_segment(&cfg, &seg);
		rw_producer *p = NULL;
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		rw_consumer *opt = NULL;
		CHECK_RC(rw_consumer_register(seg, "opt", 0, 0, RW_START_LATEST, &opt, &err), RW_OK, err);
		uint8_t ev[EV_SIZE * 8];
		for (int k = 0; k < 4; k++)
			ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);
		/* the producer overwrites the slots while the consumer copies them: the copy is
		 * verified against claimed after F4 and reported lost, never delivered */
		lap_producer = p;
		lap_now = 1;
		rw_test.after_copy = lap_during_copy;
		uint32_t got = 99;
		CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 0, &err), RW_ERR_LOST, err);
		rw_test.after_copy = NULL;
		CHECK(got == 0 && opt->lost_seq == 0 && opt->lost_count == 4 && opt->lost == 4 &&
			      atomic_load(&opt->entry->lost) == 4 && opt->next == 4,
		      "mode %u: torn copy reported lost (%llu from %llu)", mode,
		      (unsigned long long)opt->lost_count, (unsigned long long)opt->lost_seq);
		CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 0, &err), RW_OK, err);
		CHECK(got == 8 && ev_check(ev, 1004, 0) == 0 && ev_check(ev + 7 * EV_SIZE, 1011, 0) == 0,
		      "mode %u: then the events that overwrote them (got %u)", mode, got);
		rw_consumer_close(opt);
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(img);
	}
}
/* ---- a lapped optional consumer of a multi-producer ring (spec 5.10, steps 3-4 with nothing
 * published at next) ------------------------------------------------------------------------------ */

static rw_producer *lapper;   /* laps the consumer at its first kernel wait, then is cleared */
static uint64_t lap_count;    /* events it publishes then */
static int waits_after_lap;   /* kernel waits the consumer began once it was lapped */

static void lap_at_kernel_wait(uint64_t timeout_ns)
{
	(void)timeout_ns;
	if (!lapper) {
		waits_after_lap++;
		return;
	}
	rw_producer *p = lapper;
	lapper = NULL;
	uint8_t ev[EV_SIZE];
	for (uint64_t k = 0; k < lap_count; k++) {
		ev_make(ev, k, 0);
		rw_producer_publish(p, ev, 1, 0, NULL);
	}
}

/* In multi mode an optional consumer lapped more than once finds, at its next sequence, the
 * availability word of a later round: nothing looks published there (hi == next), and only the
 * claimed count L tells it that it was lapped. It must report the loss, go on from L - capacity
 * and read those events, whether it was lapped before its call or while it waited (then it must
 * end its wait at the wake, 5.10: it must not block again). */
void test_optional_lapped_multi(void)
{
	rw_error err;
	for (int waiting = 0; waiting <= 1; waiting++) {
		rw_config cfg = config(8, RW_MODE_MULTI, 2);
		rw_segment *seg = NULL;
		uint8_t *img = heap_segment(&cfg, &seg);
		rw_producer *p = NULL;
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		rw_consumer *opt = NULL; /* the only consumer: nothing gates the producer */
		CHECK_RC(rw_consumer_register(seg, "opt", 0, 0, RW_START_LATEST, &opt, &err), RW_OK, err);
		uint8_t ev[EV_SIZE * 8];
		lap_count = 20; /* 2.5 laps of 8 slots */
		waits_after_lap = 0;
		if (waiting) {
			lapper = p;
			rw_test.before_kernel_wait = lap_at_kernel_wait;
		} else {
			for (uint64_t k = 0; k < lap_count; k++) {
				ev_make(ev, k, 0);
				CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
			}
			CHECK(atomic_load(rw_availability_word(seg, 0)) == 17,
			      "sequence 0's availability word is sequence 16's");
		}
		uint32_t got = 99;
		rw_code rc = rw_consumer_consume(opt, ev, 8, &got, 3000, &err);
		rw_test.before_kernel_wait = NULL;
		CHECK_RC(rc, RW_ERR_LOST, err);
		uint64_t ls = 99, lc = 99;
		rw_consumer_last_lost(opt, &ls, &lc);
		CHECK(got == 0 && ls == 0 && lc == 12 && rw_consumer_lost(opt) == 12 &&
			      atomic_load(&opt->entry->lost) == 12 && rw_consumer_next(opt) == 12 &&
			      atomic_load(&opt->entry->cursor) == 12,
		      "waiting %d: lapped: %llu lost from %llu, resumes at %llu (want 12 from 0, at "
		      "L - capacity = 12)",
		      waiting, (unsigned long long)lc, (unsigned long long)ls,
		      (unsigned long long)rw_consumer_next(opt));
		CHECK(!waiting || !KERNEL_BLOCKS || (lapper == NULL && waits_after_lap == 0),
		      "waiting: the lap ends the wait (%d kernel waits after it)", waits_after_lap);
		CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 3000, &err), RW_OK, err);
		int intact = got == 8;
		for (uint32_t i = 0; intact && i < got; i++)
			intact = ev_check(ev + i * EV_SIZE, 12 + i, 0) == 0;
		CHECK(intact, "waiting %d: then events 12 to 19, intact (got %u)", waiting, got);
		CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 0, &err), RW_ERR_TIMEOUT, err);
		CHECK(rw_consumer_lost(opt) == 12, "waiting %d: nothing more lost", waiting);
		rw_consumer_close(opt);
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(img);
	}
}
