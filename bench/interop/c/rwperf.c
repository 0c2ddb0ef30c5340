/* rwperf: produce or consume N 64-byte events over a named ringwire segment, for the
 * cross-language throughput benchmarks of bench/crossproc.go, or bounce events between two rings
 * for the latency benchmark of bench/latency.go.
 *
 *   rwperf produce --name /NAME --events N [--batch B] [--capacity C] [--cpu K]
 *   rwperf consume --name /NAME --events N [--cpu K]
 *   rwperf ping --name /THERE --back /BACK --events N --warmup W [--cpu K]
 *   rwperf pong --name /THERE --back /BACK --events M [--cpu K]
 *   rwperf consume-framed --name /NAME --events N [--cpu K]
 *   rwperf consume-fixed --name /NAME --events N [--cpu K]
 *
 * ping creates /THERE (capacity 64), registers on /BACK, and W + N times publishes sequence i and
 * busy-spins for pong's reply, reading CLOCK_MONOTONIC once per round trip; it prints one JSON
 * line {"samples":N,"p50_ns":..,"p99_ns":..,"p999_ns":..,"max_ns":..,"mean_ns":..} of one-way
 * latency (round trip / 2, nearest rank over the N measured round trips). pong creates /BACK,
 * registers on /THERE and echoes M events.
 *
 * The event is bench.Event64 of the Go benchmarks: descriptor struct{u64@0,[56]u8@8}:64:8, the
 * sequence in the first 8 bytes (little-endian on every supported host). The producer creates the
 * segment (single-producer mode), waits until one consumer is registered, then writes only the
 * sequence word of each event; the consumer checks that event s holds s. Both busy-spin on the
 * ring's cursors (the library's own waits yield and block; a benchmark beside Go's BusySpin must
 * not), so rw_producer_claim and rw_consumer_available never wait here.
 *
 * consume-framed and consume-fixed are the C consumers of the framed group (bench/framedrows.go):
 * N variable-length messages from a Go producer, through a framed ring (read in place with
 * rw_consumer_read_messages) or a ring of bench.fixedMessage events (descriptor FIXED_DESCRIPTOR:
 * a u32 length, a u32 pad, 512 bytes of room; read in place, `length` bytes each). Every byte of
 * every message goes into the checksum of bench/messages.go (msg_sum and fold below), which they
 * print with the count and payload bytes for the harness to check.
 *
 * Each prints one JSON line: {"lang":"c","role":..., "events":N, "start_ns":..., "end_ns":...,
 * "seconds":...} with CLOCK_MONOTONIC times, so the harness can take the consumer's end minus the
 * producer's start (the message consumers add "bytes" and "checksum"). Exit status 1 on any
 * failure (including a wrong sequence), 64 on bad flags. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringwire_layout.h" /* the producer reads the consumer entry's cursor itself */

#define DESCRIPTOR "struct{u64@0,[56]u8@8}:64:8"
#define FIXED_DESCRIPTOR "struct{u32@0,u32@4,[512]u8@8}:520:4"
#define FIXED_SIZE 520u
#define FIXED_PAYLOAD 8u   /* offset of the payload in the event */
#define FIXED_ROOM 512u    /* its room: the largest message */

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		perror("rwperf: sched_setaffinity");
}

/* The bench segment's config: bench.Event64 events, single producer, 4 registry entries. */
static rw_config bench_config(uint64_t capacity)
{
	rw_config cfg;
	rw_config_init(&cfg);
	cfg.capacity = capacity;
	cfg.mode = RW_MODE_SINGLE;
	cfg.registry_capacity = 4;
	cfg.type = (rw_event_type){.event_size = 64, .event_align = 8,
				   .fingerprint = rw_type_fingerprint(DESCRIPTOR),
				   .name = "bench.Event64"};
	return cfg;
}

static void die(const char *what, const rw_error *err)
{
	fprintf(stderr, "rwperf: %s: %s\n", what, err->message[0] ? err->message : rw_strerror(err->code));
	exit(1);
}

static void report(const char *role, uint64_t n, uint64_t start, uint64_t end, uint32_t batch)
{
	printf("{\"lang\":\"c\",\"role\":\"%s\",\"events\":%llu,\"batch\":%u,\"start_ns\":%llu,"
	       "\"end_ns\":%llu,\"seconds\":%.9f}\n",
	       role, (unsigned long long)n, batch, (unsigned long long)start, (unsigned long long)end,
	       (double)(end - start) / 1e9);
	fflush(stdout);
}

static int produce(const char *name, uint64_t n, uint32_t batch, uint64_t capacity)
{
	rw_error err = {0};
	rw_config cfg = bench_config(capacity);
	rw_segment *seg = NULL;
	if (rw_segment_create_shm(name, &cfg, &seg, &err) != RW_OK)
		die("create", &err);
	rw_producer *p = NULL;
	if (rw_producer_register(seg, &p, &err) != RW_OK)
		die("producer", &err);
	rw_producer_poll_only(p); /* it busy-spins: not a blocker, so wakers take the fast path */
	/* Wait for the consumer: it starts at the latest event. */
	uint64_t deadline = rw_monotonic_ns() + 10000000000ull;
	while (rw_segment_active_count(seg) == 0) {
		if (rw_monotonic_ns() > deadline) {
			fprintf(stderr, "rwperf: no consumer registered\n");
			rw_segment_unlink_shm(name);
			return 1;
		}
		sched_yield();
	}
	rw_entry *cons = NULL;
	for (uint32_t i = 0; i < rw_segment_registry_capacity(seg); i++)
		if (rw_state_value(rw_entry_state_word(rw_segment_entry(seg, i))) == RW_ENTRY_ACTIVE)
			cons = rw_segment_entry(seg, i);
	uint64_t bound = 0;
	uint8_t *const slots = rw_segment_slot(seg, 0);
	const uint64_t mask = rw_segment_capacity(seg) - 1, slot_size = rw_segment_slot_size(seg);
	uint64_t start = rw_monotonic_ns();
	for (uint64_t i = 0; i < n;) {
		uint32_t k = (uint32_t)(n - i < batch ? n - i : batch);
		while (i + k > bound + capacity) /* busy-spin for room */
			bound = rw_entry_cursor(cons);
		uint64_t first;
		if (rw_producer_claim(p, k, -1, &first, &err) != RW_OK)
			die("claim", &err);
		/* The geometry in locals: through seg, every slot write (a char store that may alias
		 * anything) would reload it. */
		for (uint32_t j = 0; j < k; j++) {
			uint64_t s = first + j;
			memcpy(slots + (s & mask) * slot_size, &s, 8);
		}
		rw_producer_publish_claim(p);
		i += k;
	}
	uint64_t end = rw_monotonic_ns();
	if (rw_producer_close(p, 5000, &err) != RW_OK)
		die("close", &err);
	report("producer", n, start, end, batch);
	/* The harness removes the name after the consumer has finished; unlinking here is safe too
	 * (the consumer keeps its mapping) and leaves nothing behind if the harness dies. */
	rw_segment_close(seg);
	rw_segment_unlink_shm(name);
	return 0;
}

static int consume(const char *name, uint64_t n)
{
	rw_error err = {0};
	rw_event_type want = {.event_size = 64, .event_align = 8,
			      .fingerprint = rw_type_fingerprint(DESCRIPTOR)};
	rw_segment *seg = NULL;
	if (rw_segment_attach_shm(name, &want, 10000, &seg, &err) != RW_OK)
		die("attach", &err);
	rw_consumer *c = NULL;
	if (rw_consumer_register(seg, "bench", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err) != RW_OK)
		die("register", &err);
	rw_consumer_poll_only(c); /* it busy-spins: not a blocker (spec 5.6) */
	uint64_t start = 0, next = rw_consumer_next(c);
	/* the geometry in locals, as in produce */
	const uint8_t *const slots = rw_segment_slot(seg, 0);
	const uint64_t mask = rw_segment_capacity(seg) - 1, slot_size = rw_segment_slot_size(seg);
	uint64_t base = next;
	while (next < base + n) {
		uint64_t hi;
		while ((hi = rw_consumer_available(c, UINT64_MAX / 2)) <= next) /* busy-spin for events */
			;
		if (start == 0)
			start = rw_monotonic_ns();
		for (uint64_t s = next; s < hi; s++) {
			uint64_t v;
			memcpy(&v, slots + (s & mask) * slot_size, 8);
			if (v != s) {
				fprintf(stderr, "rwperf: event %llu holds %llu\n", (unsigned long long)s,
					(unsigned long long)v);
				rw_consumer_close(c);
				rw_segment_close(seg);
				return 1;
			}
		}
		rw_consumer_release(c, hi);
		next = hi;
	}
	uint64_t end = rw_monotonic_ns();
	report("consumer", n, start, end, 0);
	rw_consumer_close(c);
	rw_segment_close(seg);
	return 0;
}

/* One ring of the ping-pong: created here as its producer, capacity 64. */
static void pp_create(const char *name, rw_segment **seg, rw_producer **p)
{
	rw_error err = {0};
	rw_config cfg = bench_config(64);
	if (rw_segment_create_shm(name, &cfg, seg, &err) != RW_OK)
		die("create", &err);
	if (rw_producer_register(*seg, p, &err) != RW_OK)
		die("producer", &err);
	rw_producer_poll_only(*p);
}

/* The other ring: attached (waiting up to 10 s) and registered on as consumer `who`. */
static void pp_attach(const char *name, const char *who, rw_segment **seg, rw_consumer **c)
{
	rw_error err = {0};
	rw_event_type want = {.event_size = 64, .event_align = 8,
			      .fingerprint = rw_type_fingerprint(DESCRIPTOR)};
	if (rw_segment_attach_shm(name, &want, 10000, seg, &err) != RW_OK)
		die("attach", &err);
	if (rw_consumer_register(*seg, who, RW_FLAG_REQUIRED, 0, RW_START_LATEST, c, &err) != RW_OK)
		die("register", &err);
	rw_consumer_poll_only(*c);
}

/* Leaves both rings: deregisters from the other's, ends this side's stream and removes its name. */
static void pp_close(rw_producer *p, rw_segment *out_seg, const char *name, rw_consumer *c,
		     rw_segment *in_seg)
{
	rw_error err = {0};
	rw_consumer_close(c);
	rw_segment_close(in_seg);
	rw_producer_close(p, 1000, &err);
	rw_segment_close(out_seg);
	rw_segment_unlink_shm(name);
}

static void pp_await_consumer(const rw_segment *seg, const char *name)
{
	uint64_t deadline = rw_monotonic_ns() + 10000000000ull;
	while (rw_segment_active_count(seg) == 0) {
		if (rw_monotonic_ns() > deadline) {
			fprintf(stderr, "rwperf: no consumer registered on %s\n", name);
			rw_segment_unlink_shm(name);
			exit(1);
		}
		sched_yield();
	}
}

/* Publishes one event holding v (the library claim never waits here: one event in flight). */
static void pp_send(rw_producer *p, uint64_t v)
{
	rw_error err = {0};
	uint64_t first;
	if (rw_producer_claim(p, 1, -1, &first, &err) != RW_OK)
		die("claim", &err);
	memcpy(rw_segment_slot(rw_producer_segment(p), first), &v, 8);
	rw_producer_publish_claim(p);
}

/* Busy-spins for the next event and returns its sequence word. */
static uint64_t pp_receive(rw_consumer *c)
{
	/* While polling, also load the next slot's first word (discarded): its cache line then
	 * travels with the cursor's (spec 5.5, note). */
	const rw_segment *seg = rw_consumer_segment(c);
	const uint64_t next = rw_consumer_next(c);
	const volatile uint64_t *next_slot =
		(const volatile uint64_t *)(void *)rw_segment_slot(seg, next);
	while (rw_consumer_available(c, 1) <= next)
		(void)*next_slot;
	uint64_t v;
	memcpy(&v, rw_segment_slot(seg, next), 8);
	rw_consumer_release(c, next + 1);
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int ping(const char *there, const char *back, uint64_t n, uint64_t warmup)
{
	rw_segment *out_seg = NULL, *in_seg = NULL;
	rw_producer *p = NULL;
	rw_consumer *c = NULL;
	pp_create(there, &out_seg, &p);
	pp_attach(back, "ping", &in_seg, &c);
	pp_await_consumer(out_seg, there);
	uint64_t *rtt = malloc(n * sizeof *rtt);
	if (!rtt) {
		fprintf(stderr, "rwperf: out of memory\n");
		return 1;
	}
	uint64_t prev = rw_monotonic_ns();
	for (uint64_t i = 0; i < warmup + n; i++) {
		pp_send(p, i);
		uint64_t v = pp_receive(c);
		uint64_t now = rw_monotonic_ns();
		if (v != i) {
			fprintf(stderr, "rwperf: pong answered %llu to %llu\n", (unsigned long long)v,
				(unsigned long long)i);
			return 1;
		}
		if (i >= warmup)
			rtt[i - warmup] = now - prev;
		prev = now;
	}
	qsort(rtt, n, sizeof *rtt, cmp_u64);
	double sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += (double)rtt[i];
#define RANK(q) rtt[(uint64_t)((q) * (double)(n - 1) + 0.5)]
	printf("{\"samples\":%llu,\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"p999_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"mean_ns\":%.1f}\n",
	       (unsigned long long)n, RANK(0.50) / 2.0, RANK(0.99) / 2.0, RANK(0.999) / 2.0,
	       rtt[n - 1] / 2.0, sum / (double)n / 2.0);
#undef RANK
	fflush(stdout);
	free(rtt);
	pp_close(p, out_seg, there, c, in_seg);
	return 0;
}

static int pong(const char *there, const char *back, uint64_t n)
{
	rw_segment *out_seg = NULL, *in_seg = NULL;
	rw_producer *p = NULL;
	rw_consumer *c = NULL;
	pp_create(back, &out_seg, &p);
	pp_attach(there, "pong", &in_seg, &c);
	pp_await_consumer(out_seg, back);
	for (uint64_t i = 0; i < n; i++)
		pp_send(p, pp_receive(c));
	pp_close(p, out_seg, back, c, in_seg);
	return 0;
}

/* ---- The framed group's consumers ------------------------------------------------------------ */

/* The wrapping sum of the message's little-endian 64-bit words, the last partial word
 * zero-extended: bench/messages.go msgSum, every byte read. */
static inline uint64_t msg_sum(const uint8_t *b, uint32_t n)
{
	uint64_t s0 = 0, s1 = 0, w0, w1;
	uint32_t i = 0;
	for (; i + 16 <= n; i += 16) {
		memcpy(&w0, b + i, 8);
		memcpy(&w1, b + i + 8, 8);
		s0 += w0;
		s1 += w1;
	}
	if (i + 8 <= n) {
		memcpy(&w0, b + i, 8);
		s0 += w0;
		i += 8;
	}
	uint64_t t = 0;
	for (uint32_t j = 0; i < n; i++, j += 8)
		t |= (uint64_t)b[i] << j;
	return s0 + s1 + t;
}

/* The stream checksum after one more message (bench/messages.go fold). */
static inline uint64_t fold(uint64_t c, uint64_t sum, uint32_t n)
{
	return ((c << 7) | (c >> 57)) ^ (sum + n);
}

static void report_messages(uint64_t n, uint64_t bytes, uint64_t sum, uint64_t start, uint64_t end)
{
	printf("{\"lang\":\"c\",\"role\":\"consumer\",\"events\":%llu,\"batch\":0,\"bytes\":%llu,"
	       "\"checksum\":%llu,\"start_ns\":%llu,\"end_ns\":%llu,\"seconds\":%.9f}\n",
	       (unsigned long long)n, (unsigned long long)bytes, (unsigned long long)sum,
	       (unsigned long long)start, (unsigned long long)end, (double)(end - start) / 1e9);
	fflush(stdout);
}

/* Reads n messages of a framed ring in place, batches of up to 256, busy-spinning on the
 * published cursor between batches (so the library's read, called only once something is
 * there, never waits). */
static int consume_framed(const char *name, uint64_t n)
{
	rw_error err = {0};
	rw_segment *seg = NULL;
	if (rw_segment_attach_framed_shm(name, NULL, 10000, &seg, &err) != RW_OK)
		die("attach", &err);
	rw_consumer *c = NULL;
	if (rw_consumer_register(seg, "bench", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err) != RW_OK)
		die("register", &err);
	rw_consumer_poll_only(c);
	static rw_message msgs[256];
	uint64_t start = 0, got = 0, bytes = 0, sum = 0;
	while (got < n) {
		const uint64_t next = rw_consumer_next(c);
		while (rw_consumer_available(c, 1) <= next) /* busy-spin for a message */
			;
		if (start == 0)
			start = rw_monotonic_ns();
		uint32_t k = 0;
		if (rw_consumer_read_messages(c, msgs, 256, &k, -1, &err) != RW_OK)
			die("read", &err);
		for (uint32_t j = 0; j < k; j++) {
			sum = fold(sum, msg_sum(msgs[j].data, msgs[j].len), msgs[j].len);
			bytes += msgs[j].len;
		}
		got += k;
		rw_consumer_release(c, rw_consumer_next(c));
	}
	uint64_t end = rw_monotonic_ns();
	report_messages(got, bytes, sum, start, end);
	rw_consumer_close(c);
	rw_segment_close(seg);
	return 0;
}

/* Reads n fixedMessage events in place as consume does, up to 256 at a time (as every consumer of
 * the framed group), checksumming `length` bytes of each. */
static int consume_fixed(const char *name, uint64_t n)
{
	rw_error err = {0};
	rw_event_type want = {.event_size = FIXED_SIZE, .event_align = 4,
			      .fingerprint = rw_type_fingerprint(FIXED_DESCRIPTOR)};
	rw_segment *seg = NULL;
	if (rw_segment_attach_shm(name, &want, 10000, &seg, &err) != RW_OK)
		die("attach", &err);
	rw_consumer *c = NULL;
	if (rw_consumer_register(seg, "bench", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, &err) != RW_OK)
		die("register", &err);
	rw_consumer_poll_only(c);
	const uint8_t *const slots = rw_segment_slot(seg, 0);
	const uint64_t mask = rw_segment_capacity(seg) - 1, slot_size = rw_segment_slot_size(seg);
	uint64_t start = 0, next = rw_consumer_next(c), bytes = 0, sum = 0;
	const uint64_t base = next;
	while (next < base + n) {
		uint64_t hi;
		uint64_t most = base + n - next < 256 ? base + n - next : 256;
		while ((hi = rw_consumer_available(c, most)) <= next) /* busy-spin */
			;
		if (start == 0)
			start = rw_monotonic_ns();
		for (uint64_t s = next; s < hi; s++) {
			const uint8_t *e = slots + (s & mask) * slot_size;
			uint32_t len;
			memcpy(&len, e, 4);
			if (len > FIXED_ROOM) {
				fprintf(stderr, "rwperf: event %llu: length %u over %u\n",
					(unsigned long long)s, len, FIXED_ROOM);
				rw_consumer_close(c);
				rw_segment_close(seg);
				return 1;
			}
			sum = fold(sum, msg_sum(e + FIXED_PAYLOAD, len), len);
			bytes += len;
		}
		rw_consumer_release(c, hi);
		next = hi;
	}
	uint64_t end = rw_monotonic_ns();
	report_messages(n, bytes, sum, start, end);
	rw_consumer_close(c);
	rw_segment_close(seg);
	return 0;
}

static uint64_t num(const char *s)
{
	char buf[64];
	size_t j = 0;
	for (; *s && j + 1 < sizeof buf; s++)
		if (*s != '_')
			buf[j++] = *s;
	buf[j] = 0;
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	if (*end || j == 0) {
		fprintf(stderr, "rwperf: bad number %s\n", s);
		exit(64);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rwperf produce|consume --name /NAME --events N [--batch B] "
				"[--capacity C] [--cpu K]\n"
				"       rwperf consume-framed|consume-fixed --name /NAME --events N "
				"[--cpu K]\n"
				"       rwperf ping|pong --name /THERE --back /BACK --events N "
				"[--warmup W] [--cpu K]\n");
		return 64;
	}
	const char *role = argv[1], *name = NULL, *back = NULL;
	uint64_t n = 1000000, capacity = 4096, warmup = 0;
	uint32_t batch = 64;
	int cpu = -1;
	for (int i = 2; i < argc; i++) {
		const char *f = argv[i];
		if (i + 1 >= argc) {
			fprintf(stderr, "rwperf: %s needs a value\n", f);
			return 64;
		}
		const char *v = argv[++i];
		if (!strcmp(f, "--name"))
			name = v;
		else if (!strcmp(f, "--events"))
			n = num(v);
		else if (!strcmp(f, "--batch"))
			batch = (uint32_t)num(v);
		else if (!strcmp(f, "--capacity"))
			capacity = num(v);
		else if (!strcmp(f, "--cpu"))
			cpu = (int)num(v);
		else if (!strcmp(f, "--back"))
			back = v;
		else if (!strcmp(f, "--warmup"))
			warmup = num(v);
		else {
			fprintf(stderr, "rwperf: unknown flag %s\n", f);
			return 64;
		}
	}
	if (!name || batch == 0 || batch > capacity || n == 0) {
		fprintf(stderr, "rwperf: need --name, 1 <= batch <= capacity, events > 0\n");
		return 64;
	}
	pin(cpu);
	if (!strcmp(role, "produce"))
		return produce(name, n, batch, capacity);
	if (!strcmp(role, "consume"))
		return consume(name, n);
	if (!strcmp(role, "consume-framed"))
		return consume_framed(name, n);
	if (!strcmp(role, "consume-fixed"))
		return consume_fixed(name, n);
	if ((!strcmp(role, "ping") || !strcmp(role, "pong")) && !back) {
		fprintf(stderr, "rwperf: %s needs --back\n", role);
		return 64;
	}
	if (!strcmp(role, "ping"))
		return ping(name, back, n, warmup);
	if (!strcmp(role, "pong"))
		return pong(name, back, n);
	fprintf(stderr, "rwperf: unknown role %s\n", role);
	return 64;
}
