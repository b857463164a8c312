package perf

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestParseProfileKind(t *testing.T) {
	good := func(in string, want ProfileKind) {
		t.Helper()
		got, err := ParseProfileKind(in)
		if err != nil || got != want {
			t.Errorf("ParseProfileKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := func(in string) {
		t.Helper()
		if got, err := ParseProfileKind(in); err == nil {
			t.Errorf("ParseProfileKind(%q) = %q, want an error", in, got)
		} else if !strings.Contains(err.Error(), "want cpu, mem, alloc, mutex, block, trace or goroutine") {
			t.Errorf("ParseProfileKind(%q): unhelpful error %q", in, err)
		}
	}
	good("", NoProfile)
	for _, k := range ProfileKinds {
		good(string(k), k)
	}
	good("CPU", ProfileCPU)
	good(" alloc ", ProfileAlloc)
	bad("heap")
	bad("threadcreate")
	bad("clock")
	bad("cpu,mem")
	bad("none")
}

func TestParseHTTPAddr(t *testing.T) {
	f := func(in, want string, enabled, ok bool) {
		t.Helper()
		got, en, err := ParseHTTPAddr(in)
		if (err == nil) != ok || got != want || en != enabled {
			t.Errorf("ParseHTTPAddr(%q) = %q, %v, %v; want %q, %v, ok %v", in, got, en, err, want, enabled, ok)
		}
	}
	f("", "", false, true)
	f("off", "", false, true)
	f("OFF", "", false, true)
	f("127.0.0.1:8080", "127.0.0.1:8080", true, true)
	f(":0", ":0", true, true)
	f("localhost:9100", "localhost:9100", true, true)
	f("[::1]:8080", "[::1]:8080", true, true)
	f("localhost", "", false, false)
	f("127.0.0.1:http", "", false, false)
	f("127.0.0.1:65536", "", false, false)
	f("127.0.0.1:-1", "", false, false)
	f("::1:8080", "", false, false)
}

func TestConfigValidateReportsEverything(t *testing.T) {
	err := Config{Profile: "heap", HTTPAddr: "nowhere"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "--profile") || !strings.Contains(err.Error(), "--http-addr") {
		t.Fatalf("Validate = %v, want both flags named", err)
	}
	if err := (Config{Profile: "cpu", HTTPAddr: "off"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{Profile: "heap"}, quiet); err == nil {
		t.Fatal("Start accepted a bad profile kind")
	}
}

// work gives every profile something to record.
func work() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan []byte)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				mu.Lock()
				b := make([]byte, 64<<10)
				mu.Unlock()
				ch <- b
			}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	for b := range ch {
		_ = b
	}
	runtime.GC()
}

func TestProfilesAreWritten(t *testing.T) {
	for _, k := range ProfileKinds {
		t.Run(string(k), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "dir")
			p, err := StartProfile(k, dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, k.FileName()); p.Path() != want {
				t.Errorf("Path = %q, want %q", p.Path(), want)
			}
			if _, err := StartProfile(ProfileCPU, t.TempDir()); err == nil {
				t.Fatal("a second profile started while one runs")
			}
			work()
			p.Stop()
			p.Stop()
			fi, err := os.Stat(p.Path())
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() == 0 {
				t.Errorf("%s is empty", p.Path())
			}
		})
	}
}

func TestProfileDirNotWritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartProfile(ProfileCPU, filepath.Join(file, "sub")); err == nil {
		t.Fatal("StartProfile under a regular file succeeded")
	}
	// The failed start left no profile running.
	p, err := StartProfile(ProfileGoroutine, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
}

func TestStartWritesProfileOnClose(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Config{Profile: "cpu", ProfileDir: dir, HTTPAddr: "off"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if p.HTTPAddr() != nil {
		t.Fatal("listener runs with --http-addr off")
	}
	work()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cpu.pprof")); err != nil || fi.Size() == 0 {
		t.Fatalf("cpu.pprof after Close: %v, %v", fi, err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = Start(Config{Profile: "goroutine", ProfileDir: dir, HTTPAddr: ln.Addr().String()}, quiet)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a busy port: %v", err)
	}
	// Nothing was left running: a profile can start.
	p, err := StartProfile(ProfileGoroutine, dir)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
}
