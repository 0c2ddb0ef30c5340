#include "hist.h"

#include <math.h>
#include <string.h>

void bl_hist_reset(struct bl_hist *h) {
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

uint64_t bl_hist_bucket_low(unsigned idx) {
	if (idx < 2u * BL_HIST_SUB) {
		return idx;
	}
	unsigned shift = idx / BL_HIST_SUB - 1u;
	uint64_t sub = idx % BL_HIST_SUB;
	return (BL_HIST_SUB + sub) << shift;
}

uint64_t bl_hist_bucket_high(unsigned idx) {
	if (idx < 2u * BL_HIST_SUB) {
		return idx;
	}
	unsigned shift = idx / BL_HIST_SUB - 1u;
	return bl_hist_bucket_low(idx) + ((UINT64_C(1) << shift) - 1u);
}

uint64_t bl_hist_percentile(const struct bl_hist *h, double pct) {
	if (h->total == 0) {
		return 0;
	}
	double want = ceil(pct / 100.0 * (double)h->total);
	uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
	if (rank > h->total) {
		rank = h->total;
	}
	uint64_t seen = 0;
	for (unsigned i = 0; i < BL_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t high = bl_hist_bucket_high(i);
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}
