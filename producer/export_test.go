package producer

import "github.com/ringwire/ringwire/ring"

// SetScanHook installs f as the gating scan's test hook and returns a function that removes it.
func SetScanHook(f func(entry int)) (restore func()) { return ring.SetScanHook(f) }
