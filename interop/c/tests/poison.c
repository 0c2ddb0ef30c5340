/* tests/poison.c - poisoning (spec 5.9). */
#include "harness.h"

static int fill_ok_then_fail(void *arg, void *event, uint64_t seq, uint32_t index, const char **why)
{
	uint32_t *fail_at = arg;
	if (index == *fail_at) {
		/* 27 ASCII bytes, then 20 two-byte characters: byte 64 splits the 19th */
		*why = "fill failed: disk on fire: \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
		return 1;
	}
	ev_make(event, seq, 0);
	return 0;
}

static int child_wait_poisoned(void *name)
{
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 40;
	/* kernel waits of 5 s: only the poisoner's wake ends this one promptly */
	rw_test.wait_slice_ns = 5000000000ull;
	rw_test.liveness_period_ns = 5000000000ull;
	if (rw_consumer_register(seg, "waiter", RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, NULL) != RW_OK)
		return 41;
	uint8_t ev[EV_SIZE];
	uint32_t got;
	rw_error err;
	rw_code rc = rw_consumer_consume(c, ev, 1, &got, 10000, &err); /* blocks in futex */
	rw_consumer_close(c);
	return rc == RW_ERR_POISONED && strstr(err.message, "stage 7): boom") ? 0 : 42;
}

void test_poisoning(void)
{
	rw_error err;
	/* single mode: a failing fill poisons instead of publishing */
	rw_config cfg = config(8, RW_MODE_SINGLE, 2);
	rw_segment *seg = NULL;
	uint8_t *img = heap_segment(&cfg, &seg);
	rw_producer *p = NULL;
	CHECK_RC(rw_producer_register(seg, &p, &err), RW_OK, err);
	rw_consumer *c = NULL;
	CHECK_RC(rw_consumer_register(seg, "c", RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, &err), RW_OK, err);
	uint32_t fail_at = 99;
	CHECK_RC(rw_producer_publish_fill(p, 2, fill_ok_then_fail, &fail_at, 0, &err), RW_OK, err);
	fail_at = 1;
	CHECK_RC(rw_producer_publish_fill(p, 3, fill_ok_then_fail, &fail_at, 0, &err), RW_ERR_POISONED, err);
	rw_header *h = seg->hdr;
	CHECK(atomic_load(&seg->cursors->claimed) == 5 && atomic_load(&seg->cursors->published) == 2,
	      "claimed 5, published 2");
	CHECK(atomic_load(&h->poison_state) == RW_POISON_RECORDED && h->poison_phase == 1 &&
		      h->poison_seq == 2 && h->poison_stage == 0 &&
		      h->poison_pid == (uint32_t)getpid(),
	      "poison record");
	/* the message is cut to 64 bytes without splitting a UTF-8 sequence */
	CHECK(h->poison_message_len == 63 &&
		      ((uint8_t)h->poison_message[h->poison_message_len - 1] == 0xa9) &&
		      memcmp(h->poison_message, "fill failed: disk on fire", 25) == 0,
	      "message length %u", h->poison_message_len);
	rw_poison rec;
	CHECK(rw_segment_poisoned(seg, &rec) == 1 && rec.seq == 2 && rec.phase == RW_PHASE_PUBLISH &&
		      strlen(rec.message) == h->poison_message_len,
	      "rw_segment_poisoned reads the record");
	rw_poison later = {.phase = RW_PHASE_HANDLER, .seq = 9, .stage = 1};
	snprintf(later.message, sizeof later.message, "later");
	CHECK(rw_segment_poison(seg, &later) == 0 && h->poison_seq == 2, "later failures not recorded");
	uint8_t ev[EV_SIZE * 4];
	CHECK_RC(rw_producer_publish(p, ev, 1, 0, &err), RW_ERR_POISONED, err);
	CHECK(strstr(err.message, "publish failed at sequence 2") != NULL, "message: %s", err.message);
	/* consumers read what was published, then stop */
	uint32_t got;
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 0, &err), RW_OK, err);
	CHECK(got == 2 && ev_check(ev + EV_SIZE, 1, 0) == 0, "published events still delivered");
	CHECK_RC(rw_consumer_consume(c, ev, 4, &got, 1000, &err), RW_ERR_POISONED, err);
	rw_consumer_close(c);
	rw_producer_close(p, 0, NULL);
	rw_segment_close(seg);
	free(img);

	/* multi mode: rw_producer_abort_claim poisons with the claim's first sequence and the entry index */
	rw_config mc = config(8, RW_MODE_MULTI, 2);
	rw_segment *ms = NULL, *att = NULL;
	img = heap_segment(&mc, &ms);
	CHECK_RC(rw_segment_attach_memory(img, ms->g.total_size, &ev_type, &att, &err), RW_OK, err);
	rw_producer *cr = NULL, *a = NULL;
	CHECK_RC(rw_producer_register(ms, &cr, &err), RW_OK, err);
	CHECK_RC(rw_producer_register(att, &a, &err), RW_OK, err);
	CHECK_RC(rw_producer_publish(cr, ev, 1, 0, &err), RW_OK, err);
	uint64_t first;
	CHECK_RC(rw_producer_claim(a, 2, 0, &first, &err), RW_OK, err);
	rw_producer_abort_claim(a, NULL);
	CHECK(ms->hdr->poison_seq == 1 && ms->hdr->poison_stage == 1 &&
		      atomic_load(&rw_producer_entry_at(ms, 1)->intent_end) == 0 &&
		      memcmp(ms->hdr->poison_message, "fill failed", 11) == 0,
	      "multi poison record: seq %llu stage %u", (unsigned long long)ms->hdr->poison_seq,
	      ms->hdr->poison_stage);
	CHECK_RC(rw_producer_claim(cr, 1, 0, &first, &err), RW_ERR_POISONED, err);
	rw_producer_close(a, 0, NULL);
	rw_producer_close(cr, 0, NULL);
	rw_segment_close(att);
	rw_segment_close(ms);
	free(img);

	/* a consumer blocked in another process is woken by the poisoning */
	const char *name = shm_name("poison");
	rw_config sc = config(8, RW_MODE_SINGLE, 2);
	CHECK_RC(rw_segment_create_shm(name, &sc, &seg, &err), RW_OK, err);
	pid_t child = spawn(child_wait_poisoned, (void *)name);
	CHECK(wait_active(seg, 1, 5000), "waiter registered");
	for (int i = 0; i < 2000 && atomic_load(&seg->wait->consumer_waiters) == 0; i++)
		sleep_ms(1);
	uint64_t t0 = rw_monotonic_ns();
	rw_poison stage = {.phase = RW_PHASE_HANDLER, .seq = 0, .stage = 7};
	snprintf(stage.message, sizeof stage.message, "boom");
	CHECK(rw_segment_poison(seg, &stage) == 1, "recorded");
	int st = reap(child);
	CHECK(st == 0, "waiter saw the poison (status %d)", st);
	CHECK(rw_monotonic_ns() - t0 < 1000000000ull, "woken promptly");
	rw_segment_close(seg);
	shm_unlink(name);
}