package consumer

import "github.com/ringwire/ringwire/ring"

// The per-event paths of Consumer[T] are generic methods, compiled in the package that
// instantiates them (the user's). There Go inlines a call to another package's function only if
// its body is in the export data the compiler reads: ring's own export data is read only when the
// user's package imports ring, but a package's export data also carries the bodies of the
// functions its own non-generic functions inline. inlineRing is that non-generic function: it is
// never called, and it puts the bodies of ring's inline halves (and of what they inline:
// layout.Arrays.Slot, internal/order) into this package's export data, so that Read, Process and
// ProcessSlices compiled in the user's package inline the per-event registration check, the slot
// address, the lap check and the cursor store instead of calling them (measured with go build
// -gcflags=-m=2 on a package that instantiates Consumer[T]; ring's
// TestInline_TypedLayersInlineTheCore checks it). A fast half added to ring and used here belongs
// here. A call to ring inside a generic function that is itself inlined (into the user's
// function, or into another generic function such as a small helper) stays a call: the per-event
// loops call ring directly.
func inlineRing(r *ring.Consumer) {
	_, _ = r.Next(), r.End()
	_ = r.Slot(0)
	_, _ = r.Spans(0, 1)
	_ = r.Registered()
	_ = r.Lapped(0)
	_ = r.GapsIn()
	_, _ = r.Bounds(0)
	_ = r.PollPublished()
	_ = r.ReleaseFast(1)
}
