/* tests/layout.c - spec/LAYOUT.md tables against ringwire_layout.h, and the creator placement (spec 3, 4). */
#include "harness.h"

/* ---- spec tables ------------------------------------------------------------------------------- */

#define LC(T, t, F, f) {t, #f, RW_##T##_##F##_OFFSET, RW_##T##_##F##_SIZE}
const struct layout_const layout_consts[] = {
	LC(HEADER, "header", MAGIC, magic),
	LC(HEADER, "header", INIT_STATE, init_state),
	LC(HEADER, "header", VERSION_MAJOR, version_major),
	LC(HEADER, "header", VERSION_MINOR, version_minor),
	LC(HEADER, "header", HEADER_LEN, header_len),
	LC(HEADER, "header", PRODUCER_MODE, producer_mode),
	LC(HEADER, "header", TOTAL_SIZE, total_size),
	LC(HEADER, "header", CAPACITY, capacity),
	LC(HEADER, "header", SLOT_SIZE, slot_size),
	LC(HEADER, "header", SLOT_ALIGN, slot_align),
	LC(HEADER, "header", REGISTRY_CAPACITY, registry_capacity),
	LC(HEADER, "header", REGISTRY_ENTRY_SIZE, registry_entry_size),
	LC(HEADER, "header", INCARNATION, incarnation),
	LC(HEADER, "header", CREATOR_PID, creator_pid),
	LC(HEADER, "header", PRODUCER_STATE, producer_state),
	LC(HEADER, "header", CREATOR_START_TIME, creator_start_time),
	LC(HEADER, "header", CREATED_UNIX_NS, created_unix_ns),
	LC(HEADER, "header", PRODUCER_HEARTBEAT_NS, producer_heartbeat_ns),
	LC(HEADER, "header", CURSORS, cursors),
	LC(HEADER, "header", WAIT, wait),
	LC(HEADER, "header", REGISTRY, registry),
	LC(HEADER, "header", AVAILABILITY, availability),
	LC(HEADER, "header", SLOTS, slots),
	LC(HEADER, "header", PRODUCERS, producers),
	LC(HEADER, "header", EVENT_SIZE, event_size),
	LC(HEADER, "header", EVENT_ALIGN, event_align),
	LC(HEADER, "header", TYPE_FINGERPRINT, type_fingerprint),
	LC(HEADER, "header", TYPE_NAME_LEN, type_name_len),
	LC(HEADER, "header", PRODUCER_CAPACITY, producer_capacity),
	LC(HEADER, "header", TYPE_NAME, type_name),
	LC(HEADER, "header", POISON_STATE, poison_state),
	LC(HEADER, "header", POISON_PHASE, poison_phase),
	LC(HEADER, "header", POISON_SEQ, poison_seq),
	LC(HEADER, "header", POISON_PID, poison_pid),
	LC(HEADER, "header", POISON_STAGE, poison_stage),
	LC(HEADER, "header", POISON_MESSAGE_LEN, poison_message_len),
	LC(HEADER, "header", RESERVED1, reserved1),
	LC(HEADER, "header", POISON_MESSAGE, poison_message),
	LC(HEADER, "header", GAPS, gaps),
	LC(HEADER, "header", CONSUMER_BLOCKERS, consumer_blockers),
	LC(HEADER, "header", PRODUCER_BLOCKERS, producer_blockers),
	LC(HEADER, "header", PAYLOAD_KIND, payload_kind),
	LC(HEADER, "header", FRAME_HEADER_LEN, frame_header_len),
	LC(HEADER, "header", MAX_MESSAGE, max_message),
	LC(HEADER, "header", RESERVED3, reserved3),
	LC(HEADER, "header", RESERVED2, reserved2),
	LC(CURSORS, "cursors", PUBLISHED, published),
	LC(CURSORS, "cursors", PAD0, pad0),
	LC(CURSORS, "cursors", CLAIMED, claimed),
	LC(CURSORS, "cursors", PAD1, pad1),
	LC(WAIT, "wait", CONSUMER_WAKE, consumer_wake),
	LC(WAIT, "wait", CONSUMER_WAITERS, consumer_waiters),
	LC(WAIT, "wait", PAD0, pad0),
	LC(WAIT, "wait", PRODUCER_WAKE, producer_wake),
	LC(WAIT, "wait", PRODUCER_WAITERS, producer_waiters),
	LC(WAIT, "wait", PAD1, pad1),
	LC(ENTRY, "entry", STATE, state),
	LC(ENTRY, "entry", FLAGS, flags),
	LC(ENTRY, "entry", OWNER, owner),
	LC(ENTRY, "entry", NAME_LEN, name_len),
	LC(ENTRY, "entry", RESERVED0, reserved0),
	LC(ENTRY, "entry", HEARTBEAT_NS, heartbeat_ns),
	LC(ENTRY, "entry", DEPENDS_ON, depends_on),
	LC(ENTRY, "entry", NAME, name),
	LC(ENTRY, "entry", LOST, lost),
	LC(ENTRY, "entry", GAPS_SEEN, gaps_seen),
	LC(ENTRY, "entry", RESERVED, reserved),
	LC(ENTRY, "entry", CURSOR, cursor),
	LC(ENTRY, "entry", PAD, pad),
	LC(PRODUCER, "producer", STATE, state),
	LC(PRODUCER, "producer", RESERVED0, reserved0),
	LC(PRODUCER, "producer", OWNER, owner),
	LC(PRODUCER, "producer", HEARTBEAT_NS, heartbeat_ns),
	LC(PRODUCER, "producer", INTENT_START, intent_start),
	LC(PRODUCER, "producer", INTENT_END, intent_end),
	LC(PRODUCER, "producer", RESERVED, reserved),
	LC(FRAME, "frame", SEQ_FLAGS, seq_flags),
	LC(FRAME, "frame", LENGTH, length),
	LC(FRAME, "frame", SLOTS, slots),
};
#define N_CONSTS (sizeof layout_consts / sizeof layout_consts[0])
const size_t n_layout_consts = N_CONSTS;

static void trim(char *s)
{
	char *p = s;
	while (*p == ' ')
		p++;
	memmove(s, p, strlen(p) + 1);
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		s[--n] = 0;
}

/* Reads every "### Table: header|cursors|wait|entry|producer|frame" row of spec/LAYOUT.md and compares offset and
 * size with the constants of ringwire.h, both ways. */
void test_spec_tables(void)
{
	FILE *f = fopen(RW_TEST_ROOT "/spec/LAYOUT.md", "r");
	CHECK(f != NULL, "cannot open spec/LAYOUT.md");
	if (!f)
		return;
	char line[1024], table[1024] = "";
	int seen[N_CONSTS] = {0};
	int rows = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "### Table: ", 11) == 0) {
			snprintf(table, sizeof table, "%s", line + 11);
			trim(table);
			continue;
		}
		if (strncmp(line, "## ", 3) == 0)
			table[0] = 0;
		if (!table[0] || line[0] != '|' || line[2] < '0' || line[2] > '9')
			continue;
		if (strcmp(table, "header") && strcmp(table, "cursors") && strcmp(table, "wait") &&
		    strcmp(table, "entry") && strcmp(table, "producer") && strcmp(table, "frame"))
			continue;
		char *cells[5] = {0};
		char *save = NULL, *tok = strtok_r(line + 1, "|", &save);
		for (int i = 0; i < 5 && tok; i++, tok = strtok_r(NULL, "|", &save)) {
			trim(tok);
			cells[i] = tok;
		}
		if (!cells[3] || cells[1][0] < '0' || cells[1][0] > '9')
			continue; /* e.g. the entry states table under "### Table: entry" */
		rows++;
		unsigned off = (unsigned)strtoul(cells[0], NULL, 10);
		unsigned size = (unsigned)strtoul(cells[1], NULL, 10);
		int found = 0;
		for (size_t i = 0; i < N_CONSTS; i++) {
			if (strcmp(layout_consts[i].table, table) ||
			    strcmp(layout_consts[i].field, cells[3]))
				continue;
			found = 1;
			seen[i] = 1;
			CHECK(layout_consts[i].offset == off && layout_consts[i].size == size,
			      "%s.%s: spec %u/%u, header %u/%u", table, cells[3], off, size,
			      layout_consts[i].offset, layout_consts[i].size);
		}
		CHECK(found, "spec row %s.%s has no RW_ constant", table, cells[3]);
	}
	fclose(f);
	for (size_t i = 0; i < N_CONSTS; i++)
		CHECK(seen[i], "constant %s.%s is not in the spec", layout_consts[i].table,
		      layout_consts[i].field);
	CHECK(rows == (int)N_CONSTS, "spec rows %d, constants %zu", rows, N_CONSTS);
	/* the spec states the version the header implements */
	f = fopen(RW_TEST_ROOT "/spec/LAYOUT.md", "r");
	char want[64];
	snprintf(want, sizeof want, "**Format version %u.%u.**", RW_VERSION_MAJOR, RW_VERSION_MINOR);
	int version_seen = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, want))
			version_seen = 1;
	if (f)
		fclose(f);
	CHECK(version_seen, "spec/LAYOUT.md does not say %s", want);
	/* the tables of 2.0 that changed: every field of entry and producer is covered */
	int entry_rows = 0, producer_rows = 0, frame_rows = 0;
	for (size_t i = 0; i < N_CONSTS; i++) {
		entry_rows += strcmp(layout_consts[i].table, "entry") == 0;
		producer_rows += strcmp(layout_consts[i].table, "producer") == 0;
		frame_rows += strcmp(layout_consts[i].table, "frame") == 0;
	}
	CHECK(entry_rows == 13 && producer_rows == 7, "entry rows %d, producer rows %d", entry_rows,
	      producer_rows);
	/* 2.1: the frame header's table covers its 16 bytes, as rw_frame_header does */
	CHECK(frame_rows == 3 && sizeof(rw_frame_header) == RW_FRAME_HEADER_LEN &&
		      RW_FRAME_SLOTS_OFFSET + RW_FRAME_SLOTS_SIZE == RW_FRAME_HEADER_LEN,
	      "frame rows %d", frame_rows);
}

/* ---- layout ------------------------------------------------------------------------------------ */

void test_layout(void)
{
	rw_geometry g;
	rw_config c = config(8, RW_MODE_SINGLE, 4);
	CHECK(rw_layout(&c, &g, NULL) == RW_OK, "layout");
	CHECK(g.cursors.offset == 512 && g.wait.offset == 768 && g.registry.offset == 1024 &&
		      g.registry.length == 1024 && g.producers.offset == 2048 &&
		      g.producers.length == 128 && g.producer_capacity == 1 &&
		      g.availability.offset == 2176 && g.availability.length == 0 &&
		      g.slots.offset == 4096 && g.slots.length == 512 && g.total_size == 8192,
	      "single cap 8 reg 4 placement");
	c = config(4, RW_MODE_MULTI, 2);
	CHECK(rw_layout(&c, &g, NULL) == RW_OK, "layout");
	CHECK(g.producers.offset == 1536 && g.producers.length == 8 * 128 &&
		      g.producer_capacity == 8 && g.availability.offset == 2560 &&
		      g.availability.length == 32 && g.slots.offset == 4096 && g.total_size == 8192,
	      "multi cap 4 reg 2 placement: avail %llu slots %llu",
	      (unsigned long long)g.availability.offset, (unsigned long long)g.slots.offset);
	c.producer_capacity = 2;
	CHECK(rw_layout(&c, &g, NULL) == RW_OK && g.producers.length == 256 &&
		      g.availability.offset == 1792,
	      "multi with 2 producer entries");
	c.producer_capacity = 65;
	CHECK(rw_layout(&c, &g, NULL) == RW_ERR_PRODUCER_MODE, "65 producer entries rejected");
	c = config(4, RW_MODE_SINGLE, 2);
	c.producer_capacity = 2;
	CHECK(rw_layout(&c, &g, NULL) == RW_ERR_PRODUCER_MODE, "single mode has 1 producer entry");
	c = config(1024, RW_MODE_MULTI, 8);
	c.type.event_size = 100;
	c.type.event_align = 4096;
	CHECK(rw_layout(&c, &g, NULL) == RW_OK, "layout");
	CHECK(g.slot_size == 4096 && g.slots.offset % 4096 == 0 && g.total_size % 4096 == 0,
	      "align 4096 slots at %llu", (unsigned long long)g.slots.offset);
	rw_error err;
	c = config(12, RW_MODE_SINGLE, 4);
	CHECK(rw_layout(&c, &g, &err) == RW_ERR_CAPACITY, "capacity 12 rejected");
	c = config(8, 3, 4);
	CHECK(rw_layout(&c, &g, &err) == RW_ERR_PRODUCER_MODE, "mode 3 rejected");
	c = config(8, 1, 65);
	CHECK(rw_layout(&c, &g, &err) == RW_ERR_REGISTRY, "registry 65 rejected");
}