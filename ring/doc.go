// Package ring is the byte-level core of ringwire: one non-generic implementation of the
// protocol of spec/LAYOUT.md sections 5.3 to 5.10 over a segment's slots, in sequences and slot
// bytes. A Producer creates a segment or registers in one, claims sequences (Claim, TryClaim),
// hands out the claimed slots as at most two contiguous runs (before and after the wrap), and
// publishes them; it runs the gating scan, waits with its wait strategy, applies its liveness
// policy, heartbeats, poisons and closes. A Consumer registers, waits for published sequences,
// hands out the slots of [Next, End) as pointers or bytes, checks its registration per event,
// verifies the copies of an optional consumer, passes over gaps, notices dead producers and its
// own eviction, and releases up to any sequence it chooses by storing its cursor.
//
// The typed producer.Producer[T] and consumer.Consumer[T] are thin layers over it; framed
// messages, foreign-language bindings and bridges use it directly. A reader of variable-length
// frames reads a frame header in one slot (Slot, SlotBytes), the payload over the following k
// slots (Spans: at most two runs across the wrap, each a pointer or, with Span.Bytes, a byte
// slice), and releases up to the frame's end (Release).
//
// A consumer's read cycle: Begin (pending losses, eviction), Wait or Await if End <= Next (or Poll
// without waiting), Bounds or, if GapsIn, Range for the run to read, then per slot the read and
// Registered (a required consumer) or a copy and Lapped (an optional one), and Release.
//
// Inline halves. Some methods come in a fast half small enough to be inlined and a slow half
// (ClaimFast and ClaimSlow, PublishFast and PublishSlow, ReleaseFast and ReleaseSlow): callers on
// a hot path call the fast half and the slow one only when it reports false. See hot.go for how a
// generic layer gets them, and the per-slot methods, inlined in its users' packages.
package ring
