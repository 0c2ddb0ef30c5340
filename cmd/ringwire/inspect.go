package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ringwire inspect [--watch] [--json] NAME\n       ringwire inspect [--watch] [--json] --file PATH\n       ringwire inspect --prefix PREFIX   (every segment whose name starts with PREFIX)\n\n")
		fs.PrintDefaults()
	}
	file := fs.String("file", "", "inspect the file-backed segment at `PATH` instead of a shared-memory object")
	watch := fs.Bool("watch", false, "refresh every -interval until interrupted")
	prefix := fs.String("prefix", "", "inspect every segment whose name starts with `PREFIX` (discovery)")
	interval := fs.Duration("interval", time.Second, "refresh interval of --watch")
	asJSON := fs.Bool("json", false, "print the segment's snapshot as JSON (the fields of segment.Snapshot)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if *prefix != "" && *file == "" && len(pos) == 0 && !*watch {
		found, ok := discover("inspect", shmBacking(*prefix).Name(), stderr)
		if !ok {
			return exitFailure
		}
		code, n := exitOK, 0
		for _, d := range found {
			switch {
			case d.Err != nil:
				fmt.Fprintf(stderr, "ringwire inspect: %s\n", explain(d.Backing, d.Err))
				code = exitFailure
				continue
			case d.Header == segment.HeaderBlank:
				continue // no ringwire mark: maybe not ours
			case d.Invalid != nil:
				fmt.Fprintf(stderr, "ringwire inspect: %s\n", explain(d.Backing, d.Invalid))
				code = exitFailure
				continue
			}
			if n > 0 && !*asJSON {
				fmt.Fprintln(stdout)
			}
			n++
			if c := printSnapshot(d.Snapshot, *asJSON, stdout, stderr); c != exitOK {
				code = c
			}
		}
		if n == 0 && code == exitOK {
			fmt.Fprintf(stdout, "no ringwire segments whose name starts with %s\n", shmBacking(*prefix).Name())
		}
		return code
	}
	var b segment.Backing
	switch {
	case *file != "" && len(pos) == 0:
		b = segment.File(*file)
	case *file == "" && len(pos) == 1:
		b = shmBacking(pos[0])
	default:
		fs.Usage()
		return exitUsage
	}
	if !*watch {
		return inspectOnce(b, *asJSON, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := isTerminal(stdout)
	for {
		var out, errs bytes.Buffer
		inspectOnce(b, *asJSON, &out, &errs)
		if clear {
			fmt.Fprint(stdout, "\033[H\033[2J")
		} else {
			fmt.Fprintf(stdout, "--- %s\n", time.Now().Format(time.TimeOnly))
		}
		stdout.Write(out.Bytes())
		stdout.Write(errs.Bytes()) // during --watch a missing segment is a state to show, not the end
		if clear {
			fmt.Fprintf(stdout, "\nrefreshing every %v; Ctrl-C to stop\n", *interval)
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(*interval):
		}
	}
}

// shmBacking accepts a shared-memory name with or without its leading slash.
func shmBacking(name string) segment.Backing {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return segment.SharedMemory(name)
}

// parseInterleaved parses fs's flags wherever they appear among the positional arguments
// ("inspect /orders --watch" as well as "inspect --watch /orders") and returns the positional
// ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// testHookAttached, set only by tests, runs between attaching to a segment and reading it.
var testHookAttached func(segment.Backing)

// inspectOnce prints one snapshot of the segment at b, or an error explaining why it cannot;
// as JSON (the segment.Snapshot) with asJSON. The segment belongs to other processes, which may
// truncate it while it is read: the snapshot is taken under segment.Guard, so that is reported
// rather than fatal, and printed once the mapping is released.
func inspectOnce(b segment.Backing, asJSON bool, stdout, stderr io.Writer) int {
	var snap segment.Snapshot
	err := segment.Guard(func() error {
		seg, err := segment.Attach(b, 0)
		if err != nil {
			return err
		}
		defer seg.Release()
		if testHookAttached != nil {
			testHookAttached(b)
		}
		snap = seg.Snapshot()
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "ringwire inspect: %s\n", explain(b, err))
		return exitFailure
	}
	return printSnapshot(snap, asJSON, stdout, stderr)
}

// printSnapshot prints s for people, or as JSON (one indented object) with asJSON.
func printSnapshot(s segment.Snapshot, asJSON bool, stdout, stderr io.Writer) int {
	if !asJSON {
		writeSnapshot(stdout, s)
		return exitOK
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		fmt.Fprintf(stderr, "ringwire inspect: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// explain turns an attach error into a message for people, keeping the sentinel's own text.
func explain(b segment.Backing, err error) string {
	switch {
	case errors.Is(err, segment.ErrNotFound):
		if b.Kind() == segment.KindSharedMemory {
			return fmt.Sprintf("%s: segment not found (no shared-memory object of that name; \"ringwire list\" shows the ringwire segments)", b.Name())
		}
		return fmt.Sprintf("%s: segment not found (no such file)", b.Name())
	case errors.Is(err, segment.ErrBadName), errors.Is(err, segment.ErrNotRegular):
		return err.Error()
	case errors.Is(err, segment.ErrFault):
		return fmt.Sprintf("%s: %v: the segment shrank while it was being read (another process truncated it; every process that maps it faults the same way)", b.Name(), err)
	case errors.Is(err, layout.ErrTruncated):
		return fmt.Sprintf("%s: %v (another process truncated it; its peers fault on what is gone)", b.Name(), err)
	case errors.Is(err, layout.ErrInitializing):
		return fmt.Sprintf("%s: %v (its creator has not finished writing the header; try again)", b.Name(), layout.ErrInitializing)
	case errors.Is(err, layout.ErrTooSmall):
		return fmt.Sprintf("%s: not a ringwire segment: %v", b.Name(), layout.ErrTooSmall)
	case errors.Is(err, layout.ErrBadMagic):
		return fmt.Sprintf("%s: %v", b.Name(), layout.ErrBadMagic)
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("%s: permission denied (reading a segment takes read and write permission: it is mapped read-write, as by every peer)", b.Name())
	}
	return fmt.Sprintf("%s: invalid segment: %v", b.Name(), err)
}

// writeSnapshot prints the header, the counters, the producer entries other than a single
// producer's (which the "producer" row describes) and the consumer entries.
func writeSnapshot(w io.Writer, s segment.Snapshot) {
	multi := s.Mode == "multi"
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("segment", "%s (%d bytes)", s.Backing, s.TotalSize)
	row("format", "%d.%d, header %d bytes", s.VersionMajor, s.VersionMinor, s.HeaderLen)
	row("mode", "%s producer", s.Mode)
	row("capacity", "%d slots of %d bytes", s.Capacity, s.SlotSize)
	if f := s.Frames; f != nil {
		row("payload", "framed messages: largest %d bytes, frame header %d bytes, payloads aligned to %d", f.MaxMessage, f.HeaderLen, s.EventAlign)
		if f.Invalid != "" {
			row("frames", "INVALID: %s", f.Invalid)
		}
		row("type", "messages %q, fingerprint %#016x", s.TypeName, s.TypeFingerprint)
	} else {
		row("event", "%d bytes, align %d", s.EventSize, s.EventAlign)
		row("type", "%q, fingerprint %#016x", s.TypeName, s.TypeFingerprint)
	}
	row("incarnation", "%#016x", s.Incarnation)
	row("creator", "pid %d (%s)", s.CreatorPID, creatorLiveness(s.Creator))
	row("created", "%s (%s ago)", s.CreatedAt.Format("2006-01-02 15:04:05.000 MST"), roundAge(s.TakenAt.Sub(s.CreatedAt)))
	row("producer", "%s, heartbeat %s", producerState(s), age(s.ProducerHeartbeatNs, s.ProducerHeartbeatAge))
	if multi {
		row("published", "- (unused in multi-producer mode)")
	} else {
		row("published", "%d", s.Published)
	}
	if s.ClaimsClosed {
		row("claimed", "%d (closed to further claims)", s.Claimed)
	} else {
		row("claimed", "%d", s.Claimed)
	}
	if s.Gaps != 0 {
		row("gaps", "%d sequences passed over (a producer died mid-claim)", s.Gaps)
	}
	if s.ConsumerBlockers != 0 || s.ProducerBlockers != 0 {
		row("blockers", "%d consumers, %d producers may sleep in the kernel", s.ConsumerBlockers, s.ProducerBlockers)
	}
	if r := s.Poison; r != nil {
		row("POISONED", "%s failed at sequence %d (pid %d, stage %d): %s", r.Phase, r.Seq, r.PID, r.Stage, printable(r.Message))
	}
	for _, p := range s.Producers {
		if !multi && p.Index == 0 {
			continue
		}
		intent := "none"
		switch {
		case p.IntentChanging:
			intent = "changing"
		case p.IntentEnd != 0:
			intent = fmt.Sprintf("[%d, %d)", p.IntentStart, p.IntentEnd)
		}
		row(fmt.Sprintf("producer %d", p.Index), "%s, pid %d (%s), claim in progress %s, heartbeat %s",
			p.State, p.OwnerPID, p.Owner, intent, age(p.HeartbeatNs, p.HeartbeatAge))
	}
	row("registry", "%d of %d entries used, %d active", len(s.Consumers), s.RegistryCapacity, s.ActiveConsumers())
	tw.Flush()
	if len(s.Consumers) == 0 {
		fmt.Fprintln(w, "\nno consumers have registered")
		return
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDX\tNAME\tSTATE\tKIND\tPID\tCURSOR\tLAG\tHEARTBEAT\tLOST\tGAPS")
	for _, c := range s.Consumers {
		kind := "optional"
		if c.Required {
			kind = "required"
		}
		if c.Starting {
			kind += ", starting"
		}
		if len(c.DependsOn) != 0 {
			kind += ", after " + indices(c.DependsOn)
		}
		lag := "-" // a closed or evicted entry no longer follows the producer
		if c.Lag >= 0 {
			lag = fmt.Sprint(c.Lag)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d (%s)\t%d\t%s\t%s\t%d\t%d\n", c.Index, printable(c.Name), c.State, kind,
			c.OwnerPID, c.Owner, c.Cursor, lag, age(c.HeartbeatNs, c.HeartbeatAge), c.Lost, c.GapsSeen)
	}
	tw.Flush()
}

// creatorLiveness says whether the creator is alive; a header that records no creator (pid 0)
// makes it "unknown".
func creatorLiveness(l segment.Liveness) string {
	if l == segment.ProcessNone {
		return "unknown"
	}
	return string(l)
}

// producerState names the stream's state; an open stream without a process that can publish
// (segment.ProducerAlive) is "open (dead)".
func producerState(s segment.Snapshot) string {
	switch {
	case s.Closed():
		return "closed (no more events)"
	case s.Stream != "open":
		return "unknown state"
	case !s.ProducerAlive:
		return "open (dead)"
	}
	return "open"
}

// age formats a heartbeat: when it was last stored, as segment.HeartbeatAge measured it.
func age(then uint64, ago time.Duration) string {
	switch {
	case then == 0:
		return "never"
	case ago < 0:
		return "-" // written by a clock we cannot compare with (another host?)
	}
	return roundAge(ago) + " ago"
}

func roundAge(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// indices lists entry indices as "#0,#3".
func indices(idx []int) string {
	s := make([]string, len(idx))
	for i, x := range idx {
		s[i] = fmt.Sprintf("#%d", x)
	}
	return strings.Join(s, ",")
}

// printable quotes a name from another process if it holds anything but plain visible ASCII, so
// that it cannot break the table or the terminal.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
