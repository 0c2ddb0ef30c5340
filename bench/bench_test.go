package bench

import (
	"testing"
	"time"
)

func report(b *testing.B, d time.Duration, err error) {
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds()/1e6, "Mevents/s")
}

func BenchmarkSPSC(b *testing.B) {
	b.Run("ringwire/batch=64", func(b *testing.B) {
		d, err := InProcessSPSC(b.N, 4096, 64)
		report(b, d, err)
	})
	b.Run("ringwire/batch=1", func(b *testing.B) {
		d, err := InProcessSPSC(b.N, 4096, 1)
		report(b, d, err)
	})
	b.Run("chan", func(b *testing.B) {
		d, err := Channel(b.N, 4096)
		report(b, d, err)
	})
}

// TestScenarios_DeliverEverything runs each scenario once, small, so a broken benchmark fails
// the test suite rather than printing a number.
func TestScenarios_DeliverEverything(t *testing.T) {
	if _, err := InProcessSPSC(100_000, 64, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := Channel(10_000, 64); err != nil {
		t.Fatal(err)
	}
	if _, err := CrossProcessSPSC(100_000, 256, 32); err != nil {
		t.Fatal(err)
	}
}
