// Command conformer is the Go implementation's conformer: the program the cross-language suite
// (conformance/matrix_test.go) drives. Its subcommands, flags, output lines and exit codes are
// those of conformance/PROTOCOL.md:
//
//	conformer produce --name NAME --count N [--producer P] [--capacity C] [--mode single|multi]
//	                  [--attach] [--batch B] [--wait-consumers K] [--wait-producers J] [--timeout-ms T]
//	                  [--framed [--slot-size S] [--max-message M] [--die-mid-frame D]]
//	conformer consume --name NAME --consumer CNAME --count N [--producers K] [--timeout-ms T] [--batch]
//	                  [--framed]
//	conformer validate FILE
//	conformer golden SCENARIO FILE
//	conformer name LABEL
//
// NAME is a POSIX shared-memory name used as given ("/orders"); `conformer name` turns a label
// into one.
//
// Two produce flags are this conformer's own, for the crash scenario of matrix_test.go, and not
// part of the protocol: --wait-claimed X waits, before publishing, until the claimed count is at
// least X; --hang-after-claim B (multi mode), after publishing, claims B more sequences, prints
// {"event":"claimed","seq":S,"count":B} and sleeps without publishing them until it is killed
// (or exits after --timeout-ms, still without publishing). Both are for fixed rings only. The
// framed roles (--framed) are in framed.go. The consume done line also carries
// the optional "gaps" member: sequences passed over because their producer died (spec 5.8).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Exit codes (PROTOCOL.md, "Exit codes").
const (
	exitOK      = 0
	exitVerify  = 1 // lost, duplicated, reordered or corrupt events
	exitUsage   = 2
	exitSegment = 3 // not found, invalid, wrong type, registry full, timeout
	exitIO      = 4
)

// failure is an error with the protocol's error code and exit code.
type failure struct {
	code string
	exit int
	err  error
}

func (f *failure) Error() string { return f.code + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(code string, exit int, err error) error { return &failure{code: code, exit: exit, err: err} }

func usagef(format string, a ...any) error {
	return fail("usage", exitUsage, fmt.Errorf(format, a...))
}

const usageText = `usage:
  conformer produce --name NAME --count N [--producer P] [--capacity C] [--mode single|multi]
                    [--attach] [--batch B] [--wait-consumers K] [--wait-producers J]
                    [--timeout-ms T] [--framed [--slot-size S] [--max-message M] [--die-mid-frame D]]
  conformer consume --name NAME --consumer CNAME --count N [--producers K] [--timeout-ms T] [--batch]
                    [--framed]
  conformer validate FILE
  conformer golden SCENARIO FILE
  conformer name LABEL
`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		return report(usagef("no subcommand"))
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "produce":
		err = produce(rest)
	case "consume":
		err = consume(rest)
	case "validate":
		err = validate(rest)
	case "golden":
		err = golden(rest)
	case "name":
		err = name(rest)
	default:
		err = usagef("unknown subcommand %q", cmd)
	}
	return report(err)
}

// report prints err as an error line (and the usage text on standard error for usage errors) and
// returns the exit code.
func report(err error) int {
	if err == nil {
		return exitOK
	}
	var f *failure
	var s silent
	if errors.As(err, &s) { // already printed
		if errors.As(s.error, &f) {
			return f.exit
		}
		return exitIO
	}
	if !errors.As(err, &f) {
		f = &failure{code: "io", exit: exitIO, err: err}
	}
	emit(struct {
		Event   string `json:"event"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"error", f.code, f.err.Error()})
	if f.exit == exitUsage {
		fmt.Fprint(os.Stderr, usageText)
	}
	return f.exit
}

// emit writes v as one JSON line on standard output.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed structs are emitted
	}
	os.Stdout.Write(append(b, '\n'))
}

// flagSet parses "--flag value" and bare "--flag" switches; anything else is a usage error.
type flagSet struct {
	values   map[string]string // flag -> value; switches hold "true"
	switches map[string]bool   // flags that take no value
	known    map[string]bool
}

func parseFlags(args []string, valued, switches []string) (*flagSet, error) {
	fs := &flagSet{values: map[string]string{}, switches: map[string]bool{}, known: map[string]bool{}}
	for _, n := range valued {
		fs.known[n] = true
	}
	for _, n := range switches {
		fs.known[n], fs.switches[n] = true, true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return nil, usagef("unexpected argument %q", a)
		}
		n := strings.TrimPrefix(a, "--")
		if !fs.known[n] {
			return nil, usagef("unknown flag %q", a)
		}
		if _, dup := fs.values[n]; dup {
			return nil, usagef("flag %q given twice", a)
		}
		if fs.switches[n] {
			fs.values[n] = "true"
			continue
		}
		if i+1 >= len(args) {
			return nil, usagef("flag %q needs a value", a)
		}
		i++
		fs.values[n] = args[i]
	}
	return fs, nil
}

func (fs *flagSet) has(n string) bool { _, ok := fs.values[n]; return ok }

func (fs *flagSet) str(n string, required bool) (string, error) {
	v, ok := fs.values[n]
	if !ok && required {
		return "", usagef("--%s is required", n)
	}
	return v, nil
}

func (fs *flagSet) uint(n string, def uint64, required bool) (uint64, error) {
	v, ok := fs.values[n]
	if !ok {
		if required {
			return 0, usagef("--%s is required", n)
		}
		return def, nil
	}
	u, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, usagef("--%s %q: not a non-negative integer", n, v)
	}
	return u, nil
}
