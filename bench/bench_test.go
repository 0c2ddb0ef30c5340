package bench

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestScenarios_DeliverEverything runs each scenario once, small, so a broken benchmark fails the
// test suite rather than printing a number. Every scenario checks, inside, that every event
// arrived in order; nothing here is timed.
func TestScenarios_DeliverEverything(t *testing.T) {
	for _, shape := range shapes {
		for _, size := range eventSizes {
			for _, batch := range []int{1, 16} {
				cfg := config{Shape: shape, EventSize: size, Capacity: 64, Batch: batch, Wait: defaultWait(shape)}
				_, err := inProcess(cfg, 2_000)
				require.NoError(t, err, "ringwire %+v", cfg)
			}
			_, err := channelShape(config{Shape: shape, EventSize: size, Capacity: 64}, 2_000)
			require.NoError(t, err, "chan %s %d", shape, size)
		}
		_, err := inProcess(config{Shape: shape, EventSize: 64, Capacity: 64, Batch: 8, Wait: "blocking"}, 2_000)
		require.NoError(t, err, "ringwire %s blocking", shape)
	}
}

func testTools(t *testing.T) tools {
	var tl tools
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
	pairs := [][2]lang{{langGo, langGo}}
	if tl.CPerf != "" {
		pairs = append(pairs, [2]lang{langC, langC}, [2]lang{langGo, langC}, [2]lang{langC, langGo})
	}
	if tl.RustPerf != "" {
		pairs = append(pairs, [2]lang{langGo, langRust}, [2]lang{langRust, langGo})
	}
	for _, pc := range pairs {
		for _, batch := range []int{1, 32} {
			_, err := tl.crossProcessIn(pc[0], pc[1], 20_000, 256, batch)
			require.NoError(t, err, "%s->%s batch %d", pc[0], pc[1], batch)
		}
	}
	for _, size := range eventSizes {
		_, err := tl.crossProcessSized(5_000, 256, 32, size)
		require.NoError(t, err, "Go->Go, %d-byte events", size)
	}
	_, err := crossProcessSPSC(10_000, 256, 32)
	require.NoError(t, err)
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

// Each shape with every producer and consumer in a process of its own: every consumer checks
// every event (order per producer), the stream ends, nothing is left in /dev/shm.
func TestCrossShape_DeliverEverything(t *testing.T) {
	tl := testTools(t)
	for _, shape := range []shape{shapeMPSC, shapeSPMC, shapePipeline, shapeDiamond} {
		for _, batch := range []int{1, 32} {
			cfg := config{Shape: shape, EventSize: 64, Capacity: 256, Batch: batch, Wait: "yield"}
			d, err := tl.crossShape(cfg, 20_000)
			require.NoError(t, err, "%s batch %d", shape, batch)
			require.Positive(t, d)
			t.Logf("%s batch %d: %v", shape, batch, d)
		}
	}
	_, err := tl.crossShape(config{Shape: shapeSPMC, EventSize: 8, Capacity: 256, Batch: 1, Wait: "yield"}, 100)
	require.Error(t, err, "only 64-byte events cross processes")
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

func TestLatency_Measures(t *testing.T) {
	tl := testTools(t)
	for _, wait := range []string{"busy-spin", "yield", "blocking"} {
		l, err := tl.pingPongWait(wait, 500, 50)
		require.NoError(t, err, wait)
		require.Equal(t, 500, l.Samples)
		require.Positive(t, l.P50)
	}
	for lang, bin := range map[lang]string{langC: tl.CPerf, langRust: tl.RustPerf} {
		l, err := tl.pingPongIn(lang, 500, 50)
		if bin == "" {
			require.ErrorIs(t, err, errSkipped, lang)
			continue
		}
		require.NoError(t, err, lang)
		require.Equal(t, 500, l.Samples, lang)
		require.Positive(t, l.P50, lang)
		require.GreaterOrEqual(t, l.Max, l.P50, lang)
	}
	l, err := tl.wakeUp(20, 200*time.Microsecond)
	require.NoError(t, err)
	require.Equal(t, 20, l.Samples)
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}
