/* tests/liveness.c - process identity, dead producers, heartbeats and stalls (spec 5.5 step 4, 8). */
#include "harness.h"

/* ---- processes --------------------------------------------------------------------------------- */

static int child_exit_now(void *arg)
{
	(void)arg;
	return 0;
}

#ifdef __linux__
static int child_renamed_start_time(void *arg)
{
	(void)arg;
	uint64_t before = rw_process_start_time(getpid());
	prctl(PR_SET_NAME, "a) b c ) 9 9", 0, 0, 0);
	uint64_t after = rw_process_start_time(getpid());
	return before != 0 && before == after ? 0 : 1;
}
#endif

static uint32_t kills_of_nobody;
static void count_kill(uint32_t pid)
{
	if (pid == 0 || pid >= 0x80000000u)
		kills_of_nobody++;
}

void test_processes(void)
{
	uint64_t st = rw_process_start_time(getpid());
#ifdef __linux__
	CHECK(st != 0, "own start time known on Linux");
	CHECK(reap(spawn(child_renamed_start_time, NULL)) == 0,
	      "field 22 counted after the last ')' of a comm holding ')' and spaces");
#endif
	CHECK(rw_process_start_time(getpid()) == st, "stable");
	CHECK(!rw_process_dead((uint32_t)getpid(), st), "self alive");
	if (st)
		CHECK(rw_process_dead((uint32_t)getpid(), st + 1), "pid reused = dead");
	pid_t child = spawn(child_exit_now, NULL);
	CHECK(reap(child) == 0, "child exited");
	CHECK(rw_process_dead((uint32_t)child, 0), "reaped child is dead");
	CHECK(rw_process_dead(0, 0), "pid 0 is nobody");
	/* spec 8: a pid of 2^31 or more names no process and is never passed to kill (as pid_t,
	 * 0xFFFFFFFF is -1: kill(-1, 0) would succeed and read as alive) */
	rw_test.before_kill = count_kill;
	CHECK(rw_process_dead(0x80000000u, 0) && rw_process_dead(0xFFFFFFFFu, 0) &&
		      rw_owner_dead(rw_owner_identity(0xFFFFFFFFu, 0)) && rw_owner_dead(0) &&
		      rw_process_dead(0, 0),
	      "pids >= 2^31 and 0 are dead");
	rw_test.before_kill = NULL;
	CHECK(kills_of_nobody == 0, "%u of them were passed to kill", kills_of_nobody);
	/* a zombie (exited, not yet reaped) is dead, though kill(pid, 0) still succeeds */
	child = spawn(child_exit_now, NULL);
	int zombie = 0;
	for (int i = 0; i < 2000 && !zombie; i++) {
		char path[64], buf[256];
		snprintf(path, sizeof path, "/proc/%ld/stat", (long)child);
		FILE *f = fopen(path, "r");
		if (f && fgets(buf, sizeof buf, f) && strstr(buf, ") Z "))
			zombie = 1;
		if (f)
			fclose(f);
		if (!zombie)
			sleep_ms(1);
	}
#ifdef __linux__
	CHECK(zombie && kill(child, 0) == 0, "the child is a zombie");
#endif
	CHECK(rw_process_dead((uint32_t)child, 0) &&
		      rw_owner_dead(rw_owner_identity((uint32_t)child, 0)),
	      "a zombie is dead");
	CHECK(reap(child) == 0, "zombie reaped");
	/* owner identities compare start times modulo 2^32; 0 is unknown and compares equal */
	uint64_t me = rw_self_identity();
	CHECK(!rw_owner_dead(me) && !rw_owner_dead(rw_owner_identity((uint32_t)getpid(), 0)),
	      "self alive, also with an unknown start time");
	if (st)
		CHECK(rw_owner_dead(rw_owner_identity((uint32_t)getpid(), st + 1)) &&
			      !rw_owner_dead(rw_owner_identity((uint32_t)getpid(),
							       st + (1ull << 32))),
		      "owner start times compared modulo 2^32");
	uint64_t a = rw_monotonic_ns();
	sleep_ms(2);
	CHECK(rw_monotonic_ns() - a >= 2000000ull, "monotonic clock moves");
}

/* ---- dead producers (spec 5.5 step 4, 8) ----------------------------------------------------------- */

struct creator_arg {
	const char *name;
	uint32_t mode;
	int fd;
};

/* Creates the segment, reports; when told, publishes events 0 and 1 (single mode) and reports
 * again; then hangs until killed. */
static int child_create_and_hang(void *argp)
{
	struct creator_arg *a = argp;
	rw_segment *seg = NULL;
	rw_config cfg = config(8, a->mode, 2);
	if (rw_segment_create_shm(a->name, &cfg, &seg, NULL) != RW_OK)
		return 90;
	rw_producer *p = NULL;
	if (rw_producer_register(seg, &p, NULL) != RW_OK)
		return 91;
	char b;
	if (write(a->fd, "c", 1) != 1 || read(a->fd, &b, 1) != 1)
		return 92;
	uint8_t ev[EV_SIZE];
	for (uint64_t k = 0; a->mode == RW_MODE_SINGLE && k < 2; k++) {
		ev_make(ev, k, 0);
		rw_producer_publish(p, ev, 1, 0, NULL);
	}
	if (write(a->fd, "d", 1) != 1)
		return 92;
	for (;;)
		pause();
}

/* Attaches a producer, publishes one event (producer 1), reports, and hangs until killed. */
static int child_attach_and_hang(void *argp)
{
	struct creator_arg *a = argp;
	rw_segment *seg = NULL;
	rw_producer *p = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_producer_register(seg, &p, NULL) != RW_OK)
		return 93;
	uint8_t ev[EV_SIZE];
	ev_make(ev, 0, 1);
	if (rw_producer_publish(p, ev, 1, 1000, NULL) != RW_OK || write(a->fd, "a", 1) != 1)
		return 94;
	for (;;)
		pause();
}

/* Attaches a producer and stops for good between 5.4 attach steps 2 and 3: it holds an entry
 * (its owner word) that is not active. */
static int half_fd = -1;
static void hang_in_attach(rw_producer_entry *e, int step)
{
	(void)e;
	if (step != 2)
		return;
	if (write(half_fd, "h", 1) != 1)
		_exit(95);
	for (;;)
		pause();
}

static int child_attach_halfway(void *argp)
{
	struct creator_arg *a = argp;
	rw_segment *seg = NULL;
	rw_producer *p = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 96;
	half_fd = a->fd;
	rw_test.producer_attach = hang_in_attach;
	rw_producer_register(seg, &p, NULL);
	return write(half_fd, "x", 1) == 1 ? 97 : 98; /* never reached the step */
}

void test_producer_dead(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	uint8_t ev[EV_SIZE * 4];
	uint32_t got;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	char b;
	/* single mode: the creator is kill -9'ed (and left a zombie, unreaped): a waiting consumer
	 * stops with "producer dead" naming its pid instead of waiting out its timeout */
	const char *n1 = shm_name("dead1");
	struct creator_arg ca = {n1, RW_MODE_SINGLE, sv[1]};
	pid_t creator = spawn(child_create_and_hang, &ca);
	CHECK(read(sv[0], &b, 1) == 1, "creator up");
	CHECK_RC(rw_segment_attach_shm(n1, &ev_type, 5000, &seg, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK, err);
	CHECK(write(sv[0], "p", 1) == 1 && read(sv[0], &b, 1) == 1, "creator published");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 2, "read what the creator published");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 700, &err), RW_ERR_TIMEOUT, err);
	CHECK(kill(creator, SIGKILL) == 0, "kill -9 the creator");
	uint64_t t0 = rw_monotonic_ns();
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 10000, &err), RW_ERR_PRODUCER_DEAD, err);
	char pid_text[32];
	snprintf(pid_text, sizeof pid_text, "pid %ld", (long)creator);
	CHECK(strstr(err.message, pid_text) != NULL, "message names the creator: %s", err.message);
	CHECK(rw_monotonic_ns() - t0 < 3000000000ull, "noticed within the liveness period");
	CHECK(reap(creator) == 128 + SIGKILL, "creator reaped");
	rw_consumer_close(c);
	rw_segment_close(seg);
	shm_unlink(n1);

	/* multi mode: with the creator dead but an attached producer alive the consumer keeps
	 * waiting; so it does while a producer stopped between attach steps 2 and 3 lives, whose
	 * entry is not active (the owner of every producer entry counts, whatever its state); once
	 * that one is dead too, it stops. Producers are checked every 100 ms here. */
	rw_test.liveness_period_ns = 100000000ull;
	const char *n2 = shm_name("dead2");
	struct creator_arg mca = {n2, RW_MODE_MULTI, sv[1]};
	creator = spawn(child_create_and_hang, &mca);
	CHECK(read(sv[0], &b, 1) == 1, "multi creator up");
	CHECK_RC(rw_segment_attach_shm(n2, &ev_type, 5000, &seg, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK, err);
	CHECK(write(sv[0], "p", 1) == 1 && read(sv[0], &b, 1) == 1, "multi creator ready");
	pid_t attacher = spawn(child_attach_and_hang, &mca);
	CHECK(read(sv[0], &b, 1) == 1, "attacher published");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 1000, &err), RW_OK, err);
	CHECK(got == 1 && ev_check(ev, 0, 1) == 0, "the attacher's event");
	CHECK(kill(creator, SIGKILL) == 0 && reap(creator) == 128 + SIGKILL, "creator killed");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 600, &err), RW_ERR_TIMEOUT, err);
	pid_t half = spawn(child_attach_halfway, &mca);
	CHECK(read(sv[0], &b, 1) == 1 && b == 'h', "a producer stopped between attach steps 2 and 3");
	int held = 0;
	for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
		rw_producer_entry *pe = rw_producer_entry_at(seg, i);
		if (rw_owner_pid(atomic_load(&pe->owner)) == (uint32_t)half)
			held = rw_state_value(atomic_load(&pe->state)) != RW_PRODUCER_ACTIVE;
	}
	CHECK(held, "it holds a producer entry that is not active");
	CHECK(kill(attacher, SIGKILL) == 0 && reap(attacher) == 128 + SIGKILL, "attacher killed");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 600, &err), RW_ERR_TIMEOUT, err);
	CHECK(kill(half, SIGKILL) == 0, "kill -9 the half-attached producer");
	t0 = rw_monotonic_ns();
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 10000, &err), RW_ERR_PRODUCER_DEAD, err);
	CHECK(rw_monotonic_ns() - t0 < 3000000000ull, "noticed within the liveness period");
	CHECK(reap(half) == 128 + SIGKILL, "half-attached producer reaped");
	rw_test.liveness_period_ns = 0;
	rw_consumer_close(c);
	rw_segment_close(seg);
	shm_unlink(n2);
	close(sv[0]);
	close(sv[1]);
}

/* ---- heartbeats and stalls (spec 8) ---------------------------------------------------------------- */

/* Attaches a producer to a full multi ring and waits 2.5 s for room that never comes. */
static int child_wait_room(void *name)
{
	rw_segment *seg = NULL;
	rw_producer *p = NULL;
	if (rw_segment_attach_shm(name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_producer_register(seg, &p, NULL) != RW_OK)
		return 100;
	uint8_t ev[EV_SIZE];
	ev_make(ev, 0, 1);
	rw_code rc = rw_producer_publish(p, ev, 1, 2500, NULL);
	rw_producer_close(p, 0, NULL);
	return rc == RW_ERR_TIMEOUT ? 0 : 101;
}

/* Registers and waits 2.5 s for an event that never comes. */
static int child_wait_events(void *name)
{
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_consumer_register(seg, "idle", 0, 0, RW_START_LATEST, &c, NULL) != RW_OK)
		return 102;
	uint8_t ev[EV_SIZE];
	uint32_t got;
	rw_code rc = rw_consumer_consume(c, ev, 1, &got, 2500, NULL);
	rw_consumer_close(c);
	return rc == RW_ERR_TIMEOUT ? 0 : 103;
}

void test_heartbeats(void)
{
	rw_error err;
	rw_segment *seg = NULL;
	const char *name = shm_name("heartbeat");
	rw_config cfg = config(4, RW_MODE_MULTI, 3);
	cfg.producer_capacity = 2;
	CHECK_RC(rw_segment_create_shm(name, &cfg, &seg, &err), RW_OK, err);
	rw_producer *cr = NULL;
	CHECK_RC(rw_producer_register(seg, &cr, &err), RW_OK, err);
	rw_consumer *gate = NULL;
	CHECK_RC(rw_consumer_register(seg, "gate", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &gate, &err), RW_OK,
		 err);
	uint8_t ev[EV_SIZE * 4];
	for (int k = 0; k < 4; k++)
		ev_make(ev + k * EV_SIZE, (uint64_t)k, 0);
	CHECK_RC(rw_producer_publish(cr, ev, 4, 0, &err), RW_OK, err); /* full */
	pid_t prod = spawn(child_wait_room, (void *)name);
	pid_t cons = spawn(child_wait_events, (void *)name);
	CHECK(wait_active(seg, 2, 5000), "idle consumer registered");
	rw_producer_entry *pe = rw_producer_entry_at(seg, 1);
	rw_entry *idle = entry_named(seg, "idle");
	uint64_t worst_p = 0, worst_h = 0, worst_c = 0;
	sleep_ms(300);
	for (int i = 0; i < 18; i++) { /* 1.8 s of samples, while both wait */
		uint64_t now = rw_monotonic_ns();
		uint64_t hp = atomic_load(&pe->heartbeat_ns), hh = atomic_load(&seg->hdr->producer_heartbeat_ns);
		uint64_t hc = idle ? atomic_load(&idle->heartbeat_ns) : 0;
		if (now - hp > worst_p)
			worst_p = now - hp;
		if (now - hh > worst_h)
			worst_h = now - hh;
		if (now - hc > worst_c)
			worst_c = now - hc;
		sleep_ms(100);
	}
	CHECK(worst_p < 1000000000ull && worst_h < 1000000000ull,
	      "a producer waiting for room refreshes its heartbeats (oldest %llu / %llu ms)",
	      (unsigned long long)(worst_p / 1000000), (unsigned long long)(worst_h / 1000000));
	CHECK(worst_c < 1000000000ull,
	      "a consumer waiting for events refreshes its heartbeat (oldest %llu ms)",
	      (unsigned long long)(worst_c / 1000000));
	CHECK(reap(prod) == 0 && reap(cons) == 0, "both waits timed out");
	rw_consumer_close(gate);
	rw_producer_close(cr, 0, NULL);
	rw_segment_close(seg);
	shm_unlink(name);
}

void test_stalled(void)
{
	rw_error err;
	rw_config cfg = config(8, RW_MODE_SINGLE, 4);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_consumer *slow = NULL, *busy = NULL, *opt = NULL;
	CHECK_RC(rw_consumer_register(seg, "slow", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &slow, &err), RW_OK,
		 err);
	CHECK_RC(rw_consumer_register(seg, "busy", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &busy, &err), RW_OK,
		 err);
	CHECK_RC(rw_consumer_register(seg, "opt", 0, 0, RW_START_LATEST, &opt, &err), RW_OK, err);
	rw_stall_watch w;
	memset(&w, 0, sizeof w);
	uint32_t n = 99;
	/* spec 8: a stall timeout is at least 5 s */
	CHECK_RC(rw_segment_evict_stalled(seg, &w, 4999, &n, &err), RW_ERR_INVALID_ARG, err);
	CHECK_RC(rw_segment_evict_stalled(seg, &w, 5000, &n, &err), RW_OK, err);
	CHECK(n == 0 && w.since_ns[slow->index] != 0, "first look: nothing stalled yet");
	/* 6 s later (played on the watch and the heartbeats): slow's cursor did not move and its
	 * heartbeat is old; busy's cursor did not move either, but its heartbeat is fresh */
	uint64_t six = 6000000000ull;
	for (uint32_t i = 0; i < 3; i++)
		w.since_ns[i] -= six;
	atomic_store(&slow->entry->heartbeat_ns, rw_monotonic_ns() - six);
	atomic_store(&opt->entry->heartbeat_ns, rw_monotonic_ns() - six);
	rw_consumer_heartbeat(busy);
	CHECK_RC(rw_segment_evict_stalled(seg, &w, 5000, &n, &err), RW_OK, err);
	CHECK(n == 1 && rw_consumer_check_owner(slow) == RW_ERR_EVICTED && rw_consumer_check_owner(busy) == RW_OK &&
		      rw_consumer_check_owner(opt) == RW_OK,
	      "only the stalled required consumer evicted (%u)", n);
	/* a cursor that moved restarts the clock */
	atomic_store(&busy->entry->heartbeat_ns, rw_monotonic_ns() - six);
	w.since_ns[busy->index] -= six;
	rw_consumer_release(busy, 0); /* same cursor: still stalled ... */
	atomic_store(&busy->entry->cursor, 1); /* ... unless it moved */
	CHECK_RC(rw_segment_evict_stalled(seg, &w, 5000, &n, &err), RW_OK, err);
	CHECK(n == 0 && rw_consumer_check_owner(busy) == RW_OK, "a moved cursor is not stalled");
	/* a dead owner is evicted at once */
	atomic_store(&busy->entry->owner, rw_owner_identity(dead_pid(), 0));
	CHECK_RC(rw_segment_evict_stalled(seg, &w, 5000, &n, &err), RW_OK, err);
	CHECK(n == 1 && rw_state_value(atomic_load(&busy->entry->state)) == RW_ENTRY_EVICTED,
	      "dead owner evicted");
	rw_consumer_close(opt);
	rw_consumer_close(busy);
	rw_consumer_close(slow);
	rw_segment_close(seg);
	free(img);
}