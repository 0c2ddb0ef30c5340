/* uds: the Unix-domain-socket baseline of the framed group (bench/framedrows.go): the messages a
 * framed ring carries there, sent between two processes pinned to two CPUs over a socketpair,
 * the way a program without shared memory would send them.
 *
 *   --mode seqpacket  SOCK_SEQPACKET: one message per send(), one per recv() (the kernel keeps
 *                     the boundaries);
 *   --mode stream     SOCK_STREAM: --batch messages per writev(), each a u32 little-endian length
 *                     then its bytes; the consumer read()s up to 64 KiB at a time and splits them.
 *
 * Both ends block in the kernel (the ordinary use of a socket). Both socket buffers are asked
 * for --sockbuf bytes (default 2 MiB, the bytes of the rings they are set against; the kernel
 * caps the request at net.core.wmem_max / rmem_max: the JSON line says what it granted).
 *
 * The messages are bench/messages.go's stream, generated here from the same seed: message i is
 * size[i % 16384] bytes (uniform in 64..512) of a pool of pseudo-random bytes from offset
 * 8 * ((i * 7919) % 8192), and the producer hands the kernel those bytes straight from the pool
 * (the one copy a ring producer makes too). The consumer reads every byte into the stream
 * checksum (msg_sum, fold); the parent compares it, the count and the bytes with the expected
 * ones, computed a byte at a time, and exits 1 on a mismatch (the Go harness checks them again).
 *
 * One JSON line per run:
 * {"baseline":"c-uds-seqpacket","events":N,"batch":1,"bytes":B,"checksum":C,"seconds":S,
 *  "events_per_sec":R,"bytes_per_sec":R2,"sndbuf":X,"rcvbuf":Y}
 * with seconds from the producer's first send to the consumer's last message (CLOCK_MONOTONIC). */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- The message stream (bench/messages.go) ---------------------------------------------------- */

#define MSG_SEED UINT64_C(0x72696e6777697265)
#define MSG_MIN 64u
#define MSG_MAX 512u
#define MSG_SIZES 16384u
#define POOL_WORDS (8192u + MSG_MAX / 8)
#define MSG_STRIDE 7919u

static uint16_t g_sizes[MSG_SIZES];
static uint8_t g_pool[8 * POOL_WORDS];

static uint64_t splitmix64(uint64_t *state) {
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static void gen_stream(void) {
	uint64_t state = MSG_SEED;
	for (uint32_t j = 0; j < MSG_SIZES; j++) {
		g_sizes[j] = (uint16_t)(MSG_MIN + splitmix64(&state) % (MSG_MAX - MSG_MIN + 1));
	}
	for (uint32_t w = 0; w < POOL_WORDS; w++) {
		uint64_t v = splitmix64(&state);
		for (int k = 0; k < 8; k++) {
			g_pool[8 * w + k] = (uint8_t)(v >> (8 * k));
		}
	}
}

static inline const uint8_t *msg_bytes(uint64_t i) { return g_pool + 8 * ((i * MSG_STRIDE) & 8191); }
static inline uint32_t msg_len(uint64_t i) { return g_sizes[i % MSG_SIZES]; }

/* The wrapping sum of the little-endian 64-bit words, the last partial word zero-extended. */
static inline uint64_t msg_sum(const uint8_t *b, uint32_t n) {
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
	for (uint32_t j = 0; i < n; i++, j += 8) {
		t |= (uint64_t)b[i] << j;
	}
	return s0 + s1 + t;
}

static inline uint64_t fold(uint64_t c, uint64_t sum, uint32_t n) {
	return ((c << 7) | (c >> 57)) ^ (sum + n);
}

/* The expected bytes and checksum of the first n messages, a byte at a time. */
static void expect(uint64_t n, uint64_t *bytes, uint64_t *sum) {
	static uint64_t sums[MSG_SIZES];
	uint64_t period = n < MSG_SIZES ? n : MSG_SIZES;
	for (uint64_t i = 0; i < period; i++) {
		const uint8_t *b = msg_bytes(i);
		uint64_t s = 0;
		for (uint32_t k = 0; k < msg_len(i); k++) {
			s += (uint64_t)b[k] << (8 * (k % 8));
		}
		sums[i] = s;
	}
	*bytes = *sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		*bytes += msg_len(i);
		*sum = ((*sum << 7) | (*sum >> 57)) ^ (sums[i % period] + msg_len(i));
	}
}

/* ---- The two processes -------------------------------------------------------------------------- */

/* Shared between the parent and both children (anonymous shared mapping made before fork). */
struct shared {
	_Alignas(BL_LINE) _Atomic uint32_t consumer_ready;
	uint64_t t_start_ns;
	_Alignas(BL_LINE) uint64_t t_end_ns, got, bytes, checksum;
};

struct run {
	struct shared *sh;
	int fd[2]; /* fd[0] the producer's end, fd[1] the consumer's */
	int stream;
	uint64_t events, batch;
};

static int send_all(int fd, const void *p, size_t len) {
	for (;;) {
		ssize_t r = send(fd, p, len, 0);
		if (r == (ssize_t)len) {
			return 0;
		}
		if (r < 0 && errno == EINTR) {
			continue;
		}
		fprintf(stderr, "%s: send: %s\n", bl_prog, r < 0 ? strerror(errno) : "short send");
		return 1;
	}
}

/* writev of the whole of iov[0..cnt), going on after partial writes. */
static int writev_all(int fd, struct iovec *iov, int cnt) {
	while (cnt > 0) {
		ssize_t r = writev(fd, iov, cnt);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			fprintf(stderr, "%s: writev: %s\n", bl_prog, strerror(errno));
			return 1;
		}
		size_t left = (size_t)r;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static int run_producer(void *arg) {
	const struct run *r = arg;
	close(r->fd[1]);
	const int fd = r->fd[0];
	const uint64_t n = r->events, batch = r->batch;
	while (atomic_load_explicit(&r->sh->consumer_ready, memory_order_acquire) == 0) {
		bl_spin_hint();
	}
	r->sh->t_start_ns = bl_now_ns();
#ifdef BL_INJECT_FAULT /* `make check` only: one wrong byte, which the checksum must catch */
	static uint8_t wrong[MSG_MAX];
#define MSG_AT(i) ((i) == BL_INJECT_FAULT ? (memcpy(wrong, msg_bytes(i), msg_len(i)), wrong[7] ^= 1, wrong) : msg_bytes(i))
#else
#define MSG_AT(i) msg_bytes(i)
#endif
	if (!r->stream) {
		for (uint64_t i = 0; i < n; i++) {
			if (send_all(fd, MSG_AT(i), msg_len(i)) != 0) {
				return 1;
			}
		}
	} else {
		static struct iovec iov[2 * 1024];
		static uint32_t lens[1024];
		for (uint64_t i = 0; i < n; i += batch) {
			uint64_t k = n - i < batch ? n - i : batch;
			for (uint64_t j = 0; j < k; j++) {
				lens[j] = msg_len(i + j); /* little-endian hosts, as the whole bench */
				iov[2 * j] = (struct iovec){.iov_base = &lens[j], .iov_len = 4};
				iov[2 * j + 1] = (struct iovec){.iov_base = (void *)MSG_AT(i + j), .iov_len = lens[j]};
			}
			if (writev_all(fd, iov, (int)(2 * k)) != 0) {
				return 1;
			}
		}
	}
	close(fd);
	return 0;
}

static int consume_seqpacket(int fd, uint64_t n, uint64_t *got, uint64_t *bytes, uint64_t *sum) {
	static uint8_t buf[2 * MSG_MAX];
	while (*got < n) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0 || r > (ssize_t)MSG_MAX) {
			fprintf(stderr, "%s: consumer: recv returned %zd after %" PRIu64 " messages: %s\n", bl_prog, r,
				*got, r < 0 ? strerror(errno) : "end of stream or oversized message");
			return 3;
		}
		*sum = fold(*sum, msg_sum(buf, (uint32_t)r), (uint32_t)r);
		*bytes += (uint64_t)r;
		(*got)++;
	}
	return 0;
}

static int consume_stream(int fd, uint64_t n, uint64_t *got, uint64_t *bytes, uint64_t *sum) {
	enum { CAP = 64 * 1024 };
	static uint8_t buf[CAP];
	size_t have = 0;
	while (*got < n) {
		ssize_t r = read(fd, buf + have, CAP - have);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			fprintf(stderr, "%s: consumer: read returned %zd after %" PRIu64 " messages: %s\n", bl_prog, r, *got,
				r < 0 ? strerror(errno) : "end of stream");
			return 3;
		}
		have += (size_t)r;
		size_t pos = 0;
		while (have - pos >= 4) {
			uint32_t len;
			memcpy(&len, buf + pos, 4);
			if (len > MSG_MAX) {
				fprintf(stderr, "%s: consumer: message %" PRIu64 " has length %u\n", bl_prog, *got, len);
				return 3;
			}
			if (have - pos - 4 < len) {
				break;
			}
			*sum = fold(*sum, msg_sum(buf + pos + 4, len), len);
			*bytes += len;
			(*got)++;
			pos += 4 + len;
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
	}
	if (have != 0) {
		fprintf(stderr, "%s: consumer: %zu bytes after the last message\n", bl_prog, have);
		return 3;
	}
	return 0;
}

static int run_consumer(void *arg) {
	const struct run *r = arg;
	close(r->fd[0]);
	uint64_t got = 0, bytes = 0, sum = 0;
	atomic_store_explicit(&r->sh->consumer_ready, 1, memory_order_release);
	int rc = r->stream ? consume_stream(r->fd[1], r->events, &got, &bytes, &sum)
			   : consume_seqpacket(r->fd[1], r->events, &got, &bytes, &sum);
	r->sh->t_end_ns = bl_now_ns();
	r->sh->got = got;
	r->sh->bytes = bytes;
	r->sh->checksum = sum;
	close(r->fd[1]);
	return rc;
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: uds [flags]\n"
		"  --mode M          seqpacket (one message per send/recv) or stream (default seqpacket)\n"
		"  --events N        messages per run (default 1000000)\n"
		"  --batch K         stream: messages per writev, 1..1024 (default 64)\n"
		"  --runs R          runs, one JSON line each (default 1)\n"
		"  --sockbuf B       SO_SNDBUF and SO_RCVBUF asked for (default 2097152)\n"
		"  --producer-cpu N  (default 0)    --consumer-cpu N  (default 1)\n"
		"  --timeout S       kill a run after S seconds, 0 = never (default 60)\n");
}

int main(int argc, char **argv) {
	bl_init(argv[0]);
	uint64_t events = 1000000, batch = 64, runs = 1, sockbuf = 2u << 20;
	uint64_t producer_cpu = 0, consumer_cpu = 1, timeout = 60;
	const char *mode = "seqpacket";

	enum { O_MODE = 1, O_EVENTS, O_BATCH, O_RUNS, O_SOCKBUF, O_PCPU, O_CCPU, O_TIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"mode", required_argument, NULL, O_MODE},
		{"events", required_argument, NULL, O_EVENTS},
		{"batch", required_argument, NULL, O_BATCH},
		{"runs", required_argument, NULL, O_RUNS},
		{"sockbuf", required_argument, NULL, O_SOCKBUF},
		{"producer-cpu", required_argument, NULL, O_PCPU},
		{"consumer-cpu", required_argument, NULL, O_CCPU},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;
		switch (opt) {
		case O_MODE: mode = optarg; break;
		case O_EVENTS: bad = bl_parse_u64("events", optarg, &events); break;
		case O_BATCH: bad = bl_parse_u64("batch", optarg, &batch); break;
		case O_RUNS: bad = bl_parse_u64("runs", optarg, &runs); break;
		case O_SOCKBUF: bad = bl_parse_u64("sockbuf", optarg, &sockbuf); break;
		case O_PCPU: bad = bl_parse_u64("producer-cpu", optarg, &producer_cpu); break;
		case O_CCPU: bad = bl_parse_u64("consumer-cpu", optarg, &consumer_cpu); break;
		case O_TIMEOUT: bad = bl_parse_u64("timeout", optarg, &timeout); break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
		if (bad) {
			return 64;
		}
	}
	const int stream = strcmp(mode, "stream") == 0;
	const char *invalid = NULL;
	if (optind != argc) {
		invalid = "unexpected arguments";
	} else if (!stream && strcmp(mode, "seqpacket") != 0) {
		invalid = "--mode must be seqpacket or stream";
	} else if (events == 0 || events >= (UINT64_C(1) << 62)) {
		invalid = "--events must be in 1..2^62";
	} else if (batch == 0 || batch > 1024) {
		invalid = "--batch must be in 1..1024";
	} else if (runs == 0) {
		invalid = "--runs must be at least 1";
	} else if (sockbuf == 0 || sockbuf > (UINT64_C(1) << 30)) {
		invalid = "--sockbuf must be in 1..2^30";
	} else if (producer_cpu > 1023 || consumer_cpu > 1023 || timeout > 86400) {
		invalid = "--producer-cpu/--consumer-cpu must be < 1024, --timeout <= 86400";
	}
	if (invalid != NULL) {
		fprintf(stderr, "%s: %s\n", bl_prog, invalid);
		usage(stderr);
		return 64;
	}
	gen_stream();
	uint64_t want_bytes, want_sum;
	expect(events, &want_bytes, &want_sum);

	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "%s: mmap: %s\n", bl_prog, strerror(errno));
		return 1;
	}
	const char *name = stream ? "c-uds-stream" : "c-uds-seqpacket";
	int rc = 0;
	for (uint64_t run = 0; run < runs && rc == 0; run++) {
		memset(sh, 0, sizeof *sh); /* no child is alive between runs */
		struct run r = {.sh = sh, .stream = stream, .events = events, .batch = stream ? batch : 1};
		if (socketpair(AF_UNIX, stream ? SOCK_STREAM : SOCK_SEQPACKET, 0, r.fd) != 0) {
			fprintf(stderr, "%s: socketpair: %s\n", bl_prog, strerror(errno));
			return 1;
		}
		int want = (int)sockbuf, snd = 0, rcv = 0;
		socklen_t len = sizeof snd;
		for (int i = 0; i < 2; i++) {
			setsockopt(r.fd[i], SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
			setsockopt(r.fd[i], SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
		}
		getsockopt(r.fd[0], SOL_SOCKET, SO_SNDBUF, &snd, &len);
		len = sizeof rcv;
		getsockopt(r.fd[1], SOL_SOCKET, SO_RCVBUF, &rcv, &len);
		struct bl_role roles[2] = {
			{.label = "consumer", .cpu = (int)consumer_cpu, .fn = run_consumer, .arg = &r},
			{.label = "producer", .cpu = (int)producer_cpu, .fn = run_producer, .arg = &r},
		};
		int failed = bl_run_pair(roles, (unsigned)timeout) != 0;
		close(r.fd[0]);
		close(r.fd[1]);
		if (failed) {
			rc = 1;
			break;
		}
		if (sh->got != events || sh->bytes != want_bytes || sh->checksum != want_sum) {
			fprintf(stderr,
				"%s: consumer received %" PRIu64 " messages, %" PRIu64 " bytes, checksum %" PRIu64
				"; want %" PRIu64 ", %" PRIu64 ", %" PRIu64 "\n",
				bl_prog, sh->got, sh->bytes, sh->checksum, events, want_bytes, want_sum);
			rc = 1;
			break;
		}
		double seconds = (double)(sh->t_end_ns - sh->t_start_ns) / 1e9;
		printf("{\"baseline\":\"%s\",\"events\":%" PRIu64 ",\"batch\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"checksum\":%" PRIu64 ",\"seconds\":%.6f,\"events_per_sec\":%.0f,\"bytes_per_sec\":%.0f"
		       ",\"sndbuf\":%d,\"rcvbuf\":%d}\n",
		       name, events, r.batch, sh->bytes, sh->checksum, seconds, (double)events / seconds,
		       (double)sh->bytes / seconds, snd, rcv);
		fflush(stdout);
	}
	munmap(sh, sizeof *sh);
	return rc;
}
