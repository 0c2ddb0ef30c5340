/* golden_mask.c - see golden_mask.h. */
#include "golden_mask.h"

#include "ringwire_layout.h"

#include <string.h>

#define MASKED(T, t, F, f) {t, #f, RW_##T##_##F##_OFFSET, RW_##T##_##F##_SIZE}

/* One row per line of conformance/testdata/v2/masked.tsv, in its order. */
const rw_masked_field rw_golden_masked[] = {
	MASKED(HEADER, "header", INCARNATION, incarnation),
	MASKED(HEADER, "header", CREATOR_PID, creator_pid),
	MASKED(HEADER, "header", CREATOR_START_TIME, creator_start_time),
	MASKED(HEADER, "header", CREATED_UNIX_NS, created_unix_ns),
	MASKED(HEADER, "header", PRODUCER_HEARTBEAT_NS, producer_heartbeat_ns),
	MASKED(HEADER, "header", POISON_PID, poison_pid),
	MASKED(ENTRY, "entry", OWNER, owner),
	MASKED(ENTRY, "entry", HEARTBEAT_NS, heartbeat_ns),
	MASKED(PRODUCER, "producer", OWNER, owner),
	MASKED(PRODUCER, "producer", HEARTBEAT_NS, heartbeat_ns),
};
const size_t rw_golden_masked_count = sizeof rw_golden_masked / sizeof rw_golden_masked[0];

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

void rw_golden_mask(void *image, size_t len)
{
	uint8_t *img = image;
	if (len < RW_HEADER_LEN)
		return;
	/* where each table's rows are, and how many: the header once, the registries per entry */
	uint64_t reg_off = load64(img + RW_HEADER_REGISTRY_OFFSET);
	uint64_t reg_n = load32(img + RW_HEADER_REGISTRY_CAPACITY_OFFSET);
	uint64_t reg_size = load32(img + RW_HEADER_REGISTRY_ENTRY_SIZE_OFFSET);
	uint64_t prod_off = load64(img + RW_HEADER_PRODUCERS_OFFSET);
	uint64_t prod_n = load32(img + RW_HEADER_PRODUCER_CAPACITY_OFFSET);
	int entries_fit = reg_n <= RW_MAX_REGISTRY && reg_size >= RW_ENTRY_LEN &&
			  reg_size <= RW_PAGE && reg_off <= len && reg_n * reg_size <= len - reg_off;
	int producers_fit = prod_n <= RW_MAX_PRODUCERS && prod_off <= len &&
			    prod_n * RW_PRODUCER_ENTRY_LEN <= len - prod_off;
	for (size_t k = 0; k < rw_golden_masked_count; k++) {
		const rw_masked_field *f = &rw_golden_masked[k];
		if (strcmp(f->table, "header") == 0) {
			memset(img + f->offset, 0, f->size);
		} else if (strcmp(f->table, "entry") == 0) {
			for (uint64_t i = 0; entries_fit && i < reg_n; i++)
				memset(img + reg_off + i * reg_size + f->offset, 0, f->size);
		} else if (strcmp(f->table, "producer") == 0) {
			for (uint64_t i = 0; producers_fit && i < prod_n; i++)
				memset(img + prod_off + i * RW_PRODUCER_ENTRY_LEN + f->offset, 0,
				       f->size);
		}
	}
}
