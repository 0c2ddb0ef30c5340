/*
 * harness.h - the shared harness of the C tests (one binary, build/test_ringwire, one file per
 * concept in tests/): check macros, the test event, segment and file names that are cleaned up,
 * and fork helpers.
 *
 * Output contract (scripts rely on it): every failed check prints a line starting
 * "FAIL tests/<file>.c:<line>" on stderr; the last line printed is "C tests: N passed, M failed";
 * the exit status is nonzero on failure.
 *
 * Every shared-memory segment is named /rwc-t-<pid>-<tag> and every file /tmp/rwc-t-<pid>-<tag>;
 * each is unlinked before its test starts and again at exit (also on a failed check, a timeout
 * alarm or SIGINT/SIGTERM). Forked children leave with _exit so that only the parent cleans up.
 * Waits in these tests yield or sleep (the library blocks in futex); at most one process per core
 * is ever runnable at once for long.
 *
 * The tests include ringwire_internal.h: besides the API they read the handles' private state and
 * use the test hooks.
 */
#ifndef RINGWIRE_TEST_HARNESS_H
#define RINGWIRE_TEST_HARNESS_H

#define _GNU_SOURCE
#include "../golden_mask.h"
#include "../ringwire_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sched.h>
#include <sys/mount.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef RW_TEST_ROOT
#define RW_TEST_ROOT "../.."
#endif
#ifndef RW_TEST_CONFORMER
#define RW_TEST_CONFORMER "build/conformer"
#endif

extern int passed, failed;
extern pid_t parent_pid;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			fprintf(stderr, "FAIL %s:%d (%s): ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
		}                                                                                  \
	} while (0)

#define CHECK_RC(rc, want, err)                                                                    \
	CHECK((rc) == (want), "got %s (%s), want %s", rw_code_name(rc), (err).message,           \
	      rw_code_name(want))

/* ---- cleanup of every name a test used ---------------------------------------------------------- */

/* Removes every tracked name (in the parent only); installed with atexit. */
void cleanup(void);
/* SIGINT / SIGTERM / SIGALRM handler: cleans up and exits 1. */
void on_signal(int sig);
/* "/rwc-t-<pid>-<tag>", unlinked now and at exit. */
const char *shm_name(const char *tag);
/* prefix + "<pid>-<tag>" (prefix starts with "/"), unlinked now and at exit. */
const char *shm_name_as(const char *prefix, const char *tag);
/* "/tmp/rwc-t-<pid>-<tag>", unlinked now and at exit. */
const char *tmp_file(const char *tag);

/* ---- processes ---------------------------------------------------------------------------------- */

typedef int (*child_fn)(void *arg);
/* Forks a child that runs fn(arg) under a 30 s alarm and _exits with its result. */
pid_t spawn(child_fn fn, void *arg);
/* Exit status of pid, or 128 + signal. */
int reap(pid_t pid);
void sleep_ms(unsigned ms);
/* The pid of a process that has exited and been reaped. */
uint32_t dead_pid(void);
/* Runs a shell command; its exit status, or -1. */
int run(const char *cmd);
/* Reads a whole file into a 4096-aligned buffer (NUL-terminated; free it); NULL if absent. */
char *read_all(const char *path, size_t *len);

/* ---- a test event: the conformance event, written independently of conformer.c ------------------ */

#define EV_SIZE 64
extern const rw_event_type ev_type;
void ev_make(uint8_t *ev, uint64_t k, uint64_t p);
/* 0 if ev is event k of producer p and intact. */
int ev_check(const uint8_t *ev, uint64_t k, uint64_t p);
uint64_t ev_seq(const uint8_t *ev);
uint64_t ev_producer(const uint8_t *ev);

/* ---- segments ----------------------------------------------------------------------------------- */

/* An initialized config of ev_type events. */
rw_config config(uint64_t capacity, uint32_t mode, uint32_t registry);
/* A fresh 4096-aligned heap image of cfg (not attached). */
uint8_t *heap_image(const rw_config *cfg, rw_geometry *g);
/* A fresh heap segment of cfg, created into *seg (its creator: uses producer entry 0). Close *seg,
 * then free the returned memory. */
uint8_t *heap_segment(const rw_config *cfg, rw_segment **seg);

/* ---- peers and helpers several files share (tests/peers.c) ------------------------------------ */

#ifdef __linux__
#define KERNEL_BLOCKS 1u /* a futex exists: waiting peers count themselves */
#else
#define KERNEL_BLOCKS 0u /* sleep backoff only: nobody is counted */
#endif

/* A stream read or written by a child process. */
struct stream_arg {
	const char *name;
	const char *consumer;
	uint64_t count;     /* events expected in total */
	uint32_t batch;     /* consume max */
	uint32_t producers; /* ids 0..producers-1 */
	uint32_t producer;  /* for producer children */
	uint32_t pbatch;    /* producer batch (0: vary 1..5) */
};
/* Reads until the stream ends; exit 0 iff exactly count events arrived intact and in order. */
int child_consume(void *argp);
/* Attaches, registers a producer and publishes count events of producer id `producer`. */
int child_produce(void *argp);
/* 1 once rw_segment_active_count(seg) >= n, 0 after ms milliseconds. */
int wait_active(rw_segment *seg, uint32_t n, unsigned ms);
/* The registry entry whose name is name, or NULL. */
rw_entry *entry_named(rw_segment *seg, const char *name);
/* Exits 0 once a byte can be read from the fd *arg (the parent's signal to go). */
int child_hold_pipe(void *arg);
/* Kernel waits and the producer-liveness period of 5 s: only a wake ends a wait within 2 s. */
void long_waits(void);

/* A child that waits for a wake and expects want. */
struct wake_arg {
	const char *name;
	const char *consumer;
	rw_code want;
};
/* A consumer that blocks waiting for an event and expects want. */
int child_consume_expect(void *argp);
/* A producer that attaches to a multi segment whose ring is full and waits for room. */
int child_produce_expect(void *argp);

/* ---- the spec's tables as constants (tests/layout.c), shared with the golden mask test ---------- */

struct layout_const {
	const char *table, *field;
	unsigned offset, size;
};
extern const struct layout_const layout_consts[];
extern const size_t n_layout_consts;

#endif /* RINGWIRE_TEST_HARNESS_H */
