package bench

import (
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

func f1(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", v)
}

func ratio(r row) string {
	if r.Ratio == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx %s", r.Ratio, r.Baseline)
}

func cell(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

type table struct {
	head []string
	body [][]string
}

// throughputTable and latencyTable are the tables of the text and Markdown reports.
func (res *Results) throughputTable() (t table) {
	var head []string
	var body [][]string
	defer func() { t = table{head, body} }()
	head = []string{"group", "scenario", "impl", "event B", "capacity", "batch", "wait", "threads", "Mevents/s", "ratio", "note"}
	for _, r := range res.rows {
		if r.Lat != nil || r.Group == "latency" {
			continue
		}
		v := f1(r.Mevs)
		if r.skipped() {
			v = "skipped"
		}
		body = append(body, []string{r.Group, r.Scenario, r.Impl, cell(r.EventSize), cell(r.Capacity), cell(r.Batch), r.Wait, cell(r.Threads), v, ratio(r), r.Note})
	}
	return
}

func (res *Results) latencyTable() (t table) {
	var head []string
	var body [][]string
	defer func() { t = table{head, body} }()
	head = []string{"scenario", "impl", "wait", "samples", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "ratio", "note"}
	for _, r := range res.rows {
		if r.Group != "latency" {
			continue
		}
		if r.Lat == nil {
			body = append(body, []string{r.Scenario, r.Impl, r.Wait, cell(r.Events), "skipped", "", "", "", "", r.Note})
			continue
		}
		l := r.Lat
		body = append(body, []string{r.Scenario, r.Impl, r.Wait, cell(l.Samples), f1(l.P50), f1(l.P99), f1(l.P999), f1(l.Max), ratio(r), r.Note})
	}
	return
}

func (res *Results) targetTable() (t table) {
	var head []string
	var body [][]string
	defer func() { t = table{head, body} }()
	head = []string{"target", "goal", "this run", "met"}
	for _, t := range res.targets {
		got, met := fmt.Sprintf("%.2fx", t.Ratio), "no"
		if t.Ratio == 0 {
			got, met = t.Note, "-"
		} else if t.Met {
			met = "yes"
		}
		body = append(body, []string{t.What, t.Want, got, met})
	}
	return
}

func textTable(w io.Writer, t table) {
	head, body := t.head, t.body
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = len(h)
	}
	for _, row := range body {
		for i, c := range row {
			if i < len(row)-1 || len(c) < 60 {
				width[i] = max(width[i], len(c))
			}
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				continue
			}
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(head)
	for _, row := range body {
		line(row)
	}
}

func mdTable(w io.Writer, t table) {
	head, body := t.head, t.body
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(w, "| %s |\n|", strings.Join(head, " | "))
	for range head {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, row := range body {
		for i := range row {
			row[i] = esc(row[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

// WriteText prints the report as plain tables.
func (res *Results) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nringwire benchmarks (%s), %s\n%s\n\n", res.mode, res.machine, res.settings)
	fmt.Fprintln(w, "Throughput (ratio: this row / the baseline named, same run)")
	textTable(w, res.throughputTable())
	fmt.Fprintln(w, "\nLatency (one-way ns; ratio: p50 / baseline p50)")
	textTable(w, res.latencyTable())
	fmt.Fprintln(w, "\nTargets")
	textTable(w, res.targetTable())
	fmt.Fprintf(w, "\nbuilt: %s; run took %.0fs\n", strings.Join(res.built, ", "), res.elapsed.Seconds())
}

// WriteFiles writes latest.csv, latest.md, throughput.svg, latency.svg and machine.txt to dir.
func (res *Results) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# ringwire benchmark results (%s run)\n\nMachine: %s  \n%s  \nRun on %s, took %.0f s. Built: %s.\n\n",
		res.mode, res.machine, res.settings, res.started.UTC().Format("2006-01-02 15:04 UTC"), res.elapsed.Seconds(), strings.Join(res.built, ", "))
	md.WriteString("Every figure is the median of several runs; every ratio compares two figures of this run. Shapes with more than 2 threads run with the `yield` wait (never more spinning threads than the 2 cores).\n\n")
	md.WriteString("## Targets\n\n")
	mdTable(&md, res.targetTable())
	md.WriteString("\n## Throughput\n\n![throughput](throughput.svg)\n\n")
	mdTable(&md, res.throughputTable())
	md.WriteString("\n## Latency (one-way, ns)\n\n![latency](latency.svg)\n\n")
	mdTable(&md, res.latencyTable())
	files := map[string]string{
		"latest.md":      md.String(),
		"machine.txt":    res.machine.String() + "\n",
		"throughput.svg": res.throughputSVG(),
		"latency.svg":    res.latencySVG(),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "latest.csv"))
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"group", "scenario", "impl", "event_size", "capacity", "batch", "wait", "threads", "events", "runs",
		"mevents_per_s", "p50_ns", "p99_ns", "p999_ns", "max_ns", "baseline", "ratio", "note"})
	for _, r := range res.rows {
		var l latency
		if r.Lat != nil {
			l = *r.Lat
		}
		num := func(v float64) string {
			if v == 0 {
				return ""
			}
			return fmt.Sprintf("%.2f", v)
		}
		cw.Write([]string{r.Group, r.Scenario, r.Impl, fmt.Sprint(r.EventSize), fmt.Sprint(r.Capacity), fmt.Sprint(r.Batch), r.Wait,
			fmt.Sprint(r.Threads), fmt.Sprint(r.Events), fmt.Sprint(r.Runs), num(r.Mevs), num(l.P50), num(l.P99), num(l.P999), num(l.Max),
			r.Baseline, num(r.Ratio), r.Note})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type bar struct {
	label  string
	values []float64 // one per series
}

var palette = []string{"#3b6fb6", "#e08a2c", "#5aa05a", "#b04a4a"}

// barSVG draws horizontal grouped bars, linear or log10 scale, with the machine line on top.
func barSVG(title, machine, unit string, series []string, bars []bar, logScale bool) string {
	const left, right, rowH, top = 330, 110, 16, 70
	width := 1000
	plotW := float64(width - left - right)
	n := len(series)
	groupH := rowH*n + 8
	height := top + groupH*len(bars) + 30
	maxV, minV := 0.0, math.Inf(1)
	for _, b := range bars {
		for _, v := range b.values {
			if v > 0 {
				maxV, minV = math.Max(maxV, v), math.Min(minV, v)
			}
		}
	}
	if maxV == 0 {
		maxV, minV = 1, 1
	}
	lo := math.Floor(math.Log10(minV))
	hi := math.Ceil(math.Log10(maxV))
	if hi == lo {
		hi++
	}
	scale := func(v float64) float64 {
		if v <= 0 {
			return 0
		}
		if logScale {
			return plotW * (math.Log10(v) - lo + 0.15) / (hi - lo + 0.15)
		}
		return plotW * v / maxV
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#444">%s</text>`+"\n", html.EscapeString(machine))
	for i, s := range series {
		x := left + i*170
		fmt.Fprintf(&b, `<rect x="%d" y="48" width="12" height="12" fill="%s"/><text x="%d" y="58">%s</text>`+"\n", x, palette[i%len(palette)], x+16, html.EscapeString(s))
	}
	scaleNote := unit
	if logScale {
		scaleNote += " (log scale)"
	}
	fmt.Fprintf(&b, `<text x="%d" y="58" text-anchor="end" fill="#444">%s</text>`+"\n", width-10, html.EscapeString(scaleNote))
	for i, br := range bars {
		y := top + i*groupH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+groupH/2+3, html.EscapeString(br.label))
		for j, v := range br.values {
			yy := y + j*rowH
			w := scale(v)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, yy, w, rowH-2, palette[j%len(palette)])
			txt := "skipped"
			if v > 0 {
				txt = fmt.Sprintf("%.1f", v)
				if v >= 1000 {
					txt = fmt.Sprintf("%.0f", v)
				}
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(left)+w+4, yy+rowH-5, txt)
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", left, top-4, left, height-25)
	b.WriteString("</svg>\n")
	return b.String()
}

func (res *Results) throughputSVG() string {
	var bars []bar
	for _, r := range res.rows {
		// The framed group counts messages of 64..512 bytes, not 64-byte events: its figures
		// are in the tables only.
		if r.Group == "latency" || r.Group == "framed" || r.Scenario == "Go->Go vs C->C" {
			continue
		}
		// The full run's matrix is too big for one chart: chart its 64-byte rows at capacity 4096.
		if res.mode == "full" && r.Group != "rust-baseline" && (r.EventSize != 64 || r.Capacity != 4096) {
			continue
		}
		label := fmt.Sprintf("%s %s", r.Scenario, r.Impl)
		if r.Impl != "chan" && r.Batch > 0 {
			label += fmt.Sprintf(" b=%d", r.Batch)
		}
		if r.Group == "in-process" {
			label += fmt.Sprintf(" cap=%d", r.Capacity)
		}
		if r.Wait != "-" && r.Wait != "busy-spin" {
			label += " " + r.Wait
		}
		bars = append(bars, bar{label: r.Group + ": " + label, values: []float64{r.Mevs}})
	}
	return barSVG("ringwire throughput, 64-byte events (million events/s, higher is better)", res.machine.String(), "Mevents/s", []string{"median of runs"}, bars, false)
}

func (res *Results) latencySVG() string {
	var bars []bar
	for _, r := range res.rows {
		if r.Group != "latency" {
			continue
		}
		b := bar{label: fmt.Sprintf("%s %s %s", r.Scenario, r.Impl, r.Wait), values: []float64{0, 0, 0}}
		if r.Lat != nil {
			b.values = []float64{r.Lat.P50, r.Lat.P99, r.Lat.P999}
		}
		bars = append(bars, b)
	}
	return barSVG("ringwire one-way latency between two pinned processes (ns, lower is better)", res.machine.String(), "ns", []string{"p50", "p99", "p99.9"}, bars, true)
}
