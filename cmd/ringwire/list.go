package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// shmDir is where Linux keeps POSIX shared-memory objects.
const shmDir = "/dev/shm"

func runList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: ringwire list [PREFIX]\n\nlists the ringwire segments in /dev/shm whose name starts with PREFIX\n")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 1 {
		fs.Usage()
		return exitUsage
	}
	prefix := "/"
	if len(pos) == 1 {
		prefix = shmBacking(pos[0]).Name()
	}
	entries, err := os.ReadDir(shmDir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "ringwire list: this system has no %s; listing shared memory needs Linux\n", shmDir)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringwire list: %v\n", err)
		return exitFailure
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	found, unreadable := 0, 0
	for _, de := range entries {
		name := "/" + de.Name()
		if !de.Type().IsRegular() || !strings.HasPrefix(name, prefix) {
			continue
		}
		ok, err := hasMagic(shmDir + name)
		if err != nil {
			unreadable++
			continue
		}
		if !ok {
			continue
		}
		if found == 0 {
			fmt.Fprintln(tw, "NAME\tCREATOR\tMODE\tCAPACITY\tPUBLISHED\tCONSUMERS\tPRODUCER")
		}
		found++
		info, err := segment.Stat(segment.SharedMemory(name))
		if err != nil {
			problem := err.Error()
			if errors.Is(err, layout.ErrInitializing) {
				problem = "initializing"
			}
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t%s\n", name, creatorString(info.CreatorPID, info.CreatorAlive), problem)
			continue
		}
		state := "open"
		if info.Closed {
			state = "closed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", name, creatorString(info.CreatorPID, info.CreatorAlive),
			info.Mode, info.Capacity, info.Published, info.ActiveUsers, state)
	}
	tw.Flush()
	if found == 0 {
		fmt.Fprintf(stdout, "no ringwire segments in %s whose name starts with %s\n", shmDir, prefix)
	}
	if unreadable > 0 {
		fmt.Fprintf(stderr, "ringwire list: %d objects matching %s could not be read (permission denied?)\n", unreadable, prefix)
	}
	return exitOK
}

// hasMagic reports whether the file starts with the ringwire magic. It reads 8 bytes rather
// than mapping, so that listing never maps other programs' shared memory.
func hasMagic(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false, nil // shorter than a magic: not a segment (or one being created)
	}
	return binary.LittleEndian.Uint64(b[:]) == layout.Magic, nil
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
