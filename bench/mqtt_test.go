package bench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// startMochi serves a bare in-memory MQTT broker on a random loopback port
// for the duration of the test. hook, if not nil, is added after the
// allow-all hook.
func startMochi(t *testing.T, hook mochi.Hook) string {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		if err := srv.AddHook(hook, nil); err != nil {
			t.Fatal(err)
		}
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "bench-test", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return tcp.Address()
}

func runMQTTBench(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	defer cancel()
	cfg.Proto = ProtoMQTT
	cfg.Deadline = testLimit
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := RunMQTT(ctx, cfg)
	if err != nil {
		t.Fatalf("mqtt %s qos %d: %v", cfg.Mode, cfg.QoS, err)
	}
	if rep.Interrupted || rep.DeadlineExpired {
		t.Fatalf("mqtt %s qos %d ended early: %+v", cfg.Mode, cfg.QoS, rep)
	}
	return rep
}

func checkOrdered(t *testing.T, what string, l Latency) {
	t.Helper()
	if l.Count == 0 {
		t.Fatalf("%s: no latency recorded", what)
	}
	if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.P9999 && l.P9999 <= l.Max) {
		t.Fatalf("%s: percentiles out of order: %+v", what, l)
	}
	if l.P50 <= 0 {
		t.Fatalf("%s: p50 %d µs", what, l.P50)
	}
}

// TestMQTTE2ECounts runs e2e at each QoS against an in-memory broker: every
// message published is received once, none is reported lost or
// duplicated, and the latency summary is consistent.
func TestMQTTE2ECounts(t *testing.T) {
	addr := startMochi(t, nil)
	for qos := range 3 {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			const n = 3000
			rep := runMQTTBench(t, Config{Mode: ModeE2E, MQTTAddr: addr, QoS: qos, Topic: fmt.Sprintf("bench/e2e/q%d", qos),
				Size: 128, Producers: 3, Inflight: 16, Messages: n})
			if rep.Sent != n || rep.Acked != n || rep.Errors != 0 {
				t.Fatalf("sent %d acked %d errors %d %v", rep.Sent, rep.Acked, rep.Errors, rep.ErrorsByKind)
			}
			if rep.Received != n || rep.Missing != 0 || rep.ForeignReceived != 0 {
				t.Fatalf("received %d missing %d foreign %d", rep.Received, rep.Missing, rep.ForeignReceived)
			}
			if rep.Consumers != 1 || rep.Proto != ProtoMQTT || rep.LatencyKind != "born_to_receipt" {
				t.Fatalf("consumers %d proto %s kind %s", rep.Consumers, rep.Proto, rep.LatencyKind)
			}
			checkOrdered(t, "e2e", rep.LatencyUs)
			if rep.LatencyUs.Count != n {
				t.Fatalf("e2e latency count %d, want %d", rep.LatencyUs.Count, n)
			}
			checkOrdered(t, "send", *rep.SendLatencyUs)
			if rep.MsgsPerSec <= 0 || rep.MBPerSec <= 0 {
				t.Fatalf("throughput %v msg/s %v MB/s", rep.MsgsPerSec, rep.MBPerSec)
			}
			if want := fmt.Sprintf("QoS %d", qos); !strings.Contains(strings.Join(rep.Notes, "\n"), want) {
				t.Fatalf("notes %q lack %q", rep.Notes, want)
			}
		})
	}
}

// TestMQTTProduceDuration is a produce run bounded by time: it stops on
// its own, every publish is settled, and the series has points.
func TestMQTTProduceDuration(t *testing.T) {
	addr := startMochi(t, nil)
	rep := runMQTTBench(t, Config{Mode: ModeProduce, MQTTAddr: addr, QoS: 1, Topic: "bench/produce", Size: 64,
		Producers: 2, Inflight: 8, Duration: 1500 * time.Millisecond})
	if rep.Sent == 0 || rep.Acked != rep.Sent || rep.Errors != 0 {
		t.Fatalf("sent %d acked %d errors %d %v", rep.Sent, rep.Acked, rep.Errors, rep.ErrorsByKind)
	}
	if rep.Received != 0 || rep.Consumers != 0 || rep.LatencyKind != "send_to_ack" {
		t.Fatalf("produce run: received %d consumers %d kind %s", rep.Received, rep.Consumers, rep.LatencyKind)
	}
	if rep.DurationS < 1 || rep.DurationS > 10 {
		t.Fatalf("duration %v s for a 1.5 s run", rep.DurationS)
	}
	if len(rep.Series) == 0 {
		t.Fatal("no per-second series")
	}
	checkOrdered(t, "send", rep.LatencyUs)
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "over mqtt") {
		t.Fatalf("markdown: %v\n%s", err, md.String())
	}
}

// dropHook acknowledges every tenth publish of publisher 0 without
// delivering it, so the loss accounting meets a known number.
type dropHook struct {
	mochi.HookBase
}

func (h *dropHook) ID() string { return "bench-drop" }

func (h *dropHook) Provides(b byte) bool {
	return b == mochi.OnPublish
}

func (h *dropHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	_, _, pub, seq, ok := readMQTTHeader(pk.Payload)
	if !ok {
		return pk, nil
	}
	if pub == 0 && seq%10 == 9 {
		return pk, packets.CodeSuccessIgnore // acknowledged, not delivered
	}
	return pk, nil
}

// TestMQTTE2ELossCounted makes the broker drop a tenth of one publisher's
// messages: the bench must report exactly those as missing.
func TestMQTTE2ELossCounted(t *testing.T) {
	addr := startMochi(t, &dropHook{})
	const n = 1000 // 500 per publisher; publisher 0 loses seq 9, 19, ..., 499
	rep := runMQTTBench(t, Config{Mode: ModeE2E, MQTTAddr: addr, QoS: 1, Topic: "bench/loss", Size: 64,
		Producers: 2, Inflight: 8, Messages: n, DrainTimeout: 500 * time.Millisecond})
	if rep.Sent != n || rep.Acked != n {
		t.Fatalf("sent %d acked %d errors %d %v", rep.Sent, rep.Acked, rep.Errors, rep.ErrorsByKind)
	}
	if rep.Missing != 50 || rep.Received != n-50 {
		t.Fatalf("received %d missing %d, want %d and 50", rep.Received, rep.Missing, n-50)
	}
}

// TestMQTTSubscriberCounts feeds the subscriber's handler directly:
// duplicates and other runs' messages are told apart from new ones.
func TestMQTTSubscriberCounts(t *testing.T) {
	cfg := Config{Proto: ProtoMQTT, Producers: 2, Size: 64}
	cfg.EnsureDefaults()
	r := newRun(&cfg)
	s := &subscriber{m: &mqttRun{r: r, cfg: &cfg}, stats: newWorkerStats(), seen: make([]bitset, 2)}
	msg := func(run uint32, pub uint32, seq uint64) fakeMessage {
		b := make([]byte, 64)
		putMQTTHeader(b, run, time.Now().Add(-time.Millisecond).UnixNano(), pub, seq)
		return fakeMessage{payload: b}
	}
	for _, m := range []fakeMessage{
		msg(r.runID, 0, 0), msg(r.runID, 0, 1), msg(r.runID, 1, 0), msg(r.runID, 1, 200),
		msg(r.runID, 0, 1),   // duplicate
		msg(r.runID, 1, 200), // duplicate
		msg(r.runID+1, 0, 2), // another run
		msg(r.runID, 7, 0),   // no such publisher
		{payload: []byte("short")},
	} {
		s.onMessage(nil, m)
	}
	if got := s.stats.received.Load(); got != 4 {
		t.Errorf("received %d, want 4", got)
	}
	if got := s.stats.errors.Load(); got != 2 || r.errs.snapshot()[errDuplicate] != 2 {
		t.Errorf("duplicates %d (%v), want 2", got, r.errs.snapshot())
	}
	if got := s.stats.foreign.Load(); got != 3 {
		t.Errorf("foreign %d, want 3", got)
	}
	var bs bitset
	for _, n := range []uint64{0, 63, 64, 100000} {
		if bs.set(n) {
			t.Errorf("bitset: %d reported present before it was set", n)
		}
		if !bs.set(n) {
			t.Errorf("bitset: %d not present after it was set", n)
		}
	}
}

func TestMQTTValidate(t *testing.T) {
	bad := func(cfg Config, want string) {
		t.Helper()
		cfg.Proto = ProtoMQTT
		cfg.EnsureDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one containing %q", cfg, err, want)
		}
	}
	bad(Config{QoS: 3}, "--qos 3")
	bad(Config{Topic: "bench/+"}, "wildcards")
	bad(Config{Size: 20}, "--size 20")
	bad(Config{Mode: ModeConsume}, "--mode consume")
	bad(Config{NameServer: "127.0.0.1:9876"}, "-n is RocketMQ")
	bad(Config{MQTTInMemory: true}, "--mqtt-persist=false is only meaningful with --standalone")
	bad(Config{Inflight: 65536}, "65535 packet ids")

	cfg := Config{QoS: 1}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "only meaningful with --proto mqtt") {
		t.Errorf("--qos with rocketmq: %v", err)
	}
	cfg = Config{Proto: ProtoMQTT, QoS: 2, Topic: "bench/t1", Size: 128}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid mqtt config: %v", err)
	}
	if cfg.MQTTAddr != DefaultMQTTAddr {
		t.Fatalf("default address %q", cfg.MQTTAddr)
	}
}

// fakeMessage is a paho Message with only a payload.
type fakeMessage struct{ payload []byte }

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return "bench/t1" }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

// TestMQTTStandalone runs e2e against Gannet's MQTT front end in process:
// on a broker's store with each flush mode, and bare in memory. Every
// message is received once.
func TestMQTTStandalone(t *testing.T) {
	for _, c := range []struct {
		name     string
		flush    string
		inMemory bool
	}{{"async", "async", false}, {"sync", "sync", false}, {"memory", "", true}} {
		t.Run(c.name, func(t *testing.T) {
			const n = 2000
			rep := runMQTTBench(t, Config{Mode: ModeE2E, Standalone: true, Flush: c.flush, MQTTInMemory: c.inMemory,
				Dir: t.TempDir(), Sets: testSets, QoS: 1, Topic: "bench/standalone", Size: 128, Producers: 2,
				Inflight: 16, Messages: n})
			if rep.Sent != n || rep.Acked != n || rep.Errors != 0 {
				t.Fatalf("sent %d acked %d errors %d %v", rep.Sent, rep.Acked, rep.Errors, rep.ErrorsByKind)
			}
			if rep.Received != n || rep.Missing != 0 || rep.ForeignReceived != 0 {
				t.Fatalf("received %d missing %d foreign %d", rep.Received, rep.Missing, rep.ForeignReceived)
			}
			checkOrdered(t, "e2e", rep.LatencyUs)
			if !rep.Standalone || rep.Broker == "" || rep.Memory == nil {
				t.Fatalf("standalone report: %+v", rep)
			}
			if c.inMemory != strings.HasPrefix(rep.Flush, "none") {
				t.Fatalf("flush %q for in-memory %v", rep.Flush, c.inMemory)
			}
		})
	}
}
