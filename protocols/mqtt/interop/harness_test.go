//go:build unix

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file is the harness: the Node installation, running the scripts with
// a bound on each, and reading their JSON lines. broker_test.go starts the
// servers; interop_test.go holds the scenarios.

const (
	npmTimeout    = 5 * time.Minute
	nodeStopWait  = 10 * time.Second
	maxStderrKept = 32 << 10
)

// pinned are the npm packages package-lock.json locks, by version.
var pinned = map[string]string{"mqtt": "5.16.0", "ali-ons": "3.12.0"}

var (
	nodeOnce sync.Once
	nodePath string
	nodeErr  error
)

// node returns the node binary once node_modules holds the pinned packages,
// running npm ci (bounded) when it does not.
func node(t *testing.T) string {
	t.Helper()
	nodeOnce.Do(func() {
		nodePath, nodeErr = exec.LookPath("node")
		if nodeErr != nil {
			nodeErr = fmt.Errorf("node not found in PATH (these tests need Node 20): %w", nodeErr)
			return
		}
		nodeErr = ensureNodeModules(t)
	})
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	return nodePath
}

func ensureNodeModules(t *testing.T) error {
	stale := ""
	for pkg, want := range pinned {
		b, err := os.ReadFile(filepath.Join("node_modules", pkg, "package.json"))
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
	t.Logf("node_modules lacks %s: running npm ci", stale)
	start := time.Now()
	out, err := runBounded(npmTimeout, ".", npm, "ci", "--no-audit", "--no-fund")
	if err != nil {
		return fmt.Errorf("npm ci failed: %w\n%s", err, tail(out, 8<<10))
	}
	t.Logf("npm ci took %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// line is one JSON line of a script: the union of what scripts/*.js print.
type line struct {
	Type string `json:"type"`

	// pub.js "sent", sub.js "msg", ons_*.js
	Seq            int             `json:"seq"`
	Topic          string          `json:"topic"`
	Body           string          `json:"body"`
	QoS            int             `json:"qos"`
	Retain         bool            `json:"retain"`
	Dup            bool            `json:"dup"`
	UserProperties json.RawMessage `json:"userProperties"`
	ContentType    string          `json:"contentType"`

	// sub.js "subscribed"
	Granted []struct {
		Topic string `json:"topic"`
		QoS   int    `json:"qos"`
	} `json:"granted"`

	// ons_consume.js "msg"
	Tags       string            `json:"tags"`
	Properties map[string]string `json:"properties"`

	// summaries and errors
	Sent   int          `json:"sent"`
	Errors int          `json:"errors"`
	Count  int          `json:"count"`
	Reason string       `json:"reason"`
	Error  *scriptError `json:"error"`

	raw string
}

type scriptError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Code    any    `json:"code"`
}

// code is the error's numeric code (an MQTT reason or return code), or -1.
func (e *scriptError) code() int {
	if e == nil {
		return -1
	}
	if f, ok := e.Code.(float64); ok {
		return int(f)
	}
	return -1
}

func (l line) String() string { return l.raw }

// nodeProc is one running script.
type nodeProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []line
	junk    []string
	changed chan struct{} // closed and replaced on every new line and on exit
	stderr  tailBuffer

	done    chan struct{}
	exitErr error
}

// startNode runs `node scripts/<script> args...` in this folder. The
// process is killed when the test ends.
func startNode(t *testing.T, name, script string, args ...string) *nodeProc {
	t.Helper()
	nodeBin := node(t)
	cmd := exec.Command(nodeBin, append([]string{filepath.Join("scripts", script)}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &nodeProc{t: t, name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	p.stderr.max = maxStderrKept
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
		p.kill()
		if t.Failed() {
			p.report()
		}
	})
	return p
}

func (p *nodeProc) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		raw := sc.Text()
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil || l.Type == "" {
			p.mu.Lock()
			p.junk = append(p.junk, raw)
			p.mu.Unlock()
			continue
		}
		l.raw = raw
		p.mu.Lock()
		p.lines = append(p.lines, l)
		close(p.changed)
		p.changed = make(chan struct{})
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
func (p *nodeProc) report() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var shown []string
	for i, l := range p.lines {
		if i < 20 || i >= len(p.lines)-20 || l.Type != "msg" && l.Type != "sent" {
			shown = append(shown, l.raw)
		}
	}
	p.t.Logf("%s: %d JSON lines:\n  %s", p.name, len(p.lines), strings.Join(shown, "\n  "))
	if len(p.junk) > 0 {
		p.t.Logf("%s: non-JSON stdout (first lines): %q", p.name, p.junk[:min(len(p.junk), 5)])
	}
	if s := p.stderr.String(); s != "" {
		p.t.Logf("%s stderr (tail):\n%s", p.name, s)
	}
}

func (p *nodeProc) snapshot() []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]line(nil), p.lines...)
}

// of returns the lines of one type.
func (p *nodeProc) of(typ string) []line {
	var ls []line
	for _, l := range p.snapshot() {
		if l.Type == typ {
			ls = append(ls, l)
		}
	}
	return ls
}

func (p *nodeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status (-1 if killed by a signal).
func (p *nodeProc) exitCode() int {
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

func (p *nodeProc) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var msgs []string
	for _, l := range p.lines {
		switch l.Type {
		case "fatal", "connect_error", "subscribe_error", "publish_error", "send_error", "closed", "done":
			msgs = append(msgs, l.raw)
		}
	}
	state := "running"
	if p.exitErr != nil || isClosed(p.done) {
		state = fmt.Sprintf("exited (%v)", p.exitErr)
	}
	return fmt.Sprintf("%s %s; %s", p.name, state, strings.Join(msgs, "; "))
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitFor waits until a line satisfies pred; the test fails if the process
// exits first or ctx ends.
func (p *nodeProc) waitFor(ctx context.Context, what string, pred func(line) bool) line {
	p.t.Helper()
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
		if p.exited() {
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				p.t.Fatalf("waiting for %s: %s", what, p.describe())
			}
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("waiting for %s from %s: %v", what, p.name, ctx.Err())
		}
	}
}

// waitType waits for the first line of type typ.
func (p *nodeProc) waitType(ctx context.Context, typ string) line {
	p.t.Helper()
	return p.waitFor(ctx, typ, func(l line) bool { return l.Type == typ })
}

// wait waits for the process to exit on its own and returns its exit code.
func (p *nodeProc) wait(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-ctx.Done():
		p.t.Fatalf("%s did not finish: %v", p.name, ctx.Err())
		return -1
	}
}

// mustSucceed waits for a clean exit.
func (p *nodeProc) mustSucceed(ctx context.Context) {
	p.t.Helper()
	if code := p.wait(ctx); code != 0 {
		p.t.Fatalf("%s exited %d: %s", p.name, code, p.describe())
	}
}

// stop sends SIGTERM (the scripts then disconnect cleanly) and waits,
// bounded; it returns the exit code, or -1 if the process had to be killed.
func (p *nodeProc) stop() int {
	if !p.exited() {
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(nodeStopWait):
			p.t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.name, nodeStopWait)
			p.kill()
			return -1
		}
	}
	return p.exitCode()
}

// kill ends the process group at once (SIGKILL: no DISCONNECT is sent),
// bounded.
func (p *nodeProc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.t.Logf("%s (pid %d) not reaped 5s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// --- small helpers -----------------------------------------------------------

// runBounded runs a command to completion within timeout and returns its
// combined output.
func runBounded(timeout time.Duration, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	if ctx.Err() != nil {
		return buf.String(), fmt.Errorf("%s: %w", name, ctx.Err())
	}
	return buf.String(), err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	lost int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.lost += over
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost > 0 {
		return fmt.Sprintf("[%d earlier bytes dropped]\n%s", b.lost, b.buf)
	}
	return string(b.buf)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// testContext bounds a scenario by budget and by the go test deadline.
func testContext(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(budget)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}
