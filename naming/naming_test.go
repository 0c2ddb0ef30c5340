package naming

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// vectors reads naming/testdata/portable.tsv, the table spec/LAYOUT.md section 9 also prints.
func vectors(t *testing.T) [][2]string {
	f, err := os.Open("testdata/portable.tsv")
	require.NoError(t, err)
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		label, name, ok := strings.Cut(sc.Text(), "\t")
		require.True(t, ok, "malformed line %q", sc.Text())
		out = append(out, [2]string{label, name})
	}
	require.NotEmpty(t, out)
	return out
}

func TestPortable_Vectors(t *testing.T) {
	for _, v := range vectors(t) {
		t.Run(v[0], func(t *testing.T) {
			got := Portable(v[0])
			require.Equal(t, v[1], got)
			require.True(t, Valid(got))
		})
	}
}

func TestPortable_SpecTableMatchesTestdata(t *testing.T) {
	b, err := os.ReadFile("../spec/LAYOUT.md")
	require.NoError(t, err)
	spec := string(b)
	spec = spec[strings.Index(spec, "### Table: portable"):]
	spec = spec[:strings.Index(spec, "\n## ")]
	for _, v := range vectors(t) {
		label := "`" + v[0] + "`"
		if v[0] == "" {
			label = "(empty)"
		}
		require.Contains(t, spec, "| "+label+" | `"+v[1]+"` |")
	}
}

func TestPortable_DistinctLabelsDistinctNames(t *testing.T) {
	require.NotEqual(t, Portable("a/b"), Portable("a_b"))
	require.NotEqual(t, Portable("telemetry-pipeline-stage-one-A"+"x"), Portable("telemetry-pipeline-stage-one-A"+"y"))
}

func FuzzPortable(f *testing.F) {
	for _, s := range []string{"", "orders", "a/b", "//x", "\xff\x00", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		name := Portable(label)
		require.True(t, Valid(name), "%q -> %q", label, name)
		require.LessOrEqual(t, len(name), MaxLen)
		require.Equal(t, name, Portable(label))
	})
}

func ExamplePortable() {
	fmt.Println(Portable("orders"))
	fmt.Println(Portable("eu/trades"))
	fmt.Println(Portable("a-very-long-label-for-the-telemetry-pipeline"))
	// Output:
	// /orders
	// /eu_trades-4a7f1683c5
	// /a-very-long-label-f-22e3938f72
}
