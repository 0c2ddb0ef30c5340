package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func report(b *testing.B, d time.Duration, err error) {
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/d.Seconds()/1e6, "Mevents/s")
}

// benchShape runs one shape as sub-benchmarks ringwire/batch=1, ringwire/batch=64 and chan, with
// 64-byte events and capacity 4096; shapes of more than 2 threads wait with yield (see
// DefaultWait).
func benchShape(b *testing.B, shape Shape) {
	for _, batch := range []int{1, 64} {
		cfg := Config{Shape: shape, EventSize: 64, Capacity: 4096, Batch: batch, Wait: DefaultWait(shape)}
		b.Run(fmt.Sprintf("ringwire/batch=%d/%s", batch, cfg.Wait), func(b *testing.B) {
			d, err := InProcess(cfg, max(b.N, 2))
			report(b, d, err)
		})
	}
	b.Run("chan", func(b *testing.B) {
		d, err := ChannelShape(Config{Shape: shape, EventSize: 64, Capacity: 4096, Batch: 1}, max(b.N, 2))
		report(b, d, err)
	})
}

func BenchmarkSPSC(b *testing.B)     { benchShape(b, SPSC) }
func BenchmarkMPSC(b *testing.B)     { benchShape(b, MPSC) }
func BenchmarkSPMC(b *testing.B)     { benchShape(b, SPMC) }
func BenchmarkPipeline(b *testing.B) { benchShape(b, Pipeline) }
func BenchmarkDiamond(b *testing.B)  { benchShape(b, Diamond) }

// TestScenarios_DeliverEverything runs each scenario once, small, so a broken benchmark fails the
// test suite rather than printing a number. Every scenario checks, inside, that every event
// arrived in order; nothing here is timed.
func TestScenarios_DeliverEverything(t *testing.T) {
	for _, shape := range Shapes {
		for _, size := range EventSizes {
			for _, batch := range []int{1, 16} {
				cfg := Config{Shape: shape, EventSize: size, Capacity: 64, Batch: batch, Wait: DefaultWait(shape)}
				_, err := InProcess(cfg, 2_000)
				require.NoError(t, err, "ringwire %+v", cfg)
			}
			_, err := ChannelShape(Config{Shape: shape, EventSize: size, Capacity: 64}, 2_000)
			require.NoError(t, err, "chan %s %d", shape, size)
		}
		_, err := InProcess(Config{Shape: shape, EventSize: 64, Capacity: 64, Batch: 8, Wait: "blocking"}, 2_000)
		require.NoError(t, err, "ringwire %s blocking", shape)
	}
}

func testTools(t *testing.T) Tools {
	self, err := os.Executable()
	require.NoError(t, err)
	tl := Tools{Self: self, SelfArgs: []string{"-test.run=^$"}}
	// The C rwperf program is built if make and a C compiler are there (a second or two); Rust is
	// used only if someone built it already: the tests never run cargo.
	if root, err := Root(); err == nil {
		if _, err := build(root+"/bench/interop/c", time.Minute, "make", "-s"); err == nil {
			tl.CPerf = root + "/bench/interop/c/build/rwperf"
		}
		if _, err := os.Stat(root + "/bench/interop/rust/target/release/rwperf"); err == nil {
			tl.RustPerf = root + "/bench/interop/rust/target/release/rwperf"
		}
	}
	return tl
}

func TestCrossProcess_DeliverEverything(t *testing.T) {
	tl := testTools(t)
	pairs := [][2]Lang{{Go, Go}}
	if tl.CPerf != "" {
		pairs = append(pairs, [2]Lang{C, C}, [2]Lang{Go, C}, [2]Lang{C, Go})
	}
	if tl.RustPerf != "" {
		pairs = append(pairs, [2]Lang{Go, Rust}, [2]Lang{Rust, Go})
	}
	for _, pc := range pairs {
		for _, batch := range []int{1, 32} {
			_, err := tl.CrossProcess(pc[0], pc[1], 20_000, 256, batch)
			require.NoError(t, err, "%s->%s batch %d", pc[0], pc[1], batch)
		}
	}
	for _, size := range EventSizes {
		_, err := tl.CrossProcessSized(5_000, 256, 32, size)
		require.NoError(t, err, "Go->Go, %d-byte events", size)
	}
	_, err := CrossProcessSPSC(10_000, 256, 32)
	require.NoError(t, err)
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

// Each shape with every producer and consumer in a process of its own: every consumer checks
// every event (order per producer), the stream ends, nothing is left in /dev/shm.
func TestCrossShape_DeliverEverything(t *testing.T) {
	tl := testTools(t)
	for _, shape := range []Shape{MPSC, SPMC, Pipeline, Diamond} {
		for _, batch := range []int{1, 32} {
			cfg := Config{Shape: shape, EventSize: 64, Capacity: 256, Batch: batch, Wait: "yield"}
			d, err := tl.CrossShape(cfg, 20_000)
			require.NoError(t, err, "%s batch %d", shape, batch)
			require.Positive(t, d)
			t.Logf("%s batch %d: %v", shape, batch, d)
		}
	}
	_, err := tl.CrossShape(Config{Shape: SPMC, EventSize: 8, Capacity: 256, Batch: 1, Wait: "yield"}, 100)
	require.Error(t, err, "only 64-byte events cross processes")
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

func TestLatency_Measures(t *testing.T) {
	tl := testTools(t)
	for _, wait := range []string{"busy-spin", "yield", "blocking"} {
		l, err := tl.PingPong(wait, 500, 50)
		require.NoError(t, err, wait)
		require.Equal(t, 500, l.Samples)
		require.Positive(t, l.P50)
	}
	for lang, bin := range map[Lang]string{C: tl.CPerf, Rust: tl.RustPerf} {
		l, err := tl.PingPongIn(lang, 500, 50)
		if bin == "" {
			require.ErrorIs(t, err, ErrSkipped, lang)
			continue
		}
		require.NoError(t, err, lang)
		require.Equal(t, 500, l.Samples, lang)
		require.Positive(t, l.P50, lang)
		require.GreaterOrEqual(t, l.Max, l.P50, lang)
	}
	l, err := tl.WakeUp(20, 200*time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, 20, l.Samples)
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}
