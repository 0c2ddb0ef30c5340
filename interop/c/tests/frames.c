/* tests/frames.c - framed rings (spec section 11, format 2.1): creation, checks 13 and 14, the
 * framed producer (11.2), required (11.3) and optional (11.4) consumers, corrupt frames, gapped
 * frames, the frame-header checker under random input, and the conformer's framed roles. */
#include "harness.h"

#define CFRAME "/rw-cframe-"

/* A framed config: capacity slots of slot bytes (alignment 16), messages named "bytes". */
static rw_config fconfig(uint64_t cap, uint32_t mode, uint32_t slot, uint32_t max_message)
{
	rw_config c = config(cap, mode, 2);
	c.payload_kind = RW_PAYLOAD_FRAMED;
	c.type = rw_framed_type(NULL, slot, 16);
	c.max_message = max_message;
	return c;
}

/* Message k's bytes: (k * 13 + i) mod 256, a length of its own. */
static void msg_make(uint8_t *b, uint64_t k, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(k * 13 + i);
}

static int msg_is(const rw_message *m, uint64_t k, uint32_t len)
{
	if (m->len != len)
		return 0;
	const uint8_t *b = m->data;
	for (uint32_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(k * 13 + i))
			return 0;
	return 1;
}

static rw_code pub(rw_producer *p, uint64_t k, uint32_t len)
{
	uint8_t buf[8192];
	msg_make(buf, k, len);
	return rw_producer_publish_message(p, buf, len, 0, NULL);
}

static rw_frame_header frame_at(const rw_segment *seg, uint64_t seq)
{
	return rw_frame_load(rw_slot(seg, seq));
}

static int is_frame(const rw_segment *seg, uint64_t seq, int pad, uint32_t len, uint32_t slots)
{
	rw_frame_header f = frame_at(seg, seq);
	return f.seq_flags == (seq | (pad ? RW_FRAME_PAD : 0)) && f.length == len && f.slots == slots;
}

/* A framed heap segment with its creator's producer and a required consumer c1 (start oldest). */
struct ring {
	uint8_t *mem;
	rw_segment *seg;
	rw_producer *p;
	rw_consumer *c;
};

static void ring_open(struct ring *r, const rw_config *cfg, uint32_t consumer_flags)
{
	r->mem = heap_segment(cfg, &r->seg);
	rw_error err;
	CHECK_RC(rw_producer_register(r->seg, &r->p, &err), RW_OK, err);
	rw_producer_poll_only(r->p);
	r->c = NULL;
	if (consumer_flags != UINT32_MAX) {
		CHECK_RC(rw_consumer_register(r->seg, "c1", consumer_flags, 0, RW_START_OLDEST,
					      &r->c, &err),
			 RW_OK, err);
		rw_consumer_poll_only(r->c);
	}
}

static void ring_close(struct ring *r)
{
	rw_consumer_close(r->c);
	rw_producer_close(r->p, 0, NULL);
	rw_segment_close(r->seg);
	free(r->mem);
}

/* ---- creation and validation (11.1, 5.2 checks 13 and 14) --------------------------------------- */

void test_frames_layout(void)
{
	CHECK(rw_framed_fingerprint(NULL) == 0x242bd99b5cd3d746ull &&
		      rw_framed_fingerprint("bytes") == 0x242bd99b5cd3d746ull &&
		      rw_framed_fingerprint("ringwire.conformance.frames.v1") ==
			      0x4712148a32a3a16eull,
	      "the fingerprints of spec 11.1");
	rw_geometry g;
	rw_error err;
	rw_config cfg = fconfig(16, RW_MODE_SINGLE, 64, 0);
	CHECK_RC(rw_layout(&cfg, &g, &err), RW_OK, err);
	CHECK(g.version_minor == 1 && g.payload_kind == RW_PAYLOAD_FRAMED &&
		      g.frames.header_len == 16 && g.frames.max_message == 2 * 64 - 16 &&
		      g.slot_size == 64 && g.event_size == 64 && g.slot_align == 16,
	      "framed geometry: minor %u max %u", g.version_minor, g.frames.max_message);
	rw_segment *seg;
	uint8_t *mem = heap_segment(&cfg, &seg);
	rw_header *h = (rw_header *)(void *)mem;
	CHECK(h->version_minor == 1 && h->payload_kind == 1 && h->frame_header_len == 16 &&
		      h->max_message == 112 && h->type_fingerprint == 0x242bd99b5cd3d746ull &&
		      h->type_name_len == 5 && memcmp(h->type_name, "bytes", 5) == 0 &&
		      h->reserved3 == 0,
	      "framed header fields");
	CHECK(rw_segment_payload_kind(seg) == RW_PAYLOAD_FRAMED &&
		      rw_segment_frame_header_len(seg) == 16 && rw_segment_max_message(seg) == 112,
	      "framed accessors");
	rw_segment_close(seg);
	free(mem);
	/* a ring of fixed events keeps 2.0's bytes: minor 0, the 2.1 fields zero */
	cfg = config(8, RW_MODE_SINGLE, 2);
	mem = heap_segment(&cfg, &seg);
	h = (rw_header *)(void *)mem;
	CHECK(h->version_minor == 0 && h->payload_kind == 0 && h->frame_header_len == 0 &&
		      h->max_message == 0 && rw_segment_max_message(seg) == 0,
	      "fixed ring: minor %u kind %u", h->version_minor, h->payload_kind);
	rw_segment_close(seg);
	free(mem);
	/* a config of the first size (before payload_kind) is a fixed ring */
	cfg = config(8, RW_MODE_SINGLE, 2);
	cfg.payload_kind = RW_PAYLOAD_FRAMED;
	cfg.size = (uint32_t)offsetof(rw_config, payload_kind);
	CHECK_RC(rw_layout(&cfg, &g, &err), RW_OK, err);
	CHECK(g.payload_kind == RW_PAYLOAD_FIXED, "an older config's size hides payload_kind");
	/* 11.1 at creation */
	struct {
		const char *name;
		rw_config cfg;
	} bad[8];
	int n = 0;
	bad[n].name = "align 8", bad[n].cfg = fconfig(16, 1, 64, 0), bad[n].cfg.type.event_align = 8,
	bad[n].cfg.type.fingerprint = 0, n++;
	bad[n].name = "slot 16", bad[n].cfg = fconfig(16, 1, 16, 0), n++;
	bad[n].name = "slot 72", bad[n].cfg = fconfig(16, 1, 72, 0), n++;
	bad[n].name = "capacity 4", bad[n].cfg = fconfig(4, 1, 64, 0), n++;
	bad[n].name = "max 113", bad[n].cfg = fconfig(16, 1, 64, 113), n++;
	bad[n].name = "fingerprint", bad[n].cfg = fconfig(16, 1, 64, 0), bad[n].cfg.type.fingerprint ^= 1,
	n++;
	for (int i = 0; i < n; i++)
		CHECK(rw_layout(&bad[i].cfg, &g, &err) == RW_ERR_FRAME_GEOMETRY, "%s: %s", bad[i].name,
		      err.message);
	cfg = fconfig(16, 1, 64, 0);
	cfg.payload_kind = 2;
	CHECK(rw_layout(&cfg, &g, &err) == RW_ERR_INVALID_ARG, "payload kind 2 refused");
	cfg = fconfig(16, 1, 64, 112);
	cfg.type.fingerprint = 0; /* computed */
	cfg.type.name = "orders.v1";
	CHECK_RC(rw_layout(&cfg, &g, &err), RW_OK, err);
	CHECK(g.type_fingerprint == rw_framed_fingerprint("orders.v1"), "fingerprint computed");
}

void test_frames_kinds(void)
{
	rw_error err;
	rw_config fc = fconfig(16, RW_MODE_SINGLE, 64, 0);
	rw_config xc = config(16, RW_MODE_SINGLE, 2);
	rw_geometry g;
	uint8_t *fimg = heap_image(&fc, &g);
	uint8_t *ximg = heap_image(&xc, &g);
	rw_segment *seg;
	/* check 13, attach: a fixed reader refuses a framed ring, a framed reader a fixed one */
	CHECK_RC(rw_segment_attach_memory(fimg, 8192, &ev_type, &seg, &err), RW_ERR_PAYLOAD_KIND,
		 err);
	CHECK(strstr(err.message, "framed messages") && seg == NULL, "names both: %s", err.message);
	CHECK_RC(rw_segment_attach_framed_memory(ximg, 8192, NULL, &seg, &err),
		 RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_segment_attach_framed_memory(fimg, 8192, "other", &seg, &err),
		 RW_ERR_EVENT_TYPE, err);
	CHECK_RC(rw_segment_attach_framed_memory(fimg, 8192, "bytes", &seg, &err), RW_OK, err);
	rw_segment_close(seg);
	/* check 13, calls: a tool attached with expect NULL; the wrong kind's calls refuse */
	struct ring r;
	ring_open(&r, &fc, RW_FLAG_REQUIRED);
	uint64_t first;
	uint8_t ev[64] = {0};
	uint32_t got;
	CHECK_RC(rw_producer_claim(r.p, 1, 0, &first, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_producer_publish(r.p, ev, 1, 0, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_consumer_consume(r.c, ev, 1, &got, 0, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK(rw_segment_claimed_count(r.seg) == 0, "nothing claimed");
	ring_close(&r);
	ring_open(&r, &xc, RW_FLAG_REQUIRED);
	rw_message m;
	uint8_t buf[128];
	void *payload;
	CHECK_RC(rw_producer_publish_message(r.p, "x", 1, 0, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_producer_claim_message(r.p, 1, 0, &payload, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_PAYLOAD_KIND, err);
	CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err), RW_ERR_PAYLOAD_KIND,
		 err);
	CHECK_RC(rw_segment_check_framed(r.seg, NULL, &err), RW_ERR_PAYLOAD_KIND, err);
	ring_close(&r);
	free(fimg);
	free(ximg);
}

typedef void (*hmut)(rw_header *h);
#define HMUT(fn, body)                                                                             \
	static void fn(rw_header *h) { body; }
HMUT(g_minor0, h->version_minor = 0)
HMUT(g_align8, { h->slot_align = 8; h->event_align = 8; })
HMUT(g_event_size, h->event_size = 60)
HMUT(g_hlen8, h->frame_header_len = 8)
HMUT(g_hlen24, h->frame_header_len = 24)
HMUT(g_hlen_slot, h->frame_header_len = 64)
HMUT(g_cap4, { h->capacity = 4; h->slots.length = 4 * 64; h->availability.length = 4 * 8; })
HMUT(g_max0, h->max_message = 0)
HMUT(g_max113, h->max_message = 113)
HMUT(g_fingerprint, h->type_fingerprint ^= 1)
HMUT(g_name, h->type_name[0] = 'B')
HMUT(g_hlen32, { h->frame_header_len = 32; h->max_message = 96; }) /* valid: H 32 */

void test_frames_geometry(void)
{
	static const struct {
		const char *name;
		hmut mutate;
		rw_code want;
	} cases[] = {
		{"version_minor 0", g_minor0, RW_ERR_FRAME_GEOMETRY},
		{"slot_align 8", g_align8, RW_ERR_FRAME_GEOMETRY},
		{"event_size != slot_size", g_event_size, RW_ERR_FRAME_GEOMETRY},
		{"frame_header_len 8", g_hlen8, RW_ERR_FRAME_GEOMETRY},
		{"frame_header_len 24", g_hlen24, RW_ERR_FRAME_GEOMETRY},
		{"frame_header_len = slot_size", g_hlen_slot, RW_ERR_FRAME_GEOMETRY},
		{"capacity 4", g_cap4, RW_ERR_FRAME_GEOMETRY},
		{"max_message 0", g_max0, RW_ERR_FRAME_GEOMETRY},
		{"max_message over an eighth", g_max113, RW_ERR_FRAME_GEOMETRY},
		{"fingerprint", g_fingerprint, RW_ERR_FRAME_GEOMETRY},
		{"type_name", g_name, RW_ERR_FRAME_GEOMETRY},
		{"frame_header_len 32", g_hlen32, RW_OK},
	};
	rw_config cfg = fconfig(16, RW_MODE_MULTI, 64, 0); /* multi: a second producer registers */
	rw_geometry g;
	uint8_t *img = heap_image(&cfg, &g);
	rw_error err;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *copy;
		CHECK(posix_memalign((void **)&copy, 4096, g.total_size) == 0, "alloc");
		memcpy(copy, img, g.total_size);
		cases[i].mutate((rw_header *)(void *)copy);
		/* checks 1-12 pass; a framed reader fails check 14 */
		CHECK_RC(rw_validate(copy, g.total_size, NULL, NULL, &err), RW_OK, err);
		rw_code rc = rw_validate_framed(copy, g.total_size, NULL, NULL, &err);
		CHECK(rc == cases[i].want, "%s: got %s (%s)", cases[i].name, rw_code_name(rc),
		      err.message);
		rw_segment *seg = NULL;
		CHECK(rw_segment_attach_framed_memory(copy, g.total_size, NULL, &seg, &err) ==
			      cases[i].want,
		      "%s: attach", cases[i].name);
		rw_segment_close(seg);
		/* a tool's attach skips 13 and 14; the framed calls still refuse the geometry */
		CHECK_RC(rw_segment_attach_memory(copy, g.total_size, NULL, &seg, &err), RW_OK, err);
		rw_producer *p;
		CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
		CHECK(rw_producer_publish_message(p, "abc", 3, 0, &err) == cases[i].want,
		      "%s: publish on an unchecked attach: %s", cases[i].name, err.message);
		rw_producer_close(p, 0, NULL);
		rw_segment_close(seg);
		free(copy);
	}
	free(img);
}

/* ---- the producer (11.2) and the required consumer (11.3) --------------------------------------- */

void test_frames_wrap(void)
{
	rw_config cfg = fconfig(16, RW_MODE_SINGLE, 64, 112);
	struct ring r;
	ring_open(&r, &cfg, RW_FLAG_REQUIRED);
	rw_error err;
	static const uint32_t lens[12] = {100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40};
	static const uint64_t at[12] = {0, 2, 3, 5, 7, 8, 9, 11, 12, 14, 16, 18};
	for (int k = 0; k < 10; k++)
		CHECK(pub(r.p, (uint64_t)k, lens[k]) == RW_OK, "publish %d", k);
	/* the ring is full up to the consumer: message 10 needs the PAD at 15 and slots 0-1 */
	for (int k = 0; k < 10; k++) {
		rw_message m;
		CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
		CHECK(m.seq == at[k] && msg_is(&m, (uint64_t)k, lens[k]) &&
			      (uintptr_t)m.data % 16 == 0,
		      "message %d at %llu", k, (unsigned long long)m.seq);
		/* in place: the payload is in the slot, valid until the next read */
		CHECK((const uint8_t *)m.data == rw_slot(r.seg, m.seq) + 16, "zero-copy");
	}
	CHECK(atomic_load(&r.c->entry->cursor) == 14 && rw_consumer_next(r.c) == 15,
	      "the last message is held until released: cursor %llu",
	      (unsigned long long)atomic_load(&r.c->entry->cursor));
	rw_consumer_release(r.c, rw_consumer_next(r.c));
	CHECK(pub(r.p, 10, lens[10]) == RW_OK && pub(r.p, 11, lens[11]) == RW_OK, "publish 10, 11");
	CHECK(is_frame(r.seg, 15, 1, 0, 1) && is_frame(r.seg, 16, 0, 100, 2) &&
		      is_frame(r.seg, 18, 0, 40, 1) && rw_segment_published(r.seg) == 19,
	      "a PAD at 15 before message 10 (slots 0-1)");
	rw_message m[4];
	uint32_t got;
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && m[0].seq == 16 && msg_is(&m[0], 10, 100) && m[1].seq == 18 &&
		      msg_is(&m[1], 11, 40),
	      "the PAD is passed over silently: got %u", got);
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 0, &err), RW_ERR_TIMEOUT, err);
	CHECK(atomic_load(&r.c->entry->cursor) == 19, "the read that waited released the last two");
	/* a message of 0 bytes is a message */
	CHECK(pub(r.p, 12, 0) == RW_OK, "empty message");
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 1 && m[0].len == 0 && m[0].seq == 19 && m[0].slots == 1, "empty message read");
	/* the producer closes: the stream ends at the count */
	rw_producer_close(r.p, 0, NULL);
	r.p = NULL;
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 0, &err), RW_ERR_ENDED, err);
	ring_close(&r);
}

void test_frames_batch(void)
{
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		rw_config cfg = fconfig(16, mode, 64, 112);
		struct ring r;
		ring_open(&r, &cfg, RW_FLAG_REQUIRED);
		rw_error err;
		/* move to sequence 13, then a batch whose third message crosses the end */
		for (int k = 0; k < 13; k++)
			CHECK(pub(r.p, (uint64_t)k, 20) == RW_OK, "publish %d", k);
		rw_message m[16];
		uint32_t got;
		CHECK_RC(rw_consumer_read_messages(r.c, m, 16, &got, 0, &err), RW_OK, err);
		CHECK(got == 13, "13 read");
		rw_consumer_release(r.c, rw_consumer_next(r.c));
		uint8_t a[100], b[10], c[100], d[30];
		msg_make(a, 100, 30), msg_make(b, 101, 10), msg_make(c, 102, 100), msg_make(d, 103, 30);
		const void *msgs[4] = {a, b, c, d};
		uint32_t lens[4] = {30, 10, 100, 30};
		CHECK_RC(rw_producer_publish_messages(r.p, msgs, lens, 4, 0, &err), RW_OK, err);
		/* 13: a, 14: b, 15: PAD (c needs 2 slots), 16-17: c, 18: d */
		CHECK(is_frame(r.seg, 13, 0, 30, 1) && is_frame(r.seg, 14, 0, 10, 1) &&
			      is_frame(r.seg, 15, 1, 0, 1) && is_frame(r.seg, 16, 0, 100, 2) &&
			      is_frame(r.seg, 18, 0, 30, 1) && rw_segment_claimed_count(r.seg) == 19,
		      "mode %u: one claim, a PAD in the middle", mode);
		CHECK_RC(rw_consumer_read_messages(r.c, m, 16, &got, 0, &err), RW_OK, err);
		CHECK(got == 4 && msg_is(&m[0], 100, 30) && msg_is(&m[1], 101, 10) &&
			      msg_is(&m[2], 102, 100) && m[2].seq == 16 && msg_is(&m[3], 103, 30),
		      "mode %u: the batch read back (%u)", mode, got);
		if (mode == RW_MODE_MULTI)
			CHECK(atomic_load(&r.p->entry->intent_start) == 13 &&
				      atomic_load(&r.p->entry->intent_end) == 0,
			      "the intent covered the whole claim and was withdrawn");
		/* a batch that could exceed the ring is refused before claiming */
		const void *many[8];
		uint32_t big[8];
		for (int i = 0; i < 8; i++)
			many[i] = c, big[i] = 100; /* 8 x 2 slots + a PAD of up to 1 > 16 */
		CHECK_RC(rw_producer_publish_messages(r.p, many, big, 8, 0, &err), RW_ERR_INVALID_ARG,
			 err);
		CHECK(rw_segment_claimed_count(r.seg) == 19, "nothing claimed");
		ring_close(&r);
	}
}

/* claim_cas hook: another producer claims one message first, so the CAS fails once */
static rw_producer *cas_rival;
static int cas_rivals;
static void rival_claims(rw_producer *p, uint64_t c)
{
	(void)c;
	if (p == cas_rival || cas_rivals == 0)
		return;
	cas_rivals--;
	CHECK(pub(cas_rival, 900, 10) == RW_OK, "rival publishes");
}

void test_frames_multi_relayout(void)
{
	rw_config cfg = fconfig(16, RW_MODE_MULTI, 64, 112);
	struct ring r;
	ring_open(&r, &cfg, RW_FLAG_REQUIRED);
	rw_error err;
	rw_segment *s2;
	CHECK_RC(rw_segment_attach_framed_memory(r.mem, 8192, NULL, &s2, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(s2, &cas_rival, &err), RW_OK, err);
	for (int k = 0; k < 14; k++)
		CHECK(pub(r.p, (uint64_t)k, 20) == RW_OK, "publish %d", k);
	rw_message m[16];
	uint32_t got;
	CHECK_RC(rw_consumer_read_messages(r.c, m, 16, &got, 0, &err), RW_OK, err);
	rw_consumer_release(r.c, rw_consumer_next(r.c));
	/* at 14 a 100-byte message fits (14-15); the rival takes 14 first: from 15 it would cross
	 * the end, so the layout is computed again: a PAD at 15, the message at 16-17 */
	cas_rivals = 1;
	rw_test.claim_cas = rival_claims;
	CHECK(pub(r.p, 50, 100) == RW_OK, "publish after a failed CAS");
	rw_test.claim_cas = NULL;
	CHECK(is_frame(r.seg, 14, 0, 10, 1) && is_frame(r.seg, 15, 1, 0, 1) &&
		      is_frame(r.seg, 16, 0, 100, 2) && rw_segment_claimed_count(r.seg) == 18 &&
		      atomic_load(&r.p->entry->intent_start) == 15,
	      "the frames laid out again from the new first sequence");
	CHECK_RC(rw_consumer_read_messages(r.c, m, 16, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && msg_is(&m[0], 900, 10) && msg_is(&m[1], 50, 100) && m[1].seq == 16,
	      "both read (%u)", got);
	rw_producer_close(cas_rival, 0, NULL);
	rw_segment_close(s2);
	ring_close(&r);
}

void test_frames_claim(void)
{
	rw_config cfg = fconfig(16, RW_MODE_SINGLE, 64, 112);
	struct ring r;
	ring_open(&r, &cfg, RW_FLAG_REQUIRED);
	rw_error err;
	void *payload;
	/* claim for 112 bytes (2 slots), use 20: the message in slot 0, a PAD over slot 1 */
	CHECK_RC(rw_producer_claim_message(r.p, 112, 0, &payload, &err), RW_OK, err);
	CHECK((uint8_t *)payload == rw_slot(r.seg, 0) + 16 && (uintptr_t)payload % 16 == 0,
	      "payload in place, 16-aligned");
	CHECK(is_frame(r.seg, 0, 0, 112, 2), "header written at the claim for 112 bytes");
	uint8_t buf[128];
	CHECK_RC(rw_producer_publish_message(r.p, buf, 1, 0, &err), RW_ERR_INVALID_ARG, err);
	msg_make(payload, 7, 20);
	CHECK_RC(rw_producer_publish_message_claim(r.p, 113, &err), RW_ERR_INVALID_ARG, err);
	CHECK(rw_segment_published(r.seg) == 0, "not published yet");
	CHECK_RC(rw_producer_publish_message_claim(r.p, 20, &err), RW_OK, err);
	CHECK(is_frame(r.seg, 0, 0, 20, 1) && is_frame(r.seg, 1, 1, 0, 1) &&
		      rw_segment_published(r.seg) == 2,
	      "shrunk: message + PAD, every sequence published");
	rw_message m;
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	CHECK(msg_is(&m, 7, 20) && m.seq == 0 && rw_consumer_next(r.c) == 1, "read the message");
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_consumer_next(r.c) == 2, "the PAD passed over");
	/* abandon: the claim becomes PADs, published */
	CHECK_RC(rw_producer_claim_message(r.p, 100, 0, &payload, &err), RW_OK, err);
	rw_producer_abandon_message_claim(r.p);
	CHECK(is_frame(r.seg, 2, 1, 0, 2) && rw_segment_published(r.seg) == 4 &&
		      atomic_load(&r.seg->hdr->poison_state) == 0,
	      "abandoned: one PAD of 2 slots, nothing poisoned");
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_consumer_next(r.c) == 4, "nothing delivered");
	/* a claim across the end: a PAD first, the message at slot 0 */
	for (int k = 0; k < 11; k++)
		CHECK(pub(r.p, (uint64_t)k, 1) == RW_OK, "publish");
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	rw_message ms[16];
	uint32_t got;
	CHECK_RC(rw_consumer_read_messages(r.c, ms, 16, &got, 0, &err), RW_OK, err);
	rw_consumer_release(r.c, rw_consumer_next(r.c));
	CHECK(rw_consumer_next(r.c) == 15, "at 15");
	CHECK_RC(rw_producer_claim_message(r.p, 60, 0, &payload, &err), RW_OK, err);
	CHECK((uint8_t *)payload == rw_slot(r.seg, 16) + 16 && is_frame(r.seg, 15, 1, 0, 1),
	      "PAD at 15, the claim at 16");
	msg_make(payload, 60, 60);
	CHECK_RC(rw_producer_publish_message_claim(r.p, 60, &err), RW_OK, err);
	CHECK(is_frame(r.seg, 16, 0, 60, 2) && rw_segment_published(r.seg) == 18, "used in full");
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	CHECK(m.seq == 16 && msg_is(&m, 60, 60), "read across the end");
	/* closing with a claim open publishes it as PADs */
	CHECK_RC(rw_producer_claim_message(r.p, 10, 0, &payload, &err), RW_OK, err);
	rw_producer_close(r.p, 0, NULL);
	r.p = NULL;
	CHECK(rw_segment_published(r.seg) == 19 && is_frame(r.seg, 18, 1, 0, 1),
	      "close abandons an open claim");
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_ENDED, err);
	ring_close(&r);
}

void test_frames_too_large(void)
{
	for (uint32_t mode = RW_MODE_SINGLE; mode <= RW_MODE_MULTI; mode++) {
		rw_config cfg = fconfig(16, mode, 64, 100);
		struct ring r;
		ring_open(&r, &cfg, RW_FLAG_REQUIRED);
		rw_error err;
		uint8_t buf[256] = {0};
		void *payload;
		CHECK_RC(rw_producer_publish_message(r.p, buf, 101, 0, &err), RW_ERR_TOO_LARGE, err);
		CHECK_RC(rw_producer_claim_message(r.p, 101, 0, &payload, &err), RW_ERR_TOO_LARGE,
			 err);
		const void *msgs[2] = {buf, buf};
		uint32_t lens[2] = {10, 200};
		CHECK_RC(rw_producer_publish_messages(r.p, msgs, lens, 2, 0, &err), RW_ERR_TOO_LARGE,
			 err);
		CHECK(rw_segment_claimed_count(r.seg) == 0 &&
			      atomic_load(&r.p->entry->intent_end) == 0 &&
			      atomic_load(&r.p->entry->intent_start) == 0,
		      "mode %u: refused before any claim", mode);
		CHECK_RC(rw_producer_publish_message(r.p, buf, 100, 0, &err), RW_OK, err);
		ring_close(&r);
	}
}

/* ---- corrupt frames (11.1 rules, 11.3 steps 2 and 3) ------------------------------------------- */

void test_frames_corrupt(void)
{
	/* slots of one page each, so that every slot but the frame's can be made unreadable: the
	 * consumer must not read past a corrupt frame's header */
	rw_config cfg = fconfig(8, RW_MODE_SINGLE, 4096, 0);
	struct ring r;
	ring_open(&r, &cfg, RW_FLAG_REQUIRED);
	rw_error err;
	CHECK(rw_segment_max_message(r.seg) == 4080, "max %u", rw_segment_max_message(r.seg));
	CHECK(pub(r.p, 0, 10) == RW_OK, "message at 0");
	rw_message m;
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	static const struct {
		const char *name;
		rw_frame_header f;
		uint64_t published;
		const char *rule;
	} cases[] = {
		{"stale sequence (a lap later)", {9, 10, 1}, 2, "rule 1"},
		{"stale sequence (a lap earlier)", {1ull - 1, 10, 1}, 2, "rule 1"},
		{"bit 62", {1 | RW_FRAME_BIT62, 10, 1}, 2, "rule 1"},
		{"no header (zeros)", {0, 0, 0}, 2, "rule 1"},
		{"slots 0", {1, 10, 0}, 2, "rule 2"},
		{"leaves the array", {1, 10, 8}, 2, "rule 2"},
		{"PAD leaves the array", {1 | RW_FRAME_PAD, 0, 8}, 2, "rule 2"},
		{"length over max_message", {1, 4081, 2}, 3, "rule 3"},
		{"slots disagree with length", {1, 10, 2}, 3, "rule 3"},
		{"PAD with a length", {1 | RW_FRAME_PAD, 5, 1}, 2, "rule 3"},
		{"runs past published", {1 | RW_FRAME_PAD, 0, 3}, 2, "past what is published"},
	};
	uint8_t *slots = rw_slot(r.seg, 0);
	uint8_t buf[4096];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(rw_slot(r.seg, 1), &cases[i].f, sizeof cases[i].f);
		atomic_store(&r.seg->cursors->claimed, cases[i].published);
		atomic_store(&r.seg->cursors->published, cases[i].published);
		for (uint64_t s = 0; s < 8; s++)
			if (s != 1)
				CHECK(mprotect(slots + s * 4096, 4096, PROT_NONE) == 0, "mprotect");
		uint32_t got = 7;
		rw_code rc = rw_consumer_read_messages(r.c, &m, 1, &got, 0, &err);
		CHECK(rc == RW_ERR_CORRUPT_FRAME && got == 0 && strstr(err.message, cases[i].rule) &&
			      strstr(err.message, "sequence 1 "),
		      "%s: %s (%s)", cases[i].name, rw_code_name(rc), err.message);
		CHECK(rw_consumer_next(r.c) == 1 && atomic_load(&r.c->entry->cursor) == 1,
		      "%s: the cursor stays at the frame", cases[i].name);
		rc = rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err);
		CHECK(rc == RW_ERR_CORRUPT_FRAME && rw_consumer_next(r.c) == 1,
		      "%s: by copy too, and again", cases[i].name);
		CHECK(mprotect(slots, 8 * 4096, PROT_READ | PROT_WRITE) == 0, "unprotect");
	}
	/* repaired, reading goes on */
	rw_frame_header ok_frame = {1, 5, 1};
	memcpy(rw_slot(r.seg, 1), &ok_frame, sizeof ok_frame);
	memcpy(rw_slot(r.seg, 1) + 16, "hello", 5);
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	CHECK(m.seq == 1 && m.len == 5 && memcmp(m.data, "hello", 5) == 0, "repaired frame read");
	ring_close(&r);

	/* multi mode: a frame past the claimed count is corrupt; one past what is published but
	 * within the claim is waited for */
	rw_config mc = fconfig(16, RW_MODE_MULTI, 64, 112);
	ring_open(&r, &mc, RW_FLAG_REQUIRED);
	rw_consumer_set_stall_timeout(r.c, -1);
	rw_frame_header two = {0, 100, 2};
	memcpy(rw_slot(r.seg, 0), &two, sizeof two);
	msg_make(rw_slot(r.seg, 0) + 16, 3, 100);
	atomic_store(rw_availability_word(r.seg, 0), 1);
	atomic_store(&r.seg->cursors->claimed, 1);
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_CORRUPT_FRAME, err);
	CHECK(strstr(err.message, "claimed count") && rw_consumer_next(r.c) == 0, "past claimed");
	atomic_store(&r.seg->cursors->claimed, 2);
	CHECK_RC(rw_consumer_read_message(r.c, &m, 30, &err), RW_ERR_TIMEOUT, err);
	CHECK(rw_consumer_next(r.c) == 0, "an incomplete frame is waited for");
	atomic_store(rw_availability_word(r.seg, 1), 2);
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_OK, err);
	CHECK(m.seq == 0 && msg_is(&m, 3, 100), "complete now");
	ring_close(&r);
}

/* ---- frames of dead producers (11.3 steps 1 and 4) ---------------------------------------------- */

struct dead_arg {
	uint8_t *mem;
	size_t len;
	uint32_t claim;   /* bytes to claim in place */
	int publish_head; /* publish the frame's first sequence before dying */
};

static int child_dies_mid_frame(void *argp)
{
	struct dead_arg *a = argp;
	rw_segment *seg;
	rw_producer *q;
	void *payload;
	if (rw_segment_attach_framed_memory(a->mem, a->len, NULL, &seg, NULL) != RW_OK ||
	    rw_producer_register(seg, &q, NULL) != RW_OK)
		return 1;
	rw_producer_poll_only(q);
	if (rw_producer_claim_message(q, a->claim, 0, &payload, NULL) != RW_OK)
		return 2;
	msg_make(payload, 77, a->claim);
	if (a->publish_head) /* killed between its availability stores (5.4 step 5) */
		atomic_store(rw_availability_word(seg, q->msg_seq), q->msg_seq + 1);
	kill(getpid(), SIGKILL);
	return 3;
}

void test_frames_gapped(void)
{
	rw_config cfg = fconfig(16, RW_MODE_MULTI, 64, 112);
	cfg.producer_capacity = 2;
	uint64_t size;
	rw_error err;
	CHECK_RC(rw_segment_size(&cfg, &size, &err), RW_OK, err);
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ring r;
	CHECK_RC(rw_segment_create_memory(mem, size, &cfg, &r.seg, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(r.seg, &r.p, &err), RW_OK, err);
	CHECK_RC(rw_consumer_register(r.seg, "c1", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &r.c, &err),
		 RW_OK, err);
	rw_consumer_set_stall_timeout(r.c, 0);
	CHECK(pub(r.p, 0, 100) == RW_OK, "message 0 at 0-1");
	/* a producer publishes the first sequence of its frame (2-3) and dies: the frame is passed
	 * over whole, both slots counted in gaps_seen (step 4) */
	struct dead_arg a = {mem, size, 100, 1};
	CHECK(reap(spawn(child_dies_mid_frame, &a)) == 128 + SIGKILL, "killed mid-frame");
	CHECK(pub(r.p, 1, 20) == RW_OK, "message 1 at 4");
	rw_message m[4];
	uint32_t got;
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 1000, &err), RW_OK, err);
	CHECK(got == 1 && m[0].seq == 0 && msg_is(&m[0], 0, 100), "the message before the gap first");
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 1000, &err), RW_ERR_GAP, err);
	uint64_t gs, gc;
	rw_consumer_last_gap(r.c, &gs, &gc);
	CHECK(gs == 2 && gc == 2 && rw_consumer_gaps_seen(r.c) == 2 &&
		      atomic_load(&r.c->entry->gaps_seen) == 2 && atomic_load(&r.seg->hdr->gaps) == 1 &&
		      rw_consumer_next(r.c) == 4 && atomic_load(&r.c->entry->cursor) == 4,
	      "frame at 2 passed over whole: gap %llu+%llu, header gaps %llu",
	      (unsigned long long)gs, (unsigned long long)gc,
	      (unsigned long long)atomic_load(&r.seg->hdr->gaps));
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 1000, &err), RW_OK, err);
	CHECK(got == 1 && m[0].seq == 4 && msg_is(&m[0], 1, 20), "reading goes on");
	CHECK(rw_segment_retire_resolved(r.seg) == 1, "the dead producer's entry is retired");
	/* a producer that dies before publishing anything: its claim (5-6) is passed over one
	 * sequence at a time (step 1), reported as one run */
	a.claim = 112, a.publish_head = 0;
	CHECK(reap(spawn(child_dies_mid_frame, &a)) == 128 + SIGKILL, "killed before publishing");
	CHECK(pub(r.p, 2, 5) == RW_OK, "message 2 at 7");
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 2000, &err), RW_ERR_GAP, err);
	rw_consumer_last_gap(r.c, &gs, &gc);
	CHECK(gs == 5 && gc == 2 && rw_consumer_gaps_seen(r.c) == 4, "run of gaps %llu+%llu",
	      (unsigned long long)gs, (unsigned long long)gc);
	CHECK_RC(rw_consumer_read_messages(r.c, m, 4, &got, 1000, &err), RW_OK, err);
	CHECK(got == 1 && m[0].seq == 7 && msg_is(&m[0], 2, 5), "message 2 after the gaps");
	rw_consumer_close(r.c);
	rw_producer_close(r.p, 0, NULL);
	rw_segment_close(r.seg);
	munmap(mem, size);
}

/* ---- optional consumers (11.4) ------------------------------------------------------------------ */

static rw_producer *lap_producer;
static int lap_during_copy;
static void lap_now(rw_consumer *c)
{
	(void)c;
	if (!lap_during_copy)
		return;
	lap_during_copy = 0;
	for (int k = 0; k < 12; k++) /* 12 x 2 slots: the frame being copied is overwritten */
		CHECK(pub(lap_producer, 500 + (uint64_t)k, 100) == RW_OK, "lapping publish");
}

void test_frames_optional(void)
{
	rw_config cfg = fconfig(16, RW_MODE_SINGLE, 64, 112);
	struct ring r;
	ring_open(&r, &cfg, 0); /* c1 optional: it gates nothing */
	rw_error err;
	uint8_t buf[112];
	rw_message m;
	CHECK_RC(rw_consumer_read_message(r.c, &m, 0, &err), RW_ERR_INVALID_ARG, err);
	CHECK_RC(rw_consumer_copy_message(r.c, buf, 111, &m, 0, &err), RW_ERR_INVALID_ARG, err);
	/* 1, 2, 1, 2, ... slots, and the PADs where a 2-slot frame meets the end: lapped before
	 * the first read */
	for (int k = 0; k < 30; k++)
		CHECK(pub(r.p, (uint64_t)k, k % 2 ? 100 : 20) == RW_OK, "publish %d", k);
	uint64_t L0 = rw_segment_claimed_count(r.seg);
	CHECK(L0 == 46 && is_frame(r.seg, 31, 1, 0, 1), "45 slots of messages and a PAD at 31");
	CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err), RW_ERR_LOST, err);
	uint64_t ls, lc;
	rw_consumer_last_lost(r.c, &ls, &lc);
	CHECK(ls == 0 && lc == L0 && rw_consumer_lost(r.c) == L0 &&
		      atomic_load(&r.c->entry->lost) == L0 && rw_consumer_next(r.c) == L0,
	      "lost %llu+%llu, resumed at the claimed count", (unsigned long long)ls,
	      (unsigned long long)lc);
	CHECK(pub(r.p, 30, 100) == RW_OK, "one more");
	CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err), RW_OK, err);
	CHECK(m.seq == L0 && msg_is(&m, 30, 100) && m.data == buf, "a copy at the boundary");
	/* lapped during the copy: the copy is void, the loss counted from the frame */
	uint64_t at = rw_segment_claimed_count(r.seg);
	CHECK(pub(r.p, 31, 20) == RW_OK, "message 31");
	lap_producer = r.p;
	lap_during_copy = 1;
	rw_test.after_copy = lap_now;
	rw_code rc = rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err);
	rw_test.after_copy = NULL;
	rw_consumer_last_lost(r.c, &ls, &lc);
	uint64_t L = rw_segment_claimed_count(r.seg);
	CHECK(rc == RW_ERR_LOST && ls == at && lc == L - at && rw_consumer_next(r.c) == L &&
		      rw_consumer_lost(r.c) == L0 + L - at && L > at + 16,
	      "lapped mid-copy: %s, %llu+%llu, L %llu", rw_code_name(rc), (unsigned long long)ls,
	      (unsigned long long)lc, (unsigned long long)L);
	CHECK(pub(r.p, 40, 7) == RW_OK, "after the lap");
	CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err), RW_OK, err);
	CHECK(m.seq == L && msg_is(&m, 40, 7), "resynchronized at a frame boundary");
	ring_close(&r);
}

/* A framed ring in multi mode: laps the consumer at its first kernel wait (then counts the
 * kernel waits that follow). */
static rw_producer *frame_lapper;
static int frame_waits_after_lap;
static void frame_lap_at_kernel_wait(uint64_t timeout_ns)
{
	(void)timeout_ns;
	if (!frame_lapper) {
		frame_waits_after_lap++;
		return;
	}
	rw_producer *p = frame_lapper;
	frame_lapper = NULL;
	for (int k = 0; k < 20; k++) /* 20 x 2 slots: two and a half laps of 16 */
		CHECK(pub(p, (uint64_t)k, 100) == RW_OK, "lapping publish %d", k);
}

/* 11.4 and 5.10 in multi mode: a consumer lapped more than once finds a later round's
 * availability word at next (nothing looks published there); the claimed count L alone tells it
 * that it was lapped. It reports L - next sequences lost and goes on at L, whether it was lapped
 * before its call or while it waited (then the lap ends its wait: it must not block again). */
void test_frames_optional_lapped_multi(void)
{
	rw_config cfg = fconfig(16, RW_MODE_MULTI, 64, 112);
	rw_error err;
	uint8_t buf[112];
	rw_message m;
	for (int waiting = 0; waiting <= 1; waiting++) {
		struct ring r;
		ring_open(&r, &cfg, UINT32_MAX);
		/* the only consumer, optional, and one that may block in the kernel */
		CHECK_RC(rw_consumer_register(r.seg, "opt", 0, 0, RW_START_LATEST, &r.c, &err), RW_OK,
			 err);
		frame_waits_after_lap = 0;
		if (waiting) {
			frame_lapper = r.p;
			rw_test.before_kernel_wait = frame_lap_at_kernel_wait;
		} else {
			for (int k = 0; k < 20; k++)
				CHECK(pub(r.p, (uint64_t)k, 100) == RW_OK, "publish %d", k);
			CHECK(atomic_load(rw_availability_word(r.seg, 0)) == 33,
			      "sequence 0's availability word is sequence 32's");
		}
		rw_code rc = rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 3000, &err);
		rw_test.before_kernel_wait = NULL;
		CHECK_RC(rc, RW_ERR_LOST, err);
		uint64_t L = rw_segment_claimed_count(r.seg), ls = 99, lc = 99;
		rw_consumer_last_lost(r.c, &ls, &lc);
		CHECK(L == 40 && ls == 0 && lc == 40 && rw_consumer_lost(r.c) == 40 &&
			      atomic_load(&r.c->entry->lost) == 40 && rw_consumer_next(r.c) == 40,
		      "waiting %d: lapped: %llu lost from %llu, resumes at %llu (want 40 from 0, at "
		      "L = %llu)",
		      waiting, (unsigned long long)lc, (unsigned long long)ls,
		      (unsigned long long)rw_consumer_next(r.c), (unsigned long long)L);
		CHECK(!waiting || !KERNEL_BLOCKS || (frame_lapper == NULL && frame_waits_after_lap == 0),
		      "waiting: the lap ends the wait (%d kernel waits after it)",
		      frame_waits_after_lap);
		CHECK(pub(r.p, 20, 7) == RW_OK, "one more");
		CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 3000, &err), RW_OK, err);
		CHECK(m.seq == 40 && msg_is(&m, 20, 7), "waiting %d: the next message, at L", waiting);
		CHECK_RC(rw_consumer_copy_message(r.c, buf, sizeof buf, &m, 0, &err), RW_ERR_TIMEOUT,
			 err);
		ring_close(&r);
	}
}

/* ---- the frame-header checker under random input ------------------------------------------------ */

static uint64_t xs(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

void test_frames_check_fuzz(void)
{
	uint64_t x = 0x2545f4914f6cdd1dull;
	int accepted = 0, wrong = 0;
	for (int iter = 0; iter < 300000; iter++) {
		rw_frame_geometry g = {0};
		g.capacity = 1ull << (3 + xs(&x) % 20);
		g.header_len = 16 * (1 + (uint32_t)(xs(&x) % 3));
		g.slot_size = g.header_len + 16 * (1 + (uint32_t)(xs(&x) % 64));
		uint64_t room = g.capacity / 8 * g.slot_size - g.header_len;
		g.max_message = (uint32_t)(1 + xs(&x) % (room < (1u << 31) ? room : (1u << 31)));
		uint64_t seq = xs(&x) & RW_COUNT_MASK;
		rw_frame_header f;
		uint64_t r = xs(&x);
		if (r % 4 == 0) { /* random bytes */
			f.seq_flags = xs(&x);
			uint64_t w = xs(&x);
			f.length = (uint32_t)w, f.slots = (uint32_t)(w >> 32);
		} else { /* near valid: the right sequence, lengths and slots around the limits */
			f.seq_flags = seq ^ (r % 7 == 0 ? 1ull << (xs(&x) % 64) : 0);
			if (r % 3 == 0)
				f.seq_flags |= RW_FRAME_PAD;
			uint64_t l = xs(&x);
			f.length = l % 3 == 0 ? 0
				   : l % 3 == 1 ? g.max_message - 1 + (uint32_t)(l >> 8) % 3
						: (uint32_t)(l >> 8) % (g.max_message + 2);
			uint64_t k = rw_frame_slots(&g, f.length);
			uint64_t s = xs(&x);
			f.slots = (uint32_t)(s % 4 == 0 ? s >> 40 : s % 4 == 1 ? k - 1 + (s >> 8) % 3 : k);
			if (s % 16 == 5) /* put the frame at the end of the array */
				seq = (seq | (g.capacity - 1)) - (xs(&x) % 4), f.seq_flags = seq;
		}
		int rule = rw_frame_check(&g, seq, &f);
		if (rule != 0)
			continue;
		accepted++;
		uint64_t i = seq & (g.capacity - 1);
		int pad = (f.seq_flags & RW_FRAME_PAD) != 0;
		/* never a frame that leaves the array, exceeds max_message, or whose payload leaves
		 * the frame; and exactly the spec's frame */
		if (f.slots < 1 || i + f.slots > g.capacity || (f.seq_flags & RW_COUNT_MASK) != seq ||
		    (f.seq_flags & RW_FRAME_BIT62) || (pad && f.length != 0) ||
		    (!pad && (f.length > g.max_message ||
			      g.header_len + (uint64_t)f.length > (uint64_t)f.slots * g.slot_size ||
			      g.header_len + (uint64_t)f.length <= (uint64_t)(f.slots - 1) * g.slot_size)))
			wrong++;
	}
	CHECK(wrong == 0, "%d accepted frames break 11.1", wrong);
	CHECK(accepted > 10000, "only %d random frames were valid: the generator is off", accepted);

	/* A consumer over slots full of random bytes and random headers: whatever it delivers lies
	 * inside the slot array and inside its frame (the heap segment is exactly total_size bytes:
	 * ASan catches any read past it); a corrupt frame is repaired with a PAD to go on. */
	rw_config cfg = fconfig(64, RW_MODE_SINGLE, 64, 0);
	struct ring r;
	ring_open(&r, &cfg, RW_FLAG_REQUIRED);
	const uint8_t *lo = rw_slot(r.seg, 0), *hi_end = lo + 64 * 64;
	int delivered = 0, corrupt = 0, outside = 0;
	uint8_t copy[512];
	for (int round = 0; round < 400; round++) {
		uint64_t next = rw_consumer_next(r.c);
		for (uint64_t s = next; s < next + 64; s++) {
			uint8_t *slot = rw_slot(r.seg, s);
			for (int b = 0; b < 64; b += 8) {
				uint64_t v = xs(&x);
				memcpy(slot + b, &v, 8);
			}
			if (xs(&x) % 3) { /* a plausible header */
				rw_frame_header f = {s, (uint32_t)(xs(&x) % 200), 0};
				f.slots = (uint32_t)rw_frame_slots(&r.seg->g.frames, f.length);
				if (xs(&x) % 5 == 0)
					f.slots += (uint32_t)(xs(&x) % 3);
				if (xs(&x) % 7 == 0)
					f.seq_flags |= RW_FRAME_PAD, f.length = 0;
				memcpy(slot, &f, sizeof f);
			}
		}
		uint64_t pub_to = next + 1 + xs(&x) % 63;
		atomic_store(&r.seg->cursors->claimed, pub_to);
		atomic_store(&r.seg->cursors->published, pub_to);
		while (rw_consumer_next(r.c) < pub_to) {
			rw_message m[8];
			uint32_t got = 0;
			rw_error err;
			rw_code rc = (round % 2) ? rw_consumer_read_messages(r.c, m, 8, &got, 0, &err)
						 : rw_consumer_copy_message(r.c, copy, sizeof copy,
									    m, 0, &err);
			if (rc == RW_OK && !(round % 2))
				got = 1;
			for (uint32_t j = 0; j < got; j++) {
				const uint8_t *d = m[j].data;
				delivered++;
				if ((round % 2) && (d < lo || d + m[j].len > hi_end ||
						    d + m[j].len > rw_slot(r.seg, m[j].seq) +
									   (uint64_t)m[j].slots * 64))
					outside++;
			}
			if (rc == RW_ERR_CORRUPT_FRAME) {
				corrupt++;
				uint64_t at = rw_consumer_next(r.c);
				rw_frame_header pad = {at | RW_FRAME_PAD, 0, 1};
				memcpy(rw_slot(r.seg, at), &pad, sizeof pad);
			} else if (rc == RW_ERR_TIMEOUT) {
				break;
			} else if (rc != RW_OK) {
				CHECK(0, "unexpected %s", rw_code_name(rc));
				break;
			}
		}
		rw_consumer_release(r.c, rw_consumer_next(r.c));
		/* the next round starts at a published boundary */
		if (rw_consumer_next(r.c) < pub_to) {
			atomic_store(&r.seg->cursors->published, rw_consumer_next(r.c));
			atomic_store(&r.seg->cursors->claimed, rw_consumer_next(r.c));
		}
	}
	CHECK(outside == 0, "%d messages delivered outside their frame", outside);
	CHECK(delivered > 100 && corrupt > 100, "delivered %d, corrupt %d", delivered, corrupt);
	ring_close(&r);
}

/* ---- the conformer's framed roles (conformance/PROTOCOL.md) ------------------------------------- */

void test_frames_conformer(void)
{
	const char *n1 = shm_name_as(CFRAME, "f1");
	const char *pout = tmp_file("fr-produce.out"), *cout = tmp_file("fr-consume.out");
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		 "%1$s produce --name %2$s --framed --count 5000 --capacity 64 --batch 4 "
		 "--wait-consumers 1 --timeout-ms 15000 > %3$s & "
		 "%1$s consume --name %2$s --consumer c1 --framed --batch --count 5000 "
		 "--timeout-ms 15000 > %4$s; c=$?; wait $!; p=$?; exit $((c * 16 + p))",
		 RW_TEST_CONFORMER, n1, pout, cout);
	int st = run(cmd);
	CHECK(st == 0, "framed single produce/consume: %d (consumer*16+producer)", st);
	size_t len;
	char *o = read_all(cout, &len);
	CHECK(o && strcmp(o, "{\"event\":\"done\",\"consumer\":\"c1\",\"received\":5000,"
			     "\"producers\":1,\"gaps\":0,\"ok\":true}\n") == 0,
	      "framed consumer printed %s", o ? o : "");
	free(o);
	/* multi: two producers, one of them killed mid-frame (a real kill -9), slot size 128 */
	const char *n2 = shm_name_as(CFRAME, "f2");
	snprintf(cmd, sizeof cmd,
		 "%1$s produce --name %2$s --framed --mode multi --slot-size 128 --capacity 32 "
		 "--count 600 --wait-consumers 1 --wait-producers 1 --timeout-ms 15000 > %3$s & "
		 "( exec 2>/dev/null; %1$s produce --name %2$s --framed --attach --producer 1 --count 400 --batch 3 "
		 "--die-mid-frame 150 --wait-consumers 1 --timeout-ms 15000; echo $? > %3$s.die ) & "
		 "%1$s consume --name %2$s --consumer c1 --framed --producers 2 --count 1000 "
		 "--timeout-ms 15000 > %4$s; c=$?; wait; exit $c",
		 RW_TEST_CONFORMER, n2, pout, cout);
	st = run(cmd);
	o = read_all(cout, &len);
	CHECK(st == 0 && o && strstr(o, "\"received\":750,\"producers\":2,") &&
		      strstr(o, "\"ok\":true") && !strstr(o, "\"gaps\":0,"),
	      "framed multi with a producer killed mid-frame: %d %s", st, o ? o : "");
	free(o);
	char die_path[256];
	snprintf(die_path, sizeof die_path, "%s.die", pout);
	o = read_all(die_path, &len);
	CHECK(o && strcmp(o, "137\n") == 0, "the attached producer died of SIGKILL: %s", o ? o : "");
	free(o);
	unlink(die_path);
	/* a framed consumer refuses a ring of fixed events, a fixed one a framed ring */
	const char *n3 = shm_name_as(CFRAME, "f3");
	rw_segment *seg;
	rw_error err;
	rw_config xc = config(8, RW_MODE_SINGLE, 2);
	CHECK_RC(rw_segment_create_shm(n3, &xc, &seg, &err), RW_OK, err);
	snprintf(cmd, sizeof cmd, "%s consume --name %s --consumer c --framed --count 1 "
				  "--timeout-ms 100 > %s",
		 RW_TEST_CONFORMER, n3, cout);
	CHECK(run(cmd) == 3, "framed consume of a fixed ring exits 3");
	o = read_all(cout, &len);
	CHECK(o && strstr(o, "\"code\":\"payload_kind\""), "printed %s", o ? o : "");
	free(o);
	rw_segment_close(seg);
	shm_unlink(n3);
	rw_config fc = fconfig(16, RW_MODE_SINGLE, 64, 0);
	fc.type = rw_framed_type("ringwire.conformance.frames.v1", 64, 16);
	CHECK_RC(rw_segment_create_shm(n3, &fc, &seg, &err), RW_OK, err);
	snprintf(cmd, sizeof cmd, "%s consume --name %s --consumer c --count 1 --timeout-ms 100 > %s",
		 RW_TEST_CONFORMER, n3, cout);
	CHECK(run(cmd) == 3, "fixed consume of a framed ring exits 3");
	o = read_all(cout, &len);
	CHECK(o && strstr(o, "\"code\":\"payload_kind\""), "printed %s", o ? o : "");
	free(o);
	rw_segment_close(seg);
	shm_unlink(n3);
}

/* The conformer's snapshot (Go's segment.Snapshot JSON) has a "frames" member for a framed ring
 * only: its frame_header_len and max_message, and "invalid" (the reason, this library's text)
 * once the geometry fails check 14. */
void test_frames_snapshot(void)
{
	const char *n = shm_name_as("/rw-lapfix-", "snap"), *out = tmp_file("fr-snapshot.out");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s snapshot --name %s > %s", RW_TEST_CONFORMER, n, out);
	rw_segment *seg;
	rw_error err;
	size_t len;
	rw_config xc = config(8, RW_MODE_SINGLE, 2);
	CHECK_RC(rw_segment_create_shm(n, &xc, &seg, &err), RW_OK, err);
	CHECK(run(cmd) == 0, "snapshot of a fixed ring");
	char *o = read_all(out, &len);
	CHECK(o && strstr(o, "\"poison\":null}\n") && !strstr(o, "frames"),
	      "a ring of fixed events has no frames member: %s", o ? o : "");
	free(o);
	rw_segment_close(seg);
	shm_unlink(n);

	rw_config fc = fconfig(16, RW_MODE_MULTI, 64, 100);
	CHECK_RC(rw_segment_create_shm(n, &fc, &seg, &err), RW_OK, err);
	CHECK(run(cmd) == 0, "snapshot of a framed ring");
	o = read_all(out, &len);
	CHECK(o && strstr(o, "\"poison\":null,\"frames\":{\"frame_header_len\":16,"
			     "\"max_message\":100}}\n"),
	      "a framed ring shows its geometry, last: %s", o ? o : "");
	free(o);
	/* max_message past an eighth of the ring: checks 1 to 12 pass, 14 does not */
	rw_segment_header(seg)->max_message = 113;
	CHECK(run(cmd) == 0, "snapshot of a framed ring whose geometry is bad");
	o = read_all(out, &len);
	CHECK(o && strstr(o, "\"frames\":{\"frame_header_len\":16,\"max_message\":113,"
			     "\"invalid\":\"bad frame geometry: largest message 113"),
	      "and says why it is not valid: %s", o ? o : "");
	free(o);
	rw_segment_close(seg);
	shm_unlink(n);
}
