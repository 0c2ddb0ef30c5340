// Command rwbench runs ringwire's benchmark suite beside its baselines in one run, prints the
// tables and writes bench/results: latest.csv, latest.md, throughput.svg, latency.svg and
// machine.txt. Every figure is the median of -runs runs; every ratio compares figures of this run.
//
// The harness is a module of its own (bench/go.mod); from bench/:
//
//	go run ./cmd/rwbench         # quick set (under 2 minutes on 2 cores); make bench at the root
//	go run ./cmd/rwbench -full   # the full matrix
//	go run ./cmd/rwbench -only framed   # one group alone (printed; files only with -out)
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ringwire/ringwire/bench"
	"github.com/ringwire/ringwire/internal/child"
)

func main() {
	child.Dispatch() // in a child process started by the suite: run its role and exit
	full := flag.Bool("full", false, "run the full matrix (event sizes, capacities, C->C batch 1, longer runs)")
	runs := flag.Int("runs", 3, "runs per figure; the median is reported")
	events := flag.Int("n", 0, "events per cross-process run (0: 20M quick, 50M full)")
	rust := flag.Bool("rust", true, "build and run the Rust programs (quick: only if cargo builds within 20s)")
	out := flag.String("out", "", "directory for the results (default bench/results in the repository)")
	only := flag.String("only", "", "run one group alone: "+strings.Join(bench.Groups, ", ")+
		" (framed includes its ping-pong rows); the results are printed, and written only with -out")
	flag.Parse()

	// Segments of this run are /rw-bench-<pid>-N: remove them on a signal too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		bench.RemoveLeftovers()
		fmt.Fprintf(os.Stderr, "rwbench: %v\n", s)
		os.Exit(1)
	}()

	o := bench.Options{Full: *full, Runs: *runs, Events: *events, Only: *only, Log: os.Stderr}
	if *rust {
		o.RustLimit = 20 * time.Second
		if *full {
			o.RustLimit = 10 * time.Minute
		}
	}
	res, err := bench.Run(o)
	if err != nil {
		bench.RemoveLeftovers()
		fmt.Fprintln(os.Stderr, "rwbench:", err)
		os.Exit(1)
	}
	res.WriteText(os.Stdout)
	dir := *out
	if *only != "" && dir == "" {
		// One group's rows would replace the whole suite's in bench/results.
		fmt.Println("not writing bench/results for one group (-only); give -out DIR to write them")
		return
	}
	if dir == "" {
		root, err := bench.Root()
		if err != nil {
			fmt.Fprintln(os.Stderr, "rwbench:", err)
			os.Exit(1)
		}
		dir = filepath.Join(root, "bench/results")
	}
	if err := res.WriteFiles(dir); err != nil {
		fmt.Fprintln(os.Stderr, "rwbench:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s/{latest.csv,latest.md,throughput.svg,latency.svg,machine.txt}\n", dir)
	if left := bench.RemoveLeftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "rwbench: removed leftover segments %v\n", left)
	}
}
