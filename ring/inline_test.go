package ring_test

import (
	"os/exec"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The typed layers' per-event paths are generic, compiled in their users' packages, where Go
// inlines ring's methods only because producer/hot.go and consumer/hot.go put their bodies into
// the typed packages' export data (see hot.go). This compiles a package that instantiates both
// types without importing ring and checks, in the compiler's inlining report, that the per-event
// and per-claim halves were inlined there: removing or emptying one of those anchors makes each
// of them a call again, which no other test would notice.
func TestInline_TypedLayersInlineTheCore(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a probe package")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const probe = "github.com/ringwire/ringwire/ring/testdata/probe"
	out, err := exec.Command(goBin, "build", "-gcflags="+probe+"=-m", "-o", "/dev/null", "./testdata/probe").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []struct{ file, call string }{
		{"producer/publish.go", "ring.(*Producer).ClaimFast"},
		{"producer/publish.go", "ring.(*Producer).PublishFast"},
		{"producer/publish.go", "ring.(*Producer).Slot"},
		{"producer/publish.go", "ring.(*Producer).Spans"},
		{"producer/publish.go", "layout.(*Arrays).Slot"},
		{"consumer/read.go", "ring.(*Consumer).Registered"},
		{"consumer/read.go", "ring.(*Consumer).Slot"},
		{"consumer/read.go", "ring.(*Consumer).Spans"},
		{"consumer/read.go", "ring.(*Consumer).Bounds"},
		{"consumer/read.go", "ring.(*Consumer).Lapped"},
		{"consumer/read.go", "ring.(*Consumer).PollPublished"},
		{"consumer/read.go", "ring.(*Consumer).ReleaseFast"},
		{"consumer/read.go", "layout.(*Arrays).Slot"},
	} {
		re := regexp.MustCompile(regexp.QuoteMeta(want.file) + `:\d+:\d+: inlining call to ` + regexp.QuoteMeta(want.call) + `\b`)
		require.Regexp(t, re, string(out), "%s no longer inlined in %s compiled in a user's package", want.call, want.file)
	}
}
