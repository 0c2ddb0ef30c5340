/*
 * ring.pml: the wait/wake protocol of spec/LAYOUT.md, format 2.0, single-producer mode, step by
 * step: 5.3 (publish, close), 5.5 (consuming), 5.6 (waiting and waking), 5.7 (deregistration,
 * eviction), 5.9 (poisoning). Every statement that performs a step of the spec cites it.
 * Included by the scenario models (fastpath.pml, poison.pml, leave.pml), which choose the peers.
 *
 * Granularity: one Promela statement is one atomic access of a shared word (a load, a store, a
 * read-modify-write) or one system call; local computation rides along with the access it follows.
 * Promela interleavings are sequentially consistent, so release/acquire/seq-cst accesses are all
 * plain steps here and the fences F1 and F2 order nothing more; they appear as comments at their
 * place. F3 (membarrier) is kept as an atomic step of its own (see README.md).
 *
 * The 1.0 rules (git show 1279196:spec/LAYOUT.md) are behind flags:
 *   OLD_FASTPATH  1.0 5.3 step 4-5, 5.5 steps 2-3 and 5.6: wakers load the blockers count BEFORE
 *                 the cursor store and skip the handshake when it was 0; a blocker registers
 *                 without a barrier and bounds its kernel waits to 1 ms during the first 100 ms.
 *   OLD_RECHECK   1.0 5.6 step 3 (re-check only the publish, or the room) and 1.0 5.9 (poison
 *                 store release; wake of 5.6, skipping a word whose waiters count is 0).
 *   OLD_LEAVE     1.0 5.7: deregistration (a release store of closed) and eviction (CAS) wake
 *                 nobody, and a waiter does not re-check its registration.
 * and the fixes proposed in README.md, "Findings", behind FIX_* flags.
 *
 * Futex: futex_wait(word, w) compares and enqueues the caller in one atomic step (the kernel
 * does both under the futex hash-bucket lock), then blocks until a futex_wake of that word
 * dequeues it. futex_wake wakes every waiter of the word. At most SPURIOUS spurious returns
 * happen in a run (a bound, so that a lost wake is still a state with nothing left to run).
 * There are no timeouts in the 2.0 model: nothing in the spec may depend on one for a wake.
 */

#ifndef CAP
#define CAP 2           /* capacity */
#endif
#ifndef N
#define N 3             /* events the producer publishes (one per publish, n = 1) */
#endif
#ifndef NC
#define NC 1            /* consumers, 1 or 2; consumer 1 (if any) depends_on consumer 0 */
#endif
#if NC != 1 && NC != 2
#error NC must be 1 or 2
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif

#define ACTIVE  2       /* entry states, 4.3 */
#define CLOSED  3
#define EVICTED 4
#define NONE    255

/* header (3) */
byte producer_state = 1;        /* 1 open, 2 closed */
byte poison_state = 0;          /* 0 none, 1 recording, 2 recorded */
byte consumer_blockers = 0;
byte producer_blockers = 0;
/* cursors (4.1) */
byte published = 0;
byte claimed = 0;
/* wait words (4.2) */
byte consumer_wake = 0;
byte consumer_waiters = 0;
byte producer_wake = 0;
byte producer_waiters = 0;
/* consumer registry (4.3): registered before the run, required. The generation does not change
   in these models (no takeover, no reuse), so "active with its generation" is state == ACTIVE.
   owner: the owner identity of each entry, ME while its consumer holds it, 0 once given up
   (5.7). Only an entry's own consumer compares its word with its identity, so one value serves
   for every entry. */
#define ME 1
byte state[NC] = ACTIVE;
byte owner[NC] = ME;
#define REGISTERED(i) (state[i] == ACTIVE && owner[i] == ME)
byte cursor[NC] = 0;            /* also the consumer's private next, which equals it (5.5) */
/* slots (4.6): slot s & (CAP-1) holds the sequence of the event written there; NONE unwritten */
byte slot[CAP] = NONE;

/* the producer's private next (5.3); global only so that the watchdog can read it */
byte pnext = 0;

/* the futex queue: asleep[0] the producer, on producer_wake; asleep[1 + i] consumer i, on
   consumer_wake */
bit asleep[NC + 1];
byte spurious = SPURIOUS;
#ifdef OLD_FASTPATH
bit window[NC + 1];             /* 1.0: within the first 100 ms after the blocker's increment */
#endif

/* futex_wake(word, INT_MAX): one system call, so one atomic step */
inline futex_wake_consumers() {
#if NC == 1
  asleep[1] = 0
#else
  d_step { asleep[1] = 0; asleep[2] = 0 }
#endif
}
inline futex_wake_producer() {
  asleep[0] = 0
}

/* "if nonzero, increment the wake word and wake all waiters on it" (5.3 step 5, 5.5 step 3,
   5.6 wake unconditionally): the load of the waiters word, the increment, the wake */
inline wake_consumer_word() {
  if
  :: consumer_waiters != 0 ->
     consumer_wake++;
     futex_wake_consumers()
  :: else
  fi
}
inline wake_producer_word() {
  if
  :: producer_waiters != 0 ->
     producer_wake++;
     futex_wake_producer()
  :: else
  fi
}

/* the sleep of futex_wait, after the atomic compare-and-enqueue: returns on a wake, on one of
   the SPURIOUS spurious returns, and (1.0 only) on the 1 ms bound while the window is open.
   Only used behind an end label: a sleep is a place where a waiter may legitimately stay for
   ever, provided that what it waits for has not happened, which the watchdog asserts. */
#ifdef OLD_FASTPATH
#define OLD_WINDOW(k) \
  :: d_step { window[k] && asleep[k] -> asleep[k] = 0 }; break  /* 1.0 5.6: 1 ms bound */ \
  :: window[k] -> window[k] = 0                       /* 1.0 5.6: the first 100 ms pass (at any */ \
                                                      /* moment: nothing bounds the waker's delay) */
#else
#define OLD_WINDOW(k)
#endif
#define SLEEP(k) \
  do \
  :: !asleep[k] -> break \
  :: d_step { spurious > 0 && asleep[k] -> spurious--; asleep[k] = 0 }; break \
  OLD_WINDOW(k) \
  od

/* 5.6 blocker registration, steps 1 and 2 (1.0: the add alone; the window opens) */
#ifdef OLD_FASTPATH
#define REGISTER_BLOCKER(count, k) \
  count++;                      /* 1.0 5.6: seq-cst add */ \
  window[k] = 1
#else
#define REGISTER_BLOCKER(count, k) \
  count++;                      /* 5.6 blocker step 1: seq-cst add */ \
  skip                          /* 5.6 blocker step 2: membarrier (F3), an atomic step */
#endif

/* the gating bound of 5.3 step 1: the minimum cursor of the active required entries, loading
   state then cursor of each; or the count published when it was computed if there is none */
inline scan_bound(bound, i) {
  bound = NONE; i = 0;
  do
  :: i < NC ->
     if
     :: state[i] == ACTIVE ->                   /* 5.3 step 1: state (acquire) */
        if
        :: cursor[i] < bound -> bound = cursor[i]   /* 5.3 step 1: cursor (acquire) */
        :: else
        fi
     :: else
     fi;
     i++
  :: else -> i = 0; break
  od;
  if
  :: bound == NONE -> bound = pnext
  :: else
  fi
}

/* 5.5 step 1, single mode: hi = published (acquire); a consumer with depends_on (consumer 1
   depends on consumer 0) also takes the minimum with the cursor of the entry it depends on */
inline find_hi(me, hi) {
  hi = published;                               /* 5.5 step 1 */
  if
  :: me == 1 ->
     if
     :: cursor[0] < hi -> hi = cursor[0]        /* 5.5 step 1: depends_on cursor (acquire) */
     :: else
     fi
  :: else
  fi
}

/* the end of the stream as a consumer decides it (5.5 step 4) and as it re-checks it (5.6 step 3):
   literal 2.0: producer_state is 2 (and hi, re-read, still equal to next).
   FIX_DEP_END (README, Findings): ... and next equals published (acquire), so that a consumer
   gated on other consumers does not stop while they still have events for it. */
#ifdef FIX_DEP_END
#define STREAM_ENDS(me) (producer_state == 2 && cursor[me] == published)
#else
#define STREAM_ENDS(me) (producer_state == 2)
#endif

/* ------------------------------------------------------------------------------------------- */

proctype Producer() {
  byte end, bound = 0, b, i, w;   /* bound: the cached gating bound; cursors start at 0 */
  bit reg;                        /* registered as a blocker on the producer word (5.6) */

publish:
  if
  :: pnext == N -> goto finish
  :: else
  fi;
  end = pnext + 1;                                  /* 5.3 step 1: end = next + n, n = 1 */
  if
  :: end > CAP + bound ->                           /* 5.3 step 1: end - capacity > cached bound */
     scan_bound(bound, i);                          /* 5.3 step 1: recompute the bound */
     if
     :: poison_state != 0 -> goto poisoned          /* 5.3 step 1: load poison_state */
     :: else
     fi;
     if
     :: end > CAP + bound -> goto wait              /* 5.3 step 1: wait (5.6) while full */
     :: else
     fi
  :: else
  fi;
  claimed = end;                                    /* 5.3 step 2 (then F1) */
  slot[pnext % CAP] = pnext;                        /* 5.3 step 3 */
#ifdef OLD_FASTPATH
  b = consumer_blockers;                            /* 1.0 5.3 step 4: load consumer_blockers */
  published = end;                                  /* 1.0 5.3 step 4: store published */
  if
  :: b != 0 -> b = 0;                               /* 1.0 5.3 step 5: only if it was not 0 */
     wake_consumer_word()                           /* 1.0 5.3 step 5: waiters, wake, futex_wake */
  :: else
  fi;
#else
  published = end;                                  /* 5.3 step 4 */
  if
  :: consumer_blockers != 0 ->                      /* 5.3 step 5: load; only if not 0 (then F2) */
     wake_consumer_word()                           /* 5.3 step 5: waiters, wake, futex_wake */
  :: else
  fi;
#endif
  pnext = end;                                      /* 5.3 step 6 */
  goto publish;

wait:                                               /* 5.6, waiting for room on producer_wake */
  if
  :: !reg -> REGISTER_BLOCKER(producer_blockers, 0); reg = 1
  :: else
  fi;
  producer_waiters++;                               /* 5.6 waiter step 1 */
  w = producer_wake;                                /* 5.6 waiter step 2 */
  scan_bound(bound, i);                             /* 5.6 waiter step 3: re-scan the registry */
  if
  :: end <= CAP + bound -> d_step { producer_waiters--; w = 0 }; goto publish   /* 5.6 step 3: room */
  :: else
  fi;
#ifndef OLD_RECHECK
  if
  :: poison_state != 0 -> d_step { producer_waiters--; w = 0 }; goto publish  /* 5.6 step 3: poison */
  :: else                 /* (producer_state: single mode, the producer's own; nothing to see) */
  fi;
#endif
  atomic {                                          /* 5.6 waiter step 4: futex_wait(wake, w) */
    if
    :: producer_wake == w -> asleep[0] = 1
    :: else                                         /* returns at once: the word is not w */
    fi;
    w = 0
  };
end_sleep:
  SLEEP(0);
  producer_waiters--;                               /* 5.6 step 4: then decrements */
  if
  :: reg -> producer_blockers--; reg = 0            /* 5.6: it subtracts 1 when it leaves */
  :: true                                           /* (or stays a blocker) */
  fi;
  goto publish;                                     /* 5.6 step 4: and re-checks (5.3 step 1) */

finish:
  if
  :: producer_state = 2;                            /* 5.3 close: store producer_state = 2 */
     wake_consumer_word()                           /* 5.3 close: wake unconditionally (5.6) */
  :: skip                                           /* or idle for ever without closing */
  fi;
poisoned:
  if
  :: reg -> producer_blockers--
  :: else
  fi
}

/* 5.5, a required consumer; consumer 1 depends_on consumer 0 */
proctype Consumer(byte me) {
  byte hi, s, w, v;
  bit reg;                        /* registered as a blocker on the consumer word (5.6) */
  bit pb, cb;

top:
#ifdef MAY_DEREGISTER
  if
  :: goto deregister                                /* the application leaves, between batches */
  :: true
  fi;
#endif
  find_hi(me, hi);                                  /* 5.5 step 1 */
  if
  :: hi > cursor[me] ->                             /* 5.5 step 2: hi > next */
     s = cursor[me];
     do
     :: s < hi ->
        d_step {                                    /* 5.5 step 2: read event s */
          assert(s < published);                    /* never past published */
          assert(me == 0 || s < cursor[0]);         /* nor past the cursor it depends on */
          v = slot[s % CAP]
        };
#ifdef FIX_EVICT_READ
        if
        :: !REGISTERED(me) -> goto evicted          /* FIX_EVICT_READ: verify, then deliver */
        :: else
        fi;
#endif
        d_step {
#ifndef NO_DELIVERY_CHECK
          assert(v == s);                           /* delivered: event s itself, not lapped */
#endif
          s++
        }
     :: else ->
#ifdef OLD_FASTPATH
        pb = (producer_blockers != 0);              /* 1.0 5.5 step 2: load producer_blockers */
        cb = (consumer_blockers != 0);              /* 1.0 5.5 step 2: load consumer_blockers */
        d_step { cursor[me] = hi; hi = 0; s = 0; v = 0 }  /* 1.0 5.5 step 2: store cursor */
#else
        d_step { cursor[me] = hi; hi = 0; s = 0; v = 0 }  /* 5.5 step 2: store cursor (release) */
        pb = (producer_blockers != 0);              /* 5.5 step 3: load producer_blockers */
        cb = (consumer_blockers != 0);              /* 5.5 step 3: load consumer_blockers */
#endif
        break
     od;
     if                                             /* 5.5 step 3 (then F2 if either) */
     :: pb -> wake_producer_word()                  /* 5.5 step 3: producer word */
     :: else
     fi;
     if
     :: cb -> wake_consumer_word()                  /* 5.5 step 3: consumer word (dependants) */
     :: else
     fi;
     pb = 0; cb = 0;
     goto top
  :: else
  fi;
  /* 5.5 step 4: hi == next */
  if
  :: poison_state != 0 -> goto stop                 /* 5.5 step 4: poisoned */
  :: else
  fi;
  if
  :: STREAM_ENDS(me) ->                             /* 5.5 step 4: producer_state is 2 */
     find_hi(me, hi);                               /* 5.5 step 4: re-read hi once */
     if
     :: hi == cursor[me] -> goto ended              /* 5.5 step 4: still equal: ended */
     :: else -> goto top
     fi
  :: else
  fi;
  if
  :: !REGISTERED(me) -> goto evicted                /* 5.5 step 4: state, owner: evicted */
  :: else
  fi;
  /* 5.5 step 4: otherwise it waits (5.6), on consumer_wake */
  if
  :: !reg -> REGISTER_BLOCKER(consumer_blockers, me + 1); reg = 1
  :: else
  fi;
  consumer_waiters++;                               /* 5.6 waiter step 1 */
  w = consumer_wake;                                /* 5.6 waiter step 2 */
  find_hi(me, hi);                                  /* 5.6 waiter step 3: its condition */
  if
  :: hi > cursor[me] -> d_step { consumer_waiters--; w = 0 }; goto top
  :: else
  fi;
#ifndef OLD_RECHECK
  if
  :: poison_state != 0 -> d_step { consumer_waiters--; w = 0 }; goto top  /* 5.6 step 3: poison */
  :: else
  fi;
  if
  :: STREAM_ENDS(me) -> d_step { consumer_waiters--; w = 0 }; goto top   /* 5.6 step 3: close */
  :: else
  fi;
#ifndef OLD_LEAVE
  if
  :: !REGISTERED(me) -> d_step { consumer_waiters--; w = 0 }; goto top  /* 5.6 step 3: entry */
  :: else
  fi;
#endif
#endif
  atomic {                                          /* 5.6 waiter step 4: futex_wait(wake, w) */
    if
    :: consumer_wake == w -> asleep[me + 1] = 1
    :: else                                         /* returns at once: the word is not w */
    fi;
    w = 0; hi = 0
  };
end_sleep:
  SLEEP(me + 1);
  consumer_waiters--;                               /* 5.6 step 4: then decrements */
  if
  :: reg -> consumer_blockers--; reg = 0            /* 5.6: it subtracts 1 when it leaves */
  :: true                                           /* (or stays a blocker) */
  fi;
  goto top;                                         /* 5.6 step 4: and re-checks (5.5) */

#ifdef MAY_DEREGISTER
deregister:
#ifdef OLD_LEAVE
  state[me] = CLOSED;                               /* 1.0 5.7: store state = closed; no wake */
#else
  atomic {                                          /* 5.7 deregistering: CAS state active -> closed */
    if
    :: state[me] == ACTIVE -> state[me] = CLOSED; v = 1
    :: else -> v = 0                                /* evicted: state left alone */
    fi
  };
  atomic {                                          /* 5.7: CAS owner from its identity to 0 */
    if
    :: owner[me] == ME -> owner[me] = 0
    :: else
    fi
  };
  if
  :: v -> v = 0; wake_producer_word()               /* 5.7: wake unconditionally the producer word */
  :: else
  fi;
#endif
  goto stop;
#endif

ended:
  assert(cursor[me] == published);                  /* the stream ended: it read every event */
  goto stop;
evicted:
#ifndef OLD_LEAVE
  atomic {                                          /* 5.7: an owner that finds itself evicted */
    if                                              /* clears owner if it still holds it */
    :: owner[me] == ME -> owner[me] = 0
    :: else
    fi
  };
#endif
stop:
  if
  :: reg -> consumer_blockers--
  :: else
  fi
}

/* 5.9: a failure that stops the ring (a pipeline stage's handler under a halting policy) */
proctype Poisoner() {
  bit won;
  atomic {                                          /* 5.9: CAS poison_state 0 -> 1 */
    if
    :: poison_state == 0 -> poison_state = 1; won = 1
    :: else
    fi
  };
  if
  :: won ->
     /* 5.9: the record's plain fields (not modelled) */
     poison_state = 2;                              /* 5.9: store 2 (seq-cst; 1.0: release) */
     wake_consumer_word();                          /* 5.9: wake unconditionally both words */
     wake_producer_word()                           /* (1.0: the wake of 5.6, skipping 0) */
  :: else
  fi
}

/* 5.7 evicting consumer 0 (a peer that found it dead or stalled) */
proctype Evictor() {
  bit won;
  atomic {                                          /* 5.7 evicting: CAS state active -> evicted */
    if
    :: state[0] == ACTIVE -> state[0] = EVICTED; won = 1
    :: else
    fi
  };
#ifndef OLD_LEAVE
  if
  :: won ->
     atomic {                                       /* 5.7: CAS owner from the evicted owner's */
       if                                           /* identity to 0 */
       :: owner[0] == ME -> owner[0] = 0
       :: else
       fi
     };
     wake_consumer_word();                          /* 5.7: wake unconditionally both words */
     wake_producer_word()
  :: else
  fi
#endif
}

/* ------------------------------------------------------------------------------------------- */
/* What a waiter waits for (the 2.0 list of 5.6 step 3). The watchdog runs only when nothing else
   can (timeout), that is in a final state, and asserts that no waiter is asleep there while what
   it waits for has happened: a lost wake-up. (Any other blocked process is an invalid end state.) */

#define GATE(i)   (state[i] == ACTIVE -> cursor[i] : NONE)
#if NC == 1
#define MINGATE   GATE(0)
#define AVAIL(i)  published
#else
#define MINGATE   (GATE(0) < GATE(1) -> GATE(0) : GATE(1))
#define AVAIL(i)  (i == 0 -> published : (published < cursor[0] -> published : cursor[0]))
#endif
#define ROOM      (pnext + 1 <= CAP + (MINGATE == NONE -> pnext : MINGATE))
#define PRODUCER_WAKEABLE     (poison_state != 0 || ROOM)
#define CONSUMER_WAKEABLE(i)  (AVAIL(i) > cursor[i] || poison_state != 0 || STREAM_ENDS(i) || \
                               !REGISTERED(i))

active proctype Watchdog() {
end_watch:
  timeout ->
  assert(!(asleep[0] && PRODUCER_WAKEABLE));        /* lost wake: producer asleep with room */
  assert(!(asleep[1] && CONSUMER_WAKEABLE(0)));     /* lost wake: consumer 0 asleep */
#if NC == 2
  assert(!(asleep[2] && CONSUMER_WAKEABLE(1)))      /* lost wake: consumer 1 asleep */
#endif
}
