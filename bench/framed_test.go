package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
)

func TestMessageStream_SizesCoverTheRangeAndChecksumsAgree(t *testing.T) {
	m := newStream()
	seen := map[int]bool{}
	for _, s := range m.sizes {
		require.GreaterOrEqual(t, int(s), msgMin)
		require.LessOrEqual(t, int(s), msgMax)
		seen[int(s)] = true
	}
	require.Len(t, seen, msgMax-msgMin+1, "every size of 64..512 drawn")
	// The consumers' word-at-a-time checksum against the byte-at-a-time expectation, over more
	// than one period of the stream.
	for _, n := range []int{1, 1000, msgSizes, 3*msgSizes + 17} {
		var c, b uint64
		for i := 0; i < n; i++ {
			msg := m.message(uint64(i))
			c = fold(c, msgSum(msg), len(msg))
			b += uint64(len(msg))
		}
		bytes, sum := m.expect(n)
		require.Equal(t, b, bytes, "n %d", n)
		require.Equal(t, c, sum, "n %d", n)
	}
	// One flipped bit anywhere changes it.
	msg := append([]byte(nil), m.message(5)...)
	for _, at := range []int{0, 7, 8, len(msg) - 1} {
		before := msgSum(msg)
		msg[at] ^= 0x10
		require.NotEqual(t, before, msgSum(msg), "byte %d", at)
	}
}

func TestCheckReceived_RefusesAWrongCountByteCountOrChecksum(t *testing.T) {
	bytes, sum := expect(5000)
	require.NoError(t, checkReceived("x", 5000, 5000, bytes, sum))
	require.ErrorIs(t, checkReceived("x", 5000, 4999, bytes, sum), errWrongResult)
	require.ErrorIs(t, checkReceived("x", 5000, 5000, bytes-1, sum), errWrongResult)
	require.ErrorIs(t, checkReceived("x", 5000, 5000, bytes, sum^1), errWrongResult)
}

// The C and Rust consumers name the fixed-slot event by the descriptor Go derives from
// fixedMessage; a different one there would fail their attach, here it fails first.
func TestFixedMessage_DescriptorIsTheCAndRustOne(t *testing.T) {
	et, err := layout.TypeOf[fixedMessage]()
	require.NoError(t, err)
	require.Equal(t, fixedDescriptor, et.Descriptor)
	root, err := Root()
	require.NoError(t, err)
	for _, f := range []string{"bench/interop/c/rwperf.c", "bench/interop/rust/src/main.rs"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		require.Contains(t, string(b), `"`+fixedDescriptor+`"`, f)
	}
}

// Every ring row of the framed group once, small: each consumer's count, bytes and checksum are
// checked inside messageRun.
func TestFramed_DeliverEverything(t *testing.T) {
	tl := testTools(t)
	consumers := []lang{langGo}
	if tl.CPerf != "" {
		consumers = append(consumers, langC)
	}
	if tl.RustPerf != "" {
		consumers = append(consumers, langRust)
	}
	for _, cons := range consumers {
		for _, kind := range []string{"framed", "fixed"} {
			d, err := tl.messageRun(kind, cons, 30_000, "")
			require.NoError(t, err, "%s Go->%s", kind, cons)
			require.Positive(t, d)
			t.Logf("%s Go->%s: %v", kind, cons, d)
		}
	}
	_, err := tl.messageRun("framed", langGo, 10_000, "claim")
	require.NoError(t, err, "framed claim in place")
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

func TestFramed_SocketBaselines(t *testing.T) {
	root, err := Root()
	require.NoError(t, err)
	dir := filepath.Join(root, "bench/baselines/c")
	if _, err := build(dir, time.Minute, "make", "-s"); err != nil {
		t.Skipf("no C baselines: %v", err)
	}
	for _, mode := range []string{"seqpacket", "stream"} {
		d, err := udsRun(filepath.Join(dir, "build/uds"), mode, 20_000)
		require.NoError(t, err, mode)
		require.Positive(t, d)
	}
	_, err = udsRun("", "seqpacket", 10)
	require.ErrorIs(t, err, errSkipped)
}

func TestFramed_PingPongMeasures(t *testing.T) {
	tl := testTools(t)
	for _, kind := range []string{"framed", "fixed"} {
		l, err := tl.pingPongMessages(kind, 500, 50)
		require.NoError(t, err, kind)
		require.Equal(t, 500, l.Samples, kind)
		require.Positive(t, l.P50, kind)
	}
	require.Empty(t, RemoveLeftovers(), "segments left behind")
}

// The framed targets are computed from the group's rows of one run; a failed row leaves its
// target unmeasured with the row's note.
func TestTargets_FramedRatios(t *testing.T) {
	rows := []row{
		{Group: "framed", Scenario: "Go->Go", Impl: "ringwire-framed", Batch: messageBatch, Mevs: 9, MBps: 2600, Baseline: "ringwire-fixed bytes/s", Ratio: 0.9},
		{Group: "framed", Scenario: "Go->C", Impl: "ringwire-framed", Batch: messageBatch, Baseline: "ringwire-fixed bytes/s", Ratio: 0.7},
		{Group: "framed", Scenario: "Go->Rust", Impl: "ringwire-framed", Batch: messageBatch, Note: "failed: wrong result"},
		{Group: "framed", Scenario: "Go->Go vs UDS seqpacket", Impl: "ringwire-framed", Baseline: "c-uds-seqpacket", Ratio: 12},
		{Group: "latency", Scenario: "ping-pong 256 B", Impl: "ringwire-framed", Lat: &latency{P50: 200}, Baseline: "ringwire-fixed p50", Ratio: 1.6},
	}
	byWhat := map[string]readmeTarget{}
	for _, tg := range targets(rows) {
		byWhat[tg.What] = tg
	}
	want := map[string]bool{
		"framed / fixed-slot ring, payload bytes/s, Go->Go":                true,
		"framed / fixed-slot ring, payload bytes/s, Go->C":                 false,
		"framed Go->Go messages/s / Unix socket SOCK_SEQPACKET messages/s": true,
		"framed ping-pong p50 / fixed-slot ping-pong p50 (256 B)":          false,
	}
	for what, met := range want {
		tg, ok := byWhat[what]
		require.True(t, ok, what)
		require.Equal(t, met, tg.Met, what)
		require.NotZero(t, tg.Ratio, what)
	}
	rust := byWhat["framed / fixed-slot ring, payload bytes/s, Go->Rust"]
	require.Zero(t, rust.Ratio)
	require.True(t, strings.HasPrefix(rust.Note, "failed"), rust.Note)
}

func TestRun_RefusesAnUnknownGroup(t *testing.T) {
	_, err := Run(Options{Only: "framd"})
	require.ErrorContains(t, err, `no group "framd"`)
}
