/* tests/recovery.c - after a crash: takeover of dead consumers, gaps for dead producers' claims (spec 5.7, 5.8). */
#include "harness.h"

struct crash_arg {
	const char *name;
	const char *consumer;
	int pipe_fd; /* -1: die at once; else wait for a byte (stay alive) */
};

static int child_register_and_die(void *argp)
{
	struct crash_arg *arg = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(arg->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 10;
	if (rw_consumer_register(seg, arg->consumer, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, NULL) !=
	    RW_OK)
		return 11;
	uint8_t ev[EV_SIZE * 2];
	uint32_t got;
	if (rw_consumer_consume(c, ev, 2, &got, 5000, NULL) != RW_OK || got != 2)
		return 12;
	if (arg->pipe_fd >= 0) {
		char b;
		if (write(arg->pipe_fd, "r", 1) != 1 || read(arg->pipe_fd, &b, 1) != 1)
			return 13;
		rw_consumer_close(c);
		return 0;
	}
	raise(SIGKILL); /* die holding the entry, like kill -9 */
	return 14;
}

/* A taker of a dead owner's entry that is killed right after its owner CAS (rw_test.takeover,
 * step 1). */
struct taker_arg {
	const char *name;
	const char *consumer;
};

static void kill_at_takeover(rw_entry *e, int step)
{
	(void)e;
	if (step == 1)
		raise(SIGKILL);
}

static int child_take_over_and_die(void *argp)
{
	struct taker_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 20;
	rw_test.takeover = kill_at_takeover;
	rw_consumer_register(seg, a->consumer, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, NULL);
	return 21; /* never reached the step */
}

/* Plays an eviction that lands between a taker's owner CAS and its re-check of the state. */
static rw_segment *evict_seg;
static void evict_at_takeover(rw_entry *e, int step)
{
	(void)step;
	uint32_t i = (uint32_t)(((uint8_t *)e - (evict_seg->base + evict_seg->g.registry.offset)) /
				evict_seg->g.registry_entry_size);
	rw_segment_evict(evict_seg, i, atomic_load(&e->state));
}

void test_takeover(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("take");
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	uint64_t me = rw_self_identity();
	/* An anchor at cursor 0 makes the children's "oldest" start at 0: with no other required
	 * entry, oldest starts at the current count (spec 5.7 step 6, read literally). */
	rw_consumer *anchor = NULL;
	CHECK_RC(rw_consumer_register(seg, "anchor", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &anchor, &err),
		 RW_OK, err);
	rw_producer *p = NULL;
	CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
	uint8_t ev[EV_SIZE * 4];
	for (int k = 0; k < 4; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
	CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);

	/* a dead owner's entry is taken over by a CAS of its owner word, then of its state word to
	 * active with generation + 1 (it never leaves the active state); name, flags and cursor are
	 * kept */
	struct crash_arg arg = {name, "crashy", -1};
	pid_t crashed = spawn(child_register_and_die, &arg);
	int st = reap(crashed);
	CHECK(st == 128 + SIGKILL, "child killed itself (status %d)", st);
	rw_entry *e = rw_entry_at(seg, 1);
	uint32_t st_word = atomic_load(&e->state);
	CHECK(st_word == 0x102 && atomic_load(&e->cursor) == 2 &&
		      rw_owner_pid(atomic_load(&e->owner)) == (uint32_t)crashed,
	      "dead owner's entry still active at cursor 2, owner the dead pid (0x%x)", st_word);
	rw_consumer *c = NULL, *dup = NULL;
	/* the required/optional choice must match the entry's flags (5.7) */
	CHECK_RC(rw_consumer_register(seg, "crashy", 0, 0, RW_START_OLDEST, &dup, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	CHECK(strstr(err.message, "required") != NULL && atomic_load(&e->state) == st_word &&
		      rw_owner_pid(atomic_load(&e->owner)) == (uint32_t)crashed,
	      "an optional taker of a required entry is refused: %s", err.message);
	CHECK_RC(rw_consumer_register(seg, "crashy", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK,
		 err);
	CHECK(c->taken_over && c->index == 1 && atomic_load(&e->state) == 0x202 &&
		      c->state_word == 0x202 && c->next == 2 && atomic_load(&e->owner) == me &&
		      e->flags == RW_FLAG_REQUIRED && e->name_len == 6,
	      "taken over: index %u state 0x%x (want 0x202: generation + 1) next %llu", c->index,
	      atomic_load(&e->state), (unsigned long long)c->next);
	/* an eviction prepared against the dead owner (its state word) fails against the taker */
	CHECK(rw_segment_evict(seg, 1, st_word) == 0 && atomic_load(&e->state) == 0x202 &&
		      rw_consumer_check_owner(c) == RW_OK,
	      "a stale eviction does not evict the taker (state 0x%x)", atomic_load(&e->state));
	uint32_t got;
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev, 2, 0) == 0, "resumes after the dead owner's cursor");
	rw_consumer_close(c);

	/* a live owner's name is refused */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	struct crash_arg live = {name, "alive", sv[1]};
	pid_t child = spawn(child_register_and_die, &live);
	char b = 0;
	CHECK(read(sv[0], &b, 1) == 1 && b == 'r', "child registered");
	CHECK_RC(rw_consumer_register(seg, "alive", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &dup, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	CHECK(write(sv[0], "x", 1) == 1, "release child");
	CHECK(reap(child) == 0, "live child deregistered");
	close(sv[0]);
	close(sv[1]);
	CHECK_RC(rw_consumer_register(seg, "alive", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &dup, &err), RW_OK,
		 err);
	rw_consumer_close(dup);
	/* a dead owner's active entry can be evicted instead of taken over */
	struct crash_arg again = {name, "crashy2", -1};
	CHECK(reap(spawn(child_register_and_die, &again)) == 128 + SIGKILL, "second crash");
	CHECK(rw_segment_active_count(seg) == 2, "anchor and the dead crashy2 active");
	CHECK(rw_segment_evict_dead(seg) == 1, "one dead owner evicted");
	CHECK(rw_segment_active_count(seg) == 1, "only the anchor left");
	rw_entry *e2 = entry_named(seg, "crashy2");
	CHECK(e2 && rw_state_value(atomic_load(&e2->state)) == RW_ENTRY_EVICTED &&
		      atomic_load(&e2->owner) == 0,
	      "evicted: owner cleared");
	uint32_t g2 = e2 ? rw_state_generation(atomic_load(&e2->state)) : 0;

	/* 5.7: an attacher whose name matches an evicted entry claims it again and reports the
	 * events it missed while evicted (from the entry's old cursor to its start) as lost */
	rw_consumer *back = NULL;
	CHECK_RC(rw_consumer_register(seg, "crashy2", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &back, &err),
		 RW_OK, err);
	CHECK(e2 && back->entry == e2 && back->next == 4 &&
		      rw_state_generation(atomic_load(&e2->state)) == g2 + 1,
	      "the evicted entry of our name is claimed again (next %llu)",
	      (unsigned long long)back->next);
	CHECK_RC(rw_consumer_consume(back, ev, 4, &got, 0, &err), RW_ERR_LOST, err);
	CHECK(back->lost_seq == 2 && back->lost_count == 2 && back->lost == 2 && e2 &&
		      atomic_load(&e2->lost) == 2,
	      "lost %llu from %llu while evicted", (unsigned long long)back->lost_count,
	      (unsigned long long)back->lost_seq);
	CHECK_RC(rw_consumer_consume(back, ev, 4, &got, 0, &err), RW_ERR_TIMEOUT, err);
	rw_consumer_close(back);

	/* A taker killed right after its owner CAS leaves the entry active, gating, with its
	 * cursor: the next taker finds that taker dead in turn and takes it. */
	struct crash_arg mid = {name, "midway", -1};
	CHECK(reap(spawn(child_register_and_die, &mid)) == 128 + SIGKILL, "midway's owner died");
	rw_entry *m = entry_named(seg, "midway");
	CHECK(m != NULL, "midway's entry");
	if (!m)
		goto out;
	uint32_t m_state = atomic_load(&m->state);
	uint64_t mc = atomic_load(&m->cursor);
	CHECK(mc == 2 && rw_state_value(m_state) == RW_ENTRY_ACTIVE, "midway read 2 (cursor %llu)",
	      (unsigned long long)mc);
	struct taker_arg ta = {name, "midway"};
	pid_t t = spawn(child_take_over_and_die, &ta);
	CHECK(reap(t) == 128 + SIGKILL, "taker killed after its owner CAS");
	CHECK(atomic_load(&m->state) == m_state && atomic_load(&m->cursor) == mc &&
		      rw_owner_pid(atomic_load(&m->owner)) == (uint32_t)t,
	      "after the killed taker: active (0x%x), cursor %llu, owner the taker",
	      atomic_load(&m->state), (unsigned long long)atomic_load(&m->cursor));
	/* still gating: with the anchor moved on to 4, the entry's cursor 2 holds the producer */
	rw_consumer_release(anchor, 4);
	for (int k = 0; k < 4; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)(4 + k), 0);
	CHECK_RC(rw_producer_publish(p, ev, 4, 0, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(p, ev, 3, 0, &err), RW_ERR_TIMEOUT, err);
	rw_consumer *mt = NULL;
	CHECK_RC(rw_consumer_register(seg, "midway", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &mt, &err),
		 RW_OK, err);
	uint32_t mt_state = rw_state_claim(m_state, RW_ENTRY_ACTIVE);
	CHECK(mt->taken_over && mt->next == mc && mt->state_word == mt_state &&
		      atomic_load(&m->state) == mt_state && atomic_load(&m->owner) == me,
	      "taken over after the killed taker: next %llu, state 0x%x", (unsigned long long)mt->next,
	      atomic_load(&m->state));
	CHECK_RC(rw_consumer_consume(mt, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 4 && ev_check(ev, 2, 0) == 0 && ev_check(ev + 3 * EV_SIZE, 5, 0) == 0,
	      "resumes at the cursor the killed taker kept");
	/* the owner it displaced (if it were alive) finds itself evicted by the owner word */
	atomic_store(&m->owner, rw_owner_identity(dead_pid(), 0)); /* mt "dies" */
	CHECK(rw_consumer_check_owner(mt) == RW_ERR_EVICTED, "a changed owner word evicts its owner");

	/* An eviction between a taker's owner CAS and its state CAS: that CAS fails, the taker
	 * gives the owner word up again and registers afresh, claiming the evicted entry of its
	 * name again. */
	evict_seg = seg;
	rw_test.takeover = evict_at_takeover;
	rw_consumer *late = NULL;
	CHECK_RC(rw_consumer_register(seg, "midway", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &late, &err),
		 RW_OK, err);
	rw_test.takeover = NULL;
	CHECK(!late->taken_over && late->entry == m &&
		      atomic_load(&m->state) == rw_state_claim(mt_state, RW_ENTRY_ACTIVE) &&
		      atomic_load(&m->owner) == me && late->report_lost == 2,
	      "evicted under the taker: registered afresh in the same entry (0x%x)",
	      atomic_load(&m->state));
	rw_consumer_close(late);
	rw_consumer_close(mt); /* evicted by its owner word: only freed */
out:
	rw_consumer_close(anchor);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	shm_unlink(name);
}

struct claim_arg {
	const char *name;
	int fd;         /* reports the claim, then waits (the parent kills it) */
	uint32_t n;     /* claim size */
	uint64_t before; /* events published before the claim */
};

static int child_claim_and_hang(void *argp)
{
	struct claim_arg *a = argp;
	rw_segment *seg = NULL;
	rw_producer *p = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_producer_register(seg, &p, NULL) != RW_OK)
		return 50;
	uint8_t ev[EV_SIZE];
	for (uint64_t k = 0; k < a->before; k++) {
		ev_make(ev, k, 1);
		if (rw_producer_publish(p, ev, 1, 5000, NULL) != RW_OK)
			return 51;
	}
	uint64_t first;
	if (rw_producer_claim(p, a->n, 5000, &first, NULL) != RW_OK)
		return 52;
	ev_make(rw_slot(seg, first), a->before, 1); /* half-written claim */
	if (write(a->fd, &first, sizeof first) != (ssize_t)sizeof first)
		return 53;
	char b;
	if (read(a->fd, &b, 1) == 1 && b == 'c') { /* told to commit */
		for (uint32_t i = 0; i < a->n; i++)
			ev_make(rw_slot(seg, first + i), a->before + i, 1);
		rw_producer_publish_claim(p);
		rw_producer_close(p, 0, NULL);
		return 0;
	}
	for (;;)
		pause(); /* killed with SIGKILL here */
}

void test_gap_after_kill(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("gap");
	rw_config cfg = config(16, RW_MODE_MULTI, 2);
	cfg.producer_capacity = 2;
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	rw_producer *cr = NULL;
	CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK, err);
	c->stall_timeout_ms = 50;
	uint8_t ev[EV_SIZE * 16];
	ev_make(ev, 0, 0);
	CHECK_RC(rw_producer_publish(cr, ev, 1, 0, &err), RW_OK, err);

	/* a live producer's claim is never passed over */
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	struct claim_arg live = {name, sv[1], 2, 0};
	pid_t child = spawn(child_claim_and_hang, &live);
	uint64_t first = 0;
	CHECK(read(sv[0], &first, sizeof first) == (ssize_t)sizeof first && first == 1,
	      "live child claimed [1, 3)");
	uint32_t got;
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 0, &err), RW_OK, err);
	CHECK(got == 1, "sequence 0");
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 150, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_pass_over_dead_claims(seg, 1) == 0 && atomic_load(&seg->hdr->gaps) == 0,
	      "a live claim is not passed over");
	CHECK(write(sv[0], "c", 1) == 1, "tell the child to commit");
	CHECK(reap(child) == 0, "live child committed");
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 1000, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev, 0, 1) == 0 && ev_check(ev + EV_SIZE, 1, 1) == 0,
	      "the live claim arrives");
	rw_producer_entry *pe = rw_producer_entry_at(seg, 1);
	CHECK(atomic_load(&pe->state) == 0x102 && atomic_load(&pe->owner) == 0,
	      "live child detached (0x%x)", atomic_load(&pe->state));

	/* kill -9 of a producer between claim and publish */
	struct claim_arg dead = {name, sv[1], 3, 2};
	child = spawn(child_claim_and_hang, &dead);
	CHECK(read(sv[0], &first, sizeof first) == (ssize_t)sizeof first && first == 5,
	      "child published 2 and claimed [5, 8) (first %llu)", (unsigned long long)first);
	CHECK(kill(child, SIGKILL) == 0, "kill -9");
	CHECK(reap(child) == 128 + SIGKILL, "child killed");
	close(sv[0]);
	close(sv[1]);
	/* its entry stays active with its intent (c is at 3, the intent ends at 8): not reclaimed */
	rw_segment *att = NULL;
	rw_producer *again = NULL;
	CHECK_RC(rw_segment_attach_shm(name, &ev_type, 0, &att, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &again, &err), RW_ERR_PRODUCERS_FULL, err);
	CHECK(atomic_load(&pe->state) == 0x201 && atomic_load(&pe->intent_end) == 8 &&
		      rw_owner_pid(atomic_load(&pe->owner)) == (uint32_t)child,
	      "a producer dead mid-claim keeps its entry (unresolved: not retired)");
	/* the creator publishes after the dead claim */
	ev_make(ev, 1, 0);
	ev_make(ev + EV_SIZE, 2, 0);
	CHECK_RC(rw_producer_publish(cr, ev, 2, 0, &err), RW_OK, err);
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 1000, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev, 0, 1) == 0 && ev_check(ev + EV_SIZE, 1, 1) == 0,
	      "the dead producer's published events");
	uint64_t t0 = rw_monotonic_ns();
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 5000, &err), RW_ERR_GAP, err);
	uint64_t waited = rw_monotonic_ns() - t0;
	CHECK(got == 0 && c->gap_seq == 5 && c->gap_count == 3 && c->gaps_seen == 3,
	      "gap of %llu from %llu", (unsigned long long)c->gap_count,
	      (unsigned long long)c->gap_seq);
	CHECK(waited >= 50000000ull && waited < 2000000000ull, "waited the stall timeout (%llu ms)",
	      (unsigned long long)(waited / 1000000));
	CHECK(strstr(err.message, "3 sequence(s) from 5") != NULL, "message: %s", err.message);
	CHECK(atomic_load(&pe->state) == 0x201 && rw_segment_producer_entry_left(seg, 1) &&
		      atomic_load(&seg->hdr->gaps) == 3 &&
		      atomic_load(&rw_entry_at(seg, c->index)->gaps_seen) == 3 &&
		      atomic_load(&c->entry->cursor) == 8,
	      "entry still active with its claim resolved, gaps 3, gaps_seen 3, cursor 8");
	CHECK(rw_segment_is_gap(seg, 5) && rw_segment_is_gap(seg, 7) && !rw_segment_is_gap(seg, 8), "gap words");
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev, 1, 0) == 0 && ev_check(ev + EV_SIZE, 2, 0) == 0,
	      "events after the gap");
	/* the resolved entry is retired and reused by the next attacher (5.4 attach step 1); the
	 * creator's close does not wait for the gaps */
	CHECK_RC(rw_producer_register(att, &again, &err), RW_OK, err);
	CHECK(again->index == 1 && atomic_load(&pe->state) == 0x301,
	      "retired and taken again (0x%x)", atomic_load(&pe->state));
	rw_producer_close(again, 0, NULL);
	rw_segment_close(att);
	CHECK_RC(rw_producer_close(cr, 1000, &err), RW_OK, err);
	CHECK_RC(rw_consumer_consume(c, ev, 16, &got, 1000, &err), RW_ERR_ENDED, err);
	rw_consumer_close(c);
	rw_segment_close(seg);
	shm_unlink(name);
}

/* ---- passing over dead claims (spec 5.8) --------------------------------------------------------- */

static rw_producer_entry *flux_entry;

/* Plays a live producer that moves its intent from [7, 9) to [10, 12) between the reads. */
static void move_intent(rw_producer_entry *e, int step)
{
	if (e != flux_entry || step != 1)
		return;
	atomic_store(&e->intent_end, 0);
	atomic_store(&e->intent_start, 10);
	atomic_store(&e->intent_end, 12);
}

struct resolve_arg {
	const char *name;
	int fd;
};

/* A required consumer that passes over the dead claim at its cursor (stall timeout 0). */
static int child_resolve(void *argp)
{
	struct resolve_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 80;
	char cname[32];
	snprintf(cname, sizeof cname, "r%ld", (long)getpid());
	if (rw_consumer_register(seg, cname, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, NULL) != RW_OK)
		return 81;
	c->stall_timeout_ms = 0;
	char b;
	if (write(a->fd, "r", 1) != 1 || read(a->fd, &b, 1) != 1) /* start together */
		return 82;
	uint8_t ev[EV_SIZE * 4];
	uint32_t got;
	/* The other resolver may be midway through the run when this one scans it: the run can come
	 * in pieces (each a gap report, in order), but it is all reported, each sequence once. */
	int ok = 1;
	uint64_t want = 0;
	while (ok && c->gaps_seen < 3) {
		rw_code rc = rw_consumer_consume(c, ev, 4, &got, 5000, NULL);
		ok = rc == RW_ERR_GAP && c->gap_seq == want && c->gap_count >= 1;
		want += c->gap_count;
	}
	ok = ok && c->gaps_seen == 3 && want == 3;
	rw_consumer_close(c);
	return ok ? 0 : 83;
}

void test_gap_rules(void)
{
	rw_error err;
	rw_config cfg = config(16, RW_MODE_MULTI, 2);
	cfg.producer_capacity = 3;
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_producer_entry *dead = rw_producer_entry_at(seg, 1), *live = rw_producer_entry_at(seg, 2);
	/* entry 1: a dead producer's claim of [2, 5); entry 2: a live one's intent [7, 9) */
	atomic_store(&dead->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&dead->intent_start, 2);
	atomic_store(&dead->intent_end, 5);
	atomic_store(&dead->state, 0x101);
	atomic_store(&live->owner, rw_self_identity());
	atomic_store(&live->intent_start, 7);
	atomic_store(&live->intent_end, 9);
	atomic_store(&live->state, 0x101);
	atomic_store(&seg->cursors->claimed, 9);
	for (uint64_t s = 0; s < 2; s++)
		atomic_store(rw_availability_word(seg, s), s + 1);
	/* an intent in flux (its ends read differently) holds every sequence back */
	flux_entry = live;
	rw_test.intent_read = move_intent;
	CHECK(rw_pass_over_dead_claims(seg, 2) == 0 && atomic_load(&seg->hdr->gaps) == 0,
	      "a live intent in flux: keep waiting");
	rw_test.intent_read = NULL;
	/* a live producer's intent covering s holds it back */
	atomic_store(&live->intent_start, 3);
	atomic_store(&live->intent_end, 4);
	CHECK(rw_pass_over_dead_claims(seg, 3) == 0, "a live intent covers 3: keep waiting");
	atomic_store(&live->intent_end, 0);
	/* nothing to resolve at or above the claimed count, or without a dead intent over s */
	CHECK(rw_pass_over_dead_claims(seg, 9) == 0 && rw_pass_over_dead_claims(seg, 6) == 0,
	      "above the claimed count, or no dead intent: nothing");
	/* resolved per sequence, each gap counted once */
	CHECK(rw_pass_over_dead_claims(seg, 2) == 3 && atomic_load(&seg->hdr->gaps) == 3,
	      "2, 3, 4 passed over: gaps %llu", (unsigned long long)atomic_load(&seg->hdr->gaps));
	CHECK(rw_pass_over_dead_claims(seg, 2) == 0 && rw_pass_over_dead_claims(seg, 4) == 0 &&
		      atomic_load(&seg->hdr->gaps) == 3,
	      "a resolved sequence is never counted again");
	CHECK(atomic_load(&dead->state) == 0x101 && rw_segment_retire_resolved(seg) == 1 &&
		      atomic_load(&dead->state) == 0x103,
	      "passing over does not retire; a peer retires it once resolved (0x%x)",
	      atomic_load(&dead->state));
	/* never retired while unresolved: a dead entry whose claim is half resolved */
	atomic_store(&dead->state, 0x201);
	atomic_store(&dead->intent_start, 5);
	atomic_store(&dead->intent_end, 7);
	atomic_store(rw_availability_word(seg, 5), 6);
	CHECK(rw_segment_producer_entry_left(seg, 1) == 0, "6 unresolved: not left");
	atomic_store(&live->intent_start, 6);
	atomic_store(&live->intent_end, 7); /* a live producer holds 6 too */
	CHECK(rw_pass_over_dead_claims(seg, 6) == 0 && rw_segment_retire_resolved(seg) == 0 &&
		      atomic_load(&dead->state) == 0x201,
	      "unresolved: not retired");
	atomic_store(&live->intent_end, 0);
	CHECK(rw_pass_over_dead_claims(seg, 6) == 1 && rw_segment_retire_resolved(seg) == 1 &&
		      atomic_load(&dead->state) == 0x203,
	      "resolved: retired (0x%x)", atomic_load(&dead->state));
	rw_segment_close(seg);
	free(img);

	/* two consumers in two processes race to pass over the same dead claim: each sees the
	 * gap run, the header counts it once */
	const char *name = shm_name("gap-race");
	cfg = config(16, RW_MODE_MULTI, 3);
	cfg.producer_capacity = 2;
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	rw_consumer *anchor = NULL; /* keeps "oldest" at 0 */
	CHECK_RC(rw_consumer_register(seg, "anchor", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &anchor, &err),
		 RW_OK, err);
	dead = rw_producer_entry_at(seg, 1);
	atomic_store(&dead->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&dead->intent_start, 0);
	atomic_store(&dead->intent_end, 3);
	atomic_store(&dead->state, 0x101);
	atomic_store(&seg->cursors->claimed, 3);
	int sv[2][2];
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[k]) == 0, "socketpair");
		static struct resolve_arg ra[2];
		ra[k] = (struct resolve_arg){name, sv[k][1]};
		kids[k] = spawn(child_resolve, &ra[k]);
	}
	char b;
	for (int k = 0; k < 2; k++)
		CHECK(read(sv[k][0], &b, 1) == 1, "resolver %d ready", k);
	for (int k = 0; k < 2; k++)
		CHECK(write(sv[k][0], "g", 1) == 1, "go");
	for (int k = 0; k < 2; k++) {
		int rst = reap(kids[k]);
		CHECK(rst == 0, "resolver %d saw the gap run of 3 (status %d)", k, rst);
		close(sv[k][0]);
		close(sv[k][1]);
	}
	CHECK(atomic_load(&seg->hdr->gaps) == 3, "gaps counted once: %llu",
	      (unsigned long long)atomic_load(&seg->hdr->gaps));
	rw_consumer_close(anchor);
	rw_segment_close(seg);
	shm_unlink(name);
}