package liveness

import (
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// ProducersDead reports whether nobody is left to publish into v (spec 5.5 step 4): its creator's
// process is dead and no active producer entry belongs to a live process (segment.ProducerAlive,
// the one home of that rule). pid is the creator's. It reads /proc: cold paths only.
func ProducersDead(v *layout.View) (pid uint32, dead bool) {
	return v.Header().CreatorPID, !segment.ProducerAlive(v)
}
