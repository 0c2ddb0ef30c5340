/* pingpong: the bare cost of moving one cache line from one core to another and back, between
 * two processes pinned to two CPUs over POSIX shared memory, busy-spinning. It is the floor
 * under any cross-process wakeup-free handoff (ringwire's one-event latency included).
 *
 * Two u64 words, each alone on its own 128-byte line: the pinger stores ping = i (release) and
 * spins until pong == i (acquire); the ponger spins until ping == i and stores pong = i. Both
 * check that every value seen is the expected one or its predecessor. The pinger reads
 * CLOCK_MONOTONIC once per round trip (so each sample includes one clock read) and records the
 * round trip into a log-linear histogram in the shared segment, which the parent reads after
 * the pinger exits. The output is one-way latency: round trip / 2. */
#define _GNU_SOURCE
#include "common.h"
#include "hist.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pp_shared {
	_Alignas(BL_LINE) _Atomic uint64_t ping; /* written only by the pinger */
	_Alignas(BL_LINE) _Atomic uint64_t pong; /* written only by the ponger */
	_Alignas(BL_LINE) _Atomic uint32_t ponger_ready;
	/* Written only by the pinger; read by the parent after waitpid. */
	_Alignas(BL_LINE) struct bl_hist hist;
};

_Static_assert(offsetof(struct pp_shared, pong) == BL_LINE, "pong on its own line");
_Static_assert(offsetof(struct pp_shared, ponger_ready) == 2 * BL_LINE, "ready on its own line");

struct pp {
	struct pp_shared *sh;
	uint64_t warmup;
	uint64_t samples;
};

static int run_pinger(void *arg) {
	const struct pp *p = arg;
	struct pp_shared *sh = p->sh;
	const uint64_t total = p->warmup + p->samples, warmup = p->warmup;
	bl_hist_reset(&sh->hist);
	while (atomic_load_explicit(&sh->ponger_ready, memory_order_acquire) == 0) {
		bl_spin_hint();
	}
	uint64_t prev = bl_now_ns();
	for (uint64_t i = 1; i <= total; i++) {
		atomic_store_explicit(&sh->ping, i, memory_order_release);
		uint64_t v;
		while ((v = atomic_load_explicit(&sh->pong, memory_order_acquire)) != i) {
			if (v != i - 1) {
				fprintf(stderr, "%s: pinger: round trip %" PRIu64 " saw pong %" PRIu64 "\n", bl_prog, i, v);
				return 3;
			}
			bl_spin_hint();
		}
		uint64_t now = bl_now_ns();
		if (i > warmup) {
			bl_hist_record(&sh->hist, now - prev);
		}
		prev = now;
	}
	return 0;
}

static int run_ponger(void *arg) {
	const struct pp *p = arg;
	struct pp_shared *sh = p->sh;
	const uint64_t total = p->warmup + p->samples;
	atomic_store_explicit(&sh->ponger_ready, 1, memory_order_release);
	for (uint64_t i = 1; i <= total; i++) {
		uint64_t v;
		while ((v = atomic_load_explicit(&sh->ping, memory_order_acquire)) != i) {
			if (v != i - 1) {
				fprintf(stderr, "%s: ponger: round trip %" PRIu64 " saw ping %" PRIu64 "\n", bl_prog, i, v);
				return 3;
			}
			bl_spin_hint();
		}
#ifdef BL_INJECT_FAULT /* `make check` only: prove the pinger catches a wrong reply */
		if (i == BL_INJECT_FAULT) {
			atomic_store_explicit(&sh->pong, i + 1, memory_order_release);
			continue;
		}
#endif
		atomic_store_explicit(&sh->pong, i, memory_order_release);
	}
	return 0;
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: pingpong [flags]\n"
		"  --samples N       measured round trips per run (default 1000000)\n"
		"  --warmup N        unmeasured round trips first (default 100000)\n"
		"  --runs R          runs, one JSON line each (default 1)\n"
		"  --name /NAME      shared-memory object (default /rw-bl-<pid>)\n"
		"  --ping-cpu N      (default 0)    --pong-cpu N  (default 1)\n"
		"  --pause           spin with a pause instruction between checks (default: none)\n"
		"  --timeout S       kill a run after S seconds, 0 = never (default 60)\n");
}

int main(int argc, char **argv) {
	bl_init(argv[0]);
	uint64_t samples = 1000000, warmup = 100000, runs = 1, ping_cpu = 0, pong_cpu = 1, timeout = 60;
	char name[64];
	bl_default_name(name, sizeof name);

	enum { O_SAMPLES = 1, O_WARMUP, O_RUNS, O_NAME, O_PING, O_PONG, O_PAUSE, O_TIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"samples", required_argument, NULL, O_SAMPLES},
		{"warmup", required_argument, NULL, O_WARMUP},
		{"runs", required_argument, NULL, O_RUNS},
		{"name", required_argument, NULL, O_NAME},
		{"ping-cpu", required_argument, NULL, O_PING},
		{"pong-cpu", required_argument, NULL, O_PONG},
		{"pause", no_argument, NULL, O_PAUSE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_SAMPLES: bad = bl_parse_u64("samples", optarg, &samples); break;
		case O_WARMUP: bad = bl_parse_u64("warmup", optarg, &warmup); break;
		case O_RUNS: bad = bl_parse_u64("runs", optarg, &runs); break;
		case O_PING: bad = bl_parse_u64("ping-cpu", optarg, &ping_cpu); break;
		case O_PONG: bad = bl_parse_u64("pong-cpu", optarg, &pong_cpu); break;
		case O_TIMEOUT: bad = bl_parse_u64("timeout", optarg, &timeout); break;
		case O_NAME: snprintf(name, sizeof name, "%s", optarg); break;
		case O_PAUSE: bl_pause = 1; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
		if (bad) {
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (samples == 0 || runs == 0 || samples + warmup < samples || samples + warmup >= (UINT64_C(1) << 62) ||
	    ping_cpu > 1023 || pong_cpu > 1023 || timeout > 86400) {
		fprintf(stderr, "%s: --samples and --runs must be at least 1, --samples + --warmup < 2^62, "
				"CPUs < 1024, --timeout <= 86400\n", bl_prog);
		return 64;
	}

	struct bl_shm shm;
	if (bl_shm_create(&shm, name, sizeof(struct pp_shared)) != 0) {
		return 1;
	}
	struct pp p = {.sh = shm.base, .warmup = warmup, .samples = samples};
	int rc = 0;
	for (uint64_t run = 0; run < runs; run++) {
		memset(p.sh, 0, sizeof *p.sh); /* no child is alive between runs */
		struct bl_role roles[2] = {
			{.label = "ponger", .cpu = (int)pong_cpu, .fn = run_ponger, .arg = &p},
			{.label = "pinger", .cpu = (int)ping_cpu, .fn = run_pinger, .arg = &p},
		};
		if (bl_run_pair(roles, (unsigned)timeout) != 0) {
			rc = 1;
			break;
		}
		const struct bl_hist *h = &p.sh->hist;
		if (h->total != samples) {
			fprintf(stderr, "%s: histogram holds %" PRIu64 " samples, want %" PRIu64 "\n", bl_prog, h->total, samples);
			rc = 1;
			break;
		}
		/* Round trips in the histogram; one-way is half, so .5 is exact and printed. */
		printf("{\"baseline\":\"c-pingpong\",\"samples\":%" PRIu64 ",\"p50_ns\":%.1f,\"p99_ns\":%.1f"
		       ",\"p999_ns\":%.1f,\"max_ns\":%.1f,\"min_ns\":%.1f,\"mean_ns\":%.1f,\"warmup\":%" PRIu64 "%s}\n",
		       samples, bl_hist_percentile(h, 50.0) / 2.0, bl_hist_percentile(h, 99.0) / 2.0,
		       bl_hist_percentile(h, 99.9) / 2.0, h->max / 2.0, h->min / 2.0,
		       (double)h->sum / (double)h->total / 2.0, warmup, bl_pause ? ",\"pause\":true" : "");
		fflush(stdout);
	}
	bl_shm_destroy(&shm);
	return rc;
}
