package liveness

import (
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// ProducersDead reports whether nobody is left to publish into v (section 8): its creator's
// process is dead and, in multi-producer mode, no active producer entry belongs to a live
// process (an active entry whose owner pid is not written yet counts as live). pid is the
// creator's. A creator whose pid is unknown (0) is never dead. It reads /proc: cold paths only.
func ProducersDead(v *layout.View) (pid uint32, dead bool) {
	h := v.Header()
	pid = h.CreatorPID
	if pid == 0 || sys.Alive(pid, h.CreatorStartTime) {
		return pid, false
	}
	if v.Mode() == layout.MultiProducer {
		for i := 0; i < v.Producers(); i++ {
			e := v.Producer(i)
			if e.State.Load() == layout.ProducerActive && (e.OwnerPID == 0 || !ProducerDead(e)) {
				return pid, false
			}
		}
	}
	return pid, true
}
