/* tests/validate.c - validation in the order of spec 5.2: every check, and fuzzed headers. */
#include "harness.h"

/* ---- validation (spec 5.2) --------------------------------------------------------------------- */

typedef void (*mutator)(rw_header *h, size_t *len);
struct corruption {
	const char *name;
	mutator mutate;
	rw_code want;
	const char *message_has;
};

#define MUT(fn, body)                                                                              \
	static void fn(rw_header *h, size_t *len)                                                  \
	{                                                                                          \
		(void)h;                                                                           \
		(void)len;                                                                         \
		body;                                                                              \
	}
MUT(m_len511, *len = 511)
MUT(m_len0, *len = 0)
MUT(m_init0, atomic_store(&h->init_state, 0))
MUT(m_init0_magic, { atomic_store(&h->init_state, 0); h->magic = 0; })
MUT(m_magic, h->magic ^= 1)
MUT(m_magic_state, { h->magic = 7; atomic_store(&h->init_state, 9); })
MUT(m_state2, atomic_store(&h->init_state, 2))
MUT(m_major, h->version_major = 1)
MUT(m_major0, h->version_major = 0)
MUT(m_hlen_small, h->header_len = 504)
MUT(m_hlen_odd, h->header_len = 516)
MUT(m_hlen_big, h->header_len = (uint32_t)h->total_size + 8)
MUT(m_total_big, h->total_size += 4096)
MUT(m_trunc_len, *len -= 8)
MUT(m_cap3, h->capacity = 3)
MUT(m_cap1, h->capacity = 1)
MUT(m_cap0, h->capacity = 0)
MUT(m_cap_huge, h->capacity = 1ull << 31)
MUT(m_cap_and_mode, { h->capacity = 5; h->producer_mode = 9; })
MUT(m_esize0, h->event_size = 0)
MUT(m_esize_big, h->event_size = 65537)
MUT(m_ealign3, h->event_align = 3)
MUT(m_ealign8192, { h->event_align = 8192; h->slot_align = 8192; })
MUT(m_salign, h->slot_align = 16)
MUT(m_ssize, h->slot_size = 72)
MUT(m_tname, h->type_name_len = 65)
MUT(m_mode0, h->producer_mode = 0)
MUT(m_mode3, h->producer_mode = 3)
MUT(m_reg0, h->registry_capacity = 0)
MUT(m_reg65, h->registry_capacity = 65)
MUT(m_entry128, h->registry_entry_size = 128)
MUT(m_entry320, h->registry_entry_size = 320)
MUT(m_cur_misaligned, h->cursors.offset = 576)
MUT(m_cur_in_header, h->cursors.offset = 0)
MUT(m_cur_short, h->cursors.length = 128)
MUT(m_wait_short, h->wait.length = 255)
MUT(m_wait_overlap, h->wait.offset = h->cursors.offset)
MUT(m_reg_len, h->registry.length -= 256)
MUT(m_avail_len, h->availability.length = 0)
MUT(m_slots_len, h->slots.length += 64)
MUT(m_slots_beyond, h->slots.offset = h->total_size - 128)
MUT(m_slots_overflow, h->slots.offset = 0xffffffffffffff80ull)
MUT(m_hlen_covers, h->header_len = 640)
MUT(m_minor, h->version_minor = 7)
MUT(m_reserved, { h->reserved2[5] = 1; h->reserved1 = 3; })
MUT(m_pcap0, h->producer_capacity = 0)
MUT(m_pcap65, h->producer_capacity = 65)
MUT(m_single_pcap2, { h->producer_mode = 1; h->producer_capacity = 2; })
MUT(m_pcap_before_registry, { h->producer_capacity = 0; h->registry_capacity = 0; })
MUT(m_prod_len, h->producers.length -= 128)
MUT(m_prod_overlap, h->producers.offset = h->registry.offset)
MUT(m_prod_misaligned, h->producers.offset += 64)
MUT(m_poisoned_valid, { atomic_store(&h->poison_state, 2); h->poison_message_len = 3; })

static const struct corruption corruptions[] = {
	{"mapping 511 bytes", m_len511, RW_ERR_TOO_SMALL, NULL},
	{"object 0 bytes: initializing", m_len0, RW_ERR_INITIALIZING, "0 bytes"},
	{"init_state 0", m_init0, RW_ERR_INITIALIZING, NULL},
	{"init_state 0 before magic", m_init0_magic, RW_ERR_INITIALIZING, NULL},
	{"magic", m_magic, RW_ERR_BAD_MAGIC, NULL},
	{"magic before state", m_magic_state, RW_ERR_BAD_MAGIC, NULL},
	{"init_state 2", m_state2, RW_ERR_BAD_STATE, NULL},
	{"major 1 refused", m_major, RW_ERR_VERSION, "version 1.0"},
	{"major 1 reports ours", m_major, RW_ERR_VERSION, "reader is 2.1"},
	{"major 0", m_major0, RW_ERR_VERSION, "version 0.0"},
	{"header_len 504", m_hlen_small, RW_ERR_HEADER_LENGTH, NULL},
	{"header_len 516", m_hlen_odd, RW_ERR_HEADER_LENGTH, NULL},
	{"header_len > total", m_hlen_big, RW_ERR_HEADER_LENGTH, NULL},
	{"total_size > mapping", m_total_big, RW_ERR_TRUNCATED, NULL},
	{"mapping shorter", m_trunc_len, RW_ERR_TRUNCATED, NULL},
	{"capacity 3", m_cap3, RW_ERR_CAPACITY, NULL},
	{"capacity 1", m_cap1, RW_ERR_CAPACITY, NULL},
	{"capacity 0", m_cap0, RW_ERR_CAPACITY, NULL},
	{"capacity 2^31", m_cap_huge, RW_ERR_CAPACITY, NULL},
	{"capacity before mode", m_cap_and_mode, RW_ERR_CAPACITY, NULL},
	{"event_size 0", m_esize0, RW_ERR_SLOT_GEOMETRY, NULL},
	{"event_size 65537", m_esize_big, RW_ERR_SLOT_GEOMETRY, NULL},
	{"event_align 3", m_ealign3, RW_ERR_SLOT_GEOMETRY, NULL},
	{"align 8192", m_ealign8192, RW_ERR_SLOT_GEOMETRY, NULL},
	{"slot_align != event_align", m_salign, RW_ERR_SLOT_GEOMETRY, NULL},
	{"slot_size", m_ssize, RW_ERR_SLOT_GEOMETRY, NULL},
	{"type_name_len 65", m_tname, RW_ERR_SLOT_GEOMETRY, NULL},
	{"producer_mode 0", m_mode0, RW_ERR_PRODUCER_MODE, NULL},
	{"producer_mode 3", m_mode3, RW_ERR_PRODUCER_MODE, NULL},
	{"registry_capacity 0", m_reg0, RW_ERR_REGISTRY, NULL},
	{"registry_capacity 65", m_reg65, RW_ERR_REGISTRY, NULL},
	{"entry size 128", m_entry128, RW_ERR_REGISTRY, NULL},
	{"entry size 320", m_entry320, RW_ERR_REGISTRY, NULL},
	{"cursors misaligned", m_cur_misaligned, RW_ERR_REGION, "cursors"},
	{"cursors in header", m_cur_in_header, RW_ERR_REGION, "cursors"},
	{"cursors short", m_cur_short, RW_ERR_REGION, "cursors"},
	{"wait short", m_wait_short, RW_ERR_REGION, "wait"},
	{"wait overlaps cursors", m_wait_overlap, RW_ERR_REGION, "overlaps"},
	{"registry length", m_reg_len, RW_ERR_REGION, "registry"},
	{"availability length", m_avail_len, RW_ERR_REGION, "availability"},
	{"slots length", m_slots_len, RW_ERR_REGION, "slots"},
	{"slots beyond total", m_slots_beyond, RW_ERR_REGION, "slots"},
	{"slots offset overflow", m_slots_overflow, RW_ERR_REGION, "slots"},
	{"header_len covers cursors", m_hlen_covers, RW_ERR_REGION, "cursors"},
	{"minor 7 accepted", m_minor, RW_OK, NULL},
	{"reserved bytes ignored", m_reserved, RW_OK, NULL},
	{"producer_capacity 0", m_pcap0, RW_ERR_PRODUCER_MODE, "producer_capacity"},
	{"producer_capacity 65", m_pcap65, RW_ERR_PRODUCER_MODE, "producer_capacity"},
	{"single mode, 2 producer entries", m_single_pcap2, RW_ERR_PRODUCER_MODE, "single"},
	{"producer_capacity before registry", m_pcap_before_registry, RW_ERR_PRODUCER_MODE, NULL},
	{"producers length", m_prod_len, RW_ERR_REGION, "producers"},
	{"producers overlap registry", m_prod_overlap, RW_ERR_REGION, "overlaps"},
	{"producers misaligned", m_prod_misaligned, RW_ERR_REGION, "producers"},
	{"a poisoned segment is valid", m_poisoned_valid, RW_OK, NULL},
};

void test_validate_corruptions(void)
{
	rw_geometry g;
	rw_config cfg = config(8, RW_MODE_MULTI, 4);
	uint8_t *img = heap_image(&cfg, &g);
	rw_error err;
	CHECK_RC(rw_validate(img, g.total_size, &ev_type, NULL, &err), RW_OK, err);
	for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
		const struct corruption *c = &corruptions[i];
		/* an exact-size heap copy, so ASan catches any read past the "mapping" */
		size_t len = g.total_size;
		uint8_t *copy = malloc(len);
		memcpy(copy, img, len);
		c->mutate((rw_header *)(void *)copy, &len);
		rw_code rc = rw_validate(copy, len, &ev_type, NULL, &err);
		CHECK(rc == c->want, "%s: got %s (%s), want %s", c->name, rw_code_name(rc),
		      err.message, rw_code_name(c->want));
		if (c->message_has)
			CHECK(strstr(err.message, c->message_has) != NULL, "%s: message \"%s\"",
			      c->name, err.message);
		free(copy);
	}
	/* check 13 and its skip */
	rw_event_type other = ev_type;
	other.fingerprint ^= 1;
	CHECK_RC(rw_validate(img, g.total_size, &other, NULL, &err), RW_ERR_EVENT_TYPE, err);
	CHECK(strstr(err.message, "0x8463538f676797d7") && strstr(err.message, "0x8463538f676797d6"),
	      "event type message reports both: %s", err.message);
	other = ev_type;
	other.event_size = 32;
	CHECK_RC(rw_validate(img, g.total_size, &other, NULL, &err), RW_ERR_EVENT_TYPE, err);
	CHECK_RC(rw_validate(img, g.total_size, NULL, NULL, &err), RW_OK, err);
	free(img);

	/* slots offset must be a multiple of slot_align (256 here) */
	rw_config big = config(2, RW_MODE_SINGLE, 1);
	big.type = (rw_event_type){256, 256, 1, "x"};
	img = heap_image(&big, &g);
	CHECK_RC(rw_validate(img, g.total_size, NULL, NULL, &err), RW_OK, err);
	((rw_header *)(void *)img)->slots.offset = g.slots.offset + 128;
	CHECK_RC(rw_validate(img, g.total_size, NULL, NULL, &err), RW_ERR_REGION, err);
	CHECK(strstr(err.message, "slot_align") != NULL, "message: %s", err.message);
	free(img);
}

/* Random corruption of header bytes never crashes or reads outside the buffer (run under ASan). */
void test_validate_fuzz(void)
{
	rw_geometry g;
	rw_config cfg = config(16, RW_MODE_MULTI, 3);
	uint8_t *img = heap_image(&cfg, &g);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int ok_count = 0, crashes = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = g.total_size;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if ((x & 7) == 0)
			len = (size_t)(x >> 20) % (g.total_size + 1);
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, img, len);
		int flips = 1 + (int)((x >> 8) & 3);
		for (int f = 0; f < flips && len > 0; f++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t at = (size_t)(x % (len < 512 ? len : 512));
			copy[at] ^= (uint8_t)(x >> 32 | 1);
		}
		rw_geometry out;
		rw_code rc = rw_validate(copy, len, NULL, &out, NULL);
		if (rc == RW_OK) {
			ok_count++;
			/* whatever passes must describe regions inside the buffer */
			if (out.total_size > len || out.slots.offset + out.slots.length > len ||
			    out.registry.offset + out.registry.length > len)
				crashes++;
		}
		free(copy);
	}
	CHECK(crashes == 0, "%d accepted images point outside the buffer", crashes);
	CHECK(ok_count > 0, "some mutations (reserved bytes, masked fields) stay valid");
	free(img);
}