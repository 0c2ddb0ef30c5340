package fnv1a_test

import (
	"go/build"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/fnv1a"
)

// TestSum64_MatchesStandardLibrary compares Sum64 with hash/fnv's FNV-1a 64 and with the
// fingerprint spec/LAYOUT.md section 7 gives for the conformance event.
func TestSum64_MatchesStandardLibrary(t *testing.T) {
	for _, s := range []string{"", "a", "orders", "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8", "\x00\xff"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		require.Equal(t, h.Sum64(), fnv1a.Sum64([]byte(s)), "%q", s)
	}
	require.Equal(t, fnv1a.Offset, fnv1a.Sum64(nil))
	require.Equal(t, uint64(0x8463538f676797d7), fnv1a.Sum64([]byte("struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8")))
}

// TestSum64_SharedWithoutLayoutImportingNaming: layout and naming both hash with this package,
// and layout, the package every other one imports, depends on no other ringwire package but
// internal ones.
func TestSum64_SharedWithoutLayoutImportingNaming(t *testing.T) {
	for _, dir := range []string{"../../layout", "../../naming"} {
		pkg, err := build.ImportDir(dir, 0)
		require.NoError(t, err)
		require.Contains(t, pkg.Imports, "github.com/ringwire/ringwire/internal/fnv1a", dir)
		if dir == "../../layout" {
			for _, imp := range pkg.Imports {
				if strings.HasPrefix(imp, "github.com/ringwire/ringwire/") {
					require.True(t, strings.HasPrefix(imp, "github.com/ringwire/ringwire/internal/"), "layout imports %s", imp)
				}
			}
		}
	}
}
