// Package child runs roles of a multi-process test or benchmark in child processes that are
// copies of the current binary: the test binary re-executed with a role named in its environment,
// or a command such as rwbench re-executing itself.
//
// A binary registers its roles (Register, usually from init or TestMain) and calls Dispatch first
// thing in TestMain or main. Dispatch returns at once in the parent; in a child started by Start
// or Command it runs the named role instead of the tests or the command, and exits with the
// role's status. A role receives the arguments it was started with (the child's os.Args[1:]) and
// reads anything else from the environment it was given.
//
// The role variable is inherited by the role's own children, so a role that re-executes its own
// binary (the ringwire command's demo) runs the same role again in them, with their arguments.
//
// Registration must happen before Dispatch and Start; after that the package is safe for
// concurrent use, and each Process is safe for concurrent use.
package child

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is the environment variable that names the role a child process plays.
const Env = "RINGWIRE_CHILD"

// Role is what a child process does: it runs with the child's arguments and returns its exit
// status.
type Role func(args []string) int

// ErrTimeout is returned by Process.Wait and Process.AwaitLine when the time given runs out.
var ErrTimeout = errors.New("child: timed out")

var roles = map[string]Role{}

// Register makes role name available to Dispatch. It panics if the name is empty or already
// registered.
func Register(name string, r Role) {
	if name == "" || roles[name] != nil {
		panic(fmt.Sprintf("child: role %q registered twice or empty", name))
	}
	roles[name] = r
}

// Dispatch returns if this process is not a child. In a child it runs the role named by Env
// with os.Args[1:] and exits with its status; an unknown role exits with status 2.
func Dispatch() {
	name, ok := os.LookupEnv(Env)
	if !ok {
		return
	}
	r := roles[name]
	if r == nil {
		known := make([]string, 0, len(roles))
		for n := range roles {
			known = append(known, n)
		}
		sort.Strings(known)
		fmt.Fprintf(os.Stderr, "child: unknown role %q (%s=%s; known: %s)\n", name, Env, name,
			strings.Join(known, ", "))
		os.Exit(2)
	}
	os.Exit(r(os.Args[1:]))
}

// Options are how a role is started. The zero value runs it in a copy of this binary, with no
// arguments, in this process's environment and directory.
type Options struct {
	Args []string // the role's arguments
	Env  []string // "KEY=value" entries added to this process's environment
	// Path is the binary to run instead of this one's (os.Executable): it must dispatch the same
	// roles, e.g. a copy of this binary that another user may run.
	Path        string
	Dir         string
	SysProcAttr *syscall.SysProcAttr // Pdeathsig is set on Linux unless already set
}

// Command returns the command that runs role, for a caller that wires its own input and output.
// The context kills the child (SIGKILL) when it is done. On Linux the child is also killed if the
// thread that started it exits (Pdeathsig), so no child outlives a test binary that died.
func Command(ctx context.Context, role string, o Options) (*exec.Cmd, error) {
	if roles[role] == nil {
		return nil, fmt.Errorf("child: role %q is not registered", role)
	}
	path := o.Path
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("child: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, path, o.Args...)
	cmd.Env = append(append(os.Environ(), Env+"="+role), o.Env...)
	cmd.Dir = o.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if o.SysProcAttr != nil {
		*cmd.SysProcAttr = *o.SysProcAttr // a copy: the caller's is left as it was
	}
	dieWithParent(cmd.SysProcAttr)
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the output open does not block Wait
	return cmd, nil
}

// Process is a started child whose standard output and error are captured together.
type Process struct {
	cmd  *exec.Cmd
	out  buffer
	done chan struct{}
	err  error // cmd.Wait's, set before done is closed
}

// Start starts role in a child process and captures its combined output.
func Start(role string, o Options) (*Process, error) {
	cmd, err := Command(context.Background(), role, o)
	if err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out // one pipe: the lines keep their order
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("child %s: %w", role, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the child has written so far (all of it once it has exited).
func (p *Process) Output() string { return p.out.String() }

// Done is closed once the child has exited and its output is complete.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the child's exit error once Done is closed (nil for status 0; an *exec.ExitError
// otherwise), and nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// AwaitLine waits until the child has written a whole line that starts with prefix, and returns
// that line without its newline. It polls the output every millisecond; it fails if the child
// exits first, and with ErrTimeout when timeout passes (the child is left running).
func (p *Process) AwaitLine(prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		exited := isClosed(p.done) // looked at before the output, so no last line is missed
		for line := range strings.Lines(p.out.String()) {
			if l, ok := strings.CutSuffix(line, "\n"); ok && strings.HasPrefix(l, prefix) {
				return l, nil
			}
		}
		if exited {
			return "", fmt.Errorf("child exited (%v) before a line %q; output:\n%s", p.err, prefix, p.Output())
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w after %v waiting for a line %q; output:\n%s", ErrTimeout, timeout, prefix, p.Output())
		}
		time.Sleep(time.Millisecond)
	}
}

// Wait waits for the child to exit and returns its exit error (nil for status 0). When timeout
// passes first it kills the child with SIGKILL and returns ErrTimeout.
func (p *Process) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
	}
	p.Kill()
	return fmt.Errorf("%w after %v; output:\n%s", ErrTimeout, timeout, p.Output())
}

// Kill sends SIGKILL (kill -9) to the child and waits until it has exited and been reaped. It
// does nothing to a child that has already exited.
func (p *Process) Kill() {
	if !isClosed(p.done) {
		_ = p.cmd.Process.Signal(syscall.SIGKILL) // fails only if it has exited meanwhile
	}
	<-p.done
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// buffer is a strings.Builder safe for the concurrent writes of the child's output and reads of the
// test.
type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
