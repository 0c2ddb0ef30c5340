package layout

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// specRow is one row of a byte table in spec/LAYOUT.md.
type specRow struct {
	offset, size uint64
	typ          string
}

// specTables parses every "### Table: NAME" byte table of the spec into NAME -> field -> row.
func specTables(t *testing.T) map[string]map[string]specRow {
	t.Helper()
	f, err := os.Open("../spec/LAYOUT.md")
	require.NoError(t, err)
	defer f.Close()
	tables := map[string]map[string]specRow{}
	var cur map[string]specRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "### Table: "); ok {
			cur = map[string]specRow{}
			tables[name] = cur
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = nil
		}
		if cur == nil || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		off, err1 := strconv.ParseUint(cells[0], 10, 64)
		size, err2 := strconv.ParseUint(cells[1], 10, 64)
		if err1 != nil || err2 != nil || len(cells) < 4 {
			continue // header or separator row
		}
		cur[cells[3]] = specRow{offset: off, size: size, typ: cells[2]}
	}
	require.NoError(t, sc.Err())
	return tables
}

// goType gives the spec type of a Go field type.
func goType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Uint16:
		return "u16"
	case reflect.Uint32:
		return "u32"
	case reflect.Uint64:
		return "u64"
	case reflect.Array:
		return "u8[" + strconv.Itoa(t.Len()) + "]"
	case reflect.Struct:
		switch t {
		case reflect.TypeOf(Region{}):
			return "region"
		}
		if t.PkgPath() == "sync/atomic" {
			return map[string]string{"Uint32": "u32", "Uint64": "u64"}[t.Name()]
		}
	}
	return t.String()
}

// overlayRows flattens an overlay struct into spec rows using its `spec` tags. A tag with commas
// names the fields of a nested struct in order.
func overlayRows(t reflect.Type) map[string]specRow {
	rows := map[string]specRow{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		names := strings.Split(f.Tag.Get("spec"), ",")
		if len(names) == 1 {
			rows[names[0]] = specRow{offset: uint64(f.Offset), size: uint64(f.Type.Size()), typ: goType(f.Type)}
			continue
		}
		for j, n := range names {
			sf := f.Type.Field(j)
			rows[n] = specRow{offset: uint64(f.Offset + sf.Offset), size: uint64(sf.Type.Size()), typ: goType(sf.Type)}
		}
	}
	return rows
}

func TestSpec_TablesMatchOverlays(t *testing.T) {
	tables := specTables(t)
	for _, tc := range []struct {
		name  string
		typ   reflect.Type
		total uint64
	}{
		{"header", reflect.TypeOf(Header{}), HeaderLen},
		{"cursors", reflect.TypeOf(Cursors{}), CursorsLen},
		{"wait", reflect.TypeOf(Wait{}), WaitLen},
		{"entry", reflect.TypeOf(Entry{}), EntrySize},
		{"producer", reflect.TypeOf(ProducerEntry{}), ProducerSize},
		{"frame", reflect.TypeOf(FrameHeader{}), FrameHeaderLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, ok := tables[tc.name]
			require.True(t, ok, "spec has no table %q", tc.name)
			require.Equal(t, spec, overlayRows(tc.typ))
			var covered uint64
			for _, r := range spec {
				covered += r.size
			}
			require.Equal(t, tc.total, covered, "table rows must cover every byte")
			require.Equal(t, tc.total, uint64(tc.typ.Size()))
		})
	}
}

func TestSpec_FingerprintVectors(t *testing.T) {
	b, err := os.ReadFile("../spec/LAYOUT.md")
	require.NoError(t, err)
	sec := string(b)[strings.Index(string(b), "| descriptor | fingerprint |"):]
	sec = sec[:strings.Index(sec, "\n\n")]
	n := 0
	for _, line := range strings.Split(sec, "\n")[2:] {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		d := strings.Trim(strings.TrimSpace(cells[0]), "`")
		want, err := strconv.ParseUint(strings.TrimPrefix(strings.Trim(strings.TrimSpace(cells[1]), "`"), "0x"), 16, 64)
		require.NoError(t, err)
		require.Equal(t, want, Fingerprint(d), d)
		n++
	}
	require.Equal(t, 2, n)
}

type conformanceEvent struct {
	Seq, Producer, Checksum uint64
	Payload                 [40]byte
}

func TestTypeOf_Descriptors(t *testing.T) {
	type withBool struct {
		A bool
		B int32
		C [2]struct{ X, Y float32 }
	}
	for _, tc := range []struct {
		name string
		got  func() (EventType, error)
		want string
	}{
		{"u64", TypeOf[uint64], "u64:8:8"},
		{"conformance", TypeOf[conformanceEvent], "struct{u64@0,u64@8,u64@16,[40]u8@24}:64:8"},
		{"nested", TypeOf[withBool], "struct{b8@0,i32@4,[2]struct{f32@0,f32@4}@8}:24:4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			et, err := tc.got()
			require.NoError(t, err)
			require.Equal(t, tc.want, et.Descriptor)
			require.Equal(t, Fingerprint(tc.want), et.Fingerprint)
		})
	}
	et, _ := TypeOf[conformanceEvent]()
	require.Equal(t, uint64(0x8463538f676797d7), et.Fingerprint)
}

func TestTypeOf_RefusesUnshareableTypes(t *testing.T) {
	type withString struct{ S string }
	type withInt struct{ N int }
	type withPtr struct{ P *uint64 }
	type empty struct{}
	for name, f := range map[string]func() (EventType, error){
		"string": TypeOf[withString], "int": TypeOf[withInt], "pointer": TypeOf[withPtr],
		"slice": TypeOf[[]byte], "empty": TypeOf[empty], "too big": TypeOf[[MaxEventSize + 1]byte],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f()
			require.ErrorIs(t, err, ErrNotRepresented)
		})
	}
}
