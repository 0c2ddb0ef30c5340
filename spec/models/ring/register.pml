/*
 * register.pml (model D, single-producer part with the registry): single-producer publish (5.3)
 * with its gating scan and cached bound, consuming (5.5, single mode, gated on the producer),
 * registering a consumer mid-stream (5.7 steps 1-4 and 6), taking over an entry whose owner is
 * dead (5.7 "Taking over", including an entry still starting, which goes on from step 6) and
 * evicting a dead consumer (5.7 "Evicting"), of spec/LAYOUT.md 2.0 as revised by f37ebb5.
 *
 * Old rules behind flags (each must give a counterexample, see README.md):
 *  -DOLD_START     the draft 2.0 steps 4 and 6: provisional cursor = the count, and *oldest*
 *                  stores the minimum cursor of the other active required entries if that is lower
 *                  than the provisional one (never below count - capacity), so it may lower a cursor
 *                  the producer has seen (-DLOWERED_ONLY: P1 and P2 count only after such a
 *                  lowering, to show that counterexample rather than the first one found);
 *  -DOLD_TAKEOVER  the draft 2.0 takeover: CAS owner from the dead owner to the taker, and no
 *                  generation bump (the taker holds the dead owner's registration);
 *  -DOLD_EVICT     an evictor that loads owner first, then state (f37ebb5 made it state first).
 * Fixes of findings in the f37ebb5 text (README.md, F3 and F4), each off by default (= the text):
 *  -DFIX_TAKE6     a taker that goes on from step 6 never stores a start below its entry's cursor
 *                  (which the dead owner may have raised at step 6 before dying);
 *  -DFIX_RESCAN    the producer's gating scan loads every entry's state a second time after the
 *                  minimum and scans again if one changed (a double collect).
 * Diagnostic: -DNOP3 turns P3 off (to see the overwrite that follows a P3 failure).
 *
 * Peers (process numbers are owner identities, never reused; 0 is "never owned"):
 *  1 the producer: publishes NEV events one per publish (n = 1) and, while it waits for room,
 *    evicts every active entry whose owner it finds dead (the producer's liveness, 5.7 Evicting);
 *  2 Y: a required consumer registered before the run (entry YENT, default 0; cursor 0), reading
 *    (-DNOY: absent);
 *  3 X: a required consumer that registers by 5.7 (steps 2-4 and 6: step 1 finds nothing for the
 *    first attacher of a name), then reads (-DNOX: absent);
 *  4 X': -DXTAKER: a restarted X (same name), which starts once X has been killed: step 1 finds
 *    X's entry (claiming or active, owner dead) and takes it over, or it registers afresh;
 *  5 Y': -DYTAKER: the same for Y.
 * Every attacher chooses *latest* or *oldest* at step 6 (a nondeterministic choice). All
 * consumers are required; depends_on is 0. Death at any step of the processes in KILLMASK (at most
 * MAXKILL kills; KILLPH restricts X's deaths to some phases). X and Y have distinct names and a
 * restarted consumer starts only after the one it replaces was killed, so no two live attachers
 * share a name: step 5 never finds a duplicate and is not modelled (its loads decide nothing).
 * Not modelled: 5.3 steps 2 and 5 (claimed, wakes: waiting is polling, see common.pml),
 * heartbeats and stalls (the producer evicts only dead owners), poison, producer_state (the end
 * of the stream is a consumer's next reaching NEV), deregistration, depends_on, optional
 * consumers, name_len, lost, gaps_seen.
 *
 * FOLDS (two loads or stores in one step, where splitting them adds no outcome):
 *  - the producer's scan loads an entry's state and flags together: flags are written while the
 *    entry is claiming, and the required bit never changes while it is active;
 *  - step 1 loads an entry's state and name together: a name is written only while its entry is
 *    claiming (after the claiming CAS), so a split load sees no other combination;
 *  - step 4 writes flags and name with its load of the count: nobody reads them before the
 *    activation (a step-1 scanner compares the name of a claiming entry, see the previous fold);
 *  - a consumer loads its entry's state and owner together (5.5 steps 2 and 4): the evictor
 *    changes state before owner, and a taker changes owner only once the owner is dead;
 *  - FIX_TAKE6 loads its own cursor with the count: only the entry's (dead) owners wrote it.
 * Every other step is one load, store or CAS of one shared word, with the private computation
 * on its result (private steps of their own would only multiply states: spin's partial order
 * reduction does not remove them here).
 *
 * Properties (assertions):
 *  P1 the producer never writes a slot whose sequence a live, registered (its entry still holds
 *     its state and owner) and started (cursor chosen) consumer has not yet delivered;
 *  P2 no consumer delivers a slot holding another sequence than the one it expects;
 *  P3 (new rules) when an entry's cursor is stored at step 6 as s: s is at least the provisional
 *     cursor of step 4, the producer has written nothing at or after s + capacity (its next is at
 *     most s + capacity) and its cached bound lets it write no further (bound at most s, in cursor
 *     terms): the claim of 5.7 "every bound taken before that moment is at most s + capacity" for
 *     the bound in use (a scan still in progress is checked by P1 when its bound is used);
 *  P4 an eviction whose compare-and-swap succeeds never removes a registration that a live
 *     process holds (has finished taking over or registering) other than the owner the evictor
 *     judged dead;
 *  P5 the activation CAS of step 4 never fails (nobody changes a claiming entry held by its
 *     claimer);
 *  and no invalid end state: every consumer finishes or stops, the producer publishes all.
 */
#include "common.pml"

#undef WAKE_C
#undef WAKE_P
#undef WAKE_ALL
/* consumers 2-5 poll published and their own entry's state and owner; the producer polls every
   entry's state, flags, cursor and owner, and the liveness of owners */
#define WAKE_C   dC = 60          /* published: every consumer */
#define WAKE_P   dP = 2           /* a cursor, a liveness: the producer */
#define WAKE_E(i) dP = 2; \
  dC = dC | ((myent[2] == (i)) << 2) | ((myent[3] == (i)) << 3) | \
            ((myent[4] == (i)) << 4) | ((myent[5] == (i)) << 5)   /* entry i's state or owner */

#ifndef CAP
#define CAP 2
#endif
#ifndef NEV
#define NEV 3
#endif
#ifndef NE
#define NE 2                      /* registry_capacity */
#endif
#ifndef MAXKILL
#define MAXKILL 1
#endif
#ifndef YENT
#define YENT 0                    /* Y's entry (X claims the first claimable one) */
#endif
#ifndef KILLMASK                  /* bit p: process p may be killed (2 Y, 3 X, 4 X', 5 Y') */
#define KILLMASK 12
#endif
#ifndef KILLPH                    /* bit f: X may be killed while in phase f (see phase[]) */
#define KILLPH 15
#endif

/* 4.3 state: bits 0-2 state, bits 3-7 generation */
#define C_FREE     0
#define C_CLAIMING 1
#define C_ACTIVE   2
#define C_CLOSED   3
#define C_EVICTED  4
#define CS(x)      ((x) & 7)
#define CG(x)      ((x) >> 3)
#define CMK(s, g)  ((s) | ((g) << 3))

/* 4.3 flags */
#define F_REQ   1
#define F_START 2

#define NAME_Y 1
#define NAME_X 2

/* COARSE: a consumer does 5.5 steps 1-2 up to its cursor store (the load of published, and for each
   event the slot's load, the registration check and the delivery) in one step. By the new rules a
   live consumer is never evicted (only dead owners are, and P4 checks that), so its check always
   passes; an overwrite of a slot it has not delivered yet is caught by P1 at the producer's write,
   and its cursor store stays a step of its own. Only for runs of the new rules. */

/* ---- the segment ---- */
byte published;               /* 4.1 published */
byte slot[CAP];               /* 4.6: the sequence last written into the slot */
byte cst[NE];                 /* 4.3 entries: state (with generation), flags, owner, name, cursor */
byte cflags[NE];
byte cowner[NE];
byte cname[NE];
byte ccur[NE];
bool alive[6];

/* ---- ghosts ---- */
bool killed[6];
bool owns[6];                 /* p holds a registration (finished taking over or claiming) */
byte myent[6];                /* its entry */
byte myst[6];                 /* and the state word of its registration */
byte rd[6];                   /* the next sequence p delivers once its start is chosen; 255 before */
byte pnext;                   /* the producer's private next (5.3) and cached bound, global so */
byte pbound;                  /* that P1 and P3 can read them */
byte gprov[NE];               /* the provisional cursor stored in the entry at step 4 */
byte phase[6];                /* an attacher's phase: 0 before it holds an owner word, 1 holds one
                                 (steps 3-4, or taking over), 2 active and starting (from step 4's
                                 activation until step 6 clears bit 1), 3 reading */
byte kills;
bool lowered;                 /* OLD_START: a step 6 stored a cursor below its provisional one */

/* LOWERED_ONLY (with OLD_START): P1 and P2 count only once some step 6 has lowered a cursor, so
   that the run shows the lowering counterexample rather than the first one found */
#ifdef LOWERED_ONLY
#define LOW_ONLY lowered
#else
#define LOW_ONLY true
#endif

/* P1: writing sequence c overwrites c - CAP: no live, registered, started consumer still needs it */
#define NEEDS(p, c) (alive[p] && owns[p] && rd[p] != 255 && cst[myent[p]] == myst[p] && \
                     cowner[myent[p]] == p && rd[p] + CAP <= (c))
/* P4: an eviction of entry i from state st, judged against owner o, removes live p's registration */
#define ROBS(p, i, st, o) (alive[p] && owns[p] && myent[p] == (i) && myst[p] == (st) && p != (o))

active proctype Killer()
{
end_k:
  do                                        /* it may also never kill again: no break needed */
  :: atomic { (KILLMASK & 4)  && alive[2] && kills < MAXKILL -> alive[2] = false; killed[2] = true; kills++; WAKE_P }
  :: atomic { (KILLMASK & 8)  && alive[3] && kills < MAXKILL && (KILLPH & (1 << phase[3])) ->
              alive[3] = false; killed[3] = true; kills++; WAKE_P }
  :: atomic { (KILLMASK & 16) && alive[4] && kills < MAXKILL -> alive[4] = false; killed[4] = true; kills++; WAKE_P }
  :: atomic { (KILLMASK & 32) && alive[5] && kills < MAXKILL -> alive[5] = false; killed[5] = true; kills++; WAKE_P }
  od
}

/* the producer's private decision after a publish (5.3 step 6, then step 1 for the next one):
   done, within the cached bound (write), or a recompute of the bound (scan) */
#define P_DECIDE \
  if \
  :: pnext == NEV -> goto pout \
  :: else \
  fi; \
  end = pnext + 1;                          /* 5.3 step 1: end = next + n (n = 1) */ \
  if \
  :: end <= pbound + CAP -> goto write      /* within the cached bound */ \
  :: else                                   /* end - capacity exceeds it: recompute */ \
  fi; \
  dP = 0; m = 255; i = 0; goto scan

proctype Producer()
{
  byte me = 1;
  byte end, m, i, st, o, ph;
#ifdef FIX_RESCAN
  byte sv[NE];                              /* the state words of the first pass */
#endif

  {
  atomic { P_DECIDE };                      /* the cached bound at creation: the count published, 0 */
scan:
  do                                        /* 5.3 step 1: the gating scan */
  :: atomic {                               /* state (acquire) active, flags with the required bit */
       i < NE && ph == 0 ->                 /* (one step: FOLDS) */
#ifdef FIX_RESCAN
       sv[i] = cst[i];                      /* remembered for the second pass */
#endif
       if
       :: CS(cst[i]) == C_ACTIVE && (cflags[i] & F_REQ) -> ph = 1
       :: else -> i++
       fi
     }
  :: atomic {                               /* its cursor (acquire) */
       ph == 1 ->
       if
       :: ccur[i] < m -> m = ccur[i]
       :: else
       fi;
       ph = 0; i++
     }
#ifdef FIX_RESCAN
  :: atomic { i == NE && ph == 0 -> i = 0; ph = 3 }   /* finding F4's fix: a second pass */
  :: atomic {                               /* loads every entry's state again: */
       ph == 3 && i < NE ->
       if
       :: cst[i] != sv[i] ->                /* one changed during the scan: scan again */
         i = 0;
         do
         :: i < NE -> sv[i] = 0; i++
         :: else -> break
         od;
         i = 0; ph = 0; m = 255
       :: else -> sv[i] = 0; i++
       fi
     }
#endif
  :: atomic {
#ifndef FIX_RESCAN
       i == NE && ph == 0 ->
#else
       i == NE && ph == 3 -> ph = 0;
#endif
       i = 0;
       if
       :: m == 255 -> pbound = pnext        /* none: the count it had published, never higher */
       :: else -> pbound = m
       fi;
       m = 0;
       if
       :: end <= pbound + CAP -> goto write
       :: else -> break                     /* wait while end - capacity > bound */
       fi
     }
  od;
  do                                        /* 5.7 Evicting: MAY remove a dead required consumer */
#ifndef OLD_EVICT
  :: atomic {                               /* load state as st first */
       i < NE && ph == 0 ->
       st = cst[i];
       if
       :: CS(st) == C_ACTIVE -> ph = 1
       :: else -> st = 0; i++
       fi
     }
  :: atomic {                               /* then owner as o, and judges it */
       ph == 1 ->
       o = cowner[i];
       if
       :: !alive[o] -> ph = 2               /* dead (section 8) */
       :: else -> ph = 0; st = 0; o = 0; i++
       fi
     }
#else
  :: atomic { i < NE && ph == 0 -> o = cowner[i]; ph = 1 }   /* old: owner first */
  :: atomic {                               /* then state */
       ph == 1 ->
       st = cst[i];
       if
       :: CS(st) == C_ACTIVE && !alive[o] -> ph = 2
       :: else -> ph = 0; st = 0; o = 0; i++
       fi
     }
#endif
  :: atomic {                               /* CAS state from st (active) to evicted, same generation */
       ph == 2 ->
       if
       :: cst[i] == st ->
         assert(!ROBS(2, i, st, o) && !ROBS(3, i, st, o) &&
                !ROBS(4, i, st, o) && !ROBS(5, i, st, o));   /* P4 */
         cst[i] = CMK(C_EVICTED, CG(st)); WAKE_E(i); ph = 3
       :: else -> ph = 0; st = 0; o = 0; i++
       fi
     }
  :: atomic {                               /* then owner from o to 0 (then wakes both words) */
       ph == 3 ->
       if
       :: cowner[i] == o -> cowner[i] = 0; WAKE_E(i)
       :: else
       fi;
       ph = 0; st = 0; o = 0; i++
     }
  :: atomic { i == NE && ph == 0 -> i = 0; break }
  od;
  atomic { (dP & ME) -> dP = 0; m = 255; goto scan }   /* waits until a word of its scan or a liveness changes */
write:
  atomic {                                  /* 5.3 step 3: write the event into slot next % CAP */
    assert(!LOW_ONLY || (!NEEDS(2, pnext) && !NEEDS(3, pnext) && !NEEDS(4, pnext) && !NEEDS(5, pnext)));   /* P1 */
    slot[pnext % CAP] = pnext
  };
  atomic { published = end; WAKE_C; pnext = end; P_DECIDE }   /* 5.3 step 4 (release); step 6 */
pout:
  skip
  } unless { !alive[me] };
  atomic { alive[me] = false; WAKE_P; end = 0; m = 0; i = 0; st = 0; o = 0; ph = 0 }
}

/* the reset before a (re)scan of 5.7 step 1 */
#define TO_STEP1 i = 0; tk = 255; st = 0; o = 0; ph = 0; goto step1
/* the next entry other than its own (5.7 step 6: "the other active required entries") */
#define NEXT_OTHER i++; if :: i == e -> i++ :: else fi

/* a consumer: e0 != 255: registered before the run in entry e0 (Y); otherwise it attaches by 5.7
   with name nm, once process pred (if any) has been killed (a restarted consumer) */
proctype Consumer(byte me; byte nm; byte pred; byte e0)
{
  byte e, tk, st, o, f, k, m, s, next, hi, v, i, ph;
  bool got;

end_restart:
  {
  atomic {
    pred == 0 || killed[pred];              /* a restarted consumer starts after pred was killed */
    if
    :: e0 != 255 -> e = e0; goto readloop   /* registered before the run */
    :: e0 == 255 && pred == 0 -> goto step2   /* a first attacher of its name: step 1 finds nothing */
    :: else -> TO_STEP1                     /* (no entry holds the name before it writes it) */
    fi
  };

step1:
  do                                        /* 5.7 step 1: scan the whole registry for entries */
  :: atomic {                               /* claiming or active with its name (state, then name: */
       i < NE && ph == 0 ->                 /* one step, see the header) */
       st = cst[i];
       if
       :: (CS(st) == C_CLAIMING || CS(st) == C_ACTIVE) && cname[i] == nm -> ph = 1
       :: else -> st = 0; i++
       fi
     }
  :: atomic {                               /* its owner */
       ph == 1 ->
       o = cowner[i];
       if
       :: alive[o] && CS(st) == C_ACTIVE -> goto out   /* active, owner alive: "duplicate name" */
       :: !alive[o] -> tk = i               /* active or claiming, owner dead: take it over */
       :: else
       fi;
       ph = 0; st = 0; o = 0; i++
     }
  :: atomic {
       i == NE && ph == 0 ->
       i = 0;
       if
       :: tk == 255 -> goto step2
       :: else -> e = tk; tk = 0; break
       fi
     }
  od;

  /* 5.7 Taking over */
  st = cst[e];                              /* load state as st */
  atomic {                                  /* then owner as o, and finds it dead */
    o = cowner[e];
    if
    :: (CS(st) != C_ACTIVE && CS(st) != C_CLAIMING) || alive[o] -> TO_STEP1   /* no longer: scan again */
    :: else
    fi
  };
  atomic {                                  /* CAS owner from o to the taker's identity */
    if
    :: cowner[e] == o ->
      cowner[e] = me; WAKE_E(e); phase[me] = 1; o = 0;
#ifdef OLD_TAKEOVER
      owns[me] = true; myent[me] = e; myst[me] = st;   /* old: holds the dead owner's registration */
      if
      :: CS(st) == C_CLAIMING -> goto step4 /* a claiming entry goes on from step 4 */
      :: else -> goto takeflags
      fi
#endif
    :: else -> TO_STEP1                     /* only the winner goes on */
    fi
  };
  /* (stores heartbeat_ns: not modelled) */
  atomic {                                  /* CAS state from st to the same state, generation g + 1 */
    if
    :: cst[e] == st ->
      cst[e] = CMK(CS(st), CG(st) + 1); WAKE_E(e);
      owns[me] = true; myent[me] = e; myst[me] = cst[e];
      /* (the step-5 scan: finds no live duplicate in this model, see the header) */
      if
      :: CS(st) == C_CLAIMING -> st = myst[me]; goto step4   /* a claiming entry goes on from step 4 */
      :: else -> st = 0; goto takeflags
      fi
    :: else
    fi
  };
  atomic {                                  /* evicted meanwhile: clear owner, start again at step 1 */
    if
    :: cowner[e] == me -> cowner[e] = 0; WAKE_E(e)
    :: else
    fi;
    phase[me] = 0; TO_STEP1
  };
takeflags:
  atomic {                                  /* an active entry: its flags */
    f = cflags[e];
    if
    :: f & F_START -> f = 0; st = 0; phase[me] = 2; goto step6   /* still starting: from step 6 */
    :: else -> f = 0; st = 0
    fi
  };
  atomic { next = ccur[e]; rd[me] = next; phase[me] = 3; goto readloop }   /* resumes at its cursor */

step2:
  do                                        /* 5.7 step 2: choose an entry E */
  :: atomic { i < NE && ph == 0 -> st = cst[i]; ph = 1 }   /* load its state as st */
  :: atomic {                               /* and owner as o */
       ph == 1 ->
       o = cowner[i];
       if                                   /* claimable: free, closed or evicted and o 0 or dead, */
       :: CS(st) != C_ACTIVE && !alive[o] -> ph = 2   /* or claiming and o dead */
       :: else -> ph = 0; st = 0; o = 0; i++
       fi
     }
  :: atomic {                               /* CAS owner from o to its identity */
       ph == 2 ->
       if
       :: cowner[i] == o -> cowner[i] = me; WAKE_E(i); phase[me] = 1; e = i; i = 0; o = 0; ph = 0; break
       :: else -> ph = 0; st = 0; o = 0; i++   /* on failure choose another */
       fi
     }
  :: atomic { i == NE && ph == 0 -> goto out }   /* none: "registry full" */
  od;
  atomic {                                  /* 5.7 step 3: CAS state from st to claiming, g + 1 */
    if
    :: cst[e] == st ->
      cst[e] = CMK(C_CLAIMING, CG(st) + 1); WAKE_E(e);
      owns[me] = true; myent[me] = e; myst[me] = cst[e]; st = cst[e]; goto step4
    :: else
    fi
  };
  atomic {                                  /* on failure clear owner, choose again from step 2 */
    if
    :: cowner[e] == me -> cowner[e] = 0; WAKE_E(e)
    :: else
    fi;
    phase[me] = 0; st = 0; e = 0; goto step2
  };

step4:
  atomic {                                  /* 5.7 step 4: flags (starting), name (FOLDS), then the */
    cflags[e] = F_REQ | F_START; cname[e] = nm;   /* provisional cursor from the count: */
    k = published;
#ifndef OLD_START
    if                                      /* count - capacity, or 0 */
    :: k >= CAP -> k = k - CAP
    :: else -> k = 0
    fi
#endif                                      /* old: the count itself */
  };
  atomic { ccur[e] = k; gprov[e] = k; k = 0 };   /* (claiming: nobody polls it) */
  atomic {                                  /* CAS state from claiming to active, same generation */
    assert(cst[e] == st);                   /* P5 */
    cst[e] = CMK(C_ACTIVE, CG(st)); WAKE_E(e); myst[me] = cst[e]; phase[me] = 2; st = 0
  };
  /* 5.7 step 5: no live duplicate in this model (see the header) */

step6:
  atomic {                                  /* 5.7 step 6: the count (loaded again) */
    k = published;
#ifdef FIX_TAKE6
    v = ccur[e];                            /* finding F3's fix: its entry's cursor, which only its */
#endif                                      /* owners write (FOLDS), is a floor for s */
    if
    :: s = k; k = 0; goto store6            /* latest: s = the count */
    :: i = 0;                               /* oldest: the minimum of the count and of the cursors */
       if                                   /* of the other active required entries */
       :: i == e -> i++
       :: else
       fi;
#ifndef OLD_START
       m = k
#else
       m = gprov[e]                         /* old: from the provisional cursor, lowered below */
#endif
    fi
  };
  do
  :: atomic {
       i < NE && ph == 0 ->
       st = cst[i];
       if
       :: CS(st) == C_ACTIVE -> ph = 1
       :: else -> st = 0; NEXT_OTHER
       fi
     }
  :: atomic {
       ph == 1 ->
       f = cflags[i];
#ifndef OLD_START
       if                                   /* required, and flags bit 1 (starting) clear */
       :: (f & F_REQ) && !(f & F_START) -> ph = 2
#else
       if                                   /* old: every active required entry */
       :: f & F_REQ -> ph = 2
#endif
       :: else -> ph = 0; NEXT_OTHER
       fi;
       st = 0; f = 0
     }
  :: atomic {                               /* its cursor */
       ph == 2 ->
       if
       :: ccur[i] < m -> m = ccur[i]
       :: else
       fi;
       ph = 0; NEXT_OTHER
     }
  :: atomic {
       i >= NE && ph == 0 ->
       i = 0;
#ifdef OLD_START
       if                                   /* old: if lower than the provisional one, never below */
       :: k >= CAP && m < k - CAP -> m = k - CAP   /* count - capacity */
       :: else
       fi;
#endif
       s = m; m = 0; k = 0; break
     }
  od;
store6:
  atomic {                                  /* store cursor = s (release) */
#ifdef FIX_TAKE6
    if                                      /* never below the cursor a dead owner chose (F3) */
    :: s < v -> s = v
    :: else
    fi;
    v = 0;
#endif
#if !defined(OLD_START) && !defined(NOP3)
    assert(s >= gprov[e] && pbound <= s && pnext <= s + CAP);   /* P3 */
#endif
    lowered = lowered || (s < gprov[e]);
    ccur[e] = s; WAKE_P; next = s; rd[me] = s; s = 0
  };
  atomic { cflags[e] = F_REQ; phase[me] = 3 };   /* clear bit 1 of flags (release); 5.5 step 3: polling */

readloop:
#ifndef COARSE
  atomic {                                  /* 5.5 step 1: hi = published (acquire) */
    if
    :: next >= NEV -> goto out              /* the end of the stream (idealised) */
    :: else
    fi;
    dC = dC & ~ME; hi = published; got = (hi > next)
  };
  do                                        /* 5.5 step 2: read next .. hi - 1 */
  :: atomic { next < hi && ph == 0 -> v = slot[next % CAP]; ph = 1 }   /* the event's loads */
  :: atomic {                               /* F4, then its entry's state and owner (FOLDS) */
       ph == 1 ->
       if
       :: cst[e] != myst[me] || cowner[e] != me -> goto evicted   /* no longer its registration's: */
       :: else                                                   /* discards the event */
       fi;
       assert(!LOW_ONLY || v == next);      /* P2: delivers the sequence it expects */
       next++; rd[me] = next; v = 0; ph = 0
     }
  :: atomic {
       next >= hi && ph == 0 ->
       if
       :: got -> ccur[e] = hi; WAKE_P; hi = 0; got = false; goto readloop   /* cursor = hi (release) */
       :: else -> break
       fi
     }
  od;
#else
  atomic {                                  /* 5.5 steps 1-2 in one step (COARSE) */
    if
    :: next >= NEV -> goto out
    :: else
    fi;
    dC = dC & ~ME; hi = published; got = (hi > next);
    do
    :: next < hi ->
      v = slot[next % CAP];
      if
      :: cst[e] != myst[me] || cowner[e] != me -> goto evicted
      :: else
      fi;
      assert(!LOW_ONLY || v == next);       /* P2 */
      next++; rd[me] = next; v = 0
    :: else -> break
    od
  };
  if
  :: got -> atomic { ccur[e] = hi; WAKE_P; hi = 0; got = false; goto readloop }   /* cursor = hi */
  :: else
  fi;
#endif
  atomic {                                  /* 5.5 step 4: its own registration (FOLDS) */
    if
    :: cst[e] != myst[me] || cowner[e] != me -> goto evicted
    :: else
    fi;
    hi = 0
  };
  atomic { (dC & ME) -> goto readloop };    /* otherwise it waits */
evicted:
  atomic {                                  /* an owner that finds itself evicted clears owner */
    if
    :: cowner[e] == me -> cowner[e] = 0; WAKE_E(e)
    :: else
    fi;
    owns[me] = false
  };
out:
  skip
  } unless { !alive[me] };
  atomic {                                  /* exited or killed: dead (section 8); its private */
    alive[me] = false; WAKE_P;              /* values are gone (cleared: they split no states) */
    e = 0; tk = 0; st = 0; o = 0; f = 0; k = 0; m = 0; s = 0; next = 0; hi = 0; v = 0; i = 0; ph = 0;
    got = false
  }
}

init
{
  atomic {
    alive[1] = true;
    rd[2] = 255; rd[3] = 255; rd[4] = 255; rd[5] = 255;
    run Producer();
#ifndef NOY
    alive[2] = true;                        /* Y: entry YENT, registered and started before the run */
    cst[YENT] = CMK(C_ACTIVE, 1); cflags[YENT] = F_REQ; cowner[YENT] = 2; cname[YENT] = NAME_Y;
    owns[2] = true; myent[2] = YENT; myst[2] = CMK(C_ACTIVE, 1); rd[2] = 0; phase[2] = 3;
    run Consumer(2, NAME_Y, 0, YENT);
#endif
#ifndef NOX
    alive[3] = true; run Consumer(3, NAME_X, 0, 255);
#endif
#ifdef XTAKER
    alive[4] = true; run Consumer(4, NAME_X, 3, 255);
#endif
#ifdef YTAKER
    alive[5] = true; run Consumer(5, NAME_Y, 2, 255)
#endif
  }
}
