package child_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ringwire/ringwire/internal/child"
)

func TestMain(m *testing.M) {
	child.Register("echo", func(args []string) int {
		fmt.Println(strings.Join(args, " "), os.Getenv("CHILD_TEST_VALUE"))
		fmt.Fprintln(os.Stderr, "to stderr")
		return 0
	})
	child.Register("exit", func(args []string) int {
		fmt.Println("exiting")
		return 3
	})
	child.Register("hang", func([]string) int {
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return 0
	})
	child.Dispatch()
	os.Exit(m.Run())
}

func TestStart_RunsRoleWithArgsAndEnv_CapturesOutput(t *testing.T) {
	p, err := child.Start("echo", child.Options{Args: []string{"a", "b"}, Env: []string{"CHILD_TEST_VALUE=v"}})
	require.NoError(t, err)
	require.NoError(t, p.Wait(10*time.Second))
	require.Equal(t, "a b v\nto stderr\n", p.Output())
	require.NoError(t, p.Err())
}

func TestWait_ReturnsExitStatus(t *testing.T) {
	p, err := child.Start("exit", child.Options{})
	require.NoError(t, err)
	err = p.Wait(10 * time.Second)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.ExitCode())
	_, err = p.AwaitLine("never", time.Second)
	require.ErrorContains(t, err, "child exited")
	line, err := p.AwaitLine("exit", time.Second)
	require.NoError(t, err, "a line written before the exit is still found")
	require.Equal(t, "exiting", line)
}

func TestKill_SendsSIGKILL(t *testing.T) {
	p, err := child.Start("hang", child.Options{})
	require.NoError(t, err)
	line, err := p.AwaitLine("rea", 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "ready", line)
	p.Kill()
	var ee *exec.ExitError
	require.ErrorAs(t, p.Err(), &ee)
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled())
	require.Equal(t, syscall.SIGKILL, ws.Signal())
	p.Kill() // a second kill of an exited child does nothing
}

func TestWait_TimeoutKills(t *testing.T) {
	p, err := child.Start("hang", child.Options{})
	require.NoError(t, err)
	_, err = p.AwaitLine("ready", 10*time.Second)
	require.NoError(t, err)
	_, err = p.AwaitLine("never", 20*time.Millisecond)
	require.ErrorIs(t, err, child.ErrTimeout)
	require.ErrorIs(t, p.Wait(20*time.Millisecond), child.ErrTimeout)
	select {
	case <-p.Done():
	default:
		t.Fatal("the child still runs after Wait timed out")
	}
}

func TestCommand_UnknownRoleRefused_UnregisteredRoleInChildExits2(t *testing.T) {
	_, err := child.Command(context.Background(), "nobody", child.Options{})
	require.Error(t, err)

	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), child.Env+"=nobody")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), `unknown role "nobody"`)
	require.Contains(t, string(out), "echo, exit, hang")
}
