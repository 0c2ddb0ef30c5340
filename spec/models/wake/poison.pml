/*
 * poison.pml: model 2, poison and close must end every wait (spec/LAYOUT.md 5.9, 5.3 close,
 * 5.6 step 3 and "wake unconditionally"). One producer publishes N events, then closes or idles;
 * one consumer; a poisoner (a halting pipeline stage) poisons the ring at any moment.
 * -DOLD_RECHECK: the 1.0 rules (the waiter re-checks only its publish or room; 1.0 5.9).
 */
#include "ring.pml"

init {
  atomic {
    run Producer();
    run Consumer(0);
    run Poisoner();
  }
}
