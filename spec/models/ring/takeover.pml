/*
 * takeover.pml (run C): taking over a consumer entry whose owner is dead (5.7 "Taking over",
 * 4.3, section 8) and deregistering (5.7 "Deregistering"); -DOLD_TAKEOVER gives 1.0 5.7 step 5
 * (compare-and-swap of `generation`, then owner_pid / owner_start_time written after, then the
 * generation re-loaded).
 *
 * One registry entry, active, named N, owned by process 1 (which may die at any step). Processes
 * 2 and 3 are restarted consumers named N: each scans (5.7 step 1), refuses if the owner is alive,
 * takes the entry over if the owner is dead, then owns it until it deregisters (5.7) or dies.
 *
 * Properties: at most one live process believes it owns the entry at any time, and a taker's
 * winning compare-and-swap never happens while a live process owns the entry.
 */
#include "common.pml"

#define C_ACTIVE 2
#define C_CLOSED 3
#define CS(x)    ((x) & 7)
#define CG(x)    ((x) >> 3)
#define CMK(s, g) ((s) | ((g) << 3))

#ifndef MAXKILL
#define MAXKILL 2
#endif

byte cst;                     /* 4.3 state with generation */
byte cowner;                  /* 4.3 owner identity (2.0) */
byte ogen;                    /* 1.0: generation (plain; CAS on takeover) */
byte opid;                    /* 1.0: owner_pid (plain) */
bool alive[4];
bool owns[4];                 /* ghost: p believes it owns the entry */
byte kills;

#define LIVE_OWNERS ((alive[1] && owns[1]) + (alive[2] && owns[2]) + (alive[3] && owns[3]))

active proctype Killer()
{
end_k:
  do
  :: atomic { alive[1] && kills < MAXKILL -> alive[1] = false; kills++ }
  :: atomic { alive[2] && kills < MAXKILL -> alive[2] = false; kills++ }
  :: atomic { alive[3] && kills < MAXKILL -> alive[3] = false; kills++ }
  :: break
  od
}

/* the original owner: owns the entry and reads until it dies or deregisters */
proctype Owner(byte me)
{
  bool ok;
  {
    if
    :: CAS(cst, CMK(C_ACTIVE, 1), CMK(C_CLOSED, 1), ok, skip);   /* 5.7 Deregistering */
       owns[me] = false
    :: skip                                                        /* keeps reading */
    fi
  } unless { !alive[me] };
  alive[me] = false
}

proctype Taker(byte me)
{
  byte st, o, g, g2;
  bool ok;
  {
    st = cst;                               /* 5.7 step 1: an active entry with its name */
    if
    :: CS(st) != C_ACTIVE -> goto out
    :: else
    fi;
#ifndef OLD_TAKEOVER
    o = cowner;                             /* 5.7 Taking over: load owner as o */
    if
    :: alive[o] -> goto out                 /* 5.7 step 1: owner alive: "duplicate name" */
    :: else
    fi;
    atomic {                                /* 5.7 Taking over: CAS owner from o to itself */
      if
      :: cowner == o ->
        cowner = me; ok = true;
        assert(LIVE_OWNERS == 0);          /* never takes an entry whose owner is alive */
        owns[me] = true                     /* only the winner goes on */
      :: else -> ok = false
      fi
    };
    if
    :: !ok -> goto out
    :: else
    fi;
#else
    g = ogen;                               /* 1.0 5.7 step 5: read generation as g */
    o = opid;                               /* and seen the owner dead */
    if
    :: alive[o] -> goto out
    :: else
    fi;
    atomic {                                /* CAS generation from g to g + 1 */
      if
      :: ogen == g -> ogen = g + 1; ok = true; assert(LIVE_OWNERS == 0)
      :: else -> ok = false
      fi
    };
    if
    :: !ok -> goto out
    :: else
    fi;
    opid = me;                              /* the winner rewrites the owner fields */
    g2 = ogen;                              /* then loads generation again */
    if
    :: g2 != g + 1 -> goto out              /* lost to another taker: refuse */
    :: else
    fi;
    owns[me] = true;
#endif
    assert(LIVE_OWNERS <= 1);               /* at most one live owner */
    /* owns the entry: reads (not modelled), then deregisters or keeps it */
    if
    :: CAS(cst, st, CMK(C_CLOSED, CG(st)), ok, skip);   /* 5.7 Deregistering: CAS from active (its generation) */
       owns[me] = false
    :: skip
    fi;
out:
    skip
  } unless { !alive[me] };
  alive[me] = false
}

/* a live owner's belief checked at every step */
active proctype Monitor()
{
end_m:
  atomic { LIVE_OWNERS > 1 -> assert(false) }
}

init
{
  atomic {
    alive[1] = true; alive[2] = true; alive[3] = true;
    cst = CMK(C_ACTIVE, 1); cowner = 1; ogen = 1; opid = 1; owns[1] = true;
    run Owner(1); run Taker(2); run Taker(3)
  }
}
