package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// testProducer is one producer of a run whose topic has four queues on
// the broker at addr.
func testProducer(tb testing.TB, addr string, size, inflight int) *producer {
	cfg := &Config{Mode: ModeProduce, NameServer: "-", Size: size, Inflight: inflight, Producers: 1}
	cfg.EnsureDefaults()
	r := newRun(cfg)
	m := &rmq{r: r, cfg: cfg}
	for i := range 4 {
		m.writeQueue = append(m.writeQueue, messageQueue{"broker-a", addr, int32(i), strconv.Itoa(i)})
	}
	p := m.newProducers()[0]
	tb.Cleanup(func() { p.client.Close() })
	return p
}

// TestPrepare checks the SEND_MESSAGE_V2 a slot carries (§3.2.2).
func TestPrepare(t *testing.T) {
	p := testProducer(t, "127.0.0.1:1", 64, 2)
	s := <-p.free
	at := time.UnixMilli(1_700_000_000_123)
	if addr := p.prepare(s, 5, at); addr != "127.0.0.1:1" {
		t.Fatalf("addr %s", addr)
	}
	ext := s.cmd.ExtFields
	for k, want := range map[string]string{"a": DefaultProducerGroup, "b": DefaultTopic, "e": "1", "g": "1700000000123",
		"n": "broker-a", "f": "0", "m": "false"} {
		if ext[k] != want {
			t.Errorf("ext[%s] = %q, want %q", k, ext[k], want)
		}
	}
	props := []byte(ext["i"])
	uniq, ok := message.Property(props, message.PropertyUniqID)
	if !ok || len(uniq) != 32 || string(uniq[20:]) != "000000000005" {
		t.Errorf("UNIQ_KEY %q in %q", uniq, props)
	}
	if w, _ := message.Property(props, "WAIT"); string(w) != "true" {
		t.Errorf("WAIT %q", w)
	}
	id, intended, ok := readHeader(s.cmd.Body)
	if !ok || id != p.m.r.runID || intended != at.UnixNano() || len(s.cmd.Body) != 64 {
		t.Errorf("body header: id %x intended %d ok %v, body %d bytes", id, intended, ok, len(s.cmd.Body))
	}
	if s.cmd.Code != remoting.ReqSendMessageV2 {
		t.Errorf("code %d", s.cmd.Code)
	}
}

// TestSendPathAllocs keeps the producer's own share of a send at one
// allocation (the properties string) and recording a latency at none.
func TestSendPathAllocs(t *testing.T) {
	p := testProducer(t, "127.0.0.1:1", 1024, 1)
	s := <-p.free
	at := time.Now()
	seq := int64(0)
	if n := testing.AllocsPerRun(1000, func() { p.prepare(s, seq, at); seq++ }); n > 1 {
		t.Errorf("prepare: %v allocations, want 1", n)
	}
	r := newRecorder()
	if n := testing.AllocsPerRun(1000, func() { r.record(123 * time.Microsecond) }); n != 0 {
		t.Errorf("record: %v allocations", n)
	}
}

// stubBroker answers every SEND_MESSAGE_V2 at once with SUCCESS.
func stubBroker(tb testing.TB) string {
	r := remoting.NewRouter()
	r.Register(remoting.ReqSendMessageV2, func(conn remoting.Conn, req *remoting.Command) {
		resp := remoting.NewResponse(req, remoting.ResSuccess, "")
		resp.ExtFields = map[string]string{"msgId": "7F00000100002A9F00000000000A1B2C", "queueId": "1", "queueOffset": "17"}
		conn.Send(resp)
	})
	s := remoting.NewServer(remoting.ServerOptions{Addr: "127.0.0.1:0", Router: r})
	if err := s.Listen(); err != nil {
		tb.Fatal(err)
	}
	go s.Serve()
	tb.Cleanup(func() { s.Close() })
	return s.Addr().String()
}

// BenchmarkProducerSend is the send path against a broker that answers at
// once: slot=reused is the producer's (command, extFields and body made
// once per window slot); slot=fresh builds them for every send, as a
// naive producer would.
func BenchmarkProducerSend(b *testing.B) {
	addr := stubBroker(b)
	for _, size := range []int{128, 1024} {
		for _, mode := range []string{"reused", "fresh"} {
			b.Run(fmt.Sprintf("slot=%s/size=%d", mode, size), func(b *testing.B) {
				p := testProducer(b, addr, size, 256)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				seq := int64(0)
				for b.Loop() {
					s, _ := p.acquire(ctx)
					if mode == "reused" {
						p.send(s, seq, time.Now())
					} else {
						sendFresh(p, s, seq, addr)
					}
					seq++
				}
				p.waitInflight(ctx)
				if st := p.stats; st.errors.Load() != 0 || st.acked.Load() != seq {
					b.Fatalf("acked %d of %d, errors %d", st.acked.Load(), seq, st.errors.Load())
				}
			})
		}
	}
}

// sendFresh is the send path without reuse: a new body, extFields map,
// command and callback per send.
func sendFresh(p *producer, s *sendSlot, seq int64, addr string) {
	cfg := p.m.cfg
	q := p.m.writeQueue[seq%int64(len(p.m.writeQueue))]
	intended := time.Now()
	body := make([]byte, cfg.Size)
	putHeader(body, p.m.r.runID, intended.UnixNano())
	props := fmt.Sprintf("UNIQ_KEY\x01%s%012X\x02WAIT\x01true\x02", p.uniqPrefix, seq)
	ext := map[string]string{
		"a": cfg.ProducerGroup, "b": cfg.Topic, "c": "TBW102", "d": defaultTopicQs, "e": strconv.Itoa(int(q.qid)),
		"f": "0", "g": strconv.FormatInt(intended.UnixMilli(), 10), "h": "0", "i": props, "j": "0", "k": "false",
		"m": "false", "n": q.broker,
	}
	cmd := &remoting.Command{Code: remoting.ReqSendMessageV2, Language: "GO", ExtFields: ext, Body: body}
	s.intended = intended
	p.stats.sent.Add(1)
	if err := p.client.InvokeAsync(addr, cmd, cfg.SendTimeout, func(resp *remoting.Command, err error) {
		s.complete(resp, err)
	}); err != nil {
		p.fail(err)
		p.free <- s
	}
}

// BenchmarkRecord is the cost of one latency record, which must stay
// allocation-free.
func BenchmarkRecord(b *testing.B) {
	r := newRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r.record(250 * time.Microsecond)
	}
}
