/*
 * mp.pml: multi-producer publish (5.4), multi-mode consuming (5.5) and passing over a dead
 * producer's claims (5.8) of spec/LAYOUT.md 2.0; -DOLD_58 gives the 1.0 text of 5.8 and of 5.4's
 * entry reclaim instead (the runs A and B of README.md).
 *
 * Peers: producer 1 is the creator and holds producer entry 0 from the start (5.1 step 2);
 * producer 2 (EV2 events, 0 = absent) holds entry 1 from the start, or attaches by 5.4 with
 * -DATTACH2; producer 3 (EV3 events, 0 = absent) attaches by 5.4 (reusing an entry, so it runs
 * the retire rule). Each producer publishes its events one per claim (n = 1), detaches and exits.
 * NCONS required consumers (identities 4, 5) are registered before anything is published
 * (consumer entries active, cursor 0). They consume (5.5), resolve dead claims (5.8), and stop at
 * the end of the stream (every producer exited and everything claimed read or passed over: the
 * creator's close, idealised) or, with -DDEADSTOP, also by the "producer dead" rule of 5.5 step 4.
 * Not modelled: 5.6 (blocking and wakes; waiting is polling, see common.pml), poison, bit 62 of
 * claimed, producer_state, heartbeats, optional consumers, consumer registration (sp.pml,
 * registry.pml).
 *
 * Properties (assertions, and invalid end states):
 *  - a consumer delivers a sequence only if it was published and reads from its slot the sequence
 *    written there (no unpublished or stale slot, no slot reused under it);
 *  - a producer writes a slot only when every live consumer has passed its previous sequence;
 *  - a published sequence is never passed over; only a sequence whose claimer is dead is passed
 *    over; a gap is delivered as a gap, never as an event;
 *  - the header's gaps never exceeds the number of sequences passed over (never counted twice),
 *    and equals it once every peer has stopped (exactly once; with -DFIX_GAPCOUNT: equals it less
 *    the resolvers that stopped between 5.8 step 4's compare-and-swap and its add, finding F1);
 *  - DEADSTOP: when 5.5 step 4's check finds no producer alive, no producer that holds an entry's
 *    owner word is alive (finding F2; -DFIX_DEADCHECK);
 *  - every consumer stops: no invalid end state, so nobody waits forever (run B).
 */
#include "common.pml"

#ifndef CAP
#define CAP 2
#endif
#ifndef NCONS
#define NCONS 1
#endif
#ifndef EV1
#define EV1 1
#endif
#ifndef EV2
#define EV2 1
#endif
#ifndef EV3
#define EV3 0
#endif
#ifndef NREAD             /* a consumer stops once it has read or passed over NREAD sequences */
#define NREAD 99
#endif
#ifndef MAXKILL
#define MAXKILL 1
#endif
#ifndef KILLMASK          /* bit p: process p may be killed (1-3 producers, 4-5 consumers) */
#define KILLMASK 14
#endif

#define NPE 2             /* producer_capacity */
#define NSEQ (EV1 + EV2 + EV3)

/* 4.5 availability word: s + 1; bit 7 stands for bit 63 (GAP) */
#define GAP 128
#define SEQ1(w) ((w) & 127)

/* 4.4 producer entry state: bits 0-1 state, bits 2-7 generation */
#define P_FREE   0
#define P_ACTIVE 1
#define P_CLOSED 2
#define P_DEAD   3
#define PS(x)    ((x) & 3)
#define PG(x)    ((x) >> 2)
#define PMK(s, g) ((s) | ((g) << 2))

/* 4.3 consumer entry state: bits 0-2 state, bits 3-7 generation */
#define C_ACTIVE  2
#define C_EVICTED 4
#define CS(x)    ((x) & 7)
#define CG(x)    ((x) >> 3)
#define CMK(s, g) ((s) | ((g) << 3))

#define CID(i) (4 + (i))

/* COARSE (the runs with two consumers, to keep them small): a consumer does 5.5 step 1, and
   step 2, each in one atomic step, and reads one producer entry (state, intent, owner) in one
   atomic step in 5.8 step 3. The steps of 5.8 themselves stay apart. */
#ifdef COARSE
#define COARSE_BEGIN atomic {
#define COARSE_END   }
#else
#define COARSE_BEGIN
#define COARSE_END
#endif

/* ---- the segment ---- */
byte claimed;                 /* 4.1 claimed (a count) */
byte avail[CAP];              /* 4.5 */
byte slot[CAP];               /* 4.6: the sequence last written into the slot */
byte gaps;                    /* 3: header gaps */
byte pst[NPE];                /* 4.4 producer entries: state, owner, intent */
byte powner[NPE];
byte pis[NPE];
byte pie[NPE];
byte cst[NCONS];              /* 4.3 consumer entries (all required): state, owner, cursor */
byte cowner[NCONS];
byte ccur[NCONS];
bool alive[6];

/* ---- ghosts ---- */
byte claimer[NSEQ + 2];       /* who won the CAS of claimed for sequence s */
short pubd;                   /* bit s: s was published (5.4 step 5) */
short gapped;                 /* bit s: s was passed over (a CAS made its word GAP) */
byte passed;                  /* number of sequences passed over */
byte owing;                   /* resolvers between a successful GAP CAS and their add */
byte rd[NCONS];               /* sequences consumer i has read or passed over */
bool att[4];                  /* producer p has won an entry's owner word */
byte kills;

active proctype Killer()
{
end_k:
  do
  :: atomic { (KILLMASK & 2)  && alive[1] && kills < MAXKILL -> alive[1] = false; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 4)  && alive[2] && kills < MAXKILL -> alive[2] = false; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 8)  && alive[3] && kills < MAXKILL -> alive[3] = false; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 16) && alive[4] && kills < MAXKILL -> alive[4] = false; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 32) && alive[5] && kills < MAXKILL -> alive[5] = false; kills++; WAKE_ALL }
  :: break
  od
}

proctype Producer(byte me; byte nev; byte pre; byte from)
{
  byte e, st, o, w, c, end, bound, i, t, L, k, mygen;
  bool ok;

  {
  if
  :: pre != 255 ->
    e = pre; mygen = 1                      /* attached before the run (5.1 step 2 for the creator) */
  :: else ->
attach:
    e = 0;
scan:
    if
    :: e == NPE -> goto out                 /* "producer registry full" */
    :: else
    fi;
#ifndef OLD_58
    st = pst[e];                            /* 5.4 attach step 1: load state as st */
    o = powner[e];                          /* 5.4 attach step 1: and owner as o */
    if
    :: PS(st) == P_ACTIVE ->
#ifndef ATTACH_RESOLVED_FIRST
      if                                    /* 5.4 attach step 1: active, o dead (section 8) */
      :: alive[o] -> e++; goto scan
      :: else
      fi;
#endif
      t = pie[e];                           /* 5.4 attach step 1: resolved: intent_end is 0 */
      if
      :: t != 0 ->
        i = pis[e];                         /* or every sequence t of its intent */
        L = claimed;                        /* below the claimed count */
        do
        :: i < t && i < L ->
          atomic {                          /* has an availability word >= t + 1 */
            w = avail[i % CAP];
            if
            :: SEQ1(w) >= i + 1 -> i++
            :: else -> e++; goto scan
            fi
          }
        :: else -> break
        od
      :: else
      fi;
#ifdef ATTACH_RESOLVED_FIRST
      if                                    /* the owner checked after the resolution */
      :: alive[o] -> e++; goto scan
      :: else
      fi;
#endif
      CAS(pst[e], st, PMK(P_DEAD, PG(st)), ok, WAKE_C);   /* 5.4 attach step 1: retire */
      if
      :: !ok -> goto attach                 /* on failure choose again */
      :: else
      fi
    :: else                                 /* 5.4 attach step 1: free, closed or dead: usable */
    fi;
    if                                      /* 5.4 attach step 1: usable only if o is 0 or dead */
    :: alive[o] -> e++; goto scan
    :: else
    fi;
    atomic {                                /* 5.4 attach step 2: CAS owner from o to itself */
      if
      :: powner[e] == o -> powner[e] = me; ok = true; att[me] = true; WAKE_C
      :: else -> ok = false
      fi
    };
    if
    :: !ok -> goto attach                   /* on failure choose again */
    :: else
    fi;
    atomic { pie[e] = 0; WAKE_I };          /* 5.4 attach step 3: intent_end = 0 (heartbeat_ns not modelled) */
    st = pst[e];                            /* 5.4 attach step 3: its current value */
    CAS(pst[e], st, PMK(P_ACTIVE, PG(st) + 1), ok, WAKE_C);   /* 5.4 attach step 3 */
    assert(ok && PS(st) != P_ACTIVE);      /* nobody else changes the state between steps 2 and 3 */
    mygen = PG(st) + 1
#else
    /* 1.0 5.4: "compare-and-swap the state of an entry that is free, closed or dead to active,
       then write generation + 1, owner_pid, owner_start_time, heartbeat_ns, intent_end = 0. An
       active entry whose owner is dead MAY be reclaimed, by first compare-and-swapping its state
       from active to dead, when its intent_end is 0 or at most the lowest cursor of the active
       required consumers; otherwise it MUST be left to the recovery of 5.8." */
    st = pst[e];
    if
    :: PS(st) == P_ACTIVE ->
      o = powner[e];
      if
      :: alive[o] || o == 0 -> e++; goto scan
      :: else
      fi;
      t = pie[e];
      if
      :: t != 0 ->
        i = 0; bound = 255;
        do
        :: i < NCONS ->
          w = cst[i];
          if
          :: CS(w) == C_ACTIVE -> atomic { L = ccur[i]; if :: L < bound -> bound = L :: else fi }
          :: else
          fi;
          i++
        :: else -> break
        od;
        if
        :: t > bound -> e++; goto scan      /* left to the recovery of 5.8 */
        :: else
        fi
      :: else
      fi;
      CAS(pst[e], st, PMK(P_DEAD, PG(st)), ok, WAKE_C);
      if
      :: !ok -> goto attach
      :: else
      fi;
      st = PMK(P_DEAD, PG(st))
    :: else
    fi;
    CAS(pst[e], st, PMK(P_ACTIVE, PG(st) + 1), ok, WAKE_C);
    if
    :: !ok -> goto attach
    :: else
    fi;
    mygen = PG(st) + 1;
    atomic { powner[e] = me; att[me] = true; WAKE_C };
    atomic { pie[e] = 0; WAKE_I }
#endif
  fi;

  k = 0;
  bound = 0;                                /* the cached gating bound */
  if                                        /* START_A: where init left it */
  :: from == 1 -> c = 0; end = 1; goto step2      /* it has loaded claimed as 0 */
  :: from == 2 -> c = 0; end = 1; goto step4      /* it has done steps 1-3 for sequence 0 */
  :: else
  fi;
publish:
  atomic {
    st = 0; o = 0; w = 0; i = 0; t = 0; L = 0; ok = false;
    if
    :: k == nev -> goto detach
    :: else
    fi
  };
  atomic { c = claimed; end = c + 1 };      /* 5.4 step 1: load claimed as w, c = w, end = c + n (n = 1) */
  if
  :: end > CAP + bound ->                   /* 5.4 step 1: check the gating bound as in 5.3 step 1 */
recompute:
    atomic { dP = dP & ~ME; bound = 255; i = 0 };
    do
    :: i < NCONS ->
      st = cst[i];                          /* 5.3 step 1: state (acquire) active and required */
      if
      :: CS(st) == C_ACTIVE ->
        atomic { t = ccur[i]; if :: t < bound -> bound = t :: else fi; t = 0 }   /* cursor (acquire) */
      :: else
      fi;
      atomic { i++; st = 0 }
    :: else -> break
    od;
    atomic {
      i = 0;
      if
      :: bound == 255 -> bound = c          /* none: the count it knows of */
      :: else
      fi
    };
    if
    :: end > CAP + bound ->                 /* 5.3 step 1: wait while end - capacity > bound */
      do                                    /* 5.7 Evicting: MAY remove a dead required consumer */
      :: i < NCONS ->
        st = cst[i];
        if
        :: CS(st) == C_ACTIVE ->
          atomic { o = cowner[i]; ok = !alive[o] };
          if
          :: ok -> CAS(cst[i], st, CMK(C_EVICTED, CG(st)), ok, WAKE_P)
          :: else
          fi
        :: else
        fi;
        atomic { i++; st = 0; o = 0; ok = false }
      :: else -> break
      od;
      i = 0;
      (dP & ME);                            /* until a cursor, a consumer state or a liveness changes */
      goto recompute
    :: else
    fi
  :: else
  fi;
step2:
  atomic { pis[e] = c; WAKE_I };            /* 5.4 step 2: intent_start = c */
  atomic { pie[e] = end; WAKE_I };          /* 5.4 step 2: intent_end = end */
  atomic {                                  /* 5.4 step 3: CAS claimed from c to end */
    if
    :: claimed == c -> claimed = end; ok = true; claimer[c] = me; WAKE_C
    :: else -> ok = false
    fi
  };
  if
  :: !ok ->
    atomic { pie[e] = 0; WAKE_I };          /* 5.4 step 3: on failure intent_end = 0, back to step 1 */
    goto publish
  :: else
  fi;
step4:
  atomic {                                  /* 5.4 step 4: write the event */
    i = 0;
    do
    :: i < NCONS ->                         /* slot c % CAP held c - CAP: every live consumer passed it */
      assert(c < CAP || !alive[CID(i)] || rd[i] > c - CAP);
      i++
    :: else -> break
    od;
    i = 0;
    slot[c % CAP] = c
  };
  atomic {                                  /* 5.4 step 5: availability[c % CAP] = c + 1 (release) */
    assert(avail[c % CAP] != (GAP | (c + 1)));   /* never publish a sequence passed over */
    avail[c % CAP] = c + 1;
    pubd = pubd | (1 << c);
    WAKE_C
  };
  atomic { pie[e] = 0; WAKE_I; k++ };       /* 5.4 step 6 (step 7, the wake, not modelled) */
  goto publish;
detach:
  skip;
  CAS(pst[e], PMK(P_ACTIVE, mygen), PMK(P_CLOSED, mygen), ok, WAKE_C);   /* 5.4: detach: state to closed */
#ifndef OLD_58
  CAS(powner[e], me, 0, ok, WAKE_C; att[me] = false);   /* 5.4: detach: then owner from its identity to 0 */
#endif
out:
  skip
  } unless { !alive[me] };
  atomic { alive[me] = false; WAKE_ALL }    /* exited: dead (section 8) */
}

proctype Consumer(byte ci)
{
  byte me = CID(ci);
  byte next, limit, hi, w, s, L, i, st, o, e1, e2, is, ost, t, te;
  short gmask;
  bool ok, liveblk, deadcov, none, final, pend;

  {
  skip;
loop:
  if
  :: next == NREAD -> goto out              /* read all this run is about */
  :: else
  fi;
#ifdef START_A
  atomic {                                  /* 5.5 step 1 for s = next only (NREAD is 1 in run A) */
    dC = dC & ~ME; dI = dI & ~ME;
    w = avail[next % CAP];
    if
    :: w == next + 1 ->
      assert(pubd & (1 << next) && slot[next % CAP] == next); next++; rd[ci] = next; w = 0; goto loop
    :: w == (GAP | (next + 1)) ->
      assert((gapped & (1 << next)) && !(pubd & (1 << next))); next++; rd[ci] = next; w = 0; goto loop
    :: else -> w = 0; limit = next + 1      /* waiting for next, which is claimed */
    fi
  };
  goto resolve;
#endif
  COARSE_BEGIN
  atomic {                                  /* 5.5 step 1: limit = claimed (acquire) */
    dC = dC & ~ME; dI = dI & ~ME;
    limit = claimed; hi = next; gmask = 0; final = false
  };
  do                                        /* 5.5 step 1: hi = the first s >= next, s < limit, whose */
  :: atomic {                               /* word is neither s + 1 nor GAP, or limit */
       hi < limit ->
       w = avail[hi % CAP];
       if
       :: w == hi + 1 -> hi++
       :: w == (GAP | (hi + 1)) -> gmask = gmask | (1 << hi); hi++
       :: else -> w = 0; goto scanned
       fi;
       w = 0
     }
  :: hi >= limit -> break
  od
  COARSE_END;
scanned:
  if
  :: hi > next ->
    COARSE_BEGIN
    do                                      /* 5.5 step 2: read next .. hi - 1, passing over gaps */
    :: atomic {
         next < hi ->
         if
         :: gmask & (1 << next) ->          /* a gap: reported, counted, not delivered */
           assert((gapped & (1 << next)) && !(pubd & (1 << next)))
         :: else ->
           assert(pubd & (1 << next));      /* never an unpublished sequence */
           assert(slot[next % CAP] == next) /* never a stale or overwritten slot */
         fi;
         next++;
         rd[ci] = next
       }
    :: next >= hi -> break
    od;
    atomic { ccur[ci] = hi; WAKE_P; gmask = 0 }   /* 5.5 step 2: cursor = hi (release); step 3 not modelled */
    COARSE_END;
    goto loop
  :: else
  fi;
  /* 5.5 step 4, hi == next: poison, producer_state and its own registration are not modelled
     here (nobody evicts a live consumer in this model: producers evict only dead ones) */
#ifndef OLD_58
resolve:
  atomic {                                  /* 5.8: waited for s = next; step 1: L = claimed */
    s = next; L = claimed;
    if
    :: s >= L -> goto resolved              /* nothing to resolve */
    :: else
    fi
  };
again:
  atomic {                                  /* 5.8 step 2: w = availability[s] */
    w = avail[s % CAP];
    if
    :: SEQ1(w) >= s + 1 -> goto resolved    /* resolved: stop */
    :: else
    fi;
    i = 0; liveblk = false; deadcov = false
  };
  do                                        /* 5.8 step 3: the intent of every active entry */
  :: i < NPE ->
    COARSE_BEGIN
    st = pst[i];                            /* state */
    if
    :: PS(st) == P_ACTIVE ->
      e1 = pie[i];                          /* intent_end as e1 */
      is = pis[i];                          /* intent_start */
      e2 = pie[i];                          /* intent_end as e2 */
      atomic {                              /* owner, alive? */
        o = powner[i];
        if
        :: alive[o] ->                      /* a live owner covering s or in flux: keep waiting */
          if
          :: e1 != e2 || (e1 != 0 && is <= s && s < e1) -> liveblk = true
          :: else
          fi
        :: else ->                          /* a dead owner covering s */
          if
          :: e1 == e2 && e1 != 0 && is <= s && s < e1 -> deadcov = true
          :: else
          fi
        fi;
        i++; st = 0; e1 = 0; is = 0; e2 = 0; o = 0
      }
    :: else -> atomic { i++; st = 0 }
    fi
    COARSE_END
  :: else -> break
  od;
  atomic {
    i = 0;
    if
    :: liveblk || !deadcov -> goto resolved /* 5.8 step 3: keep waiting */
    :: else
    fi
  };
  atomic {                                  /* 5.8 step 4: CAS availability[s] from w to GAP */
    if
    :: avail[s % CAP] == w ->
      avail[s % CAP] = GAP | (s + 1); ok = true; WAKE_C;
      assert(!alive[claimer[s]]);          /* only a dead claimer's sequence is passed over */
      assert(!(pubd & (1 << s)));
      if
      :: !(gapped & (1 << s)) -> gapped = gapped | (1 << s); passed++
      :: else
      fi;
      owing++
    :: else -> ok = false
    fi
  };
  if
  :: !ok -> goto again                      /* 5.8 step 4: on failure back to step 2 */
  :: else
  fi;
  atomic { gaps++; owing--; assert(gaps <= passed) };   /* 5.8 step 4: on success add 1 to gaps */
resolved:
#ifdef DEADSTOP
  if
  :: final ->
    atomic { limit = claimed; hi = next };  /* 5.5 step 4: re-reads hi once */
    do
    :: atomic {
         hi < limit ->
         w = avail[hi % CAP];
         if
         :: SEQ1(w) >= hi + 1 -> hi++
         :: else -> w = 0; goto reread
         fi;
         w = 0
       }
    :: hi >= limit -> break
    od;
reread:
    if
    :: hi == next -> goto out               /* 5.5 step 4: stops with "producer dead" */
    :: else -> goto loop
    fi
  :: else
  fi;
  atomic {
    /* 5.5 step 4: while it waits it checks the creator and the owner of every active producer
       entry (FIX_DEADCHECK: of every producer entry). One atomic snapshot: the property is
       about what the check can see at all. */
    none = !alive[1];                       /* creator_pid, creator_start_time */
    i = 0;
    do
    :: i < NPE ->
      if
#ifdef FIX_DEADCHECK
      :: alive[powner[i]] -> none = false
#else
      :: PS(pst[i]) == P_ACTIVE && alive[powner[i]] -> none = false
#endif
      :: else
      fi;
      i++
    :: else -> break
    od;
    i = 0;
    /* "none is alive" never overlooks a live producer that holds an entry's owner word */
    assert(!none || !((alive[2] && att[2]) || (alive[3] && att[3])))
  };
  if
  :: none ->                                /* none alive: 5.8 first (the note of 5.5 step 4) */
    final = true;
    goto resolve
  :: else
  fi;
#endif
#else
  /* 1.0 5.8: a required consumer that has waited for sequence s (below the claimed count) */
resolve:
  atomic {
    s = next; L = claimed;
    if
    :: s >= L -> goto waitold
    :: else
    fi;
    i = 0; liveblk = false; ost = 255
  };
  do                                        /* 1.0 5.8 step 1: an entry E that is active, whose owner */
  :: i < NPE ->                             /* is dead and whose intent covers s; none, or a live (or */
    COARSE_BEGIN                            /* owner_pid 0) active entry also covering s: keep waiting */
    st = pst[i];
    if
    :: PS(st) == P_ACTIVE ->
      o = powner[i];
      is = pis[i];
      atomic {
        e2 = pie[i];
        if
        :: e2 != 0 && is <= s && s < e2 ->
          if
          :: alive[o] || o == 0 -> liveblk = true
          :: else ->
            if
            :: ost == 255 -> ost = i; e1 = st
            :: else
            fi
          fi
        :: else
        fi;
        i++; o = 0; is = 0; e2 = 0
      }
    :: else -> i++
    fi
    COARSE_END
  :: else -> break
  od;
  if
  :: liveblk || ost == 255 -> goto waitold
  :: else
  fi;
  CAS(pst[ost], e1, PMK(P_DEAD, PG(e1)), ok, WAKE_C);   /* 1.0 5.8 step 2: only the winner goes on */
  if
  :: !ok -> goto waitold
  :: else
  fi;
  t = pis[ost];                             /* 1.0 5.8 step 3: t from max(s, intent_start) */
  te = pie[ost];                            /* to intent_end - 1 */
  if
  :: t < s -> t = s
  :: else
  fi;
  do
  :: t < te ->
    L = claimed;                            /* that is below the claimed count */
    if
    :: t < L ->
      i = 0; liveblk = false;
      do                                    /* and not covered by the intent of an active producer */
      :: i < NPE ->                         /* whose owner is alive */
        COARSE_BEGIN
        st = pst[i];
        if
        :: PS(st) == P_ACTIVE ->
          o = powner[i];
          is = pis[i];
          atomic {
            e2 = pie[i];
            if
            :: (alive[o] || o == 0) && e2 != 0 && is <= t && t < e2 -> liveblk = true
            :: else
            fi;
            i++; o = 0; is = 0; e2 = 0
          }
        :: else -> i++
        fi
        COARSE_END
      :: else -> break
      od;
      if
      :: !liveblk ->
        w = avail[t % CAP];                 /* load w = availability[t] */
        if
        :: w != t + 1 ->                    /* if w != t + 1, CAS it from w to GAP */
          atomic {
            if
            :: avail[t % CAP] == w ->
              avail[t % CAP] = GAP | (t + 1); ok = true; WAKE_C;
              assert(!alive[claimer[t]]);
              assert(!(pubd & (1 << t)));
              if
              :: !(gapped & (1 << t)) -> gapped = gapped | (1 << t); passed++
              :: else
              fi;
              owing++
            :: else -> ok = false
            fi
          };
          if
          :: ok -> atomic { gaps++; owing--; assert(gaps <= passed) }   /* each success: add 1 */
          :: else
          fi
        :: else
        fi
      :: else
      fi
    :: else
    fi;
    t++
  :: else -> break
  od;
waitold:
#endif
  atomic {
    /* the end of the stream: every producer has exited and everything claimed is read or
       passed over (the creator's close of 5.4, idealised) */
    if
    :: !alive[1] && !alive[2] && !alive[3] && next == claimed -> goto out
    :: else
    fi;
    pend = (limit > next);                  /* the intents matter only while something is pending */
    w = 0; s = 0; L = 0; i = 0; st = 0; o = 0; e1 = 0; e2 = 0; is = 0; ost = 0; t = 0; te = 0;
    ok = false; liveblk = false; deadcov = false; none = false; limit = 0; hi = 0; gmask = 0
  };
  (dC & ME) || (pend && (dI & ME));         /* 5.5 step 4: otherwise it waits */
  goto loop;
out:
  skip
  } unless { !alive[me] };
  atomic { alive[me] = false; WAKE_ALL }
}

/* once every peer has stopped: the gap count is exact */
active proctype Final()
{
end_f:
  atomic {
    timeout ->                              /* nobody else can move */
#ifdef FIX_GAPCOUNT
    assert(gaps + owing == passed)
#else
    assert(gaps == passed)
#endif
  }
}

init
{
  byte i;
  atomic {
    alive[1] = true;
    pst[0] = PMK(P_ACTIVE, 1); powner[0] = 1; att[1] = true;   /* 5.1 step 2 */
    i = 0;
    do
    :: i < NCONS -> alive[CID(i)] = true; cst[i] = CMK(C_ACTIVE, 1); cowner[i] = CID(i); i++
    :: else -> break
    od;
#ifdef START_A
    /* run A starts where it gets interesting: producer 2 has loaded claimed as 0, then producer
       1 has done 5.4 steps 1-3 for sequence 0 (intent [0, 1), claimed 0 -> 1) */
    pis[0] = 0; pie[0] = 1; claimed = 1; claimer[0] = 1;
    run Producer(1, EV1, 0, 2);
#else
    run Producer(1, EV1, 0, 0);
#endif
    if
    :: EV2 > 0 ->
      alive[2] = true;
#ifdef ATTACH2
      run Producer(2, EV2, 255, 0)          /* attaches by 5.4 */
#else
      pst[1] = PMK(P_ACTIVE, 1); powner[1] = 2; att[2] = true;   /* attached before the run */
#ifdef START_A
      run Producer(2, EV2, 1, 1)
#else
      run Producer(2, EV2, 1, 0)
#endif
#endif
    :: else
    fi;
    if
    :: EV3 > 0 -> alive[3] = true; run Producer(3, EV3, 255, 0)
    :: else
    fi;
    i = 0;
    do
    :: i < NCONS -> run Consumer(i); i++
    :: else -> break
    od
  }
}
