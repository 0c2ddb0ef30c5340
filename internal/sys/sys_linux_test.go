package sys

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
