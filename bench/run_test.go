package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// testSets keep the standalone store small.
var testSets = servertest.SmallStore

// testLimit bounds every run of these tests.
const testLimit = 60 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	logs := new(servertest.LogBuffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startTestStandalone(t *testing.T) *Standalone {
	t.Helper()
	sa, err := StartStandalone(StandaloneOptions{Dir: t.TempDir(), Sets: testSets, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sa.Close(); err != nil {
			t.Errorf("standalone close: %v", err)
		}
	})
	return sa
}

func runBench(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	cfg.Deadline = testLimit
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s run: %v", cfg.Mode, err)
	}
	if rep.Interrupted || rep.DeadlineExpired {
		t.Fatalf("%s run ended early: %+v", cfg.Mode, rep)
	}
	return rep
}

// TestProduceThenConsume sends 2000 messages, drains them with a consume
// run, and checks that the group's offsets were committed: a second drain
// finds nothing.
func TestProduceThenConsume(t *testing.T) {
	sa := startTestStandalone(t)
	base := Config{NameServer: sa.NameServer, Topic: "bench-pc", Queues: 4, Size: 256, Producers: 3, Consumers: 2, Inflight: 32}

	p := base
	p.Mode, p.Messages = ModeProduce, 2000
	rp := runBench(t, p)
	if rp.Sent != 2000 || rp.Acked != 2000 || rp.Errors != 0 {
		t.Fatalf("produce: sent %d acked %d errors %d %v", rp.Sent, rp.Acked, rp.Errors, rp.ErrorsByKind)
	}
	if rp.LatencyUs.Count != 2000 || rp.MsgsPerSec <= 0 || rp.LatencyKind != "send_to_ack" {
		t.Fatalf("produce: latency %+v, %v msg/s, kind %s", rp.LatencyUs, rp.MsgsPerSec, rp.LatencyKind)
	}

	c := base
	c.Mode = ModeConsume
	rc := runBench(t, c)
	if rc.Received != rp.Acked || rc.Errors != 0 {
		t.Fatalf("consume: received %d of %d, errors %d %v", rc.Received, rp.Acked, rc.Errors, rc.ErrorsByKind)
	}
	if rc.MBPerSec <= 0 || rc.LatencyKind != "pull_round_trip" || rc.LatencyUs.Count == 0 {
		t.Fatalf("consume: %v MB/s, latency %s %+v", rc.MBPerSec, rc.LatencyKind, rc.LatencyUs)
	}
	rc2 := runBench(t, c)
	if rc2.Received != 0 {
		t.Fatalf("second drain received %d: offsets were not committed", rc2.Received)
	}
}

// TestE2EStandalone runs the whole of `gannet bench --standalone --mode
// e2e --messages 2000` in process and checks the report, JSON included.
func TestE2EStandalone(t *testing.T) {
	cfg := Config{Mode: ModeE2E, Standalone: true, Dir: t.TempDir(), Sets: testSets, Messages: 2000, Size: 512,
		Producers: 2, Consumers: 2, Queues: 4, Inflight: 64}
	rep := runBench(t, cfg)
	if rep.Sent != 2000 || rep.Acked != 2000 || rep.Received != 2000 || rep.Errors != 0 || rep.Missing != 0 {
		t.Fatalf("sent %d acked %d received %d errors %d missing %d %v", rep.Sent, rep.Acked, rep.Received, rep.Errors,
			rep.Missing, rep.ErrorsByKind)
	}
	if rep.LatencyUs.Count != 2000 || rep.SendLatencyUs == nil || rep.SendLatencyUs.Count != 2000 {
		t.Fatalf("latencies: %+v / %+v", rep.LatencyUs, rep.SendLatencyUs)
	}
	if rep.StartupMs <= 0 || rep.RegisteredMs < rep.StartupMs || rep.Memory == nil || rep.Memory.Idle.VmRSSKiB <= 0 && hasProc() {
		t.Fatalf("standalone figures: startup %v registered %v memory %+v", rep.StartupMs, rep.RegisteredMs, rep.Memory)
	}
	if len(rep.Series) == 0 || len(rep.LatencyCurve) == 0 {
		t.Fatalf("series %d points, curve %d points", len(rep.Series), len(rep.LatencyCurve))
	}
	var total int64
	for _, p := range rep.Series {
		total += p.Received
	}
	if total != rep.Received {
		t.Fatalf("series received %d, report %d", total, rep.Received)
	}
	checkJSONFields(t, rep)
}

func hasProc() bool { return readProcStatus().VmRSSKiB > 0 }

// checkJSONFields checks the report's JSON has every field the issue
// names (and a few more that reports and compare rely on).
func checkJSONFields(t *testing.T, rep *Report) {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, buf.String())
	}
	for _, path := range []string{
		"mode", "proto", "size", "producers", "consumers", "duration_s", "sent", "acked", "errors", "received",
		"msgs_per_sec", "mb_per_sec", "latency_us.p50", "latency_us.p90", "latency_us.p99", "latency_us.p999",
		"latency_us.max", "series", "latency_curve", "latency_kind", "startup_ms", "registered_ms",
		"memory.idle.rss_anon_kib", "memory.idle.vm_rss_kib", "memory.end.rss_anon_kib", "memory.end.vm_rss_kib",
		"host.cpus", "interrupted",
	} {
		var v any = doc
		for part := range strings.SplitSeq(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("report JSON: %s: %q is not an object", path, part)
			}
			if v, ok = m[part]; !ok {
				t.Fatalf("report JSON lacks %s:\n%s", path, buf.String())
			}
		}
	}
	if doc["mode"] != string(rep.Mode) || doc["sent"] != float64(rep.Sent) {
		t.Fatalf("report JSON: mode %v sent %v", doc["mode"], doc["sent"])
	}
}

// TestRunCancelled cancels a duration-bounded run: it ends at once and
// still returns its report.
func TestRunCancelled(t *testing.T) {
	sa := startTestStandalone(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	start := time.Now()
	rep, err := Run(ctx, Config{Mode: ModeE2E, NameServer: sa.NameServer, Topic: "bench-cancel", Duration: time.Minute,
		Size: 128, Producers: 1, Consumers: 1, Queues: 2, Inflight: 8, Rate: 2000, Deadline: testLimit, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a cancelled run took %v", took)
	}
	if !rep.Interrupted || rep.Sent == 0 || rep.Acked == 0 {
		t.Fatalf("interrupted %v, sent %d, acked %d", rep.Interrupted, rep.Sent, rep.Acked)
	}
	if !strings.HasSuffix(rep.LatencyKind, "_from_schedule") {
		t.Fatalf("latency kind %q under --rate", rep.LatencyKind)
	}
}

func TestValidate(t *testing.T) {
	bad := func(cfg Config, want string) {
		t.Helper()
		cfg.EnsureDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one containing %q", cfg, err, want)
		}
	}
	bad(Config{Proto: ProtoMQTT, Standalone: true, MQTTAddr: "127.0.0.1:1883"}, "exclude each other")
	bad(Config{Flush: "sync", NameServer: "127.0.0.1:9876"}, "--flush is only meaningful with --standalone")
	bad(Config{Mode: "soak", Standalone: true}, `--mode "soak"`)
	bad(Config{Size: 8, Standalone: true}, "--size 8")
	bad(Config{}, "no name server")
	bad(Config{Mode: ModeConsume, Rate: 10, Standalone: true}, "--rate")

	cfg := Config{Proto: ProtoMQTT, Standalone: true}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("mqtt: %v", err)
	}
	cfg = Config{Mode: ModeCeiling}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("ceiling needs no broker: %v", err)
	}
}

// TestQuoteBareKeys turns fastjson's numeric keys into JSON and leaves
// strings alone.
func TestQuoteBareKeys(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(quoteBareKeys([]byte(in))); got != want {
			t.Errorf("quoteBareKeys(%s) = %s, want %s", in, got, want)
		}
	}
	f(`{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}`, `{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}}`)
	f(`{"brokerAddrs":{"0":"a"}}`, `{"brokerAddrs":{"0":"a"}}`)
	f(`{"a":[1,2,{3:"x"}], "s":"{4:\"y\"}"}`, `{"a":[1,2,{"3":"x"}], "s":"{4:\"y\"}"}`)
	f(`{ -1 : "n"}`, `{ "-1" : "n"}`)
}
