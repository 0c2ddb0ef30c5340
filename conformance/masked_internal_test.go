package conformance

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/layout"
)

// TestMaskedFields_FromTheOneList: the Go masking is built from testdata/v2/masked.tsv (the list
// C and Rust test against), resolving each name through the overlays' spec tags.
func TestMaskedFields_FromTheOneList(t *testing.T) {
	require.Equal(t, [][2]uintptr{
		{unsafe.Offsetof(layout.Header{}.Incarnation), 8},
		{unsafe.Offsetof(layout.Header{}.CreatorPID), 4},
		{unsafe.Offsetof(layout.Header{}.CreatorStartTime), 8},
		{unsafe.Offsetof(layout.Header{}.CreatedUnixNs), 8},
		{unsafe.Offsetof(layout.Header{}.ProducerHeartbeatNs), 8},
		{unsafe.Offsetof(layout.Header{}.PoisonPID), 4},
	}, masked.header)
	require.Equal(t, [][2]uintptr{
		{unsafe.Offsetof(layout.Entry{}.Owner), 8},
		{unsafe.Offsetof(layout.Entry{}.HeartbeatNs), 8},
	}, masked.entry)
	require.Equal(t, [][2]uintptr{
		{unsafe.Offsetof(layout.ProducerEntry{}.Owner), 8},
		{unsafe.Offsetof(layout.ProducerEntry{}.HeartbeatNs), 8},
	}, masked.producer)
}

func TestParseMaskedFields_RefusesUnknownNames(t *testing.T) {
	tests := []struct{ name, tsv string }{
		{name: "unknown field", tsv: "header\tno_such_field\n"},
		{name: "unknown table", tsv: "cursors\tclaimed\n"},
		{name: "missing column", tsv: "header\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMaskedFields(tt.tsv)
			require.Error(t, err)
		})
	}
	m, err := parseMaskedFields("# comment\n\nentry\tcursor\n")
	require.NoError(t, err)
	require.Equal(t, [][2]uintptr{{unsafe.Offsetof(layout.Entry{}.Cursor), 8}}, m.entry)
}
