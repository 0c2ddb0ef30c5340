/*
 * ringwire.c - implementation of ringwire.h (and ringwire_layout.h's functions). Section numbers refer to spec/LAYOUT.md.
 *
 * Memory ordering. Every atomic in the segment is accessed through C11 atomics with the ordering
 * the spec tables give, and the fences of 5.11 are written where the spec puts them:
 *  - F1 (release fence after the single-mode claimed store): rw_producer_claim;
 *  - F2 (seq-cst fence between a release store and a waiters load): wake_after_store and
 *    rw_consumer_release, only when a blockers count is nonzero;
 *  - F3 (membarrier(MEMBARRIER_CMD_GLOBAL) after a blocker's seq-cst add): blocker_register;
 *  - F4 (acquire fence after a consumer's copy, before an optional one's claimed load and a
 *    required one's state and owner loads): rw_consumer_consume.
 * Wakers store their cursor (release) and only then load the blockers count; a compiler fence
 * keeps that load after the store, F3 makes it correct for the CPU (5.6). Changes that are not
 * cursor moves (close, poison, deregistration, eviction) are seq-cst stores or CASes followed by a
 * seq-cst load of the waiters words (wake_unconditionally). Registry `state` and `owner` words
 * change only by seq-cst CAS. Multi-mode intents are seq-cst stores before the seq-cst CAS on
 * claimed, and 5.8 reads them end, start, end.
 */
#define _GNU_SOURCE /* syscall(), futex; harmless elsewhere */
#include "ringwire_internal.h"

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
#include <linux/membarrier.h>
#include <sys/syscall.h>
#ifndef MEMBARRIER_CMD_GLOBAL
#define MEMBARRIER_CMD_GLOBAL MEMBARRIER_CMD_SHARED /* the name before Linux 4.16 */
#endif
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
	[RW_ERR_NO_SPACE] = "no_space",
	[RW_ERR_INVALID_NAME] = "invalid_name",
	[RW_ERR_NOT_REGULAR] = "not_regular",
	[RW_ERR_PRODUCER_DEAD] = "producer_dead",
	[RW_ERR_LOST] = "lost",
	[RW_ERR_BUSY] = "registry_busy",
	[RW_ERR_PAYLOAD_KIND] = "payload_kind",
	[RW_ERR_FRAME_GEOMETRY] = "frame_geometry",
	[RW_ERR_CORRUPT_FRAME] = "corrupt_frame",
	[RW_ERR_TOO_LARGE] = "too_large",
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
	[RW_ERR_DUPLICATE_NAME] = "duplicate name",
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
	[RW_ERR_NO_SPACE] = "no space",
	[RW_ERR_INVALID_NAME] = "invalid name",
	[RW_ERR_NOT_REGULAR] = "not a regular file",
	[RW_ERR_PRODUCER_DEAD] = "producer dead",
	[RW_ERR_LOST] = "events lost",
	[RW_ERR_BUSY] = "registry busy",
	[RW_ERR_PAYLOAD_KIND] = "wrong payload kind",
	[RW_ERR_FRAME_GEOMETRY] = "bad frame geometry",
	[RW_ERR_CORRUPT_FRAME] = "corrupt frame",
	[RW_ERR_TOO_LARGE] = "message too large",
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

/* FNV-1a 64 of "frames{" + name[0..len) + "}" (spec 11.1), without building the string. */
static uint64_t framed_fingerprint(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const struct {
		const char *p;
		size_t n;
	} parts[3] = {{"frames{", 7}, {name, len}, {"}", 1}};
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < parts[k].n; i++) {
			h ^= (uint8_t)parts[k].p[i];
			h *= 0x100000001b3ull;
		}
	return h;
}

uint64_t rw_framed_fingerprint(const char *type_name)
{
	const char *name = type_name ? type_name : RW_DEFAULT_MESSAGE_TYPE;
	return framed_fingerprint(name, strlen(name));
}

rw_event_type rw_framed_type(const char *type_name, uint32_t slot_size, uint32_t slot_align)
{
	const char *name = type_name ? type_name : RW_DEFAULT_MESSAGE_TYPE;
	return (rw_event_type){.event_size = slot_size,
			       .event_align = slot_align,
			       .fingerprint = rw_framed_fingerprint(name),
			       .name = name};
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


int rw_valid_name(const char *name, size_t len)
{
	/* spec 9: "/" + component; component is 1 to 255 bytes, no "/" or NUL, not "." or ".." */
	if (!name || len < 2 || len > RW_MAX_NAME || name[0] != '/')
		return 0;
#ifdef __APPLE__
	if (len > 31)
		return 0;
#endif
	for (size_t i = 1; i < len; i++)
		if (name[i] == '/' || name[i] == 0)
			return 0;
	if ((len == 2 && name[1] == '.') || (len == 3 && name[1] == '.' && name[2] == '.'))
		return 0;
	return 1;
}

/* ---- Time and processes (section 8) ------------------------------------------------------------ */

rw_test_hooks rw_test;

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

/* Section 8: a pid of 0 or of 2^31 or more names no process, and kill gives such values other
 * meanings (0: our process group, -1 as pid_t: every process), so they are never passed to it. */
static int pid_names_nobody(uint32_t pid) { return pid == 0 || pid >= 0x80000000u; }

#if defined(__linux__)
/* Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat. comm (field 2) may itself contain ')'
 * and spaces, so fields are counted after the LAST ')'. Returns 0, or -1 with errno (ENOENT or
 * ESRCH: no such process). */
static int proc_stat(uint32_t pid, char *state, uint64_t *start)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%lu/stat", (unsigned long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = read(fd, buf, sizeof buf - 1);
	int e = errno;
	close(fd);
	if (len <= 0) {
		errno = len < 0 ? e : EIO;
		return -1;
	}
	buf[len] = 0;
	char *p = strrchr(buf, ')');
	if (!p) {
		errno = EIO;
		return -1;
	}
	p++;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == 0)
			break;
		if (field == 3)
			*state = *p;
		if (field == 22) {
			uint64_t v = 0;
			if (*p < '0' || *p > '9')
				break;
			while (*p >= '0' && *p <= '9')
				v = v * 10 + (uint64_t)(*p++ - '0');
			*start = v;
			return 0;
		}
		while (*p && *p != ' ')
			p++;
	}
	errno = EIO;
	return -1;
}
#endif

uint64_t rw_process_start_time(pid_t pid)
{
#if defined(__linux__)
	char state;
	uint64_t start;
	return pid > 0 && proc_stat((uint32_t)pid, &state, &start) == 0 ? start : 0;
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

/* Section 8: dead when the pid names nobody, no process has it, it is a zombie, or its start time
 * differs in the bits of mask (all of them for *_start_time fields, the low 32 for owner
 * identities). An unknown start time (0 on either side) compares equal. */
static int process_dead(uint32_t pid, uint64_t start, uint64_t mask)
{
	if (pid_names_nobody(pid))
		return 1;
	if (rw_test.before_kill)
		rw_test.before_kill(pid);
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 1; /* EPERM: it exists */
#if defined(__linux__)
	char state = 0;
	uint64_t now = 0;
	if (proc_stat(pid, &state, &now) != 0)
		return errno == ENOENT || errno == ESRCH; /* gone since kill */
	if (state == 'Z' || state == 'X')
		return 1; /* exited, not yet reaped */
	return (start & mask) != 0 && now != 0 && ((start ^ now) & mask) != 0;
#elif defined(__APPLE__)
	struct kinfo_proc kp;
	size_t len = sizeof kp;
	int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
	if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0)
		return 0;
	if (len == 0 || kp.kp_proc.p_stat == SZOMB)
		return 1;
	uint64_t now = (uint64_t)kp.kp_proc.p_starttime.tv_sec * 1000000ull +
		       (uint64_t)kp.kp_proc.p_starttime.tv_usec;
	return (start & mask) != 0 && now != 0 && ((start ^ now) & mask) != 0;
#else
	(void)start, (void)mask;
	return 0;
#endif
}

int rw_process_dead(uint32_t pid, uint64_t start_time)
{
	return process_dead(pid, start_time, ~0ull);
}

int rw_owner_dead(uint64_t owner)
{
	return process_dead(rw_owner_pid(owner), rw_owner_start_time(owner), 0xFFFFFFFFull);
}

/* This process's identity, cached; the pid in it tells a forked child to recompute. */
static _Atomic uint64_t self_identity;

uint64_t rw_self_identity(void)
{
	uint32_t pid = (uint32_t)getpid();
	uint64_t id = atomic_load_explicit(&self_identity, memory_order_relaxed);
	if (id != 0 && rw_owner_pid(id) == pid)
		return id;
	id = rw_owner_identity(pid, rw_process_start_time((pid_t)pid));
	atomic_store_explicit(&self_identity, id, memory_order_relaxed);
	return id;
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
	if (rw_test.before_kernel_wait)
		rw_test.before_kernel_wait(timeout_ns);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* F3: a system-wide barrier. 0 on success. */
static int membarrier_global(void)
{
	if (rw_test.membarrier_fails)
		return -1;
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0 ? 0 : -1;
#else
	return -1;
#endif
}
#endif

/* The end of the handshake (5.6): the caller has made its change and ordered it before this
 * seq-cst load (a seq-cst store or CAS, or a release store followed by F2). Bumps the wake word
 * and wakes its waiters if the waiters count is nonzero. */
static void wake_if_waiters(_Atomic uint32_t *waiters, _Atomic uint32_t *wake)
{
	if (atomic_load_explicit(waiters, memory_order_seq_cst) != 0) {
		atomic_fetch_add_explicit(wake, 1, memory_order_seq_cst);
#ifdef __linux__
		futex_wake_all(wake);
#endif
	}
}

/* 5.6 "wake unconditionally", after a change made with a seq-cst store or CAS (close, poison,
 * deregistration, eviction): whatever the blockers counts say. */
static void wake_unconditionally(_Atomic uint32_t *waiters, _Atomic uint32_t *wake)
{
	wake_if_waiters(waiters, wake);
}

/* 5.3 step 5 (and 5.5 step 3 for one word): the caller has just made a release store. Loads the
 * blockers count after it; only if it is not 0: F2, then the waiters handshake. The compiler fence
 * keeps the load after the store in program order; the CPU may still satisfy it early, which F3
 * on the blocker's side makes harmless (spec 5.6). */
static inline void wake_after_store(_Atomic uint32_t *blockers, _Atomic uint32_t *waiters,
				    _Atomic uint32_t *wake)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (atomic_load_explicit(blockers, memory_order_relaxed) == 0)
		return;
	atomic_thread_fence(memory_order_seq_cst); /* F2 */
	wake_if_waiters(waiters, wake);
}

/* 5.5 step 3, after a consumer's release store of its cursor: loads both blockers counts after
 * it and, if either is not 0, F2 and the waiters handshake on each word whose count is not 0:
 * producers wait for room on the producer word, consumers that read behind this one (depends_on)
 * on the consumer word. */
static void wake_after_cursor_store(rw_segment *seg)
{
	atomic_signal_fence(memory_order_seq_cst); /* keep the loads after the store (F3, 5.6) */
	uint32_t pb = atomic_load_explicit(&seg->hdr->producer_blockers, memory_order_relaxed);
	uint32_t cb = atomic_load_explicit(&seg->hdr->consumer_blockers, memory_order_relaxed);
	if ((pb | cb) == 0)
		return;
	atomic_thread_fence(memory_order_seq_cst); /* F2 */
	if (pb)
		wake_if_waiters(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	if (cb)
		wake_if_waiters(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
}

/* 5.6: registers as a blocker before the first kernel wait: seq-cst add, then F3. If the barrier
 * fails the blocker bounds its kernel waits to 1 ms (RW_BLOCKER_BOUNDED). Where there is no futex
 * nobody registers: waiters sleep. */
static void blocker_register(_Atomic uint32_t *count, int *blocker)
{
	if (*blocker != RW_BLOCKER_NONE)
		return;
#ifdef __linux__
	atomic_fetch_add_explicit(count, 1, memory_order_seq_cst);
	*blocker = membarrier_global() == 0 ? RW_BLOCKER_REGISTERED : RW_BLOCKER_BOUNDED;
#else
	(void)count;
	*blocker = RW_BLOCKER_NEVER;
#endif
}

/* Leaves the blockers count if registered; the peer never registers again. */
static void blocker_leave(_Atomic uint32_t *count, int *blocker)
{
	if (*blocker == RW_BLOCKER_REGISTERED || *blocker == RW_BLOCKER_BOUNDED)
		atomic_fetch_sub_explicit(count, 1, memory_order_seq_cst);
	*blocker = RW_BLOCKER_NEVER;
}

typedef int (*rw_cond)(void *arg);

#define RW_WAIT_SLICE_NS 20000000ull  /* re-check at least every 20 ms even without a wake */
#define RW_BOUNDED_SLICE_NS 1000000ull /* 5.6: without F3, every kernel wait is at most 1 ms */
#define RW_HEARTBEAT_WAIT_NS 250000000ull /* heartbeats while waiting: every 250 ms (spec 8: 1 s) */
#define RW_LIVENESS_NS 500000000ull   /* 5.5 step 4: producers checked every 500 ms (spec: 1 s) */
#define RW_PRODUCER_RESOLVE_NS 100000000ull /* 5.8: a producer waiting for room passes dead claims
					      * over after 100 ms of waiting, then every 100 ms */

/* Waits until cond(arg) is true or the monotonic deadline passes (UINT64_MAX: never). Yields a
 * few times first. Then, on Linux and unless *blocker is RW_BLOCKER_NEVER, registers as a blocker
 * (once) and blocks per 5.6 in futex: waiters + 1, load the wake word, re-check cond (which covers
 * everything that is followed by a wake of this word), futex_wait, waiters - 1. Each kernel wait
 * lasts at most 20 ms (1 ms when membarrier failed); wakeups may be spurious and are re-checked.
 * Any other waiter sleeps with a bounded backoff, 1 us doubling to 1 ms. */
static rw_code rw_block_until(_Atomic uint32_t *blockers, int *blocker, _Atomic uint32_t *waiters,
			      _Atomic uint32_t *wake, rw_cond cond, void *arg, uint64_t deadline)
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
		blocker_register(blockers, blocker);
		if (*blocker == RW_BLOCKER_REGISTERED || *blocker == RW_BLOCKER_BOUNDED) {
			uint64_t cap = *blocker == RW_BLOCKER_BOUNDED ? RW_BOUNDED_SLICE_NS
				       : rw_test.wait_slice_ns      ? rw_test.wait_slice_ns
								    : RW_WAIT_SLICE_NS;
			if (slice > cap)
				slice = cap;
			atomic_fetch_add_explicit(waiters, 1, memory_order_seq_cst); /* step 1 */
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
		(void)blockers, (void)blocker, (void)waiters, (void)wake;
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

/* The size of the first rw_config: every field up to perm. A config smaller than that was never
 * initialized with rw_config_init (or comes from a library older than this API). Fields appended
 * later are read only when they fit in cfg->size. */
#define RW_CONFIG_SIZE_V1 (offsetof(rw_config, perm) + sizeof(unsigned))
/* The fields appended in format 2.1, read only when they fit in cfg->size. */
#define RW_CONFIG_HAS(cfg, field) ((cfg)->size >= offsetof(rw_config, field) + sizeof((cfg)->field))

/* The largest max_message of a framed ring of capacity slots of slot_size bytes: (capacity / 8) *
 * slot_size - 16 (11.1), at most 2^31; 0 if there is no room at all. */
static uint64_t largest_message(uint64_t capacity, uint32_t slot_size)
{
	uint64_t room = capacity / 8 * slot_size;
	if (room <= RW_FRAME_HEADER_LEN)
		return 0;
	room -= RW_FRAME_HEADER_LEN;
	return room < (1ull << 31) ? room : (1ull << 31);
}

/* A framed configuration against 11.1 (the fixed checks of rw_layout passed): fills g's framed
 * fields. */
static rw_code layout_frames(const rw_config *cfg, rw_geometry *g, rw_error *err)
{
	const rw_event_type *t = &cfg->type;
	const char *name = t->name ? t->name : RW_DEFAULT_MESSAGE_TYPE;
	if (t->event_align < RW_MIN_FRAME_ALIGN)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "framed slots aligned to %u, at least %u",
			    t->event_align, RW_MIN_FRAME_ALIGN);
	if (t->event_size % t->event_align != 0 || t->event_size <= RW_FRAME_HEADER_LEN)
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "framed slot size %u: a multiple of its alignment %u and over %u",
			    t->event_size, t->event_align, RW_FRAME_HEADER_LEN);
	if (cfg->capacity < RW_MIN_FRAMED_CAPACITY)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "a framed ring needs at least %u slots, not %llu",
			    RW_MIN_FRAMED_CAPACITY, (unsigned long long)cfg->capacity);
	if (t->fingerprint != 0 && t->fingerprint != rw_framed_fingerprint(name))
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "fingerprint 0x%016llx is not that of frames{%s} (use rw_framed_type)",
			    (unsigned long long)t->fingerprint, name);
	uint64_t largest = largest_message(cfg->capacity, t->event_size);
	uint64_t m = RW_CONFIG_HAS(cfg, max_message) && cfg->max_message ? cfg->max_message : largest;
	if (m < 1 || m > largest)
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "largest message %llu: at most %llu for %llu slots of %u bytes (a frame "
			    "spans at most an eighth of the ring)",
			    (unsigned long long)m, (unsigned long long)largest,
			    (unsigned long long)cfg->capacity, t->event_size);
	g->version_minor = RW_VERSION_MINOR_FRAMED;
	g->payload_kind = RW_PAYLOAD_FRAMED;
	g->type_fingerprint = rw_framed_fingerprint(name);
	g->frames = (rw_frame_geometry){.header_len = RW_FRAME_HEADER_LEN,
					.max_message = (uint32_t)m,
					.slot_size = t->event_size,
					.capacity = cfg->capacity};
	g->frames_ok = 1;
	size_t n = strlen(name);
	memcpy(g->type_name, name, n);
	g->type_name_len = (uint32_t)n;
	return RW_OK;
}

rw_code rw_layout(const rw_config *cfg, rw_geometry *g, rw_error *err)
{
	if (!cfg || cfg->size < RW_CONFIG_SIZE_V1)
		return fail(err, RW_ERR_INVALID_ARG,
			    "rw_config of %u bytes: initialize it with rw_config_init",
			    cfg ? cfg->size : 0);
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
	uint32_t kind = RW_CONFIG_HAS(cfg, payload_kind) ? cfg->payload_kind : RW_PAYLOAD_FIXED;
	if (kind != RW_PAYLOAD_FIXED && kind != RW_PAYLOAD_FRAMED)
		return fail(err, RW_ERR_INVALID_ARG, "payload kind %u (0 fixed, 1 framed)", kind);

	memset(g, 0, sizeof *g);
	g->version_major = RW_VERSION_MAJOR;
	g->version_minor = RW_VERSION_MINOR_FIXED; /* a ring of fixed events keeps 2.0's bytes */
	g->payload_kind = RW_PAYLOAD_FIXED;
	if (t->name) {
		g->type_name_len = (uint32_t)strlen(t->name);
		memcpy(g->type_name, t->name, g->type_name_len);
	}
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
	if (kind == RW_PAYLOAD_FRAMED) {
		rw_code rc = layout_frames(cfg, g, err);
		if (rc != RW_OK)
			return rc;
	}
	/* Placement of a version 2.0 creator (spec 4, table "regions"), computed cumulatively. */
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
	/* 5.1 step 2: every field but init_state (which creation / the caller left 0). */
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
	atomic_store_explicit(&h->producer_state, RW_STREAM_OPEN, memory_order_relaxed);
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
	/* a framed ring's name is the geometry's ("bytes" when the application gave none) */
	const char *name = g->payload_kind == RW_PAYLOAD_FRAMED ? g->type_name
			   : type && type->name			   ? type->name
								   : NULL;
	size_t nlen = name ? strlen(name) : 0;
	if (nlen > RW_MAX_TYPE_NAME)
		nlen = RW_MAX_TYPE_NAME;
	h->type_name_len = (uint32_t)nlen;
	if (nlen)
		memcpy(h->type_name, name, nlen);
	if (g->payload_kind == RW_PAYLOAD_FRAMED) {
		/* spec 11.1: format 2.1's fields; a ring of fixed events leaves them zero */
		h->payload_kind = RW_PAYLOAD_FRAMED;
		h->frame_header_len = g->frames.header_len;
		h->max_message = g->frames.max_message;
	}
	/* 5.1 step 2, in both modes: producer entry 0 is the creator's: owner, heartbeat, then
	 * state = active with generation 1 (0x101). */
	rw_producer_entry *pe = (rw_producer_entry *)(void *)((uint8_t *)buf + g->producers.offset);
	atomic_store_explicit(&pe->owner, rw_owner_identity(creator_pid, creator_start_time),
			      memory_order_relaxed);
	atomic_store_explicit(&pe->heartbeat_ns, created_unix_ns ? rw_monotonic_ns() : 0,
			      memory_order_relaxed);
	atomic_store_explicit(&pe->state, rw_state_word(RW_PRODUCER_ACTIVE, 1),
			      memory_order_relaxed);
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

static const char *payload_name(uint32_t kind)
{
	return kind == RW_PAYLOAD_FIXED ? "fixed events"
	       : kind == RW_PAYLOAD_FRAMED ? "framed messages"
					   : "an unknown payload kind";
}

/* Check 14 (spec 5.2): the frame geometry of 11.1, on geometry copied from a header that passed
 * checks 1 to 12 and has payload_kind 1. In Go's order (layout.checkFrames). */
static rw_code check_frame_geometry(const rw_geometry *g, rw_error *err)
{
	uint64_t hl = g->frames.header_len, slot = g->slot_size, m = g->frames.max_message;
	if (g->version_minor < RW_VERSION_MINOR_FRAMED)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "version %u.%u has no framed rings",
			    g->version_major, g->version_minor);
	if (g->slot_align < RW_MIN_FRAME_ALIGN)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "slot alignment %u is below %u", g->slot_align,
			    RW_MIN_FRAME_ALIGN);
	if (g->event_size != g->slot_size)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "event size %u is not the slot size %u",
			    g->event_size, g->slot_size);
	if (hl < RW_FRAME_HEADER_LEN || hl % 16 != 0 || hl >= slot)
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "frame header length %llu (a multiple of 16, at least 16, below the slot "
			    "size %llu)",
			    (unsigned long long)hl, (unsigned long long)slot);
	if (g->capacity < RW_MIN_FRAMED_CAPACITY)
		return fail(err, RW_ERR_FRAME_GEOMETRY, "capacity %llu is below %u",
			    (unsigned long long)g->capacity, RW_MIN_FRAMED_CAPACITY);
	if (m < 1 || hl + m > g->capacity / 8 * slot)
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "largest message %llu: a frame of %llu bytes must fit in %llu slots of "
			    "%llu (an eighth of the ring)",
			    (unsigned long long)m, (unsigned long long)(hl + m),
			    (unsigned long long)(g->capacity / 8), (unsigned long long)slot);
	uint64_t want = framed_fingerprint(g->type_name, g->type_name_len);
	if (g->type_fingerprint != want)
		return fail(err, RW_ERR_FRAME_GEOMETRY,
			    "fingerprint 0x%016llx is not that of frames{%.64s} (0x%016llx)",
			    (unsigned long long)g->type_fingerprint, g->type_name,
			    (unsigned long long)want);
	return RW_OK;
}

rw_code rw_check_framed(const rw_geometry *g, const char *type_name, rw_error *err)
{
	/* 13, a reader of framed messages */
	if (g->payload_kind != RW_PAYLOAD_FRAMED)
		return fail(err, RW_ERR_PAYLOAD_KIND,
			    "the ring holds %s (payload_kind %u), this reader reads framed messages",
			    payload_name(g->payload_kind), g->payload_kind);
	if (type_name && (strlen(type_name) != g->type_name_len ||
			  memcmp(type_name, g->type_name, g->type_name_len) != 0))
		return fail(err, RW_ERR_EVENT_TYPE, "the ring carries messages of type \"%.64s\", "
			    "this reader expects \"%.64s\"", g->type_name, type_name);
	/* 14 */
	rw_code rc = check_frame_geometry(g, err);
	if (rc == RW_OK)
		ok(err);
	return rc;
}

rw_code rw_validate_framed(const void *base, size_t len, const char *type_name, rw_geometry *out,
			   rw_error *err)
{
	rw_geometry g;
	rw_code rc = rw_validate(base, len, NULL, &g, err);
	if (rc == RW_OK)
		rc = rw_check_framed(&g, type_name, err);
	if (rc == RW_OK && out)
		*out = g;
	return rc;
}

int rw_frame_check(const rw_frame_geometry *g, uint64_t seq, const rw_frame_header *f)
{
	uint64_t i = seq & (g->capacity - 1);
	/* 1: the header names this sequence (a stale one from an earlier lap, or bytes that are no
	 * header, fail here) and bit 62 is clear */
	if ((f->seq_flags & RW_FRAME_SEQ_MASK) != (seq & RW_FRAME_SEQ_MASK) ||
	    (f->seq_flags & RW_FRAME_BIT62) != 0)
		return 1;
	/* 2: the frame stops at the end of the array */
	if (f->slots < 1 || i + f->slots > g->capacity)
		return 2;
	/* 3 */
	if (f->seq_flags & RW_FRAME_PAD)
		return f->length == 0 ? 0 : 3;
	if (f->length > g->max_message || f->slots != rw_frame_slots(g, f->length))
		return 3;
	return 0;
}

rw_code rw_validate(const void *base, size_t len, const rw_event_type *expect, rw_geometry *out,
		    rw_error *err)
{
	/* 1: an object of 0 bytes is created but not yet sized */
	if (len == 0)
		return fail(err, RW_ERR_INITIALIZING, "the object is 0 bytes long");
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
	g.creator_pid = h->creator_pid;
	g.creator_start_time = h->creator_start_time;
	/* What checks 13 and 14 read, copied once (check 9 bounded type_name_len). Check 14 is
	 * evaluated here whatever the reader, so that the framed calls can refuse a ring whose
	 * geometry failed it even when the attacher skipped it (expect NULL). */
	g.payload_kind = h->payload_kind;
	g.type_name_len = type_name_len;
	for (uint32_t i = 0; i < type_name_len; i++)
		g.type_name[i] = (char)((const volatile uint8_t *)h->type_name)[i];
	if (g.payload_kind == RW_PAYLOAD_FRAMED) {
		g.frames = (rw_frame_geometry){.header_len = h->frame_header_len,
					       .max_message = h->max_message,
					       .slot_size = g.slot_size,
					       .capacity = g.capacity};
		g.frames_ok = check_frame_geometry(&g, NULL) == RW_OK;
	}
	/* 13, a reader of fixed events: the payload kind first (a 2.0 reader has no such check,
	 * but its event type check refuses a framed ring: 11.1's fingerprint is no descriptor's) */
	if (expect && g.payload_kind != RW_PAYLOAD_FIXED)
		return fail(err, RW_ERR_PAYLOAD_KIND,
			    "the ring holds %s (payload_kind %u), this reader reads fixed events",
			    payload_name(g.payload_kind), g.payload_kind);
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

/* Removes a backing this process created (5.1: "on any failure the creator MUST remove what it
 * created"). */
static void remove_backing(int backing, const char *name)
{
	if (backing == RW_BACKING_SHM)
		shm_unlink(name);
	else
		unlink(name);
}

/* 5.1 step 1: sizes the new backing to len and reserves its memory. Linux: posix_fallocate, so a
 * full tmpfs fails here ("no space") instead of killing the first writer with SIGBUS; where the
 * file system cannot reserve, and elsewhere, ftruncate. Both zero-fill. */
static rw_code size_backing(int fd, uint64_t len, rw_error *err)
{
#ifdef __linux__
	int e = posix_fallocate(fd, 0, (off_t)len);
	if (e == 0)
		return RW_OK;
	if (e == ENOSPC || e == ENOMEM || e == EFBIG)
		return fail_sys(err, RW_ERR_NO_SPACE, "posix_fallocate", e);
	if (e != EOPNOTSUPP && e != ENOSYS && e != EINVAL)
		return fail_sys(err, RW_ERR_IO, "posix_fallocate", e);
#endif
	if (ftruncate(fd, (off_t)len) != 0)
		return fail_sys(err, errno == ENOSPC ? RW_ERR_NO_SPACE : RW_ERR_IO, "ftruncate", errno);
	return RW_OK;
}

/* Opens name / path without following a symlink (5.1). */
static int open_backing(int backing, const char *name, int flags, mode_t perm)
{
#ifdef __linux__
	flags |= O_NOFOLLOW; /* glibc adds it to shm_open too; other systems reject unknown flags */
	if (backing == RW_BACKING_SHM)
		return shm_open(name, flags, perm);
#else
	if (backing == RW_BACKING_SHM)
		return shm_open(name, flags, perm);
	flags |= O_NOFOLLOW;
#endif
	return open(name, flags | O_CLOEXEC, perm);
}

static rw_code check_name(int backing, const char *name, rw_error *err)
{
	if (!name)
		return fail(err, RW_ERR_INVALID_ARG, "segment name missing");
	size_t len = strlen(name);
	if (backing == RW_BACKING_SHM) {
		if (!rw_valid_name(name, len))
			return fail(err, RW_ERR_INVALID_NAME,
				    "\"%.64s\" is not \"/\" and 1 to 255 bytes without \"/\", nor "
				    "\".\" or \"..\" (spec 9)",
				    name);
	} else if (len == 0 || len > RW_MAX_NAME) {
		return fail(err, RW_ERR_INVALID_ARG, "file path empty or over %u bytes", RW_MAX_NAME);
	}
	return RW_OK;
}

static rw_code create_common(int backing, const char *name, const rw_config *cfg, rw_segment *seg,
			     rw_error *err)
{
	rw_code rc = check_name(backing, name, err);
	if (rc != RW_OK)
		return rc;
	rw_geometry g;
	rc = rw_layout(cfg, &g, err);
	if (rc != RW_OK)
		return rc;
	mode_t perm = cfg->perm ? (mode_t)cfg->perm : 0600;
	int fd = open_backing(backing, name, O_RDWR | O_CREAT | O_EXCL, perm);
	if (fd < 0)
		return errno == EEXIST ? fail(err, RW_ERR_EXISTS, "%s", name)
				       : fail_sys(err, RW_ERR_IO, name, errno);
	rc = size_backing(fd, g.total_size, err);
	if (rc != RW_OK) {
		close(fd);
		remove_backing(backing, name);
		return rc;
	}
	void *base = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (base == MAP_FAILED) {
		remove_backing(backing, name);
		return fail_sys(err, RW_ERR_IO, "mmap", e);
	}
	g.incarnation = random_nonzero();
	pid_t pid = getpid();
	g.creator_pid = (uint32_t)pid;
	g.creator_start_time = rw_process_start_time(pid);
	rw_init_image(base, &g, &cfg->type, g.incarnation, g.creator_pid, g.creator_start_time,
		      realtime_ns());
	fill_segment(seg, base, g.total_size, backing, name, &g);
	seg->creator = 1;
	ok(err);
	return RW_OK;
}

/* What an attacher expects (check 13): fixed events of type (NULL: skip 13), or framed messages
 * (type_name NULL: of any type; then also check 14). */
typedef struct rw_expect {
	int framed;
	const rw_event_type *type;
	const char *type_name;
} rw_expect;

static rw_code validate_expect(const void *base, size_t len, const rw_expect *x, rw_geometry *g,
			       rw_error *err)
{
	return x->framed ? rw_validate_framed(base, len, x->type_name, g, err)
			 : rw_validate(base, len, x->type, g, err);
}

static rw_code attach_common(int backing, const char *name, const rw_expect *x, int64_t timeout_ms,
			     rw_segment *seg, rw_error *err)
{
	rw_code rc = check_name(backing, name, err);
	if (rc != RW_OK)
		return rc;
	uint64_t deadline = deadline_after(timeout_ms);
	for (;;) {
		int retry = rw_monotonic_ns() < deadline;
		int fd = open_backing(backing, name, O_RDWR, 0);
		if (fd < 0) {
			int e = errno;
			if (e == ENOENT && retry) {
				sleep_ns(1000000);
				continue;
			}
			if (e == ELOOP)
				return fail(err, RW_ERR_NOT_REGULAR, "%s is a symbolic link", name);
			return e == ENOENT ? fail(err, RW_ERR_NOT_FOUND, "%s", name)
					   : fail_sys(err, RW_ERR_IO, name, e);
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			int e = errno;
			close(fd);
			return fail_sys(err, RW_ERR_IO, "fstat", e);
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			return fail(err, RW_ERR_NOT_REGULAR, "%s is not a regular file (mode 0%o)", name,
				    (unsigned)st.st_mode);
		}
		size_t len = st.st_size > 0 ? (size_t)st.st_size : 0;
		if (len == 0 && retry) { /* 5.1: created, not yet sized: initializing */
			close(fd);
			sleep_ns(1000000);
			continue;
		}
		if (len < RW_HEADER_LEN) {
			close(fd);
			return rw_validate(NULL, len, NULL, NULL, err); /* initializing / too small */
		}
		void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		int e = errno;
		close(fd);
		if (base == MAP_FAILED)
			return fail_sys(err, RW_ERR_IO, "mmap", e);
		rw_geometry g;
		rc = validate_expect(base, len, x, &g, err);
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

/* Allocates a handle, runs init on it and returns it through *out; on failure frees it and sets
 * *out to NULL. */
#define NEW_HANDLE(T, out, err, init)                                                              \
	do {                                                                                       \
		if (!(out))                                                                        \
			return fail(err, RW_ERR_INVALID_ARG, "no place for the handle (out is NULL)"); \
		T *h_ = calloc(1, sizeof *h_);                                                     \
		if (!h_) {                                                                         \
			*(out) = NULL;                                                             \
			return fail_sys(err, RW_ERR_IO, "calloc", ENOMEM);                         \
		}                                                                                  \
		rw_code rc_ = init;                                                                \
		if (rc_ != RW_OK) {                                                                \
			free(h_);                                                                  \
			*(out) = NULL;                                                             \
			return rc_;                                                                \
		}                                                                                  \
		*(out) = h_;                                                                       \
		return RW_OK;                                                                      \
	} while (0)

rw_code rw_segment_create_shm(const char *name, const rw_config *cfg, rw_segment **out,
			      rw_error *err)
{
	NEW_HANDLE(rw_segment, out, err, create_common(RW_BACKING_SHM, name, cfg, h_, err));
}

rw_code rw_segment_create_file(const char *path, const rw_config *cfg, rw_segment **out,
			       rw_error *err)
{
	NEW_HANDLE(rw_segment, out, err, create_common(RW_BACKING_FILE, path, cfg, h_, err));
}

rw_code rw_segment_attach_shm(const char *name, const rw_event_type *expect, int64_t timeout_ms,
			      rw_segment **out, rw_error *err)
{
	rw_expect x = {0, expect, NULL};
	NEW_HANDLE(rw_segment, out, err, attach_common(RW_BACKING_SHM, name, &x, timeout_ms, h_, err));
}

rw_code rw_segment_attach_framed_shm(const char *name, const char *type_name, int64_t timeout_ms,
				     rw_segment **out, rw_error *err)
{
	rw_expect x = {1, NULL, type_name};
	NEW_HANDLE(rw_segment, out, err, attach_common(RW_BACKING_SHM, name, &x, timeout_ms, h_, err));
}

rw_code rw_segment_attach_framed_file(const char *path, const char *type_name, int64_t timeout_ms,
				      rw_segment **out, rw_error *err)
{
	rw_expect x = {1, NULL, type_name};
	NEW_HANDLE(rw_segment, out, err, attach_common(RW_BACKING_FILE, path, &x, timeout_ms, h_, err));
}

rw_code rw_segment_attach_file(const char *path, const rw_event_type *expect, int64_t timeout_ms,
			       rw_segment **out, rw_error *err)
{
	rw_expect x = {0, expect, NULL};
	NEW_HANDLE(rw_segment, out, err, attach_common(RW_BACKING_FILE, path, &x, timeout_ms, h_, err));
}

static rw_code create_memory(void *buf, size_t len, const rw_config *cfg, rw_segment *seg,
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
	g.creator_pid = (uint32_t)pid;
	g.creator_start_time = rw_process_start_time(pid);
	rw_init_image(buf, &g, &cfg->type, g.incarnation, g.creator_pid, g.creator_start_time,
		      realtime_ns());
	fill_segment(seg, buf, g.total_size, RW_BACKING_MEMORY, NULL, &g);
	seg->creator = 1;
	ok(err);
	return RW_OK;
}

rw_code rw_segment_create_memory(void *buf, size_t len, const rw_config *cfg, rw_segment **out,
				 rw_error *err)
{
	NEW_HANDLE(rw_segment, out, err, create_memory(buf, len, cfg, h_, err));
}

static rw_code attach_memory(void *buf, size_t len, const rw_expect *x, rw_segment *seg,
			     rw_error *err)
{
	if (!buf || ((uintptr_t)buf % RW_REGION_ALIGN) != 0)
		return fail(err, RW_ERR_INVALID_ARG, "memory backing must be 128-aligned");
	rw_geometry g;
	rw_code rc = validate_expect(buf, len, x, &g, err);
	if (rc != RW_OK)
		return rc;
	fill_segment(seg, buf, len, RW_BACKING_MEMORY, NULL, &g);
	return RW_OK;
}

rw_code rw_segment_attach_memory(void *buf, size_t len, const rw_event_type *expect,
				 rw_segment **out, rw_error *err)
{
	rw_expect x = {0, expect, NULL};
	NEW_HANDLE(rw_segment, out, err, attach_memory(buf, len, &x, h_, err));
}

rw_code rw_segment_attach_framed_memory(void *buf, size_t len, const char *type_name,
					rw_segment **out, rw_error *err)
{
	rw_expect x = {1, NULL, type_name};
	NEW_HANDLE(rw_segment, out, err, attach_memory(buf, len, &x, h_, err));
}

rw_code rw_segment_size(const rw_config *cfg, uint64_t *total_size, rw_error *err)
{
	rw_geometry g;
	rw_code rc = rw_layout(cfg, &g, err);
	if (rc == RW_OK && total_size)
		*total_size = g.total_size;
	return rc;
}

void rw_segment_close(rw_segment *seg)
{
	if (!seg)
		return;
	if (seg->base && seg->backing != RW_BACKING_MEMORY)
		munmap(seg->base, seg->map_len);
	free(seg);
}

/* ---- Segment accessors ---------------------------------------------------------------------- */

uint64_t rw_segment_capacity(const rw_segment *seg) { return seg->g.capacity; }
uint32_t rw_segment_mode(const rw_segment *seg) { return seg->g.mode; }
uint32_t rw_segment_event_size(const rw_segment *seg) { return seg->g.event_size; }
uint32_t rw_segment_slot_size(const rw_segment *seg) { return seg->g.slot_size; }
uint32_t rw_segment_registry_capacity(const rw_segment *seg) { return seg->g.registry_capacity; }
uint32_t rw_segment_producer_capacity(const rw_segment *seg) { return seg->g.producer_capacity; }
uint64_t rw_segment_total_size(const rw_segment *seg) { return seg->g.total_size; }
uint64_t rw_segment_incarnation(const rw_segment *seg) { return seg->g.incarnation; }
uint32_t rw_segment_creator_pid(const rw_segment *seg) { return seg->g.creator_pid; }
int rw_segment_is_creator(const rw_segment *seg) { return seg->creator; }
uint32_t rw_segment_payload_kind(const rw_segment *seg) { return seg->g.payload_kind; }
uint32_t rw_segment_frame_header_len(const rw_segment *seg)
{
	return seg->g.payload_kind == RW_PAYLOAD_FRAMED ? seg->g.frames.header_len : 0;
}
uint32_t rw_segment_max_message(const rw_segment *seg)
{
	return seg->g.payload_kind == RW_PAYLOAD_FRAMED ? seg->g.frames.max_message : 0;
}
rw_code rw_segment_check_framed(const rw_segment *seg, const char *type_name, rw_error *err)
{
	return rw_check_framed(&seg->g, type_name, err);
}
void rw_segment_version(const rw_segment *seg, uint16_t *major, uint16_t *minor)
{
	if (major)
		*major = seg->g.version_major;
	if (minor)
		*minor = seg->g.version_minor;
}
void *rw_segment_slot(const rw_segment *seg, uint64_t seq) { return rw_slot(seg, seq); }
uint64_t rw_segment_claimed_count(const rw_segment *seg) { return rw_claimed_count(seg); }
uint64_t rw_segment_published(const rw_segment *seg)
{
	return atomic_load_explicit(&seg->cursors->published, memory_order_acquire);
}
rw_header *rw_segment_header(const rw_segment *seg) { return seg->hdr; }
rw_cursors *rw_segment_cursors(const rw_segment *seg) { return seg->cursors; }
rw_entry *rw_segment_entry(const rw_segment *seg, uint32_t i)
{
	return i < seg->g.registry_capacity ? rw_entry_at(seg, i) : NULL;
}
rw_producer_entry *rw_segment_producer_entry(const rw_segment *seg, uint32_t i)
{
	return i < seg->g.producer_capacity ? rw_producer_entry_at(seg, i) : NULL;
}

int rw_segment_unlink_shm(const char *name)
{
	if (shm_unlink(name) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

uint32_t rw_entry_name(const rw_entry *e, char out[RW_MAX_CONSUMER_NAME + 1])
{
	out[0] = 0;
	if (rw_state_value(rw_entry_state_word(e)) > RW_ENTRY_STATE_MAX)
		return 0;
	uint32_t n = *(const volatile uint32_t *)&e->name_len;
	if (n == 0 || n > RW_MAX_CONSUMER_NAME)
		return 0; /* corrupt: never read past the field */
	const volatile uint8_t *src = e->name;
	for (uint32_t i = 0; i < n; i++)
		out[i] = (char)src[i];
	out[n] = 0;
	return n;
}

int rw_entry_gates(const rw_entry *e)
{
	if (rw_state_value(rw_entry_state_word(e)) != RW_ENTRY_ACTIVE)
		return 0;
	uint32_t n = *(const volatile uint32_t *)&e->name_len;
	return (rw_entry_flags(e) & RW_FLAG_REQUIRED) != 0 && n >= 1 && n <= RW_MAX_CONSUMER_NAME;
}

int rw_entry_ready(const rw_entry *e)
{
	return rw_state_value(rw_entry_state_word(e)) == RW_ENTRY_ACTIVE &&
	       (rw_entry_flags(e) & RW_FLAG_STARTING) == 0;
}

/* Whether e is claiming or active under name (nlen bytes). */
static int entry_has_name(const rw_entry *e, const char *name, size_t nlen)
{
	char buf[RW_MAX_CONSUMER_NAME + 1];
	uint32_t n = rw_entry_name(e, buf);
	return n != 0 && n == nlen && memcmp(buf, name, nlen) == 0;
}

uint32_t rw_segment_active_count(const rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++)
		if (rw_entry_ready(rw_entry_at(seg, i)))
			n++;
	return n;
}

const char *rw_entry_state_name(uint32_t state)
{
	switch (rw_state_value(state)) {
	case RW_ENTRY_FREE: return "free";
	case RW_ENTRY_CLAIMING: return "claiming";
	case RW_ENTRY_ACTIVE: return "active";
	case RW_ENTRY_CLOSED: return "closed";
	case RW_ENTRY_EVICTED: return "evicted";
	default: return "corrupt";
	}
}

const char *rw_producer_state_name(uint32_t state)
{
	switch (rw_state_value(state)) {
	case RW_PRODUCER_FREE: return "free";
	case RW_PRODUCER_ACTIVE: return "active";
	case RW_PRODUCER_CLOSED: return "closed";
	case RW_PRODUCER_DEAD: return "dead";
	default: return "corrupt";
	}
}

int rw_segment_is_gap(const rw_segment *seg, uint64_t seq)
{
	return seg->g.mode == RW_MODE_MULTI &&
	       atomic_load_explicit(rw_availability_word(seg, seq), memory_order_acquire) ==
		       ((seq + 1) | RW_AVAIL_GAP);
}

/* The count a new consumer starts from: published (single) or claimed (multi). */
static uint64_t producer_count(const rw_segment *seg)
{
	return seg->g.mode == RW_MODE_SINGLE
		       ? atomic_load_explicit(&seg->cursors->published, memory_order_acquire)
		       : rw_claimed_count(seg);
}

/* ---- Poisoning (5.9) ----------------------------------------------------------------------------- */

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

int rw_segment_poison(rw_segment *seg, const rw_poison *rec)
{
	rw_header *h = seg->hdr;
	uint32_t expect = RW_POISON_NONE;
	if (!atomic_compare_exchange_strong_explicit(&h->poison_state, &expect, RW_POISON_RECORDING,
						     memory_order_seq_cst, memory_order_acquire))
		return 0; /* later failures are not recorded */
	h->poison_phase = rec->phase;
	h->poison_seq = rec->seq;
	h->poison_pid = rec->pid ? rec->pid : (uint32_t)getpid();
	h->poison_stage = rec->stage;
	size_t n = utf8_cut(rec->message, RW_MAX_POISON_MESSAGE);
	memset(h->poison_message, 0, sizeof h->poison_message);
	memcpy(h->poison_message, rec->message, n);
	h->poison_message_len = (uint32_t)n;
	atomic_store_explicit(&h->poison_state, RW_POISON_RECORDED, memory_order_seq_cst);
	/* 5.9: wake both words unconditionally; waiters see poison_state in their re-check */
	wake_unconditionally(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	wake_unconditionally(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	return 1;
}

int rw_segment_poisoned(const rw_segment *seg, rw_poison *out)
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
		if (n > RW_MAX_POISON_MESSAGE) /* 5.9: clamped, never read past the field */
			n = RW_MAX_POISON_MESSAGE;
		const volatile uint8_t *src = h->poison_message;
		for (uint32_t i = 0; i < n; i++)
			out->message[i] = (char)src[i];
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
	rw_poison r = {0}; /* filled by rw_segment_poisoned: callers saw poison_state set, which is never unset */
	rw_segment_poisoned(seg, &r);
	return fail(err, RW_ERR_POISONED, "%s failed at sequence %llu (pid %u, stage %u): %s",
		    r.phase == RW_PHASE_PUBLISH ? "publish"
		    : r.phase == RW_PHASE_HANDLER ? "handler"
						  : "unknown phase",
		    (unsigned long long)r.seq, r.pid, r.stage, r.message);
}

/* ---- Passing over a dead producer's claims (5.8) ----------------------------------------------- */

enum { INTENT_NONE = 0, INTENT_SOME = 1, INTENT_IN_FLUX = -1 };

/* 5.8: reads an entry's intent as end, start, end: [*start, *end) if both ends agree and are not
 * 0, none if both are 0, in flux otherwise. */
static int read_intent(rw_producer_entry *e, uint64_t *start, uint64_t *end)
{
	uint64_t e1 = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
	if (rw_test.intent_read)
		rw_test.intent_read(e, 1);
	uint64_t s = atomic_load_explicit(&e->intent_start, memory_order_seq_cst);
	if (rw_test.intent_read)
		rw_test.intent_read(e, 2);
	uint64_t e2 = atomic_load_explicit(&e->intent_end, memory_order_seq_cst);
	if (e1 != e2)
		return INTENT_IN_FLUX;
	if (e1 == 0)
		return INTENT_NONE;
	*start = s;
	*end = e1;
	return INTENT_SOME;
}

/* Whether sequence t is resolved: its availability word, without the gap bit, is at least t + 1
 * (published, passed over, or overwritten by a later lap). */
static int seq_resolved(const rw_segment *seg, uint64_t t)
{
	uint64_t w = atomic_load_explicit(rw_availability_word(seg, t), memory_order_acquire);
	return (w & RW_COUNT_MASK) >= t + 1;
}

/* 5.4 attach step 1: an entry is resolved when its intent is none, or every sequence of it below
 * the claimed count L is resolved. An intent in flux, or longer than the ring (corrupt), is not. */
static int entry_resolved(const rw_segment *seg, rw_producer_entry *e, uint64_t L)
{
	uint64_t start = 0, end = 0;
	int k = read_intent(e, &start, &end);
	if (k == INTENT_NONE)
		return 1;
	if (k == INTENT_IN_FLUX || end < start || end - start > seg->g.capacity)
		return 0;
	for (uint64_t t = start; t < end && t < L; t++)
		if (!seq_resolved(seg, t))
			return 0;
	return 1;
}

/* 5.8 last paragraph: retires (CAS active -> dead, same generation) an active entry whose owner
 * is dead, only once it is resolved. Returns the dead state word, or 0 if it was not retired. */
static uint32_t retire_if_resolved(const rw_segment *seg, rw_producer_entry *e, uint32_t st,
				   uint64_t owner)
{
	if (rw_state_value(st) != RW_PRODUCER_ACTIVE || !rw_owner_dead(owner) ||
	    !entry_resolved(seg, e, rw_claimed_count(seg)))
		return 0;
	uint32_t dead = rw_state_word(RW_PRODUCER_DEAD, rw_state_generation(st));
	if (!atomic_compare_exchange_strong_explicit(&e->state, &st, dead, memory_order_seq_cst,
						     memory_order_seq_cst))
		return 0;
	return dead;
}

uint32_t rw_segment_retire_resolved(rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; seg->g.mode == RW_MODE_MULTI && i < seg->g.producer_capacity; i++) {
		rw_producer_entry *e = rw_producer_entry_at(seg, i);
		uint32_t st = rw_producer_state_word(e);
		if (rw_state_value(st) == RW_PRODUCER_ACTIVE &&
		    retire_if_resolved(seg, e, st, rw_producer_owner(e)) != 0)
			n++;
	}
	return n;
}

int rw_segment_producer_entry_left(rw_segment *seg, uint32_t i)
{
	if (i >= seg->g.producer_capacity)
		return 0;
	rw_producer_entry *e = rw_producer_entry_at(seg, i);
	uint32_t v = rw_state_value(rw_producer_state_word(e));
	if (v == RW_PRODUCER_CLOSED || v == RW_PRODUCER_DEAD)
		return 1;
	return v == RW_PRODUCER_ACTIVE && rw_owner_dead(rw_producer_owner(e)) &&
	       entry_resolved(seg, e, rw_claimed_count(seg));
}

/* 5.8 steps 1 to 4 for sequence s. Returns 1 if this call turned s into a gap, else 0 (nothing to
 * resolve, already resolved, or keep waiting). */
static int resolve_sequence(rw_segment *seg, uint64_t s)
{
	/* step 1 */
	if (s >= rw_claimed_count(seg))
		return 0;
	_Atomic uint64_t *word = rw_availability_word(seg, s);
	for (;;) {
		/* step 2 */
		uint64_t w = atomic_load_explicit(word, memory_order_seq_cst);
		if ((w & RW_COUNT_MASK) >= s + 1)
			return 0;
		/* step 3 */
		int dead_covers = 0;
		for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
			rw_producer_entry *e = rw_producer_entry_at(seg, i);
			if (rw_state_value(rw_producer_state_word(e)) != RW_PRODUCER_ACTIVE)
				continue;
			uint64_t start = 0, end = 0;
			int k = read_intent(e, &start, &end);
			int covers = k == INTENT_SOME && start <= s && s < end;
			if (!covers && k != INTENT_IN_FLUX)
				continue;
			if (!rw_owner_dead(rw_producer_owner(e)))
				return 0; /* a live producer holds s, or is withdrawing a stale intent */
			dead_covers |= covers;
		}
		if (!dead_covers)
			return 0;
		/* step 4: exactly one CAS from an unresolved word succeeds: counted once */
		if (atomic_compare_exchange_strong_explicit(word, &w, (s + 1) | RW_AVAIL_GAP,
							    memory_order_seq_cst,
							    memory_order_seq_cst)) {
			atomic_fetch_add_explicit(&seg->hdr->gaps, 1, memory_order_seq_cst);
			return 1;
		}
	}
}

uint64_t rw_pass_over_dead_claims(rw_segment *seg, uint64_t s)
{
	if (seg->g.mode != RW_MODE_MULTI)
		return 0;
	uint64_t marked = 0;
	while (resolve_sequence(seg, s + marked))
		marked++;
	/* the gaps complete sequences like a publish does: consumers waiting at them may go on */
	if (marked)
		wake_after_store(&seg->hdr->consumer_blockers, &seg->wait->consumer_waiters,
				 &seg->wait->consumer_wake);
	return marked;
}

/* ---- Producer (5.3, 5.4) ------------------------------------------------------------------------ */

/* 5.4 attach: the owner word is the lock. An entry is usable if its owner is 0 or dead and its
 * state free, closed or dead, or if it is active with a dead owner and resolved (retired first).
 * Then CAS owner to our identity, store intent_end = 0 and the heartbeat, CAS state to active
 * with generation + 1. */
static rw_code attach_producer_entry(rw_producer *p, rw_error *err)
{
	rw_segment *seg = p->seg;
	uint64_t me = rw_self_identity();
	for (uint32_t i = 0; i < seg->g.producer_capacity; i++) {
		rw_producer_entry *e = rw_producer_entry_at(seg, i);
		/* step 1 */
		uint32_t st = rw_producer_state_word(e);
		uint64_t o = rw_producer_owner(e);
		uint32_t v = rw_state_value(st);
		if (v == RW_PRODUCER_ACTIVE) {
			st = retire_if_resolved(seg, e, st, o);
			if (st == 0)
				continue; /* live, unresolved, or a peer retired it first */
		} else if (v > RW_PRODUCER_STATE_MAX || (o != 0 && !rw_owner_dead(o))) {
			continue;
		}
		/* step 2 */
		if (!atomic_compare_exchange_strong_explicit(&e->owner, &o, me, memory_order_seq_cst,
							     memory_order_seq_cst))
			continue;
		if (rw_test.producer_attach)
			rw_test.producer_attach(e, 2);
		/* step 3 */
		atomic_store_explicit(&e->intent_end, 0, memory_order_seq_cst);
		atomic_store_explicit(&e->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
		uint32_t active = rw_state_claim(st, RW_PRODUCER_ACTIVE);
		if (!atomic_compare_exchange_strong_explicit(&e->state, &st, active,
							     memory_order_seq_cst,
							     memory_order_seq_cst)) {
			uint64_t mine = me;
			atomic_compare_exchange_strong_explicit(&e->owner, &mine, 0,
								memory_order_seq_cst,
								memory_order_seq_cst);
			continue;
		}
		p->index = i;
		p->entry = e;
		p->state_word = active;
		p->owner = me;
		return RW_OK;
	}
	return fail(err, RW_ERR_PRODUCERS_FULL, "no usable entry among %u producer entries",
		    seg->g.producer_capacity);
}

static rw_code producer_init(rw_producer *p, rw_segment *seg, rw_error *err)
{
	p->seg = seg;
	if (seg->creator) {
		p->creator = 1; /* rw_init_image filled producer entry 0 in (5.1 step 2) */
		p->index = 0;
		p->entry = rw_producer_entry_at(seg, 0);
		p->state_word = rw_producer_state_word(p->entry);
		p->owner = rw_producer_owner(p->entry);
	} else {
		rw_code rc = attach_producer_entry(p, err);
		if (rc != RW_OK)
			return rc;
	}
	p->next = seg->g.mode == RW_MODE_SINGLE
			  ? atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire)
			  : 0;
	p->bound = 0;
	p->prefix = 0;     /* multi: found again from claimed - capacity on the first scan */
	p->resolve_at = 0; /* set when a wait for room begins */
	p->blocker = RW_BLOCKER_NONE; /* registers on its first kernel wait (5.6) */
	ok(err);
	return RW_OK;
}

rw_code rw_producer_register(rw_segment *seg, rw_producer **out, rw_error *err)
{
	NEW_HANDLE(rw_producer, out, err, producer_init(h_, seg, err));
}

rw_segment *rw_producer_segment(const rw_producer *p) { return p->seg; }
uint32_t rw_producer_index(const rw_producer *p) { return p->index; }

void rw_producer_poll_only(rw_producer *p)
{
	blocker_leave(&p->seg->hdr->producer_blockers, &p->blocker);
}

void rw_producer_heartbeat(rw_producer *p)
{
	uint64_t now = rw_monotonic_ns();
	atomic_store_explicit(&p->seg->hdr->producer_heartbeat_ns, now, memory_order_release);
	atomic_store_explicit(&p->entry->heartbeat_ns, now, memory_order_release);
	p->heartbeat_at = now;
}

/* The gating scan (5.3 step 1): the minimum cursor of the entries that gate (active, required, not
 * corrupt), or UINT64_MAX if there is none. A second pass loads every entry's state word again and
 * the scan starts over if one differs (state or generation) from the first pass: a registration
 * that activates after the first pass went by its entry may copy another entry's cursor (5.7 step
 * 6, oldest or depends_on) before that cursor moves and the first pass loads it, and a bound from
 * such a scan could overwrite the newcomer's start. With the second pass a scan is as good as one
 * taken at a single instant. It repeats only while peers keep registering, taking over,
 * deregistering or evicting. */
static uint64_t gating_scan(const rw_segment *seg)
{
	uint32_t seen[RW_MAX_REGISTRY];
	uint32_t n = seg->g.registry_capacity;
	if (n > RW_MAX_REGISTRY)
		n = RW_MAX_REGISTRY; /* validated 1..64 (5.2 check 11) */
	for (;;) {
		uint64_t bound = UINT64_MAX;
		for (uint32_t i = 0; i < n; i++) {
			rw_entry *e = rw_entry_at(seg, i);
			uint32_t st = rw_entry_state_word(e);
			seen[i] = st;
			if (rw_test.gating_scan)
				rw_test.gating_scan(seg, i);
			if (rw_state_value(st) != RW_ENTRY_ACTIVE)
				continue;
			uint32_t nl = *(const volatile uint32_t *)&e->name_len;
			if ((rw_entry_flags(e) & RW_FLAG_REQUIRED) == 0 || nl < 1 ||
			    nl > RW_MAX_CONSUMER_NAME)
				continue; /* optional, or corrupt (4.3): does not gate */
			uint64_t c = atomic_load_explicit(&e->cursor, memory_order_acquire);
			if (c < bound)
				bound = c;
		}
		uint32_t i = 0;
		while (i < n && rw_entry_state_word(rw_entry_at(seg, i)) == seen[i])
			i++;
		if (i == n)
			return bound;
	}
}

/* 5.3 step 1 in multi mode: the published prefix, the first sequence s from claimed - capacity on
 * (or from the prefix this producer found before, if higher) whose availability word's low 62 bits
 * are below s + 1, or the claimed count if there is none. Every sequence below it is published,
 * passed over or of a later lap, so its slot holds nothing a producer still writes. (Not the
 * claimed count: a sequence below it may be claimed by another producer and not yet written, and a
 * bound past it lets two producers write one slot; model finding F5.) The acquire loads of the
 * availability words order those producers' slot writes before this producer's reuse of them.
 * Amortized one load per sequence: the scan resumes where it stopped. */
static uint64_t published_prefix(rw_producer *p)
{
	const rw_segment *seg = p->seg;
	uint64_t L = rw_claimed_count(seg);
	uint64_t cap = seg->g.capacity;
	uint64_t s = L > cap ? L - cap : 0;
	if (p->prefix > s && p->prefix <= L)
		s = p->prefix;
	while (s < L && seq_resolved(seg, s))
		s++;
	p->prefix = s;
	return s;
}

/* The gating bound of 5.3 step 1 for a claim from start: the gating scan's minimum cursor or, if
 * no consumer gates, the count the producers had published when the scan began (single mode: the
 * producer's own next, which is start; multi mode: the published prefix, found before the scan).
 * *by_prefix (may be NULL) is set when the bound is the multi-mode published prefix. */
static uint64_t producer_bound(rw_producer *p, uint64_t start, int *by_prefix)
{
	int multi = p->seg->g.mode == RW_MODE_MULTI;
	uint64_t published = multi ? published_prefix(p) : start;
	uint64_t bound = gating_scan(p->seg);
	if (by_prefix)
		*by_prefix = multi && bound == UINT64_MAX;
	return bound == UINT64_MAX ? published : bound;
}

struct room_wait {
	rw_producer *p;
	uint64_t start, end;
};

/* The re-check of a producer waiting for room (5.6 step 3): the bound (a re-scan of the registry,
 * which also covers deregistered and evicted consumers), poison, and the end of the stream. It
 * also keeps the heartbeats fresh (spec 8). */
static int room_or_news(void *arg)
{
	struct room_wait *w = arg;
	rw_producer *p = w->p;
	rw_segment *seg = p->seg;
	if (rw_monotonic_ns() - p->heartbeat_at >= RW_HEARTBEAT_WAIT_NS)
		rw_producer_heartbeat(p);
	int by_prefix = 0;
	p->bound = producer_bound(p, w->start, &by_prefix);
	if (w->end - seg->g.capacity > p->bound && by_prefix) {
		/* 5.8: no required consumer gates, so none passes over a dead producer's claim at
		 * the published prefix; the waiting producer does, every RW_PRODUCER_RESOLVE_NS */
		uint64_t now = rw_monotonic_ns();
		if (now >= p->resolve_at) {
			p->resolve_at = now + RW_PRODUCER_RESOLVE_NS;
			if (rw_pass_over_dead_claims(seg, p->bound) != 0)
				p->bound = producer_bound(p, w->start, NULL);
		}
	}
	return w->end - seg->g.capacity <= p->bound || poison_pending(seg) ||
	       atomic_load_explicit(&seg->hdr->producer_state, memory_order_acquire) ==
		       RW_STREAM_CLOSED ||
	       (seg->g.mode == RW_MODE_MULTI &&
		(atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire) &
		 RW_CLAIMED_CLOSED));
}

/* Waits until end - capacity <= bound, or news (poison, close). end >= capacity here. */
static rw_code wait_for_room(rw_producer *p, uint64_t start, uint64_t end, uint64_t deadline,
			     rw_error *err)
{
	rw_segment *seg = p->seg;
	struct room_wait w = {p, start, end};
	rw_producer_heartbeat(p);
	p->resolve_at = rw_monotonic_ns() + RW_PRODUCER_RESOLVE_NS;
	rw_code rc = rw_block_until(&seg->hdr->producer_blockers, &p->blocker,
				    &seg->wait->producer_waiters, &seg->wait->producer_wake,
				    room_or_news, &w, deadline);
	if (rc != RW_OK)
		return fail(err, rc,
			    "ring full: sequence %llu waits for the gating bound %llu (the lowest "
			    "required cursor, or the count published)",
			    (unsigned long long)(end - 1), (unsigned long long)p->bound);
	return RW_OK;
}

/* 5.3 step 1 / 5.4 step 1: recomputes the bound if [start, end) does not fit the cached one,
 * waits while full, and (whenever the bound is recomputed) stops on a poisoned ring. *waited is
 * set if it waited (the caller re-checks what may have changed meanwhile). */
static rw_code ensure_room(rw_producer *p, uint64_t start, uint64_t end, uint64_t deadline,
			   int *waited, rw_error *err)
{
	uint64_t cap = p->seg->g.capacity;
	*waited = 0;
	if (end <= cap || end - cap <= p->bound)
		return RW_OK;
	p->bound = producer_bound(p, start, NULL);
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

/* The sequences a claim takes when it starts at sequence first: a framed claim's PADs depend on
 * where it starts (11.2 step 2). NULL: a claim of a fixed number of sequences. */
typedef uint64_t (*rw_span_fn)(const void *arg, uint64_t first);

/* 5.3 steps 1-2 / 5.4 steps 1-3 for a claim of n sequences, or of span(arg, c) sequences from the
 * first sequence c (computed again from the new c whenever the multi-mode CAS fails); every span
 * is at most capacity. *first receives the first sequence, *n_out (may be NULL) the count. */
static rw_code claim_span(rw_producer *p, uint64_t n, rw_span_fn span, const void *arg,
			  int64_t timeout_ms, uint64_t *first, uint64_t *n_out, rw_error *err)
{
	rw_segment *seg = p->seg;
	uint64_t cap = seg->g.capacity;
	if (p->closed)
		return fail(err, RW_ERR_CLOSED, "this producer was closed");
	/* One acquire load of a header line that is written only on poisoning: cheap enough to do
	 * on every claim, not only when the bound is recomputed (5.3 step 1). */
	if (p->failed || poison_pending(seg))
		return fail_poisoned(seg, err);
	uint64_t deadline = deadline_after(timeout_ms);
	int waited;
	if (seg->g.mode == RW_MODE_SINGLE) {
		if (span)
			n = span(arg, p->next);
		uint64_t end = p->next + n;
		if (end >= RW_MAX_SEQUENCE) /* a count of 2^62 would read as the closed bit */
			return fail(err, RW_ERR_OVERFLOW, "claim up to %llu", (unsigned long long)end);
		rw_code rc = ensure_room(p, p->next, end, deadline, &waited, err);
		if (rc != RW_OK)
			return rc;
		if (end > cap && end - cap > p->bound) /* woken by a close, not by room */
			return fail(err, RW_ERR_CLOSED, "the stream was ended");
		/* 5.3 step 2: the claim, then F1, so that it is visible before any byte of the
		 * slots it reuses (optional consumers verify against it, 5.10) */
		atomic_store_explicit(&seg->cursors->claimed, end, memory_order_release);
		atomic_thread_fence(memory_order_release); /* F1 */
		p->pending_lo = p->next;
		p->pending_hi = end;
		*first = p->next;
		if (n_out)
			*n_out = n;
		return RW_OK;
	}
	rw_producer_entry *pe = p->entry;
	for (;;) {
		/* 5.4 step 1 */
		uint64_t w = atomic_load_explicit(&seg->cursors->claimed, memory_order_acquire);
		if (w & RW_CLAIMED_CLOSED)
			return fail(err, RW_ERR_CLOSED, "the creator ended the stream at %llu",
				    (unsigned long long)(w & RW_COUNT_MASK));
		if (poison_pending(seg))
			return fail_poisoned(seg, err);
		uint64_t c = w;
		if (span) /* 11.2 step 2: the frames laid out from this c */
			n = span(arg, c);
		uint64_t end = c + n;
		if (end >= RW_MAX_SEQUENCE)
			return fail(err, RW_ERR_OVERFLOW, "claim up to %llu", (unsigned long long)end);
		rw_code rc = ensure_room(p, c, end, deadline, &waited, err);
		if (rc != RW_OK)
			return rc;
		if (waited)
			continue; /* claimed may have moved or closed meanwhile */
		/* step 2: announce the claim before making it (intent_end is 0 here: it is 0
		 * whenever intent_start changes) */
		atomic_store_explicit(&pe->intent_start, c, memory_order_seq_cst);
		atomic_store_explicit(&pe->intent_end, end, memory_order_seq_cst);
		/* step 3 */
		if (rw_test.claim_cas)
			rw_test.claim_cas(p, c);
		if (atomic_compare_exchange_strong_explicit(&seg->cursors->claimed, &c, end,
							    memory_order_seq_cst,
							    memory_order_acquire)) {
			p->pending_lo = w;
			p->pending_hi = end;
			*first = w;
			if (n_out)
				*n_out = n;
			return RW_OK;
		}
		/* the range is someone else's now: withdraw the intent before retrying */
		atomic_store_explicit(&pe->intent_end, 0, memory_order_seq_cst);
	}
}

/* Check 13 for a producer or consumer call of one payload kind. */
static rw_code check_kind(const rw_segment *seg, uint32_t want, rw_error *err)
{
	if (seg->g.payload_kind == want)
		return RW_OK;
	return fail(err, RW_ERR_PAYLOAD_KIND, "the ring holds %s, this call is for %s",
		    payload_name(seg->g.payload_kind), payload_name(want));
}

/* A framed call: a framed ring (13) whose geometry passed check 14. */
static rw_code check_framed_call(const rw_segment *seg, rw_error *err)
{
	rw_code rc = check_kind(seg, RW_PAYLOAD_FRAMED, err);
	if (rc == RW_OK && !seg->g.frames_ok)
		rc = rw_check_framed(&seg->g, NULL, err); /* reports what check 14 found */
	return rc;
}

rw_code rw_producer_claim(rw_producer *p, uint32_t n, int64_t timeout_ms, uint64_t *first, rw_error *err)
{
	rw_segment *seg = p->seg;
	uint64_t cap = seg->g.capacity;
	rw_code rc = check_kind(seg, RW_PAYLOAD_FIXED, err);
	if (rc != RW_OK)
		return rc;
	if (n == 0 || n > cap)
		return fail(err, RW_ERR_INVALID_ARG, "batch of %u for capacity %llu", n,
			    (unsigned long long)cap);
	return claim_span(p, n, NULL, NULL, timeout_ms, first, NULL, err);
}

static void heartbeat_every_1024(rw_producer *p)
{
	/* a sign of life every 1024 sequences, without a clock read per event */
	if ((p->pending_lo >> 10) != (p->pending_hi >> 10))
		rw_producer_heartbeat(p);
}

void rw_producer_publish_claim(rw_producer *p)
{
	rw_segment *seg = p->seg;
	if (p->pending_lo == p->pending_hi)
		return;
	if (seg->g.mode == RW_MODE_SINGLE) {
		/* 5.3 step 4: release, the slot writes visible before it */
		atomic_store_explicit(&seg->cursors->published, p->pending_hi, memory_order_release);
		p->next = p->pending_hi;
	} else {
		/* 5.4 steps 5 and 6 */
		for (uint64_t s = p->pending_lo; s < p->pending_hi; s++)
			atomic_store_explicit(rw_availability_word(seg, s), s + 1,
					      memory_order_release);
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_release);
	}
	heartbeat_every_1024(p);
	p->pending_lo = p->pending_hi;
	/* 5.3 step 5 / 5.4 step 7: load consumer_blockers after the stores; F2 and the handshake
	 * only if it is not 0 */
	wake_after_store(&seg->hdr->consumer_blockers, &seg->wait->consumer_waiters,
			 &seg->wait->consumer_wake);
}

void rw_producer_abort_claim(rw_producer *p, const char *message)
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
	p->msg_open = 0;
	rw_segment_poison(seg, &rec); /* wakes everyone */
	if (seg->g.mode == RW_MODE_MULTI)
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_release);
	p->pending_lo = p->pending_hi;
}

rw_code rw_producer_publish(rw_producer *p, const void *events, uint32_t n, int64_t timeout_ms,
		   rw_error *err)
{
	uint64_t first;
	rw_code rc = rw_producer_claim(p, n, timeout_ms, &first, err);
	if (rc != RW_OK)
		return rc;
	const uint8_t *src = events;
	uint32_t es = p->seg->g.event_size;
	for (uint32_t i = 0; i < n; i++)
		memcpy(rw_slot(p->seg, first + i), src + (size_t)i * es, es);
	rw_producer_publish_claim(p);
	return RW_OK;
}

rw_code rw_producer_publish_fill(rw_producer *p, uint32_t n, rw_fill_fn fill, void *arg, int64_t timeout_ms,
			rw_error *err)
{
	uint64_t first;
	rw_code rc = rw_producer_claim(p, n, timeout_ms, &first, err);
	if (rc != RW_OK)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const char *why = NULL;
		if (fill(arg, rw_slot(p->seg, first + i), first + i, i, &why) != 0) {
			rw_producer_abort_claim(p, why);
			return fail_poisoned(p->seg, err);
		}
	}
	rw_producer_publish_claim(p);
	return RW_OK;
}

/* ---- Framed producer (11.2) -------------------------------------------------------------------- */

/* Writes the frame header at sequence seq: plain stores, which the publish releases (11.2 step 4). */
static void write_frame(rw_segment *seg, uint64_t seq, int pad, uint32_t len, uint64_t slots)
{
	rw_frame_header f = {.seq_flags = seq | (pad ? RW_FRAME_PAD : 0),
			     .length = len,
			     .slots = (uint32_t)slots};
	memcpy(rw_slot(seg, seq), &f, sizeof f);
}

/* The messages of one claim. */
struct msg_batch {
	const rw_frame_geometry *g;
	const uint32_t *lens;
	uint32_t n;
};

/* 11.2 step 2: the sequences the frames of batch b take when laid out from first: each message's
 * slots, preceded by a PAD up to the end of the array where the message would cross it. */
static uint64_t batch_span(const void *arg, uint64_t first)
{
	const struct msg_batch *b = arg;
	uint64_t cap = b->g->capacity, t = first;
	for (uint32_t j = 0; j < b->n; j++) {
		uint64_t k = rw_frame_slots(b->g, b->lens[j]);
		uint64_t i = t & (cap - 1);
		if (i + k > cap)
			t += cap - i; /* the PAD */
		t += k;
	}
	return t - first;
}

/* 11.2 step 1: refuses, before claiming, a message over max_message and a batch whose claim could
 * exceed capacity: its frames plus the longest PAD it could need (a PAD precedes a message only
 * when the message does not fit before the end, so it is shorter than the message's frame; and a
 * claim of at most capacity sequences crosses the end of the array at most once). */
static rw_code check_batch(const rw_producer *p, const uint32_t *lens, uint32_t n, rw_error *err)
{
	const rw_frame_geometry *g = &p->seg->g.frames;
	if (p->msg_open)
		return fail(err, RW_ERR_INVALID_ARG,
			    "a message claimed in place is still open: publish or abandon it first");
	if (n == 0)
		return fail(err, RW_ERR_INVALID_ARG, "a batch of no messages");
	uint64_t total = 0, longest = 0;
	for (uint32_t j = 0; j < n; j++) {
		if (lens[j] > g->max_message)
			return fail(err, RW_ERR_TOO_LARGE, "message %u of %u bytes, the largest is %u",
				    j, lens[j], g->max_message);
		uint64_t k = rw_frame_slots(g, lens[j]);
		total += k;
		if (k > longest)
			longest = k;
	}
	if (total + longest - 1 > g->capacity)
		return fail(err, RW_ERR_INVALID_ARG,
			    "%u messages of %llu slots could need %llu sequences, capacity %llu", n,
			    (unsigned long long)total, (unsigned long long)(total + longest - 1),
			    (unsigned long long)g->capacity);
	return RW_OK;
}

rw_code rw_producer_publish_messages(rw_producer *p, const void *const *msgs, const uint32_t *lens,
				     uint32_t n, int64_t timeout_ms, rw_error *err)
{
	rw_segment *seg = p->seg;
	rw_code rc = check_framed_call(seg, err);
	if (rc == RW_OK)
		rc = check_batch(p, lens, n, err);
	if (rc != RW_OK)
		return rc;
	const rw_frame_geometry *g = &seg->g.frames;
	struct msg_batch b = {g, lens, n};
	uint64_t first, total;
	rc = claim_span(p, 0, batch_span, &b, timeout_ms, &first, &total, err);
	if (rc != RW_OK)
		return rc;
	/* 11.2 step 4: the same layout as batch_span, from the claim's first sequence */
	uint64_t cap = g->capacity, t = first;
	for (uint32_t j = 0; j < n; j++) {
		uint64_t k = rw_frame_slots(g, lens[j]);
		uint64_t i = t & (cap - 1);
		if (i + k > cap) {
			write_frame(seg, t, 1, 0, cap - i);
			t += cap - i;
		}
		write_frame(seg, t, 0, lens[j], k);
		if (lens[j])
			memcpy(rw_slot(seg, t) + g->header_len, msgs[j], lens[j]);
		t += k;
	}
	rw_producer_publish_claim(p); /* step 5: every sequence, PADs included */
	ok(err);
	return RW_OK;
}

rw_code rw_producer_publish_message(rw_producer *p, const void *msg, uint32_t len,
				    int64_t timeout_ms, rw_error *err)
{
	return rw_producer_publish_messages(p, &msg, &len, 1, timeout_ms, err);
}

rw_code rw_producer_claim_message(rw_producer *p, uint32_t max_len, int64_t timeout_ms,
				  void **payload, rw_error *err)
{
	rw_segment *seg = p->seg;
	rw_code rc = check_framed_call(seg, err);
	if (rc == RW_OK)
		rc = check_batch(p, &max_len, 1, err);
	if (rc != RW_OK)
		return rc;
	const rw_frame_geometry *g = &seg->g.frames;
	struct msg_batch b = {g, &max_len, 1};
	uint64_t first, total;
	rc = claim_span(p, 0, batch_span, &b, timeout_ms, &first, &total, err);
	if (rc != RW_OK)
		return rc;
	uint64_t k = rw_frame_slots(g, max_len);
	p->msg_seq = first + total - k;
	p->msg_slots = k;
	p->msg_max = max_len;
	p->msg_open = 1;
	if (p->msg_seq != first)
		write_frame(seg, first, 1, 0, p->msg_seq - first);
	write_frame(seg, p->msg_seq, 0, max_len, k);
	*payload = rw_slot(seg, p->msg_seq) + g->header_len;
	ok(err);
	return RW_OK;
}

rw_code rw_producer_publish_message_claim(rw_producer *p, uint32_t used, rw_error *err)
{
	if (!p->msg_open)
		return fail(err, RW_ERR_INVALID_ARG, "no message claimed in place");
	if (used > p->msg_max)
		return fail(err, RW_ERR_INVALID_ARG, "%u bytes used of a claim for %u", used,
			    p->msg_max);
	rw_segment *seg = p->seg;
	/* 11.2: the message frame for used bytes over its first slots, a PAD over the rest */
	uint64_t ku = rw_frame_slots(&seg->g.frames, used);
	write_frame(seg, p->msg_seq, 0, used, ku);
	if (ku < p->msg_slots)
		write_frame(seg, p->msg_seq + ku, 1, 0, p->msg_slots - ku);
	p->msg_open = 0;
	rw_producer_publish_claim(p);
	ok(err);
	return RW_OK;
}

void rw_producer_abandon_message_claim(rw_producer *p)
{
	if (!p->msg_open)
		return;
	write_frame(p->seg, p->msg_seq, 1, 0, p->msg_slots); /* 11.2: the claim becomes PADs */
	p->msg_open = 0;
	rw_producer_publish_claim(p);
}

/* Every sequence below count is published or a gap, or the ring is poisoned. */
static int claims_settled(const rw_segment *seg, uint64_t count)
{
	if (poison_pending(seg))
		return 1;
	uint64_t cap = seg->g.capacity;
	for (uint64_t s = count > cap ? count - cap : 0; s < count; s++)
		if (!seq_resolved(seg, s))
			return 0;
	return 1;
}

static rw_code producer_end(rw_producer *p, int64_t timeout_ms, rw_error *err)
{
	rw_segment *seg = p->seg;
	if (p->closed) {
		ok(err);
		return RW_OK;
	}
	/* a message claimed in place and never ended: publish it as PADs, never leave a claim */
	rw_producer_abandon_message_claim(p);
	p->closed = 1;
	blocker_leave(&seg->hdr->producer_blockers, &p->blocker);
	if (!p->creator) {
		/* 5.4: an attached producer detaches: state active -> closed, then owner -> 0 */
		atomic_store_explicit(&p->entry->intent_end, 0, memory_order_seq_cst);
		uint32_t st = p->state_word;
		uint32_t closed = rw_state_word(RW_PRODUCER_CLOSED, rw_state_generation(st));
		atomic_compare_exchange_strong_explicit(&p->entry->state, &st, closed,
							memory_order_seq_cst, memory_order_seq_cst);
		uint64_t me = p->owner;
		atomic_compare_exchange_strong_explicit(&p->entry->owner, &me, 0,
							memory_order_seq_cst, memory_order_seq_cst);
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
		uint64_t count = w & RW_COUNT_MASK;
		uint64_t deadline = deadline_after(timeout_ms);
		uint64_t backoff = 10000;
		while (!claims_settled(seg, count)) {
			uint64_t now = rw_monotonic_ns();
			if (now >= deadline) {
				rc = fail(err, RW_ERR_TIMEOUT,
					  "claimed sequences below %llu still unpublished",
					  (unsigned long long)count);
				break;
			}
			if (now - p->heartbeat_at >= RW_HEARTBEAT_WAIT_NS)
				rw_producer_heartbeat(p);
			sleep_ns(backoff < deadline - now ? backoff : deadline - now);
			if (backoff < 1000000)
				backoff *= 2;
		}
	}
	/* 5.3 close: seq-cst store, then wake unconditionally. The consumer word is the one the
	 * spec names; the producer word too, so that attached producers waiting for room see the
	 * closed bit at once (an extra wake is never wrong). */
	atomic_store_explicit(&seg->hdr->producer_state, RW_STREAM_CLOSED, memory_order_seq_cst);
	wake_unconditionally(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	wake_unconditionally(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	if (rc == RW_OK)
		ok(err);
	return rc;
}

rw_code rw_producer_close(rw_producer *p, int64_t timeout_ms, rw_error *err)
{
	if (!p) {
		ok(err);
		return RW_OK;
	}
	rw_code rc = producer_end(p, timeout_ms, err);
	free(p);
	return rc;
}

/* ---- Consumer registration and eviction (5.7, 8) ------------------------------------------------- */

/* CAS of an owner word from `from` to `to`; 1 on success. */
static int cas_owner(_Atomic uint64_t *owner, uint64_t from, uint64_t to)
{
	return atomic_compare_exchange_strong_explicit(owner, &from, to, memory_order_seq_cst,
						       memory_order_seq_cst);
}

static int cas_state(_Atomic uint32_t *state, uint32_t from, uint32_t to)
{
	return atomic_compare_exchange_strong_explicit(state, &from, to, memory_order_seq_cst,
						       memory_order_seq_cst);
}

/* 5.7 evicting, with the owner identity o loaded before the decision: CAS state st -> evicted
 * (same generation), then owner o -> 0 (fails harmlessly if a taker holds it now), then wake
 * both words unconditionally. */
static int evict(rw_segment *seg, rw_entry *e, uint32_t st, uint64_t o)
{
	if (rw_state_value(st) != RW_ENTRY_ACTIVE ||
	    !cas_state(&e->state, st, rw_state_word(RW_ENTRY_EVICTED, rw_state_generation(st))))
		return 0;
	cas_owner(&e->owner, o, 0);
	wake_unconditionally(&seg->wait->consumer_waiters, &seg->wait->consumer_wake);
	wake_unconditionally(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	return 1;
}

int rw_segment_evict(rw_segment *seg, uint32_t i, uint32_t state_word)
{
	if (i >= seg->g.registry_capacity)
		return 0;
	rw_entry *e = rw_entry_at(seg, i);
	return evict(seg, e, state_word, rw_entry_owner(e));
}

uint32_t rw_segment_evict_dead(rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		uint32_t st = rw_entry_state_word(e);
		if (rw_state_value(st) != RW_ENTRY_ACTIVE)
			continue;
		uint64_t o = rw_entry_owner(e);
		if (rw_owner_dead(o))
			n += (uint32_t)evict(seg, e, st, o);
	}
	return n;
}

rw_stall_watch *rw_stall_watch_new(void) { return calloc(1, sizeof(rw_stall_watch)); }
void rw_stall_watch_free(rw_stall_watch *w) { free(w); }

rw_code rw_segment_evict_stalled(rw_segment *seg, rw_stall_watch *w, int64_t stall_timeout_ms,
			 uint32_t *evicted, rw_error *err)
{
	if (evicted)
		*evicted = 0;
	if (stall_timeout_ms < RW_MIN_STALL_TIMEOUT_MS)
		return fail(err, RW_ERR_INVALID_ARG,
			    "stall timeout %lld ms: spec 8 requires at least %d ms",
			    (long long)stall_timeout_ms, RW_MIN_STALL_TIMEOUT_MS);
	uint64_t timeout = (uint64_t)stall_timeout_ms * 1000000ull;
	uint64_t now = rw_monotonic_ns();
	uint32_t n = 0;
	for (uint32_t i = 0; i < seg->g.registry_capacity && i < RW_MAX_REGISTRY; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		uint32_t st = rw_entry_state_word(e);
		uint64_t o = rw_entry_owner(e);
		uint64_t cursor = atomic_load_explicit(&e->cursor, memory_order_acquire);
		if (!rw_entry_gates(e)) {
			w->since_ns[i] = 0;
			continue;
		}
		if (rw_owner_dead(o)) {
			n += (uint32_t)evict(seg, e, st, o);
			continue;
		}
		if (w->since_ns[i] == 0 || w->state_word[i] != st || w->cursor[i] != cursor) {
			w->state_word[i] = st;
			w->cursor[i] = cursor;
			w->since_ns[i] = now;
			continue;
		}
		uint64_t hb = atomic_load_explicit(&e->heartbeat_ns, memory_order_acquire);
		if (now - w->since_ns[i] >= timeout && (hb > now || now - hb >= timeout))
			n += (uint32_t)evict(seg, e, st, o);
	}
	if (evicted)
		*evicted = n;
	ok(err);
	return RW_OK;
}

static void fill_consumer(rw_consumer *c, rw_segment *seg, uint32_t i, uint32_t flags,
			  uint64_t depends_on, uint32_t state_word, uint64_t owner)
{
	rw_entry *e = rw_entry_at(seg, i);
	memset(c, 0, sizeof *c);
	c->seg = seg;
	c->entry = e;
	c->index = i;
	c->flags = flags;
	c->state_word = state_word;
	c->owner = owner;
	c->depends_on = depends_on;
	c->next = atomic_load_explicit(&e->cursor, memory_order_acquire);
	c->lost = atomic_load_explicit(&e->lost, memory_order_acquire);
	c->gaps_seen = atomic_load_explicit(&e->gaps_seen, memory_order_acquire);
	c->stall_timeout_ms = 1000;
	c->blocker = RW_BLOCKER_NONE; /* registers on its first kernel wait (5.6) */
	c->registered = 1;
	c->liveness_at = rw_monotonic_ns() +
			 (rw_test.liveness_period_ns ? rw_test.liveness_period_ns : RW_LIVENESS_NS);
}

/* Another claiming or active entry than skip, named name, whose owner is alive (5.7 step 5). */
static int live_duplicate(rw_segment *seg, const char *name, size_t nlen, uint32_t skip)
{
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		if (i == skip)
			continue;
		rw_entry *e = rw_entry_at(seg, i);
		uint32_t v = rw_state_value(rw_entry_state_word(e));
		if ((v == RW_ENTRY_CLAIMING || v == RW_ENTRY_ACTIVE) && entry_has_name(e, name, nlen) &&
		    !rw_owner_dead(rw_entry_owner(e)))
			return (int)i;
	}
	return -1;
}

/* 5.7 deregistering entry e, whose state word was ours as `state_word` and whose owner word we
 * hold as `me`: CAS state to closed (same generation), then owner from us to 0, then wake the
 * producer word unconditionally; if the entry is no longer ours, only clear owner if we hold it.
 * A claiming entry taken over and refused before step 4 is closed the same way. */
static void release_entry(rw_segment *seg, rw_entry *e, uint32_t state_word, uint64_t me)
{
	uint32_t closed = rw_state_word(RW_ENTRY_CLOSED, rw_state_generation(state_word));
	/* an entry whose owner word is someone else's was taken over: it is not ours to close */
	if (rw_entry_owner(e) == me && cas_state(&e->state, state_word, closed)) {
		cas_owner(&e->owner, me, 0);
		wake_unconditionally(&seg->wait->producer_waiters, &seg->wait->producer_wake);
	} else {
		cas_owner(&e->owner, me, 0);
	}
}

static void give_up_entry(rw_consumer *c)
{
	release_entry(c->seg, c->entry, c->state_word, c->owner);
}

#define RW_START_WAIT_NS 5000000000ull /* 5.7 step 6: longest wait for a starting dependency */

/* 5.7 step 6, depends_on: the cursor of entry j, which must be active, required and with flags
 * bit 1 (starting) clear when its cursor is read (loads: state, flags, cursor): another entry's
 * cursor is a safe start only if that entry gates the producers. A missing (not active) or optional
 * entry fails at once (RW_ERR_INVALID_ARG, "unknown dependency"); one still starting is waited
 * for, at most 5 s (RW_ERR_TIMEOUT), refreshing our heartbeat (spec 8), and fails if its owner
 * dies meanwhile or it stops being active or required. The caller deregisters on failure. */
static rw_code dependency_cursor(rw_consumer *c, uint32_t j, uint64_t *out, rw_error *err)
{
	if (j == c->index)
		return fail(err, RW_ERR_INVALID_ARG, "depends_on names the consumer's own entry %u", j);
	rw_entry *d = rw_entry_at(c->seg, j);
	uint64_t deadline = rw_monotonic_ns() +
			    (rw_test.start_wait_ns ? rw_test.start_wait_ns : RW_START_WAIT_NS);
	for (;;) {
		uint32_t st = rw_entry_state_word(d);
		if (rw_state_value(st) != RW_ENTRY_ACTIVE)
			return fail(err, RW_ERR_INVALID_ARG,
				    "depends_on names entry %u, which is %s, not active", j,
				    rw_entry_state_name(st));
		uint32_t fl = rw_entry_flags(d);
		if ((fl & RW_FLAG_REQUIRED) == 0)
			return fail(err, RW_ERR_INVALID_ARG,
				    "depends_on names entry %u, which is optional (it does not gate "
				    "the producers)",
				    j);
		if ((fl & RW_FLAG_STARTING) == 0) {
			*out = atomic_load_explicit(&d->cursor, memory_order_acquire);
			return RW_OK;
		}
		uint64_t o = rw_entry_owner(d);
		if (rw_owner_dead(o))
			return fail(err, RW_ERR_INVALID_ARG,
				    "depends_on names entry %u, whose owner (pid %u) died before "
				    "choosing its start",
				    j, rw_owner_pid(o));
		if (rw_monotonic_ns() >= deadline)
			return fail(err, RW_ERR_TIMEOUT,
				    "entry %u (depends_on) is still choosing its start", j);
		rw_consumer_heartbeat(c);
		sleep_ns(1000000);
	}
}

/* 5.7 step 6 on c's entry, active with flags bit 1 set: chooses the start s from values loaded now
 * (latest: the count; oldest: the minimum of the count and of the cursors of the other active
 * required entries whose bit 1 is clear; with depends_on, at most each dependency's cursor), then
 * s = max(s, the entry's own cursor loaded now): never below the provisional cursor, nor below a
 * start a dead previous owner stored before it died (a taker going on from step 6), so that a
 * cursor the producers may have seen is only ever raised. Stores cursor = s (release), clears bit
 * 1 (release), then wakes as 5.5 step 3 does (the provisional cursor may have held a producer
 * waiting for room). On failure it stores nothing: the caller gives the entry up. */
static rw_code choose_start(rw_consumer *c, rw_start start, rw_error *err)
{
	rw_segment *seg = c->seg;
	rw_entry *e = c->entry;
	uint64_t s = producer_count(seg);
	for (uint32_t i = 0; start == RW_START_OLDEST && i < seg->g.registry_capacity; i++) {
		rw_entry *o = rw_entry_at(seg, i);
		/* active, required and sane (state, then flags), then bit 1, then the cursor; an
		 * entry still starting has no cursor to copy yet */
		if (i == c->index || !rw_entry_gates(o) ||
		    (rw_entry_flags(o) & RW_FLAG_STARTING) != 0)
			continue;
		uint64_t oc = atomic_load_explicit(&o->cursor, memory_order_acquire);
		if (oc < s)
			s = oc;
	}
	for (uint32_t j = 0; j < seg->g.registry_capacity && j < 64; j++) {
		if (!(c->depends_on >> j & 1))
			continue;
		uint64_t dc = 0;
		rw_code rc = dependency_cursor(c, j, &dc, err);
		if (rc != RW_OK)
			return rc;
		if (dc < s)
			s = dc;
	}
	uint64_t floor = atomic_load_explicit(&e->cursor, memory_order_acquire);
	if (s < floor)
		s = floor;
	atomic_store_explicit(&e->cursor, s, memory_order_release);
	/* the start is chosen: producers awaiting consumers may count this entry now */
	atomic_fetch_and_explicit(&e->flags, ~(uint32_t)RW_FLAG_STARTING, memory_order_release);
	c->next = s;
	wake_after_cursor_store(seg);
	return RW_OK;
}

/* 5.7 steps 4 to 6 on entry idx, whose state word is `claiming` (ours: we hold its owner word).
 * evicted_cursor: the cursor of the evicted entry of our name we claimed, or UINT64_MAX. */
static rw_code finish_registration(rw_consumer *c, rw_segment *seg, uint32_t idx, uint32_t claiming,
				   uint64_t me, const char *name, size_t nlen, uint32_t flags,
				   uint64_t depends_on, rw_start start, uint64_t evicted_cursor,
				   int *restart, rw_error *err)
{
	rw_entry *e = rw_entry_at(seg, idx);
	uint64_t cap = seg->g.capacity;
	*restart = 0;
	/* step 4: bit 1 (starting) stays set until step 6 has stored the start */
	atomic_store_explicit(&e->flags, flags | RW_FLAG_STARTING, memory_order_release);
	e->name_len = (uint32_t)nlen;
	memset(e->name, 0, sizeof e->name);
	memcpy(e->name, name, nlen);
	atomic_store_explicit(&e->depends_on, depends_on, memory_order_release);
	atomic_store_explicit(&e->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
	atomic_store_explicit(&e->lost, 0, memory_order_release);
	atomic_store_explicit(&e->gaps_seen, 0, memory_order_release);
	/* the provisional cursor, a ring below the count: from the activation on it holds the
	 * producers back to at most the count they had reached, so step 6 only raises it */
	uint64_t count = producer_count(seg);
	uint64_t provisional = count > cap ? count - cap : 0;
	atomic_store_explicit(&e->cursor, provisional, memory_order_release);
	uint32_t active = rw_state_word(RW_ENTRY_ACTIVE, rw_state_generation(claiming));
	if (!cas_state(&e->state, claiming, active)) {
		/* only a taker that took us for dead can move a claiming entry of ours */
		cas_owner(&e->owner, me, 0);
		*restart = 1;
		return RW_OK;
	}
	fill_consumer(c, seg, idx, flags, depends_on, active, me);
	if (rw_test.registration)
		rw_test.registration(e, 4);
	/* step 5: a racing registration of the same name that stored before we scanned */
	int dup = live_duplicate(seg, name, nlen, idx);
	if (dup >= 0) {
		give_up_entry(c);
		c->registered = 0;
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" is registered in entry %d too", name,
			    dup);
	}
	/* step 6 */
	rw_code rc = choose_start(c, start, err);
	if (rc != RW_OK) {
		give_up_entry(c);
		c->registered = 0;
		return rc;
	}
	if (evicted_cursor != UINT64_MAX && c->next > evicted_cursor) {
		/* 5.7: the events between the evicted entry's cursor and our start went unread */
		c->lost = c->next - evicted_cursor;
		atomic_store_explicit(&e->lost, c->lost, memory_order_release);
		c->lost_seq = evicted_cursor;
		c->report_lost = c->lost;
	}
	ok(err);
	return RW_OK;
}

/* 5.7 taking over entry i, seen claiming or active under our name with state word st and then
 * owner o, which was found dead: CAS owner o -> me (only the winner goes on), store the
 * heartbeat, CAS state st -> the same state with generation + 1, so that any CAS a peer prepared
 * against the dead owner (an eviction) fails. If that CAS fails (evicted meanwhile) the owner
 * word is given back and registration starts again from step 1 (*restart), as it does when
 * another taker wins the owner CAS (rw_consumer_register bounds the rounds). Then the name is
 * scanned as in step 5. A claiming entry goes on from step 4. An active one keeps name, flags and
 * cursor, stores depends_on and resumes at the dead owner's cursor, or goes on from step 6 if
 * that owner died before choosing its start (flags bit 1 still set). Our registration is the
 * bumped state word. */
static rw_code take_over(rw_consumer *c, rw_segment *seg, uint32_t i, uint32_t st, uint64_t o,
			 uint64_t me, const char *name, size_t nlen, uint32_t flags,
			 uint64_t depends_on, rw_start start, int *restart, rw_error *err)
{
	rw_entry *e = rw_entry_at(seg, i);
	uint32_t v = rw_state_value(st);
	*restart = 0;
	if (v == RW_ENTRY_ACTIVE && (rw_entry_flags(e) & RW_FLAG_REQUIRED) != flags)
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" in entry %u is registered as %s", name,
			    i, (rw_entry_flags(e) & RW_FLAG_REQUIRED) ? "required" : "optional");
	if (!cas_owner(&e->owner, o, me)) {
		*restart = 1; /* another taker won: look again */
		return RW_OK;
	}
	if (rw_test.takeover)
		rw_test.takeover(e, 1);
	atomic_store_explicit(&e->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
	uint32_t ours = rw_state_claim(st, v);
	if (!cas_state(&e->state, st, ours)) {
		/* evicted (or given up) meanwhile: we hold only its owner word */
		cas_owner(&e->owner, me, 0);
		*restart = 1;
		return RW_OK;
	}
	/* the scan of step 5: a live registration of our name that stored meanwhile */
	int dup = live_duplicate(seg, name, nlen, i);
	if (dup >= 0) {
		release_entry(seg, e, ours, me);
		return fail(err, RW_ERR_DUPLICATE_NAME, "\"%s\" is registered in entry %d too", name,
			    dup);
	}
	if (v == RW_ENTRY_CLAIMING) /* goes on from step 4 */
		return finish_registration(c, seg, i, ours, me, name, nlen, flags, depends_on, start,
					   UINT64_MAX, restart, err);
	atomic_store_explicit(&e->depends_on, depends_on, memory_order_release);
	fill_consumer(c, seg, i, flags, depends_on, ours, me);
	c->taken_over = 1;
	if (rw_entry_flags(e) & RW_FLAG_STARTING) {
		/* its owner died between steps 4 and 6, perhaps after storing its start: step 6
		 * goes on with our depends_on, and its max with the cursor keeps that start */
		rw_code rc = choose_start(c, start, err);
		if (rc != RW_OK) {
			give_up_entry(c);
			c->registered = 0;
			return rc;
		}
	}
	ok(err);
	return RW_OK;
}

#define RW_REGISTER_ROUNDS 16 /* 5.7: restarts of registration before "registry busy" */

static rw_code consumer_init(rw_consumer *c, rw_segment *seg, const char *name, uint32_t flags,
			     uint64_t depends_on, rw_start start, rw_error *err)
{
	size_t nlen = name ? strlen(name) : 0;
	if (nlen < 1 || nlen > RW_MAX_CONSUMER_NAME)
		return fail(err, RW_ERR_INVALID_ARG, "consumer name must be 1 to 48 bytes");
	if (flags & ~(uint32_t)RW_FLAG_REQUIRED)
		return fail(err, RW_ERR_INVALID_ARG, "unknown flags 0x%x", flags);
	if (seg->g.registry_capacity < 64 && (depends_on >> seg->g.registry_capacity) != 0)
		return fail(err, RW_ERR_INVALID_ARG, "depends_on names entries beyond the registry");
	uint64_t me = rw_self_identity();
	/* 5.7 taking over: a taker that loses the owner CAS, or whose state CAS fails, and a
	 * claimer whose claiming entry was taken over, start again at step 1, for a bounded number
	 * of rounds */
	for (int round = 0; round < RW_REGISTER_ROUNDS; round++) {
		int restart = 0;
		/* step 1: the whole registry first. A live active entry of this name anywhere
		 * refuses, even if a dead owner's entry of the name comes earlier; otherwise the
		 * first claiming or active one whose owner is dead is taken over. */
		int dead = -1;
		uint32_t dead_st = 0;
		uint64_t dead_o = 0;
		for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
			rw_entry *e = rw_entry_at(seg, i);
			uint32_t st = rw_entry_state_word(e);
			uint32_t v = rw_state_value(st);
			if ((v != RW_ENTRY_CLAIMING && v != RW_ENTRY_ACTIVE) ||
			    !entry_has_name(e, name, nlen))
				continue;
			uint64_t o = rw_entry_owner(e); /* loaded after the state (taking over) */
			if (!rw_owner_dead(o)) {
				if (v == RW_ENTRY_ACTIVE)
					return fail(err, RW_ERR_DUPLICATE_NAME,
						    "\"%s\" is active in entry %u (pid %u)", name, i,
						    rw_owner_pid(o));
				continue; /* a live claimer: step 5 settles it */
			}
			if (dead < 0) {
				dead = (int)i;
				dead_st = st;
				dead_o = o;
			}
		}
		if (dead >= 0) {
			rw_code rc = take_over(c, seg, (uint32_t)dead, dead_st, dead_o, me, name, nlen,
					       flags, depends_on, start, &restart, err);
			if (!restart)
				return rc;
			continue;
		}
		/* steps 2 and 3: an evicted entry of our name first (5.7: SHOULD), then any free,
		 * closed or evicted entry, or one left claiming by a claimer that died (whatever its
		 * name): the owner check below makes that one claimable only if its owner is dead */
		for (int pass = 0; pass < 2 && !restart; pass++) {
			for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
				rw_entry *e = rw_entry_at(seg, i);
				uint32_t st = rw_entry_state_word(e);
				uint32_t v = rw_state_value(st);
				uint64_t o = rw_entry_owner(e);
				if (v != RW_ENTRY_FREE && v != RW_ENTRY_CLOSED && v != RW_ENTRY_EVICTED &&
				    v != RW_ENTRY_CLAIMING)
					continue;
				int ours = v == RW_ENTRY_EVICTED && entry_has_name(e, name, nlen);
				if ((pass == 0 && !ours) || (o != 0 && !rw_owner_dead(o)))
					continue;
				uint64_t old_cursor =
					atomic_load_explicit(&e->cursor, memory_order_acquire);
				if (!cas_owner(&e->owner, o, me))
					continue;
				uint32_t claiming = rw_state_claim(st, RW_ENTRY_CLAIMING);
				if (!cas_state(&e->state, st, claiming)) {
					cas_owner(&e->owner, me, 0);
					continue;
				}
				rw_code rc = finish_registration(
					c, seg, i, claiming, me, name, nlen, flags, depends_on, start,
					ours ? old_cursor : UINT64_MAX, &restart, err);
				if (!restart)
					return rc;
				break;
			}
		}
		if (!restart)
			return fail(err, RW_ERR_REGISTRY_FULL, "no claimable entry among %u",
				    seg->g.registry_capacity);
	}
	return fail(err, RW_ERR_BUSY,
		    "\"%s\": the registry kept changing during registration (%d rounds)", name,
		    RW_REGISTER_ROUNDS);
}

rw_code rw_consumer_register(rw_segment *seg, const char *name, uint32_t flags, uint64_t depends_on,
			     rw_start start, rw_consumer **out, rw_error *err)
{
	NEW_HANDLE(rw_consumer, out, err,
		   consumer_init(h_, seg, name, flags, depends_on, start, err));
}

rw_segment *rw_consumer_segment(const rw_consumer *c) { return c->seg; }
uint32_t rw_consumer_index(const rw_consumer *c) { return c->index; }
uint64_t rw_consumer_next(const rw_consumer *c) { return c->next; }
uint64_t rw_consumer_lost(const rw_consumer *c) { return c->lost; }
uint64_t rw_consumer_gaps_seen(const rw_consumer *c) { return c->gaps_seen; }
int rw_consumer_taken_over(const rw_consumer *c) { return c->taken_over; }
void rw_consumer_last_gap(const rw_consumer *c, uint64_t *seq, uint64_t *count)
{
	if (seq)
		*seq = c->gap_seq;
	if (count)
		*count = c->gap_count;
}
void rw_consumer_last_lost(const rw_consumer *c, uint64_t *seq, uint64_t *count)
{
	if (seq)
		*seq = c->lost_seq;
	if (count)
		*count = c->lost_count;
}
void rw_consumer_set_stall_timeout(rw_consumer *c, int64_t ms) { c->stall_timeout_ms = ms; }
int64_t rw_consumer_stall_timeout(const rw_consumer *c) { return c->stall_timeout_ms; }

rw_code rw_consumer_check_owner(const rw_consumer *c)
{
	if (!c->registered || rw_entry_state_word(c->entry) != c->state_word ||
	    rw_entry_owner(c->entry) != c->owner)
		return RW_ERR_EVICTED;
	return RW_OK;
}

/* 5.5 step 4: we were evicted (or taken over). Clears owner if we still hold it, and reports. */
static rw_code fail_evicted(rw_consumer *c, rw_error *err)
{
	if (c->registered)
		cas_owner(&c->entry->owner, c->owner, 0);
	c->registered = 0;
	return fail(err, RW_ERR_EVICTED, "entry %u is no longer ours (state 0x%x, owner pid %u)",
		    c->index, rw_entry_state_word(c->entry), rw_owner_pid(rw_entry_owner(c->entry)));
}

void rw_consumer_heartbeat(rw_consumer *c)
{
	atomic_store_explicit(&c->entry->heartbeat_ns, rw_monotonic_ns(), memory_order_release);
}

void rw_consumer_poll_only(rw_consumer *c)
{
	blocker_leave(&c->seg->hdr->consumer_blockers, &c->blocker);
}

void rw_consumer_close(rw_consumer *c)
{
	if (!c)
		return;
	/* 5.6: leaves the blockers count whether or not the entry is still ours */
	blocker_leave(&c->seg->hdr->consumer_blockers, &c->blocker);
	if (c->registered) {
		c->registered = 0;
		give_up_entry(c);
	}
	free(c);
}

/* ---- Consuming (5.5, 5.10) ------------------------------------------------------------------------ */

uint64_t rw_consumer_available(rw_consumer *c, uint64_t max)
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
		uint64_t limit = rw_claimed_count(seg);
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

void rw_consumer_release(rw_consumer *c, uint64_t hi)
{
	rw_segment *seg = c->seg;
	c->next = hi;
	c->held = 0;
	/* 5.5 step 2: release store; step 3: the counts are loaded after it */
	atomic_store_explicit(&c->entry->cursor, hi, memory_order_release);
	wake_after_cursor_store(seg);
}

/* 5.5 step 4: the stream has ended for c only if producer_state is 2 and c read up to the
 * producers' count (published in single mode, the low 62 bits of claimed in multi mode), loaded
 * after it. A stage gated behind a slower one (depends_on) has not. */
static int stream_ended(const rw_consumer *c)
{
	const rw_segment *seg = c->seg;
	if (atomic_load_explicit(&seg->hdr->producer_state, memory_order_acquire) !=
	    RW_STREAM_CLOSED)
		return 0;
	uint64_t count = seg->g.mode == RW_MODE_SINGLE
				 ? atomic_load_explicit(&seg->cursors->published, memory_order_acquire)
				 : rw_claimed_count(seg);
	return c->next >= count;
}

/* 5.10 steps 3-4: whether an optional consumer was lapped (next + capacity < L, the claimed count,
 * loaded into *L). It is checked whether or not anything looks published at next: in multi mode a
 * consumer lapped more than once finds a later round's availability word there (hi == next), and
 * only L tells. A required consumer gates the producers and is never lapped. */
static int lapped(const rw_consumer *c, uint64_t *L)
{
	if (c->flags & RW_FLAG_REQUIRED)
		return 0;
	*L = rw_claimed_count(c->seg);
	return c->next + c->seg->g.capacity < *L;
}

/* The re-check of a waiting consumer (5.6 step 3): its condition, a lap (an optional consumer
 * MUST end its wait then, 5.10), poison, the end of the stream (not merely producer_state 2, or a
 * stage behind a slower one would spin), and its own registration. */
static int data_or_news(void *arg)
{
	rw_consumer *c = arg;
	uint64_t L;
	return rw_consumer_available(c, c->wait_at - c->next + 1) > c->wait_at || lapped(c, &L) ||
	       rw_consumer_check_owner(c) != RW_OK || poison_pending(c->seg) || stream_ended(c);
}

/* Passes over the whole run of gaps at c->next (max bounds events, not gaps): counts it,
 * releases it, reports it. */
static rw_code pass_gaps(rw_consumer *c, rw_error *err)
{
	uint64_t hi = rw_consumer_available(c, c->seg->g.capacity);
	uint64_t from = c->next, s = from;
	while (s < hi && rw_segment_is_gap(c->seg, s))
		s++;
	c->gaps_seen += s - from;
	atomic_store_explicit(&c->entry->gaps_seen, c->gaps_seen, memory_order_release);
	c->gap_seq = from;
	c->gap_count = s - from;
	rw_consumer_release(c, s);
	return fail(err, RW_ERR_GAP,
		    "%llu sequence(s) from %llu passed over: their producer died before publishing",
		    (unsigned long long)(s - from), (unsigned long long)from);
}

/* 5.10 step 4: an optional consumer lapped at claimed count L: the events next to L - cap - 1
 * were overwritten unread. Counts them in lost, reports them, goes on from L - capacity. */
static rw_code report_lap(rw_consumer *c, uint64_t L, rw_error *err)
{
	uint64_t from = c->next, to = L - c->seg->g.capacity;
	c->lost += to - from;
	atomic_store_explicit(&c->entry->lost, c->lost, memory_order_release);
	c->lost_seq = from;
	c->lost_count = to - from;
	rw_consumer_release(c, to);
	return fail(err, RW_ERR_LOST, "%llu event(s) from %llu lost: the producer lapped us",
		    (unsigned long long)(to - from), (unsigned long long)from);
}

/* 5.5 step 4: whether every producer is dead: the creator and, in multi mode, the owner of every
 * producer entry whatever its state (a producer between 5.4 attach steps 2 and 3 holds an entry
 * that is not active yet; 0 names nobody). */
static int producers_dead(const rw_segment *seg)
{
	if (!rw_process_dead(seg->g.creator_pid, seg->g.creator_start_time))
		return 0;
	for (uint32_t i = 0; seg->g.mode == RW_MODE_MULTI && i < seg->g.producer_capacity; i++) {
		uint64_t o = rw_producer_owner(rw_producer_entry_at(seg, i));
		if (o != 0 && !rw_owner_dead(o))
			return 0;
	}
	return 1;
}

#define RW_STALL_RECHECK_NS 10000000ull /* re-run 5.8 every 10 ms once stalled */

/* 11.4: an optional consumer lapped at claimed count L (a frame boundary): the sequences next to
 * L - 1 were overwritten unread. Counts them in lost, reports them, goes on at L. */
static rw_code report_frame_lap(rw_consumer *c, uint64_t L, rw_error *err)
{
	uint64_t from = c->next;
	c->lost += L - from;
	atomic_store_explicit(&c->entry->lost, c->lost, memory_order_release);
	c->lost_seq = from;
	c->lost_count = L - from;
	rw_consumer_release(c, L);
	return fail(err, RW_ERR_LOST, "%llu sequence(s) from %llu lost: the producer lapped us",
		    (unsigned long long)(L - from), (unsigned long long)from);
}

enum { LAP_NONE = 0, LAP_EVENTS, LAP_FRAMES };

/* What one consuming call remembers across its waits (5.5 step 4, 5.8). */
struct await {
	uint64_t deadline, period;
	uint64_t stuck_at, check_at; /* 5.8: the sequence waited at, and when to resolve it */
	int check_dead;              /* may pass over dead producers' claims (5.8) */
	int laps;                    /* LAP_*: how an optional consumer checks for a lap first */
	int waited;
};

static void await_init(const rw_consumer *c, struct await *w, int64_t timeout_ms, int laps)
{
	int required = (c->flags & RW_FLAG_REQUIRED) != 0;
	w->deadline = deadline_after(timeout_ms);
	w->period = rw_test.liveness_period_ns ? rw_test.liveness_period_ns : RW_LIVENESS_NS;
	/* 5.8: only required consumers gate the producers, so only they may pass over claims */
	w->check_dead = c->seg->g.mode == RW_MODE_MULTI && required && c->stall_timeout_ms >= 0;
	w->stuck_at = UINT64_MAX;
	w->check_at = 0;
	w->laps = required ? LAP_NONE : laps;
	w->waited = 0;
}

/* Waits until sequence `at` (c->next, or the first unpublished sequence of a frame, 11.3 step 3)
 * is available: *hi = rw_consumer_available(c, max) > at. Fails with evicted, lost (an optional
 * consumer lapped: reported and released, 5.10 or 11.4), poisoned, ended, producer dead or
 * timeout (5.5 step 4); a required multi-mode consumer stuck at `at` for its stall timeout passes
 * over dead producers' claims there (5.8). */
static rw_code await_data(rw_consumer *c, struct await *w, uint64_t at, uint64_t max, uint64_t *hi_out,
			  rw_error *err)
{
	rw_segment *seg = c->seg;
	uint64_t hi;
	for (;;) {
		if (rw_consumer_check_owner(c) != RW_OK)
			return fail_evicted(c, err);
		uint64_t L;
		if (w->laps != LAP_NONE && lapped(c, &L)) /* 5.10: even with nothing at next */
			return w->laps == LAP_EVENTS ? report_lap(c, L, err)
						     : report_frame_lap(c, L, err);
		hi = rw_consumer_available(c, max);
		if (hi > at)
			break;
		/* 5.5 step 4: nothing available */
		if (poison_pending(seg)) {
			hi = rw_consumer_available(c, max);
			if (hi > at)
				break;
			return fail_poisoned(seg, err);
		}
		uint32_t pstate =
			atomic_load_explicit(&seg->hdr->producer_state, memory_order_acquire);
		if (pstate == RW_STREAM_CLOSED) {
			/* ended only once c read up to the producers' count (loaded after
			 * producer_state); behind a slower stage it keeps waiting for that one */
			hi = rw_consumer_available(c, max);
			if (hi > at)
				break;
			if (stream_ended(c))
				return fail(err, RW_ERR_ENDED, "producer closed after %llu events",
					    (unsigned long long)c->next);
		}
		uint64_t now = rw_monotonic_ns();
		uint64_t wake_at = w->deadline;
		if (w->check_dead && at < rw_claimed_count(seg)) {
			/* 5.8: a claimed sequence is not published; maybe its producer died */
			if (w->stuck_at != at) {
				w->stuck_at = at;
				w->check_at = now + (uint64_t)c->stall_timeout_ms * 1000000ull;
			}
			if (now >= w->check_at) {
				if (rw_pass_over_dead_claims(seg, at) > 0)
					continue;
				w->check_at = now + RW_STALL_RECHECK_NS;
			}
			if (w->check_at < wake_at)
				wake_at = w->check_at;
		}
		if (now >= c->liveness_at) {
			/* 5.5 step 4: never wait forever on producers that are all dead */
			c->liveness_at = now + w->period;
			if (pstate == RW_STREAM_OPEN && producers_dead(seg)) {
				hi = rw_consumer_available(c, max);
				if (hi > at)
					break;
				if (!(w->check_dead && at < rw_claimed_count(seg)))
					return fail(err, RW_ERR_PRODUCER_DEAD,
						    "creator pid %u and every producer died without "
						    "closing the stream (at sequence %llu)",
						    seg->g.creator_pid, (unsigned long long)at);
			}
		}
		if (now >= w->deadline)
			return fail(err, RW_ERR_TIMEOUT, "no event after sequence %llu",
				    (unsigned long long)at);
		if (c->liveness_at < wake_at)
			wake_at = c->liveness_at;
		rw_consumer_heartbeat(c); /* spec 8: at least once a second while waiting */
		w->waited = 1;
		c->wait_at = at;
		rw_block_until(&seg->hdr->consumer_blockers, &c->blocker,
			       &seg->wait->consumer_waiters, &seg->wait->consumer_wake, data_or_news,
			       c, wake_at);
	}
	*hi_out = hi;
	return RW_OK;
}

rw_code rw_consumer_consume(rw_consumer *c, void *out, uint32_t max, uint32_t *got, int64_t timeout_ms,
		   rw_error *err)
{
	*got = 0;
	if (!c->seg || max == 0)
		return fail(err, RW_ERR_INVALID_ARG, "%s", c->seg ? "max is 0" : "not registered");
	rw_segment *seg = c->seg;
	rw_code rc = check_kind(seg, RW_PAYLOAD_FIXED, err);
	if (rc != RW_OK)
		return rc;
	uint64_t cap = seg->g.capacity;
	uint32_t es = seg->g.event_size;
	if (c->report_lost) { /* the evicted entry we claimed again (5.7) */
		c->lost_count = c->report_lost;
		c->report_lost = 0;
		return fail(err, RW_ERR_LOST, "%llu event(s) from %llu went unread while evicted",
			    (unsigned long long)c->lost_count, (unsigned long long)c->lost_seq);
	}
	int required = (c->flags & RW_FLAG_REQUIRED) != 0;
	int multi = seg->g.mode == RW_MODE_MULTI;
	struct await w;
	await_init(c, &w, timeout_ms, LAP_EVENTS);
	uint64_t hi = 0;
	rc = await_data(c, &w, c->next, max, &hi, err);
	if (rc != RW_OK)
		return rc;
	int waited = w.waited;
	if (!waited && (c->next & 1023) < max) /* keeps a busy consumer's heartbeat fresh */
		rw_consumer_heartbeat(c);
	if (multi) {
		/* 5.5 step 2: gaps are passed over, counted and reported, never copied */
		uint64_t g = c->next;
		while (g < hi && !rw_segment_is_gap(seg, g))
			g++;
		if (g == c->next)
			return pass_gaps(c, err);
		hi = g;
	}
	uint8_t *dst = out;
	uint64_t n = hi - c->next;
	for (uint64_t i = 0; i < n; i++)
		memcpy(dst + i * es, rw_slot(seg, c->next + i), es);
	if (rw_test.after_copy)
		rw_test.after_copy(c);
	atomic_thread_fence(memory_order_acquire); /* F4: the copies before the loads below */
	if (required) {
		/* 5.5 step 2: the events are delivered when this call returns; if the entry is no
		 * longer ours, eviction stopped the gating and the slots may be in reuse: the
		 * batch is discarded, the cursor not stored */
		if (rw_consumer_check_owner(c) != RW_OK)
			return fail_evicted(c, err);
	} else {
		/* 5.10 steps 2 to 4: copy, F4, then claimed: a copy of s is valid iff
		 * s + capacity >= claimed; the first copy is the oldest */
		uint64_t L = rw_claimed_count(seg);
		if (c->next + cap < L)
			return report_lap(c, L, err);
	}
	rw_consumer_release(c, hi);
	*got = (uint32_t)n;
	ok(err);
	return RW_OK;
}

/* ---- Consuming framed messages (11.3, 11.4) ------------------------------------------------------ */

/* Passes over the sequences [from, to) as one gap (11.3 steps 1 and 4): counts them in
 * gaps_seen, releases them, reports them. */
static rw_code pass_frame_gap(rw_consumer *c, uint64_t from, uint64_t to, rw_error *err)
{
	c->gaps_seen += to - from;
	atomic_store_explicit(&c->entry->gaps_seen, c->gaps_seen, memory_order_release);
	c->gap_seq = from;
	c->gap_count = to - from;
	rw_consumer_release(c, to);
	return fail(err, RW_ERR_GAP,
		    "%llu sequence(s) from %llu passed over: their producer died before publishing",
		    (unsigned long long)(to - from), (unsigned long long)from);
}

static rw_code fail_corrupt(rw_consumer *c, uint64_t seq, const rw_frame_header *f, const char *why,
			    rw_error *err)
{
	(void)c;
	return fail(err, RW_ERR_CORRUPT_FRAME,
		    "at sequence %llu (seq_flags 0x%016llx, length %u, slots %u): %s",
		    (unsigned long long)seq, (unsigned long long)f->seq_flags, f->length, f->slots,
		    why);
}

static const char *rule_text(int rule)
{
	switch (rule) {
	case 1: return "rule 1 of 11.1: the header names another sequence (stale, or no header)";
	case 2: return "rule 2 of 11.1: the frame leaves the slot array";
	default: return "rule 3 of 11.1: its length and slots disagree with the geometry";
	}
}

/* Whether any of the sequences [from, to) is a GAP (multi mode). */
static int frame_has_gap(const rw_segment *seg, uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s < to; s++)
		if (rw_segment_is_gap(seg, s))
			return 1;
	return 0;
}

/* What the frame at sequence t (t < hi, published) is, after 11.3 steps 2 to 4. */
enum frame_kind { FRAME_MESSAGE, FRAME_PAD, FRAME_GAPPED, FRAME_CORRUPT, FRAME_INCOMPLETE };

static enum frame_kind classify_frame(const rw_segment *seg, uint64_t t, uint64_t hi,
				      const rw_frame_header *f, const char **why)
{
	/* step 2 */
	int rule = rw_frame_check(&seg->g.frames, t, f);
	if (rule) {
		*why = rule_text(rule);
		return FRAME_CORRUPT;
	}
	/* step 3 */
	if (t + f->slots > hi) {
		if (seg->g.mode == RW_MODE_SINGLE) {
			*why = "the frame runs past what is published (single mode)";
			return FRAME_CORRUPT;
		}
		if (t + f->slots > rw_claimed_count(seg)) { /* loaded after the header */
			*why = "the frame runs past the claimed count";
			return FRAME_CORRUPT;
		}
		return FRAME_INCOMPLETE;
	}
	/* step 4 */
	if (seg->g.mode == RW_MODE_MULTI && frame_has_gap(seg, t + 1, t + f->slots))
		return FRAME_GAPPED;
	return (f->seq_flags & RW_FRAME_PAD) ? FRAME_PAD : FRAME_MESSAGE;
}

/* The start of a framed read: refuses what this call cannot read, releases the messages the
 * last read delivered in place, and reports what registration left to report. */
static rw_code begin_framed_read(rw_consumer *c, rw_error *err)
{
	if (!c->seg || !c->registered)
		return fail(err, RW_ERR_INVALID_ARG, "not registered");
	rw_code rc = check_framed_call(c->seg, err);
	if (rc != RW_OK)
		return rc;
	if (c->held) {
		c->held = 0;
		rw_consumer_release(c, c->next);
	}
	if (c->report_lost) { /* the evicted entry we claimed again (5.7) */
		c->lost_count = c->report_lost;
		c->report_lost = 0;
		return fail(err, RW_ERR_LOST, "%llu sequence(s) from %llu went unread while evicted",
			    (unsigned long long)c->lost_count, (unsigned long long)c->lost_seq);
	}
	return RW_OK;
}

rw_code rw_consumer_read_messages(rw_consumer *c, rw_message *out, uint32_t max, uint32_t *got,
				  int64_t timeout_ms, rw_error *err)
{
	*got = 0;
	if (max == 0 || !out)
		return fail(err, RW_ERR_INVALID_ARG, "no room for a message");
	rw_code rc = begin_framed_read(c, err);
	if (rc != RW_OK)
		return rc;
	if (!(c->flags & RW_FLAG_REQUIRED))
		return fail(err, RW_ERR_INVALID_ARG,
			    "an optional consumer reads by copy (rw_consumer_copy_message, 11.4)");
	rw_segment *seg = c->seg;
	uint64_t cap = seg->g.capacity;
	uint32_t H = seg->g.frames.header_len;
	int multi = seg->g.mode == RW_MODE_MULTI;
	struct await w;
	await_init(c, &w, timeout_ms, LAP_NONE);
	for (;;) {
		uint64_t hi;
		rc = await_data(c, &w, c->next, cap, &hi, err);
		if (rc != RW_OK)
			return rc;
		if (!w.waited && (c->next & 1023) < cap)
			rw_consumer_heartbeat(c); /* keeps a busy consumer's heartbeat fresh */
		uint64_t t = c->next, gap_to = t; /* [c->next, gap_to): GAPs passed over */
		uint32_t n = 0;
		/* Each frame's address is known only from the header before it: bring the slots'
		 * lines in together first (a prefetch does not read them for the protocol), so that
		 * the walk's header loads do not each wait for a cache miss alone. */
		for (uint64_t p = t > c->touched ? t : c->touched; p < hi && p < t + 1024; p++) {
			__builtin_prefetch(rw_slot(seg, p), 0, 3);
			c->touched = p + 1;
		}
		while (t < hi && n < max) {
			/* step 1 */
			if (multi && rw_segment_is_gap(seg, t)) {
				if (n > 0)
					break; /* the messages first; the gap on the next call */
				gap_to = ++t;
				continue;
			}
			if (gap_to > c->next)
				break; /* report the gaps first */
			rw_frame_header f = rw_frame_load(rw_slot(seg, t));
			const char *why = NULL;
			enum frame_kind k = classify_frame(seg, t, hi, &f, &why);
			if (k == FRAME_CORRUPT || k == FRAME_INCOMPLETE) {
				if (n > 0)
					break; /* the messages before it first */
				if (k == FRAME_CORRUPT) /* step 2: the cursor stays at t */
					return fail_corrupt(c, t, &f, why, err);
				/* step 3, multi mode: wait for the rest of the frame (5.8 at hi) */
				rc = await_data(c, &w, hi, cap, &hi, err);
				if (rc != RW_OK)
					return rc;
				continue; /* hi grew: look at the frame at t again */
			}
			if (k == FRAME_GAPPED) { /* step 4: the frame whole, as one gap */
				if (n > 0)
					break;
				return pass_frame_gap(c, t, t + f.slots, err);
			}
			if (k == FRAME_PAD) { /* step 5: passed over silently */
				t += f.slots;
				if (n == 0)
					rw_consumer_release(c, t);
				continue;
			}
			/* step 5: the registration check of 5.5 step 2 before delivering: F4 after the
			 * header's loads, then state and owner */
			atomic_thread_fence(memory_order_acquire); /* F4 */
			if (rw_test.after_copy)
				rw_test.after_copy(c);
			if (rw_consumer_check_owner(c) != RW_OK)
				return fail_evicted(c, err); /* the batch is discarded */
			out[n++] = (rw_message){.data = rw_slot(seg, t) + H,
						.len = f.length,
						.slots = f.slots,
						.seq = t};
			t += f.slots; /* step 6 */
		}
		if (gap_to > c->next)
			return pass_frame_gap(c, c->next, gap_to, err);
		if (n > 0) {
			/* delivered in place: released by the next read or rw_consumer_release */
			c->next = t;
			c->held = 1;
			*got = n;
			ok(err);
			return RW_OK;
		}
		/* only PADs (released above): wait for more */
	}
}

rw_code rw_consumer_read_message(rw_consumer *c, rw_message *msg, int64_t timeout_ms,
				 rw_error *err)
{
	uint32_t got;
	return rw_consumer_read_messages(c, msg, 1, &got, timeout_ms, err);
}

rw_code rw_consumer_copy_message(rw_consumer *c, void *buf, uint32_t cap_bytes, rw_message *msg,
				 int64_t timeout_ms, rw_error *err)
{
	rw_code rc = begin_framed_read(c, err);
	if (rc != RW_OK)
		return rc;
	rw_segment *seg = c->seg;
	const rw_frame_geometry *g = &seg->g.frames;
	if (!buf || !msg || cap_bytes < g->max_message)
		return fail(err, RW_ERR_INVALID_ARG, "a buffer of %u bytes, the largest message is %u",
			    cap_bytes, g->max_message);
	uint64_t cap = seg->g.capacity;
	int required = (c->flags & RW_FLAG_REQUIRED) != 0;
	int multi = seg->g.mode == RW_MODE_MULTI;
	struct await w;
	await_init(c, &w, timeout_ms, LAP_FRAMES);
	for (;;) {
		uint64_t hi;
		rc = await_data(c, &w, c->next, cap, &hi, err);
		if (rc != RW_OK)
			return rc;
		uint64_t t = c->next;
		/* step 1: a run of GAPs, one sequence each */
		if (multi && rw_segment_is_gap(seg, t)) {
			uint64_t to = t + 1;
			while (to < hi && rw_segment_is_gap(seg, to))
				to++;
			return pass_frame_gap(c, t, to, err);
		}
		const uint8_t *slot = rw_slot(seg, t);
		rw_frame_header f = rw_frame_load(slot);
		uint32_t copied = 0;
		if (!required) {
			/* 11.4: the payload, bounded by the geometry whatever the copy says: never more
			 * than max_message, never past the end of the slot array */
			uint64_t room = (cap - (t & (cap - 1))) * g->slot_size - g->header_len;
			uint64_t n = f.length;
			if (n > g->max_message)
				n = g->max_message;
			if (n > room)
				n = room;
			memcpy(buf, slot + g->header_len, (size_t)n);
			copied = (uint32_t)n;
			if (rw_test.after_copy)
				rw_test.after_copy(c);
			atomic_thread_fence(memory_order_acquire); /* F4 */
			/* 5.10 step 3 for the frame's first slot, the first its producer reuses */
			uint64_t L = rw_claimed_count(seg);
			if (t + cap < L)
				return report_frame_lap(c, L, err);
		}
		const char *why = NULL;
		enum frame_kind k = classify_frame(seg, t, hi, &f, &why);
		if (k == FRAME_CORRUPT)
			return fail_corrupt(c, t, &f, why, err);
		if (k == FRAME_INCOMPLETE) {
			rc = await_data(c, &w, hi, cap, &hi, err);
			if (rc != RW_OK)
				return rc;
			continue;
		}
		if (k == FRAME_GAPPED)
			return pass_frame_gap(c, t, t + f.slots, err);
		if (k == FRAME_PAD) {
			rw_consumer_release(c, t + f.slots);
			continue;
		}
		if (required) {
			memcpy(buf, slot + g->header_len, f.length);
			copied = f.length;
			if (rw_test.after_copy)
				rw_test.after_copy(c);
			atomic_thread_fence(memory_order_acquire); /* F4 */
			if (rw_consumer_check_owner(c) != RW_OK)
				return fail_evicted(c, err);
		}
		(void)copied; /* a valid frame: copied == f.length (its payload lies inside it) */
		*msg = (rw_message){.data = buf, .len = f.length, .slots = f.slots, .seq = t};
		rw_consumer_release(c, t + f.slots);
		ok(err);
		return RW_OK;
	}
}
