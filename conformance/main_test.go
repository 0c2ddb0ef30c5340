package conformance_test

import (
	"os"
	"testing"

	"github.com/ringwire/ringwire/internal/testseg"
)

// TestMain fails a run that leaves a shared-memory segment behind: the conformers of every
// language create and attach segments named by segName.
func TestMain(m *testing.M) {
	os.Exit(testseg.Main(m))
}
