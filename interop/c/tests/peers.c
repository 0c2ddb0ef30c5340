/* tests/peers.c - peer processes and helpers that several test files share (see harness.h). */
#include "harness.h"

/* Reads until the stream ends; verifies per-producer order and content. Exit 0 iff exactly
 * count events arrived intact and in order. */
int child_consume(void *argp)
{
	struct stream_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 20;
	if (rw_consumer_register(seg, a->consumer, RW_FLAG_REQUIRED, 0, RW_START_OLDEST, &c, NULL) != RW_OK)
		return 21;
	uint8_t *buf = malloc((size_t)a->batch * EV_SIZE);
	uint64_t expect[8] = {0}, total = 0;
	int status = 0;
	for (;;) {
		uint32_t got;
		rw_code rc = rw_consumer_consume(c, buf, a->batch, &got, 10000, NULL);
		if (rc == RW_ERR_ENDED)
			break;
		if (rc != RW_OK) {
			status = 22;
			break;
		}
		for (uint32_t i = 0; i < got && !status; i++) {
			const uint8_t *ev = buf + (size_t)i * EV_SIZE;
			uint64_t p = ev_producer(ev);
			if (p >= a->producers || ev_seq(ev) != expect[p] ||
			    ev_check(ev, expect[p], p) != 0)
				status = 23;
			else
				expect[p]++;
		}
		total += got;
		if (status)
			break;
	}
	if (!status && total != a->count)
		status = 24;
	rw_consumer_close(c);
	free(buf);
	rw_segment_close(seg);
	return status;
}

int child_produce(void *argp)
{
	struct stream_arg *a = argp;
	rw_segment *seg = NULL;
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK)
		return 30;
	rw_producer *p = NULL;
	CHECK(rw_producer_register(seg, &p, NULL) == RW_OK, "producer init");
	for (uint64_t k = 0; k < a->count;) {
		uint32_t b = a->pbatch ? a->pbatch : (uint32_t)(k % 5 + 1);
		if (b > a->count - k)
			b = (uint32_t)(a->count - k);
		uint64_t first;
		if (rw_producer_claim(p, b, 10000, &first, NULL) != RW_OK)
			return 31;
		for (uint32_t i = 0; i < b; i++)
			ev_make(rw_slot(seg, first + i), k + i, a->producer);
		rw_producer_publish_claim(p);
		k += b;
	}
	rw_segment_close(seg);
	return 0;
}

int wait_active(rw_segment *seg, uint32_t n, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (rw_segment_active_count(seg) >= n)
			return 1;
		sleep_ms(1);
	}
	return 0;
}

rw_entry *entry_named(rw_segment *seg, const char *name)
{
	for (uint32_t i = 0; i < seg->g.registry_capacity; i++) {
		rw_entry *e = rw_entry_at(seg, i);
		if (e->name_len == strlen(name) && memcmp(e->name, name, e->name_len) == 0)
			return e;
	}
	return NULL;
}

/* 5.7 step 5, "seer loses": a registration that finds another live entry of its name claiming
 * or active after activating its own gives its entry up and refuses. A live child plays the other
 * registration, parked claiming with the name written (as between steps 4 and its CAS). */
int child_hold_pipe(void *arg)
{
	int fd = *(int *)arg;
	char b;
	return read(fd, &b, 1) == 1 ? 0 : 1;
}

/* The children below wait with kernel waits of 5 s (and a producer-liveness period as long), so
 * only a wake ends their wait within the 2 s the parent allows. */
void long_waits(void)
{
	rw_test.wait_slice_ns = 5000000000ull;
	rw_test.liveness_period_ns = 5000000000ull;
}

/* A consumer that blocks waiting for an event and expects want. */
int child_consume_expect(void *argp)
{
	struct wake_arg *a = argp;
	rw_segment *seg = NULL;
	rw_consumer *c = NULL;
	long_waits(); /* before registering: the liveness period starts there */
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_consumer_register(seg, a->consumer, RW_FLAG_REQUIRED, 0, RW_START_LATEST, &c, NULL) != RW_OK)
		return 70;
	uint8_t ev[EV_SIZE];
	uint32_t got;
	rw_code rc = rw_consumer_consume(c, ev, 1, &got, 10000, NULL);
	rw_consumer_close(c);
	return rc == a->want ? 0 : 71;
}

/* A producer that attaches to a multi segment whose ring is full and waits for room. */
int child_produce_expect(void *argp)
{
	struct wake_arg *a = argp;
	rw_segment *seg = NULL;
	rw_producer *p = NULL;
	long_waits();
	if (rw_segment_attach_shm(a->name, &ev_type, 5000, &seg, NULL) != RW_OK ||
	    rw_producer_register(seg, &p, NULL) != RW_OK)
		return 72;
	uint8_t ev[EV_SIZE];
	ev_make(ev, 0, 1);
	rw_code rc = rw_producer_publish(p, ev, 1, 10000, NULL);
	rw_producer_close(p, 0, NULL);
	return rc == a->want ? 0 : 73;
}
