//go:build unix

package interop

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gannetmq/gannet/internal/clienttest"
)

// This file is the harness: the Node installation, and the JSON lines the
// scripts print (running them is internal/clienttest's). broker_test.go
// starts the servers; interop_test.go holds the scenarios.

const nodeStopWait = 10 * time.Second

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
		nodePath, nodeErr = clienttest.FindNode(t, ".", pinned)
	})
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	return nodePath
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
func (l line) Kind() string   { return l.Type }

// decodeLine reads one line of a script's stdout; a line that is not a
// JSON object with a type is not one of the scripts' lines.
func decodeLine(raw string) (line, bool) {
	var l line
	if err := json.Unmarshal([]byte(raw), &l); err != nil || l.Type == "" {
		return line{}, false
	}
	l.raw = raw
	return l, true
}

// shownLines are what a failed test logs of a script's lines: the first
// and last 20, and every line that is not a message.
func shownLines(lines []line) []string {
	var shown []string
	for i, l := range lines {
		if i < 20 || i >= len(lines)-20 || l.Type != "msg" && l.Type != "sent" {
			shown = append(shown, l.raw)
		}
	}
	return shown
}

// nodeProc is one running script.
type nodeProc struct {
	*clienttest.Proc[line]
	name string
}

// startNode runs `node scripts/<script> args...` in this folder. The
// process is killed when the test ends.
func startNode(t *testing.T, name, script string, args ...string) *nodeProc {
	t.Helper()
	p := clienttest.Start(t, clienttest.Options[line]{
		Node:     node(t),
		StopWait: nodeStopWait,
		Decode:   decodeLine,
		Telling:  []string{"fatal", "connect_error", "subscribe_error", "publish_error", "send_error", "closed", "done"},
		Shown:    shownLines,
	}, name, script, args...)
	return &nodeProc{Proc: p, name: name}
}

// of returns the lines of one type.
func (p *nodeProc) of(typ string) []line { return p.Of(typ) }

func (p *nodeProc) describe() string { return p.Describe() }

// waitFor waits until a line satisfies pred; the test fails if the process
// exits first or ctx ends.
func (p *nodeProc) waitFor(ctx context.Context, what string, pred func(line) bool) line {
	p.T.Helper()
	return p.WaitFor(ctx, what, pred)
}

// waitType waits for the first line of type typ.
func (p *nodeProc) waitType(ctx context.Context, typ string) line {
	p.T.Helper()
	return p.WaitKind(ctx, typ)
}

// wait waits for the process to exit on its own and returns its exit code.
func (p *nodeProc) wait(ctx context.Context) int {
	p.T.Helper()
	return p.Wait(ctx)
}

// mustSucceed waits for a clean exit.
func (p *nodeProc) mustSucceed(ctx context.Context) {
	p.T.Helper()
	p.MustSucceed(ctx)
}

// stop sends SIGTERM (the scripts then disconnect cleanly) and waits,
// bounded; it returns the exit code, or -1 if the process had to be killed.
func (p *nodeProc) stop() int { return p.Stop() }

// kill ends the process group at once (SIGKILL: no DISCONNECT is sent),
// bounded.
func (p *nodeProc) kill() { p.Kill() }

// testContext bounds a scenario by budget and by the go test deadline.
func testContext(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	return clienttest.Context(t, budget, 10*time.Second)
}
