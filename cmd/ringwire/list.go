package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ringwire/ringwire/coordination"
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

// scan lists the objects under prefix that are, or may be, ringwire segments, reporting on
// stderr a platform that cannot list them.
func scan(cmd, prefix string, stderr io.Writer) ([]segment.Found, bool) {
	found, err := segment.Scan(prefix)
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

// describe reads the segment that Scan found, under segment.Guard: its owner may truncate it
// while it is read. The error is set only when the segment could not be read at all (another
// user's segment: os.ErrPermission); a segment that was read but fails validation, or faulted
// while being read, is described with SegmentInfo.Err set.
func describe(f segment.Found) (coordination.SegmentInfo, error) {
	if f.Header == segment.HeaderUnread {
		return coordination.SegmentInfo{}, f.Err
	}
	var s coordination.SegmentInfo
	if err := segment.Guard(func() error { s = coordination.Describe(f.Backing); return nil }); err != nil {
		s = coordination.SegmentInfo{Info: segment.Info{Backing: f.Backing}, Err: err}
	}
	if errors.Is(s.Err, os.ErrPermission) {
		return s, s.Err
	}
	return s, nil
}

func runList(args []string, stdout, stderr io.Writer) int {
	prefix, ok := listPrefix("list", "usage: ringwire list [PREFIX]\n\nlists the ringwire segments whose name starts with PREFIX, with their producers and consumers;\nsegments this user may not read are reported on stderr, and if none could be read the exit\nstatus is 1\n", args, stderr, nil)
	if !ok {
		return exitUsage
	}
	found, ok := scan("list", prefix, stderr)
	if !ok {
		return exitFailure
	}
	var infos []coordination.SegmentInfo
	unreadable := 0
	for _, f := range found {
		if f.Header == segment.HeaderBlank {
			continue // no ringwire mark: maybe another program's (see "ringwire clean -h")
		}
		s, err := describe(f)
		if err != nil {
			fmt.Fprintf(stderr, "ringwire list: %s\n", explain(f.Backing, err))
			unreadable++
			continue
		}
		infos = append(infos, s)
	}
	if len(infos) == 0 {
		if unreadable > 0 {
			fmt.Fprintf(stderr, "ringwire list: could not read any of the %d objects whose name starts with %s\n", unreadable, prefix)
			return exitFailure
		}
		fmt.Fprintf(stdout, "no ringwire segments whose name starts with %s\n", prefix)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATOR\tMODE\tCAPACITY\tPUBLISHED\tPRODUCER\tCONSUMERS\tSTALE")
	for _, s := range infos {
		stale := "no"
		if s.Stale() {
			stale = "yes"
		}
		if s.Err != nil {
			problem := s.Err.Error()
			if errors.Is(s.Err, layout.ErrInitializing) {
				problem = "initializing"
			}
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t%s\t\t%s\n", s.Backing.Name(), creatorString(s.CreatorPID, s.CreatorAlive), problem, stale)
			continue
		}
		state := "open"
		switch {
		case s.Closed:
			state = "closed"
		case !s.ProducerAlive:
			state = "open (dead)" // no process that could publish is alive
		}
		var cs []string
		for _, c := range s.Consumers {
			if c.State == "active" {
				cs = append(cs, fmt.Sprintf("%s@%d", c.Name, c.Cursor))
			}
		}
		consumers := strings.Join(cs, " ")
		if consumers == "" {
			consumers = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.Backing.Name(), creatorString(s.CreatorPID, s.CreatorAlive),
			s.Mode, s.Capacity, s.Published, state, consumers, stale)
	}
	tw.Flush()
	return exitOK
}

func runClean(args []string, stdout, stderr io.Writer) int {
	var dry bool
	prefix, ok := listPrefix("clean", "usage: ringwire clean [--dry-run] [PREFIX]\n\nremoves the ringwire segments whose creator is dead and that no live producer or consumer uses; never a live one\n",
		args, stderr, func(fs *flag.FlagSet) { fs.BoolVar(&dry, "dry-run", false, "only list what would be removed") })
	if !ok {
		return exitUsage
	}
	removed, err := coordination.RemoveStale(prefix, dry)
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	for _, n := range removed {
		fmt.Fprintf(stdout, "%s %s\n", verb, n)
	}
	if len(removed) == 0 {
		fmt.Fprintf(stdout, "no stale ringwire segments whose name starts with %s\n", prefix)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringwire clean: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func creatorString(pid uint32, alive bool) string {
	switch {
	case pid == 0:
		return "unknown"
	case alive:
		return fmt.Sprintf("%d (alive)", pid)
	}
	return fmt.Sprintf("%d (dead)", pid)
}
