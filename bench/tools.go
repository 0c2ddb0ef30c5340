package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Root finds the repository root (the directory holding the ringwire go.mod) from the working
// directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/ringwire/ringwire\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the ringwire repository")
		}
		dir = parent
	}
}

// build runs a build command in dir with a time limit and returns how long it took.
func build(dir string, limit time.Duration, name string, args ...string) (time.Duration, error) {
	if _, err := exec.LookPath(name); err != nil {
		return 0, fmt.Errorf("%w: %s not installed", errSkipped, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if ctx.Err() != nil {
		return d, fmt.Errorf("%w: %s %s took over %v", errSkipped, name, strings.Join(args, " "), limit)
	}
	if err != nil {
		tail := string(out)
		if len(tail) > 400 {
			tail = "..." + tail[len(tail)-400:]
		}
		return d, fmt.Errorf("%w: %s %s failed: %v: %s", errSkipped, name, strings.Join(args, " "), err, strings.TrimSpace(tail))
	}
	return d, nil
}

// programs are the non-Go programs of a run, each with the reason it is missing if it is.
type programs struct {
	tools
	ShmRingBin, PingPongBin, RustBaselines string
	UDSBin                                 string            // the Unix-socket baseline of the framed group
	Missing                                map[string]string // program -> why it is unavailable
	Built                                  []string          // what was built, how long it took
}

// prepare builds what the run needs: the C baselines and bench/interop/c with make, the Rust
// baselines and bench/interop/rust with cargo, each within rustLimit (0: skip Rust). A program
// that cannot be built is recorded in Missing and its scenarios are skipped.
func prepare(root string, rustLimit time.Duration) programs {
	p := programs{Missing: map[string]string{}}
	note := func(what string, d time.Duration) {
		p.Built = append(p.Built, fmt.Sprintf("%s (%.1fs)", what, d.Seconds()))
	}
	cdir := filepath.Join(root, "bench/baselines/c")
	if d, err := build(cdir, 2*time.Minute, "make", "-s"); err != nil {
		p.Missing["c-shmring"], p.Missing["c-pingpong"], p.Missing["c-uds"] = err.Error(), err.Error(), err.Error()
	} else {
		note("bench/baselines/c", d)
		p.ShmRingBin, p.PingPongBin = filepath.Join(cdir, "build/shmring"), filepath.Join(cdir, "build/pingpong")
		p.UDSBin = filepath.Join(cdir, "build/uds")
	}
	idir := filepath.Join(root, "bench/interop/c")
	if d, err := build(idir, 2*time.Minute, "make", "-s"); err != nil {
		p.Missing["c"] = err.Error()
	} else {
		note("bench/interop/c", d)
		p.CPerf = filepath.Join(idir, "build/rwperf")
	}
	if rustLimit <= 0 {
		p.Missing["rust"] = "skipped: Rust builds are off (-rust=false)"
		p.Missing["rust-baselines"] = p.Missing["rust"]
		return p
	}
	rdir := filepath.Join(root, "bench/baselines/rust")
	if d, err := build(rdir, rustLimit, "cargo", "build", "--release", "--locked", "--quiet"); err != nil {
		p.Missing["rust-baselines"] = err.Error()
	} else {
		note("bench/baselines/rust", d)
		p.RustBaselines = filepath.Join(rdir, "target/release/rust-baselines")
	}
	pdir := filepath.Join(root, "bench/interop/rust")
	if d, err := build(pdir, rustLimit, "cargo", "build", "--release", "--quiet"); err != nil {
		p.Missing["rust"] = err.Error()
	} else {
		note("bench/interop/rust", d)
		p.RustPerf = filepath.Join(pdir, "target/release/rwperf")
	}
	return p
}

// machine describes the host: CPU model, cores, kernel, Go version.
type machine struct {
	CPU    string
	Cores  int
	Kernel string
	Go     string
	OS     string
}

func (m machine) String() string {
	return fmt.Sprintf("%s, %d cores, Linux %s, %s %s", m.CPU, m.Cores, m.Kernel, m.Go, m.OS)
}

func numCPU() int       { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }
func goOS() string      { return runtime.GOOS + "/" + runtime.GOARCH }

// readMachine reads /proc/cpuinfo and uname.
func readMachine() machine {
	m := machine{CPU: "unknown CPU", Cores: numCPU(), Go: goVersion(), OS: goOS()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	// uname -r, read where the kernel publishes it (internal/sys is the only importer of
	// golang.org/x/sys/unix, and this is all the benchmark needs of uname).
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
