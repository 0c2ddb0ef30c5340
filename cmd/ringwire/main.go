// Command ringwire runs a multi-process demonstration of a ringwire ring and inspects the
// segments of running rings.
//
//	ringwire demo [-n 20000000] [-batch 256] [-capacity 65536] [-wait yield] [-name /x]
//	ringwire inspect [--watch] [--json] NAME | --file PATH
//	ringwire list [PREFIX]
//	ringwire clean [--dry-run] [--grace 1m] [PREFIX]
//
// demo starts one producer and two consumer processes (this binary, re-executed with the hidden
// subcommands demo-producer and demo-consumer) over a POSIX shared-memory segment, shows their
// progress from the segment's cursors, and checks that every consumer received every event in
// order. inspect prints a segment's header and registry; list finds ringwire segments in
// /dev/shm; clean removes the ones nobody uses, valid or not ("ringwire clean -h" gives the
// rules). All of them read segments only through segment.Snapshot, taken under segment.Guard,
// so a segment truncated under them is reported, not fatal; "inspect --json" prints the
// snapshot itself.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // a check failed, or the segment could not be read
	exitUsage       = 2   // bad command line
	exitInterrupted = 130 // SIGINT or SIGTERM
)

const usage = `usage:
  ringwire demo [flags]              run a producer and two consumers in separate processes
  ringwire inspect [flags] NAME      print a segment's header and consumers (NAME like /orders)
  ringwire inspect --file PATH       the same for a file-backed segment
  ringwire inspect --json NAME       the segment's snapshot as JSON
  ringwire list [PREFIX]             list the ringwire segments in /dev/shm, with their peers
  ringwire clean [--dry-run] [--grace 1m] [PREFIX]
                                     remove segments nobody uses: creator dead and no live
                                     peer, or invalid and abandoned (see "clean -h")

Run "ringwire COMMAND -h" for the flags of a command.
`

// run dispatches a subcommand and returns the process exit code. It writes results to stdout
// and diagnostics to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(rest, stdout, stderr)
	case "inspect":
		return runInspect(rest, stdout, stderr)
	case "list":
		return runList(rest, stdout, stderr)
	case "clean":
		return runClean(rest, stdout, stderr)
	case roleProducer:
		return runDemoProducer(rest, stdout, stderr)
	case roleConsumer:
		return runDemoConsumer(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "ringwire: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}
