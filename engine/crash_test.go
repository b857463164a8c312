package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

// The crash test runs a writer in a child process (this test binary again),
// which appends with SYNC_FLUSH from several goroutines and prints a line
// per acknowledged message. The parent kills it with SIGKILL mid-stream,
// reopens the store and checks that every acknowledged message is there,
// readable, in queue order, with nothing doubled.

const crashChildEnv = "GANNET_CRASH_CHILD_DIR"

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKill9")
	}
	o := testOptions(dir, SyncFlush)
	o.Logger = nil
	o.FlushQueueInterval = 50 * time.Millisecond
	s, err := Open(o)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	round, _ := strconv.Atoi(os.Getenv(crashChildEnv + "_ROUND"))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := &Request{Msgs: make([]message.Message, 1)}
			for i := 0; ; i++ {
				body := fmt.Sprintf("w%d-%d", w, round*1_000_000+i)
				r.Msgs[0] = message.Message{Topic: "Crash", QueueID: int32(w), Body: []byte(body)}
				if st := s.Append(r); st != StatusOK {
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %s\n", w, r.QueueOffset, body)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		acked := runAndKill(t, dir, round, 300+round*200)
		o := testOptions(dir, SyncFlush)
		s := mustOpen(t, o)
		for w, msgs := range acked {
			got := readQueue(t, s, "Crash", int32(w))
			for q, body := range msgs {
				if q >= len(got) {
					t.Fatalf("round %d: queue %d lost acknowledged message at offset %d (%s); has %d", round, w, q, body, len(got))
				}
				if string(got[q]) != body && body != "" {
					t.Fatalf("round %d: queue %d offset %d holds %q, acknowledged %q", round, w, q, got[q], body)
				}
			}
			// Bodies of one writer are w<w>-<i> with i increasing: no
			// duplicates, no reordering.
			prev := -1
			for _, b := range got {
				i, _ := strconv.Atoi(strings.SplitN(string(b), "-", 2)[1])
				if i <= prev {
					t.Fatalf("round %d: queue %d out of order or doubled: %d after %d", round, w, i, prev)
				}
				prev = i
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts the child, lets it acknowledge at least n messages,
// kills it with SIGKILL and returns the acknowledged bodies per queue,
// indexed by queue offset.
func runAndKill(t *testing.T, dir string, round, n int) map[int][]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s_ROUND=%d", crashChildEnv, round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int][]string{}
	count := 0
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		w, _ := strconv.Atoi(f[1])
		q, _ := strconv.Atoi(f[2])
		for len(acked[w]) <= q {
			acked[w] = append(acked[w], "")
		}
		acked[w][q] = f[3]
		count++
		if count == n {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	cmd.Wait()
	if count < n {
		t.Fatalf("child acknowledged only %d messages before it ended; stderr: %s", count, stderr.String())
	}
	return acked
}
