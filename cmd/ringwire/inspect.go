package main

import (
	"bytes"
	"context"
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

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ringwire inspect [--watch] NAME\n       ringwire inspect [--watch] --file PATH\n       ringwire inspect --prefix PREFIX   (every segment whose name starts with PREFIX)\n\n")
		fs.PrintDefaults()
	}
	file := fs.String("file", "", "inspect the file-backed segment at `PATH` instead of a shared-memory object")
	watch := fs.Bool("watch", false, "refresh every -interval until interrupted")
	prefix := fs.String("prefix", "", "inspect every segment whose name starts with `PREFIX` (discovery)")
	interval := fs.Duration("interval", time.Second, "refresh interval of --watch")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if *prefix != "" && *file == "" && len(pos) == 0 && !*watch {
		found, err := segment.Scan(shmBacking(*prefix).Name())
		if err != nil {
			fmt.Fprintf(stderr, "ringwire inspect: %v\n", err)
			return exitFailure
		}
		code, n := exitOK, 0
		for _, f := range found {
			switch f.Header {
			case segment.HeaderUnread:
				fmt.Fprintf(stderr, "ringwire inspect: %s\n", explain(f.Backing, f.Err))
				code = exitFailure
				continue
			case segment.HeaderBlank:
				continue // no ringwire mark: maybe not ours
			}
			if n > 0 {
				fmt.Fprintln(stdout)
			}
			n++
			if c := inspectOnce(f.Backing, stdout, stderr); c != exitOK {
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
		return inspectOnce(b, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := isTerminal(stdout)
	for {
		var out, errs bytes.Buffer
		inspectOnce(b, &out, &errs)
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

// inspectOnce prints one snapshot of the segment at b, or an error explaining why it cannot.
// The segment belongs to other processes, which may truncate it while it is read: the reading
// runs under segment.Guard, so that is reported rather than fatal.
func inspectOnce(b segment.Backing, stdout, stderr io.Writer) int {
	var out bytes.Buffer
	err := segment.Guard(func() error {
		seg, err := segment.Attach(b, 0)
		if err != nil {
			return err
		}
		defer seg.Release()
		if testHookAttached != nil {
			testHookAttached(b)
		}
		writeSnapshot(&out, b, seg.View(), time.Now(), sys.Monotonic())
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "ringwire inspect: %s\n", explain(b, err))
		return exitFailure
	}
	stdout.Write(out.Bytes())
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

// writeSnapshot prints the header and the registry entries that are not free. wall and mono are
// the current wall-clock time and CLOCK_MONOTONIC reading.
func writeSnapshot(w io.Writer, b segment.Backing, v *layout.View, wall time.Time, mono uint64) {
	h := v.Header()
	c := v.Cursors()
	multi := h.ProducerMode == layout.MultiProducer
	published, claimedWord := c.Published.Load(), c.Claimed.Load()
	claimed := claimedWord & layout.CountMask
	count := published // what a consumer's lag is measured against (spec 5.5 step 1)
	if multi {
		count = claimed
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("segment", "%s (%d bytes)", b, h.TotalSize)
	row("format", "%d.%d, header %d bytes", h.VersionMajor, h.VersionMinor, h.HeaderLen)
	row("mode", "%s producer", layout.ModeName(h.ProducerMode))
	row("capacity", "%d slots of %d bytes", h.Capacity, h.SlotSize)
	row("event", "%d bytes, align %d", h.EventSize, h.EventAlign)
	row("type", "%q, fingerprint %#016x", h.TypeNameString(), h.TypeFingerprint)
	row("incarnation", "%#016x", h.Incarnation)
	row("creator", "pid %d (%s)", h.CreatorPID, aliveString(h.CreatorPID, h.CreatorStartTime))
	created := time.Unix(0, int64(h.CreatedUnixNs))
	row("created", "%s (%s ago)", created.Format("2006-01-02 15:04:05.000 MST"), roundAge(wall.Sub(created)))
	row("producer", "%s, heartbeat %s", producerState(h.ProducerState.Load(), segment.ProducerAlive(v)), age(mono, h.ProducerHeartbeatNs.Load()))
	if multi {
		row("published", "- (unused in multi-producer mode)")
	} else {
		row("published", "%d", published)
	}
	if claimedWord&layout.ClaimedClosed != 0 {
		row("claimed", "%d (closed to further claims)", claimed)
	} else {
		row("claimed", "%d", claimed)
	}
	if g := h.Gaps.Load(); g != 0 {
		row("gaps", "%d sequences passed over (a producer died mid-claim)", g)
	}
	if rec, poisoned := v.Poisoned(); poisoned {
		row("POISONED", "%s failed at sequence %d (pid %d, stage %d): %s", layout.PhaseName(rec.Phase), rec.Seq, rec.PID, rec.Stage, printable(rec.Message))
	}
	for i := 0; i < v.Producers(); i++ {
		pe := v.Producer(i)
		st := pe.Load().State()
		if st == layout.ProducerFree || (!multi && i == 0) {
			continue
		}
		intent := "none"
		if start, end, ok := pe.Intent(); !ok {
			intent = "changing"
		} else if end != 0 {
			intent = fmt.Sprintf("[%d, %d)", start, end)
		}
		row(fmt.Sprintf("producer %d", i), "%s, pid %d (%s), claim in progress %s, heartbeat %s",
			[]string{"free", "active", "closed", "dead", "corrupt"}[min(st, 4)], pe.OwnerID().PID(), ownerString(pe.OwnerID()), intent, age(mono, pe.HeartbeatNs.Load()))
	}
	used, active := 0, 0
	for i := 0; i < v.Entries(); i++ {
		switch v.Entry(i).Load().State() {
		case layout.EntryFree:
		case layout.EntryActive:
			active++
			used++
		default:
			used++
		}
	}
	row("registry", "%d of %d entries used, %d active", used, v.Entries(), active)
	tw.Flush()
	if used == 0 {
		fmt.Fprintln(w, "\nno consumers have registered")
		return
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDX\tNAME\tSTATE\tKIND\tPID\tCURSOR\tLAG\tHEARTBEAT\tLOST\tGAPS")
	for i := 0; i < v.Entries(); i++ {
		e := v.Entry(i)
		st := e.Load().State()
		if st == layout.EntryFree {
			continue
		}
		kind := "optional"
		if e.Required() {
			kind = "required"
		}
		if d := e.DependsOn.Load(); d != 0 {
			kind += ", after " + indices(d)
		}
		cur := e.Cursor.Load()
		lag := "-" // a closed or evicted entry no longer follows the producer
		if st == layout.EntryActive && count >= cur {
			lag = fmt.Sprint(count - cur)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d (%s)\t%d\t%s\t%s\t%d\t%d\n", i, printable(e.NameString()), layout.StateName(st), kind,
			e.OwnerID().PID(), ownerString(e.OwnerID()), cur, lag, age(mono, e.HeartbeatNs.Load()), e.Lost.Load(), e.GapsSeen.Load())
	}
	tw.Flush()
}

// ownerString says whether an owner identity's process is alive (spec section 8).
func ownerString(o layout.OwnerID) string {
	if o == 0 {
		return "none"
	}
	if sys.AliveOwner(o.PID(), o.StartTime()) {
		return "alive"
	}
	return "dead"
}

func aliveString(pid uint32, start uint64) string {
	if pid == 0 {
		return "unknown"
	}
	if sys.Alive(pid, start) {
		return "alive"
	}
	return "dead"
}

// producerState names a header's producer_state; alive says whether a process that can publish
// is alive (segment.ProducerAlive): an open stream without one is "open (dead)".
func producerState(s uint32, alive bool) string {
	switch s {
	case layout.StreamOpen:
		if !alive {
			return "open (dead)"
		}
		return "open"
	case layout.StreamClosed:
		return "closed (no more events)"
	}
	return fmt.Sprintf("unknown state %d", s)
}

// age formats how long ago a CLOCK_MONOTONIC timestamp was.
func age(now, then uint64) string {
	switch {
	case then == 0:
		return "never"
	case then > now:
		return "-" // written by a clock we cannot compare with (another host?)
	}
	return roundAge(time.Duration(now-then)) + " ago"
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

// indices lists the set bits of a depends_on mask as "#0,#3".
func indices(mask uint64) string {
	var s []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) != 0 {
			s = append(s, fmt.Sprintf("#%d", i))
		}
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
