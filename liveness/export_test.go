package liveness

import "time"

// SetMinStallTimeout lowers the spec's 5 s floor on stall timeouts for a test, and returns the
// function that restores it.
func SetMinStallTimeout(d time.Duration) func() {
	old := minStallTimeout
	minStallTimeout = d
	return func() { minStallTimeout = old }
}
