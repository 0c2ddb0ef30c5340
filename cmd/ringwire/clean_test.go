package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/segment"
)

// corrupt changes the header of the valid segment name through a mapping of it.
func corrupt(t *testing.T, name string, change func(*layout.Header)) {
	t.Helper()
	s, err := segment.Attach(segment.SharedMemory(name), 0)
	require.NoError(t, err)
	change(s.View().Header())
	require.NoError(t, s.Release())
}

// TestClean_InvalidSegments_RemovedOnlyWhenAbandoned corrupts real segments, some created by a
// process that was then killed with SIGKILL and some by this live process, and leaves
// header-less objects of several ages and uses: clean removes exactly the abandoned ones.
func TestClean_InvalidSegments_RemovedOnlyWhenAbandoned(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	badMagic := func(h *layout.Header) { h.Magic = 0x4b4e554a4b4e554a }
	badCapacity := func(h *layout.Header) { h.Capacity = 3 }
	initializing := func(h *layout.Header) { h.InitState.Store(layout.InitInitializing) }
	deadCreator := func(change func(*layout.Header)) func(*testing.T, string) {
		return func(t *testing.T, name string) {
			killedCreator(t, name)
			corrupt(t, name, change)
		}
	}
	liveCreator := func(change func(*layout.Header)) func(*testing.T, string) {
		return func(t *testing.T, name string) {
			s, err := segment.Create(segment.SharedMemory(name), eventConfig(t), segment.CreateOptions{})
			require.NoError(t, err)
			change(s.View().Header())
			require.NoError(t, s.Release())
		}
	}
	headerless := func(size int, mtime time.Time) func(*testing.T, string) {
		return func(t *testing.T, name string) {
			path := "/dev/shm" + name
			require.NoError(t, os.WriteFile(path, make([]byte, size), 0o600))
			require.NoError(t, os.Chtimes(path, mtime, mtime))
		}
	}
	openInChild := func(t *testing.T, name string) {
		headerless(65536, old)(t, name)
		f, err := os.Open("/dev/shm" + name)
		require.NoError(t, err)
		defer f.Close()
		child := exec.Command("sleep", "60")
		child.ExtraFiles = []*os.File{f}
		require.NoError(t, child.Start())
		t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	}
	mappedHere := func(t *testing.T, name string) {
		headerless(65536, old)(t, name)
		f, err := os.OpenFile("/dev/shm"+name, os.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		mem, err := sys.Map(f, 65536)
		require.NoError(t, err)
		t.Cleanup(func() { sys.Unmap(mem) })
		require.NoError(t, os.Chtimes("/dev/shm"+name, old, old))
	}
	truncatedOld := func(t *testing.T, name string) {
		killedCreator(t, name)
		require.NoError(t, os.Truncate("/dev/shm"+name, 100)) // creator_pid is past the end
		require.NoError(t, os.Chtimes("/dev/shm"+name, old, old))
	}

	tests := []struct {
		name    string
		setup   func(*testing.T, string)
		removed bool
	}{
		{"bad magic, creator killed", deadCreator(badMagic), true},
		{"corrupt header, creator killed", deadCreator(badCapacity), true},
		{"stuck initializing, creator killed", deadCreator(initializing), true},
		{"bad magic, creator alive", liveCreator(badMagic), false},
		{"corrupt header, creator alive", liveCreator(badCapacity), false},
		{"stuck initializing, creator alive", liveCreator(initializing), false},
		{"zeroed, old, unused", headerless(65536, old), true},
		{"empty, old, unused", headerless(0, old), true},
		{"truncated in its header, old, unused", truncatedOld, true},
		{"zeroed, recent, unused", headerless(65536, time.Now()), false},
		{"zeroed, old, open in another process", openInChild, false},
		{"zeroed, old, mapped by this process", mappedHere, false},
	}
	prefix := segPrefix() + "clean-"
	names := make([]string, len(tests))
	for i, tt := range tests {
		names[i] = segName(t, fmt.Sprintf("clean-%02d", i))
		tt.setup(t, names[i])
	}

	code, out, errOut := runHere("clean", "--dry-run", "--grace", "10m", prefix)
	require.Equal(t, exitOK, code, errOut)
	for i, tt := range tests {
		require.Equal(t, tt.removed, strings.Contains(out, "would remove "+names[i]+" "), "%s:\n%s", tt.name, out)
		require.FileExists(t, "/dev/shm"+names[i], "a dry run removes nothing")
	}

	code, out, errOut = runHere("clean", "--grace", "10m", prefix)
	require.Equal(t, exitOK, code, errOut)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.removed, strings.Contains(out, "removed "+names[i]+" "), out)
			_, err := os.Stat("/dev/shm" + names[i])
			require.Equal(t, tt.removed, os.IsNotExist(err), "exists: %v", err)
		})
	}
}

// TestJudge_HeaderlessObjects_OnlyUnderANamedPrefix checks the rule that keeps clean away from
// other programs' objects: without a PREFIX, an object with no ringwire mark is not looked at.
func TestJudge_HeaderlessObjects_OnlyUnderANamedPrefix(t *testing.T) {
	tests := []struct {
		name   string
		header segment.HeaderKind
		named  bool
		want   bool
	}{
		{"blank, every segment", segment.HeaderBlank, false, false},
		{"blank, named prefix", segment.HeaderBlank, true, true},
		{"damaged, every segment", segment.HeaderDamaged, false, true},
		{"magic, every segment", segment.HeaderMagic, false, true},
		{"unreadable, every segment", segment.HeaderUnread, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, considered(segment.Found{Header: tt.header}, tt.named))
		})
	}
}
