/* tests/names.c - portable names, the name grammar and type fingerprints (spec 7, 9). */
#include "harness.h"

/* ---- names and fingerprints -------------------------------------------------------------------- */

void test_portable_names(void)
{
	FILE *f = fopen(RW_TEST_ROOT "/naming/testdata/portable.tsv", "r");
	CHECK(f != NULL, "cannot open naming/testdata/portable.tsv");
	if (!f)
		return;
	char line[1024];
	int vectors = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#')
			continue;
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		const char *label = line, *want = tab + 1;
		char got[RW_PORTABLE_NAME_MAX];
		size_t len = rw_portable_name(label, strlen(label), got);
		CHECK(strcmp(got, want) == 0 && len == strlen(want), "Portable(\"%s\") = %s, want %s",
		      label, got, want);
		vectors++;
	}
	fclose(f);
	CHECK(vectors >= 13, "only %d vectors in portable.tsv", vectors);
	/* every result fits macOS: at most 31 bytes */
	char got[RW_PORTABLE_NAME_MAX];
	char longlabel[600];
	memset(longlabel, 0xff, sizeof longlabel);
	CHECK(rw_portable_name(longlabel, sizeof longlabel, got) <= 31, "too long: %s", got);
}

void test_fingerprints(void)
{
	CHECK(rw_type_fingerprint("u64:8:8") == 0x43c18149e42890e2ull, "u64:8:8");
	CHECK(rw_type_fingerprint("struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8") ==
		      0x8463538f676797d7ull,
	      "conformance descriptor");
	CHECK(rw_fnv1a64("", 0) == 0xcbf29ce484222325ull, "empty FNV offset basis");
}

/* ---- names (spec 9) ------------------------------------------------------------------------------ */

/* Decodes the \xHH escapes of segment_names.tsv into out; returns the length. */
static size_t unescape(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; *p && n < cap; p++) {
		unsigned v;
		if (p[0] == '\\' && p[1] == 'x' && sscanf(p + 2, "%2x", &v) == 1) {
			out[n++] = (char)v;
			p += 3;
		} else {
			out[n++] = *p;
		}
	}
	return n;
}

void test_names(void)
{
	FILE *f = fopen(RW_TEST_ROOT "/conformance/testdata/segment_names.tsv", "r");
	CHECK(f != NULL, "cannot open conformance/testdata/segment_names.tsv");
	if (!f)
		return;
	char line[1024];
	int vectors = 0, valid = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#')
			continue;
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		char *tab = strrchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		char name[600];
		size_t len = unescape(line, name, sizeof name);
		int want = strcmp(tab + 1, "valid") == 0;
		CHECK(rw_valid_name(name, len) == want, "\"%s\" (%zu bytes): want %s", line, len,
		      tab + 1);
		vectors++;
		valid += want;
	}
	fclose(f);
	CHECK(vectors >= 19 && valid >= 8, "only %d vectors (%d valid)", vectors, valid);

	/* invalid names are refused before touching the system */
	rw_config cfg = config(8, RW_MODE_SINGLE, 1);
	rw_segment *seg = NULL;
	rw_error err;
	static const char *bad[] = {"", "/", "noslash", "//double", "/a/b", "/.", "/.."};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_RC(rw_segment_create_shm(bad[i], &cfg, &seg, &err), RW_ERR_INVALID_NAME, err);
		CHECK_RC(rw_segment_attach_shm(bad[i], &ev_type, 1000, &seg, &err), RW_ERR_INVALID_NAME, err);
	}
	char longest[258];
	longest[0] = '/';
	memset(longest + 1, 'n', 256);
	longest[257] = 0;
	CHECK_RC(rw_segment_create_shm(longest, &cfg, &seg, &err), RW_ERR_INVALID_NAME, err);
	/* the conformer refuses it as a usage error, exit 2 */
	char cmd[512];
	const char *out = tmp_file("names.out");
	snprintf(cmd, sizeof cmd, "%s produce --name /a/b --count 1 > %s", RW_TEST_CONFORMER, out);
	CHECK(run(cmd) == 2, "conformer: invalid name exits 2");
	size_t olen;
	char *o = read_all(out, &olen);
	CHECK(o && strstr(o, "\"code\":\"usage\"") && strstr(o, "invalid name"), "printed %s",
	      o ? o : "");
	free(o);
}