package sys

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseStatStartTime_CommWithParens(t *testing.T) {
	stat := "1234 (a) b) (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21\n"
	v, err := parseStatStartTime([]byte(stat))
	require.NoError(t, err)
	require.Equal(t, uint64(987654), v)
	_, err = parseStatStartTime([]byte("1234 (x) S 1 2"))
	require.Error(t, err)
}

func TestAlive_SelfAndExitedChild(t *testing.T) {
	self := os.Getpid()
	st, err := ProcessStartTime(self)
	require.NoError(t, err)
	require.True(t, Alive(uint32(self), st))
	require.False(t, Alive(uint32(self), st+1), "another start time means another process")

	cmd := exec.Command("sleep", "10")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	cst, err := ProcessStartTime(pid)
	require.NoError(t, err)
	require.True(t, Alive(uint32(pid), cst))
	require.NoError(t, cmd.Process.Kill())
	// Not yet reaped: a zombie, which must count as dead.
	require.Eventually(t, func() bool { return !Alive(uint32(pid), cst) }, 5*time.Second, time.Millisecond)
	_ = cmd.Wait()
	require.False(t, Alive(uint32(pid), cst))
}

func TestMonotonic_IsClockMonotonic(t *testing.T) {
	for i := 0; i < 100; i++ {
		before := monotonicSyscall()
		got := Monotonic()
		after := monotonicSyscall()
		require.LessOrEqual(t, before, got)
		require.LessOrEqual(t, got, after)
	}
}

// Spec section 8: pids 0 and 2^31 and above name no process. kill(0, 0) and kill(-1, 0) (what
// 0xFFFFFFFF becomes as a pid_t) succeed, which once made such owners look alive.
func TestAlive_PidsThatNameNoProcess(t *testing.T) {
	for _, pid := range []uint32{0, 1 << 31, 0xFFFFFFFF} {
		require.False(t, Alive(pid, 0), "pid %#x", pid)
		require.False(t, AliveOwner(pid, 0), "pid %#x", pid)
	}
	require.True(t, Alive(uint32(os.Getpid()), 0))
	st, err := ProcessStartTime(os.Getpid())
	require.NoError(t, err)
	require.True(t, AliveOwner(uint32(os.Getpid()), uint32(st)))
	require.False(t, AliveOwner(uint32(os.Getpid()), uint32(st)+1), "another start time: a reused pid")
}

func TestMapsUse_MatchesDeviceAndInode(t *testing.T) {
	maps := "7f0000000000-7f0000001000 rw-s 00000000 00:1a 4242                       /dev/shm/x\n" +
		"7f0000002000-7f0000003000 r-xp 00000000 fd:01 99 /usr/lib/libc.so.6\n" +
		"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
	tests := []struct {
		name     string
		dev, ino uint64
		want     bool
	}{
		{"shared memory object", unix.Mkdev(0, 0x1a), 4242, true},
		{"hex major and minor", unix.Mkdev(0xfd, 1), 99, true},
		{"same inode, other device", unix.Mkdev(0, 0x1b), 4242, false},
		{"other inode", unix.Mkdev(0, 0x1a), 4243, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, mapsUse([]byte(maps), tt.dev, tt.ino))
		})
	}
}

// TestInUse_OpenOrMappedFile checks InUse, and the lease it falls back on, against a real
// file that this process and a child process hold open or mapped.
func TestInUse_OpenOrMappedFile(t *testing.T) {
	path := t.TempDir() + "/f"
	require.NoError(t, os.WriteFile(path, make([]byte, 4096), 0o600))
	check := func(want bool, why string) {
		t.Helper()
		used, err := InUse(path)
		if err != nil {
			t.Skipf("InUse cannot tell here (%v): it needs privilege", err)
		}
		require.Equal(t, want, used, why)
		free, err := leaseFree(path)
		require.NoError(t, err)
		require.Equal(t, want, !free, "lease: "+why)
	}
	check(false, "nobody has the new file open")

	f, err := os.Open(path)
	require.NoError(t, err)
	check(true, "open in this process")

	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	child := exec.Command("sleep", "30")
	child.ExtraFiles = []*os.File{f}
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	require.NoError(t, f.Close())
	check(true, "mapped in this process, its descriptor closed, and open in a child")

	require.NoError(t, unix.Munmap(mem))
	check(true, "open in a child process only")

	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	check(false, "nobody has it open any more")
}
