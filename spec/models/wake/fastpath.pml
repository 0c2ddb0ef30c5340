/*
 * fastpath.pml: model 1, the wakers' fast path (spec/LAYOUT.md 5.3 steps 4-5, 5.5 steps 2-3,
 * 5.6 blocker registration). One producer publishes N events into a ring of CAP slots, then
 * closes or idles for ever; consumer 0 reads behind it; with -DNC=2 consumer 1 reads behind
 * consumer 0 (depends_on). Both directions of waiting: consumers for events, the producer for
 * room. -DOLD_FASTPATH: the 1.0 rule (blockers count loaded before the cursor store).
 */
#include "ring.pml"

init {
  atomic {
    run Producer();
    run Consumer(0);
#if NC == 2
    run Consumer(1);
#endif
  }
}
