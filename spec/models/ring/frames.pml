/*
 * frames.pml: framed rings (spec/LAYOUT.md 2.1, section 11) in multi-producer mode: publishing
 * frames (11.2 with 5.4), required consumers (11.3 with 5.5 step 1 and the gap resolution of
 * 5.8) and an optional consumer (11.4 with 5.10, including its paragraph on a lapped consumer
 * that finds a later round's availability word at next).
 *
 * Peers (process numbers are owner identities, never reused):
 *  1..NPROD  producers, attached before the run (producer p holds producer entry p - 1, active,
 *            intent_end 0); each publishes MSGS messages of nondeterministic size k (1..KMAX
 *            slots), one per claim (-DBATCH=2: two per claim, as long as two are left), then
 *            exits. Attach, detach and the retiring of 5.4 attach step 1 are in mp.pml.
 *  4, 5      NCONS required consumers (11.3), registered before anything is published (entries
 *            active, cursor START); they resolve dead claims (5.8) whenever they wait.
 *  6         -DOPT: an optional consumer (11.4), registered before the run at cursor OSTART.
 * Death at any step of the producers in KILLMASK (at most MAXKILL kills; consumers never die
 * here: consumer death and eviction are in mp.pml run D-mp).
 *
 * Geometry: capacity CAP (4 or 8); a message of k slots is a header (seq|flags, slots) in its
 * first slot and payload in all k. The rule of 11.1 that a message spans at most capacity/8 slots
 * is relaxed (KMAX up to CAP/2): it bounds the waste of PADs, not safety. The header's `length`
 * is abstracted into `slots` (11.1 check 3, slots == ceil((H + length) / slot_size), is the
 * writer's arithmetic; a PAD's length 0 likewise). 11.2 step 1 (refusals before claiming) is the
 * choice of sizes: with -DBATCH=2 a pair whose claim could exceed CAP is not chosen.
 *
 * Modelling: one spec step = one Promela step (one load, store or CAS of one shared word with
 * the private computation on its result), commented with the step it implements; see
 * common.pml for death, waiting and CAS. 11.2 step 4 (write every frame) is one step: plain
 * stores nobody synchronises on; without an optional consumer (which alone reads slots that are
 * not published) it is folded into the claim's CAS. An optional consumer copies a slot in one
 * step, so its copy can tear between slots, not inside one (a tear inside a slot needs the same
 * overwrite, which the lap check sees the same way). FOLDS: a producer entry's state is folded
 * into the load of intent_end that follows it (no entry changes state here), and the entry's
 * owner (constant here) into its liveness check. With MAXKILL 0, 5.8 is skipped (it finds no
 * dead owner, so its loads change nothing) and so are the intent stores (nobody else reads
 * them). -DCOARSE: a required consumer's 5.5 step 1 and its reading up to the cursor store in one
 * step, and 5.8 step 3 an entry at a time (see the definition below). The fences of 5.11 are not
 * modelled (sequential consistency). -DSTART=n begins the run with n one-slot messages published
 * and read (the ring already turning), -DOSTART the optional consumer's cursor then.
 * Not modelled: 5.6 wakes (waiting is polling), poison, bit 62 of claimed, producer_state (the
 * end of the stream is idealised: every producer has exited or died and the consumer's next is
 * the claimed count), the registration check before delivery (nobody is evicted), the header
 * `gaps` (mp.pml: finding F1), claim-in-place (11.2 last paragraph), the corrupt-frame policy (a
 * correct producer never makes one: asserted), attach/detach (mp.pml), registration (register.pml).
 *
 * Flags: -DOLD_510 the optional consumer of 5.10 before fe7c7aa (steps 3-4 only when step 1
 * found something to copy: a lapped consumer that finds a later round's word at next waits).
 * -DFIX_PUBBOUND (finding F5, README.md): with no required consumer, the gating bound of 5.3
 * step 1 in multi mode is the count below which every sequence is published or a gap, not the
 * claimed count.
 *
 * Properties (assertions, and invalid end states):
 *  - a producer never lays out a frame that crosses the end of the array, and writes a slot only
 *    when every required consumer has passed the sequence it held (gating);
 *  - required consumers: every header they read is valid (11.1) at a frame boundary of this lap
 *    (never stale, never payload bytes), and never corrupt by 11.3 step 3; a delivered message is
 *    the whole frame one producer wrote there (every slot holds that message's bytes) and
 *    published (every slot), never one with a gapped slot; a passed-over frame has a gap in it;
 *    a PAD ends at the end of the array; messages are delivered in order per producer, each once;
 *  - the optional consumer: a copy that passes the lap check has a valid header, never a corrupt
 *    frame, and a delivered copy is the whole message (never torn), completely published; a lap
 *    resumes at a frame boundary; messages in order per producer, each at most once;
 *  - every stored cursor is a frame boundary (or lies within a dead claim's run of GAPs, which
 *    11.3 step 1 passes over one sequence at a time; see README.md);
 *  - 5.8: only a sequence whose claimer is dead is passed over, never a published one;
 *  - at the end (nobody can move): every sequence claimed is published or a gap; a claim is a
 *    published prefix and a GAP suffix, and only a killed producer's claim has GAPs; every
 *    required consumer has delivered every message that was published whole (by a live or a dead
 *    producer); the optional consumer's delivered messages, PADs, gaps and lost sequences account
 *    for every sequence it passed, and every message published whole that it did not deliver lies
 *    in a range it counted as lost;
 *  - no invalid end state: nobody waits forever.
 */
#include "common.pml"

#undef WAKE_C
#undef WAKE_I
#undef WAKE_P
#undef WAKE_ALL
/* consumers 4-6 poll claimed and the availability words (dC) and, for 5.8, the intents (dI);
   producers 1-3 poll the required consumers' cursors (dP) */
#define WAKE_C    dC = 112
#define WAKE_I    dI = 48
#define WAKE_P    dP = 14
#define WAKE_ALL  dC = 112; dI = 48; dP = 14

#ifndef CAP
#define CAP 4
#endif
#ifndef NPROD
#define NPROD 2
#endif
#ifndef MSGS              /* messages per producer */
#define MSGS 2
#endif
#ifndef KMAX              /* the largest message, in slots */
#define KMAX 2
#endif
#ifndef BATCH             /* messages per claim: 1 or 2 */
#define BATCH 1
#endif
#ifndef NCONS             /* required consumers: 0, 1 or 2 */
#define NCONS 1
#endif
#ifndef MAXKILL
#define MAXKILL 1
#endif
#ifndef START             /* sequences published and read before the run (see init) */
#define START 0
#endif
#ifndef OSTART            /* the optional consumer's cursor at the start, at most START */
#define OSTART START
#endif
#ifndef KILLMASK          /* bit p: producer p may be killed */
#define KILLMASK 6
#endif

#define NPE NPROD         /* producer_capacity: one entry per producer */

/* Only 5.8 reads an intent, and 5.8 runs only after a death: with MAXKILL 0 the intent stores of
   5.4 steps 2, 3 and 6 would change nothing anybody reads, and are left out. */
#if MAXKILL > 0
#define INTENT_END0 pie[e] = 0; WAKE_I
#else
#define INTENT_END0 skip
#endif

/* -DCOARSE: a required consumer's 5.5 step 1 (claimed, then the availability words) and its
   reading of the frames below hi (11.3 steps 1-6, up to its cursor store) in one step. Sound for
   required consumers: they gate the producers (and the producers' gating assertion checks it),
   so the words from next on change only from unpublished to published or GAP, and the slots
   below hi do not change until the cursor store; a scan one word at a time finds the hi that one
   scan at the moment it loads the word at hi would find, with a limit loaded earlier (which only
   makes it see less). The load of claimed in 11.3 step 3 only bounds an assertion. */
#ifdef COARSE
#define COARSE_BEGIN atomic {
#define COARSE_END   }
#else
#define COARSE_BEGIN
#define COARSE_END
#endif

/* 4.5 availability word: s + 1; bit 7 stands for bit 63 (GAP) */
#define GAP 128
#define SEQ1(w) ((w) & 127)

/* 11.1 frame header, first slot: seq_flags as a byte (bits 0-5 the sequence, bit 6 stands for bit
   62, bit 7 for bit 63: PAD), and slots. Payload bytes where a header would be: NOHDR. */
#define PADF  128
#define NOHDR 127
#define HSEQ(h) ((h) & 127)
/* 11.1 checks 1 and 2 for a header (h, k) read at sequence s; check 3 is the writer's arithmetic */
#define VALID(s, h, k) (HSEQ(h) == (s) && (k) >= 1 && ((s) % CAP) + (k) <= CAP && ((h) & PADF || (k) <= KMAX))

/* messages: producer p's j-th message (0-based) is MID(p, j); its bytes in a slot are that id */
#define MID(p, j) ((p) * 8 + (j) + 1)
#define MP(id)    ((id) / 8)
#define MJ(id)    (((id) - 1) % 8)

#define BIT(s) (1 << (s))

/* ---- the segment ---- */
byte claimed;                 /* 4.1 claimed (a count) */
byte avail[CAP];              /* 4.5 */
byte hseq[CAP];               /* 4.6 slots: the header's seq_flags (NOHDR: payload bytes there) */
byte hks[CAP];                /* the header's slots */
byte data[CAP];               /* the payload bytes: the id of the message written there */
byte pis[NPE];                /* 4.4 producer entries: intent (state active, owner p, constant) */
byte pie[NPE];
byte ccur[NCONS + 1];           /* 4.3 required consumer entries: cursor */
byte gseen[3];                /* gaps_seen of consumers 4, 5, 6 (sequences) */
bool alive[7];
#ifdef OPT
byte ocur;                    /* the optional consumer's cursor */
byte olost;                   /* its entry's lost (sequences) */
#endif

/* ---- ghosts ---- */
int pubd;                     /* bit s: s was published (5.4 step 5) */
int gapped;                   /* bit s: s was passed over (a CAS made its word GAP) */
int fb;                       /* bit s: a claim or a frame starts at s */
int cstart;                   /* bit s: a claim starts at s */
int mstart;                   /* bit s: a message frame starts at s */
int mfull;                    /* bit s: the message frame starting at s is published whole */
byte claimer[32];             /* claimer[s]: who claimed the claim starting at s */
byte pubmsg[4];               /* pubmsg[p]: producer p's messages published whole */
byte dcount[8];               /* dcount[ci * 4 + p]: producer p's messages consumer ci delivered */
byte rd[NCONS + 1];             /* what required consumer ci has read or passed over */
bool killed[4];
byte kills;
byte done;                    /* consumers that reached the end of the stream */
#ifdef OPT
int odel;                     /* bit s: the optional consumer delivered the message at s */
int olostm;                   /* bit s: s lies in a range it counted as lost */
byte olast[4];                /* producer p's messages it delivered: 1 + the last one's index */
byte oslots;                  /* sequences it delivered, passed as PADs */
#endif

active proctype Killer()
{
end_k:
  do
  :: atomic { (KILLMASK & 2) && alive[1] && kills < MAXKILL -> alive[1] = false; killed[1] = true; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 4) && alive[2] && kills < MAXKILL -> alive[2] = false; killed[2] = true; kills++; WAKE_ALL }
  :: atomic { (KILLMASK & 8) && alive[3] && kills < MAXKILL -> alive[3] = false; killed[3] = true; kills++; WAKE_ALL }
  :: break
  od
}

/* the claim of (k1, k2) laid out from t (11.2 step 2): the PAD before a message that would
   cross the end of the array, then the message; n is the claim's length. k2 = 0: one message. */
#define LAYOUT(t, k1, k2, n) \
  n = 0; \
  if :: ((t) % CAP) + k1 > CAP -> n = CAP - ((t) % CAP) :: else fi; \
  n = n + k1; \
  if \
  :: k2 > 0 -> \
    if :: (((t) + n) % CAP) + k2 > CAP -> n = n + CAP - (((t) + n) % CAP) :: else fi; \
    n = n + k2 \
  :: else \
  fi

/* 11.2 step 4 (5.4 step 4): write every frame, in order: its header (plain stores) and, for a
   message, its payload */
#define WRITE_FRAMES \
    t = c; f = 0; \
    do \
    :: t < end -> \
      if :: f == 0 -> k = k1 :: else -> k = k2 fi; \
      if \
      :: (t % CAP) + k > CAP -> k = CAP - (t % CAP); id = 0      /* a PAD up to the end of the array */ \
      :: else -> id = MID(me, j + f); f++ \
      fi; \
      m = 0; \
      do \
      :: m < k -> \
        i = 0;                              /* gating: slot t % CAP held t - CAP, which every */ \
        do                                  /* required consumer has passed */ \
        :: i < NCONS -> assert(t < CAP || rd[i] > t - CAP); i++ \
        :: else -> break \
        od; \
        if \
        :: m == 0 ->                        /* the header (plain stores) and, for a message, the payload */ \
          if :: id == 0 -> hseq[t % CAP] = PADF | t :: else -> hseq[t % CAP] = t fi; \
          hks[t % CAP] = k; \
          data[t % CAP] = id \
        :: else ->                          /* payload bytes only */ \
          hseq[t % CAP] = NOHDR; hks[t % CAP] = 0; data[t % CAP] = id \
        fi; \
        m++; t++ \
      :: else -> break \
      od \
    :: else -> break \
    od; \
    i = 0; m = 0; k = 0; id = 0; f = 0; t = c

proctype Producer(byte me)
{
  byte e = me - 1;
  byte j, k1, k2, c, end, n, bound, i, t, f, k, id, m;
  bool ok;

  {
  bound = 0;                                /* the cached gating bound */
next_claim:
  atomic {
    if
    :: j == MSGS -> WAKE_ALL; alive[me] = false; goto out   /* done: exits (dead, section 8) */
    :: else
    fi;
    /* the application's message(s); 11.2 step 1: a message no longer than max_message (KMAX
       slots), a batch whose claim cannot exceed capacity */
    if
    :: k1 = 1
    :: KMAX >= 2 -> k1 = 2
    :: KMAX >= 3 -> k1 = 3
    fi;
    k2 = 0;
    if
    :: BATCH == 2 && j + 1 < MSGS ->
      if
      :: k2 = 1
      :: KMAX >= 2 -> k2 = 2
      :: KMAX >= 3 -> k2 = 3
      fi;
      if
      :: k1 + k2 + k1 - 1 + k2 - 1 > CAP -> goto next_claim   /* could exceed capacity: refused */
      :: else
      fi
    :: else
    fi;
    c = claimed; LAYOUT(c, k1, k2, n); end = c + n   /* 5.4 step 1 with 11.2 step 2 */
  };
  goto gate;
step1:
  atomic { c = claimed; LAYOUT(c, k1, k2, n); end = c + n };   /* 5.4 step 1 with 11.2 step 2 */
gate:
  if
  :: end > CAP + bound ->                   /* 5.4 step 1: check the gating bound as in 5.3 step 1 */
recompute:
    atomic { dP = dP & ~ME; bound = 255; i = 0 };
    do
    :: i < NCONS ->
      atomic { t = ccur[i]; if :: t < bound -> bound = t :: else fi; t = 0; i++ }   /* 5.3 step 1: cursor */
    :: else -> break
    od;
#ifndef FIX_PUBBOUND
    atomic {
      i = 0;
      if
      :: bound == 255 -> bound = c          /* none: "the count the producer had published": */
      :: else                               /* the claimed count it loaded (finding F5) */
      fi
    };
#else
    if                                      /* none: the count below which every sequence is */
    :: bound == 255 ->                      /* published or passed over (the F5 fix): loads the */
      atomic { if :: c > CAP -> t = c - CAP :: else -> t = 0 fi };   /* words from c - capacity */
      do
      :: atomic {
           t < c ->
           if
           :: SEQ1(avail[t % CAP]) >= t + 1 -> t++
           :: else -> bound = t; t = 0; goto bounded
           fi
         }
      :: atomic { t >= c -> bound = c; t = 0; break }
      od
    :: else
    fi;
bounded:
    i = 0;
#endif
    if
    :: end > CAP + bound ->                 /* 5.3 step 1: wait while end - capacity > bound */
      (dP & ME);
      goto recompute
    :: else
    fi
  :: else
  fi;
#if MAXKILL > 0
  atomic { pis[e] = c; WAKE_I };            /* 5.4 step 2: intent_start = c */
  atomic { pie[e] = end; WAKE_I };          /* 5.4 step 2: intent_end = end */
#endif
  atomic {                                  /* 5.4 step 3: CAS claimed from c to end */
    if
    :: claimed == c ->
      claimed = end; ok = true; WAKE_C;
      assert(end < 31);
      /* ghost: the claim's layout (11.2 step 2), as it will be written */
      claimer[c] = me; cstart = cstart | BIT(c); fb = fb | BIT(c);
      t = c; f = 0;
      do
      :: f < BATCH && (f == 0 || k2 > 0) ->
        if :: f == 0 -> k = k1 :: else -> k = k2 fi;
        if
        :: (t % CAP) + k > CAP -> fb = fb | BIT(t); t = t + CAP - (t % CAP)   /* a PAD */
        :: else
        fi;
        assert((t % CAP) + k <= CAP);       /* no frame crosses the end of the array */
        fb = fb | BIT(t); mstart = mstart | BIT(t);
        t = t + k; f++
      :: else -> break
      od;
      assert(t == end);
      t = 0; f = 0; k = 0;
#ifndef OPT
      /* 11.2 step 4 folded in: only the optional consumer reads slots that are not published */
      WRITE_FRAMES
#endif
      skip
    :: else -> ok = false
    fi
  };
  if
  :: !ok ->
#if MAXKILL > 0
    atomic { pie[e] = 0; WAKE_I };          /* 5.4 step 3: on failure intent_end = 0, back to step 1 */
#endif
    goto step1
  :: else
  fi;
#ifdef OPT
  /* 11.2 step 4 (5.4 step 4): every frame in one step (plain stores that nobody synchronises on;
     the optional consumer's copies interleave with them slot by slot) */
  atomic {
    WRITE_FRAMES
  };
#endif
  do                                        /* 5.4 step 5: each sequence in order */
  :: atomic {
       t < end ->
       assert(avail[t % CAP] != (GAP | (t + 1)));   /* never publish a sequence passed over */
       avail[t % CAP] = t + 1;              /* availability = s + 1 (release) */
       pubd = pubd | BIT(t);
       WAKE_C;
#ifdef FIX_PUBBOUND
       WAKE_P;                              /* producers poll the words for room (NCONS 0) */
#endif
       /* ghost: a message is published whole when its last slot is */
       if
       :: fb & BIT(t) -> m = t
       :: else
       fi;
       if
       :: (mstart & BIT(m)) && (t + 1 == end || (fb & BIT(t + 1))) ->
         mfull = mfull | BIT(m); pubmsg[me]++
       :: else
       fi;
       t++
     }
  :: atomic {                               /* 5.4 step 6: intent_end = 0 (step 7, the wake, not modelled) */
       t >= end ->
       INTENT_END0;
       if :: k2 > 0 -> j = j + 2 :: else -> j++ fi;
       c = 0; end = 0; n = 0; k1 = 0; k2 = 0; f = 0; t = 0; m = 0;
       goto next_claim
     }
  od;
out:
  skip
  } unless { !alive[me] };
  /* exited (section 8: dead), or killed: nobody looks at its private state any more */
  atomic { j = 0; k1 = 0; k2 = 0; c = 0; end = 0; n = 0; bound = 0; i = 0; t = 0; f = 0; k = 0; id = 0; m = 0; ok = false }
}

/* the claimer of the claim that holds s (ghost) */
#define CLAIMER(s, r) \
  r = s; \
  do \
  :: !(cstart & BIT(r)) -> r-- \
  :: else -> break \
  od; \
  r = claimer[r]

proctype Required(byte ci; byte next)
{
  byte me = 4 + ci;
  byte limit, hi, w, s, L, i, h, k, moved, o, e1, e2, is, r;
  int gmask;
  bool ok, liveblk, deadcov, pend, waitf;

  {
  skip;
loop:
  COARSE_BEGIN
  atomic {                                  /* 5.5 step 1: limit = claimed (acquire) */
    dC = dC & ~ME; dI = dI & ~ME;
    limit = claimed; hi = next; gmask = 0; moved = next; waitf = false
  };
  do                                        /* 5.5 step 1: hi = the first s >= next, s < limit, whose */
  :: atomic {                               /* word is neither s + 1 nor GAP, or limit */
       hi < limit ->
       w = avail[hi % CAP];
       if
       :: w == hi + 1 -> hi++
       :: w == (GAP | (hi + 1)) -> gmask = gmask | BIT(hi); hi++
       :: else -> w = 0; goto frames
       fi;
       w = 0
     }
  :: hi >= limit -> break
  od;
frames:
  atomic {
    if
    :: next >= hi -> goto batched
    :: else
    fi;
    if
    :: gmask & BIT(next) ->                 /* 11.3 step 1: a GAP at next: pass over next alone */
      assert((gapped & BIT(next)) && !(pubd & BIT(next)));
      gseen[ci]++; next++; rd[ci] = next;
      goto frames
    :: else
    fi;
    h = hseq[next % CAP]; k = hks[next % CAP];   /* 11.3 step 2: read the header at next, check it */
    assert(VALID(next, h, k));              /* never a corrupt frame: stale, payload bytes, crossing */
    assert(fb & BIT(next));                 /* at a frame boundary */
    if
    :: next + k > hi -> goto incomplete     /* 11.3 step 3: not all published (or corrupt) */
    :: else
    fi;
    if
    :: gmask & (((1 << k) - 1) << next) ->  /* 11.3 step 4: a gapped sequence: pass over the frame */
      assert(!(mfull & BIT(next)));         /* never a message published whole */
      gseen[ci] = gseen[ci] + k; next = next + k; rd[ci] = next; h = 0; k = 0;
      goto frames
    :: h & PADF ->                          /* 11.3 step 5: a PAD is passed over silently */
      assert(!(mstart & BIT(next)) && (next % CAP) + k == CAP);
      next = next + k; rd[ci] = next; h = 0; k = 0;
      goto frames
    :: else                                 /* 11.3 step 5: a message */
    fi
  };
  atomic {                                  /* 11.3 step 5: delivered in place (the payload's loads) */
    s = data[next % CAP];
    assert(s != 0 && (mstart & BIT(next)) && (mfull & BIT(next)));
    i = 1;
    do                                      /* every slot holds this message's bytes, published */
    :: i < k -> assert(data[(next + i) % CAP] == s && (pubd & BIT(next + i))); i++
    :: else -> break
    od;
    assert(MJ(s) == dcount[ci * 4 + MP(s)]);     /* in order per producer, once */
    dcount[ci * 4 + MP(s)]++;
    s = 0; i = 0;
    next = next + k; rd[ci] = next;         /* 11.3 step 6: go on at next + slots */
    h = 0; k = 0;
    goto frames
  };
incomplete:
  atomic {
    L = claimed;                            /* 11.3 step 3: the claimed count, loaded after the header */
    assert(next + k <= L);                  /* never corrupt */
    L = 0; h = 0; k = 0; waitf = true       /* wait until hi reaches next + slots, 5.8 at hi */
  };
batched:
  skip
  COARSE_END;
stop:
  if
  :: next != moved ->
    atomic {                                /* 5.5 step 2 / 11.3 step 6: cursor = next (release) */
      ccur[ci] = next; WAKE_P;
      CLAIMER(next - 1, r);
      /* a frame boundary, or inside a dead claim's run of GAPs (11.3 step 1) */
      assert((fb & BIT(next)) || next == claimed || ((gapped & BIT(next - 1)) && killed[r]));
      r = 0
    };
    if
    :: !waitf -> goto loop
    :: else
    fi
  :: else
  fi;
  /* 5.5 step 4, hi == next (or 11.3 step 3's wait): waits, with 5.8 at hi */
  atomic {                                  /* 5.8: waited for s = hi; step 1: L = claimed */
    s = hi; L = claimed; h = 0; k = 0;
    if
    :: s >= L -> goto resolved              /* nothing to resolve */
#if MAXKILL == 0
    :: else -> goto resolved                /* nobody dies: 5.8 would find no dead owner */
#else
    :: else
#endif
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
  do                                        /* 5.8 step 3: the intent of every (active) entry */
  :: i < NPE ->
    COARSE_BEGIN
    e1 = pie[i];                            /* intent_end as e1 (the state, always active, folded) */
    is = pis[i];                            /* intent_start */
    e2 = pie[i];                            /* intent_end as e2 */
    atomic {                                /* owner (producer i + 1), alive? */
      o = i + 1;
      if
      :: alive[o] ->                        /* a live owner covering s or in flux: keep waiting */
        if
        :: e1 != e2 || (e1 != 0 && is <= s && s < e1) -> liveblk = true
        :: else
        fi
      :: else ->                            /* a dead owner covering s */
        if
        :: e1 == e2 && e1 != 0 && is <= s && s < e1 -> deadcov = true
        :: else
        fi
      fi;
      i++; e1 = 0; is = 0; e2 = 0; o = 0
    }
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
      CLAIMER(s, r);
      assert(!alive[r] && killed[r]);      /* only a dead claimer's sequence is passed over */
      assert(!(pubd & BIT(s)));
      gapped = gapped | BIT(s); r = 0
    :: else -> ok = false
    fi
  };
  if
  :: !ok -> goto again                      /* 5.8 step 4: on failure back to step 2 */
  :: else                                   /* (the header's gaps: mp.pml, finding F1) */
  fi;
resolved:
  atomic {
    /* the end of the stream: every producer has exited or died and everything claimed is read
       or passed over (the creator's close of 5.4, idealised) */
    if
    :: !alive[1] && !alive[2] && !alive[3] && next == claimed -> done++; goto out
    :: else
    fi;
    pend = (limit > next);                  /* the intents matter only while something is pending */
    w = 0; s = 0; L = 0; i = 0; ok = false; liveblk = false; deadcov = false;
    limit = 0; hi = 0; gmask = 0; moved = 0; waitf = false
  };
  (dC & ME) || (pend && (dI & ME));         /* 5.5 step 4: otherwise it waits */
  goto loop;
out:
  skip
  }
}

#ifdef OPT

proctype Optional(byte next)
{
  byte me = 6;
  byte limit, hi, w, L, i, h, k, c0, c1, c2, moved, s;
  int gmask;
  bool waitf;

  {
  skip;
loop:
  atomic {                                  /* 5.10 step 1: hi as in 5.5 step 1: limit = claimed */
    dC = dC & ~ME;
    limit = claimed; hi = next; gmask = 0; moved = next; waitf = false
  };
  do
  :: atomic {
       hi < limit ->
       w = avail[hi % CAP];
       if
       :: w == hi + 1 -> hi++
       :: w == (GAP | (hi + 1)) -> gmask = gmask | BIT(hi); hi++
       :: else -> w = 0; goto scanned
       fi;
       w = 0
     }
  :: hi >= limit -> break
  od;
scanned:
  skip;
frames:
  if
  :: next < hi ->
    if
    :: gmask & BIT(next) ->                 /* 11.3 step 1: a GAP at next (this round's word) */
      atomic {
        assert((gapped & BIT(next)) && !(pubd & BIT(next)));
        gseen[2]++; next++
      };
      goto frames
    :: else
    fi;
    /* 11.4: copy the header at next (with the first slot's payload bytes) */
    atomic { h = hseq[next % CAP]; k = hks[next % CAP]; c0 = data[next % CAP] };
    /* 11.4: copy the payload, bounded by the geometry whatever the copy says: at most KMAX
       slots (max_message), never past the end of the array */
    if
    :: k > 1 && (next % CAP) + 1 < CAP -> c1 = data[(next + 1) % CAP]
    :: else
    fi;
    if
    :: KMAX >= 3 && k > 2 && (next % CAP) + 2 < CAP -> c2 = data[(next + 2) % CAP]
    :: else
    fi;
    atomic {                                /* F4, then 5.10 step 3 for sequence next: load claimed as L */
      L = claimed;
      if
      :: next + CAP < L -> goto lapped      /* the copy is void */
      :: else
      fi;
      /* the copy is valid: checked as in 11.3 */
      assert(VALID(next, h, k));            /* never corrupt: stale or payload bytes */
      assert(fb & BIT(next))
    };
    if
    :: next + k > hi ->                     /* 11.3 step 3: not all published: wait */
      atomic { assert(next + k <= L); L = 0; waitf = true };
      goto stop
    :: else
    fi;
    atomic {
      if
      :: gmask & (((1 << k) - 1) << next) -> /* 11.3 step 4: pass over the frame whole */
        assert(!(mfull & BIT(next)));
        gseen[2] = gseen[2] + k
      :: h & PADF ->                        /* 11.3 step 5: a PAD, passed over silently */
        assert(!(mstart & BIT(next)) && (next % CAP) + k == CAP);
        oslots = oslots + k
      :: else ->                            /* deliver the copy: the whole message, never torn */
        assert(c0 != 0 && (mstart & BIT(next)) && (mfull & BIT(next)));
        assert(k < 2 || c1 == c0);
        assert(k < 3 || c2 == c0);
        assert(MJ(c0) >= olast[MP(c0)]);    /* in order per producer, once */
        olast[MP(c0)] = MJ(c0) + 1;
        odel = odel | BIT(next);
        oslots = oslots + k
      fi;
      next = next + k;
      h = 0; k = 0; c0 = 0; c1 = 0; c2 = 0; L = 0
    };
    goto frames
  :: else
  fi;
#ifndef OLD_510
  /* 5.10: steps 3 and 4 apply even when step 1 finds nothing to copy (a later round's word at
     next); 11.4: it checks for a lap also when nothing at next looks published */
  if
  :: !waitf && next == moved ->
    atomic {
      L = claimed;
      if
      :: next + CAP < L -> goto lapped
      :: else -> L = 0
      fi
    }
  :: else
  fi;
#endif
  goto stop;
lapped:
  atomic {                                  /* 11.4: lapped: lost += L - next, go on at L */
    assert(fb & BIT(L) || L == claimed);
    olost = olost + L - next;
    do
    :: next < L -> olostm = olostm | BIT(next); next++
    :: else -> break
    od;
    h = 0; k = 0; c0 = 0; c1 = 0; c2 = 0; L = 0; waitf = false
  };
stop:
  atomic {
    if
    :: next != moved ->                     /* 5.10 step 5: cursor as in 5.5 step 2 (nobody loads */
      ocur = next;                          /* an optional consumer's cursor here: no step of its own) */
      CLAIMER(next - 1, s);
      assert((fb & BIT(next)) || next == claimed || ((gapped & BIT(next - 1)) && killed[s]));
      s = 0;
      if
      :: !waitf -> goto loop
      :: else
      fi
    :: else
    fi;
    if                                      /* the end of the stream, idealised as for Required */
    :: !alive[1] && !alive[2] && !alive[3] && next == claimed -> done++; goto out
    :: else
    fi;
    limit = 0; hi = 0; gmask = 0; moved = 0; waitf = false; w = 0
  };
  (dC & ME);                                /* waits; a change of claimed ends the wait (5.10) */
  goto loop;
out:
  skip
  }
}
#endif

#ifdef OPT
#define NDONE (NCONS + 1)
#else
#define NDONE NCONS
#endif

/* once nobody can move: the end-of-run properties */
active proctype Final()
{
  byte s, p, r, ci;
  bool g;
end_f:
  atomic {
    timeout ->
    if
    :: done == NDONE ->
      s = 0; g = false;
      do                                    /* every sequence claimed is published xor a gap; a */
      :: s < claimed ->                     /* claim is a published prefix and a GAP suffix, and */
        if                                  /* only a killed producer's claim has GAPs */
        :: cstart & BIT(s) -> g = false; r = claimer[s]
        :: else
        fi;
        assert(((pubd & BIT(s)) != 0) != ((gapped & BIT(s)) != 0));
        if
        :: gapped & BIT(s) -> g = true; assert(killed[r])
        :: else -> assert(!g)
        fi;
#ifdef OPT
        /* a message published whole that the optional consumer did not deliver lies in a
           range it counted as lost */
        assert(s < OSTART || !(mfull & BIT(s)) || (odel & BIT(s)) || (olostm & BIT(s)));
#endif
        s++
      :: else -> break
      od;
      ci = 0;
      do                                    /* every required consumer delivered every message */
      :: ci < NCONS ->                      /* published whole */
        p = 1;
        do
        :: p <= NPROD -> assert(dcount[ci * 4 + p] == pubmsg[p]); p++
        :: else -> break
        od;
        ci++
      :: else -> break
      od;
#ifdef OPT
      /* the optional consumer: delivered and PAD slots, gaps and lost account for all it passed */
      assert(oslots + gseen[2] + olost == claimed)
#endif
    :: else                                 /* somebody waits forever: an invalid end state */
    fi
  }
}

init
{
  byte i;
  atomic {
    /* START: the run begins with the sequences 0 .. START - 1 published as one-slot messages of
       an earlier producer (0, never killed) and read by the required consumers, so that the
       first claims meet the end of the array and reuse slots */
    i = 0;
    do
    :: i < START ->
      avail[i] = i + 1; hseq[i] = i; hks[i] = 1; data[i] = MID(0, i);
      pubd = pubd | BIT(i); fb = fb | BIT(i); cstart = cstart | BIT(i);
      mstart = mstart | BIT(i); mfull = mfull | BIT(i);
      i++
    :: else -> break
    od;
    fb = fb | BIT(START);
    claimed = START; pubmsg[0] = START;
    i = 1;
    do
    :: i <= NPROD -> alive[i] = true; i++
    :: else -> break
    od;
    i = 1;
    do
    :: i <= NPROD -> run Producer(i); i++
    :: else -> break
    od;
    i = 0;
    do
    :: i < NCONS ->
      alive[4 + i] = true; ccur[i] = START; rd[i] = START; dcount[i * 4] = START;
      run Required(i, START); i++
    :: else -> break
    od;
#ifdef OPT
    alive[6] = true; ocur = OSTART; olast[0] = OSTART; oslots = OSTART;
    run Optional(OSTART)
#endif
  }
}
