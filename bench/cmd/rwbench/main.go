// Command rwbench measures ringwire's throughput beside its baselines in one run and prints a
// table. Every figure is the median of -runs runs; every ratio compares figures of this run.
//
//	go run ./bench/cmd/rwbench            # quick set
//	go run ./bench/cmd/rwbench -n 50000000 -runs 5
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/ringwire/ringwire/bench"
)

func main() {
	bench.MaybeChild()
	n := flag.Int("n", 20_000_000, "events per run")
	runs := flag.Int("runs", 3, "runs per scenario; the median is reported")
	capacity := flag.Int("capacity", 4096, "ring capacity (slots)")
	flag.Parse()

	fmt.Printf("ringwire throughput, 64-byte events, %d events x %d runs, capacity %d, %s/%s, %d CPUs\n\n",
		*n, *runs, *capacity, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	type row struct {
		name string
		run  func() (time.Duration, error)
	}
	rows := []row{
		{"SPSC/in-process/chan", func() (time.Duration, error) { return bench.Channel(*n, *capacity) }},
		{"SPSC/in-process/batch=1", func() (time.Duration, error) { return bench.InProcessSPSC(*n, *capacity, 1) }},
		{"SPSC/in-process/batch=64", func() (time.Duration, error) { return bench.InProcessSPSC(*n, *capacity, 64) }},
		{"SPSC/cross-process/batch=1", func() (time.Duration, error) { return bench.CrossProcessSPSC(*n, *capacity, 1) }},
		{"SPSC/cross-process/batch=64", func() (time.Duration, error) { return bench.CrossProcessSPSC(*n, *capacity, 64) }},
	}
	rate := map[string]float64{}
	fmt.Printf("%-30s %14s\n", "scenario", "Mevents/s")
	for _, r := range rows {
		var rates []float64
		for i := 0; i < *runs; i++ {
			d, err := r.run()
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", r.name, err)
				os.Exit(1)
			}
			rates = append(rates, float64(*n)/d.Seconds()/1e6)
		}
		sort.Float64s(rates)
		rate[r.name] = rates[len(rates)/2]
		fmt.Printf("%-30s %14.1f\n", r.name, rate[r.name])
	}
	ch := rate["SPSC/in-process/chan"]
	fmt.Printf("\nin-process batch=64 / chan:  %.1fx\n", rate["SPSC/in-process/batch=64"]/ch)
	fmt.Printf("in-process batch=1 / chan:   %.1fx\n", rate["SPSC/in-process/batch=1"]/ch)
}
