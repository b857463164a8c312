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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file is the harness: building gannet, starting `gannet standalone`,
// installing and running the Node scripts, and reading their JSON lines.
// interop_test.go holds the scenarios.

const (
	// skipNoStandalone is the only reason these tests may skip.
	skipNoStandalone = "gannet standalone not built yet"

	buildTimeout     = 5 * time.Minute
	npmTimeout       = 5 * time.Minute
	helpTimeout      = 10 * time.Second
	namesrvWait      = 10 * time.Second
	brokerStopWait   = 5 * time.Second
	nodeStopWait     = 15 * time.Second
	aliOnsVersion    = "3.12.0"
	maxStderrKept    = 32 << 10
	maxBrokerLogTail = 16 << 10
)

// env is one running `gannet standalone` shared by every scenario.
type env struct {
	dir     string // this package's folder: package.json, scripts/, node_modules/
	tmp     string
	bin     string
	node    string
	namesrv string
	broker  string
	logPath string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitMu  sync.Mutex
	waitErr error
}

var (
	setupOnce sync.Once
	shared    *env
	setupSkip string
	setupErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
		if code == 0 {
			os.RemoveAll(shared.tmp)
		} else {
			fmt.Fprintf(os.Stderr, "interop: kept %s (gannet log: %s)\n", shared.tmp, shared.logPath)
		}
	}
	os.Exit(code)
}

// setup returns the shared environment, starting it on first use. It skips
// only when the gannet binary has no standalone command.
func setup(t *testing.T) *env {
	t.Helper()
	setupOnce.Do(func() {
		shared, setupSkip, setupErr = startEnv(t)
	})
	if setupSkip != "" {
		t.Skip(setupSkip)
	}
	if setupErr != nil {
		t.Fatalf("interop setup failed: %v", setupErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gannet standalone output (tail of %s):\n%s", shared.logPath, fileTail(shared.logPath, maxBrokerLogTail))
		}
	})
	return shared
}

func startEnv(t *testing.T) (e *env, skip string, err error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, "", err
	}
	tmp, err := os.MkdirTemp("", "gannet-interop-")
	if err != nil {
		return nil, "", err
	}
	e = &env{dir: dir, tmp: tmp, logPath: filepath.Join(tmp, "gannet.log"), exited: make(chan struct{})}
	defer func() {
		if skip != "" || err != nil {
			// Nothing worth keeping: the broker never ran.
			if e.cmd == nil {
				os.RemoveAll(tmp)
			}
		}
	}()

	// 1. The gannet binary: built once, or given by INTEROP_GANNET_BIN.
	if b := os.Getenv("INTEROP_GANNET_BIN"); b != "" {
		e.bin = b
		t.Logf("using gannet binary %s (INTEROP_GANNET_BIN)", b)
	} else {
		e.bin = filepath.Join(tmp, "gannet")
		goTool, lerr := exec.LookPath("go")
		if lerr != nil {
			if root := os.Getenv("GOROOT"); root != "" {
				goTool = filepath.Join(root, "bin", "go")
			} else {
				return e, "", fmt.Errorf("go tool not found in PATH: %v", lerr)
			}
		}
		start := time.Now()
		out, berr := runBounded(buildTimeout, "", goTool, "build", "-o", e.bin, "github.com/gannetmq/gannet/cmd/gannet")
		if berr != nil {
			return e, "", fmt.Errorf("go build github.com/gannetmq/gannet/cmd/gannet: %v\n%s", berr, out)
		}
		t.Logf("built gannet in %v", time.Since(start).Round(time.Millisecond))
	}

	// 2. The only allowed skip: no standalone command yet.
	has, why, herr := hasStandalone(e.bin)
	if herr != nil {
		return e, "", herr
	}
	if !has {
		t.Logf("gannet has no standalone command: %s", why)
		return e, skipNoStandalone, nil
	}

	// 3. Node and the locked ali-ons install.
	e.node, err = exec.LookPath("node")
	if err != nil {
		return e, "", fmt.Errorf("node not found in PATH (the interop tests need Node 20; CI installs it): %v", err)
	}
	if v, verr := runBounded(helpTimeout, "", e.node, "--version"); verr == nil {
		t.Logf("node %s", strings.TrimSpace(v))
	}
	if err := ensureNodeModules(t, dir); err != nil {
		return e, "", err
	}

	// 4. gannet standalone on free loopback ports.
	nsPort, err := freePort()
	if err != nil {
		return e, "", err
	}
	brPort, err := freePort()
	if err != nil {
		return e, "", err
	}
	e.namesrv = net.JoinHostPort("127.0.0.1", strconv.Itoa(nsPort))
	e.broker = net.JoinHostPort("127.0.0.1", strconv.Itoa(brPort))
	if err := e.startBroker(t); err != nil {
		return e, "", err
	}
	return e, "", nil
}

// hasStandalone reports whether bin has a standalone command: `gannet --help`
// mentions it, or `gannet standalone --help` does not answer "unknown command".
func hasStandalone(bin string) (bool, string, error) {
	out, err := runBounded(helpTimeout, "", bin, "--help")
	if errors.Is(err, context.DeadlineExceeded) {
		return false, "", fmt.Errorf("%s --help did not exit within %v", bin, helpTimeout)
	}
	if strings.Contains(out, "standalone") {
		return true, "", nil
	}
	out2, err := runBounded(helpTimeout, "", bin, "standalone", "--help")
	if errors.Is(err, context.DeadlineExceeded) {
		return false, "", fmt.Errorf("%s standalone --help did not exit within %v", bin, helpTimeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return false, "", fmt.Errorf("running %s standalone --help: %v", bin, err)
	}
	if strings.Contains(strings.ToLower(out2), "unknown command") {
		return false, strings.TrimSpace(firstLine(out2)), nil
	}
	return true, "", nil
}

// ensureNodeModules runs `npm ci` when node_modules lacks the locked ali-ons.
func ensureNodeModules(t *testing.T, dir string) error {
	pj := filepath.Join(dir, "node_modules", "ali-ons", "package.json")
	if b, err := os.ReadFile(pj); err == nil {
		var p struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &p) == nil && p.Version == aliOnsVersion {
			return nil
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("node_modules/ali-ons@%s is missing and npm is not in PATH: %v", aliOnsVersion, err)
	}
	t.Logf("node_modules/ali-ons@%s missing: running npm ci in %s", aliOnsVersion, dir)
	start := time.Now()
	out, err := runBounded(npmTimeout, dir, npm, "ci", "--no-audit", "--no-fund")
	if err != nil {
		return fmt.Errorf("npm ci in %s failed: %v\n%s", dir, err, tailString(out, 8<<10))
	}
	t.Logf("npm ci took %v", time.Since(start).Round(time.Millisecond))
	return nil
}

func (e *env) startBroker(t *testing.T) error {
	logf, err := os.Create(e.logPath)
	if err != nil {
		return err
	}
	dataDir := filepath.Join(e.tmp, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		logf.Close()
		return err
	}
	args := []string{"standalone", "--data", dataDir, "--namesrv-addr", e.namesrv, "--broker-addr", e.broker, "--http-addr", "off"}
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s %s: %v", e.bin, strings.Join(args, " "), err)
	}
	e.cmd = cmd
	go func() {
		err := cmd.Wait()
		logf.Close()
		e.waitMu.Lock()
		e.waitErr = err
		e.waitMu.Unlock()
		close(e.exited)
	}()
	t.Logf("started gannet %s (pid %d)", strings.Join(args, " "), cmd.Process.Pid)

	deadline := time.Now().Add(namesrvWait)
	for _, addr := range []string{e.namesrv, e.broker} {
		for {
			select {
			case <-e.exited:
				e.waitMu.Lock()
				werr := e.waitErr
				e.waitMu.Unlock()
				return fmt.Errorf("gannet standalone exited (%v) before %s accepted connections; output:\n%s",
					werr, addr, fileTail(e.logPath, maxBrokerLogTail))
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				e.stop()
				return fmt.Errorf("%s did not accept connections within %v after starting gannet standalone; output:\n%s",
					addr, namesrvWait, fileTail(e.logPath, maxBrokerLogTail))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("name server %s and broker %s accept connections", e.namesrv, e.broker)
	return nil
}

// stop ends gannet's process group: SIGTERM, then SIGKILL, each bounded.
func (e *env) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.exited:
		return
	default:
	}
	pgid := e.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.exited:
		return
	case <-time.After(brokerStopWait):
	}
	fmt.Fprintf(os.Stderr, "interop: gannet did not exit %v after SIGTERM; killing\n", brokerStopWait)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-e.exited:
	case <-time.After(brokerStopWait):
		fmt.Fprintf(os.Stderr, "interop: gannet (pid %d) still not reaped after SIGKILL\n", pgid)
	}
}

// brokerAlive fails the test if gannet has exited.
func (e *env) brokerAlive(t *testing.T) {
	t.Helper()
	select {
	case <-e.exited:
		e.waitMu.Lock()
		werr := e.waitErr
		e.waitMu.Unlock()
		t.Fatalf("gannet standalone has exited (%v)", werr)
	default:
	}
}

// --- Node script processes ---------------------------------------------------

// line is one JSON line from a script. Fields are the union of what the
// scripts print; see scripts/*.js.
type line struct {
	Type string `json:"type"`

	// consume.js "msg", query.js "found"/"viewed"
	Status         string            `json:"status"`
	MsgID          string            `json:"msgId"`
	Topic          string            `json:"topic"`
	QueueID        int               `json:"queueId"`
	QueueOffset    int64             `json:"queueOffset"`
	Body           string            `json:"body"`
	Tags           string            `json:"tags"`
	Keys           string            `json:"keys"`
	ReconsumeTimes int               `json:"reconsumeTimes"`
	RetryTopic     string            `json:"retryTopic"`
	OriginMsgID    string            `json:"originMsgId"`
	Properties     map[string]string `json:"properties"`
	Key            string            `json:"key"`

	// produce.js "sent"
	Seq        int    `json:"seq"`
	SendStatus string `json:"sendStatus"`
	BrokerName string `json:"brokerName"`

	// consume.js "assigned", "ready", "closed"
	Queues   []int  `json:"queues"`
	Total    int    `json:"total"`
	ClientID string `json:"clientId"`
	Reason   string `json:"reason"`

	// errors and summaries
	Error    *scriptError   `json:"error"`
	Problems []string       `json:"problems"`
	Code     int            `json:"code"`
	Remark   string         `json:"remark"`
	Found    map[string]int `json:"found"`
	Missing  []string       `json:"missing"`

	raw string
}

type scriptError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Code    any    `json:"code"`
}

func (l line) String() string { return l.raw }

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

// startNode runs `node scripts/<script> args...` in the package folder.
func (e *env) startNode(t *testing.T, name, script string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(e.node, append([]string{filepath.Join("scripts", script)}, args...)...)
	cmd.Dir = e.dir
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
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			raw := sc.Text()
			var l line
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				// A field of an unexpected shape: keep the type at least.
				var typed struct {
					Type string `json:"type"`
				}
				if json.Unmarshal([]byte(raw), &typed) == nil {
					l = line{Type: typed.Type}
				}
			}
			if l.Type == "" {
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
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.report()
		}
	})
	return p
}

// report logs what the process printed that a reader needs to debug it.
func (p *nodeProc) report() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var notable []string
	for _, l := range p.lines {
		switch l.Type {
		case "fatal", "send_error", "decode_error", "query_error", "closed", "ready", "assigned", "summary":
			notable = append(notable, l.raw)
		}
	}
	if len(notable) > 40 {
		notable = append(notable[:20], append([]string{"..."}, notable[len(notable)-20:]...)...)
	}
	p.t.Logf("%s: %d JSON lines; notable:\n  %s", p.name, len(p.lines), strings.Join(notable, "\n  "))
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

func (p *nodeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit status (-1 if killed by a signal).
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

// describeExit summarises why the process ended, for failure messages.
func (p *nodeProc) describeExit() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var msgs []string
	for _, l := range p.lines {
		if l.Type == "fatal" || l.Type == "send_error" || l.Type == "closed" {
			msgs = append(msgs, l.raw)
		}
	}
	return fmt.Sprintf("%s exited (%v); %s", p.name, p.exitErr, strings.Join(msgs, "; "))
}

// waitFor waits until some line satisfies pred. It fails if the process
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
			// Lines printed just before exit were handled above, since the
			// reader records them before closing done.
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				p.t.Fatalf("waiting for %s: %s", what, p.describeExit())
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

// stop asks the process to finish (SIGTERM: consume.js closes its consumer)
// and waits, bounded; returns the exit code, or -1 if it had to be killed.
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

// kill ends the process group at once, bounded.
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

// --- small helpers --------------------------------------------------------------

// runBounded runs a command to completion within timeout and returns its
// combined output. On timeout the error wraps context.DeadlineExceeded.
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := int64(0)
	if st.Size() > n {
		off = st.Size() - n
	}
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	return string(b)
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// testContext bounds a scenario by budget and by the go test deadline.
func testContext(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(budget)
	if d, ok := t.Deadline(); ok && d.Add(-15*time.Second).Before(deadline) {
		deadline = d.Add(-15 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}
