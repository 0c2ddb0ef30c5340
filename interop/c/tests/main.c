/* tests/main.c - runs every C test in one binary; see harness.h for the output contract. */
#include "harness.h"


/* The tests, in the order they run (each defined in the tests/ file of its concept). */
void test_spec_tables(void);
void test_portable_names(void);
void test_fingerprints(void);
void test_layout(void);
void test_validate_corruptions(void);
void test_validate_fuzz(void);
void test_create_attach(void);
void test_registry(void);
void test_gating_and_end(void);
void test_overflow(void);
void test_processes(void);
void test_takeover(void);
void test_duplicate_race(void);
void test_claiming_dead_claimer(void);
void test_spsc_fork_wraparound(void);
void test_mpsc_fork(void);
void test_producer_registry(void);
void test_closed_bit(void);
void test_poisoning(void);
void test_gap_after_kill(void);
void test_blockers(void);
void test_names(void);
void test_backing(void);
void test_no_space(void);
void test_wakes(void);
void test_stage_after_close(void);
void test_evicted_mid_batch(void);
void test_optional_verify(void);
void test_optional_lapped_multi(void);
void test_gap_rules(void);
void test_producer_dead(void);
void test_heartbeats(void);
void test_stalled(void);
void test_corrupt_entries(void);
void test_golden(void);
void test_golden_mask(void);
void test_conformer_end_to_end(void);
void test_starting_bit(void);
void test_takeover_scan(void);
void test_provisional_start(void);
void test_start_across_processes(void);
void test_gating_second_pass(void);
void test_multi_unpublished_claim(void);
void test_multi_dead_claim_passed_over(void);
void test_registration_rules(void);
void test_golden_framed(void);
void test_frames_layout(void);
void test_frames_kinds(void);
void test_frames_geometry(void);
void test_frames_wrap(void);
void test_frames_batch(void);
void test_frames_multi_relayout(void);
void test_frames_claim(void);
void test_frames_too_large(void);
void test_frames_corrupt(void);
void test_frames_gapped(void);
void test_frames_optional(void);
void test_frames_optional_lapped_multi(void);
void test_frames_check_fuzz(void);
void test_frames_conformer(void);
void test_frames_snapshot(void);

int main(int argc, char **argv)
{
	parent_pid = getpid();
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	alarm(120);
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"spec_tables", test_spec_tables},
		{"portable_names", test_portable_names},
		{"fingerprints", test_fingerprints},
		{"layout", test_layout},
		{"validate_corruptions", test_validate_corruptions},
		{"validate_fuzz", test_validate_fuzz},
		{"create_attach", test_create_attach},
		{"registry", test_registry},
		{"gating_and_end", test_gating_and_end},
		{"overflow", test_overflow},
		{"processes", test_processes},
		{"takeover", test_takeover},
		{"duplicate_race", test_duplicate_race},
		{"claiming_dead_claimer", test_claiming_dead_claimer},
		{"spsc_fork_wraparound", test_spsc_fork_wraparound},
		{"mpsc_fork", test_mpsc_fork},
		{"producer_registry", test_producer_registry},
		{"closed_bit", test_closed_bit},
		{"poisoning", test_poisoning},
		{"gap_after_kill", test_gap_after_kill},
		{"blockers", test_blockers},
		{"names", test_names},
		{"backing", test_backing},
		{"no_space", test_no_space},
		{"wakes", test_wakes},
		{"stage_after_close", test_stage_after_close},
		{"evicted_mid_batch", test_evicted_mid_batch},
		{"optional_verify", test_optional_verify},
		{"optional_lapped_multi", test_optional_lapped_multi},
		{"gap_rules", test_gap_rules},
		{"producer_dead", test_producer_dead},
		{"heartbeats", test_heartbeats},
		{"stalled", test_stalled},
		{"corrupt_entries", test_corrupt_entries},
		{"golden", test_golden},
		{"golden_mask", test_golden_mask},
		{"conformer_end_to_end", test_conformer_end_to_end},
		{"starting_bit", test_starting_bit},
		{"takeover_scan", test_takeover_scan},
		{"provisional_start", test_provisional_start},
		{"start_across_processes", test_start_across_processes},
		{"gating_second_pass", test_gating_second_pass},
		{"multi_unpublished_claim", test_multi_unpublished_claim},
		{"multi_dead_claim_passed_over", test_multi_dead_claim_passed_over},
		{"registration_rules", test_registration_rules},
		{"golden_framed", test_golden_framed},
		{"frames_layout", test_frames_layout},
		{"frames_kinds", test_frames_kinds},
		{"frames_geometry", test_frames_geometry},
		{"frames_wrap", test_frames_wrap},
		{"frames_batch", test_frames_batch},
		{"frames_multi_relayout", test_frames_multi_relayout},
		{"frames_claim", test_frames_claim},
		{"frames_too_large", test_frames_too_large},
		{"frames_corrupt", test_frames_corrupt},
		{"frames_gapped", test_frames_gapped},
		{"frames_optional", test_frames_optional},
		{"frames_optional_lapped_multi", test_frames_optional_lapped_multi},
		{"frames_check_fuzz", test_frames_check_fuzz},
		{"frames_conformer", test_frames_conformer},
		{"frames_snapshot", test_frames_snapshot},
	};
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		int chosen = argc < 2;
		for (int a = 1; a < argc; a++)
			chosen = chosen || strcmp(argv[a], tests[i].name) == 0;
		if (!chosen)
			continue;
		int before = failed;
		uint64_t t0 = rw_monotonic_ns();
		tests[i].fn();
		printf("%-24s %s (%.0f ms)\n", tests[i].name, failed == before ? "ok" : "FAILED",
		       (double)(rw_monotonic_ns() - t0) / 1e6);
	}
	printf("C tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
