/* A log-linear histogram of u64 values (HdrHistogram-like), fixed size, no allocation, so it
 * can live in shared memory and be read by the parent after the measuring process exits.
 *
 * Values below 2^(BL_HIST_SUB_BITS+1) are counted exactly. Above, each power-of-two range
 * [2^k, 2^(k+1)) is cut into 2^BL_HIST_SUB_BITS equal buckets, so a bucket's width is at most
 * 1/2^BL_HIST_SUB_BITS of its lowest value: with 7 bits, 1/128 = 0.78% relative precision.
 * Percentiles report the highest value of the bucket (never under-reports); the maximum is
 * tracked exactly.
 *
 * Not safe for concurrent use: one writer, and readers only after the writer is done. */
#ifndef BL_HIST_H
#define BL_HIST_H

#include <stdint.h>

#define BL_HIST_SUB_BITS 7
#define BL_HIST_SUB (1u << BL_HIST_SUB_BITS)
/* Index of the largest u64: shift 63 - SUB_BITS, sub-bucket SUB - 1. */
#define BL_HIST_BUCKETS ((64u - BL_HIST_SUB_BITS + 1u) * BL_HIST_SUB)

struct bl_hist {
	uint64_t total;
	uint64_t max;
	uint64_t min;
	uint64_t sum; /* for the mean; wraps only after ~584 years of nanoseconds */
	uint64_t counts[BL_HIST_BUCKETS];
};

void bl_hist_reset(struct bl_hist *h);

static inline unsigned bl_hist_index(uint64_t v) {
	if (v < 2u * BL_HIST_SUB) {
		return (unsigned)v;
	}
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - BL_HIST_SUB_BITS; /* >= 1 here */
	/* v >> shift is in [SUB, 2*SUB): the top bit plus SUB_BITS bits of mantissa. */
	return (shift + 1u) * BL_HIST_SUB + (unsigned)((v >> shift) - BL_HIST_SUB);
}

static inline void bl_hist_record(struct bl_hist *h, uint64_t v) {
	h->counts[bl_hist_index(v)]++;
	h->total++;
	h->sum += v;
	if (v > h->max) {
		h->max = v;
	}
	if (v < h->min) {
		h->min = v;
	}
}

/* Lowest and highest value counted by bucket idx. */
uint64_t bl_hist_bucket_low(unsigned idx);
uint64_t bl_hist_bucket_high(unsigned idx);

/* The value at or below which pct percent (0 < pct <= 100) of the recorded values fall: the
 * highest value of the bucket holding the ceil(pct/100 * total)-th smallest value, capped at
 * the exact maximum. 0 if empty. */
uint64_t bl_hist_percentile(const struct bl_hist *h, double pct);

#endif
