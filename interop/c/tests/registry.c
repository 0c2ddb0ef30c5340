/* tests/registry.c - consumer registration: names, starts, dependencies, races (spec 4.3, 5.7). */
#include "harness.h"

/* ---- single-process protocol behaviour ------------------------------------------------------------ */

void test_registry(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("reg");
	rw_config cfg = config(8, RW_MODE_SINGLE, 3);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	uint64_t me = rw_self_identity();
	CHECK(rw_owner_pid(me) == (uint32_t)getpid() &&
		      rw_owner_start_time(me) == (uint32_t)rw_process_start_time(getpid()),
	      "owner identity: pid | start time mod 2^32 << 32");
	rw_consumer *a = NULL, *b = NULL, *c = NULL, *d = NULL, *dup = NULL;
	CHECK_RC(rw_consumer_register(seg, "a", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &a, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "b", 0, 0, RW_START_LATEST, &b, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "a", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &dup, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "d", 0, 0, RW_START_LATEST, &d, &err), RW_ERR_REGISTRY_FULL, err);
	rw_entry *ea = rw_entry_at(seg, a->index);
	CHECK(a->index == 0 && b->index == 1 && c->index == 2, "entries in order");
	/* 4.3: state = active (2) with generation 1 in bits 8-31; owner = our identity */
	CHECK(atomic_load(&ea->state) == 0x102 && a->state_word == 0x102 &&
		      atomic_load(&ea->owner) == me && a->owner == me &&
		      ea->flags == RW_FLAG_REQUIRED && ea->name_len == 1 && ea->name[0] == 'a' &&
		      ea->name[1] == 0 && atomic_load(&ea->heartbeat_ns) != 0,
	      "entry fields: state 0x%x", atomic_load(&ea->state));
	CHECK(rw_entry_at(seg, b->index)->flags == 0, "optional has no required bit");
	/* deregistration: CAS active -> closed (same generation), then owner -> 0 */
	rw_consumer_close(b);
	CHECK(atomic_load(&rw_entry_at(seg, 1)->state) == 0x103 &&
		      atomic_load(&rw_entry_at(seg, 1)->owner) == 0,
	      "deregistered: closed generation 1, owner cleared");
	CHECK_RC(rw_consumer_register(seg, "d-with-a-longer-name", 0, 0, RW_START_LATEST, &d, &err), RW_OK,
		 err);
	rw_entry *ed = rw_entry_at(seg, d->index);
	CHECK(d->index == 1 && atomic_load(&ed->state) == 0x202 && ed->name_len == 20 &&
		      memcmp(ed->name, "d-with-a-longer-name", 20) == 0,
	      "reuses the closed entry, generation 2 (state 0x%x)", atomic_load(&ed->state));
	CHECK(rw_consumer_register(seg, "", 0, 0, RW_START_LATEST, &dup, &err) == RW_ERR_INVALID_ARG &&
		      rw_consumer_register(seg,
				  "0123456789012345678901234567890123456789012345678", 0, 0,
				  RW_START_LATEST, &dup, &err) == RW_ERR_INVALID_ARG,
	      "name length 1..48");

	/* latest / oldest */
	rw_producer *p = NULL;
	CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
	uint8_t ev[EV_SIZE * 8];
	for (int k = 0; k < 5; k++) {
		ev_make(ev, (uint64_t)k, 0);
		CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_OK, err);
	}
	rw_consumer_close(c);
	rw_consumer_close(d);
	rw_consumer *late = NULL, *old = NULL;
	CHECK_RC(rw_consumer_register(seg, "late", 0, 0, RW_START_LATEST, &late, &err), RW_OK, err);
	CHECK(late->next == 5, "latest starts at the published count (%llu)",
	      (unsigned long long)late->next);
	CHECK_RC(rw_consumer_register(seg, "old", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &old, &err), RW_OK,
		 err);
	CHECK(old->next == 0, "oldest starts at the slowest required cursor (%llu)",
	      (unsigned long long)old->next);
	uint32_t got;
	CHECK_RC(rw_consumer_consume(a, ev, 3, &got, 0, &err), RW_OK, err);
	CHECK(got == 3 && ev_check(ev, 0, 0) == 0 && ev_check(ev + 2 * EV_SIZE, 2, 0) == 0,
	      "batch of 3");
	rw_consumer_close(late);
	rw_consumer_close(old);
	CHECK_RC(rw_consumer_register(seg, "old", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &old, &err), RW_OK,
		 err);
	CHECK(old->next == 3, "oldest follows a's cursor 3 (%llu)", (unsigned long long)old->next);

	/* 5.5 step 4: an owner stops when its state word or its owner word changed */
	rw_entry *eo = rw_entry_at(seg, old->index);
	CHECK(rw_segment_evict(seg, old->index, old->state_word) == 1, "evicted");
	CHECK(rw_state_value(atomic_load(&eo->state)) == RW_ENTRY_EVICTED &&
		      rw_state_generation(atomic_load(&eo->state)) ==
			      rw_state_generation(old->state_word) &&
		      atomic_load(&eo->owner) == 0,
	      "evicted: same generation, owner cleared");
	CHECK(rw_segment_evict(seg, old->index, old->state_word) == 0, "evicted once");
	CHECK_RC(rw_consumer_consume(old, ev, 1, &got, 0, &err), RW_ERR_EVICTED, err);
	CHECK(rw_consumer_check_owner(old) == RW_ERR_EVICTED, "evicted by state");
	atomic_store(&ea->owner, rw_owner_identity(12345, 1)); /* the owner word changed hands */
	CHECK(rw_consumer_check_owner(a) == RW_ERR_EVICTED, "evicted by owner");
	CHECK_RC(rw_consumer_consume(a, ev, 1, &got, 0, &err), RW_ERR_EVICTED, err);
	CHECK(atomic_load(&ea->owner) == rw_owner_identity(12345, 1),
	      "an evicted owner clears only its own identity");
	/* a copy of the handle's state, to close the entry once it is given back */
	rw_consumer *a_again = malloc(sizeof *a_again);
	*a_again = *a;
	uint32_t a_word = a->state_word;
	rw_consumer_close(a); /* not ours any more: must not touch it */
	CHECK(atomic_load(&ea->state) == a_word &&
		      atomic_load(&ea->owner) == rw_owner_identity(12345, 1),
	      "close leaves a lost entry alone");
	atomic_store(&ea->owner, me); /* give it back to close it */
	a_again->registered = 1;
	rw_consumer_close(a_again);
	CHECK(atomic_load(&ea->state) == 0x103 && atomic_load(&ea->owner) == 0, "closed");
	rw_consumer_close(NULL);
	CHECK(atomic_load(&ea->state) == 0x103, "closing nothing does nothing");

	/* 5.7 step 2: a free, closed or evicted entry whose owner word holds a live process is that
	 * process's (half-taken), not claimable; one holding a dead process is */
	rw_segment *s2 = NULL;
	rw_config two = config(8, RW_MODE_SINGLE, 2);
	uint8_t *img = heap_segment(&two, &s2);
	rw_entry *e0 = rw_entry_at(s2, 0), *e1 = rw_entry_at(s2, 1);
	atomic_store(&e0->owner, me);                           /* ourselves, half-way */
	atomic_store(&e1->owner, rw_owner_identity(dead_pid(), 0)); /* died half-way */
	atomic_store(&e1->state, rw_state_word(RW_ENTRY_CLOSED, 7));
	rw_consumer *x = NULL;
	CHECK_RC(rw_consumer_register(s2, "x", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &x, &err), RW_OK, err);
	CHECK(x->index == 1 && atomic_load(&e1->state) == 0x802 && atomic_load(&e0->state) == 0,
	      "the live owner's entry skipped, the dead one's claimed with generation 8 (0x%x)",
	      atomic_load(&e1->state));
	CHECK_RC(rw_consumer_register(s2, "y", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &dup, &err),
		 RW_ERR_REGISTRY_FULL, err);
	rw_consumer_close(x);
	rw_consumer_close(old);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(s2);
	free(img);
	rw_segment_close(seg);
	shm_unlink(name);
}

void test_duplicate_race(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	rw_config cfg = config(8, RW_MODE_SINGLE, 3);
	uint8_t *img = heap_segment(&cfg, &seg);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	pid_t other = spawn(child_hold_pipe, &sv[1]);
	rw_entry *e2 = rw_entry_at(seg, 2);
	atomic_store(&e2->owner, rw_owner_identity((uint32_t)other, rw_process_start_time(other)));
	e2->flags = RW_FLAG_REQUIRED;
	e2->name_len = 4;
	memcpy(e2->name, "race", 4);
	atomic_store(&e2->state, rw_state_word(RW_ENTRY_CLAIMING, 1));
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "race", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	rw_entry *e0 = rw_entry_at(seg, 0);
	CHECK(atomic_load(&e0->state) == 0x103 && atomic_load(&e0->owner) == 0 &&
		      e0->name_len == 4,
	      "our entry was activated, then given up (closed, owner 0): 0x%x",
	      atomic_load(&e0->state));
	/* once the other claimer is dead its claiming entry is taken over (5.7 step 1: owner CAS,
	 * state CAS to claiming with generation + 1) and goes on from step 4 */
	CHECK(write(sv[0], "x", 1) == 1 && reap(other) == 0, "the other claimer exited");
	close(sv[0]);
	close(sv[1]);
	CHECK_RC(rw_consumer_register(seg, "race", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK,
		 err);
	CHECK(c->index == 2 && !c->taken_over && atomic_load(&e2->state) == 0x202 &&
		      c->state_word == 0x202 && atomic_load(&e2->owner) == rw_self_identity(),
	      "the dead claimer's entry taken over (generation + 1) and activated (index %u, 0x%x)",
	      c->index, atomic_load(&e2->state));
	rw_consumer_close(c);
	rw_segment_close(seg);
	free(img);
}

/* 5.7 step 2: an entry left in claiming by a claimer that died while filling it in is claimable
 * by any attacher (its name is another), with generation + 1 like any other claim. A claiming
 * entry whose owner is alive stays its claimer's. */
void test_claiming_dead_claimer(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	rw_config cfg = config(8, RW_MODE_SINGLE, 1);
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_entry *e = rw_entry_at(seg, 0);
	e->flags = RW_FLAG_REQUIRED;
	e->name_len = 4;
	memcpy(e->name, "gone", 4);
	atomic_store(&e->owner, rw_self_identity()); /* a live claimer, half-way */
	atomic_store(&e->state, rw_state_word(RW_ENTRY_CLAIMING, 7));
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "other", 0, 0, RW_START_LATEST, &c, &err), RW_ERR_REGISTRY_FULL,
		 err);
	CHECK(atomic_load(&e->state) == rw_state_word(RW_ENTRY_CLAIMING, 7),
	      "a live claimer's entry left alone (0x%x)", atomic_load(&e->state));
	atomic_store(&e->owner, rw_owner_identity(dead_pid(), 0)); /* died while filling it in */
	CHECK_RC(rw_consumer_register(seg, "other", 0, 0, RW_START_LATEST, &c, &err), RW_OK, err);
	CHECK(c->index == 0 && !c->taken_over &&
		      atomic_load(&e->state) == rw_state_word(RW_ENTRY_ACTIVE, 8) &&
		      atomic_load(&e->owner) == rw_self_identity() && e->name_len == 5 &&
		      memcmp(e->name, "other", 5) == 0 && e->flags == 0,
	      "the dead claimer's entry claimed afresh: active, generation 8 (0x%x)",
	      atomic_load(&e->state));
	rw_consumer_close(c);
	CHECK(atomic_load(&e->state) == rw_state_word(RW_ENTRY_CLOSED, 8) &&
		      atomic_load(&e->owner) == 0,
	      "deregistered (0x%x)", atomic_load(&e->state));
	rw_segment_close(seg);
	free(img);
}

/* 5.7 steps 4 to 6: bit 1 of flags (starting) is set until the consumer's start is chosen, and a
 * producer that awaits consumers (rw_segment_active_count, the conformer's --wait-consumers) counts only
 * entries that are active with it clear. It does not change gating. */
void test_starting_bit(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	rw_config cfg = config(8, RW_MODE_SINGLE, 2);
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "s", RW_FLAG_REQUIRED | RW_FLAG_STARTING, 0, RW_START_LATEST, &c,
			     &err),
		 RW_ERR_INVALID_ARG, err); /* not a registration flag */
	CHECK_RC(rw_consumer_register(seg, "s", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK, err);
	rw_entry *e = rw_entry_at(seg, c->index);
	CHECK(rw_entry_flags(e) == RW_FLAG_REQUIRED && rw_entry_ready(e) &&
		      rw_segment_active_count(seg) == 1,
	      "registered: bit 1 clear, counted (flags 0x%x)", rw_entry_flags(e));
	atomic_fetch_or(&e->flags, RW_FLAG_STARTING); /* as between steps 4 and 6 */
	CHECK(!rw_entry_ready(e) && rw_segment_active_count(seg) == 0 && !wait_active(seg, 1, 20),
	      "active but still choosing its start: not counted");
	CHECK(rw_entry_gates(e), "bit 1 does not change gating");
	char nm[RW_MAX_CONSUMER_NAME + 1];
	CHECK(rw_entry_name(e, nm) == 1 && strcmp(nm, "s") == 0, "bit 1 is not corruption");
	rw_consumer_close(c);
	/* a taker of an owner that died between steps 4 and 6 resumes at its cursor: started */
	rw_entry *d = rw_entry_at(seg, 1);
	atomic_store(&d->flags, RW_FLAG_REQUIRED | RW_FLAG_STARTING);
	d->name_len = 4;
	memcpy(d->name, "late", 4);
	atomic_store(&d->owner, rw_owner_identity(dead_pid(), 0));
	atomic_store(&d->state, rw_state_word(RW_ENTRY_ACTIVE, 1));
	CHECK(rw_segment_active_count(seg) == 0, "the dead starter is not counted");
	CHECK_RC(rw_consumer_register(seg, "late", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK,
		 err);
	CHECK(c->taken_over && c->index == 1 && rw_entry_flags(d) == RW_FLAG_REQUIRED &&
		      rw_segment_active_count(seg) == 1,
	      "taken over: bit 1 cleared (flags 0x%x)", rw_entry_flags(d));
	rw_consumer_close(c);
	rw_segment_close(seg);
	free(img);

	/* the conformer's produce --wait-consumers 1 publishes nothing while the only active entry
	 * has bit 1 set, and publishes once it is clear */
	const char *name = shm_name("start");
	const char *out = tmp_file("start.out");
	rw_config multi = config(8, RW_MODE_MULTI, 2);
	CHECK_RC(rw_segment_create_shm(name, &multi, &seg, &err), RW_OK, err);
	e = rw_entry_at(seg, 0);
	atomic_store(&e->flags, RW_FLAG_REQUIRED | RW_FLAG_STARTING);
	e->name_len = 5;
	memcpy(e->name, "early", 5);
	atomic_store(&e->heartbeat_ns, rw_monotonic_ns());
	atomic_store(&e->owner, rw_self_identity());
	atomic_store(&e->state, rw_state_word(RW_ENTRY_ACTIVE, 1));
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "%s produce --name %s --attach --count 1 --wait-consumers 1 --timeout-ms 300 > %s",
		 RW_TEST_CONFORMER, name, out);
	int st = run(cmd);
	size_t len;
	char *o = read_all(out, &len);
	CHECK(st == 3 && o && strstr(o, "\"code\":\"timeout\"") && rw_claimed_count(seg) == 0,
	      "starting entry not awaited: exit %d, claimed %llu, printed %s", st,
	      (unsigned long long)rw_claimed_count(seg), o ? o : "");
	free(o);
	atomic_store(&e->flags, RW_FLAG_REQUIRED); /* step 6 done */
	snprintf(cmd, sizeof cmd,
		 "%s produce --name %s --attach --count 1 --wait-consumers 1 --timeout-ms 5000 > %s",
		 RW_TEST_CONFORMER, name, out);
	st = run(cmd);
	CHECK(st == 0 && rw_claimed_count(seg) == 1, "started entry awaited: exit %d, claimed %llu",
	      st, (unsigned long long)rw_claimed_count(seg));
	rw_segment_close(seg);
	shm_unlink(name);
}

/* ---- corrupt entries and records (spec 4.3, 5.2 last paragraph, 5.9) ----------------------------- */

void test_corrupt_entries(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	/* three required, active-looking entries at cursor 0 that are corrupt */
	struct {
		uint32_t state, name_len;
	} bad[3] = {{0x102, 0}, {0x102, 200}, {0x105, 3}};
	for (uint32_t i = 0; i < 3; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		e->flags = RW_FLAG_REQUIRED;
		e->name_len = bad[i].name_len;
		memcpy(e->name, "abc", 3);
		atomic_store(&e->owner, rw_self_identity());
		atomic_store(&e->state, bad[i].state);
		char name[RW_MAX_CONSUMER_NAME + 1];
		CHECK(rw_entry_name(e, name) == 0 && name[0] == 0, "entry %u reads as corrupt", i);
		CHECK(!rw_entry_gates(e), "entry %u never gates", i);
	}
	CHECK(strcmp(rw_entry_state_name(0x105), "corrupt") == 0 &&
		      strcmp(rw_producer_state_name(0x104), "corrupt") == 0 &&
		      strcmp(rw_entry_state_name(0x302), "active") == 0,
	      "state names ignore the generation; values over 4 are corrupt");
	/* they neither gate the producer nor hold the name "abc" */
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	uint8_t ev[EV_SIZE * 8] = {0};
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "abc", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK, err);
	CHECK(c->index == 3, "registered in the free entry (index %u)", c->index);
	rw_consumer_close(c);
	/* a poison record whose length is over its field is clamped to 64 bytes */
	rw_poison rec = {.phase = RW_PHASE_PUBLISH, .seq = 3};
	snprintf(rec.message, sizeof rec.message, "x");
	CHECK(rw_segment_poison(seg, &rec) == 1, "poisoned");
	memset(seg->hdr->poison_message, 'm', sizeof seg->hdr->poison_message);
	seg->hdr->poison_message_len = 100000;
	rw_poison out;
	CHECK(rw_segment_poisoned(seg, &out) == 1 && strlen(out.message) == 64,
	      "message clamped to 64 (%zu)", strlen(out.message));
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	free(img);
}

/* ---- registration after the 2.0 revision of 5.7 ------------------------------------------------- */

/* Writes entry i by hand, state last, as a peer would leave it. */
static rw_entry *fake_entry(rw_segment *seg, uint32_t i, const char *name, uint32_t flags,
			    uint64_t cursor, uint64_t owner, uint32_t state)
{
	rw_entry *e = rw_entry_at(seg, i);
	atomic_store(&e->flags, flags);
	e->name_len = (uint32_t)strlen(name);
	memset(e->name, 0, sizeof e->name);
	memcpy(e->name, name, e->name_len);
	atomic_store(&e->cursor, cursor);
	atomic_store(&e->heartbeat_ns, rw_monotonic_ns());
	atomic_store(&e->owner, owner);
	atomic_store(&e->state, state);
	return e;
}

struct die_arg {
	const char *name;
	const char *consumer;
	int step; /* 0: killed once registered; 4: killed at 5.7 step 4 (active, bit 1 set) */
};

static void kill_at_registration(rw_entry *e, int step)
{
	(void)e;
	if (step == 4)
		raise(SIGKILL);
}

/* Registers a required consumer (latest) and is kill -9'ed, after registering or at step 4. */
static int child_register_killed(void *argp)
{
	struct die_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 30;
	if (a->step == 4)
		rw_test.registration = kill_at_registration;
	if (rw_consumer_register(seg, a->consumer, RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, NULL) != RW_OK)
		return 31;
	raise(SIGKILL);
	return 32;
}

/* 5.7 step 1 scans the whole registry before it takes anything over, and a taker scans the name
 * again (as in step 5) once its state CAS succeeded. */
void test_takeover_scan(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("tscan");
	rw_config cfg = config(8, RW_MODE_SINGLE, 3);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	struct die_arg da = {name, "dup", 0};
	pid_t dead = spawn(child_register_killed, &da);
	CHECK(reap(dead) == 128 + SIGKILL, "dup's owner killed");
	rw_entry *e0 = rw_entry_at(seg, 0);
	uint32_t st0 = atomic_load(&e0->state);
	uint64_t o0 = atomic_load(&e0->owner);
	CHECK(st0 == 0x102 && rw_owner_pid(o0) == (uint32_t)dead,
	      "entry 0: dup, active, its owner killed (0x%x)", st0);
	/* a live active entry of the same name after it, as a race can leave one */
	uint64_t me = rw_self_identity();
	rw_entry *e1 = fake_entry(seg, 1, "dup", RW_FLAG_REQUIRED, 0, me,
				  rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "dup", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	CHECK(atomic_load(&e0->state) == st0 && atomic_load(&e0->owner) == o0,
	      "a live active entry of the name later in the registry refuses: the dead owner's "
	      "entry before it is not taken over (0x%x, owner pid %u)",
	      atomic_load(&e0->state), rw_owner_pid(atomic_load(&e0->owner)));
	/* the live one still claiming: the dead owner's entry is taken over (generation + 1), the
	 * taker's scan then finds the live claimer, deregisters (closed, owner 0) and refuses */
	atomic_store(&e1->state, rw_state_word(RW_ENTRY_CLAIMING, 1));
	CHECK_RC(rw_consumer_register(seg, "dup", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err),
		 RW_ERR_DUPLICATE_NAME, err);
	CHECK(atomic_load(&e0->state) == rw_state_word(RW_ENTRY_CLOSED, 2) &&
		      atomic_load(&e0->owner) == 0 && strstr(err.message, "entry 1") != NULL,
	      "taken over, then given up on the re-scan: 0x%x, owner pid %u (%s)",
	      atomic_load(&e0->state), rw_owner_pid(atomic_load(&e0->owner)), err.message);
	/* once the claimer is gone the name registers in the closed entry */
	atomic_store(&e1->state, rw_state_word(RW_ENTRY_CLOSED, 1));
	atomic_store(&e1->owner, 0);
	CHECK_RC(rw_consumer_register(seg, "dup", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err), RW_OK,
		 err);
	CHECK(c->index == 0 && atomic_load(&e0->state) == rw_state_word(RW_ENTRY_ACTIVE, 3),
	      "registered afresh in entry %u (0x%x)", c->index, atomic_load(&e0->state));
	rw_consumer_close(c);
	rw_segment_close(seg);
	shm_unlink(name);
}

static uint64_t step4_cursor;
static uint32_t step4_flags;
static void record_step4(rw_entry *e, int step)
{
	if (step == 4) {
		step4_cursor = atomic_load(&e->cursor);
		step4_flags = atomic_load(&e->flags);
	}
}

/* 5.7 steps 4 and 6 in one process: the provisional cursor is a ring below the count; the start
 * only raises it; oldest copies no entry still starting; depends_on needs active entries and is
 * never followed below the provisional cursor. */
void test_provisional_start(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	uint64_t me = rw_self_identity();
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	uint8_t ev[EV_SIZE * 8] = {0};
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err); /* nobody gates yet: 13 events */
	CHECK_RC(rw_producer_publish(p, ev, 5, 0, &err), RW_OK, err);
	rw_test.registration = record_step4;
	step4_cursor = UINT64_MAX;
	rw_consumer *a = NULL;
	CHECK_RC(rw_consumer_register(seg, "a", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &a, &err), RW_OK, err);
	rw_entry *ea = rw_entry_at(seg, a->index);
	CHECK(step4_cursor == 5 && step4_flags == (RW_FLAG_REQUIRED | RW_FLAG_STARTING),
	      "step 4: active at the provisional cursor 13 - 8 = 5 with bit 1 set (cursor %llu, "
	      "flags 0x%x)",
	      (unsigned long long)step4_cursor, step4_flags);
	CHECK(a->next == 13 && atomic_load(&ea->cursor) == 13 && rw_entry_flags(ea) == RW_FLAG_REQUIRED,
	      "step 6 raised it to the count, bit 1 clear (next %llu)", (unsigned long long)a->next);
	/* depends_on an optional entry: refused at step 6 (an optional entry does not gate the
	 * producers, so its cursor is no safe start); the entry is given up */
	rw_entry *eo = fake_entry(seg, 1, "opt", 0, 2, me, rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_consumer *s = NULL;
	CHECK_RC(rw_consumer_register(seg, "stage", RW_FLAG_REQUIRED, 1ull << 1, RW_START_LATEST, &s, &err),
		 RW_ERR_INVALID_ARG, err);
	rw_entry *es = rw_entry_at(seg, 2); /* the entry it took: the first free one */
	CHECK(s == NULL && rw_state_value(atomic_load(&es->state)) == RW_ENTRY_CLOSED &&
		      atomic_load(&es->owner) == 0 && es->name_len == 5 &&
		      strstr(err.message, "optional") != NULL,
	      "behind an optional entry: refused and given up (entry 2, 0x%x): %s",
	      atomic_load(&es->state), err.message);
	/* depends_on a required entry whose cursor is below the provisional one: the start is the
	 * provisional cursor, never lower */
	atomic_store(&eo->flags, RW_FLAG_REQUIRED);
	CHECK_RC(rw_consumer_register(seg, "stage", RW_FLAG_REQUIRED, 1ull << 1, RW_START_LATEST, &s, &err),
		 RW_OK, err);
	CHECK(s->next == 5 && step4_cursor == 5,
	      "behind a required entry at 2: starts at the provisional 5 (next %llu)",
	      (unsigned long long)s->next);
	rw_consumer_close(s);
	/* a dependency that is not active fails step 6; the entry is given up */
	atomic_store(&eo->state, rw_state_word(RW_ENTRY_CLOSED, 1));
	CHECK_RC(rw_consumer_register(seg, "stage", RW_FLAG_REQUIRED, 1ull << 1, RW_START_LATEST, &s, &err),
		 RW_ERR_INVALID_ARG, err);
	CHECK(s == NULL && rw_state_value(atomic_load(&es->state)) == RW_ENTRY_CLOSED &&
		      atomic_load(&es->owner) == 0 && es->name_len == 5,
	      "given up after step 6 failed (entry 2, 0x%x): %s", atomic_load(&es->state),
	      err.message);
	rw_test.registration = NULL;
	rw_consumer_close(a);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	free(img);

	/* oldest: the minimum of the count and of the cursors of the other required entries that
	 * are active with bit 1 clear; one still starting has no cursor to copy */
	img = heap_segment(&cfg, &seg);
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(p, ev, 5, 0, &err), RW_OK, err);
	fake_entry(seg, 0, "starter", RW_FLAG_REQUIRED | RW_FLAG_STARTING, 0, me,
		   rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_entry *er = fake_entry(seg, 1, "ready", RW_FLAG_REQUIRED, 3, me,
				  rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_test.registration = record_step4;
	rw_consumer *old = NULL;
	CHECK_RC(rw_consumer_register(seg, "old", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &old, &err), RW_OK,
		 err);
	CHECK(step4_cursor == 0 && old->next == 3,
	      "oldest: the ready entry's 3, not the starting entry's 0 (step 4 %llu, next %llu)",
	      (unsigned long long)step4_cursor, (unsigned long long)old->next);
	rw_consumer_close(old);
	atomic_store(&er->state, rw_state_word(RW_ENTRY_CLOSED, 1));
	CHECK_RC(rw_consumer_register(seg, "old", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &old, &err), RW_OK,
		 err);
	CHECK(old->next == 5, "oldest beside only a starting entry: the count 5 (next %llu)",
	      (unsigned long long)old->next);
	rw_consumer_close(old);
	rw_test.registration = NULL;
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	free(img);
}

struct ready_arg {
	const char *name;
	uint32_t index;
	uint64_t cursor;
	unsigned delay_ms;
};

/* Plays a dependency finishing its step 6 in another process after delay_ms: stores its cursor,
 * then clears flags bit 1. */
static int child_finish_start(void *argp)
{
	struct ready_arg *a = argp;
	rw_segment *seg = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 40;
	sleep_ms(a->delay_ms);
	rw_entry *e = rw_entry_at(seg, a->index);
	atomic_store(&e->cursor, a->cursor);
	atomic_fetch_and(&e->flags, ~(uint32_t)RW_FLAG_STARTING);
	return 0;
}

static const char *wake_name;
static pid_t wake_child;
static int wake_blocked;
static uint64_t wake_t0;
static rw_segment *wake_seg;

/* At 5.7 step 4 (our entry gating at the provisional cursor) a forked producer tries to publish
 * and waits for room behind it, blocked in the kernel for up to 5 s at a time. */
static void producer_waits_at_step4(rw_entry *e, int step)
{
	(void)e;
	if (step != 4)
		return;
	static struct wake_arg wa;
	wa = (struct wake_arg){wake_name, NULL, RW_OK};
	wake_child = spawn(child_produce_expect, &wa);
	_Atomic uint32_t *waiters = &wake_seg->wait->producer_waiters;
	for (int i = 0; i < 5000 && atomic_load(waiters) == 0; i++)
		sleep_ms(1);
	wake_blocked = atomic_load(waiters) != 0;
	sleep_ms(20); /* well inside its 5 s kernel wait */
	wake_t0 = rw_monotonic_ns();
}

/* 5.7 steps 4 to 6 across processes: a dependency still starting is waited for, and refused once
 * its owner is dead; a dead owner's entry left starting is taken over from step 6; step 6 wakes a
 * producer that the provisional cursor held back. */
void test_start_across_processes(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("start2");
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	uint64_t me = rw_self_identity();
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	uint8_t ev[EV_SIZE * 8] = {0};
	CHECK_RC(rw_producer_publish(p, ev, 5, 0, &err), RW_OK, err);

	/* depends_on an entry still starting (a live owner): waits until its start is chosen and
	 * starts no later than it */
	rw_entry *ea = fake_entry(seg, 0, "a", RW_FLAG_REQUIRED | RW_FLAG_STARTING, 0, me,
				  rw_state_word(RW_ENTRY_ACTIVE, 1));
	struct ready_arg ra = {name, 0, 2, 150};
	pid_t child = spawn(child_finish_start, &ra);
	rw_consumer *b = NULL;
	uint64_t t0 = rw_monotonic_ns();
	CHECK_RC(rw_consumer_register(seg, "b", RW_FLAG_REQUIRED, 1ull << 0, RW_START_LATEST, &b, &err),
		 RW_OK, err);
	uint64_t took = rw_monotonic_ns() - t0;
	CHECK(reap(child) == 0, "the dependency chose its start");
	CHECK(took >= 100000000ull && b->next == 2,
	      "waited %llu ms for the starting dependency, starts at its cursor 2 (next %llu)",
	      (unsigned long long)(took / 1000000), (unsigned long long)b->next);
	uint32_t bi = b->index;
	rw_consumer_close(b);
	/* ... for a bounded time */
	atomic_fetch_or(&ea->flags, RW_FLAG_STARTING);
	rw_test.start_wait_ns = 50000000ull;
	CHECK_RC(rw_consumer_register(seg, "b", RW_FLAG_REQUIRED, 1ull << 0, RW_START_LATEST, &b, &err),
		 RW_ERR_TIMEOUT, err);
	rw_test.start_wait_ns = 0;
	CHECK(b == NULL &&
		      rw_state_value(atomic_load(&rw_entry_at(seg, bi)->state)) ==
			      RW_ENTRY_CLOSED &&
		      atomic_load(&rw_entry_at(seg, bi)->owner) == 0,
	      "timed out waiting: entry %u given up", bi);
	atomic_store(&ea->state, rw_state_word(RW_ENTRY_CLOSED, 1));
	atomic_store(&ea->owner, 0);

	/* a consumer killed at step 4 leaves its entry active at the provisional cursor with bit
	 * 1 set. With an anchor at 5 and the count at 10: */
	rw_consumer *anc = NULL;
	CHECK_RC(rw_consumer_register(seg, "anc", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &anc, &err), RW_OK,
		 err);
	CHECK_RC(rw_producer_publish(p, ev, 5, 0, &err), RW_OK, err);
	struct die_arg da = {name, "k", 4};
	pid_t killed = spawn(child_register_killed, &da);
	CHECK(reap(killed) == 128 + SIGKILL, "k killed at step 4");
	rw_entry *ek = entry_named(seg, "k");
	uint32_t k = ek ? (uint32_t)(((uint8_t *)ek - (seg->base + seg->g.registry.offset)) /
				      seg->g.registry_entry_size)
			: 0;
	uint32_t kst = ek ? atomic_load(&ek->state) : 0;
	CHECK(ek && rw_state_value(kst) == RW_ENTRY_ACTIVE &&
		      rw_entry_flags(ek) == (RW_FLAG_REQUIRED | RW_FLAG_STARTING) &&
		      atomic_load(&ek->cursor) == 2 &&
		      rw_owner_pid(atomic_load(&ek->owner)) == (uint32_t)killed,
	      "k: active, bit 1 set, provisional cursor 10 - 8 = 2 (%llu)",
	      ek ? (unsigned long long)atomic_load(&ek->cursor) : 0ull);
	if (!ek)
		goto out;
	/* depends_on it while its owner is dead: refused at once */
	rw_consumer *s = NULL;
	t0 = rw_monotonic_ns();
	CHECK_RC(rw_consumer_register(seg, "s", RW_FLAG_REQUIRED, 1ull << k, RW_START_LATEST, &s, &err),
		 RW_ERR_INVALID_ARG, err);
	CHECK(rw_monotonic_ns() - t0 < 1000000000ull && strstr(err.message, "died") != NULL,
	      "a starting dependency whose owner died fails the registration: %s", err.message);
	/* its taker goes on from step 6 (oldest: min(count 10, anc 5)), with generation + 1 */
	rw_consumer *kt = NULL;
	CHECK_RC(rw_consumer_register(seg, "k", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &kt, &err), RW_OK,
		 err);
	CHECK(kt->taken_over && kt->index == k && kt->next == 5 && atomic_load(&ek->cursor) == 5 &&
		      rw_entry_flags(ek) == RW_FLAG_REQUIRED &&
		      atomic_load(&ek->state) == rw_state_claim(kst, RW_ENTRY_ACTIVE) &&
		      kt->state_word == atomic_load(&ek->state),
	      "k taken over from step 6: next %llu, flags 0x%x, state 0x%x",
	      (unsigned long long)kt->next, rw_entry_flags(ek), atomic_load(&ek->state));
	CHECK_RC(rw_consumer_register(seg, "s", RW_FLAG_REQUIRED, 1ull << k, RW_START_LATEST, &s, &err),
		 RW_OK, err);
	CHECK(s->next == 5, "behind k once it started: next %llu", (unsigned long long)s->next);
	rw_consumer_close(s);
	rw_consumer_close(kt);
out:
	rw_consumer_close(anc);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	shm_unlink(name);

	/* step 6 wakes a producer that the provisional cursor held back: multi mode, 8 events in
	 * a ring of 8, a forked producer publishing a ninth waits for room behind the provisional
	 * cursor 0 until step 6 stores the count */
	const char *mname = shm_name("start2-wake");
	rw_config mcfg = config(8, RW_MODE_MULTI, 2);
	CHECK_RC(rw_segment_create_shm(mname, &mcfg, &seg, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(p, ev, 8, 0, &err), RW_OK, err);
	wake_name = mname;
	wake_seg = seg;
	wake_child = 0;
	wake_blocked = 0;
	rw_test.registration = producer_waits_at_step4;
	rw_consumer *w = NULL;
	CHECK_RC(rw_consumer_register(seg, "w", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &w, &err), RW_OK, err);
	rw_test.registration = NULL;
	CHECK(wake_blocked || !KERNEL_BLOCKS,
	      "the producer waits for room behind the provisional cursor");
	int st = reap(wake_child);
	took = rw_monotonic_ns() - wake_t0;
	CHECK(st == 0 && w->next == 8, "the producer published (status %d), w starts at 8 (%llu)", st,
	      (unsigned long long)w->next);
	CHECK(took < 2000000000ull, "woken by step 6 after %llu ms",
	      (unsigned long long)(took / 1000000));
	rw_consumer_close(w);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	shm_unlink(mname);
}

/* ---- registration rules of the 18df1da revision (5.7) ------------------------------------------ */

static int busy_rounds;
/* After each takeover's owner CAS, a peer changes the entry's generation (as an eviction and a
 * new claim would): the taker's state CAS fails and it starts again at step 1. */
static void bump_generation(rw_entry *e, int step)
{
	if (step != 1)
		return;
	busy_rounds++;
	atomic_fetch_add(&e->state, 1u << 8);
}

/* 5.7 step 6 and taking over: dependencies must be active, required and started (an optional one
 * is refused at once, even while it is starting); a taker going on from step 6 never lowers a
 * start its dead owner stored (F3); takeover restarts are bounded and then fail with
 * RW_ERR_BUSY. */
void test_registration_rules(void)
{
	rw_error err;
	rw_code rc;
	rw_segment *seg = NULL;
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	uint8_t *img = heap_segment(&cfg, &seg);
	uint64_t me = rw_self_identity();
	rw_producer *p = NULL;
	rc = rw_producer_register(seg, &p, &err);
	CHECK_RC(rc, RW_OK, err);
	uint8_t ev[EV_SIZE * 8] = {0};
	rc = rw_producer_publish(p, ev, 8, 0, &err);
	CHECK_RC(rc, RW_OK, err);
	rc = rw_producer_publish(p, ev, 2, 0, &err);
	CHECK_RC(rc, RW_OK, err); /* nobody gates yet: 10 events */

	/* an optional dependency still starting (live owner): refused at once, not waited for */
	rw_entry *eo = fake_entry(seg, 0, "opt", RW_FLAG_STARTING, 4, me,
				  rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_consumer *s = NULL;
	uint64_t t0 = rw_monotonic_ns();
	rc = rw_consumer_register(seg, "s", RW_FLAG_REQUIRED, 1ull << 0, RW_START_LATEST, &s, &err);
	CHECK_RC(rc, RW_ERR_INVALID_ARG, err);
	rw_entry *es = rw_entry_at(seg, 1); /* the entry it took: the first free one */
	CHECK(rw_monotonic_ns() - t0 < 1000000000ull && strstr(err.message, "optional") &&
		      rw_state_value(atomic_load(&es->state)) == RW_ENTRY_CLOSED &&
		      atomic_load(&es->owner) == 0 && s == NULL && es->name_len == 1,
	      "optional starting dependency refused at once, entry 1 given up: %s", err.message);
	/* started, still optional: refused; an optional consumer may not be read behind either */
	atomic_store(&eo->flags, 0);
	rc = rw_consumer_register(seg, "s", 0, 1ull << 0, RW_START_OLDEST, &s, &err);
	CHECK_RC(rc, RW_ERR_INVALID_ARG, err);
	CHECK(s == NULL && strstr(err.message, "optional"), "optional dependency refused: %s",
	      err.message);
	/* required and started: followed */
	atomic_store(&eo->flags, RW_FLAG_REQUIRED);
	rc = rw_consumer_register(seg, "s", RW_FLAG_REQUIRED, 1ull << 0, RW_START_LATEST, &s, &err);
	CHECK_RC(rc, RW_OK, err);
	CHECK(s->next == 4, "behind a required dependency at 4: next %llu", (unsigned long long)s->next);
	rw_consumer_close(s);
	atomic_store(&eo->state, rw_state_word(RW_ENTRY_CLOSED, 1));
	atomic_store(&eo->owner, 0);

	/* F3: an owner that died during step 6 after storing its start 6 (bit 1 still set); with a
	 * ready required entry at 3, its taker (oldest: min(10, 3) = 3) keeps 6 */
	uint32_t dead = dead_pid();
	fake_entry(seg, 1, "y", RW_FLAG_REQUIRED, 3, me, rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_entry *ek = fake_entry(seg, 2, "k", RW_FLAG_REQUIRED | RW_FLAG_STARTING, 6,
				  rw_owner_identity(dead, 0), rw_state_word(RW_ENTRY_ACTIVE, 1));
	rw_consumer *k = NULL;
	rc = rw_consumer_register(seg, "k", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &k, &err);
	CHECK_RC(rc, RW_OK, err);
	CHECK(k->taken_over && k->index == 2 && k->next == 6 && atomic_load(&ek->cursor) == 6 &&
		      rw_entry_flags(ek) == RW_FLAG_REQUIRED,
	      "taker from step 6 keeps the dead owner's start 6 (next %llu, cursor %llu)",
	      (unsigned long long)k->next, (unsigned long long)atomic_load(&ek->cursor));
	rw_consumer_close(k);

	/* takeover restarts are bounded: every state CAS fails, 16 rounds, then RW_ERR_BUSY */
	rw_entry *eb = fake_entry(seg, 3, "busy", RW_FLAG_REQUIRED, 0, rw_owner_identity(dead, 0),
				  rw_state_word(RW_ENTRY_ACTIVE, 1));
	busy_rounds = 0;
	rw_test.takeover = bump_generation;
	rw_consumer *b = NULL;
	rc = rw_consumer_register(seg, "busy", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &b, &err);
	CHECK_RC(rc, RW_ERR_BUSY, err);
	rw_test.takeover = NULL;
	CHECK(busy_rounds == 16 && b == NULL && atomic_load(&eb->owner) == 0 &&
		      rw_state_value(atomic_load(&eb->state)) == RW_ENTRY_ACTIVE,
	      "busy after %d rounds, the owner word given back each time: %s", busy_rounds,
	      err.message);
	CHECK(strcmp(rw_code_name(RW_ERR_BUSY), "registry_busy") == 0, "code name %s",
	      rw_code_name(RW_ERR_BUSY));
	/* once the registry is quiet the name is taken over */
	rc = rw_consumer_register(seg, "busy", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &b, &err);
	CHECK_RC(rc, RW_OK, err);
	CHECK(b->taken_over && b->index == 3, "taken over once quiet (entry %u)", b->index);
	rw_consumer_close(b);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	free(img);
}