//go:build unix

package clienttest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	npmTimeout    = 5 * time.Minute
	helpTimeout   = 10 * time.Second
	maxStderrKept = 32 << 10
	killWait      = 5 * time.Second
)

// FindNode returns the node binary once dir's node_modules holds the
// pinned packages (name to version), running npm ci (bounded) in dir when
// it does not.
func FindNode(t *testing.T, dir string, pinned map[string]string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("node not found in PATH (these tests need Node 20): %w", err)
	}
	if v, verr := RunBounded(helpTimeout, "", node, "--version"); verr == nil {
		t.Logf("node %s", strings.TrimSpace(v))
	}
	if err := EnsureNodeModules(t, dir, pinned); err != nil {
		return "", err
	}
	return node, nil
}

// EnsureNodeModules runs `npm ci` in dir when its node_modules lacks one of
// the pinned packages at its version.
func EnsureNodeModules(t *testing.T, dir string, pinned map[string]string) error {
	stale := ""
	for _, pkg := range slices.Sorted(maps.Keys(pinned)) {
		want := pinned[pkg]
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", pkg, "package.json"))
		var p struct {
			Version string `json:"version"`
		}
		if err != nil || json.Unmarshal(b, &p) != nil || p.Version != want {
			stale = fmt.Sprintf("%s@%s (found %q)", pkg, want, p.Version)
			break
		}
	}
	if stale == "" {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("node_modules lacks %s and npm is not in PATH: %w", stale, err)
	}
	t.Logf("node_modules lacks %s: running npm ci in %s", stale, dir)
	start := time.Now()
	out, err := RunBounded(npmTimeout, dir, npm, "ci", "--no-audit", "--no-fund")
	if err != nil {
		return fmt.Errorf("npm ci in %s failed: %w\n%s", dir, err, Tail(out, 8<<10))
	}
	t.Logf("npm ci took %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// Line is one decoded JSON line of a script.
type Line interface {
	Kind() string   // its "type" field
	String() string // the line as the script printed it
}

// Options say how to run a package's scripts and read what they print.
type Options[L Line] struct {
	Node     string        // the node binary (FindNode)
	Dir      string        // the folder holding scripts/ and node_modules/; "" for the current one
	StopWait time.Duration // how long Stop waits after SIGTERM before it kills

	// Decode turns a line of stdout into an L; false keeps it aside as
	// non-JSON output.
	Decode func(raw string) (L, bool)
	// Telling are the kinds of line Describe quotes.
	Telling []string
	// Shown picks the lines a failed test logs; nil logs them all.
	Shown func(lines []L) []string
}

// Proc is one running script: `node scripts/<script> args...`.
type Proc[L Line] struct {
	T    *testing.T
	Name string

	opts Options[L]
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []L
	junk    []string
	changed chan struct{} // closed and replaced on every new line and on exit
	stderr  TailBuffer

	done    chan struct{}
	exitErr error
}

// Start runs `node scripts/<script> args...` in o.Dir. The process group
// is killed when the test ends, and what it printed is logged if the test
// failed.
func Start[L Line](t *testing.T, o Options[L], name, script string, args ...string) *Proc[L] {
	t.Helper()
	cmd := exec.Command(o.Node, append([]string{filepath.Join("scripts", script)}, args...)...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc[L]{T: t, Name: name, opts: o, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	p.stderr.Max = maxStderrKept
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, script, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.report()
		}
	})
	return p
}

func (p *Proc[L]) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		raw := sc.Text()
		l, ok := p.opts.Decode(raw)
		p.mu.Lock()
		if ok {
			p.lines = append(p.lines, l)
			close(p.changed)
			p.changed = make(chan struct{})
		} else {
			p.junk = append(p.junk, raw)
		}
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, stdout)
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exitErr = err
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	close(p.done)
}

// report logs what a reader needs to debug a failure.
func (p *Proc[L]) report() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var shown []string
	if p.opts.Shown != nil {
		shown = p.opts.Shown(p.lines)
	} else {
		for _, l := range p.lines {
			shown = append(shown, l.String())
		}
	}
	p.T.Logf("%s: %d JSON lines:\n  %s", p.Name, len(p.lines), strings.Join(shown, "\n  "))
	if len(p.junk) > 0 {
		p.T.Logf("%s: non-JSON stdout (first lines): %q", p.Name, p.junk[:min(len(p.junk), 5)])
	}
	if s := p.stderr.String(); s != "" {
		p.T.Logf("%s stderr (tail):\n%s", p.Name, s)
	}
}

// Lines returns the lines read so far.
func (p *Proc[L]) Lines() []L {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]L(nil), p.lines...)
}

// Of returns the lines of one kind read so far.
func (p *Proc[L]) Of(kind string) []L {
	var ls []L
	for _, l := range p.Lines() {
		if l.Kind() == kind {
			ls = append(ls, l)
		}
	}
	return ls
}

// Exited reports whether the process has exited and all its output has
// been read.
func (p *Proc[L]) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed once the process has exited and all its output has been
// read.
func (p *Proc[L]) Done() <-chan struct{} { return p.done }

// ExitCode is the exit status (-1 if killed by a signal).
func (p *Proc[L]) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitErr == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Describe summarises the process for failure messages: whether it is
// running or how it exited, and its lines of the Telling kinds.
func (p *Proc[L]) Describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var msgs []string
	for _, l := range p.lines {
		if slices.Contains(p.opts.Telling, l.Kind()) {
			msgs = append(msgs, l.String())
		}
	}
	state := "running"
	if p.exitErr != nil || p.Exited() {
		state = fmt.Sprintf("exited (%v)", p.exitErr)
	}
	return fmt.Sprintf("%s %s; %s", p.Name, state, strings.Join(msgs, "; "))
}

// WaitFor waits until a line satisfies pred and returns it; the test fails
// if the process exits first or ctx ends.
func (p *Proc[L]) WaitFor(ctx context.Context, what string, pred func(L) bool) L {
	p.T.Helper()
	seen := 0
	for {
		p.mu.Lock()
		ch := p.changed
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if pred(l) {
				return l
			}
		}
		if p.Exited() {
			// Lines printed just before exit were handled above, since the
			// reader records them before closing done.
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				p.T.Fatalf("waiting for %s: %s", what, p.Describe())
			}
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.T.Fatalf("waiting for %s from %s: %v", what, p.Name, ctx.Err())
		}
	}
}

// WaitKind waits for the first line of one kind.
func (p *Proc[L]) WaitKind(ctx context.Context, kind string) L {
	p.T.Helper()
	return p.WaitFor(ctx, kind, func(l L) bool { return l.Kind() == kind })
}

// Wait waits for the process to exit on its own and returns its exit code.
func (p *Proc[L]) Wait(ctx context.Context) int {
	p.T.Helper()
	select {
	case <-p.done:
		return p.ExitCode()
	case <-ctx.Done():
		p.T.Fatalf("%s did not finish: %v", p.Name, ctx.Err())
		return -1
	}
}

// MustSucceed waits for a clean exit.
func (p *Proc[L]) MustSucceed(ctx context.Context) {
	p.T.Helper()
	if code := p.Wait(ctx); code != 0 {
		p.T.Fatalf("%s exited %d: %s", p.Name, code, p.Describe())
	}
}

// Stop sends SIGTERM (the scripts then close their clients cleanly) and
// waits, bounded by StopWait; it returns the exit code, or -1 if the
// process had to be killed.
func (p *Proc[L]) Stop() int {
	if !p.Exited() {
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(p.opts.StopWait):
			p.T.Errorf("%s did not exit within %v of SIGTERM; killing it", p.Name, p.opts.StopWait)
			p.Kill()
			return -1
		}
	}
	return p.ExitCode()
}

// Kill ends the process group at once (SIGKILL: no client says goodbye),
// bounded.
func (p *Proc[L]) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killWait):
		p.T.Logf("%s (pid %d) not reaped %v after SIGKILL", p.Name, p.cmd.Process.Pid, killWait)
	}
}
