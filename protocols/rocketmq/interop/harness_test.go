//go:build unix

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/gannetmq/gannet/internal/clienttest"
)

// This file is the harness: building gannet, starting `gannet standalone`,
// installing and running the Node scripts, and reading their JSON lines.
// interop_test.go holds the scenarios.

const (
	// skipNoStandalone is the only reason these tests may skip.
	skipNoStandalone = "gannet standalone not built yet"

	buildTimeout     = 5 * time.Minute
	helpTimeout      = 10 * time.Second
	namesrvWait      = 10 * time.Second
	brokerStopWait   = 5 * time.Second
	nodeStopWait     = 15 * time.Second
	aliOnsVersion    = "3.12.0"
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
		out, berr := clienttest.RunBounded(buildTimeout, "", goTool, "build", "-o", e.bin, "github.com/gannetmq/gannet/cmd/gannet")
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
	if e.node, err = clienttest.FindNode(t, dir, map[string]string{"ali-ons": aliOnsVersion}); err != nil {
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
	out, err := clienttest.RunBounded(helpTimeout, "", bin, "--help")
	if errors.Is(err, context.DeadlineExceeded) {
		return false, "", fmt.Errorf("%s --help did not exit within %v", bin, helpTimeout)
	}
	if strings.Contains(out, "standalone") {
		return true, "", nil
	}
	out2, err := clienttest.RunBounded(helpTimeout, "", bin, "standalone", "--help")
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
	// MQTT on a port of its own: tests run in parallel with others that
	// start standalone too.
	args := []string{"standalone", "--data", dataDir, "--namesrv-addr", e.namesrv, "--broker-addr", e.broker, "--http-addr", "off", "--mqtt-addr", "127.0.0.1:0"}
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
func (l line) Kind() string   { return l.Type }

// decodeLine reads one line of a script's stdout; a line that is not a
// JSON object with a type is not one of the scripts' lines.
func decodeLine(raw string) (line, bool) {
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
		return line{}, false
	}
	l.raw = raw
	return l, true
}

// notableLines are what a failed test logs of a script's lines: those of
// the kinds that tell what happened, at most the first and last 20.
func notableLines(lines []line) []string {
	var notable []string
	for _, l := range lines {
		switch l.Type {
		case "fatal", "send_error", "decode_error", "query_error", "closed", "ready", "assigned", "summary":
			notable = append(notable, l.raw)
		}
	}
	if len(notable) > 40 {
		notable = append(notable[:20], append([]string{"..."}, notable[len(notable)-20:]...)...)
	}
	return notable
}

type nodeProc struct {
	*clienttest.Proc[line]
	name string
}

// startNode runs `node scripts/<script> args...` in the package folder.
func (e *env) startNode(t *testing.T, name, script string, args ...string) *nodeProc {
	t.Helper()
	p := clienttest.Start(t, clienttest.Options[line]{
		Node:     e.node,
		Dir:      e.dir,
		StopWait: nodeStopWait,
		Decode:   decodeLine,
		Telling:  []string{"fatal", "send_error", "closed"},
		Shown:    notableLines,
	}, name, script, args...)
	return &nodeProc{Proc: p, name: name}
}

func (p *nodeProc) snapshot() []line { return p.Lines() }

func (p *nodeProc) exited() bool { return p.Exited() }

// describeExit summarises why the process ended, for failure messages.
func (p *nodeProc) describeExit() string { return p.Describe() }

// waitFor waits until some line satisfies pred. It fails if the process
// exits first or ctx ends.
func (p *nodeProc) waitFor(ctx context.Context, what string, pred func(line) bool) line {
	p.T.Helper()
	return p.WaitFor(ctx, what, pred)
}

// wait waits for the process to exit on its own and returns its exit code.
func (p *nodeProc) wait(ctx context.Context) int {
	p.T.Helper()
	return p.Wait(ctx)
}

// stop asks the process to finish (SIGTERM: consume.js closes its consumer)
// and waits, bounded; returns the exit code, or -1 if it had to be killed.
func (p *nodeProc) stop() int { return p.Stop() }

// --- small helpers --------------------------------------------------------------

var (
	freePort = clienttest.FreePort
	fileTail = clienttest.FileTail
)

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// testContext bounds a scenario by budget and by the go test deadline.
func testContext(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	return clienttest.Context(t, budget, 15*time.Second)
}
