package bench

import (
	"os"
	"testing"

	"github.com/ringwire/ringwire/internal/testseg"
)

func TestMain(m *testing.M) {
	MaybeChild()
	os.Exit(testseg.Main(m))
}
