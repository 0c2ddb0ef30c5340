/*
 * Shared definitions of the ring models (spec/LAYOUT.md 2.0).
 *
 * Semantics: Promela interleaving, i.e. every shared word is accessed sequentially consistently.
 * That is what the protocol steps of section 5 assume; the fences of 5.11 that make release and
 * acquire accesses behave so on weak hardware are not modelled here.
 *
 * One spec step is one Promela step: one load, store or compare-and-swap of one shared word,
 * together with the private computation on its result (grouped with `atomic` where that keeps
 * the state space small; private computation is invisible to the other peers).
 *
 * Process death (section 5: "a peer may stop between any two steps"): every peer runs its body
 * inside `{ ... } unless { !alive[me] }` and the Killer process may set alive[p] = false between
 * any two steps of any process, so a dead process never takes another step. A process that ends
 * normally also sets alive[me] = false: by section 8 an exited process is dead. Identity 0 is
 * "never owned": alive[0] is always false (section 8: pid 0 names no process). Owner identities
 * (section 8) are process numbers that are never reused, which is what pid + start time give.
 * "Is the owner dead?" is a read of alive[o] for the loaded o (kill(pid, 0) and the start time).
 *
 * Waiting: a peer that would poll a condition instead blocks until a shared word that its poll
 * reads has been written since it cleared its bit (classes: dC words consumers poll, dI the
 * producers' intents, dP words producers poll for room). Polling again with none of them changed
 * would read the same values, so this loses no behaviour, and a peer that can never be released
 * shows up as an invalid end state.
 */

byte dC, dI, dP;

#define ME            (1 << me)
#define WAKE_C        dC = 48
#define WAKE_I        dI = 48
#define WAKE_P        dP = 14
#define WAKE_ALL      dC = 48; dI = 48; dP = 14

/* compare-and-swap of one word, one atomic step; `wake` names the pollers it concerns */
#define CAS(x, o, n, ok, wake)  atomic { if :: (x) == (o) -> x = n; ok = true; wake :: else -> ok = false fi }
