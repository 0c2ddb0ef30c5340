/* tests/waking.c - blockers counts and wakes (spec 5.6). */
#include "harness.h"

/* ---- blockers counts (spec 5.6) --------------------------------------------------------------- */

static uint32_t cblockers(const rw_segment *seg) { return atomic_load(&seg->hdr->consumer_blockers); }
static uint32_t pblockers(const rw_segment *seg) { return atomic_load(&seg->hdr->producer_blockers); }

/* A consumer that blocks in futex in another process: registers (start latest), waits up to
 * 10 s for one event (registering as a blocker on its first kernel wait), checks it, and
 * deregisters. */
static int child_wait_event(void *name)
{
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 60;
	/* kernel waits of 5 s: only the publisher's wake ends this one promptly */
	rw_test.wait_slice_ns = 5000000000ull;
	rw_test.liveness_period_ns = 5000000000ull;
	if (rw_consumer_register(seg, "sleeper", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, NULL) != RW_OK)
		return 61;
	if (c->blocker != RW_BLOCKER_NONE)
		return 62;
	uint8_t ev[EV_SIZE];
	uint32_t got = 0;
	rw_code rc = rw_consumer_consume(c, ev, 1, &got, 10000, NULL); /* blocks in futex */
	if (KERNEL_BLOCKS && c->blocker != RW_BLOCKER_REGISTERED)
		return 65;
	rw_consumer_close(c);
	rw_segment_close(seg);
	if (rc != RW_OK || got != 1)
		return 63;
	return ev_check(ev, 0, 0) == 0 ? 0 : 64;
}

static uint64_t longest_kernel_wait, kernel_waits;
static void record_kernel_wait(uint64_t timeout_ns)
{
	kernel_waits++;
	if (timeout_ns > longest_kernel_wait)
		longest_kernel_wait = timeout_ns;
}

void test_blockers(void)
{
	rw_error err;
	uint8_t ev[EV_SIZE * 8];
	uint32_t got;
	/* 5.6: a peer registers as a blocker before its first kernel wait, not before */
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	CHECK(cblockers(seg) == 0 && pblockers(seg) == 0, "fresh segment: counts 0");
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	rw_consumer *c1 = NULL, *c2 = NULL, *c3 = NULL;
	CHECK_RC(rw_consumer_register(seg, "c1", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c1, &err), RW_OK,
		 err);
	CHECK_RC(rw_consumer_register(seg, "c2", 0, 0, RW_START_OLDEST, &c2, &err), RW_OK, err);
	CHECK(cblockers(seg) == 0 && pblockers(seg) == 0 && c1->blocker == RW_BLOCKER_NONE,
	      "registered peers that never waited are not counted");
	CHECK_RC(rw_consumer_consume(c1, ev, 1, &got, 0, &err), RW_ERR_TIMEOUT, err);
	CHECK(cblockers(seg) == 0, "a call that does not wait does not register");
	rw_test.before_kernel_wait = record_kernel_wait;
	longest_kernel_wait = kernel_waits = 0;
	CHECK_RC(rw_consumer_consume(c1, ev, 1, &got, 60, &err), RW_ERR_TIMEOUT, err);
	CHECK(cblockers(seg) == KERNEL_BLOCKS &&
		      c1->blocker == (KERNEL_BLOCKS ? RW_BLOCKER_REGISTERED : RW_BLOCKER_NEVER),
	      "a consumer that blocked is counted: %u", cblockers(seg));
	CHECK(!KERNEL_BLOCKS || (kernel_waits > 0 && longest_kernel_wait > 1000000ull &&
				 longest_kernel_wait <= 20000000ull),
	      "with F3, kernel waits up to 20 ms (longest %llu ns)",
	      (unsigned long long)longest_kernel_wait);
	CHECK_RC(rw_consumer_consume(c1, ev, 1, &got, 10, &err), RW_ERR_TIMEOUT, err);
	CHECK(cblockers(seg) == KERNEL_BLOCKS, "registered once");
	/* F3 failing (no membarrier): registered, but every kernel wait is at most 1 ms */
	rw_test.membarrier_fails = 1;
	longest_kernel_wait = kernel_waits = 0;
	CHECK_RC(rw_consumer_consume(c2, ev, 1, &got, 60, &err), RW_ERR_TIMEOUT, err);
	rw_test.membarrier_fails = 0;
	CHECK(cblockers(seg) == 2 * KERNEL_BLOCKS &&
		      c2->blocker == (KERNEL_BLOCKS ? RW_BLOCKER_BOUNDED : RW_BLOCKER_NEVER),
	      "registered without the barrier: %u", cblockers(seg));
	CHECK(!KERNEL_BLOCKS || (kernel_waits > 10 && longest_kernel_wait <= 1000000ull),
	      "without F3 every kernel wait is at most 1 ms (%llu waits, longest %llu ns)",
	      (unsigned long long)kernel_waits, (unsigned long long)longest_kernel_wait);
	rw_test.before_kernel_wait = NULL;
	CHECK_RC(rw_consumer_register(seg, "c1", 0, 0, RW_START_OLDEST, &c3, &err), RW_ERR_DUPLICATE_NAME,
		 err);
	rw_consumer_close(c3);
	CHECK(cblockers(seg) == 2 * KERNEL_BLOCKS, "a refused registration leaves no count");
	rw_consumer_close(c2);
	CHECK(cblockers(seg) == KERNEL_BLOCKS, "deregistered: %u", cblockers(seg));
	rw_consumer_close(NULL);
	CHECK(cblockers(seg) == KERNEL_BLOCKS, "closing nothing does not subtract");
	/* an evicted consumer still leaves the count when it closes */
	uint32_t c1_index = c1->index;
	CHECK(rw_segment_evict(seg, c1_index, c1->state_word) == 1, "c1 evicted");
	rw_consumer_close(c1);
	CHECK(cblockers(seg) == 0 &&
		      rw_state_value(atomic_load(&rw_entry_at(seg, c1_index)->state)) ==
			      RW_ENTRY_EVICTED,
	      "evicted consumer left the count (%u), entry untouched", cblockers(seg));

	/* 5.3 steps 4-5: the publish stores, then loads consumer_blockers: with 0 there is no
	 * handshake even with a waiter played by the waiters count; with a registered consumer
	 * the wake word is bumped */
	atomic_store(&seg->wait->consumer_waiters, 1);
	uint32_t cw = atomic_load(&seg->wait->consumer_wake);
	ev_make(ev, 0, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	CHECK(atomic_load(&seg->wait->consumer_wake) == cw, "no blockers: consumer_wake unchanged");
	CHECK(atomic_load(&seg->cursors->published) == 1, "published by the release store");
	CHECK_RC(rw_consumer_register(seg, "c2", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c2, &err), RW_OK,
		 err);
	CHECK_RC(rw_consumer_consume(c2, ev, 1, &got, 30, &err), RW_ERR_TIMEOUT, err); /* registers */
	ev_make(ev, 1, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	CHECK(atomic_load(&seg->wait->consumer_wake) == cw + KERNEL_BLOCKS,
	      "a registered consumer: consumer_wake bumped (%u -> %u)", cw,
	      atomic_load(&seg->wait->consumer_wake));
	atomic_store(&seg->wait->consumer_waiters, 0);

	/* 5.5 steps 2-3: a cursor store does each handshake only if its count is not 0 */
	atomic_store(&seg->wait->producer_waiters, 1);
	atomic_store(&seg->wait->consumer_waiters, 1);
	rw_consumer_poll_only(c2);
	rw_consumer_poll_only(c2);
	CHECK(cblockers(seg) == 0 && c2->blocker == RW_BLOCKER_NEVER, "poll only: left, once");
	uint32_t pw = atomic_load(&seg->wait->producer_wake);
	cw = atomic_load(&seg->wait->consumer_wake);
	CHECK_RC(rw_consumer_consume(c2, ev, 1, &got, 0, &err), RW_OK, err);
	CHECK(got == 1 && atomic_load(&rw_entry_at(seg, c2->index)->cursor) == 2 &&
		      atomic_load(&seg->wait->producer_wake) == pw &&
		      atomic_load(&seg->wait->consumer_wake) == cw,
	      "no blockers: cursor stored, neither wake word bumped");
	atomic_fetch_add(&seg->hdr->producer_blockers, 1); /* a producer of another process */
	ev_make(ev, 2, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	CHECK_RC(rw_consumer_consume(c2, ev, 1, &got, 0, &err), RW_OK, err);
	CHECK(got == 1 && atomic_load(&seg->wait->producer_wake) == pw + 1 &&
		      atomic_load(&seg->wait->consumer_wake) == cw,
	      "producer_blockers 1: only producer_wake bumped");
	atomic_fetch_sub(&seg->hdr->producer_blockers, 1);
	atomic_store(&seg->wait->producer_waiters, 0);
	atomic_store(&seg->wait->consumer_waiters, 0);
	/* a poll-only consumer still waits (sleep backoff) without registering */
	CHECK_RC(rw_consumer_consume(c2, ev, 1, &got, 20, &err), RW_ERR_TIMEOUT, err);
	CHECK(cblockers(seg) == 0, "poll-only waits do not register");
	/* a producer waiting for room registers in producer_blockers and leaves on close */
	for (int k = 0; k < 8; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)(3 + k), 0);
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err); /* c2 at 3: the ring is full */
	CHECK_RC(rw_producer_publish(p, ev, 1, 30, &err), RW_ERR_TIMEOUT, err);
	CHECK(pblockers(seg) == KERNEL_BLOCKS, "a producer that blocked is counted: %u",
	      pblockers(seg));
	rw_consumer_close(c2);
	rw_producer_close(p, 0, NULL);
	CHECK(cblockers(seg) == 0 && pblockers(seg) == 0, "all left: counts 0");
	rw_segment_close(seg);
	free(img);

	/* multi mode: availability stores without a handshake while nobody is registered */
	rw_config mc = config(8, RW_MODE_MULTI, 2);
	img = heap_segment(&mc, &seg);
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	atomic_store(&seg->wait->consumer_waiters, 1);
	cw = atomic_load(&seg->wait->consumer_wake);
	for (int k = 0; k < 2; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
	CHECK_RC(rw_producer_publish(p, ev, 2, 0, &err), RW_OK, err);
	CHECK(atomic_load(&seg->wait->consumer_wake) == cw &&
		      atomic_load(rw_availability_word(seg, 1)) == 2,
	      "multi, no blockers: published, consumer_wake unchanged");
	CHECK_RC(rw_consumer_register(seg, "c1", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c1, &err), RW_OK,
		 err);
	atomic_store(&seg->wait->consumer_waiters, 0);
	CHECK_RC(rw_consumer_consume(c1, ev, 1, &got, 30, &err), RW_ERR_TIMEOUT, err); /* registers */
	atomic_store(&seg->wait->consumer_waiters, 1);
	CHECK_RC(rw_producer_publish(p, ev, 2, 0, &err), RW_OK, err);
	CHECK(atomic_load(&seg->wait->consumer_wake) == cw + KERNEL_BLOCKS,
	      "multi, a registered consumer: consumer_wake bumped");
	atomic_store(&seg->wait->consumer_waiters, 0);
	rw_consumer_close(c1);
	rw_producer_close(p, 0, NULL);
	CHECK(cblockers(seg) == 0 && pblockers(seg) == 0, "multi: counts 0 after close");
	rw_segment_close(seg);
	free(img);

	/* cross-process: a consumer blocked in futex in a forked process registered itself, and
	 * a producer's publish wakes it through the handshake */
	const char *name = shm_name("blockers");
	rw_config sc = config(8, RW_MODE_SINGLE, 2);
	CHECK_RC(rw_segment_create_shm(name, &sc, &seg, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	pid_t child = spawn(child_wait_event, (void *)name);
	CHECK(wait_active(seg, 1, 5000), "sleeper registered");
	for (int i = 0; i < 5000 && atomic_load(&seg->wait->consumer_waiters) == 0; i++)
		sleep_ms(1);
	CHECK(atomic_load(&seg->wait->consumer_waiters) == 1 || !KERNEL_BLOCKS, "sleeper is waiting");
	CHECK(cblockers(seg) == KERNEL_BLOCKS, "sleeper counted in consumer_blockers: %u",
	      cblockers(seg));
	cw = atomic_load(&seg->wait->consumer_wake);
	ev_make(ev, 0, 0);
	uint64_t t0 = rw_monotonic_ns();
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	int st = reap(child);
	CHECK(st == 0, "sleeper got the event (status %d)", st);
	CHECK(rw_monotonic_ns() - t0 < 1000000000ull, "woken promptly");
	CHECK(atomic_load(&seg->wait->consumer_wake) != cw || !KERNEL_BLOCKS,
	      "the publish bumped consumer_wake");
	CHECK(cblockers(seg) == 0, "sleeper left consumer_blockers on close: %u", cblockers(seg));
	rw_producer_close(p, 0, NULL);
	CHECK(pblockers(seg) == 0, "producer left producer_blockers");
	rw_segment_close(seg);
	shm_unlink(name);
}

/* ---- wakes (spec 5.6): every change a waiter re-checks is followed by a wake ---------------------- */

/* Waits until the wait word has a waiter, acts, and expects the child to finish within 2 s. */
static void expect_woken(rw_segment *seg, _Atomic uint32_t *waiters, pid_t child, const char *what,
			 void (*act)(rw_segment *seg, void *arg), void *arg)
{
	for (int i = 0; i < 5000 && atomic_load(waiters) == 0; i++)
		sleep_ms(1);
	CHECK(atomic_load(waiters) != 0 || !KERNEL_BLOCKS, "%s: the child is waiting", what);
	sleep_ms(20); /* well inside its 5 s kernel wait */
	uint64_t t0 = rw_monotonic_ns();
	act(seg, arg);
	int st = reap(child);
	uint64_t took = rw_monotonic_ns() - t0;
	CHECK(st == 0, "%s: child status %d", what, st);
	CHECK(took < 2000000000ull, "%s: woken after %llu ms", what,
	      (unsigned long long)(took / 1000000));
}

static void act_evict(rw_segment *seg, void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		uint32_t st = atomic_load(&rw_entry_at(seg, i)->state);
		if (rw_state_value(st) == RW_ENTRY_ACTIVE)
			rw_segment_evict(seg, i, st);
	}
}

static void act_close(rw_segment *seg, void *arg)
{
	(void)seg;
	rw_producer_close(arg, 1000, NULL);
}

static void act_deregister(rw_segment *seg, void *arg)
{
	(void)seg;
	rw_consumer_close(arg);
}

void test_wakes(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	/* a consumer blocked in futex: its eviction wakes it (5.6 re-check of its registration,
	 * 5.7 eviction wakes both words unconditionally) */
	const char *n1 = shm_name("wake-evict");
	rw_config sc = config(8, RW_MODE_SINGLE, 2);
	CHECK_RC(rw_segment_create_shm(n1, &sc, &seg, &err), RW_OK, err);
	struct wake_arg ev_arg = {n1, "w", RW_ERR_EVICTED};
	pid_t child = spawn(child_consume_expect, &ev_arg);
	expect_woken(seg, &seg->wait->consumer_waiters, child, "eviction", act_evict, NULL);
	rw_segment_close(seg);
	shm_unlink(n1);

	/* the close (producer_state = 2) wakes it: the stream ended */
	const char *n2 = shm_name("wake-close");
	CHECK_RC(rw_segment_create_shm(n2, &sc, &seg, &err), RW_OK, err);
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	struct wake_arg end_arg = {n2, "w", RW_ERR_ENDED};
	child = spawn(child_consume_expect, &end_arg);
	expect_woken(seg, &seg->wait->consumer_waiters, child, "close", act_close, p);
	rw_segment_close(seg);
	shm_unlink(n2);

	/* a producer blocked for room: the gating consumer's deregistration wakes it (and so does
	 * its eviction) */
	rw_config mc = config(4, RW_MODE_MULTI, 2);
	const char *names[2] = {shm_name("wake-dereg"), shm_name("wake-evict-p")};
	for (int k = 0; k < 2; k++) {
		CHECK_RC(rw_segment_create_shm(names[k], &mc, &seg, &err), RW_OK, err);
		rw_producer *cr = NULL;
		CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
		rw_consumer *gate = NULL;
		CHECK_RC(rw_consumer_register(seg, "gate", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &gate,
				     &err),
			 RW_OK, err);
		uint8_t evs[EV_SIZE * 4];
		for (int i = 0; i < 4; i++)
			ev_make(evs + i * EV_SIZE, (uint64_t)i, 0);
		CHECK_RC(rw_producer_publish(cr, evs, 4, 0, &err), RW_OK, err); /* full */
		struct wake_arg pa = {names[k], NULL, RW_OK};
		child = spawn(child_produce_expect, &pa);
		if (k == 0)
			expect_woken(seg, &seg->wait->producer_waiters, child, "deregistration",
				     act_deregister, gate);
		else
			expect_woken(seg, &seg->wait->producer_waiters, child, "eviction of the gate",
				     act_evict, NULL);
		if (k == 1)
			rw_consumer_close(gate); /* evicted: only frees it (k 0 closed it to wake) */
		rw_producer_close(cr, 0, NULL);
		rw_segment_close(seg);
		shm_unlink(names[k]);
	}
}