package segment_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/segment"
)

// unescapeName undoes the \xHH escapes of conformance/testdata/segment_names.tsv.
func unescapeName(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			require.NoError(t, err, s)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestCheckName_SharedVectors checks the name grammar of spec section 9 against the vectors every
// implementation checks (C and Rust read the same file).
func TestCheckName_SharedVectors(t *testing.T) {
	f, err := os.Open("../conformance/testdata/segment_names.tsv")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		raw, verdict, ok := strings.Cut(line, "\t")
		require.True(t, ok, "malformed vector %q", line)
		name := unescapeName(t, raw)
		err := segment.CheckName(name)
		switch verdict {
		case "valid":
			require.NoError(t, err, "%q", raw)
		case "invalid":
			require.ErrorIs(t, err, segment.ErrBadName, "%q", raw)
		default:
			t.Fatalf("vector %q: verdict %q", raw, verdict)
		}
		n++
	}
	require.NoError(t, sc.Err())
	require.GreaterOrEqual(t, n, 15)
}

// The longest valid name really works on Linux: "/" and 255 bytes.
func TestCreate_LongestName(t *testing.T) {
	name := "/" + strings.Repeat("n", 254-len(strconv.Itoa(os.Getpid()))) + "-" + strconv.Itoa(os.Getpid())
	require.Len(t, name, 256)
	s, err := segment.Create(segment.SharedMemory(name), config(), segment.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, segment.Remove(segment.SharedMemory(name)))
	require.NoError(t, s.Release())
}
