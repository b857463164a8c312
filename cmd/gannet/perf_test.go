package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPerfFlagErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := t.TempDir()
	f := func(run func([]string) int, want int, args ...string) {
		t.Helper()
		if rc := run(args); rc != want {
			t.Errorf("%v exited %d, want %d", args, rc, want)
		}
	}
	for name, run := range map[string]func([]string) int{"standalone": runStandalone, "namesrv": runNamesrv, "broker": runBroker} {
		t.Run(name, func(t *testing.T) {
			f(run, 2, "--profile", "heap")
			f(run, 2, "--profile", "cpu", "--http-addr", "localhost")
			f(run, 2, "--http-addr", "127.0.0.1:99999")
		})
	}
	f(runStandalone, 1, "--data", data, "--http-addr", busy.Addr().String())
	f(runNamesrv, 1, "--listen", "127.0.0.1:0", "--http-addr", busy.Addr().String())
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runUntilInterrupted runs a server command, waits until its /metrics
// shows want, then interrupts it the way Ctrl-C does and returns its exit
// status and the last scrape.
func runUntilInterrupted(t *testing.T, run func([]string) int, httpAddr, want string, args ...string) (int, string) {
	t.Helper()
	// While this channel is registered a SIGINT cannot kill the test
	// binary, whether or not the command is waiting for it yet.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGINT)
	defer signal.Stop(guard)

	rc := make(chan int, 1)
	go func() { rc <- run(append(args, "--http-addr", httpAddr, "--log-level", "warn")) }()
	var scraped string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(scraped, want) {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q:\n%s", want, scraped)
		}
		select {
		case code := <-rc:
			t.Fatalf("%v exited %d before serving", args, code)
		case <-time.After(20 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + httpAddr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			scraped = string(b)
		}
	}
	// The command registers for SIGINT just after it is ready, so repeat
	// the signal until it returns.
	for {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-rc:
			return code, scraped
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("command did not stop on SIGINT")
		}
	}
}

func TestServerCommandsWriteProfileOnInterrupt(t *testing.T) {
	t.Run("namesrv", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "prof")
		rc, _ := runUntilInterrupted(t, runNamesrv, freePort(t), `gannet_remoting_connections{server="namesrv"}`,
			"--listen", "127.0.0.1:0", "--profile", "goroutine", "--profile-dir", dir)
		if rc != 0 {
			t.Fatalf("namesrv exited %d", rc)
		}
		if fi, err := os.Stat(filepath.Join(dir, "goroutine.pprof")); err != nil || fi.Size() == 0 {
			t.Fatalf("goroutine.pprof: %v %v", fi, err)
		}
	})
	t.Run("standalone", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "prof")
		rc, scraped := runUntilInterrupted(t, runStandalone, freePort(t), `gannet_remoting_connections{server="broker"}`,
			"--data", t.TempDir(), "--namesrv-addr", freePort(t), "--broker-addr", freePort(t), "--mqtt-addr", "127.0.0.1:0",
			"--profile", "cpu", "--profile-dir", dir)
		if rc != 0 {
			t.Fatalf("standalone exited %d", rc)
		}
		for _, name := range []string{"gannet_commitlog_messages_total", "gannet_store_writable 1", `gannet_remoting_connections{server="namesrv"}`, "go_goroutines",
			"gannet_broker_send_duration_seconds_count", `gannet_broker_pull_duration_seconds_count{held="true"}`, "gannet_replication_slaves 0", "gannet_replication_lag_bytes 0"} {
			if !strings.Contains(scraped, name) {
				t.Errorf("/metrics has no %s", name)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "cpu.pprof")); err != nil || fi.Size() == 0 {
			t.Fatalf("cpu.pprof: %v %v", fi, err)
		}
	})
}
