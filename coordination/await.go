package coordination

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ringwire/ringwire/layout"
)

// ErrAwaitTimeout is returned by AwaitConsumers when its deadline passes.
var ErrAwaitTimeout = errors.New("consumers did not attach in time")

// AwaitConsumers waits until at least n consumers are active in v and every consumer named in
// names is active, polling every millisecond, up to deadline (zero: forever). It is how a
// producer holds its first publish until its audience is there. A consumer counts once it is
// ready (layout.Entry.Ready): active, with its starting cursor chosen.
func AwaitConsumers(v *layout.View, n int, names []string, deadline time.Time) error {
	for {
		active := 0
		have := map[string]bool{}
		for _, e := range v.AllEntries() {
			if e.Ready() {
				active++
				have[e.NameString()] = true
			}
		}
		var missing []string
		for _, name := range names {
			if !have[name] {
				missing = append(missing, name)
			}
		}
		if active >= n && len(missing) == 0 {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d active, missing [%s]", ErrAwaitTimeout, active, n, strings.Join(missing, ", "))
		}
		time.Sleep(time.Millisecond)
	}
}
