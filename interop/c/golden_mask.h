/*
 * golden_mask.h - the fields masked in the golden images (conformance/PROTOCOL.md, "Golden
 * scenarios"): they differ between runs and are zeroed in both images before a comparison.
 *
 * conformance/testdata/v2/masked.tsv is the one source of the list. This table is its C copy,
 * tested against it: the C test "golden_mask" (tests/golden.c) reads masked.tsv and checks that
 * this table names exactly its rows, both ways, and that rw_golden_mask zeroes exactly the bytes
 * of those fields (in every entry of a registry) and nothing else, with offsets taken from the
 * spec-checked constants of ringwire_layout.h. Used by the conformer (golden) and the tests.
 */
#ifndef RINGWIRE_GOLDEN_MASK_H
#define RINGWIRE_GOLDEN_MASK_H

#include <stddef.h>
#include <stdint.h>

typedef struct rw_masked_field {
	const char *table; /* "header", "entry" or "producer": a table of spec/LAYOUT.md */
	const char *field; /* the field's name in that table */
	uint32_t offset, size;
} rw_masked_field;

extern const rw_masked_field rw_golden_masked[];
extern const size_t rw_golden_masked_count;

/* Zeroes the masked fields of a segment image of len bytes: the header's, and the entry and
 * producer fields in every entry of their registries. It reads the registries' places from the
 * image's header and leaves an image whose registries do not fit in len with only its header
 * fields masked; shorter than a header, it is left alone. */
void rw_golden_mask(void *image, size_t len);

#endif /* RINGWIRE_GOLDEN_MASK_H */
