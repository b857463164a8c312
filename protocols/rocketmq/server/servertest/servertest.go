// Package servertest holds what tests that start a name server and a broker
// in process share: a small store, a free loopback port for the broker, and
// a log buffer shown when a test fails.
package servertest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// SmallStore are broker.properties overrides that keep a test's store
// small: 16 MiB CommitLog segments (a 4 MiB message fits), small
// ConsumeQueue and index files.
var SmallStore = []string{
	"mappedFileSizeCommitLog=16777216",
	"mappedFileSizeConsumeQueue=60000",
	"maxHashSlotNum=4096",
	"maxIndexNum=16384",
}

// FreePort returns a loopback port that was free a moment ago. A broker
// needs its port before it starts: it goes into every message id.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePorts returns n distinct loopback ports that were free a moment
// ago: all are held open until the last is chosen, so none repeats (as
// FreePort called twice in a row may).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// LogBuffer collects servers' logs (a slog handler's writer) so a failing
// test can show them; it keeps at most about 1 MiB.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 1<<20 {
		l.buf.Reset()
		l.buf.WriteString("[earlier lines dropped]\n")
	}
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
