/*
 * leave.pml: model 3, deregistration and eviction must end every wait they concern
 * (spec/LAYOUT.md 5.7, 5.6 step 3 and "wake unconditionally"). One producer publishes N events
 * into a ring of CAP slots, then closes or idles; one required consumer may deregister between
 * batches (not with -DNO_DEREGISTER); a peer may evict it at any moment (not with -DNO_EVICT).
 * -DOLD_LEAVE: the 1.0 rules (neither wakes anyone; the waiter does not re-check its
 * registration).
 */
#ifndef NO_DEREGISTER
#define MAY_DEREGISTER
#endif
#include "ring.pml"

init {
  atomic {
    run Producer();
    run Consumer(0);
#ifndef NO_EVICT
    run Evictor();
#endif
  }
}
