/*
 * ringwire.c - implementation of ringwire.h. Section numbers refer to spec/LAYOUT.md.
 *
 * Memory ordering. Every atomic in the segment is accessed through C11 atomics with the ordering
 * the spec tables give. The wait/wake handshake of 5.6 is a store-then-load on both sides (the
 * waker stores its cursor then loads the waiters word; the waiter increments the waiters word then
 * re-loads the cursor). Peers that may block in futex are counted in the header's
 * consumer_blockers / producer_blockers (5.6). rw_commit and rw_release load those counts
 * (acquire) first: while a count is 0 they store `published` / `cursor` with a release store and
 * skip that handshake; otherwise the store is seq-cst. The availability words (5.4) and
 * poison_state are release stores, so rw_wake_if_waiting and rw_block_until also put a seq_cst
 * fence between the store and the load. Multi-mode intents (intent_start, intent_end) are
 * seq-cst stores before the seq-cst CAS on claimed; 5.8 loads the intents and then the claimed
 * count, seq-cst.
 */
#define _GNU_SOURCE /* syscall(), futex; harmless elsewhere */
#include "ringwire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

/* ---- Errors ---------------------------------------------------------------------------------- */

static const char *const code_names[RW_ERR_COUNT_] = {
	[RW_OK] = "ok",
	[RW_ERR_TOO_SMALL] = "too_small",
	[RW_ERR_INITIALIZING] = "initializing",
	[RW_ERR_BAD_MAGIC] = "bad_magic",
	[RW_ERR_BAD_STATE] = "bad_state",
	[RW_ERR_VERSION] = "version",
	[RW_ERR_HEADER_LENGTH] = "header_length",
	[RW_ERR_TRUNCATED] = "truncated",
	[RW_ERR_CAPACITY] = "capacity",
	[RW_ERR_SLOT_GEOMETRY] = "slot_geometry",
	[RW_ERR_PRODUCER_MODE] = "producer_mode",
	[RW_ERR_REGISTRY] = "registry",
	[RW_ERR_REGION] = "region",
	[RW_ERR_EVENT_TYPE] = "event_type",
	[RW_ERR_NOT_FOUND] = "not_found",
	[RW_ERR_EXISTS] = "exists",
	[RW_ERR_REGISTRY_FULL] = "registry_full",
	[RW_ERR_DUPLICATE_NAME] = "duplicate_name",
	[RW_ERR_EVICTED] = "evicted",
	[RW_ERR_ENDED] = "ended",
	[RW_ERR_TIMEOUT] = "timeout",
	[RW_ERR_OVERFLOW] = "exhausted",
	[RW_ERR_WRONG_MODE] = "wrong_mode",
	[RW_ERR_INVALID_ARG] = "invalid_argument",
	[RW_ERR_IO] = "io",
	[RW_ERR_PRODUCERS_FULL] = "producer_registry_full",
	[RW_ERR_CLOSED] = "closed",
	[RW_ERR_POISONED] = "poisoned",
	[RW_ERR_GAP] = "gap",
};

static const char *const code_texts[RW_ERR_COUNT_] = {
	[RW_OK] = "ok",
	[RW_ERR_TOO_SMALL] = "too small",
	[RW_ERR_INITIALIZING] = "initializing",
	[RW_ERR_BAD_MAGIC] = "bad magic",
	[RW_ERR_BAD_STATE] = "bad state",
	[RW_ERR_VERSION] = "unsupported version",
	[RW_ERR_HEADER_LENGTH] = "bad header length",
	[RW_ERR_TRUNCATED] = "truncated",
	[RW_ERR_CAPACITY] = "bad capacity",
	[RW_ERR_SLOT_GEOMETRY] = "bad slot geometry",
	[RW_ERR_PRODUCER_MODE] = "bad producer mode",
	[RW_ERR_REGISTRY] = "bad registry",
	[RW_ERR_REGION] = "bad region",
	[RW_ERR_EVENT_TYPE] = "wrong event type",
	[RW_ERR_NOT_FOUND] = "segment not found",
	[RW_ERR_EXISTS] = "segment already exists",
	[RW_ERR_REGISTRY_FULL] = "registry full",
	[RW_ERR_DUPLICATE_NAME] = "consumer name already active",
	[RW_ERR_EVICTED] = "consumer evicted",
	[RW_ERR_ENDED] = "stream ended",
	[RW_ERR_TIMEOUT] = "timeout",
	[RW_ERR_OVERFLOW] = "sequence space exhausted (2^62)",
	[RW_ERR_WRONG_MODE] = "wrong producer mode for this operation",
	[RW_ERR_INVALID_ARG] = "invalid argument",
	[RW_ERR_IO] = "i/o error",
	[RW_ERR_PRODUCERS_FULL] = "producer registry full",
	[RW_ERR_CLOSED] = "closed",
	[RW_ERR_POISONED] = "poisoned",
	[RW_ERR_GAP] = "sequences passed over as gaps",
};

const char *rw_code_name(rw_code code)
{
	return (unsigned)code < RW_ERR_COUNT_ ? code_names[code] : "unknown";
}

const char *rw_strerror(rw_code code)
{
	return (unsigned)code < RW_ERR_COUNT_ ? code_texts[code] : "unknown error";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static rw_code fail(rw_error *err, rw_code code, const char *fmt, ...)
{
	if (err) {
		err->code = code;
		err->sys_errno = 0;
		int n = snprintf(err->message, sizeof err->message, "%s: ", rw_strerror(code));
		if (n < 0 || (size_t)n >= sizeof err->message)
			n = 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

static rw_code fail_sys(rw_error *err, rw_code code, const char *what, int e)
{
	fail(err, code, "%s: %s", what, strerror(e));
	if (err)
		err->sys_errno = e;
	return code;
}

static void ok(rw_error *err)
{
	if (err) {
		err->code = RW_OK;
		err->sys_errno = 0;
		err->message[0] = 0;
	}
}

/* ---- Hashes and names (sections 7 and 9) -------------------------------------------------------- */

uint64_t rw_fnv1a64(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t rw_type_fingerprint(const char *descriptor)
{
	return rw_fnv1a64(descriptor, strlen(descriptor));
}

static int name_byte_allowed(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       b == '.' || b == '_' || b == '-';
}

size_t rw_portable_name(const char *label, size_t label_len, char out[RW_PORTABLE_NAME_MAX])
{
	/* 1. drop leading slashes: S = label[skip:] */
	size_t skip = 0;
	while (skip < label_len && label[skip] == '/')
		skip++;
	const uint8_t *s = (const uint8_t *)label + skip;
	size_t slen = label_len - skip;

	/* 2./3. T is S with disallowed bytes (and a leading dot) mapped to '_'. T == S exactly when
	 * no byte was mapped. Only the first 30 bytes of T are ever needed. */
	int same = 1;
	char t[30];
	for (size_t i = 0; i < slen; i++) {
		uint8_t b = s[i];
		uint8_t m = name_byte_allowed(b) ? b : '_';
		if (i == 0 && m == '.')
			m = '_';
		if (m != b)
			same = 0;
		if (i < sizeof t)
			t[i] = (char)m;
	}
	size_t n = 0;
	out[n++] = '/';
	if (same && slen >= 1 && slen <= 30) {
		memcpy(out + n, t, slen);
		n += slen;
		out[n] = 0;
		return n;
	}
	/* 4. P + "-" + first 10 hex digits of FNV-1a 64 of S */
	size_t plen = slen < 19 ? slen : 19;
	if (plen == 0) {
		out[n++] = 'r';
		out[n++] = 'w';
	} else {
		memcpy(out + n, t, plen);
		n += plen;
	}
	out[n++] = '-';
	uint64_t h = rw_fnv1a64(s, slen);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 10; i++)
		out[n++] = hex[(h >> (60 - 4 * i)) & 0xf];
	out[n] = 0;
	return n;
}

/* ---- Time and processes (section 8) ------------------------------------------------------------ */

uint64_t rw_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

uint64_t rw_process_start_time(pid_t pid)
{
#if defined(__linux__)
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = 0;
	/* comm (field 2) may itself contain ')' and spaces: count fields after the LAST ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* Field 3 (state) is the first token after ')'; field 22 is the 20th. */
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == 0)
			return 0;
		if (field == 22) {
			uint64_t v = 0;
			if (*p < '0' || *p > '9')
				return 0;
			while (*p >= '0' && *p <= '9')
				v = v * 10 + (uint64_t)(*p++ - '0');
			return v;
		}
		while (*p && *p != ' ')
			p++;
	}
	return 0;
#elif defined(__APPLE__)
	struct kinfo_proc kp;
	size_t len = sizeof kp;
	int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
	if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len == 0)
		return 0;
	return (uint64_t)kp.kp_proc.p_starttime.tv_sec * 1000000ull +
	       (uint64_t)kp.kp_proc.p_starttime.tv_usec;
#else
	(void)pid;
	return 0;
#endif
}

int rw_process_dead(uint32_t pid, uint64_t start_time)
{
	if (pid == 0 || pid > (uint32_t)INT_MAX)
		return 1; /* no process can have this pid */
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 1;
	if (start_time != 0) {
		uint64_t now = rw_process_start_time((pid_t)pid);
		if (now != 0 && now != start_time)
			return 1; /* the pid was reused */
	}
	return 0;
}

static uint64_t random_nonzero(void)
{
	uint64_t v = 0;
#if defined(__linux__) || defined(__APPLE__)
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
			v = 0;
		close(fd);
	}
#endif
	if (v == 0) { /* splitmix64 of time and pid */
		uint64_t z = rw_monotonic_ns() ^ realtime_ns() ^ ((uint64_t)getpid() << 32);
		z += 0x9e3779b97f4a7c15ull;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		v = z ^ (z >> 31);
	}
	return v ? v : 1;
}

/* ---- Wait and wake (section 5.6) ------------------------------------------------------------------ */

#ifdef __linux__
/* FUTEX_WAIT / FUTEX_WAKE without FUTEX_PRIVATE_FLAG: the waiters live in other processes. */
static void futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
			      .tv_nsec = (long)(timeout_ns % 1000000000ull)};
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
#endif

/* Waker side (5.3 step 5 / 5.5 step 3). The caller has just stored its cursor; the fence orders
 * that store before the load of the waiters word (pairs with the fence in rw_block_until). Callers
 * on the hot paths (rw_commit, rw_release) call it only when the matching blockers count was
 * nonzero (5.6); the rare ones (close, poisoning, passing over gaps, deregistering, evicting)
 * always do the handshake, which the spec allows. */
static void rw_wake_if_waiting(_Atomic uint32_t *waiters, _Atomic uint32_t *wake)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(waiters, memory_order_seq_cst) != 0) {
		atomic_fetch_add_explicit(wake, 1, memory_order_seq_cst);
#ifdef __linux__
		futex_wake_all(wake);
#endif
	}
}

/* 5.6: a peer that may block in the kernel is counted in a header blockers count from its start
 * to its end. Only Linux blocks in the kernel (futex); elsewhere nothing is counted. Returns the
 * monotonic time of the increment (never 0), or 0 when nothing was counted. */
static uint64_t blocker_add(_Atomic uint32_t *count)
{
#ifdef __linux__
	atomic_fetch_add_explicit(count, 1, memory_order_seq_cst);
	uint64_t now = rw_monotonic_ns();
	return now ? now : 1;
#else
	(void)count;
	return 0;
#endif
}

/* Undoes blocker_add once; *since becomes 0 (later calls do nothing). */
static void blocker_release(_Atomic uint32_t *count, uint64_t *since)
{
	if (*since == 0)
		return;
	*since = 0;
	atomic_fetch_sub_explicit(count, 1, memory_order_seq_cst);
}

typedef int (*rw_cond)(void *arg);

#define RW_WAIT_SLICE_NS 20000000ull  /* re-check at least every 20 ms even without a wake */
#define RW_EARLY_PHASE_NS 100000000ull /* 5.6: for 100 ms after the blockers increment ... */
#define RW_EARLY_SLICE_NS 1000000ull   /* ... every kernel wait is at most 1 ms */

/* Waits until cond(arg) is true or the monotonic deadline passes (UINT64_MAX: never). Yields a
 * few times first. A waiter counted in a blockers count (blocker_since != 0, from blocker_add)
 * then blocks per 5.6 in futex (woken by a wake-word bump; spurious wakeups are re-checked), each
 * wait at most 20 ms, and at most 1 ms during the first 100 ms after blocker_since: a waker that
 * read the count as 0 just before the increment skips the wake, and costs at most that. Any other
 * waiter (not counted, or no futex) sleeps with a bounded backoff, 1 us doubling to 1 ms. */
static rw_code rw_block_until(_Atomic uint32_t *waiters, _Atomic uint32_t *wake, rw_cond cond,
			      void *arg, uint64_t deadline, uint64_t blocker_since)
{
	if (cond(arg))
		return RW_OK;
	for (int i = 0; i < 16; i++) {
		sched_yield();
		if (cond(arg))
			return RW_OK;
	}
	uint64_t backoff = 1000;
	for (;;) {
		uint64_t now = rw_monotonic_ns();
		if (now >= deadline)
			return RW_ERR_TIMEOUT;
		uint64_t slice = deadline - now;
#ifdef __linux__
		if (blocker_since != 0) {
			uint64_t cap = now - blocker_since < RW_EARLY_PHASE_NS ? RW_EARLY_SLICE_NS
									     : RW_WAIT_SLICE_NS;
			if (slice > cap)
				slice = cap;
			atomic_fetch_add_explicit(waiters, 1, memory_order_seq_cst); /* step 1 */
			atomic_thread_fence(memory_order_seq_cst);
			uint32_t w = atomic_load_explicit(wake, memory_order_seq_cst); /* step 2 */
			if (cond(arg)) {                                                /* step 3 */
				atomic_fetch_sub_explicit(waiters, 1, memory_order_seq_cst);
				return RW_OK;
			}
			futex_wait(wake, w, slice); /* step 4 */
			atomic_fetch_sub_explicit(waiters, 1, memory_order_seq_cst);
			if (cond(arg))
				return RW_OK;
			continue;
		}
#else
		(void)waiters, (void)wake, (void)blocker_since;
#endif
		sleep_ns(backoff < slice ? backoff : slice);
		if (backoff < 1000000)
			backoff *= 2;
		if (cond(arg))
			return RW_OK;
	}
}

static uint64_t deadline_after(int64_t timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return rw_monotonic_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* ---- Layout and validation (sections 3, 4, 5.2) ------------------------------------------------ */

static int is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

rw_code rw_layout(const rw_config *cfg, rw_geometry *g, rw_error *err)
{
	const rw_event_type *t = &cfg->type;
	if (!is_pow2(cfg->capacity) || cfg->capacity < RW_MIN_CAPACITY ||
	    cfg->capacity > RW_MAX_CAPACITY)
		return fail(err, RW_ERR_CAPACITY, "capacity %llu", (unsigned long long)cfg->capacity);
	if (t->event_size < 1 || t->event_size > RW_MAX_EVENT_SIZE || !is_pow2(t->event_align) ||
	    t->event_align > RW_MAX_ALIGN || (t->name && strlen(t->name) > RW_MAX_TYPE_NAME))
		return fail(err, RW_ERR_SLOT_GEOMETRY, "event size %u align %u", t->event_size,
			    t->event_align);
	if (cfg->mode != RW_MODE_SINGLE && cfg->mode != RW_MODE_MULTI)
		return fail(err, RW_ERR_PRODUCER_MODE, "mode %u", cfg->mode);
	uint32_t producers = cfg->producer_capacity;
	if (producers == 0)
		producers = cfg->mode == RW_MODE_MULTI ? RW_DEFAULT_MULTI_PRODUCERS : 1;
	if (producers > RW_MAX_PRODUCERS || (cfg->mode == RW_MODE_SINGLE && producers != 1))
		return fail(err, RW_ERR_PRODUCER_MODE,
			    "%u producer entries (single mode has 1, multi mode 1 to 64)", producers);
	if (cfg->registry_capacity < 1 || cfg->registry_capacity > RW_MAX_REGISTRY)
		return fail(err, RW_ERR_REGISTRY, "registry capacity %u", cfg->registry_capacity);

	memset(g, 0, sizeof *g);
	g->version_major = RW_VERSION_MAJOR;
	g->version_minor = RW_VERSION_MINOR;
	g->header_len = RW_HEADER_LEN;
	g->mode = cfg->mode;
	g->capacity = cfg->capacity;
	g->event_size = t->event_size;
	g->event_align = t->event_align;
	g->slot_align = t->event_align;
	g->slot_size = (uint32_t)round_up(t->event_size, t->event_align);
	g->registry_capacity = cfg->registry_capacity;
	g->registry_entry_size = RW_ENTRY_LEN;
	g->producer_capacity = producers;
	g->type_fingerprint = t->fingerprint;
	/* Placement of a version 1.0 creator (spec 4, table "regions"), computed cumulatively. */
	uint64_t off = RW_HEADER_LEN;
	g->cursors = (rw_region){off, RW_CURSORS_LEN};
	off += RW_CURSORS_LEN;
	g->wait = (rw_region){off, RW_WAIT_LEN};
	off += RW_WAIT_LEN;
	g->registry = (rw_region){off, (uint64_t)cfg->registry_capacity * RW_ENTRY_LEN};
	off += g->registry.length;
	g->producers = (rw_region){off, (uint64_t)producers * RW_PRODUCER_ENTRY_LEN};
	off += g->producers.length;
	g->availability = (rw_region){off, cfg->mode == RW_MODE_MULTI ? cfg->capacity * 8 : 0};
	off += g->availability.length;
	/* Slots start on a page boundary, max(4096, slot_align): a slot array sharing page offsets
	 * with the polled cursors loses throughput to 4K aliasing on x86 (spec 4). */
	off = round_up(off, g->slot_align > RW_PAGE ? g->slot_align : RW_PAGE);
	g->slots = (rw_region){off, cfg->capacity * g->slot_size};
	off += g->slots.length;
	g->total_size = round_up(off, RW_PAGE);
	ok(err);
	return RW_OK;
}

void rw_init_image(void *buf, const rw_geometry *g, const rw_event_type *type, uint64_t incarnation,
		   uint32_t creator_pid, uint64_t creator_start_time, uint64_t created_unix_ns)
{
	rw_header *h = buf;
	/* 5.1 step 2: every field but init_state (which ftruncate / the caller left 0). */
	h->magic = RW_MAGIC;
	h->version_major = g->version_major;
	h->version_minor = g->version_minor;
	h->header_len = g->header_len;
	h->producer_mode = g->mode;
	h->total_size = g->total_size;
	h->capacity = g->capacity;
	h->slot_size = g->slot_size;
	h->slot_align = g->slot_align;
	h->registry_capacity = g->registry_capacity;
	h->registry_entry_size = g->registry_entry_size;
	h->incarnation = incarnation;
	h->creator_pid = creator_pid;
	atomic_store_explicit(&h->producer_state, RW_PRODUCER_OPEN, memory_order_relaxed);
	h->creator_start_time = creator_start_time;
	h->created_unix_ns = created_unix_ns;
	/* A live segment starts with a fresh heartbeat; an image written with created_unix_ns 0
	 * (golden files, whose masked fields are zero) keeps it 0. */
	atomic_store_explicit(&h->producer_heartbeat_ns, created_unix_ns ? rw_monotonic_ns() : 0,
			      memory_order_relaxed);
	h->cursors = g->cursors;
	h->wait = g->wait;
	h->registry = g->registry;
	h->availability = g->availability;
	h->slots = g->slots;
	h->producers = g->producers;
	h->producer_capacity = g->producer_capacity;
	h->event_size = g->event_size;
	h->event_align = g->event_align;
	h->type_fingerprint = g->type_fingerprint;
	size_t nlen = type && type->name ? strlen(type->name) : 0;
	if (nlen > RW_MAX_TYPE_NAME)
		nlen = RW_MAX_TYPE_NAME;
	h->type_name_len = (uint32_t)nlen;
	if (nlen)
		memcpy(h->type_name, type->name, nlen);
	/* 5.4: the creator takes producer entry 0 before it publishes init_state. */
	rw_producer_entry *pe = (rw_producer_entry *)(void *)((uint8_t *)buf + g->producers.offset);
	pe->generation = 1;
	pe->owner_pid = creator_pid;
	pe->owner_start_time = creator_start_time;
	atomic_store_explicit(&pe->heartbeat_ns, created_unix_ns ? rw_monotonic_ns() : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&pe->intent_end, 0, memory_order_relaxed);
	atomic_store_explicit(&pe->state, RW_PRODUCER_ENTRY_ACTIVE, memory_order_relaxed);
	/* 5.1 step 3: the last write of initialization. */
	atomic_store_explicit(&h->init_state, RW_INIT_READY, memory_order_release);
}

static int region_bad(const char *name, const rw_region *r, const rw_geometry *g,
		      uint64_t want_len, int exact, rw_error *err)
{
	if (r->offset % RW_REGION_ALIGN != 0)
		return fail(err, RW_ERR_REGION, "%s: offset %llu not a multiple of 128", name,
			    (unsigned long long)r->offset),
		       1;
	if (r->offset < g->header_len)
		return fail(err, RW_ERR_REGION, "%s: offset %llu inside the header", name,
			    (unsigned long long)r->offset),
		       1;
	if (r->length > g->total_size || r->offset > g->total_size - r->length)
		return fail(err, RW_ERR_REGION, "%s: %llu+%llu beyond total_size %llu", name,
			    (unsigned long long)r->offset, (unsigned long long)r->length,
			    (unsigned long long)g->total_size),
		       1;
	if (exact ? r->length != want_len : r->length < want_len)
		return fail(err, RW_ERR_REGION, "%s: length %llu, want %s%llu", name,
			    (unsigned long long)r->length, exact ? "" : "at least ",
			    (unsigned long long)want_len),
		       1;
	return 0;
}

rw_code rw_validate(const void *base, size_t len, const rw_event_type *expect, rw_geometry *out,
		    rw_error *err)
{
	/* 1 */
	if (len < RW_HEADER_LEN)
		return fail(err, RW_ERR_TOO_SMALL, "mapping is %zu bytes, need at least %u", len,
			    RW_HEADER_LEN);
	rw_header *h = (rw_header *)(uintptr_t)base;
	/* 2: acquire; every later read happens after it */
	uint32_t init = atomic_load_explicit(&h->init_state, memory_order_acquire);
	if (init == RW_INIT_INITIALIZING)
		return fail(err, RW_ERR_INITIALIZING, "init_state is 0");
	/* 3 */
	if (h->magic != RW_MAGIC)
		return fail(err, RW_ERR_BAD_MAGIC, "magic 0x%016llx", (unsigned long long)h->magic);
	/* 4 */
	if (init != RW_INIT_READY)
		return fail(err, RW_ERR_BAD_STATE, "init_state %u", init);
	rw_geometry g;
	memset(&g, 0, sizeof g);
	/* 5 */
	g.version_major = h->version_major;
	g.version_minor = h->version_minor;
	if (g.version_major != RW_VERSION_MAJOR)
		return fail(err, RW_ERR_VERSION, "segment is version %u.%u, this reader is %u.%u",
			    g.version_major, g.version_minor, RW_VERSION_MAJOR, RW_VERSION_MINOR);
	/* 6 */
	g.header_len = h->header_len;
	g.total_size = h->total_size;
	if (g.header_len < RW_HEADER_LEN || g.header_len % 8 != 0 || g.header_len > g.total_size)
		return fail(err, RW_ERR_HEADER_LENGTH, "header_len %u (total_size %llu)",
			    g.header_len, (unsigned long long)g.total_size);
	/* 7 */
	if (g.total_size > len)
		return fail(err, RW_ERR_TRUNCATED, "total_size %llu but the mapping is %zu bytes",
			    (unsigned long long)g.total_size, len);
	/* 8 */
	g.capacity = h->capacity;
	if (!is_pow2(g.capacity) || g.capacity < RW_MIN_CAPACITY || g.capacity > RW_MAX_CAPACITY)
		return fail(err, RW_ERR_CAPACITY, "capacity %llu", (unsigned long long)g.capacity);
	/* 9 */
	g.event_size = h->event_size;
	g.event_align = h->event_align;
	g.slot_align = h->slot_align;
	g.slot_size = h->slot_size;
	uint32_t type_name_len = h->type_name_len;
	if (g.event_size < 1 || g.event_size > RW_MAX_EVENT_SIZE)
		return fail(err, RW_ERR_SLOT_GEOMETRY, "event_size %u", g.event_size);
	if (!is_pow2(g.event_align) || g.event_align > RW_MAX_ALIGN)
		return fail(err, RW_ERR_SLOT_GEOMETRY, "event_align %u", g.event_align);
	if (!is_pow2(g.slot_align) || g.slot_align > RW_MAX_ALIGN)
		return fail(err, RW_ERR_SLOT_GEOMETRY, "slot_align %u", g.slot_align);
	if (g.slot_align != g.event_align)
		return fail(err, RW_ERR_SLOT_GEOMETRY, "slot_align %u != event_align %u",
			    g.slot_align, g.event_align);
	if (g.slot_size != round_up(g.event_size, g.event_align))
		return fail(err, RW_ERR_SLOT_GEOMETRY, "slot_size %u for event %u align %u",
			    g.slot_size, g.event_size, g.event_align);
	if (type_name_len > RW_MAX_TYPE_NAME)
		return fail(err, RW_ERR_SLOT_GEOMETRY, "type_name_len %u", type_name_len);
	/* 10 */
	g.mode = h->producer_mode;
	if (g.mode != RW_MODE_SINGLE && g.mode != RW_MODE_MULTI)
		return fail(err, RW_ERR_PRODUCER_MODE, "producer_mode %u", g.mode);
	g.producer_capacity = h->producer_capacity;
	if (g.producer_capacity < 1 || g.producer_capacity > RW_MAX_PRODUCERS ||
	    (g.mode == RW_MODE_SINGLE && g.producer_capacity != 1))
		return fail(err, RW_ERR_PRODUCER_MODE, "producer_capacity %u in %s mode",
			    g.producer_capacity, g.mode == RW_MODE_SINGLE ? "single" : "multi");
	/* 11 */
	g.registry_capacity = h->registry_capacity;
	g.registry_entry_size = h->registry_entry_size;
	if (g.registry_capacity < 1 || g.registry_capacity > RW_MAX_REGISTRY)
		return fail(err, RW_ERR_REGISTRY, "registry_capacity %u", g.registry_capacity);
	if (g.registry_entry_size < RW_ENTRY_LEN || g.registry_entry_size % 128 != 0)
		return fail(err, RW_ERR_REGISTRY, "registry_entry_size %u", g.registry_entry_size);
	/* 12 */
	g.cursors = h->cursors;
	g.wait = h->wait;
	g.registry = h->registry;
	g.producers = h->producers;
	g.availability = h->availability;
	g.slots = h->slots;
	enum { N_REGIONS = 6 };
	struct {
		const char *name;
		const rw_region *r;
		uint64_t want;
		int exact;
	} regions[N_REGIONS] = {
		{"cursors", &g.cursors, RW_CURSORS_LEN, 0},
		{"wait", &g.wait, RW_WAIT_LEN, 0},
		{"registry", &g.registry, (uint64_t)g.registry_capacity * g.registry_entry_size, 1},
		{"producers", &g.producers, (uint64_t)g.producer_capacity * RW_PRODUCER_ENTRY_LEN, 1},
		{"availability", &g.availability, g.mode == RW_MODE_MULTI ? g.capacity * 8 : 0, 1},
		{"slots", &g.slots, g.capacity * g.slot_size, 1},
	};
	for (int i = 0; i < N_REGIONS; i++)
		if (region_bad(regions[i].name, regions[i].r, &g, regions[i].want, regions[i].exact,
			       err))
			return RW_ERR_REGION;
	for (int i = 0; i < N_REGIONS; i++)
		for (int j = i + 1; j < N_REGIONS; j++) {
			const rw_region *a = regions[i].r, *b = regions[j].r;
			if (a->length == 0 || b->length == 0)
				continue;
			if (a->offset < b->offset + b->length && b->offset < a->offset + a->length)
				return fail(err, RW_ERR_REGION, "%s overlaps %s", regions[i].name,
					    regions[j].name);
		}
	if (g.slots.offset % g.slot_align != 0)
		return fail(err, RW_ERR_REGION, "slots: offset %llu not a multiple of slot_align %u",
			    (unsigned long long)g.slots.offset, g.slot_align);
	g.type_fingerprint = h->type_fingerprint;
	g.incarnation = h->incarnation;
	/* 13 */
	if (expect && (g.event_size != expect->event_size || g.event_align != expect->event_align ||
		       g.type_fingerprint != expect->fingerprint))
		return fail(err, RW_ERR_EVENT_TYPE,
			    "segment has size %u align %u fingerprint 0x%016llx, expected size %u "
			    "align %u fingerprint 0x%016llx",
			    g.event_size, g.event_align, (unsigned long long)g.type_fingerprint,
			    expect->event_size, expect->event_align,
			    (unsigned long long)expect->fingerprint);
	if (out)
		*out = g;
	ok(err);
	return RW_OK;
}

/* ---- Segments (5.1) ------------------------------------------------------------------------------ */

static void fill_segment(rw_segment *seg, uint8_t *base, size_t len, int backing, const char *name,
			 const rw_geometry *g)
{
	memset(seg, 0, sizeof *seg);
	seg->base = base;
	seg->map_len = len;
	seg->backing = backing;
	if (name)
		snprintf(seg->name, sizeof seg->name, "%s", name);
	seg->g = *g;
	seg->hdr = (rw_header *)(void *)base;
	seg->cursors = (rw_cursors *)(void *)(base + g->cursors.offset);
	seg->wait = (rw_wait *)(void *)(base + g->wait.offset);
}

static rw_code create_common(int backing, const char *name, const rw_config *cfg, rw_segment *seg,
			     rw_error *err)
{
	rw_geometry g;
	rw_code rc = rw_layout(cfg, &g, err);
	if (rc != RW_OK)
		return rc;
	if (!name || strlen(name) >= sizeof seg->name)
		return fail(err, RW_ERR_INVALID_ARG, "segment name missing or too long");
	mode_t perm = cfg->perm ? (mode_t)cfg->perm : 0600;
	int fd = backing == RW_BACKING_SHM
			 ? shm_open(name, O_RDWR | O_CREAT | O_EXCL, perm)
			 : open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, perm);
	if (fd < 0)
		return errno == EEXIST ? fail(err, RW_ERR_EXISTS, "%s", name)
				       : fail_sys(err, RW_ERR_IO, name, errno);
	/* ftruncate zero-fills: every reserved byte and region content starts at zero. */
	if (ftruncate(fd, (off_t)g.total_size) != 0) {
		int e = errno;
		close(fd);
		backing == RW_BACKING_SHM ? shm_unlink(name) : unlink(name);
		return fail_sys(err, RW_ERR_IO, "ftruncate", e);
	}
	void *base = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (base == MAP_FAILED) {
		backing == RW_BACKING_SHM ? shm_unlink(name) : unlink(name);
		return fail_sys(err, RW_ERR_IO, "mmap", e);
	}
	g.incarnation = random_nonzero();
	pid_t pid = getpid();
	rw_init_image(base, &g, &cfg->type, g.incarnation, (uint32_t)pid,
		      rw_process_start_time(pid), realtime_ns());
	fill_segment(seg, base, g.total_size, backing, name, &g);
	seg->creator = 1;
	ok(err);
	return RW_OK;
}

rw_code rw_create_shm(const char *name, const rw_config *cfg, rw_segment *seg, rw_error *err)
{
	return create_common(RW_BACKING_SHM, name, cfg, seg, err);
}

rw_code rw_create_file(const char *path, const rw_config *cfg, rw_segment *seg, rw_error *err)
{
	return create_common(RW_BACKING_FILE, path, cfg, seg, err);
}

static rw_code attach_common(int backing, const char *name, const rw_event_type *expect,
			     int64_t timeout_ms, rw_segment *seg, rw_error *err)
{
	if (!name || strlen(name) >= sizeof seg->name)
		return fail(err, RW_ERR_INVALID_ARG, "segment name missing or too long");
	uint64_t deadline = deadline_after(timeout_ms);
	for (;;) {
		int retry = rw_monotonic_ns() < deadline;
		int fd = backing == RW_BACKING_SHM ? shm_open(name, O_RDWR, 0)
						   : open(name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == ENOENT && retry) {
				sleep_ns(1000000);
				continue;
			}
			return e == ENOENT ? fail(err, RW_ERR_NOT_FOUND, "%s", name)
					   : fail_sys(err, RW_ERR_IO, name, e);
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			int e = errno;
			close(fd);
			return fail_sys(err, RW_ERR_IO, "fstat", e);
		}
		size_t len = st.st_size > 0 ? (size_t)st.st_size : 0;
		if (len < RW_HEADER_LEN) {
			close(fd);
			if (retry) { /* the creator may not have run ftruncate yet */
				sleep_ns(1000000);
				continue;
			}
			return rw_validate(NULL, len, expect, NULL, err); /* too small */
		}
		void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		int e = errno;
		close(fd);
		if (base == MAP_FAILED)
			return fail_sys(err, RW_ERR_IO, "mmap", e);
		rw_geometry g;
		rw_code rc = rw_validate(base, len, expect, &g, err);
		if (rc == RW_ERR_INITIALIZING && retry) {
			munmap(base, len);
			sleep_ns(1000000);
			continue;
		}
		if (rc != RW_OK) {
			munmap(base, len);
			return rc;
		}
		fill_segment(seg, base, len, backing, name, &g);
		return RW_OK;
	}
}

rw_code rw_attach_shm(const char *name, const rw_event_type *expect, int64_t timeout_ms,
		      rw_segment *seg, rw_error *err)
{
	return attach_common(RW_BACKING_SHM, name, expect, timeout_ms, seg, err);
}

rw_code rw_attach_file(const char *path, const rw_event_type *expect, int64_t timeout_ms,
		       rw_segment *seg, rw_error *err)
{
	return attach_common(RW_BACKING_FILE, path, expect, timeout_ms, seg, err);
}

rw_code rw_create_memory(void *buf, size_t len, const rw_config *cfg, rw_segment *seg,
			 rw_error *err)
{
	rw_geometry g;
	rw_code rc = rw_layout(cfg, &g, err);
	if (rc != RW_OK)
		return rc;
	if (!buf || ((uintptr_t)buf % RW_REGION_ALIGN) != 0)
		return fail(err, RW_ERR_INVALID_ARG, "memory backing must be 128-aligned");
	if (len < g.total_size)
		return fail(err, RW_ERR_INVALID_ARG, "memory of %zu bytes, segment needs %llu", len,
			    (unsigned long long)g.total_size);
	memset(buf, 0, g.total_size);
	g.incarnation = random_nonzero();
	pid_t pid = getpid();
	rw_init_image(buf, &g, &cfg->type, g.incarnation, (uint32_t)pid, rw_process_start_time(pid),
		      realtime_ns());
	fill_segment(seg, buf, g.total_size, RW_BACKING_MEMORY, NULL, &g);
	seg->creator = 1;
	ok(err);
	return RW_OK;
}

rw_code rw_open_memory(void *buf, size_t len, const rw_event_type *expect, rw_segment *seg,
		       rw_error *err)
{
	if (!buf || ((uintptr_t)buf % RW_REGION_ALIGN) != 0)
		return fail(err, RW_ERR_INVALID_ARG, "memory backing must be 128-aligned");
	rw_geometry g;
	rw_code rc = rw_validate(buf, len, expect, &g, err);
	if (rc != RW_OK)
		return rc;
	fill_segment(seg, buf, len, RW_BACKING_MEMORY, NULL, &g);
	return RW_OK;
}

void rw_segment_close(rw_segment *seg)
{
	if (seg->base && seg->backing != RW_BACKING_MEMORY)
		munmap(seg->base, seg->map_len);
	seg->base = NULL;
	seg->map_len = 0;
}

int rw_unlink_shm(const char *name)
{
	if (shm_unlink(name) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

uint32_t rw_active_count(const rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++)
		if (atomic_load_explicit(&rw_entry_at(seg, i)->state, memory_order_acquire) ==
		    RW_ENTRY_ACTIVE)
			n++;
	return n;
}

const char *rw_entry_state_name(uint32_t state)
{
	switch (state) {
	case RW_ENTRY_FREE: return "free";
	case RW_ENTRY_CLAIMING: return "claiming";
	case RW_ENTRY_ACTIVE: return "active";
	case RW_ENTRY_CLOSED: return "closed";
	case RW_ENTRY_EVICTED: return "evicted";
	default: return "unknown";
	}
}

const char *rw_producer_state_name(uint32_t state)
{
	switch (state) {
	case RW_PRODUCER_ENTRY_FREE: return "free";
	case RW_PRODUCER_ENTRY_ACTIVE: return "active";
	case RW_PRODUCER_ENTRY_CLOSED: return "closed";
	case RW_PRODUCER_ENTRY_DEAD: return "dead";
	default: return "unknown";
	}
}

int rw_is_gap(const rw_segment *seg, uint64_t seq)
{
	return seg->g.mode == RW_MODE_MULTI &&
	       atomic_load_explicit(rw_availability_word(seg, seq), memory_order_acquire) ==
		       ((seq + 1) | RW_AVAIL_GAP);
}

/* The claimed count, without the closed bit (4.1). */
static uint64_t claimed_count(const rw_segment *seg)
{
	return atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire) & RW_COUNT_MASK;
}

/* The count a new consumer starts from: published (single) or claimed (multi). */
static uint64_t producer_count(const rw_segment *seg)
{
	return seg->g.mode == RW_MODE_SINGLE
		       ? atomic_load_explicit(&seg->cursors->published, memory_order_acquire)
		       : claimed_count(seg);
}

/* ---- Poisoning (5.9) ----------------------------------------------------------------------------- */

/* 5.9 "blocked waiters are woken (bump both wake words)", read as the waker side of 5.6 on both
 * wait words: bump and wake each one whose waiters count is nonzero. Every blocked waiter counted
 * itself before re-checking its condition, and every condition here includes poison_state, so
 * none is missed (README "Spec readings" 20; the Go golden image `poisoned` has both wake words
 * 0, which an unconditional bump would not give). */
static void wake_everyone(rw_segment *seg)
{
	rw_wake_if_waiting(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	rw_wake_if_waiting(&seg->wait->producer_waiters, &seg->wait->producer_wake);
}

/* Length of msg cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *msg, size_t max)
{
	size_t n = strlen(msg);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((uint8_t)msg[n] & 0xC0) == 0x80) /* msg[n] continues a sequence */
		n--;
	return n;
}

int rw_poison_ring(rw_segment *seg, const rw_poison *rec)
{
	rw_header *h = seg->hdr;
	uint32_t expect = RW_POISON_NONE;
	if (!atomic_compare_exchange_strong_explicit(&h->poison_state, &expect, RW_POISON_RECORDING,
						     memory_order_acq_rel, memory_order_acquire))
		return 0; /* later failures are not recorded */
	h->poison_phase = rec->phase;
	h->poison_seq = rec->seq;
	h->poison_pid = rec->pid ? rec->pid : (uint32_t)getpid();
	h->poison_stage = rec->stage;
	size_t n = utf8_cut(rec->message, RW_MAX_POISON_MESSAGE);
	memset(h->poison_message, 0, sizeof h->poison_message);
	memcpy(h->poison_message, rec->message, n);
	h->poison_message_len = (uint32_t)n;
	atomic_store_explicit(&h->poison_state, RW_POISON_RECORDED, memory_order_release);
	wake_everyone(seg);
	return 1;
}

int rw_poisoned(const rw_segment *seg, rw_poison *out)
{
	rw_header *h = seg->hdr;
	uint32_t st = atomic_load_explicit(&h->poison_state, memory_order_acquire);
	if (st == RW_POISON_NONE)
		return 0;
	for (int i = 0; st == RW_POISON_RECORDING && i < 1000; i++) {
		sleep_ns(1000);
		st = atomic_load_explicit(&h->poison_state, memory_order_acquire);
	}
	if (out) {
		memset(out, 0, sizeof *out);
		out->phase = *(volatile uint32_t *)&h->poison_phase;
		out->seq = *(volatile uint64_t *)&h->poison_seq;
		out->pid = *(volatile uint32_t *)&h->poison_pid;
		out->stage = *(volatile uint32_t *)&h->poison_stage;
		uint32_t n = *(volatile uint32_t *)&h->poison_message_len;
		if (n > RW_MAX_POISON_MESSAGE)
			n = RW_MAX_POISON_MESSAGE;
		memcpy(out->message, h->poison_message, n);
		out->message[n] = 0;
	}
	return 1;
}

static int poison_pending(const rw_segment *seg)
{
	return atomic_load_explicit(&seg->hdr->poison_state, memory_order_acquire) != RW_POISON_NONE;
}

static rw_code fail_poisoned(const rw_segment *seg, rw_error *err)
{
	rw_poison r = {0}; /* filled by rw_poisoned: callers saw poison_state set, which is never unset */
	rw_poisoned(seg, &r);
	return fail(err, RW_ERR_POISONED, "%s failed at sequence %llu (pid %u, stage %u): %s",
		    r.phase == RW_PHASE_PUBLISH ? "publish"
		    : r.phase == RW_PHASE_HANDLER ? "handler"
						  : "unknown phase",
		    (unsigned long long)r.seq, r.pid, r.stage, r.message);
}

/* ---- Passing over a dead producer's claims (5.8) ----------------------------------------------- */

/* Whether a producer entry's owner is dead. An entry whose owner_pid is still 0 is being filled
 * in, so it is not dead (5.8 step 1). */
static int producer_owner_dead(const rw_producer_entry *e)
{
	uint32_t pid = *(const volatile uint32_t *)&e->owner_pid;
	if (pid == 0)
		return 0;
	return rw_process_dead(pid, *(const volatile uint64_t *)&e->owner_start_time);
}

/* Whether an active producer entry other than skip, whose owner is alive, announces a claim
 * covering t. */
static int live_intent_covers(rw_segment *seg, uint64_t t, uint32_t skip)
{
	for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
		if (i == skip)
			continue;
		rw_producer_entry *e = rw_producer_entry_at(seg, i);
		if (atomic_load_explicit(&e->state, memory_order_acquire) != RW_PRODUCER_ENTRY_ACTIVE)
			continue;
		uint64_t start = atomic_load_explicit(&e->intent_start, memory_order_seq_cst);
		uint64_t end = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
		if (end != 0 && start <= t && t < end && !producer_owner_dead(e))
			return 1;
	}
	return 0;
}

uint64_t rw_pass_over_dead_claims(rw_segment *seg, uint64_t s)
{
	if (seg->g.mode != RW_MODE_MULTI)
		return 0;
	/* step 1 */
	uint32_t dead = UINT32_MAX;
	for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
		rw_producer_entry *e = rw_producer_entry_at(seg, i);
		if (atomic_load_explicit(&e->state, memory_order_acquire) != RW_PRODUCER_ENTRY_ACTIVE)
			continue;
		uint64_t start = atomic_load_explicit(&e->intent_start, memory_order_seq_cst);
		uint64_t end = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
		if (end == 0 || s < start || s >= end)
			continue;
		if (!producer_owner_dead(e))
			return 0; /* a live producer holds s: it is still writing it */
		if (dead == UINT32_MAX)
			dead = i;
	}
	if (dead == UINT32_MAX)
		return 0;
	/* step 2: only the winner goes on */
	rw_producer_entry *e = rw_producer_entry_at(seg, dead);
	uint32_t active = RW_PRODUCER_ENTRY_ACTIVE;
	if (!atomic_compare_exchange_strong_explicit(&e->state, &active, RW_PRODUCER_ENTRY_DEAD,
						     memory_order_acq_rel, memory_order_acquire))
		return 0;
	/* step 3. The claimed count is loaded after the intents: a sequence at or above it was
	 * never claimed (the intent was announced but the CAS never happened), and a sequence that
	 * a live producer announced is its own (announced before its CAS), so neither is marked. */
	uint64_t start = atomic_load_explicit(&e->intent_start, memory_order_seq_cst);
	uint64_t end = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
	uint64_t count =
		atomic_load_explicit(&seg->cursors->claimed, memory_order_seq_cst) & RW_COUNT_MASK;
	if (end > count)
		end = count;
	uint64_t marked = 0;
	for (uint64_t t = s > start ? s : start; t < end; t++) {
		_Atomic uint64_t *a = rw_availability_word(seg, t);
		uint64_t w = atomic_load_explicit(a, memory_order_acquire);
		if (w == t + 1 || live_intent_covers(seg, t, dead))
			continue;
		if (atomic_compare_exchange_strong_explicit(a, &w, (t + 1) | RW_AVAIL_GAP,
							    memory_order_acq_rel,
							    memory_order_acquire))
			marked++;
	}
	if (marked) {
		atomic_fetch_add_explicit(&seg->hdr->gaps, marked, memory_order_acq_rel);
		/* wake consumers that wait at these sequences */
		rw_wake_if_waiting(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	}
	return marked;
}

/* ---- Producer (5.3, 5.4) ------------------------------------------------------------------------ */

static uint64_t gating_bound(const rw_segment *seg, uint64_t fallback);

/* Takes a free, closed or dead producer entry (5.4). An active entry whose owner is dead is
 * reclaimed (CAS active -> dead, then dead -> active) when its intent_end is 0 (it died outside
 * a claim) or at most the lowest cursor of the active required consumers (every sequence it may
 * have claimed was read or passed over); any other is left to the recovery of 5.8. With no
 * required consumer the bound is the claimed count, loaded first: a required consumer that
 * registers later starts at or above it (5.7 step 4), so it can never wait at such a claim. */
static rw_code take_producer_entry(rw_segment *seg, uint32_t *index, rw_error *err)
{
	uint64_t settled = gating_bound(seg, claimed_count(seg));
	for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
		rw_producer_entry *e = rw_producer_entry_at(seg, i);
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s == RW_PRODUCER_ENTRY_ACTIVE) {
			uint64_t end = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
			if (end > settled || !producer_owner_dead(e) ||
			    !atomic_compare_exchange_strong_explicit(
				    &e->state, &s, RW_PRODUCER_ENTRY_DEAD, memory_order_acq_rel,
				    memory_order_acquire))
				continue;
			s = RW_PRODUCER_ENTRY_DEAD;
		}
		if (s != RW_PRODUCER_ENTRY_FREE && s != RW_PRODUCER_ENTRY_CLOSED &&
		    s != RW_PRODUCER_ENTRY_DEAD)
			continue;
		if (!atomic_compare_exchange_strong_explicit(&e->state, &s, RW_PRODUCER_ENTRY_ACTIVE,
							     memory_order_acq_rel,
							     memory_order_acquire))
			continue;
		/* owner_pid 0 while being filled in: peers do not take the entry for dead */
		e->owner_pid = 0;
		atomic_store_explicit(&e->intent_end, 0, memory_order_seq_cst);
		e->generation = e->generation + 1;
		pid_t pid = getpid();
		e->owner_start_time = rw_process_start_time(pid);
		atomic_store_explicit(&e->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
		*(volatile uint32_t *)&e->owner_pid = (uint32_t)pid;
		*index = i;
		return RW_OK;
	}
	return fail(err, RW_ERR_PRODUCERS_FULL, "%u producer entries in use",
		    seg->g.producer_capacity);
}

rw_code rw_producer_init(rw_producer *p, rw_segment *seg, rw_error *err)
{
	memset(p, 0, sizeof *p);
	p->seg = seg;
	uint32_t index = 0;
	if (seg->creator) {
		p->creator = 1; /* rw_init_image registered the creator as entry 0 */
	} else {
		rw_code rc = take_producer_entry(seg, &index, err);
		if (rc != RW_OK)
			return rc;
	}
	p->index = index;
	p->entry = rw_producer_entry_at(seg, index);
	p->next = seg->g.mode == RW_MODE_SINGLE
			  ? atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire)
			  : 0;
	p->bound = 0;
	/* 5.6: waiting for room may block in futex; counted until rw_producer_close */
	p->blocker_since_ns = blocker_add(&seg->hdr->producer_blockers);
	ok(err);
	return RW_OK;
}

void rw_producer_poll_only(rw_producer *p)
{
	blocker_release(&p->seg->hdr->producer_blockers, &p->blocker_since_ns);
}

/* Minimum cursor of the active required entries, or fallback (the count the producer had
 * published when it computed the bound) if there is none (5.3 step 1). */
static uint64_t gating_bound(const rw_segment *seg, uint64_t fallback)
{
	uint64_t bound = UINT64_MAX;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		if (atomic_load_explicit(&e->state, memory_order_acquire) != RW_ENTRY_ACTIVE)
			continue;
		if (!(e->flags & RW_FLAG_REQUIRED))
			continue;
		uint64_t c = atomic_load_explicit(&e->cursor, memory_order_acquire);
		if (c < bound)
			bound = c;
	}
	return bound == UINT64_MAX ? fallback : bound;
}

struct room_wait {
	rw_producer *p;
	uint64_t start, end;
};

static int room_available(void *arg)
{
	struct room_wait *w = arg;
	w->p->bound = gating_bound(w->p->seg, w->start);
	return w->end - w->p->seg->g.capacity <= w->p->bound || poison_pending(w->p->seg);
}

/* Waits until end - capacity <= bound, or the ring is poisoned. end >= capacity here. */
static rw_code wait_for_room(rw_producer *p, uint64_t start, uint64_t end, uint64_t deadline,
			     rw_error *err)
{
	rw_segment *seg = p->seg;
	struct room_wait w = {p, start, end};
	atomic_store_explicit(&seg->hdr->producer_heartbeat_ns, rw_monotonic_ns(),
			      memory_order_release);
	atomic_store_explicit(&p->entry->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
	rw_code rc = rw_block_until(&seg->wait->producer_waiters, &seg->wait->producer_wake,
				    room_available, &w, deadline, p->blocker_since_ns);
	if (rc != RW_OK)
		return fail(err, rc, "ring full: sequence %llu waits for consumer cursor %llu",
			    (unsigned long long)(end - 1), (unsigned long long)p->bound);
	return RW_OK;
}

/* 5.3 step 1 / 5.4 step 1: recomputes the bound if [start, end) does not fit the cached one,
 * waits while full, and (whenever the bound is recomputed) stops on a poisoned ring. */
static rw_code ensure_room(rw_producer *p, uint64_t start, uint64_t end, uint64_t deadline,
			   int *waited, rw_error *err)
{
	uint64_t cap = p->seg->g.capacity;
	*waited = 0;
	if (end <= cap || end - cap <= p->bound)
		return RW_OK;
	p->bound = gating_bound(p->seg, start);
	if (poison_pending(p->seg))
		return fail_poisoned(p->seg, err);
	if (end - cap <= p->bound)
		return RW_OK;
	*waited = 1;
	rw_code rc = wait_for_room(p, start, end, deadline, err);
	if (rc != RW_OK)
		return rc;
	if (poison_pending(p->seg))
		return fail_poisoned(p->seg, err);
	return RW_OK;
}

rw_code rw_claim(rw_producer *p, uint32_t n, int64_t timeout_ms, uint64_t *first, rw_error *err)
{
	rw_segment *seg = p->seg;
	uint64_t cap = seg->g.capacity;
	if (n == 0 || n > cap)
		return fail(err, RW_ERR_INVALID_ARG, "batch of %u for capacity %llu", n,
			    (unsigned long long)cap);
	if (p->closed)
		return fail(err, RW_ERR_CLOSED, "this producer was closed");
	/* One acquire load of a header line that is written only on poisoning: cheap enough to do
	 * on every claim, not only when the bound is recomputed (5.3 step 1). */
	if (p->failed || poison_pending(seg))
		return fail_poisoned(seg, err);
	uint64_t deadline = deadline_after(timeout_ms);
	int waited;
	if (seg->g.mode == RW_MODE_SINGLE) {
		uint64_t end = p->next + n;
		if (end >= RW_MAX_SEQUENCE) /* a count of 2^62 would read as the closed bit */
			return fail(err, RW_ERR_OVERFLOW, "claim up to %llu",
				    (unsigned long long)end);
		rw_code rc = ensure_room(p, p->next, end, deadline, &waited, err);
		if (rc != RW_OK)
			return rc;
		atomic_store_explicit(&seg->cursors->claimed, end, memory_order_release);
		p->pending_lo = p->next;
		p->pending_hi = end;
		*first = p->next;
		return RW_OK;
	}
	rw_producer_entry *pe = p->entry;
	for (;;) {
		/* 5.4 step 1 */
		uint64_t w = atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire);
		if (w & RW_CLAIMED_CLOSED) {
			atomic_store_explicit(&pe->intent_end, 0, memory_order_release);
			return fail(err, RW_ERR_CLOSED, "the creator ended the stream at %llu",
				    (unsigned long long)(w & RW_COUNT_MASK));
		}
		if (poison_pending(seg)) {
			atomic_store_explicit(&pe->intent_end, 0, memory_order_release);
			return fail_poisoned(seg, err);
		}
		uint64_t c = w;
		uint64_t end = c + n;
		if (end >= RW_MAX_SEQUENCE) {
			atomic_store_explicit(&pe->intent_end, 0, memory_order_release);
			return fail(err, RW_ERR_OVERFLOW, "claim up to %llu",
				    (unsigned long long)end);
		}
		rw_code rc = ensure_room(p, c, end, deadline, &waited, err);
		if (rc != RW_OK) {
			atomic_store_explicit(&pe->intent_end, 0, memory_order_release);
			return rc;
		}
		if (waited)
			continue; /* claimed may have moved meanwhile */
		/* step 2: announce the claim before making it */
		atomic_store_explicit(&pe->intent_start, c, memory_order_seq_cst);
		atomic_store_explicit(&pe->intent_end, end, memory_order_seq_cst);
		/* step 3 */
		if (atomic_compare_exchange_weak_explicit(&seg->cursors->claimed, &c, end,
							  memory_order_seq_cst,
							  memory_order_acquire)) {
			p->pending_lo = w;
			p->pending_hi = end;
			*first = w;
			return RW_OK;
		}
		/* the range is someone else's now: withdraw the intent before retrying (5.4
		 * step 3), so that 5.8 never reads it as ours */
		atomic_store_explicit(&pe->intent_end, 0, memory_order_seq_cst);
	}
}

static void heartbeat_every_1024(rw_producer *p)
{
	/* a sign of life every 1024 sequences, without a clock read per event */
	if ((p->pending_lo >> 10) != (p->pending_hi >> 10)) {
		uint64_t now = rw_monotonic_ns();
		atomic_store_explicit(&p->seg->hdr->producer_heartbeat_ns, now,
				      memory_order_release);
		atomic_store_explicit(&p->entry->heartbeat_ns, now, memory_order_release);
	}
}

void rw_commit(rw_producer *p)
{
	rw_segment *seg = p->seg;
	if (p->pending_lo == p->pending_hi)
		return;
	/* 5.3 step 4 / 5.4 step 5: while no consumer may block in the kernel, release stores
	 * (the slot writes visible before them) and no waiters handshake */
	uint32_t blockers =
		atomic_load_explicit(&seg->hdr->consumer_blockers, memory_order_acquire);
	if (seg->g.mode == RW_MODE_SINGLE) {
		/* seq-cst when someone may block: ordered before the waiters load of step 5. Two
		 * stores, not one with a computed order: compilers treat an order that is not a
		 * constant as seq_cst (an XCHG on x86, which measured half the throughput). */
		if (blockers)
			atomic_store_explicit(&seg->cursors->published, p->pending_hi,
					      memory_order_seq_cst);
		else
			atomic_store_explicit(&seg->cursors->published, p->pending_hi,
					      memory_order_release);
		p->next = p->pending_hi;
	} else {
		/* when someone may block, the seq-cst fence at the top of rw_wake_if_waiting
		 * orders the last store before the waiters load of step 7 */
		for (uint64_t s = p->pending_lo; s < p->pending_hi; s++)
			atomic_store_explicit(rw_availability_word(seg, s), s + 1,
					      memory_order_release);
		/* step 6 */
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_release);
	}
	heartbeat_every_1024(p);
	p->pending_lo = p->pending_hi;
	/* 5.3 step 5 / 5.4 step 7: only if consumer_blockers was not 0 */
	if (blockers)
		rw_wake_if_waiting(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
}

void rw_abort_claim(rw_producer *p, const char *message)
{
	rw_segment *seg = p->seg;
	if (p->pending_lo == p->pending_hi)
		return;
	rw_poison rec = {.phase = RW_PHASE_PUBLISH,
			 .seq = p->pending_lo,
			 .pid = (uint32_t)getpid(),
			 .stage = p->index};
	const char *msg = message ? message : "fill failed";
	size_t n = utf8_cut(msg, RW_MAX_POISON_MESSAGE);
	memcpy(rec.message, msg, n);
	rec.message[n] = 0;
	p->failed = 1;
	rw_poison_ring(seg, &rec); /* wakes everyone */
	if (seg->g.mode == RW_MODE_MULTI)
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_release);
	p->pending_lo = p->pending_hi;
}

rw_code rw_publish(rw_producer *p, const void *events, uint32_t n, int64_t timeout_ms,
		   rw_error *err)
{
	uint64_t first;
	rw_code rc = rw_claim(p, n, timeout_ms, &first, err);
	if (rc != RW_OK)
		return rc;
	const uint8_t *src = events;
	uint32_t es = p->seg->g.event_size;
	for (uint32_t i = 0; i < n; i++)
		memcpy(rw_slot(p->seg, first + i), src + (size_t)i * es, es);
	rw_commit(p);
	return RW_OK;
}

rw_code rw_publish_fill(rw_producer *p, uint32_t n, rw_fill_fn fill, void *arg, int64_t timeout_ms,
			rw_error *err)
{
	uint64_t first;
	rw_code rc = rw_claim(p, n, timeout_ms, &first, err);
	if (rc != RW_OK)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const char *why = NULL;
		if (fill(arg, rw_slot(p->seg, first + i), first + i, i, &why) != 0) {
			rw_abort_claim(p, why);
			return fail_poisoned(p->seg, err);
		}
	}
	rw_commit(p);
	return RW_OK;
}

struct claims_done {
	rw_segment *seg;
	uint64_t count;
};

/* Every sequence below count is published or a gap (the word, gap bit removed, is at least
 * s + 1), or the ring is poisoned. */
static int claims_settled(void *arg)
{
	struct claims_done *d = arg;
	if (poison_pending(d->seg))
		return 1;
	uint64_t cap = d->seg->g.capacity;
	for (uint64_t s = d->count > cap ? d->count - cap : 0; s < d->count; s++) {
		uint64_t w = atomic_load_explicit(rw_availability_word(d->seg, s),
						  memory_order_acquire);
		if ((w & ~RW_AVAIL_GAP) < s + 1)
			return 0;
	}
	return 1;
}

rw_code rw_producer_close(rw_producer *p, int64_t timeout_ms, rw_error *err)
{
	rw_segment *seg = p->seg;
	if (p->closed) {
		ok(err);
		return RW_OK;
	}
	p->closed = 1;
	blocker_release(&seg->hdr->producer_blockers, &p->blocker_since_ns);
	if (!p->creator) {
		/* an attached producer detaches (5.4) */
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_release);
		atomic_store_explicit(&p->entry->state, RW_PRODUCER_ENTRY_CLOSED,
				      memory_order_release);
		ok(err);
		return RW_OK;
	}
	rw_code rc = RW_OK;
	if (seg->g.mode == RW_MODE_MULTI) {
		/* 5.4: close claimed to claims, then wait for every claimed sequence */
		uint64_t w = atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire);
		while (!atomic_compare_exchange_weak_explicit(&seg->cursors->claimed, &w,
							      w | RW_CLAIMED_CLOSED,
							      memory_order_seq_cst,
							      memory_order_acquire)) {
		}
		struct claims_done d = {seg, w & RW_COUNT_MASK};
		uint64_t deadline = deadline_after(timeout_ms);
		uint64_t backoff = 10000;
		while (!claims_settled(&d)) {
			uint64_t now = rw_monotonic_ns();
			if (now >= deadline) {
				rc = fail(err, RW_ERR_TIMEOUT,
					  "claimed sequences below %llu still unpublished",
					  (unsigned long long)d.count);
				break;
			}
			sleep_ns(backoff < deadline - now ? backoff : deadline - now);
			if (backoff < 1000000)
				backoff *= 2;
		}
	}
	/* 5.3 close: seq-cst store, then step 5 */
	atomic_store_explicit(&seg->hdr->producer_state, RW_PRODUCER_CLOSED, memory_order_seq_cst);
	rw_wake_if_waiting(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	if (rc == RW_OK)
		ok(err);
	return rc;
}

/* ---- Consumer (5.5, 5.7) ------------------------------------------------------------------------ */

static uint64_t load_plain_u64(const uint64_t *p) { return *(const volatile uint64_t *)p; }

static int same_name(const rw_entry *e, const char *name, size_t nlen)
{
	uint32_t elen = *(const volatile uint32_t *)&e->name_len;
	if (elen != nlen || elen > RW_MAX_CONSUMER_NAME)
		return 0;
	return memcmp(e->name, name, nlen) == 0;
}

/* The owner fields a takeover rewrites (5.7 step 5). The start time goes before the pid: a peer
 * that reads the two halfway sees the dead pid (still dead), never our pid with the dead owner's
 * start time (which would read as a reused pid, so dead). */
static void write_owner_fields(rw_entry *e, uint32_t flags, uint64_t depends_on)
{
	pid_t pid = getpid();
	*(volatile uint64_t *)&e->owner_start_time = rw_process_start_time(pid);
	*(volatile uint32_t *)&e->owner_pid = (uint32_t)pid;
	atomic_store_explicit(&e->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
	*(volatile uint32_t *)&e->flags = flags;
	*(volatile uint64_t *)&e->depends_on = depends_on;
}

/* Every owner field of a fresh registration (5.7 step 2), name included. */
static void write_owner(rw_entry *e, const char *name, size_t nlen, uint32_t flags,
			uint64_t depends_on)
{
	e->name_len = (uint32_t)nlen;
	memset(e->name, 0, sizeof e->name);
	memcpy(e->name, name, nlen);
	write_owner_fields(e, flags, depends_on);
}

static void fill_consumer(rw_consumer *c, rw_segment *seg, uint32_t i, uint32_t flags,
			  uint64_t depends_on)
{
	rw_entry *e = rw_entry_at(seg, i);
	memset(c, 0, sizeof *c);
	c->seg = seg;
	c->entry = e;
	c->index = i;
	c->flags = flags;
	c->generation = atomic_load_explicit(&e->generation, memory_order_seq_cst);
	c->depends_on = depends_on;
	c->next = atomic_load_explicit(&e->cursor, memory_order_acquire);
	c->lost = atomic_load_explicit(&e->lost, memory_order_acquire);
	c->gaps_seen = atomic_load_explicit(&e->gaps_seen, memory_order_acquire);
	c->stall_timeout_ms = 1000;
	/* 5.6: rw_consume may block in futex; counted until rw_deregister */
	c->blocker_since_ns = blocker_add(&seg->hdr->consumer_blockers);
}

void (*rw_takeover_hook)(rw_entry *e, int step);

/* 5.7 step 5: takes over entry i, active with a dead owner named name, without it ever leaving
 * the active state (so it never stops gating, even if we die midway). RW_ERR_NOT_FOUND if the
 * entry is no longer active under that name (the caller registers anew); RW_ERR_DUPLICATE_NAME if
 * its owner is alive or another taker won. */
static rw_code take_over(rw_consumer *c, rw_segment *seg, uint32_t i, const char *name,
			 size_t nlen, uint32_t flags, uint64_t depends_on, rw_error *err)
{
	rw_entry *e = rw_entry_at(seg, i);
	uint64_t g = atomic_load_explicit(&e->generation, memory_order_seq_cst);
	if (atomic_load_explicit(&e->state, memory_order_acquire) != RW_ENTRY_ACTIVE ||
	    !same_name(e, name, nlen))
		return RW_ERR_NOT_FOUND;
	/* g first, then the owner (the spec's order): a taker that won before our load has bumped
	 * g already, and we see either its pid (alive: refused) or still the dead one (then our
	 * CAS to g + 2 makes that taker fail its re-load) */
	if (!rw_process_dead(*(volatile uint32_t *)&e->owner_pid,
			     load_plain_u64(&e->owner_start_time)))
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" is active in entry %u", name, i);
	if (!atomic_compare_exchange_strong_explicit(&e->generation, &g, g + 1,
						     memory_order_seq_cst, memory_order_seq_cst))
		return fail(err, RW_ERR_DUPLICATE_NAME,
			    "\"%s\": another registration took entry %u over first", name, i);
	if (rw_takeover_hook)
		rw_takeover_hook(e, 1);
	write_owner_fields(e, flags, depends_on); /* name and cursor kept */
	if (rw_takeover_hook)
		rw_takeover_hook(e, 2);
	if (atomic_load_explicit(&e->generation, memory_order_seq_cst) != g + 1)
		return fail(err, RW_ERR_DUPLICATE_NAME,
			    "\"%s\": another registration took entry %u over meanwhile", name, i);
	fill_consumer(c, seg, i, flags, depends_on);
	c->generation = g + 1;
	c->taken_over = 1; /* resumes at the dead owner's cursor (at-least-once) */
	ok(err);
	return RW_OK;
}

/* Another live active entry named name, other than skip; -1 if none. */
static int find_live_duplicate(rw_segment *seg, const char *name, size_t nlen, uint32_t skip,
			       int *dead_index)
{
	*dead_index = -1;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		if (i == skip)
			continue;
		rw_entry *e = rw_entry_at(seg, i);
		if (atomic_load_explicit(&e->state, memory_order_acquire) != RW_ENTRY_ACTIVE)
			continue;
		if (!same_name(e, name, nlen))
			continue;
		if (rw_process_dead(*(volatile uint32_t *)&e->owner_pid,
				    load_plain_u64(&e->owner_start_time))) {
			if (*dead_index < 0)
				*dead_index = (int)i;
			continue;
		}
		return (int)i;
	}
	return -1;
}

rw_code rw_register(rw_consumer *c, rw_segment *seg, const char *name, uint32_t flags,
		    uint64_t depends_on, rw_start start, rw_error *err)
{
	size_t nlen = name ? strlen(name) : 0;
	if (nlen < 1 || nlen > RW_MAX_CONSUMER_NAME)
		return fail(err, RW_ERR_INVALID_ARG, "consumer name must be 1 to 48 bytes");
	if (flags & ~(uint32_t)RW_FLAG_REQUIRED)
		return fail(err, RW_ERR_INVALID_ARG, "unknown flags 0x%x", flags);
	if (seg->g.registry_capacity < 64 && (depends_on >> seg->g.registry_capacity) != 0)
		return fail(err, RW_ERR_INVALID_ARG, "depends_on names entries beyond the registry");
	uint64_t cap = seg->g.capacity;

	/* 5.7 step 5: refuse a live duplicate; take over a dead one. */
	int dead;
	int dup = find_live_duplicate(seg, name, nlen, UINT32_MAX, &dead);
	if (dup >= 0)
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" is active in entry %d", name, dup);
	if (dead >= 0) {
		rw_code rc = take_over(c, seg, (uint32_t)dead, name, nlen, flags, depends_on, err);
		if (rc != RW_ERR_NOT_FOUND)
			return rc;
		/* evicted or closed meanwhile: register anew (the post-check below refuses if the
		 * name is live again) */
	}

	/* step 1 */
	uint32_t idx = UINT32_MAX;
	for (uint32_t i = 0; i < seg->g.registry_capacity && idx == UINT32_MAX; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s != RW_ENTRY_FREE && s != RW_ENTRY_CLOSED && s != RW_ENTRY_EVICTED)
			continue;
		if (atomic_compare_exchange_strong_explicit(&e->state, &s, RW_ENTRY_CLAIMING,
							    memory_order_acq_rel,
							    memory_order_acquire))
			idx = i;
	}
	if (idx == UINT32_MAX)
		return fail(err, RW_ERR_REGISTRY_FULL, "%u entries in use",
			    seg->g.registry_capacity);
	rw_entry *e = rw_entry_at(seg, idx);
	/* step 2 */
	atomic_fetch_add_explicit(&e->generation, 1, memory_order_seq_cst);
	write_owner(e, name, nlen, flags, depends_on);
	atomic_store_explicit(&e->lost, 0, memory_order_release);
	atomic_store_explicit(&e->gaps_seen, 0, memory_order_release); /* see README reading 18 */
	uint64_t provisional = producer_count(seg);
	atomic_store_explicit(&e->cursor, provisional, memory_order_release);
	/* step 3 */
	atomic_store_explicit(&e->state, RW_ENTRY_ACTIVE, memory_order_seq_cst);
	/* Two registrations of one name racing past the pre-check both become active; each then
	 * sees the other (seq_cst), and backs off. */
	dup = find_live_duplicate(seg, name, nlen, idx, &dead);
	if (dup >= 0) {
		atomic_store_explicit(&e->state, RW_ENTRY_CLOSED, memory_order_release);
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" is active in entry %d", name, dup);
	}
	/* step 4 */
	uint64_t cursor;
	if (start == RW_START_LATEST) {
		cursor = producer_count(seg);
	} else {
		uint64_t floor = provisional > cap ? provisional - cap : 0;
		cursor = provisional;
		for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
			if (i == idx)
				continue;
			rw_entry *o = rw_entry_at(seg, i);
			if (atomic_load_explicit(&o->state, memory_order_acquire) != RW_ENTRY_ACTIVE ||
			    !(o->flags & RW_FLAG_REQUIRED))
				continue;
			uint64_t oc = atomic_load_explicit(&o->cursor, memory_order_acquire);
			if (oc < cursor)
				cursor = oc;
		}
		if (cursor < floor)
			cursor = floor;
	}
	atomic_store_explicit(&e->cursor, cursor, memory_order_release);
	fill_consumer(c, seg, idx, flags, depends_on);
	c->next = cursor;
	ok(err);
	return RW_OK;
}

rw_code rw_check_owner(const rw_consumer *c)
{
	if (atomic_load_explicit(&c->entry->state, memory_order_acquire) != RW_ENTRY_ACTIVE ||
	    atomic_load_explicit(&c->entry->generation, memory_order_seq_cst) != c->generation)
		return RW_ERR_EVICTED;
	return RW_OK;
}

void rw_heartbeat(rw_consumer *c)
{
	atomic_store_explicit(&c->entry->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
}

uint64_t rw_available(rw_consumer *c, uint64_t max)
{
	rw_segment *seg = c->seg;
	uint64_t next = c->next;
	uint64_t cap_hi = next + max;
	uint64_t hi;
	if (seg->g.mode == RW_MODE_SINGLE) {
		hi = atomic_load_explicit(&seg->cursors->published, memory_order_acquire);
		if (hi < next)
			hi = next;
		if (hi > cap_hi)
			hi = cap_hi;
	} else {
		uint64_t limit = claimed_count(seg);
		if (limit > cap_hi)
			limit = cap_hi;
		uint64_t s = next;
		while (s < limit) {
			uint64_t w =
				atomic_load_explicit(rw_availability_word(seg, s), memory_order_acquire);
			if (w != s + 1 && w != ((s + 1) | RW_AVAIL_GAP))
				break;
			s++;
		}
		hi = s;
	}
	for (uint32_t i = 0; c->depends_on && i < seg->g.registry_capacity && i < 64; i++) {
		if (!(c->depends_on >> i & 1))
			continue;
		uint64_t dc =
			atomic_load_explicit(&rw_entry_at(seg, i)->cursor, memory_order_acquire);
		if (dc < hi)
			hi = dc < next ? next : dc;
	}
	return hi;
}

void rw_release(rw_consumer *c, uint64_t hi)
{
	rw_segment *seg = c->seg;
	c->next = hi;
	/* 5.5 step 2: a release store while nobody may block in the kernel, else seq-cst (ordered
	 * before the waiters loads of step 3) */
	uint32_t pb = atomic_load_explicit(&seg->hdr->producer_blockers, memory_order_acquire);
	uint32_t cb = atomic_load_explicit(&seg->hdr->consumer_blockers, memory_order_acquire);
	if (pb | cb) /* two stores: a computed order would be seq_cst always (see rw_commit) */
		atomic_store_explicit(&c->entry->cursor, hi, memory_order_seq_cst);
	else
		atomic_store_explicit(&c->entry->cursor, hi, memory_order_release);
	/* step 3: producers wait for room on the producer word; consumers that read behind this
	 * one (depends_on) wait on the consumer word. Each handshake only if its blockers count
	 * was not 0; each word is bumped only if it has waiters. */
	if (pb)
		rw_wake_if_waiting(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	if (cb)
		rw_wake_if_waiting(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
}

struct data_wait {
	rw_consumer *c;
};

static int data_or_news(void *arg)
{
	rw_consumer *c = ((struct data_wait *)arg)->c;
	return rw_available(c, 1) > c->next || rw_check_owner(c) != RW_OK ||
	       poison_pending(c->seg) ||
	       atomic_load_explicit(&c->seg->hdr->producer_state, memory_order_acquire) ==
		       RW_PRODUCER_CLOSED;
}

/* Passes over the whole run of gaps at c->next (max bounds events, not gaps): counts it,
 * releases it, reports it. */
static rw_code pass_gaps(rw_consumer *c, rw_error *err)
{
	uint64_t hi = rw_available(c, c->seg->g.capacity);
	uint64_t from = c->next, s = from;
	while (s < hi && rw_is_gap(c->seg, s))
		s++;
	c->gaps_seen += s - from;
	atomic_store_explicit(&c->entry->gaps_seen, c->gaps_seen, memory_order_release);
	c->gap_seq = from;
	c->gap_count = s - from;
	rw_release(c, s);
	return fail(err, RW_ERR_GAP,
		    "%llu sequence(s) from %llu passed over: their producer died before publishing",
		    (unsigned long long)(s - from), (unsigned long long)from);
}

#define RW_STALL_RECHECK_NS 10000000ull /* re-run 5.8 every 10 ms once stalled */

rw_code rw_consume(rw_consumer *c, void *out, uint32_t max, uint32_t *got, int64_t timeout_ms,
		   rw_error *err)
{
	rw_segment *seg = c->seg;
	uint64_t cap = seg->g.capacity;
	uint32_t es = seg->g.event_size;
	*got = 0;
	if (max == 0)
		return fail(err, RW_ERR_INVALID_ARG, "max is 0");
	uint64_t deadline = deadline_after(timeout_ms);
	int required = (c->flags & RW_FLAG_REQUIRED) != 0;
	int multi = seg->g.mode == RW_MODE_MULTI;
	/* 5.8: only required consumers gate the producers, so only they may pass over claims */
	int check_dead = multi && required && c->stall_timeout_ms >= 0;
	uint64_t stuck_at = UINT64_MAX, check_at = 0;
	uint64_t hi;
	int waited = 0;
	for (;;) {
		if (rw_check_owner(c) != RW_OK)
			return fail(err, RW_ERR_EVICTED, "entry %u was taken from us", c->index);
		if (!required) {
			/* An optional consumer that was lapped skips what the producer may already
			 * be overwriting, and counts it (spec 10). */
			uint64_t claimed = claimed_count(seg);
			if (claimed > cap && c->next < claimed - cap) {
				uint64_t skip = claimed - cap - c->next;
				c->lost += skip;
				atomic_store_explicit(&c->entry->lost, c->lost, memory_order_release);
				c->next += skip;
			}
		}
		hi = rw_available(c, max);
		if (hi > c->next)
			break;
		/* 5.5 step 4: nothing available */
		if (poison_pending(seg)) {
			hi = rw_available(c, max);
			if (hi > c->next)
				break;
			return fail_poisoned(seg, err);
		}
		if (atomic_load_explicit(&seg->hdr->producer_state, memory_order_acquire) ==
		    RW_PRODUCER_CLOSED) {
			/* re-read once; in multi mode the stream ends only when everything
			 * claimed was read (the creator waited for it, 5.4) */
			hi = rw_available(c, max);
			if (hi > c->next)
				break;
			if (!multi || c->next >= claimed_count(seg))
				return fail(err, RW_ERR_ENDED, "producer closed after %llu events",
					    (unsigned long long)c->next);
		}
		uint64_t now = rw_monotonic_ns();
		uint64_t wake_at = deadline;
		if (check_dead && c->next < claimed_count(seg)) {
			/* 5.8: a claimed sequence is not published; maybe its producer died */
			if (stuck_at != c->next) {
				stuck_at = c->next;
				check_at = now + (uint64_t)c->stall_timeout_ms * 1000000ull;
			}
			if (now >= check_at) {
				if (rw_pass_over_dead_claims(seg, c->next) > 0)
					continue;
				check_at = now + RW_STALL_RECHECK_NS;
			}
			if (check_at < wake_at)
				wake_at = check_at;
		}
		if (now >= deadline)
			return fail(err, RW_ERR_TIMEOUT, "no event after sequence %llu",
				    (unsigned long long)c->next);
		rw_heartbeat(c);
		waited = 1;
		struct data_wait w = {c};
		rw_block_until(&seg->wait->consumer_waiters, &seg->wait->consumer_wake,
			       data_or_news, &w, wake_at, c->blocker_since_ns);
	}
	if (!waited && (c->next & 1023) < max) /* keeps a busy consumer's heartbeat fresh */
		rw_heartbeat(c);
	if (multi) {
		/* 5.5 step 2: gaps are passed over, counted and reported, never copied */
		uint64_t g = c->next;
		while (g < hi && !rw_is_gap(seg, g))
			g++;
		if (g == c->next)
			return pass_gaps(c, err);
		hi = g;
	}
	uint8_t *dst = out;
	uint64_t n = hi - c->next;
	for (uint64_t i = 0; i < n; i++)
		memcpy(dst + i * es, rw_slot(seg, c->next + i), es);
	if (!required) {
		/* Seqlock-style re-check: events whose slot was claimed again while we copied may
		 * be torn; drop and count them. */
		atomic_thread_fence(memory_order_acquire);
		uint64_t claimed = atomic_load_explicit(&seg->cursors->claimed, memory_order_relaxed) &
				   RW_COUNT_MASK;
		if (claimed > cap && c->next < claimed - cap) {
			uint64_t bad = claimed - cap - c->next;
			if (bad > n)
				bad = n;
			memmove(dst, dst + bad * es, (size_t)((n - bad) * es));
			n -= bad;
			c->lost += bad;
			atomic_store_explicit(&c->entry->lost, c->lost, memory_order_release);
		}
	}
	rw_release(c, hi);
	*got = (uint32_t)n;
	ok(err);
	return RW_OK;
}

void rw_consumer_poll_only(rw_consumer *c)
{
	blocker_release(&c->seg->hdr->consumer_blockers, &c->blocker_since_ns);
}

void rw_deregister(rw_consumer *c)
{
	/* 5.6: leaves the blockers count whether or not the entry is still ours */
	blocker_release(&c->seg->hdr->consumer_blockers, &c->blocker_since_ns);
	if (rw_check_owner(c) != RW_OK)
		return;
	atomic_store_explicit(&c->entry->state, RW_ENTRY_CLOSED, memory_order_release);
	/* a closed entry no longer gates: let a producer waiting for room re-check */
	rw_wake_if_waiting(&c->seg->wait->producer_waiters, &c->seg->wait->producer_wake);
}

uint32_t rw_evict_dead(rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		uint32_t s = atomic_load_explicit(&e->state, memory_order_acquire);
		if (s != RW_ENTRY_ACTIVE ||
		    !rw_process_dead(*(volatile uint32_t *)&e->owner_pid,
				     load_plain_u64(&e->owner_start_time)))
			continue;
		if (atomic_compare_exchange_strong_explicit(&e->state, &s, RW_ENTRY_EVICTED,
							    memory_order_acq_rel,
							    memory_order_acquire))
			n++;
	}
	if (n)
		rw_wake_if_waiting(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	return n;
}
