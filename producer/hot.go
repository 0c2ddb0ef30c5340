package producer

import "github.com/ringwire/ringwire/ring"

// The per-event paths of Producer[T] are generic methods, compiled in the package that
// instantiates them (the user's). There Go inlines a call to another package's function only if
// its body is in the export data the compiler reads: ring's own export data is read only when the
// user's package imports ring, but a package's export data also carries the bodies of the
// functions its own non-generic functions inline. inlineRing is that non-generic function: it is
// never called, and it puts the bodies of ring's inline halves (and of what they inline:
// layout.Arrays.Slot, internal/order) into this package's export data, so that Publish,
// PublishBatch and Claim.Slices compiled in the user's package inline them instead of calling
// them. Without it each was a call, several per event (measured with go build -gcflags=-m=2 on a
// package that instantiates Producer[T]; ring's TestInline_TypedLayersInlineTheCore checks it).
// A fast half added to ring and used here belongs here. Two limits, found the same way: a call
// to ring inside a generic function that is itself inlined (into the user's function, or into
// another generic function such as a small helper) stays a call, so the typed methods call ring
// directly; and ring.Claim.Spans is not inlined outside ring, so Claim.Slices takes the
// spans from Producer.Spans.
func inlineRing(r *ring.Producer, c ring.Claim) {
	_, _, _ = c.Start(), c.Len(), c.Seq(0)
	seq, _ := r.ClaimFast(1)
	_ = r.Slot(seq)
	_, _ = r.Spans(seq, seq+1)
	_ = r.PublishFast(seq + 1)
}
