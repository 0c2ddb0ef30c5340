package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// listPrefix parses the optional PREFIX argument of list and clean.
func listPrefix(name, help string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fs.PrintDefaults()
	}
	if extra != nil {
		extra(fs)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) > 1 {
		if err == nil {
			fs.Usage()
		}
		return "", false
	}
	prefix := "/"
	if len(pos) == 1 {
		prefix = shmBacking(pos[0]).Name()
	}
	return prefix, true
}

// discover finds and snapshots the objects under prefix that are, or may be, ringwire
// segments (segment.Discover), reporting on stderr a platform that cannot list them.
func discover(cmd, prefix string, stderr io.Writer) ([]segment.Discovered, bool) {
	found, err := segment.Discover(prefix)
	if errors.Is(err, sys.ErrUnsupported) {
		fmt.Fprintf(stderr, "ringwire %s: %v: listing shared memory needs Linux\n", cmd, err)
		return nil, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringwire %s: %v\n", cmd, err)
		return nil, false
	}
	return found, true
}

func runList(args []string, stdout, stderr io.Writer) int {
	prefix, ok := listPrefix("list", "usage: ringwire list [PREFIX]\n\nlists the ringwire segments whose name starts with PREFIX, with their producers and consumers;\nsegments this user may not read are reported on stderr, and if none could be read the exit\nstatus is 1\n", args, stderr, nil)
	if !ok {
		return exitUsage
	}
	found, ok := discover("list", prefix, stderr)
	if !ok {
		return exitFailure
	}
	var listed []segment.Discovered
	unreadable := 0
	for _, d := range found {
		switch {
		case d.Header == segment.HeaderBlank:
			continue // no ringwire mark: maybe another program's (see "ringwire clean -h")
		case d.Err != nil:
			fmt.Fprintf(stderr, "ringwire list: %s\n", explain(d.Backing, d.Err))
			unreadable++
			continue
		}
		listed = append(listed, d)
	}
	if len(listed) == 0 {
		if unreadable > 0 {
			fmt.Fprintf(stderr, "ringwire list: could not read any of the %d objects whose name starts with %s\n", unreadable, prefix)
			return exitFailure
		}
		fmt.Fprintf(stdout, "no ringwire segments whose name starts with %s\n", prefix)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATOR\tMODE\tCAPACITY\tPUBLISHED\tPRODUCER\tCONSUMERS\tSTALE")
	for _, d := range listed {
		s := &d.Snapshot
		stale := "no"
		if s.Stale() {
			stale = "yes"
		}
		if d.Invalid != nil {
			problem := d.Invalid.Error()
			if errors.Is(d.Invalid, layout.ErrInitializing) {
				problem = "initializing"
			}
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t%s\t\t%s\n", s.Backing.Name(), creatorString(s), problem, stale)
			continue
		}
		state := "open"
		switch {
		case s.Closed():
			state = "closed"
		case !s.ProducerAlive:
			state = "open (dead)" // no process that could publish is alive
		}
		var cs []string
		for _, c := range s.Consumers {
			if c.State == "active" {
				cs = append(cs, fmt.Sprintf("%s@%d", printable(c.Name), c.Cursor))
			}
		}
		consumers := strings.Join(cs, " ")
		if consumers == "" {
			consumers = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.Backing.Name(), creatorString(s),
			s.Mode, s.Capacity, s.Published, state, consumers, stale)
	}
	tw.Flush()
	return exitOK
}

const cleanHelp = `usage: ringwire clean [--dry-run] [--grace DURATION] [PREFIX]

removes the ringwire segments whose name starts with PREFIX (default: all) that no process uses;
never a live one. A segment is removed when
  - it is valid, its creator is dead, and no live producer or consumer uses it;
  - it fails validation (bad magic, a corrupt header, stuck initializing) and its creator, as its
    header records it (pid and start time), is dead;
  - its header records no creator (cut short, or empty or zeroed because its creator died before
    writing it), it has not changed for longer than --grace, and no process has it open or
    mapped (on Linux, looked up in /proc/*/fd and /proc/*/maps, and, if some process cannot be
    looked at, asked of the kernel with a write lease, which only the segment's owner or root
    may take; if neither can tell, it is kept). An empty or zeroed object carries no ringwire
    mark, so it is considered only when PREFIX is given.
Segments this user may not read are reported on stderr. The exit status is 1 if none could be
read, or if a removal failed.

`

func runClean(args []string, stdout, stderr io.Writer) int {
	var dry bool
	var grace time.Duration
	prefix, ok := listPrefix("clean", cleanHelp, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&dry, "dry-run", false, "only list what would be removed")
		fs.DurationVar(&grace, "grace", time.Minute, "how long a segment whose header records no creator must have been unchanged")
	})
	if !ok {
		return exitUsage
	}
	named := prefix != "/"
	found, ok := discover("clean", prefix, stderr)
	if !ok {
		return exitFailure
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	removed, readable, unreadable, failed := 0, 0, 0, false
	for _, d := range found {
		if !considered(d.Found, named) {
			continue
		}
		v := judge(d, grace, time.Now())
		if v.unreadable != nil {
			fmt.Fprintf(stderr, "ringwire clean: %s\n", explain(d.Backing, v.unreadable))
			unreadable++
			continue
		}
		readable++
		if v.note != "" {
			fmt.Fprintf(stderr, "ringwire clean: kept %s: %s\n", d.Backing.Name(), v.note)
		}
		if v.why == "" {
			continue
		}
		if !dry {
			// Judge it again just before removing it: it may have come back to life.
			if again, ok := rediscover(d.Backing); !ok || judge(again, grace, time.Now()).why == "" {
				continue
			}
			if err := segment.Remove(d.Backing); err != nil && !errors.Is(err, segment.ErrNotFound) {
				fmt.Fprintf(stderr, "ringwire clean: %v\n", err)
				failed = true
				continue
			}
		}
		fmt.Fprintf(stdout, "%s %s (%s)\n", verb, d.Backing.Name(), v.why)
		removed++
	}
	if removed == 0 && (readable > 0 || unreadable == 0) {
		fmt.Fprintf(stdout, "no stale ringwire segments whose name starts with %s\n", prefix)
	}
	if unreadable > 0 && readable == 0 {
		fmt.Fprintf(stderr, "ringwire clean: could not read any of the %d objects whose name starts with %s\n", unreadable, prefix)
		return exitFailure
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// considered reports whether clean looks at f at all. An empty or zeroed object carries no
// ringwire mark and may be another program's: it is considered only under a PREFIX the user
// named.
func considered(f segment.Found, named bool) bool {
	return f.Header != segment.HeaderBlank || named
}

// verdict is clean's decision about one segment.
type verdict struct {
	why        string // why it may be removed; "" to keep it
	note       string // why a segment that may well be abandoned is kept anyway
	unreadable error  // it could not be read (another user's)
}

// judge applies the rules of cleanHelp to d at time now. The first two are Snapshot.Stale's.
func judge(d segment.Discovered, grace time.Duration, now time.Time) verdict {
	s := &d.Snapshot
	switch {
	case d.Err != nil:
		return verdict{unreadable: d.Err}
	case d.Invalid == nil:
		if s.Stale() {
			return verdict{why: fmt.Sprintf("creator pid %d is dead, and no live producer or consumer uses it", s.CreatorPID)}
		}
		return verdict{}
	case s.Creator != segment.ProcessNone:
		if !s.Stale() {
			return verdict{}
		}
		return verdict{why: fmt.Sprintf("invalid (%v), and its creator pid %d is dead", d.Invalid, s.CreatorPID)}
	}
	// Nobody to ask: only its age and the absence of any user show that it was abandoned.
	if now.Sub(d.ModTime) < grace {
		return verdict{}
	}
	used, err := segment.InUse(d.Backing)
	switch {
	case err != nil:
		return verdict{note: fmt.Sprintf("invalid (%v), records no creator, and %v", d.Invalid, err)}
	case used:
		return verdict{}
	}
	return verdict{why: fmt.Sprintf("invalid (%v), records no creator, unchanged for %v, and no process has it open or mapped", d.Invalid, roundAge(now.Sub(d.ModTime)))}
}

// rediscover finds and snapshots the object at b again, as Discover does.
func rediscover(b segment.Backing) (segment.Discovered, bool) {
	found, err := segment.Scan(b.Name())
	if err != nil {
		return segment.Discovered{}, false
	}
	for _, f := range found {
		if f.Backing == b {
			return segment.Examine(f), true
		}
	}
	return segment.Discovered{}, false
}

// creatorString describes the creator a snapshot names.
func creatorString(s *segment.Snapshot) string {
	if s.Creator == segment.ProcessNone {
		return "unknown"
	}
	return fmt.Sprintf("%d (%s)", s.CreatorPID, s.Creator)
}
