/* Shared plumbing of the C baselines: flag parsing, the POSIX shared-memory object, CPU
 * pinning, and running two roles in two forked, pinned processes.
 *
 * None of this is on a measured path except bl_spin_hint and bl_now_ns, which are inline. */
#ifndef BL_COMMON_H
#define BL_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Cursors and flags live in shared memory and are used from two processes: they must be
 * lock-free (address-free) 64-bit atomics, never a lock hidden in the library. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* Every hot word is alone on a 128-byte line: 64-byte lines plus the adjacent-line prefetcher
 * that pulls lines in pairs. */
#define BL_LINE 128

/* Set by --pause: busy-spin loops execute a pause (spin-loop hint) between checks. Off by
 * default, like ringwire's coordination.BusySpin, which re-checks without pausing. */
extern int bl_pause;

static inline void bl_spin_hint(void) {
	if (!bl_pause) {
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Monotonic nanoseconds; system-wide, so stamps taken in two processes compare. */
static inline uint64_t bl_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parses a decimal unsigned integer (underscores allowed as digit separators, e.g.
 * 20_000_000) into *out. On failure prints "PROG: bad value for --FLAG" and returns -1. */
int bl_parse_u64(const char *flag, const char *text, uint64_t *out);

/* The shared-memory object: created (exclusively) by bl_shm_create, zero-filled and fully
 * faulted in, and removed by bl_shm_destroy. While it exists its name is also removed at exit
 * and on SIGINT, SIGTERM, SIGHUP and the watchdog, so an error path never leaves it behind
 * (only SIGKILL of the parent can). */
struct bl_shm {
	char name[64];
	void *base;
	size_t size;
};

int bl_shm_create(struct bl_shm *shm, const char *name, size_t size);
void bl_shm_destroy(struct bl_shm *shm);

/* Default object name "/rw-bl-<pid>" into buf. */
void bl_default_name(char *buf, size_t len);

/* Pins the calling thread to cpu. Returns 0, or -1 after printing why. */
int bl_pin(int cpu);

/* A role runs in its own forked process, pinned to its CPU, and returns its exit status:
 * 0 for success; anything else fails the run. */
typedef int (*bl_role_fn)(void *arg);

struct bl_role {
	const char *label; /* "producer", "consumer", ... for messages */
	int cpu;
	bl_role_fn fn;
	void *arg;
};

/* Forks one process per role (two), pins each, runs it, and waits for both. If either fails
 * (non-zero exit, killed by a signal) the other is killed. timeout_s > 0 arms a watchdog that
 * kills both when it expires. Returns 0 when both roles returned 0, -1 otherwise (the reason
 * is printed on stderr). */
int bl_run_pair(struct bl_role roles[2], unsigned timeout_s);

/* Installs the handlers for SIGINT, SIGTERM, SIGHUP and SIGALRM (the watchdog) and the exit
 * hook that removes the shared-memory object. Call once, first thing in main. */
void bl_init(const char *prog);

/* Program name for messages, as given to bl_init. */
extern const char *bl_prog;

#endif
