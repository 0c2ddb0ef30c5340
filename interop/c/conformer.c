/*
 * conformer.c - the C implementation's conformer (conformance/PROTOCOL.md).
 *
 *   conformer produce --name NAME --count N [--producer P] [--capacity C] [--mode single|multi]
 *                     [--attach] [--batch B] [--wait-consumers K] [--wait-producers J]
 *                     [--timeout-ms T] [--framed [--slot-size S] [--max-message M]
 *                     [--die-mid-frame D]]
 *   conformer consume --name NAME --consumer CNAME --count N [--producers K] [--timeout-ms T]
 *                     [--batch] [--framed]
 *   conformer validate FILE
 *   conformer golden SCENARIO FILE
 *   conformer name LABEL
 *   conformer snapshot --name NAME | --file PATH [--timeout-ms T]
 *
 * Output: one JSON object a line on stdout (except `name`; `snapshot` prints the one object of
 * Go's segment.Snapshot, with no "event" member). Exit codes: 0 ok, 1 verification
 * failed, 2 usage, 3 segment error, 4 other I/O error.
 */
#define _GNU_SOURCE
#include "golden_mask.h"
#include "ringwire_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_VERIFY = 1, EXIT_USAGE = 2, EXIT_SEGMENT = 3, EXIT_IO = 4 };

#define DEFAULT_TIMEOUT_MS 20000
#define CONF_REGISTRY 8
#define CONF_DESCRIPTOR "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8"
#define CONF_FINGERPRINT 0x8463538f676797d7ull
#define CONF_TYPE_NAME "ringwire.conformance.v1"
#define CONF_EVENT_SIZE 64
#define CONF_PAYLOAD 40

/* The conformance event (PROTOCOL.md "The conformance event"). */
typedef struct conf_event {
	uint64_t seq;
	uint64_t producer;
	uint64_t checksum;
	uint8_t payload[CONF_PAYLOAD];
} conf_event;
static_assert(sizeof(conf_event) == CONF_EVENT_SIZE, "conformance event is 64 bytes");
static_assert(offsetof(conf_event, seq) == 0, "seq at 0");
static_assert(offsetof(conf_event, producer) == 8, "producer at 8");
static_assert(offsetof(conf_event, checksum) == 16, "checksum at 16");
static_assert(offsetof(conf_event, payload) == 24, "payload at 24");

static const rw_event_type conf_type = {
	.event_size = CONF_EVENT_SIZE,
	.event_align = 8,
	.fingerprint = CONF_FINGERPRINT,
	.name = CONF_TYPE_NAME,
};

/* FNV-1a 64 over bytes 0..15 followed by bytes 24..63 of the event. */
static uint64_t conf_checksum(const uint8_t *ev)
{
	uint8_t buf[CONF_EVENT_SIZE - 8];
	memcpy(buf, ev, 16);
	memcpy(buf + 16, ev + 24, CONF_EVENT_SIZE - 24);
	return rw_fnv1a64(buf, sizeof buf);
}

static void conf_fill(uint8_t *ev, uint64_t k, uint64_t p)
{
	conf_event e;
	e.seq = k;
	e.producer = p;
	for (unsigned i = 0; i < CONF_PAYLOAD; i++)
		e.payload[i] = (uint8_t)(k * 31 + p * 7 + i);
	e.checksum = 0;
	memcpy(ev, &e, sizeof e);
	e.checksum = conf_checksum(ev);
	memcpy(ev, &e, sizeof e);
}

/* ---- The framed conformance message (PROTOCOL.md) ------------------------------------------------ */

#define CONF_FRAMED_TYPE_NAME "ringwire.conformance.frames.v1"
#define CONF_FRAMED_SLOT 64
#define CONF_FRAMED_ALIGN 16

/* F(k, p): 1 if k mod 97 = 1, M if k mod 97 = 2, else 1 + (FNV-1a 64 of k, p as little-endian
 * u64s) mod M. */
static uint32_t conf_frame_len(uint64_t k, uint64_t p, uint32_t max_message)
{
	if (k % 97 == 1)
		return 1;
	if (k % 97 == 2)
		return max_message;
	uint8_t b[16];
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(k >> (8 * i));
		b[8 + i] = (uint8_t)(p >> (8 * i));
	}
	return (uint32_t)(1 + rw_fnv1a64(b, sizeof b) % max_message);
}

/* Byte i of message k of producer p: p for i = 0, else (k * 31 + p * 7 + i) mod 256. */
static uint8_t conf_frame_byte(uint64_t k, uint64_t p, uint64_t i)
{
	return i == 0 ? (uint8_t)p : (uint8_t)(k * 31 + p * 7 + i);
}

static void conf_frame_fill(uint8_t *dst, uint64_t k, uint64_t p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		dst[i] = conf_frame_byte(k, p, i);
}

/* ---- JSON output ----------------------------------------------------------------------------- */

static void json_str(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Maps a library code to the protocol's error code. */
static const char *proto_code(rw_code rc)
{
	switch (rc) {
	case RW_ERR_EXISTS: return "io";
	case RW_ERR_ENDED: return "verify";
	case RW_ERR_WRONG_MODE: return "producer_mode";
	case RW_ERR_INVALID_ARG: return "usage";
	case RW_ERR_PRODUCERS_FULL: return "registry_full";
	case RW_ERR_GAP: return "verify";
	/* codes outside PROTOCOL.md's list, mapped as the Go conformer does: a bad name is a usage
	 * error, a backing that cannot be made or is not a regular file an I/O error, and a
	 * stream that stopped short (lapped, or every producer died) a verification failure */
	case RW_ERR_LOST:
	case RW_ERR_PRODUCER_DEAD: return "verify";
	case RW_ERR_INVALID_NAME: return "usage";
	case RW_ERR_NO_SPACE:
	case RW_ERR_NOT_REGULAR: return "io";
	default: return rw_code_name(rc);
	}
}

static int exit_for(rw_code rc)
{
	switch (rc) {
	case RW_OK: return EXIT_OK;
	case RW_ERR_IO:
	case RW_ERR_NO_SPACE:
	case RW_ERR_NOT_REGULAR:
	case RW_ERR_EXISTS: return EXIT_IO;
	case RW_ERR_INVALID_ARG:
	case RW_ERR_INVALID_NAME: return EXIT_USAGE;
	case RW_ERR_ENDED:
	case RW_ERR_LOST:
	case RW_ERR_PRODUCER_DEAD:
	case RW_ERR_CORRUPT_FRAME:
	case RW_ERR_GAP: return EXIT_VERIFY;
	default: return EXIT_SEGMENT;
	}
}

static void print_error(const char *code, const char *message)
{
	printf("{\"event\":\"error\",\"code\":\"%s\",\"message\":", code);
	json_str(message, strlen(message));
	printf("}\n");
	fflush(stdout);
}

static int report(rw_code rc, const rw_error *err)
{
	print_error(proto_code(rc), err->message[0] ? err->message : rw_strerror(rc));
	return exit_for(rc);
}

static int usage(const char *fmt, const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof msg, fmt, arg ? arg : "");
	print_error("usage", msg);
	return EXIT_USAGE;
}

/* ---- Flags: "--flag value", or "--flag" for booleans; unknown flags are a usage error ---- */

typedef struct flag {
	const char *name;
	int boolean;
	const char *value; /* set when present; "" for booleans */
} flag;

static int parse_flags(int argc, char **argv, flag *flags, int nflags)
{
	for (int i = 0; i < argc; i++) {
		int found = 0;
		for (int f = 0; f < nflags; f++) {
			if (strcmp(argv[i], flags[f].name) != 0)
				continue;
			found = 1;
			if (flags[f].boolean) {
				flags[f].value = "";
			} else {
				if (i + 1 >= argc)
					return usage("flag %s needs a value", argv[i]);
				flags[f].value = argv[++i];
			}
		}
		if (!found)
			return usage("unknown flag or argument %s", argv[i]);
	}
	return EXIT_OK;
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -1;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int flag_u64(const flag *f, uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!f->value) {
		*out = def;
		return EXIT_OK;
	}
	uint64_t v;
	if (parse_u64(f->value, &v) != 0 || v < min || v > max)
		return usage("bad value for %s", f->name);
	*out = v;
	return EXIT_OK;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void print_registry(const rw_segment *seg)
{
	printf("{\"event\":\"registry\",\"entries\":[");
	int first = 1;
	for (uint32_t i = 0; i < rw_segment_registry_capacity(seg); i++) {
		rw_entry *e = rw_segment_entry(seg, i);
		uint32_t state = rw_entry_state_word(e);
		if (rw_state_value(state) == RW_ENTRY_FREE)
			continue;
		char name[RW_MAX_CONSUMER_NAME + 1];
		uint32_t nlen = rw_entry_name(e, name); /* 0: corrupt (spec 4.3) */
		printf("%s{\"index\":%u,\"name\":", first ? "" : ",", i);
		json_str(name, nlen);
		if (nlen == 0)
			state = RW_STATE_VALUE_MASK; /* shown as "corrupt" */
		printf(",\"state\":\"%s\",\"cursor\":%llu}", rw_entry_state_name(state),
		       (unsigned long long)rw_entry_cursor(e));
		first = 0;
	}
	printf("]}\n");
	fflush(stdout);
}

/* ---- produce --------------------------------------------------------------------------------- */

/* Producer entries 1.. whose attached producer registered and left: closed or dead, or active
 * with a dead owner whose claims are all resolved (PROTOCOL.md, produce). */
static uint32_t producers_left(rw_segment *seg)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i < rw_segment_producer_capacity(seg); i++)
		n += (uint32_t)rw_segment_producer_entry_left(seg, i);
	return n;
}

/* Publishes the framed conformance messages k = 0..count-1 of producer, up to batch per claim (fewer
 * when a claim of batch could exceed the ring). With die_at < count: the messages before it, then
 * the claim of message die_at, its header (written by the claim) and the first half of its
 * payload, then SIGKILL (PROTOCOL.md, --die-mid-frame). */
static rw_code produce_frames(rw_producer *p, uint64_t count, uint64_t producer, uint64_t batch,
			      uint64_t die_at, int64_t timeout, rw_error *err)
{
	rw_segment *seg = rw_producer_segment(p);
	uint64_t cap = rw_segment_capacity(seg);
	uint32_t slot = rw_segment_slot_size(seg), H = rw_segment_frame_header_len(seg);
	uint32_t M = rw_segment_max_message(seg);
	uint64_t max_batch = batch < cap ? batch : cap;
	uint8_t *buf = malloc((size_t)(cap * slot));
	const void **msgs = malloc(max_batch * sizeof *msgs);
	uint32_t *lens = malloc(max_batch * sizeof *lens);
	rw_code c = RW_OK;
	if (!buf || !msgs || !lens) {
		free(buf), free(msgs), free(lens);
		err->code = RW_ERR_IO, err->sys_errno = ENOMEM;
		snprintf(err->message, sizeof err->message, "out of memory");
		return RW_ERR_IO;
	}
	for (uint64_t k = 0; k < count && c == RW_OK;) {
		if (k == die_at) {
			uint32_t len = conf_frame_len(k, producer, M);
			void *payload;
			c = rw_producer_claim_message(p, len, timeout, &payload, err);
			if (c != RW_OK)
				break;
			conf_frame_fill(payload, k, producer, len / 2);
			fflush(stdout);
			kill(getpid(), SIGKILL);
		}
		/* a batch: while its claim could not exceed the ring (rw_producer_publish_messages) */
		uint32_t n = 0;
		uint64_t slots = 0, longest = 0, bytes = 0;
		while (n < max_batch && k + n < count && k + n != die_at) {
			uint32_t len = conf_frame_len(k + n, producer, M);
			uint64_t kk = (H + (uint64_t)len + slot - 1) / slot;
			uint64_t l = kk > longest ? kk : longest;
			if (n > 0 && slots + kk + l - 1 > cap)
				break;
			msgs[n] = buf + bytes;
			lens[n] = len;
			conf_frame_fill(buf + bytes, k + n, producer, len);
			bytes += len;
			slots += kk;
			longest = l;
			n++;
		}
		c = rw_producer_publish_messages(p, msgs, lens, n, timeout, err);
		k += n;
	}
	free(buf), free(msgs), free(lens);
	return c;
}

static int cmd_produce(int argc, char **argv)
{
	flag fl[] = {{"--name", 0, 0},     {"--count", 0, 0},          {"--producer", 0, 0},
		     {"--capacity", 0, 0}, {"--mode", 0, 0},           {"--attach", 1, 0},
		     {"--batch", 0, 0},    {"--wait-consumers", 0, 0}, {"--timeout-ms", 0, 0},
		     {"--wait-producers", 0, 0}, {"--framed", 1, 0},   {"--slot-size", 0, 0},
		     {"--max-message", 0, 0},    {"--die-mid-frame", 0, 0}};
	int rc = parse_flags(argc, argv, fl, (int)(sizeof fl / sizeof fl[0]));
	if (rc)
		return rc;
	const char *name = fl[0].value;
	if (!name || !*name)
		return usage("produce needs --name%s", NULL);
	if (!fl[1].value)
		return usage("produce needs --count%s", NULL);
	uint64_t count, producer, capacity, batch, wait_k, wait_j, timeout;
	if ((rc = flag_u64(&fl[1], 0, 0, RW_MAX_SEQUENCE, &count)) ||
	    (rc = flag_u64(&fl[2], 0, 0, UINT64_MAX, &producer)) ||
	    (rc = flag_u64(&fl[3], 1024, 2, RW_MAX_CAPACITY, &capacity)) ||
	    (rc = flag_u64(&fl[6], 1, 1, UINT32_MAX, &batch)) ||
	    (rc = flag_u64(&fl[7], 0, 0, RW_MAX_REGISTRY, &wait_k)) ||
	    (rc = flag_u64(&fl[8], DEFAULT_TIMEOUT_MS, 0, INT64_MAX / 1000000, &timeout)) ||
	    (rc = flag_u64(&fl[9], 0, 0, RW_MAX_PRODUCERS, &wait_j)))
		return rc;
	if (capacity & (capacity - 1))
		return usage("--capacity must be a power of two%s", NULL);
	uint32_t mode = RW_MODE_SINGLE;
	if (fl[4].value) {
		if (strcmp(fl[4].value, "single") == 0)
			mode = RW_MODE_SINGLE;
		else if (strcmp(fl[4].value, "multi") == 0)
			mode = RW_MODE_MULTI;
		else
			return usage("--mode must be single or multi, not %s", fl[4].value);
	}
	int attach = fl[5].value != NULL;
	int framed = fl[10].value != NULL;
	uint64_t slot_size, max_message, die_at;
	if ((rc = flag_u64(&fl[11], CONF_FRAMED_SLOT, 32, RW_MAX_EVENT_SIZE, &slot_size)) ||
	    (rc = flag_u64(&fl[13], UINT64_MAX, 0, UINT64_MAX, &die_at)))
		return rc;
	if (slot_size % CONF_FRAMED_ALIGN != 0)
		return usage("--slot-size must be a multiple of 16%s", NULL);
	uint64_t largest = capacity / 8 * slot_size > 16 ? capacity / 8 * slot_size - 16 : 0;
	if ((rc = flag_u64(&fl[12], largest, 1, UINT32_MAX, &max_message)))
		return rc;
	if (!framed && (fl[11].value || fl[12].value || fl[13].value))
		return usage("--slot-size, --max-message and --die-mid-frame need --framed%s", NULL);

	rw_segment *seg;
	rw_error err;
	rw_code c;
	if (attach) {
		c = framed ? rw_segment_attach_framed_shm(name, CONF_FRAMED_TYPE_NAME, (int64_t)timeout,
							  &seg, &err)
			   : rw_segment_attach_shm(name, &conf_type, (int64_t)timeout, &seg, &err);
		if (c != RW_OK)
			return report(c, &err);
		if (rw_segment_mode(seg) != RW_MODE_MULTI) {
			rw_segment_close(seg);
			print_error("producer_mode", "--attach needs a multi-producer segment");
			return EXIT_SEGMENT;
		}
	} else {
		rw_config cfg;
		rw_config_init(&cfg);
		cfg.capacity = capacity;
		cfg.mode = mode;
		cfg.registry_capacity = CONF_REGISTRY;
		cfg.type = conf_type;
		if (framed) {
			cfg.payload_kind = RW_PAYLOAD_FRAMED;
			cfg.type = rw_framed_type(CONF_FRAMED_TYPE_NAME, (uint32_t)slot_size,
						  CONF_FRAMED_ALIGN);
			cfg.max_message = (uint32_t)max_message;
		}
		rw_segment_unlink_shm(name); /* replace a stale segment (spec 5.1: unlink, never reuse) */
		c = rw_segment_create_shm(name, &cfg, &seg, &err);
		if (c != RW_OK)
			return report(c, &err);
	}
	int status = EXIT_OK;
	rw_producer *p = NULL;
	c = rw_producer_register(seg, &p, &err); /* attached: takes a producer entry (5.4) */
	if (c != RW_OK) {
		status = report(c, &err);
		goto out;
	}

	/* wait for K consumers active with their start chosen (flags bit 1 clear, spec 5.7 step 6):
	 * every event published from here on reaches them */
	uint64_t deadline = rw_monotonic_ns() + timeout * 1000000ull;
	while (rw_segment_active_count(seg) < wait_k) {
		if (rw_monotonic_ns() >= deadline) {
			char msg[128];
			snprintf(msg, sizeof msg, "%u of %llu consumers active",
				 rw_segment_active_count(seg), (unsigned long long)wait_k);
			print_error("timeout", msg);
			status = EXIT_SEGMENT;
			goto out;
		}
		rw_producer_heartbeat(p); /* spec 8: while waiting for consumers */
		sleep_ms(1);
	}

	if (framed) {
		c = produce_frames(p, count, producer, batch, die_at, (int64_t)timeout, &err);
		if (c != RW_OK) {
			status = report(c, &err);
			goto out;
		}
	}
	if (batch > rw_segment_capacity(seg))
		batch = rw_segment_capacity(seg);
	for (uint64_t k = 0; k < count && !framed;) {
		uint32_t n = (uint32_t)(count - k < batch ? count - k : batch);
		uint64_t first;
		c = rw_producer_claim(p, n, (int64_t)timeout, &first, &err);
		if (c != RW_OK) {
			status = report(c, &err);
			goto out;
		}
		for (uint32_t i = 0; i < n; i++)
			conf_fill(rw_segment_slot(seg, first + i), k + i, producer);
		rw_producer_publish_claim(p);
		k += n;
	}

	if (!attach) {
		/* multi mode: wait for J attached producers to have registered and left */
		deadline = rw_monotonic_ns() + timeout * 1000000ull;
		while (rw_segment_mode(seg) == RW_MODE_MULTI && producers_left(seg) < wait_j) {
			if (rw_monotonic_ns() >= deadline) {
				char msg[128];
				snprintf(msg, sizeof msg, "%u of %llu attached producers left",
					 producers_left(seg), (unsigned long long)wait_j);
				print_error("timeout", msg);
				status = EXIT_SEGMENT;
				break;
			}
			rw_producer_heartbeat(p);
			sleep_ms(1);
		}
		/* end the stream (multi: closed bit, then every claim published or a gap) */
		c = rw_producer_close(p, (int64_t)timeout, &err);
		p = NULL;
		if (c != RW_OK)
			status = report(c, &err);
		deadline = rw_monotonic_ns() + timeout * 1000000ull;
		int timed_out = 0;
		while (rw_segment_active_count(seg) > 0) {
			if (rw_segment_evict_dead(seg) > 0)
				continue;
			if (rw_monotonic_ns() >= deadline) {
				timed_out = 1;
				break;
			}
			sleep_ms(1);
		}
		print_registry(seg);
		if (timed_out) {
			print_error("timeout", "consumers still active after the producer closed");
			status = EXIT_SEGMENT;
		}
	}
out:
	/* attached: leaves its entry (detach); creator: ends the stream if it did not yet */
	rw_producer_close(p, 0, NULL);
	if (!attach)
		rw_segment_unlink_shm(name);
	rw_segment_close(seg);
	return status;
}

/* ---- consume --------------------------------------------------------------------------------- */

static void print_done(const char *cname, uint64_t received, uint64_t producers, uint64_t gaps,
		       int ok)
{
	printf("{\"event\":\"done\",\"consumer\":");
	json_str(cname, strlen(cname));
	printf(",\"received\":%llu,\"producers\":%llu,\"gaps\":%llu,\"ok\":%s}\n",
	       (unsigned long long)received, (unsigned long long)producers,
	       (unsigned long long)gaps, ok ? "true" : "false");
	fflush(stdout);
}

/* Checks message m against the framed conformance message expect[p] of its producer p (its first
 * byte); 0, or writes the failure. */
static int check_frame(const rw_message *m, uint64_t *expect, uint64_t producers, uint32_t M,
		       uint64_t at, char *failure, size_t flen)
{
	const uint8_t *b = m->data;
	if (m->len == 0) {
		snprintf(failure, flen, "message %llu (sequence %llu) is empty",
			 (unsigned long long)at, (unsigned long long)m->seq);
		return -1;
	}
	uint64_t p = b[0];
	if (p >= producers) {
		snprintf(failure, flen, "message %llu: producer %llu, expected < %llu",
			 (unsigned long long)at, (unsigned long long)p, (unsigned long long)producers);
		return -1;
	}
	uint64_t k = expect[p];
	uint32_t want = conf_frame_len(k, p, M);
	if (m->len != want) {
		snprintf(failure, flen,
			 "message %llu (sequence %llu): producer %llu message %llu has %u bytes, "
			 "expected %u",
			 (unsigned long long)at, (unsigned long long)m->seq, (unsigned long long)p,
			 (unsigned long long)k, m->len, want);
		return -1;
	}
	for (uint32_t i = 0; i < m->len; i++)
		if (b[i] != conf_frame_byte(k, p, i)) {
			snprintf(failure, flen,
				 "message %llu (sequence %llu): producer %llu message %llu byte %u "
				 "differs",
				 (unsigned long long)at, (unsigned long long)m->seq,
				 (unsigned long long)p, (unsigned long long)k, i);
			return -1;
		}
	expect[p]++;
	return 0;
}

/* consume --framed: reads count framed conformance messages in place (one at a time, or up to
 * 256 a read with --batch) and checks each. gaps counts the sequences passed over (11.3 steps 1
 * and 4). A stream that ends with gaps passed over is no failure: the messages they hid are the
 * test's to account for (PROTOCOL.md). */
static int consume_frames(const char *name, const char *cname, uint64_t count, uint64_t producers,
			  uint64_t timeout, int batch)
{
	uint64_t deadline = rw_monotonic_ns() + timeout * 1000000ull;
	rw_segment *seg;
	rw_error err;
	rw_code c = rw_segment_attach_framed_shm(name, CONF_FRAMED_TYPE_NAME, (int64_t)timeout, &seg,
						 &err);
	if (c != RW_OK)
		return report(c, &err);
	rw_consumer *con;
	c = rw_consumer_register(seg, cname, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &con, &err);
	if (c != RW_OK) {
		rw_segment_close(seg);
		return report(c, &err);
	}
	uint64_t *expect = calloc(producers, sizeof *expect);
	if (!expect) {
		rw_consumer_close(con);
		rw_segment_close(seg);
		print_error("io", "out of memory");
		return EXIT_IO;
	}
	uint32_t M = rw_segment_max_message(seg);
	uint32_t max = batch ? 256 : 1;
	rw_message msgs[256];
	uint64_t received = 0, gaps = 0;
	char failure[256] = "";
	int status = EXIT_OK;
	while (received < count) {
		uint64_t now = rw_monotonic_ns();
		int64_t left = now >= deadline ? 0 : (int64_t)((deadline - now) / 1000000);
		uint32_t want = (uint32_t)(count - received < max ? count - received : max);
		uint32_t got = 0;
		c = rw_consumer_read_messages(con, msgs, want, &got, left, &err);
		if (c == RW_ERR_ENDED) {
			if (gaps > 0)
				break; /* a producer died mid-frame: the test accounts for the rest */
			snprintf(failure, sizeof failure,
				 "producer closed after %llu of %llu messages",
				 (unsigned long long)received, (unsigned long long)count);
			status = EXIT_VERIFY;
			print_error("verify", failure);
			break;
		}
		if (c == RW_ERR_GAP) {
			uint64_t gap_count;
			rw_consumer_last_gap(con, NULL, &gap_count);
			gaps += gap_count;
			continue;
		}
		if (c != RW_OK) {
			status = report(c, &err);
			break;
		}
		for (uint32_t i = 0; i < got; i++) {
			if (failure[0])
				break;
			if (check_frame(&msgs[i], expect, producers, M, received + i, failure,
					sizeof failure) != 0) {
				print_error("verify", failure);
				status = EXIT_VERIFY;
			}
		}
		received += got;
	}
	rw_consumer_release(con, rw_consumer_next(con)); /* the last messages, checked in place */
	rw_consumer_close(con);
	print_done(cname, received, producers, gaps, status == EXIT_OK);
	free(expect);
	rw_segment_close(seg);
	return status;
}

static int cmd_consume(int argc, char **argv)
{
	flag fl[] = {{"--name", 0, 0},      {"--consumer", 0, 0},   {"--count", 0, 0},
		     {"--producers", 0, 0}, {"--timeout-ms", 0, 0}, {"--batch", 1, 0},
		     {"--framed", 1, 0}};
	int rc = parse_flags(argc, argv, fl, (int)(sizeof fl / sizeof fl[0]));
	if (rc)
		return rc;
	const char *name = fl[0].value, *cname = fl[1].value;
	if (!name || !*name)
		return usage("consume needs --name%s", NULL);
	if (!cname || !*cname || strlen(cname) > RW_MAX_CONSUMER_NAME)
		return usage("consume needs --consumer of 1 to 48 bytes%s", NULL);
	if (!fl[2].value)
		return usage("consume needs --count%s", NULL);
	uint64_t count, producers, timeout;
	if ((rc = flag_u64(&fl[2], 0, 0, RW_MAX_SEQUENCE, &count)) ||
	    (rc = flag_u64(&fl[3], 1, 1, 1u << 20, &producers)) ||
	    (rc = flag_u64(&fl[4], DEFAULT_TIMEOUT_MS, 0, INT64_MAX / 1000000, &timeout)))
		return rc;
	int batch = fl[5].value != NULL;
	uint64_t deadline = rw_monotonic_ns() + timeout * 1000000ull;
	if (fl[6].value)
		return consume_frames(name, cname, count, producers, timeout, batch);

	rw_segment *seg;
	rw_error err;
	rw_code c = rw_segment_attach_shm(name, &conf_type, (int64_t)timeout, &seg, &err);
	if (c != RW_OK)
		return report(c, &err);
	rw_consumer *con;
	c = rw_consumer_register(seg, cname, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &con, &err);
	if (c != RW_OK) {
		rw_segment_close(seg);
		return report(c, &err);
	}

	uint64_t *expect = calloc(producers, sizeof *expect);
	uint64_t cap = rw_segment_capacity(seg);
	uint32_t max = batch ? (uint32_t)(cap < 256 ? cap : 256) : 1;
	uint8_t *buf = malloc((size_t)max * CONF_EVENT_SIZE);
	if (!expect || !buf) {
		free(expect);
		free(buf);
		rw_consumer_close(con);
		rw_segment_close(seg);
		print_error("io", "out of memory");
		return EXIT_IO;
	}
	uint64_t received = 0, gaps = 0;
	char failure[256] = "";
	int status = EXIT_OK;
	while (received < count) {
		uint64_t now = rw_monotonic_ns();
		int64_t left = now >= deadline ? 0 : (int64_t)((deadline - now) / 1000000);
		uint32_t want = (uint32_t)(count - received < max ? count - received : max);
		uint32_t got;
		c = rw_consumer_consume(con, buf, want, &got, left, &err);
		if (c == RW_ERR_ENDED) {
			/* every sequence up to the end was read or passed over: that accounts for
			 * all N when the N counted the passed-over ones too */
			if (received + gaps >= count)
				break;
			snprintf(failure, sizeof failure,
				 "producer closed after %llu of %llu events (%llu gaps)",
				 (unsigned long long)received, (unsigned long long)count,
				 (unsigned long long)gaps);
			if (status == EXIT_OK || status == EXIT_VERIFY)
				status = EXIT_VERIFY;
			print_error("verify", failure);
			break;
		}
		if (c == RW_ERR_GAP) {
			/* a producer died mid-claim (spec 5.8): its claim is counted, not received,
			 * and is no failure (PROTOCOL.md, exit codes); reading goes on */
			uint64_t gap_count;
			rw_consumer_last_gap(con, NULL, &gap_count);
			gaps += gap_count;
			continue;
		}
		if (c != RW_OK) {
			status = report(c, &err);
			break;
		}
		for (uint32_t i = 0; i < got; i++) {
			const uint8_t *ev = buf + (size_t)i * CONF_EVENT_SIZE;
			conf_event e;
			memcpy(&e, ev, sizeof e);
			uint64_t at = received + i;
			if (failure[0])
				continue;
			if (e.producer >= producers) {
				snprintf(failure, sizeof failure,
					 "event %llu: producer %llu, expected < %llu",
					 (unsigned long long)at, (unsigned long long)e.producer,
					 (unsigned long long)producers);
			} else if (e.checksum != conf_checksum(ev)) {
				snprintf(failure, sizeof failure, "event %llu: bad checksum",
					 (unsigned long long)at);
			} else if (e.seq != expect[e.producer]) {
				snprintf(failure, sizeof failure,
					 "event %llu: producer %llu seq %llu, expected %llu",
					 (unsigned long long)at, (unsigned long long)e.producer,
					 (unsigned long long)e.seq,
					 (unsigned long long)expect[e.producer]);
			} else {
				uint8_t want_ev[CONF_EVENT_SIZE];
				conf_fill(want_ev, e.seq, e.producer);
				if (memcmp(want_ev + 24, ev + 24, CONF_PAYLOAD) != 0)
					snprintf(failure, sizeof failure,
						 "event %llu: payload differs",
						 (unsigned long long)at);
				else
					expect[e.producer]++;
			}
			if (failure[0]) {
				print_error("verify", failure);
				status = EXIT_VERIFY;
			}
		}
		received += got;
	}
	rw_consumer_close(con);
	printf("{\"event\":\"done\",\"consumer\":");
	json_str(cname, strlen(cname));
	printf(",\"received\":%llu,\"producers\":%llu,\"gaps\":%llu,\"ok\":%s}\n",
	       (unsigned long long)received, (unsigned long long)producers,
	       (unsigned long long)gaps, status == EXIT_OK ? "true" : "false");
	fflush(stdout);
	free(expect);
	free(buf);
	rw_segment_close(seg);
	return status;
}

/* ---- validate -------------------------------------------------------------------------------- */

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return e;
	}
	size_t size = st.st_size > 0 ? (size_t)st.st_size : 0;
	void *buf = NULL;
	if (posix_memalign(&buf, RW_PAGE, size ? size : 1) != 0) {
		close(fd);
		return ENOMEM;
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, (uint8_t *)buf + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = done;
	return 0;
}

static int cmd_validate(int argc, char **argv)
{
	if (argc != 1 || strncmp(argv[0], "--", 2) == 0)
		return usage("validate takes exactly one FILE%s", NULL);
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = read_file(argv[0], &buf, &len);
	if (e) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s: %s", argv[0], strerror(e));
		print_error("io", msg);
		return EXIT_IO;
	}
	rw_segment *seg;
	rw_error err;
	/* validating is attaching (5.2): the image is read, never written */
	rw_code c = rw_segment_attach_memory(buf, len, NULL, &seg, &err);
	if (c != RW_OK) {
		free(buf);
		return report(c, &err);
	}
	uint16_t major, minor;
	rw_segment_version(seg, &major, &minor);
	int framed = rw_segment_payload_kind(seg) == RW_PAYLOAD_FRAMED;
	if (framed && (c = rw_segment_check_framed(seg, NULL, &err)) != RW_OK) { /* check 14 */
		rw_segment_close(seg);
		free(buf);
		return report(c, &err);
	}
	printf("{\"event\":\"valid\",\"major\":%u,\"minor\":%u,\"capacity\":%llu,\"slot_size\":%u,"
	       "\"mode\":\"%s\",\"registry\":%u",
	       major, minor, (unsigned long long)rw_segment_capacity(seg), rw_segment_slot_size(seg),
	       rw_segment_mode(seg) == RW_MODE_SINGLE ? "single" : "multi",
	       rw_segment_registry_capacity(seg));
	if (framed)
		printf(",\"payload_kind\":%u,\"frame_header_len\":%u,\"max_message\":%u",
		       RW_PAYLOAD_FRAMED, rw_segment_frame_header_len(seg),
		       rw_segment_max_message(seg));
	printf("}\n");
	rw_segment_close(seg);
	free(buf);
	return EXIT_OK;
}

/* ---- golden ---------------------------------------------------------------------------------- */

/* Registers a golden consumer (start oldest) that only polls: it never registers as a blocker,
 * so consumer_blockers stays 0 as in the Go images. */
static int golden_register(rw_consumer **c, rw_segment *seg, const char *name, uint32_t flags)
{
	if (rw_consumer_register(seg, name, flags, 0, RW_START_OLDEST, c, NULL) != RW_OK)
		return -1;
	rw_consumer_poll_only(*c);
	return 0;
}

static int golden_publish(rw_producer *p, uint64_t from, uint64_t to)
{
	for (uint64_t k = from; k < to; k++) {
		uint64_t first;
		if (rw_producer_claim(p, 1, 0, &first, NULL) != RW_OK)
			return -1;
		conf_fill(rw_segment_slot(rw_producer_segment(p), first), k, 0);
		rw_producer_publish_claim(p);
	}
	return 0;
}

static int golden_consume(rw_consumer *c, uint64_t n)
{
	uint8_t ev[CONF_EVENT_SIZE];
	for (uint64_t i = 0; i < n; i++) {
		uint32_t got;
		if (rw_consumer_consume(c, ev, 1, &got, 0, NULL) != RW_OK || got != 1)
			return -1;
	}
	return 0;
}

/* multi-gap: a forked producer takes producer entry 1 of the shared image, claims 3 sequences
 * and dies before publishing them (spec 5.8's "dies between step 3 and step 5"). */
static int dead_claim(void *buf, size_t len)
{
	rw_segment *s2;
	rw_producer *q;
	uint64_t first;
	if (rw_segment_attach_memory(buf, len, &conf_type, &s2, NULL) != RW_OK ||
	    rw_producer_register(s2, &q, NULL) != RW_OK || rw_producer_index(q) != 1 ||
	    (rw_producer_poll_only(q), 0) || rw_producer_claim(q, 3, 0, &first, NULL) != RW_OK ||
	    first != 2)
		return -1;
	return 0; /* dies holding the claim */
}

/* Runs die(buf, len) in a forked child that then exits without cleaning up (a producer that
 * dies), and reports whether it did its part. */
static int golden_in_dying_child(int (*die)(void *, size_t), void *buf, size_t len)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(die(buf, len) == 0 ? 0 : 1);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int golden_dead_claim(void *buf, size_t len)
{
	return golden_in_dying_child(dead_claim, buf, len);
}

/* c1 passes over the dead claim at its cursor: one RW_ERR_GAP of count 3. */
static int golden_pass_gap(rw_consumer *c)
{
	uint8_t ev[CONF_EVENT_SIZE];
	uint32_t got;
	uint64_t seq, count;
	rw_consumer_set_stall_timeout(c, 0);
	rw_code rc = rw_consumer_consume(c, ev, 1, &got, 0, NULL);
	rw_consumer_last_gap(c, &seq, &count);
	return rc == RW_ERR_GAP && seq == 2 && count == 3 ? 0 : -1;
}

/* Publishes framed conformance messages k = from.. of producer with the given lengths (not F),
 * each with its own claim. */
static int golden_publish_frames(rw_producer *p, uint64_t producer, uint64_t from, const uint32_t *lens,
				 uint32_t n)
{
	uint8_t msg[CONF_FRAMED_SLOT * 2];
	for (uint32_t j = 0; j < n; j++) {
		if (lens[j] > sizeof msg)
			return -1;
		conf_frame_fill(msg, from + j, producer, lens[j]);
		if (rw_producer_publish_message(p, msg, lens[j], 0, NULL) != RW_OK)
			return -1;
	}
	return 0;
}

/* c reads n messages in place and releases them. */
static int golden_read_frames(rw_consumer *c, uint32_t n)
{
	for (uint32_t j = 0; j < n; j++) {
		rw_message m;
		if (rw_consumer_read_message(c, &m, 0, NULL) != RW_OK)
			return -1;
	}
	rw_consumer_release(c, rw_consumer_next(c));
	return 0;
}

/* framed-multi-gap: a forked producer takes producer entry 1, claims the frame of its message
 * k = 0 (70 bytes: sequences 3-4), writes it, publishes sequence 3 alone (the one direct layout
 * write: its availability word) and dies: a producer killed between its availability stores
 * (spec 5.4 step 5). */
static int dead_frame(void *buf, size_t len)
{
	rw_segment *s2;
	rw_producer *q;
	void *payload;
	if (rw_segment_attach_framed_memory(buf, len, CONF_FRAMED_TYPE_NAME, &s2, NULL) != RW_OK ||
	    rw_producer_register(s2, &q, NULL) != RW_OK || rw_producer_index(q) != 1 ||
	    (rw_producer_poll_only(q), 0) ||
	    rw_producer_claim_message(q, 70, 0, &payload, NULL) != RW_OK ||
	    (uint8_t *)payload != (uint8_t *)rw_segment_slot(s2, 3) + 16)
		return -1;
	conf_frame_fill(payload, 0, 1, 70);
	rw_header *h = rw_segment_header(s2);
	_Atomic uint64_t *avail = (_Atomic uint64_t *)(void *)((uint8_t *)buf + h->availability.offset);
	atomic_store_explicit(&avail[3], 4, memory_order_release);
	return 0; /* dies with sequence 4 claimed, unpublished */
}

static int golden_dead_frame(void *buf, size_t len)
{
	return golden_in_dying_child(dead_frame, buf, len);
}

/* c1 passes over the frame at 3 whole (11.3 step 4) once 5.8 has made sequence 4 a gap. */
static int golden_pass_frame_gap(rw_consumer *c)
{
	rw_message m;
	uint32_t got;
	uint64_t seq, count;
	rw_consumer_set_stall_timeout(c, 0);
	rw_code rc = rw_consumer_read_messages(c, &m, 1, &got, 0, NULL);
	rw_consumer_last_gap(c, &seq, &count);
	return rc == RW_ERR_GAP && seq == 3 && count == 2 ? 0 : -1;
}

static int fill_fails(void *arg, void *event, uint64_t seq, uint32_t index, const char **why)
{
	(void)arg, (void)event, (void)seq, (void)index;
	*why = "fill panicked";
	return 1;
}

/* Builds scenario into a fresh shared anonymous mapping (a forked producer can write into it)
 * by running the real protocol, then masks it. The image is returned in *out (total_size bytes;
 * release it with munmap) and *len. Returns 0, or -1 for an unknown scenario, -2 if the
 * protocol misbehaved. */
static int golden_image(const char *scenario, uint8_t **out, size_t *len)
{
	rw_config cfg;
	rw_config_init(&cfg);
	cfg.type = conf_type;
	enum {
		EMPTY,
		SINGLE_WRAPPED,
		MULTI_WRAPPED,
		CLOSED,
		MULTI_GAP,
		POISONED,
		FRAMED_WRAPPED,
		FRAMED_MULTI_GAP
	} which;
	if (strcmp(scenario, "empty") == 0) {
		which = EMPTY;
		cfg.mode = RW_MODE_SINGLE, cfg.capacity = 8, cfg.registry_capacity = 4;
	} else if (strcmp(scenario, "single-wrapped") == 0) {
		which = SINGLE_WRAPPED;
		cfg.mode = RW_MODE_SINGLE, cfg.capacity = 8, cfg.registry_capacity = 4;
	} else if (strcmp(scenario, "multi-wrapped") == 0) {
		which = MULTI_WRAPPED;
		cfg.mode = RW_MODE_MULTI, cfg.capacity = 4, cfg.registry_capacity = 2;
	} else if (strcmp(scenario, "closed") == 0) {
		which = CLOSED;
		cfg.mode = RW_MODE_SINGLE, cfg.capacity = 16, cfg.registry_capacity = 2;
	} else if (strcmp(scenario, "multi-gap") == 0) {
		which = MULTI_GAP;
		cfg.mode = RW_MODE_MULTI, cfg.capacity = 8, cfg.registry_capacity = 2;
		cfg.producer_capacity = 2;
	} else if (strcmp(scenario, "poisoned") == 0) {
		which = POISONED;
		cfg.mode = RW_MODE_SINGLE, cfg.capacity = 8, cfg.registry_capacity = 2;
	} else if (strcmp(scenario, "framed-wrapped") == 0 ||
		   strcmp(scenario, "framed-multi-gap") == 0) {
		/* PROTOCOL.md, "Framed scenarios" */
		which = scenario[7] == 'w' ? FRAMED_WRAPPED : FRAMED_MULTI_GAP;
		cfg.mode = which == FRAMED_WRAPPED ? RW_MODE_SINGLE : RW_MODE_MULTI;
		cfg.capacity = 16, cfg.registry_capacity = 2;
		if (which == FRAMED_MULTI_GAP)
			cfg.producer_capacity = 2;
		cfg.payload_kind = RW_PAYLOAD_FRAMED;
		cfg.type = rw_framed_type(CONF_FRAMED_TYPE_NAME, CONF_FRAMED_SLOT, CONF_FRAMED_ALIGN);
		cfg.max_message = 112;
	} else {
		return -1;
	}
	uint64_t total_size;
	if (rw_segment_size(&cfg, &total_size, NULL) != RW_OK)
		return -2;
	void *buf = mmap(NULL, total_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	if (buf == MAP_FAILED)
		return -2;
	/* The image's peers stay registered in it (closing one would change it): their handles are
	 * kept, reachable, until the process exits a moment later. */
	static rw_segment *seg;
	static rw_producer *p;
	static rw_consumer *c1, *c2;
	int bad = rw_segment_create_memory(buf, total_size, &cfg, &seg, NULL) != RW_OK ||
		  rw_producer_register(seg, &p, NULL) != RW_OK;
	/* Golden peers never wait (timeouts 0) and are poll-only: none of them registers as a
	 * blocker (spec 5.6), so both blockers counts stay 0, as in the Go images. */
	if (!bad)
		rw_producer_poll_only(p);
	switch (bad ? -1 : (int)which) {
	case EMPTY:
		break;
	case SINGLE_WRAPPED:
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_publish(p, 0, 5) || golden_consume(c1, 5) ||
		      golden_publish(p, 5, 10);
		break;
	case MULTI_WRAPPED:
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_register(&c2, seg, "c2", 0) ||
		      golden_publish(p, 0, 4) || golden_consume(c1, 4) ||
		      golden_consume(c2, 4) || golden_publish(p, 4, 6) || golden_consume(c2, 2);
		if (!bad) {
			rw_consumer_close(c2);
			c2 = NULL;
		}
		break;
	case CLOSED:
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_publish(p, 0, 3) || golden_consume(c1, 3);
		if (!bad) {
			rw_consumer_close(c1);
			c1 = NULL;
			bad = rw_producer_close(p, 0, NULL) != RW_OK;
			p = NULL;
		}
		break;
	case MULTI_GAP:
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_publish(p, 0, 2) || golden_consume(c1, 2) ||
		      golden_dead_claim(buf, total_size) || golden_pass_gap(c1) ||
		      rw_segment_retire_resolved(seg) != 1 || /* a peer retires the resolved entry (5.4) */
		      golden_publish(p, 2, 3) || golden_consume(c1, 1);
		break;
	case POISONED:
		bad = golden_publish(p, 0, 2) ||
		      rw_producer_publish_fill(p, 1, fill_fails, NULL, 0, NULL) != RW_ERR_POISONED;
		break;
	case FRAMED_WRAPPED: {
		/* sequences 0-1, 2, 3-4, 5-6, 7, 8, 9-10, 11, 12-13, 14; c1 reads them (cursor 15);
		 * then a PAD at 15, message 10 at 16-17, message 11 at 18 */
		static const uint32_t lens[12] = {100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40};
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_publish_frames(p, 0, 0, lens, 10) || golden_read_frames(c1, 10) ||
		      rw_consumer_next(c1) != 15 || golden_publish_frames(p, 0, 10, lens + 10, 2);
		break;
	}
	case FRAMED_MULTI_GAP: {
		static const uint32_t first[2] = {100, 20}, later[2] = {112, 5};
		bad = golden_register(&c1, seg, "c1", RW_FLAG_REQUIRED) ||
		      golden_publish_frames(p, 0, 0, first, 2) || golden_read_frames(c1, 2) ||
		      golden_dead_frame(buf, total_size) || golden_pass_frame_gap(c1) ||
		      rw_segment_retire_resolved(seg) != 1 || /* a peer retires the resolved entry (5.4) */
		      golden_publish_frames(p, 0, 2, later, 2) || golden_read_frames(c1, 2) ||
		      rw_consumer_next(c1) != 8;
		break;
	}
	default:
		bad = 1;
	}
	if (bad) {
		munmap(buf, total_size);
		return -2;
	}
	rw_golden_mask(buf, total_size);
	*out = buf;
	*len = total_size;
	return 0;
}

static int cmd_golden(int argc, char **argv)
{
	if (argc != 2 || strncmp(argv[0], "--", 2) == 0 || strncmp(argv[1], "--", 2) == 0)
		return usage("golden takes SCENARIO FILE%s", NULL);
	uint8_t *img = NULL;
	size_t len = 0;
	int r = golden_image(argv[0], &img, &len);
	if (r == -1)
		return usage("unknown scenario %s (empty, single-wrapped, multi-wrapped, closed, "
			     "multi-gap, poisoned, framed-wrapped, framed-multi-gap)",
			     argv[0]);
	if (r != 0) {
		print_error("io", "building the scenario failed");
		return EXIT_IO;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;
	while (fd >= 0 && done < len) {
		ssize_t n = write(fd, img + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	int e = errno;
	if (fd >= 0 && close(fd) != 0 && done == len)
		done = 0;
	munmap(img, len);
	if (done != len) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s: %s", argv[1], strerror(e));
		print_error("io", msg);
		return EXIT_IO;
	}
	return EXIT_OK;
}

/* ---- name ------------------------------------------------------------------------------------ */

static int cmd_name(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: conformer name LABEL\n");
		return EXIT_USAGE;
	}
	char out[RW_PORTABLE_NAME_MAX];
	rw_portable_name(argv[0], strlen(argv[0]), out);
	printf("%s\n", out);
	return EXIT_OK;
}

/* ---- snapshot -------------------------------------------------------------------------------- */

/* Writes s[0..len) as a JSON string exactly as Go's encoding/json writes a string: `"` and `\`
 * with a backslash; \b \f \n \r \t; every other control byte, `<`, `>`, `&`, U+2028 and U+2029
 * as \u00xx / \u2028 / \u2029 (lowercase hex); each byte that is not part of a valid UTF-8
 * sequence (by the rules of Go's utf8.DecodeRune: no overlongs, no surrogates, nothing past
 * U+10FFFF) as one \ufffd; everything else, DEL and a valid U+FFFD included, as it is. */
static void json_go_str(const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	putchar('"');
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		if (c < 0x80) {
			switch (c) {
			case '"': fputs("\\\"", stdout); break;
			case '\\': fputs("\\\\", stdout); break;
			case '\b': fputs("\\b", stdout); break;
			case '\f': fputs("\\f", stdout); break;
			case '\n': fputs("\\n", stdout); break;
			case '\r': fputs("\\r", stdout); break;
			case '\t': fputs("\\t", stdout); break;
			default:
				if (c < 0x20 || c == '<' || c == '>' || c == '&')
					printf("\\u00%c%c", hex[c >> 4], hex[c & 0xF]);
				else
					putchar(c);
			}
			i++;
			continue;
		}
		/* The length of the valid sequence starting at s[i], 0 if there is none. */
		size_t n = 0;
		uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
		if (c >= 0xC2 && c <= 0xDF)
			n = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		}
		if (n && i + n <= len && s[i + 1] >= lo && s[i + 1] <= hi) {
			for (size_t k = 2; k < n; k++)
				if (s[i + k] < 0x80 || s[i + k] > 0xBF)
					n = 0;
		} else {
			n = 0;
		}
		if (n == 0) {
			fputs("\\ufffd", stdout);
			i++;
		} else if (n == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
			fputs(s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", stdout);
			i += 3;
		} else {
			fwrite(s + i, 1, n, stdout);
			i += n;
		}
	}
	putchar('"');
}

/* Writes unix_ns as a JSON string in RFC 3339 with nanoseconds, trailing zeros of the fraction
 * dropped, in UTC: Go's encoding of a time.Time (Go writes its local offset: the same instant). */
static void json_time(int64_t unix_ns)
{
	int64_t secs = unix_ns / 1000000000, nanos = unix_ns % 1000000000;
	if (nanos < 0) {
		nanos += 1000000000;
		secs--;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* Civil date from days since 1970-01-01, in 400-year eras that start on a 1 March. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t day = doy - (153 * mp + 2) / 5 + 1;
	int64_t month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = yoe + era * 400 + (month <= 2);
	printf("\"%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", (long long)year, (long long)month,
	       (long long)day, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60));
	if (nanos) {
		char frac[10];
		snprintf(frac, sizeof frac, "%09lld", (long long)nanos);
		for (int k = 8; k > 0 && frac[k] == '0'; k--)
			frac[k] = 0;
		printf(".%s", frac);
	}
	fputs("Z\"", stdout);
}

/* A heartbeat age in ns for the JSON (Go's segment.HeartbeatAge): -1 when then is 0 (never
 * stored), later than now, or too far back for an int64. */
static long long heartbeat_age(uint64_t now, uint64_t then)
{
	if (then == 0 || then > now || now - then > (uint64_t)INT64_MAX)
		return -1;
	return (long long)(now - then);
}

/* Go's segment.Liveness of a process named by pid and start time, or by an owner identity. */
static const char *creator_liveness(uint32_t pid, uint64_t start)
{
	return pid == 0 ? "none" : rw_process_dead(pid, start) ? "dead" : "alive";
}
static const char *owner_liveness(uint64_t owner)
{
	return owner == 0 ? "none" : rw_owner_dead(owner) ? "dead" : "alive";
}

/* State names as Go's snapshot names them: the spec's words, "unknown" for any other value. */
static const char *snap_entry_state(uint32_t v)
{
	static const char *names[] = {"free", "claiming", "active", "closed", "evicted"};
	return v <= RW_ENTRY_STATE_MAX ? names[v] : "unknown";
}
static const char *snap_producer_state(uint32_t v)
{
	static const char *names[] = {"free", "active", "closed", "dead"};
	return v <= RW_PRODUCER_STATE_MAX ? names[v] : "unknown";
}

#define LD32(p) atomic_load_explicit((_Atomic uint32_t *)(p), memory_order_acquire)
#define LD64(p) atomic_load_explicit((_Atomic uint64_t *)(p), memory_order_acquire)

/* One consumer entry as the snapshot saw it (the JSON is written after the counters are read). */
typedef struct snap_consumer {
	uint32_t index, state, flags, name_len;
	uint64_t owner, cursor, heartbeat, depends_on, lost, gaps_seen;
	uint8_t name[RW_MAX_CONSUMER_NAME];
} snap_consumer;

/* `snapshot --name NAME | --file PATH [--timeout-ms T]` (PROTOCOL.md): attaches (checks 1 to 12,
 * waiting up to T, default 0, for a segment still being created) and prints the segment's
 * snapshot on one line as the JSON of Go's segment.Snapshot, read in Go's order: the header, the
 * producer registry, the consumer registry, then the counters (so that a lag is never negative),
 * then the poison record, and last, for a framed ring only, its frame geometry ("frames"). It
 * registers nothing and writes nothing into the segment. */
static int cmd_snapshot(int argc, char **argv)
{
	flag flags[] = {{"--name", 0, NULL}, {"--file", 0, NULL}, {"--timeout-ms", 0, NULL}};
	int e = parse_flags(argc, argv, flags, 3);
	if (e)
		return e;
	const char *name = flags[0].value, *path = flags[1].value;
	if (!name == !path)
		return usage("snapshot needs one of --name NAME and --file PATH%s", NULL);
	uint64_t timeout;
	if ((e = flag_u64(&flags[2], 0, 0, INT64_MAX, &timeout)))
		return e;
	rw_segment *seg;
	rw_error err;
	rw_code c = name ? rw_segment_attach_shm(name, NULL, (int64_t)timeout, &seg, &err)
			 : rw_segment_attach_file(path, NULL, (int64_t)timeout, &seg, &err);
	if (c != RW_OK)
		return report(c, &err);

	/* The producers' JSON, held until the counters (read after the registries) are printed. */
	uint32_t np = rw_segment_producer_capacity(seg), nr = rw_segment_registry_capacity(seg);
	char *pbuf = NULL;
	size_t plen = 0;
	FILE *pj = open_memstream(&pbuf, &plen);
	snap_consumer *cs = calloc(nr ? nr : 1, sizeof *cs);
	if (!pj || !cs) {
		if (pj)
			fclose(pj);
		free(pbuf);
		free(cs);
		rw_segment_close(seg);
		print_error("io", "out of memory");
		return EXIT_IO;
	}
	rw_header *h = rw_segment_header(seg);
	uint64_t mono = rw_monotonic_ns();
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint32_t creator_pid = LD32(&h->creator_pid);
	uint64_t creator_start = LD64(&h->creator_start_time);
	const char *creator = creator_liveness(creator_pid, creator_start);
	uint32_t stream = LD32(&h->producer_state);
	uint64_t producer_hb = LD64(&h->producer_heartbeat_ns);
	uint32_t type_len = LD32(&h->type_name_len);
	if (type_len > RW_MAX_TYPE_NAME)
		type_len = RW_MAX_TYPE_NAME;
	uint16_t major, minor;
	rw_segment_version(seg, &major, &minor);

	printf("{\"backing\":");
	/* As Go's segment.Backing writes it: "shm:" + the name ("/orders"), "file:" + the path. */
	char backing[sizeof "file:" + 4096];
	snprintf(backing, sizeof backing, "%s%s", name ? "shm:" : "file:", name ? name : path);
	json_go_str((const uint8_t *)backing, strlen(backing));
	printf(",\"taken_at\":");
	json_time((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	printf(",\"monotonic_ns\":%llu,\"total_size\":%llu,\"version_major\":%u,\"version_minor\":%u,"
	       "\"header_len\":%u,\"mode\":\"%s\",\"capacity\":%llu,\"slot_size\":%u,\"event_size\":%u,"
	       "\"event_align\":%u,\"type_name\":",
	       (unsigned long long)mono, (unsigned long long)rw_segment_total_size(seg), major, minor,
	       LD32(&h->header_len), rw_segment_mode(seg) == RW_MODE_SINGLE ? "single" : "multi",
	       (unsigned long long)rw_segment_capacity(seg), rw_segment_slot_size(seg),
	       rw_segment_event_size(seg), LD32(&h->event_align));
	uint8_t type_name[RW_MAX_TYPE_NAME];
	for (uint32_t i = 0; i < type_len; i++)
		type_name[i] = ((const volatile uint8_t *)h->type_name)[i];
	json_go_str(type_name, type_len);
	printf(",\"type_fingerprint\":%llu,\"incarnation\":%llu,\"creator_pid\":%u,"
	       "\"creator_start_time\":%llu,\"creator\":\"%s\",\"created_at\":",
	       (unsigned long long)LD64(&h->type_fingerprint),
	       (unsigned long long)rw_segment_incarnation(seg), creator_pid,
	       (unsigned long long)creator_start, creator);
	json_time((int64_t)LD64(&h->created_unix_ns));
	printf(",\"stream\":\"%s\",\"producer_heartbeat_ns\":%llu,\"producer_heartbeat_age_ns\":%lld",
	       stream == RW_STREAM_OPEN ? "open" : stream == RW_STREAM_CLOSED ? "closed" : "unknown",
	       (unsigned long long)producer_hb, heartbeat_age(mono, producer_hb));

	/* The producer registry. */
	int producer_alive = strcmp(creator, "alive") == 0;
	int first = 1;
	for (uint32_t i = 0; i < np; i++) {
		rw_producer_entry *p = rw_segment_producer_entry(seg, i);
		uint32_t st = rw_producer_state_word(p);
		uint64_t o = rw_producer_owner(p);
		const char *owner = owner_liveness(o);
		/* Any state: a producer between attach steps 2 and 3 holds an entry not yet active. */
		producer_alive |= strcmp(owner, "alive") == 0;
		if (rw_state_value(st) == RW_PRODUCER_FREE)
			continue;
		uint64_t hb = LD64(&p->heartbeat_ns);
		uint64_t end = LD64(&p->intent_end), start = LD64(&p->intent_start);
		int changing = LD64(&p->intent_end) != end;
		if (changing)
			start = end = 0;
		fprintf(pj,
			"%s{\"index\":%u,\"state\":\"%s\",\"generation\":%u,\"owner_pid\":%u,\"owner\":\"%s\","
			"\"heartbeat_ns\":%llu,\"heartbeat_age_ns\":%lld,\"intent_start\":%llu,"
			"\"intent_end\":%llu,\"intent_changing\":%s}",
			first ? "" : ",", i, snap_producer_state(rw_state_value(st)), rw_state_generation(st),
			rw_owner_pid(o), owner, (unsigned long long)hb, heartbeat_age(mono, hb),
			(unsigned long long)start, (unsigned long long)end, changing ? "true" : "false");
		first = 0;
	}
	fclose(pj);

	uint32_t n = 0;
	for (uint32_t i = 0; i < nr; i++) {
		rw_entry *en = rw_segment_entry(seg, i);
		uint32_t st = rw_entry_state_word(en);
		if (rw_state_value(st) == RW_ENTRY_FREE)
			continue;
		snap_consumer *s = &cs[n++];
		s->index = i;
		s->state = st;
		s->owner = rw_entry_owner(en);
		s->name_len = LD32(&en->name_len);
		if (s->name_len > RW_MAX_CONSUMER_NAME)
			s->name_len = 0; /* corrupt: shown with an empty name, as Go does */
		for (uint32_t k = 0; k < s->name_len; k++)
			s->name[k] = ((const volatile uint8_t *)en->name)[k];
		s->flags = rw_entry_flags(en);
		s->cursor = rw_entry_cursor(en);
		s->heartbeat = LD64(&en->heartbeat_ns);
		s->depends_on = LD64(&en->depends_on);
		s->lost = LD64(&en->lost);
		s->gaps_seen = LD64(&en->gaps_seen);
	}

	/* The counters after the cursors: a cursor never passes the count, which only grows. */
	uint64_t claimed_word = LD64(&rw_segment_cursors(seg)->claimed);
	uint64_t claimed = claimed_word & RW_COUNT_MASK;
	uint64_t published = rw_segment_mode(seg) == RW_MODE_MULTI ? claimed : rw_segment_published(seg);
	printf(",\"published\":%llu,\"claimed\":%llu,\"claims_closed\":%s,\"gaps\":%llu,"
	       "\"consumer_blockers\":%u,\"producer_blockers\":%u,\"producer_alive\":%s,"
	       "\"producer_capacity\":%u,\"producers\":[",
	       (unsigned long long)published, (unsigned long long)claimed,
	       claimed_word & RW_CLAIMED_CLOSED ? "true" : "false", (unsigned long long)LD64(&h->gaps),
	       LD32(&h->consumer_blockers), LD32(&h->producer_blockers),
	       producer_alive ? "true" : "false", np);
	fwrite(pbuf, 1, plen, stdout);
	free(pbuf);
	printf("],\"registry_capacity\":%u,\"consumers\":[", nr);
	for (uint32_t k = 0; k < n; k++) {
		const snap_consumer *s = &cs[k];
		uint32_t v = rw_state_value(s->state);
		long long lag = v == RW_ENTRY_ACTIVE && s->cursor <= published ? (long long)(published - s->cursor) : -1;
		printf("%s{\"index\":%u,\"name\":", k ? "," : "", s->index);
		json_go_str(s->name, s->name_len);
		printf(",\"state\":\"%s\",\"generation\":%u,\"required\":%s,\"starting\":%s,\"owner_pid\":%u,"
		       "\"owner\":\"%s\",\"cursor\":%llu,\"lag\":%lld,\"heartbeat_ns\":%llu,"
		       "\"heartbeat_age_ns\":%lld,\"depends_on\":[",
		       snap_entry_state(v), rw_state_generation(s->state),
		       s->flags & RW_FLAG_REQUIRED ? "true" : "false",
		       s->flags & RW_FLAG_STARTING ? "true" : "false", rw_owner_pid(s->owner),
		       owner_liveness(s->owner), (unsigned long long)s->cursor, lag,
		       (unsigned long long)s->heartbeat, heartbeat_age(mono, s->heartbeat));
		for (int b = 0, any = 0; b < 64; b++)
			if (s->depends_on >> b & 1) {
				printf("%s%d", any ? "," : "", b);
				any = 1;
			}
		printf("],\"lost\":%llu,\"gaps_seen\":%llu}", (unsigned long long)s->lost,
		       (unsigned long long)s->gaps_seen);
	}
	free(cs);
	printf("],\"poison\":");
	rw_poison rec;
	if (rw_segment_poisoned(seg, &rec)) {
		/* The message from the record's bytes (clamped to the field), not rec.message: a NUL
		 * inside it would cut the C string short, and Go shows every byte. */
		uint32_t mlen = LD32(&h->poison_message_len);
		if (mlen > RW_MAX_POISON_MESSAGE)
			mlen = RW_MAX_POISON_MESSAGE;
		uint8_t msg[RW_MAX_POISON_MESSAGE];
		for (uint32_t i = 0; i < mlen; i++)
			msg[i] = ((const volatile uint8_t *)h->poison_message)[i];
		printf("{\"phase\":\"%s\",\"seq\":%llu,\"pid\":%u,\"stage\":%u,\"message\":",
		       rec.phase == RW_PHASE_PUBLISH ? "publish" : rec.phase == RW_PHASE_HANDLER ? "handler" : "unknown",
		       (unsigned long long)rec.seq, rec.pid, rec.stage);
		json_go_str(msg, mlen);
		printf("}");
	} else {
		printf("null");
	}
	/* Go's Snapshot.Frames: present for any payload_kind but fixed events, with the header's
	 * frame geometry and, if check 14 (or 13: an unknown kind) fails, "invalid" with the reason.
	 * The reason is this library's text, not Go's: the snapshot test compares its presence only. */
	uint32_t kind = LD32(&h->payload_kind);
	if (kind != RW_PAYLOAD_FIXED) {
		printf(",\"frames\":{\"frame_header_len\":%u,\"max_message\":%u",
		       LD32(&h->frame_header_len), LD32(&h->max_message));
		rw_error ferr;
		if (rw_segment_check_framed(seg, NULL, &ferr) != RW_OK) {
			const char *why = ferr.message[0] ? ferr.message : rw_code_name(ferr.code);
			printf(",\"invalid\":");
			json_go_str((const uint8_t *)why, strlen(why));
		}
		printf("}");
	}
	printf("}\n");
	fflush(stdout);
	rw_segment_close(seg);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage("usage: conformer produce|consume|validate|golden|name|snapshot ...%s", NULL);
	const char *cmd = argv[1];
	int rest = argc - 2;
	char **args = argv + 2;
	if (strcmp(cmd, "produce") == 0)
		return cmd_produce(rest, args);
	if (strcmp(cmd, "consume") == 0)
		return cmd_consume(rest, args);
	if (strcmp(cmd, "validate") == 0)
		return cmd_validate(rest, args);
	if (strcmp(cmd, "golden") == 0)
		return cmd_golden(rest, args);
	if (strcmp(cmd, "name") == 0)
		return cmd_name(rest, args);
	if (strcmp(cmd, "snapshot") == 0)
		return cmd_snapshot(rest, args);
	return usage("unknown subcommand %s", cmd);
}
