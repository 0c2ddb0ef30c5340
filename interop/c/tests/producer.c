/* tests/producer.c - claiming, publishing, gating, the producer registry and the closed bit (spec 5.3, 5.4). */
#include "harness.h"

void test_gating_and_end(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_consumer *req = NULL, *opt = NULL, *dep = NULL;
	CHECK_RC(rw_consumer_register(seg, "req", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &req, &err), RW_OK,
		 err);
	CHECK_RC(rw_consumer_register(seg, "opt", 0, 0, RW_START_OLDEST, &opt, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "dep", RW_FLAG_REQUIRED, 1ull << req->index,
			     RW_START_OLDEST, &dep, &err),
		 RW_OK, err);
	rw_producer *p = NULL;
	CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
	uint8_t ev[EV_SIZE * 8];
	for (int k = 0; k < 8; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err);
	/* full: the required consumers are at 0 */
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_ERR_TIMEOUT, err);
	uint64_t t0 = rw_monotonic_ns();
	CHECK_RC(rw_producer_publish(p, ev, 1, 30, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_monotonic_ns() - t0 >= 30000000ull, "waited 30 ms for room");
	CHECK_RC(rw_producer_publish(p, ev, 9, 0, &err), RW_ERR_INVALID_ARG, err);
	/* dep reads behind req */
	uint32_t got;
	CHECK(rw_consumer_available(dep, 100) == 0, "dep sees nothing before req moves");
	/* 5.5 step 3: a cursor store wakes both words as needed. A registered blocker and a waiter
	 * on each word (a producer waiting for room, dep waiting behind req) are played by the
	 * counts. */
	atomic_fetch_add(&seg->hdr->producer_blockers, 1);
	atomic_fetch_add(&seg->hdr->consumer_blockers, 1);
	atomic_store(&seg->wait->producer_waiters, 1);
	atomic_store(&seg->wait->consumer_waiters, 1);
	uint32_t pw = atomic_load(&seg->wait->producer_wake);
	uint32_t cw = atomic_load(&seg->wait->consumer_wake);
	CHECK_RC(rw_consumer_consume(req, ev, 5, &got, 0, &err), RW_OK, err);
	CHECK(got == 5, "req got %u", got);
	CHECK(atomic_load(&seg->wait->producer_wake) == pw + 1 &&
		      atomic_load(&seg->wait->consumer_wake) == cw + 1,
	      "req's cursor store bumped both wake words");
	atomic_store(&seg->wait->producer_waiters, 0);
	atomic_store(&seg->wait->consumer_waiters, 0);
	pw = atomic_load(&seg->wait->producer_wake);
	cw = atomic_load(&seg->wait->consumer_wake);
	rw_consumer_release(req, req->next);
	CHECK(atomic_load(&seg->wait->producer_wake) == pw &&
		      atomic_load(&seg->wait->consumer_wake) == cw,
	      "blockers but no waiters: no bump");
	atomic_fetch_sub(&seg->hdr->producer_blockers, 1);
	atomic_fetch_sub(&seg->hdr->consumer_blockers, 1);
	CHECK(rw_consumer_available(dep, 100) == 5, "dep sees req's cursor");
	CHECK_RC(rw_consumer_consume(dep, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK(got == 5 && ev_check(ev + 4 * EV_SIZE, 4, 0) == 0, "dep got %u", got);
	/* optional lapped: 3 + 8 more published while opt sits at 0 */
	CHECK_RC(rw_consumer_consume(req, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK_RC(rw_consumer_consume(dep, ev, 8, &got, 0, &err), RW_OK, err);
	for (int k = 8; k < 16; k++) {
		ev_make(ev, (uint64_t)k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	}
	/* 5.10: lapped events are counted and reported (with their first sequence), never
	 * silent; reading goes on at claimed - capacity */
	CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 0, &err), RW_ERR_LOST, err);
	CHECK(got == 0 && opt->lost == 8 && opt->lost_seq == 0 && opt->lost_count == 8 &&
		      atomic_load(&rw_entry_at(seg, opt->index)->lost) == 8 &&
		      atomic_load(&rw_entry_at(seg, opt->index)->cursor) == 8,
	      "optional lapped: lost %llu from %llu", (unsigned long long)opt->lost_count,
	      (unsigned long long)opt->lost_seq);
	CHECK_RC(rw_consumer_consume(opt, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK(got == 8 && opt->lost == 8 && ev_check(ev, 8, 0) == 0 &&
		      ev_check(ev + 7 * EV_SIZE, 15, 0) == 0,
	      "optional after the lap: got %u", got);
	/* end of stream */
	CHECK_RC(rw_consumer_consume(req, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK_RC(rw_consumer_consume(req, ev, 8, &got, 0, &err), RW_ERR_TIMEOUT, err);
	CHECK_RC(rw_consumer_consume(dep, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK(got == 8, "dep caught up");
	ev_make(ev, 16, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	rw_producer_close(p, 1000, NULL);
	CHECK(atomic_load(&seg->hdr->producer_state) == RW_STREAM_CLOSED, "producer_state 2");
	CHECK_RC(rw_consumer_consume(req, ev, 8, &got, 0, &err), RW_OK, err);
	CHECK(got == 1 && ev_check(ev, 16, 0) == 0, "last event before the end");
	CHECK_RC(rw_consumer_consume(req, ev, 8, &got, 1000, &err), RW_ERR_ENDED, err);
	rw_consumer_close(dep);
	rw_consumer_close(opt);
	rw_consumer_close(req);
	rw_segment_close(seg);
	free(img);
}

void test_overflow(void)
{
	rw_error err;
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		rw_config cfg = config(8, mode, 1);
		rw_segment *seg = NULL;
		uint8_t *img = heap_segment(&cfg, &seg);
		/* counts stay below 2^62: a count of 2^62 would be the closed bit (README 19) */
		atomic_store(&seg->cursors->claimed, RW_MAX_SEQUENCE - 3);
		atomic_store(&seg->cursors->published, mode == RW_MODE_SINGLE ? RW_MAX_SEQUENCE - 3 : 0);
		/* multi: the ring's last lap published, so that the published prefix is claimed */
		for (uint64_t q = RW_MAX_SEQUENCE - 11; mode == RW_MODE_MULTI && q < RW_MAX_SEQUENCE - 3; q++)
			atomic_store(rw_availability_word(seg, q), q + 1);
		rw_producer *p = NULL;
		CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
		uint8_t ev[EV_SIZE * 3] = {0};
		CHECK_RC(rw_producer_publish(p, ev, 3, 0, &err), RW_ERR_OVERFLOW, err);
		CHECK_RC(rw_producer_publish(p, ev, 2, 0, &err), RW_OK, err);
		CHECK(RW_MAX_SEQUENCE == 1ull << 62 &&
			      atomic_load(&seg->cursors->claimed) == RW_MAX_SEQUENCE - 1,
		      "claimed up to 2^62 - 1");
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_ERR_OVERFLOW, err);
		CHECK(strcmp(rw_code_name(RW_ERR_OVERFLOW), "exhausted") == 0, "protocol code");
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(img);
	}
}

void test_mpsc_fork(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("mpsc");
	rw_config cfg = config(32, RW_MODE_MULTI, 2);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "mp", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK,
		 err);
	const uint64_t n = 30000;
	struct stream_arg p0 = {name, NULL, n, 0, 2, 0, 0};
	struct stream_arg p1 = {name, NULL, n, 0, 2, 1, 3};
	pid_t k0 = spawn(child_produce, &p0);
	pid_t k1 = spawn(child_produce, &p1);
	uint64_t expect[2] = {0, 0}, total = 0;
	uint8_t buf[EV_SIZE * 16];
	int bad = 0;
	while (total < 2 * n && !bad) {
		uint32_t got;
		rw_code rc = rw_consumer_consume(c, buf, total % 2 ? 16 : 1, &got, 10000, &err);
		if (rc != RW_OK) {
			CHECK_RC(rc, RW_OK, err);
			break;
		}
		for (uint32_t i = 0; i < got; i++) {
			const uint8_t *ev = buf + (size_t)i * EV_SIZE;
			uint64_t p = ev_producer(ev);
			if (p > 1 || ev_seq(ev) != expect[p] || ev_check(ev, expect[p], p)) {
				bad = 1;
				CHECK(0, "event %llu: producer %llu seq %llu", (unsigned long long)(total + i),
				      (unsigned long long)p, (unsigned long long)ev_seq(ev));
				break;
			}
			expect[p]++;
		}
		total += got;
	}
	CHECK(total == 2 * n && expect[0] == n && expect[1] == n, "received %llu (%llu + %llu)",
	      (unsigned long long)total, (unsigned long long)expect[0],
	      (unsigned long long)expect[1]);
	int s0 = reap(k0), s1 = reap(k1);
	CHECK(s0 == 0 && s1 == 0, "producer statuses %d %d", s0, s1);
	uint64_t claimed = atomic_load(&seg->cursors->claimed);
	CHECK(claimed == 2 * n && atomic_load(&seg->cursors->published) == 0,
	      "claimed %llu, published unused", (unsigned long long)claimed);
	int avail_ok = 1;
	for (uint64_t s = claimed - 32; s < claimed; s++) {
		_Atomic uint64_t *w = (_Atomic uint64_t *)(void *)(seg->base +
								   seg->g.availability.offset +
								   (s & 31) * 8);
		if (atomic_load(w) != s + 1)
			avail_ok = 0;
	}
	CHECK(avail_ok, "availability words hold s + 1 of the last lap");
	uint32_t got;
	CHECK_RC(rw_consumer_consume(c, buf, 1, &got, 0, &err), RW_ERR_TIMEOUT, err);
	rw_consumer_close(c);
	rw_segment_close(seg);
	shm_unlink(name);
}


/* ---- producer registry, closed bit, poisoning, gaps (spec 4.4, 5.4, 5.8, 5.9) ------------------- */

void test_producer_registry(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_MULTI, 2);
	cfg.producer_capacity = 3;
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	uint64_t me = rw_self_identity();
	rw_producer_entry *p0 = rw_producer_entry_at(seg, 0);
	CHECK(atomic_load(&p0->state) == 0x101 && atomic_load(&p0->owner) == me &&
		      atomic_load(&p0->heartbeat_ns) != 0 && seg->hdr->producer_capacity == 3 &&
		      seg->hdr->producers.length == 384,
	      "the creator filled producer entry 0 before init_state");
	rw_producer *cr = NULL, *a = NULL, *b = NULL, *full = NULL, *late = NULL;
	CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
	CHECK(cr->creator && cr->index == 0 && cr->state_word == 0x101, "the creator uses entry 0");
	rw_consumer *r = NULL; /* a required consumer at 0 */
	CHECK_RC(rw_consumer_register(seg, "r", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &r, &err), RW_OK, err);
	/* 5.4 attach: owner CAS, then state CAS to active with generation + 1 */
	rw_segment *att = NULL;
	CHECK_RC(rw_segment_attach_memory(img, seg->g.total_size, &ev_type, &att, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &a, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &b, &err), RW_OK, err);
	rw_producer_entry *pa = rw_producer_entry_at(seg, 1), *pb = rw_producer_entry_at(seg, 2);
	CHECK(a->index == 1 && b->index == 2 && !a->creator && atomic_load(&pa->state) == 0x101 &&
		      atomic_load(&pa->owner) == me && a->state_word == 0x101,
	      "entries 1 and 2, active generation 1, owned by us");
	CHECK_RC(rw_producer_register(att, &full, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(strcmp(rw_code_name(RW_ERR_PRODUCERS_FULL), "producer_registry_full") == 0, "name");
	/* a claim announces its intent; a commit clears intent_end */
	uint64_t first;
	CHECK_RC(rw_producer_claim(a, 3, 0, &first, &err), RW_OK, err);
	CHECK(first == 0 && atomic_load(&pa->intent_start) == 0 && atomic_load(&pa->intent_end) == 3,
	      "intent [0, 3) announced");
	for (int i = 0; i < 3; i++)
		ev_make(rw_slot(seg, first + (uint64_t)i), (uint64_t)i, 1);
	rw_producer_publish_claim(a);
	CHECK(atomic_load(&pa->intent_start) == 0 && atomic_load(&pa->intent_end) == 0,
	      "intent_end cleared after publishing");
	/* detach: CAS active -> closed (same generation), then owner -> 0 */
	CHECK_RC(rw_producer_close(a, 0, &err), RW_OK, err);
	CHECK(atomic_load(&pa->state) == 0x102 && atomic_load(&pa->owner) == 0 &&
		      atomic_load(&seg->hdr->producer_state) == RW_STREAM_OPEN,
	      "an attached producer only detaches: state 0x%x", atomic_load(&pa->state));
	/* the handle is gone with the close; closing nothing is a no-op */
	CHECK_RC(rw_producer_close(NULL, 0, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &full, &err), RW_OK, err);
	CHECK(full->index == 1 && atomic_load(&pa->state) == 0x201,
	      "closed entry reused, generation 2 (0x%x)", atomic_load(&pa->state));

	/* 5.4 step 1: a free / closed / dead entry whose owner word holds a live process is being
	 * taken by it: not usable. */
	rw_producer_close(full, 0, NULL);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	pid_t holder = spawn(child_hold_pipe, &sv[1]);
	atomic_store(&pa->owner, rw_owner_identity((uint32_t)holder, rw_process_start_time(holder)));
	CHECK_RC(rw_producer_register(att, &late, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(write(sv[0], "x", 1) == 1 && reap(holder) == 0, "holder exited");
	close(sv[0]);
	close(sv[1]);
	CHECK_RC(rw_producer_register(att, &full, &err), RW_OK, err); /* now its owner is dead */
	CHECK(full->index == 1 && atomic_load(&pa->state) == 0x301 && atomic_load(&pa->owner) == me,
	      "usable once the holder died (0x%x)", atomic_load(&pa->state));

	/* 5.4 / 5.8: an active entry whose owner is dead is retired (active -> dead, same
	 * generation) and reused only once resolved: every sequence of its intent below the claimed
	 * count has an availability word >= s + 1 */
	atomic_store(&pb->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&pb->intent_start, 3);
	atomic_store(&pb->intent_end, 5);
	atomic_store(&seg->cursors->claimed, 5); /* b "claimed" 3 and 4 and died before publishing */
	CHECK_RC(rw_producer_register(att, &late, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(atomic_load(&pb->state) == 0x101, "unresolved: not retired");
	atomic_store(rw_availability_word(seg, 3), 4); /* 3 published */
	CHECK_RC(rw_producer_register(att, &late, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(atomic_load(&pb->state) == 0x101, "4 still unresolved: not retired");
	atomic_store(rw_availability_word(seg, 4), 5 | RW_AVAIL_GAP); /* 4 passed over */
	CHECK_RC(rw_producer_register(att, &late, &err), RW_OK, err);
	CHECK(late->index == 2 && atomic_load(&pb->state) == 0x201 && atomic_load(&pb->owner) == me &&
		      atomic_load(&pb->intent_end) == 0,
	      "resolved: retired, then taken with generation 2 (0x%x)", atomic_load(&pb->state));
	/* an intent reaching beyond the claimed count: only the part below it must be resolved */
	atomic_store(&pb->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&pb->intent_start, 5);
	atomic_store(&pb->intent_end, 7); /* announced, the CAS of claimed never happened */
	rw_producer *late2 = NULL;
	CHECK_RC(rw_producer_register(att, &late2, &err), RW_OK, err);
	CHECK(late2->index == 2 && atomic_load(&pb->state) == 0x301,
	      "an intent above the claimed count is resolved (0x%x)", atomic_load(&pb->state));
	/* a dead owner that held no claim (intent_end 0) is resolved at once */
	atomic_store(&pa->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&pa->intent_start, 9);
	atomic_store(&pa->intent_end, 0);
	rw_producer *late3 = NULL;
	CHECK_RC(rw_producer_register(att, &late3, &err), RW_OK, err);
	CHECK(late3->index == 1 && atomic_load(&pa->state) == 0x401, "died outside a claim");
	/* resolved active entries whose owner lives (ours) are never retired */
	rw_producer *late4 = NULL;
	CHECK_RC(rw_producer_register(att, &late4, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(atomic_load(&p0->state) == 0x101 && atomic_load(&pa->state) == 0x401 &&
		      atomic_load(&pb->state) == 0x301,
	      "live owners' resolved entries are not retired");
	rw_consumer_close(r);
	rw_producer_close(b, 0, NULL);
	rw_producer_close(cr, 0, NULL);
	rw_producer_close(full, 0, NULL);
	rw_producer_close(late, 0, NULL);
	rw_producer_close(late2, 0, NULL);
	rw_producer_close(late3, 0, NULL);
	rw_segment_close(att);
	rw_segment_close(seg);
	free(img);

	/* single mode has only the creator's entry */
	rw_config one = config(8, RW_MODE_SINGLE, 1);
	img = heap_segment(&one, &seg);
	CHECK_RC(rw_segment_attach_memory(img, seg->g.total_size, &ev_type, &att, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &a, &err), RW_ERR_PRODUCERS_FULL, err);
	rw_segment_close(att);
	rw_segment_close(seg);
	free(img);
}

void test_closed_bit(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_MULTI, 2);
	rw_segment *seg = NULL, *att = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	CHECK_RC(rw_segment_attach_memory(img, seg->g.total_size, &ev_type, &att, &err), RW_OK, err);
	rw_producer *cr = NULL, *a = NULL;
	CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &a, &err), RW_OK, err);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK, err);
	uint8_t ev[EV_SIZE * 4];
	ev_make(ev, 0, 0);
	CHECK_RC(rw_producer_publish(cr, ev, 1, 0, &err), RW_OK, err);
	uint64_t first;
	CHECK_RC(rw_producer_claim(a, 2, 0, &first, &err), RW_OK, err); /* outstanding at close */
	/* the close sets bit 62 and waits for the outstanding claim */
	CHECK_RC(rw_producer_close(cr, 30, &err), RW_ERR_TIMEOUT, err);
	uint64_t w = atomic_load(&seg->cursors->claimed);
	CHECK(w == (RW_CLAIMED_CLOSED | 3) && atomic_load(&seg->hdr->producer_state) == 2,
	      "claimed 0x%llx: closed bit over count 3", (unsigned long long)w);
	CHECK_RC(rw_producer_claim(a, 1, 0, &first, &err), RW_ERR_CLOSED, err); /* a new claim fails */
	/* consumers mask the count: they read what is published and do not end before the
	 * outstanding claim is published */
	uint32_t got;
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 1 && ev_check(ev, 0, 0) == 0, "first event");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 20, &err), RW_ERR_TIMEOUT, err);
	ev_make(rw_slot(seg, 1), 0, 1);
	ev_make(rw_slot(seg, 2), 1, 1);
	rw_producer_publish_claim(a);
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev + EV_SIZE, 1, 1) == 0, "the outstanding claim arrives");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_ERR_ENDED, err);
	rw_consumer *late = NULL;
	CHECK_RC(rw_consumer_register(seg, "late", 0, 0, RW_START_LATEST, &late, &err), RW_OK, err);
	CHECK(late->next == 3, "registration masks the closed bit (next %llu)",
	      (unsigned long long)late->next);
	rw_consumer_close(c);
	rw_consumer_close(late);
	rw_producer_close(a, 0, NULL);
	rw_segment_close(att);
	rw_segment_close(seg);
	free(img);

	/* with every claim published, the close returns at once */
	img = heap_segment(&cfg, &seg);
	CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(cr, ev, 2, 0, &err), RW_OK, err);
	CHECK_RC(rw_producer_close(cr, 1000, &err), RW_OK, err);
	CHECK(atomic_load(&seg->cursors->claimed) == (RW_CLAIMED_CLOSED | 2), "closed at 2");
	rw_segment_close(seg);
	free(img);
}

/* ---- the gating scan's second pass (5.3 step 1, model finding F4) ------------------------------- */

static rw_segment *scan_seg;
static rw_consumer *scan_x, *scan_y;
static int scan_hooked, scan_calls;
static rw_code scan_x_rc, scan_y_rc;
static uint32_t scan_y_got;

/* At entry 0 of the first pass, once: X registers (oldest) into entry 0, which the pass has just
 * seen closed, copying Y's cursor 8; then Y reads its last 8 events (cursor 16), before the pass
 * loads Y's cursor. */
static void activate_during_scan(const rw_segment *seg, uint32_t i)
{
	(void)seg;
	scan_calls++;
	if (i != 0 || scan_hooked)
		return;
	scan_hooked = 1;
	rw_error err;
	scan_x_rc = rw_consumer_register(scan_seg, "x", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &scan_x, &err);
	uint8_t evs[EV_SIZE * 8];
	scan_y_rc = rw_consumer_consume(scan_y, evs, 8, &scan_y_got, 0, &err);
}

/* Capacity 16, D in entry 0 and Y in entry 1, D deregisters; 16 events (the ring is full, Y at 0),
 * Y reads 8. While a producer's gating scan is between its load of entry 0's state (closed) and
 * its load of Y's cursor, X registers oldest in entry 0 and starts at Y's 8, and Y reads up to 16.
 * The scan must not allow more than 8 new events: X holds 8..15. Without the second pass it sees
 * only Y at 16 and allows 16, overwriting X's unread events. Single and multi mode. */
void test_gating_second_pass(void)
{
	static const uint32_t modes[] = {RW_MODE_SINGLE, RW_MODE_MULTI};
	for (int m = 0; m < 2; m++) {
		rw_error err;
		rw_code rc;
		rw_segment *seg = NULL;
		rw_config cfg = config(16, modes[m], 4);
		uint8_t *img = heap_segment(&cfg, &seg);
		rw_producer *p = NULL;
		rc = rw_producer_register(seg, &p, &err);
		CHECK_RC(rc, RW_OK, err);
		rw_consumer *d = NULL, *y = NULL, *x = NULL;
		rc = rw_consumer_register(seg, "d", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &d, &err);
		CHECK_RC(rc, RW_OK, err);
		rc = rw_consumer_register(seg, "y", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &y, &err);
		CHECK_RC(rc, RW_OK, err);
		CHECK(d->index == 0 && y->index == 1, "d in entry 0, y in entry 1 (%u, %u)", d->index,
		      y->index);
		rw_consumer_close(d);
		uint8_t evs[EV_SIZE * 16];
		for (uint64_t k = 0; k < 16; k++)
			ev_make(evs + k * EV_SIZE, k, 0);
		rc = rw_producer_publish(p, evs, 16, 0, &err);
		CHECK_RC(rc, RW_OK, err);
		uint32_t got = 0;
		rc = rw_consumer_consume(y, evs, 8, &got, 0, &err);
		CHECK_RC(rc, RW_OK, err);
		CHECK(got == 8 && y->next == 8, "y read 8 (%u)", got);

		scan_seg = seg;
		scan_x = NULL;
		scan_y = y;
		scan_hooked = 0;
		scan_calls = 0;
		scan_x_rc = scan_y_rc = RW_ERR_COUNT_;
		scan_y_got = 0;
		rw_test.gating_scan = activate_during_scan;
		uint64_t first = 0;
		rc = rw_producer_claim(p, 16, 0, &first, &err);
		rw_test.gating_scan = NULL;
		x = scan_x;
		CHECK(scan_hooked && scan_x_rc == RW_OK && x && x->index == 0 && x->next == 8 &&
			      scan_y_rc == RW_OK && scan_y_got == 8 && y->next == 16,
		      "mode %u: during the scan x registered in entry 0 at 8 (%s, entry %u, next "
		      "%llu) and y read up to 16 (%s, %u)",
		      modes[m], rw_code_name(scan_x_rc), x->index, (unsigned long long)x->next,
		      rw_code_name(scan_y_rc), scan_y_got);
		CHECK(rc == RW_ERR_TIMEOUT && p->bound == 8,
		      "mode %u: x holds 8..15, 16 new events must not fit (claim: %s, bound %llu)",
		      modes[m], rw_code_name(rc), (unsigned long long)p->bound);
		CHECK(scan_calls > 4, "mode %u: the void scan was taken again (%d hook calls)",
		      modes[m], scan_calls);
		if (rc == RW_OK) {
			/* what a bound without the second pass lets a producer do */
			for (uint64_t i = 0; i < 16; i++)
				ev_make(rw_slot(seg, first + i), first + i, 0);
			rw_producer_publish_claim(p);
		} else {
			for (uint64_t k = 0; k < 8; k++)
				ev_make(evs + k * EV_SIZE, 16 + k, 0);
			rc = rw_producer_publish(p, evs, 8, 0, &err);
			CHECK_RC(rc, RW_OK, err); /* 8 fit */
		}
		got = 0;
		rc = rw_consumer_consume(x, evs, 8, &got, 0, &err);
		CHECK_RC(rc, RW_OK, err);
		int intact = got == 8;
		for (uint32_t i = 0; i < got; i++)
			intact = intact && ev_check(evs + i * EV_SIZE, 8 + i, 0) == 0;
		CHECK(intact, "mode %u: x reads its events 8..15 intact (got %u, first seq %llu)",
		      modes[m], got, got ? (unsigned long long)ev_seq(evs) : 0ull);
		rw_consumer_close(x);
		rw_consumer_close(y);
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(img);
	}
}
/* ---- the published prefix bounds multi-mode claims (5.3 step 1, model finding F5) -------------- */

/* A multi-mode ring of 8 with no required consumer: the creator's producer publishes 0..2, then a
 * second producer entry (owner `owner`) claims [3, 5) by hand (intent, then the CAS of claimed)
 * and writes nothing. The creator's producer then publishes 5..10: with the published prefix at 3
 * that is as far as it may go (11 would reuse slot 3). Returns the producer; *img is the image. */
static rw_producer *unpublished_claim(uint64_t owner, rw_segment **seg, uint8_t **img,
				      rw_producer_entry **fake)
{
	rw_error err = {0};
	rw_config cfg = config(8, RW_MODE_MULTI, 2);
	cfg.producer_capacity = 2;
	*img = heap_segment(&cfg, seg);
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(*seg, &p, &err), RW_OK, err);
	uint8_t ev[EV_SIZE];
	for (uint64_t k = 0; k < 3; k++) {
		ev_make(ev, k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	}
	rw_producer_entry *f = rw_producer_entry_at(*seg, 1);
	atomic_store(&f->owner, owner);
	atomic_store(&f->state, rw_state_word(RW_PRODUCER_ACTIVE, 1));
	atomic_store(&f->intent_end, 0);
	atomic_store(&f->intent_start, 3);
	atomic_store(&f->intent_end, 5);
	uint64_t c = 3;
	CHECK(atomic_compare_exchange_strong(&(*seg)->cursors->claimed, &c, 5),
	      "the second producer claims [3, 5) (claimed was %llu)", (unsigned long long)c);
	for (uint64_t k = 5; k < 11; k++) {
		ev_make(ev, k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	}
	*fake = f;
	return p;
}

void test_multi_unpublished_claim(void)
{
	rw_error err = {0};
	rw_segment *seg = NULL;
	uint8_t *img = NULL;
	rw_producer_entry *fake = NULL;
	rw_producer *p = unpublished_claim(rw_self_identity(), &seg, &img, &fake);
	uint64_t first = 99;
	rw_code rc = rw_producer_claim(p, 1, 0, &first, &err);
	CHECK(rc == RW_ERR_TIMEOUT,
	      "11 would reuse slot 3, claimed by a live producer and unwritten: full, not a claim "
	      "(got %s, first %llu)",
	      rw_code_name(rc), (unsigned long long)first);
	if (rc == RW_OK)
		rw_producer_publish_claim(p); /* what the claimed-count bound allowed */
	uint8_t ev[EV_SIZE];
	ev_make(ev, 11, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 30, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_segment_claimed_count(seg) == 11 && atomic_load(rw_availability_word(seg, 3)) == 0 &&
		      atomic_load(&seg->hdr->gaps) == 0,
	      "nothing claimed past 3 + capacity, slot 3 untouched, no gap over a live claim "
	      "(claimed %llu, availability[3] %llu)",
	      (unsigned long long)rw_segment_claimed_count(seg),
	      (unsigned long long)atomic_load(rw_availability_word(seg, 3)));
	/* the second producer writes and publishes 3 and 4 (5.4 steps 4-6): the first goes on */
	for (uint64_t s = 3; s < 5; s++) {
		ev_make(rw_slot(seg, s), s, 1);
		atomic_store(rw_availability_word(seg, s), s + 1);
	}
	atomic_store(&fake->intent_end, 0);
	for (uint64_t k = 11; k < 13; k++) {
		ev_make(ev, k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	}
	CHECK(atomic_load(rw_availability_word(seg, 3)) == 12 &&
		      atomic_load(rw_availability_word(seg, 4)) == 13 &&
		      ev_check(rw_slot(seg, 12), 12, 0) == 0,
	      "once 3 and 4 are published, 11 and 12 reuse their slots");
	atomic_store(&fake->state, rw_state_word(RW_PRODUCER_CLOSED, 1));
	atomic_store(&fake->owner, 0);
	rc = rw_producer_close(p, 1000, &err); /* CHECK_RC evaluates its argument twice */
	CHECK_RC(rc, RW_OK, err);
	rw_segment_close(seg);
	free(img);
}

void test_multi_dead_claim_passed_over(void)
{
	rw_error err = {0};
	rw_segment *seg = NULL;
	uint8_t *img = NULL;
	rw_producer_entry *fake = NULL;
	rw_producer *p = unpublished_claim(rw_owner_identity(dead_pid(), 0), &seg, &img, &fake);
	rw_code rc;
	CHECK(atomic_load(&seg->hdr->gaps) == 0, "nobody passed the dead claim over yet");
	/* no required consumer runs 5.8: the waiting producer does, and goes on */
	uint8_t ev[EV_SIZE];
	ev_make(ev, 11, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 3000, &err), RW_OK, err);
	CHECK(atomic_load(&seg->hdr->gaps) == 2 && rw_segment_is_gap(seg, 4) &&
		      atomic_load(rw_availability_word(seg, 3)) == 12,
	      "3 and 4 passed over (gaps %llu, availability[4] 0x%llx), then 11 published",
	      (unsigned long long)atomic_load(&seg->hdr->gaps),
	      (unsigned long long)atomic_load(rw_availability_word(seg, 4)));
	ev_make(ev, 12, 0);
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	CHECK(atomic_load(&seg->hdr->gaps) == 2, "each gap counted once");
	CHECK(rw_segment_retire_resolved(seg) == 1, "the resolved dead entry can be retired");
	rc = rw_producer_close(p, 1000, &err); /* CHECK_RC evaluates its argument twice */
	CHECK_RC(rc, RW_OK, err);
	rw_segment_close(seg);
	free(img);
}
