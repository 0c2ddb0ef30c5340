package ring_test

import (
	"os"
	"testing"

	"github.com/ringwire/ringwire/internal/testseg"
)

// TestMain fails a run that leaves a shared-memory segment behind.
func TestMain(m *testing.M) { os.Exit(testseg.Main(m)) }
