package perf

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t *testing.T) *engine.Store {
	t.Helper()
	s, err := engine.Open(engine.Options{
		Dir:               t.TempDir(),
		SegmentSize:       64 << 10,
		FlushMode:         engine.SyncFlush,
		MaxMessageSize:    16 << 10,
		ZeroFillAhead:     32 << 10,
		ConsumeQueueUnits: 16,
		IndexHashSlots:    64,
		IndexMaxItems:     256,
		CleanInterval:     time.Hour,
		Logger:            quiet,
		DiskUsage:         func(string) (float64, error) { return 0.1, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *engine.Store, n int) {
	t.Helper()
	for i := range n {
		r := &engine.Request{Msgs: []message.Message{{
			Topic: "PerfTest", Body: []byte(fmt.Sprintf("message %d", i)), BornTimestamp: time.Now().UnixMilli(),
		}}}
		if st := s.Append(r); st != engine.StatusOK {
			t.Fatalf("append %d: %s %v", i, st, r.Err)
		}
	}
}

// get fetches url and returns the body of a 200 answer.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// scrape reads /metrics into series (name with labels) -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(get(t, base+"/metrics")))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

var engineNames = []string{
	"gannet_commitlog_append_requests_total",
	"gannet_commitlog_messages_total",
	"gannet_commitlog_bytes_total",
	"gannet_commitlog_groups_total",
	"gannet_commitlog_syncs_total",
	"gannet_commitlog_synced_requests_total",
	"gannet_commitlog_sync_seconds_total",
	"gannet_commitlog_busy_total",
	"gannet_commitlog_flush_timeouts_total",
	"gannet_commitlog_min_offset_bytes",
	"gannet_commitlog_written_offset_bytes",
	"gannet_commitlog_flushed_offset_bytes",
	"gannet_dispatch_offset_bytes",
	"gannet_dispatch_lag_bytes",
	"gannet_store_writable",
	"gannet_dispatch_failed",
}

func TestListenerServesMetricsAndPprof(t *testing.T) {
	s := openStore(t)
	p, err := Start(Config{HTTPAddr: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Profile() != nil {
		t.Fatal("a profile runs without --profile")
	}
	err = p.Register(
		NewEngineCollector(s.Metrics),
		NewRemotingCollector("broker", func() remoting.ServerMetrics { return remoting.ServerMetrics{Connections: 3} }),
		NewRemotingCollector("namesrv", func() remoting.ServerMetrics { return remoting.ServerMetrics{Connections: 1} }),
	)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.HTTPAddr().String()

	before := scrape(t, base)
	for _, name := range append(engineNames, "go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes") {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	const n = 5
	appendN(t, s, n)
	deadline := time.Now().Add(5 * time.Second)
	for s.DispatchedPhysicalOffset() < s.MaxPhysicalOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("dispatch stuck at %d of %d", s.DispatchedPhysicalOffset(), s.MaxPhysicalOffset())
		}
		time.Sleep(time.Millisecond)
	}
	after := scrape(t, base)
	moved := func(name string, want float64) {
		t.Helper()
		if d := after[name] - before[name]; d != want {
			t.Errorf("%s moved by %v, want %v", name, d, want)
		}
	}
	grew := func(name string) {
		t.Helper()
		if after[name] <= before[name] {
			t.Errorf("%s did not grow: %v then %v", name, before[name], after[name])
		}
	}
	moved("gannet_commitlog_append_requests_total", n)
	moved("gannet_commitlog_messages_total", n)
	moved("gannet_commitlog_synced_requests_total", n) // SYNC_FLUSH
	moved("gannet_commitlog_busy_total", 0)
	moved("gannet_commitlog_flush_timeouts_total", 0)
	for _, name := range []string{
		"gannet_commitlog_bytes_total", "gannet_commitlog_groups_total", "gannet_commitlog_syncs_total",
		"gannet_commitlog_written_offset_bytes", "gannet_commitlog_flushed_offset_bytes", "gannet_dispatch_offset_bytes",
	} {
		grew(name)
	}
	if got, want := after["gannet_commitlog_written_offset_bytes"], float64(s.MaxPhysicalOffset()); got != want {
		t.Errorf("written offset %v, store says %v", got, want)
	}
	if got, want := after["gannet_commitlog_bytes_total"], after["gannet_commitlog_written_offset_bytes"]; got != want {
		t.Errorf("bytes_total %v != written offset %v on a new store", got, want)
	}
	if after["gannet_dispatch_offset_bytes"] != after["gannet_commitlog_written_offset_bytes"] || after["gannet_dispatch_lag_bytes"] != 0 {
		t.Errorf("dispatch offset %v lag %v, written %v", after["gannet_dispatch_offset_bytes"], after["gannet_dispatch_lag_bytes"], after["gannet_commitlog_written_offset_bytes"])
	}
	for series, want := range map[string]float64{
		"gannet_store_writable":                         1,
		"gannet_dispatch_failed":                        0,
		"gannet_commitlog_min_offset_bytes":             0,
		`gannet_remoting_connections{server="broker"}`:  3,
		`gannet_remoting_connections{server="namesrv"}`: 1,
	} {
		if got, ok := after[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}

	if idx := get(t, base+"/debug/pprof/"); !strings.Contains(idx, "goroutine") || !strings.Contains(idx, "heap") {
		t.Errorf("/debug/pprof/ index lists no goroutine and heap profiles:\n%.500s", idx)
	}
	if g := get(t, base+"/debug/pprof/goroutine?debug=1"); !strings.Contains(g, "goroutine profile: total") {
		t.Errorf("/debug/pprof/goroutine?debug=1 is not a goroutine profile:\n%.500s", g)
	}
	if resp, err := http.Get(base + "/nothing"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %s, want 404", resp.Status)
	}

	// Close stops the listener: the port refuses connections.
	addr := p.HTTPAddr().String()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", addr)
	}
}

// TestMetricNames checks the exported names and help texts against
// Prometheus' own lint rules (counters end in _total, units are base
// units, help is present).
func TestMetricNames(t *testing.T) {
	s := openStore(t)
	problems, err := testutil.CollectAndLint(NewEngineCollector(s.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if got := testutil.CollectAndCount(NewEngineCollector(s.Metrics)); got != len(engineNames) {
		t.Errorf("engine collector exports %d metrics, want %d", got, len(engineNames))
	}
	problems, err = testutil.CollectAndLint(NewRemotingCollector("broker", func() remoting.ServerMetrics { return remoting.ServerMetrics{} }))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
