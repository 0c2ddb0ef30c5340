package bench

import (
	"os"
	"testing"

	"github.com/ringwire/ringwire/internal/child"
	"github.com/ringwire/ringwire/internal/testseg"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	os.Exit(testseg.Main(m))
}
