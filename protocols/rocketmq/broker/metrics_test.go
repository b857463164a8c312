package broker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

func topicMetrics(b *Broker, topic string) (TopicMetrics, bool) {
	for _, tm := range b.Metrics().Topics {
		if tm.Topic == topic {
			return tm, true
		}
	}
	return TopicMetrics{}, false
}

func checkHistogram(t *testing.T, name string, h Histogram, count uint64) {
	t.Helper()
	if len(h.Bounds) != len(latencyBounds) || len(h.Counts) != len(h.Bounds)+1 {
		t.Fatalf("%s: %d bounds and %d counts", name, len(h.Bounds), len(h.Counts))
	}
	var sum uint64
	for _, n := range h.Counts {
		sum += n
	}
	if h.Count != count || sum != count {
		t.Errorf("%s: count %d, buckets add up to %d, want %d", name, h.Count, sum, count)
	}
	if count > 0 && h.Sum <= 0 {
		t.Errorf("%s: %d observations add up to %v", name, count, h.Sum)
	}
}

func TestMetricsCountSendsAndPulls(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.8:4000")
	const topic = "Metered"

	for _, body := range []string{"one", "two", "three"} {
		e.send(conn, topic, 0, body)
	}
	big := make([]byte, e.opts.MaxMessageSize+1)
	expect(t, e.do(conn, remoting.ReqSendMessage, sendExt(topic, 0, ""), big), remoting.ResMessageIllegal)
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset(topic, 0) == 3 })

	// A pull answered at once.
	s := e.do(conn, remoting.ReqPullMessage, pullExt("mg", topic, 0, 0, pullSubscription, 0, "*"), nil)
	expect(t, s, remoting.ResSuccess)
	if got := len(records(t, s.body)); got != 3 {
		t.Fatalf("pulled %d messages, want 3", got)
	}
	pulledBytes := len(s.body)

	// A pull held by long polling until a fourth message arrives.
	req := request(remoting.ReqPullMessage, pullExt("mg", topic, 0, 3, pullSubscription|pullSuspend, 5000, "*"), nil)
	e.invoke(conn, req)
	eventually(t, "the pull to be held", func() bool { return e.b.holder.held() == 1 })
	const hold = 50 * time.Millisecond
	time.Sleep(hold)
	e.send(conn, topic, 0, "four")
	s = conn.response(req.Opaque, waitLimit)
	if s == nil {
		t.Fatal("held pull: no response")
	}
	expect(t, s, remoting.ResSuccess)
	pulledBytes += len(s.body)

	m := e.b.Metrics()
	tm, ok := topicMetrics(e.b, topic)
	if !ok {
		t.Fatalf("no counters for %s in %+v", topic, m.Topics)
	}
	if tm.MessagesIn != 4 || tm.MessagesOut != 4 {
		t.Errorf("messages in %d out %d, want 4 and 4", tm.MessagesIn, tm.MessagesOut)
	}
	// Both ways count stored record bytes: what was stored is what the
	// pulls carried.
	if tm.BytesOut != uint64(pulledBytes) || tm.BytesIn != tm.BytesOut {
		t.Errorf("bytes in %d out %d, pulled %d", tm.BytesIn, tm.BytesOut, pulledBytes)
	}
	want := []ResultCount{{remoting.ResSuccess, 4}, {remoting.ResMessageIllegal, 1}}
	if !reflect.DeepEqual(m.SendResults, want) || m.SendResultsOther != 0 {
		t.Errorf("send results %+v other %d, want %+v", m.SendResults, m.SendResultsOther, want)
	}
	checkHistogram(t, "send", m.Send, 5)
	checkHistogram(t, "pull", m.Pull, 1)
	checkHistogram(t, "held pull", m.PullHeld, 1)
	if m.PullHeld.Sum < hold {
		t.Errorf("held pull took %v, it was held at least %v", m.PullHeld.Sum, hold)
	}

	// A refused pull is timed too; it delivers nothing.
	expect(t, e.do(conn, remoting.ReqPullMessage, pullExt("mg", topic, 9, 0, pullSubscription, 0, "*"), nil), remoting.ResSystemError)
	if m := e.b.Metrics(); m.Pull.Count != 2 {
		t.Errorf("pull count %d after a refused pull, want 2", m.Pull.Count)
	}
	if tm2, _ := topicMetrics(e.b, topic); tm2 != tm {
		t.Errorf("a refused pull moved the topic counters: %+v then %+v", tm, tm2)
	}

	// A deleted topic's counters go.
	expect(t, e.do(conn, remoting.ReqDeleteTopicInBroker, map[string]string{"topic": topic}, nil), remoting.ResSuccess)
	if _, ok := topicMetrics(e.b, topic); ok {
		t.Error("a deleted topic still has counters")
	}
}

func TestConsumerLag(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.9:4000")
	for range 5 {
		e.send(conn, "lagging", 0, "m")
	}
	e.send(conn, "lagging", 1, "m")
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("lagging", 0) == 5 && e.store.MaxOffset("lagging", 1) == 1 })
	commit := func(group string, qid, off string) {
		t.Helper()
		ext := map[string]string{"consumerGroup": group, "topic": "lagging", "queueId": qid, "commitOffset": off}
		expect(t, e.do(conn, remoting.ReqUpdateConsumerOffset, ext, nil), remoting.ResSuccess)
	}
	commit("b-group", "0", "2")
	commit("b-group", "1", "1")
	commit("a-group", "0", "7")  // ahead of the queue: no negative lag
	commit("a-group", "1", "-1") // "none": not stored, not reported

	got := e.b.ConsumerLag()
	want := []Lag{
		{Group: "a-group", Topic: "lagging", QueueID: 0, Committed: 7, Max: 5, Messages: 0},
		{Group: "b-group", Topic: "lagging", QueueID: 0, Committed: 2, Max: 5, Messages: 3},
		{Group: "b-group", Topic: "lagging", QueueID: 1, Committed: 1, Max: 1, Messages: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConsumerLag:\n got %+v\nwant %+v", got, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	f := func(d time.Duration, bucket int) {
		t.Helper()
		before := h.counts[bucket].Load()
		h.observe(d)
		if h.counts[bucket].Load() != before+1 {
			t.Errorf("observe(%v) missed bucket %d", d, bucket)
		}
	}
	f(-time.Second, 0)
	f(0, 0)
	f(100*time.Microsecond, 0) // bounds are inclusive, as Prometheus' le
	f(100*time.Microsecond+1, 1)
	f(time.Millisecond, 3)
	f(60*time.Second, len(latencyBounds)-1)
	f(60*time.Second+1, len(latencyBounds))
	f(time.Hour, len(latencyBounds))
	s := h.snapshot()
	if s.Count != 8 || s.Sum != 100*time.Microsecond+100*time.Microsecond+1+time.Millisecond+120*time.Second+1+time.Hour {
		t.Errorf("snapshot count %d sum %v", s.Count, s.Sum)
	}
}

// discardConn answers without keeping anything, so allocation counts show
// the broker's own.
type discardConn struct{ answered chan struct{} }

func (c *discardConn) RemoteAddr() string { return "10.0.0.10:4000" }
func (c *discardConn) Send(cmd *remoting.Command) error {
	if cmd.Release != nil {
		cmd.Release()
	}
	c.answered <- struct{}{}
	return nil
}
func (c *discardConn) Invoke(*remoting.Command, time.Duration) (*remoting.Command, error) {
	panic("not used")
}
func (c *discardConn) Close() error { return nil }

// TestMetricsDoNotAllocate checks that counting a send or a pull of a
// topic that has counters allocates nothing, and logs what a whole send
// and pull allocate through the processors (the response headers do).
func TestMetricsDoNotAllocate(t *testing.T) {
	e := newEnv(t, nil)
	e.send(newConn("10.0.0.10:1"), "allocs", 0, "first")
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("allocs", 0) == 1 })

	m := e.b.metrics
	topic := strings.Clone("allocs") // not the string the table holds
	start := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		m.stored(topic, 1, 100)
		m.delivered(topic, 1, 100)
		m.sendAnswered(remoting.ResSuccess, start)
		m.pullAnswered(start, false)
		m.pullAnswered(start, true)
	}); n != 0 {
		t.Errorf("counting a send and a pull allocates %v times", n)
	}

	conn := &discardConn{answered: make(chan struct{}, 1)}
	send := request(remoting.ReqSendMessage, sendExt("allocs", 0, ""), []byte("body"))
	sendProc := e.procs[remoting.ReqSendMessage]
	perSend := testing.AllocsPerRun(200, func() {
		sendProc(conn, send)
		<-conn.answered
	})
	pull := request(remoting.ReqPullMessage, pullExt("g", "allocs", 0, 0, pullSubscription, 0, "*"), nil)
	pull.ExtFields["maxMsgNums"] = "1"
	pullProc := e.procs[remoting.ReqPullMessage]
	perPull := testing.AllocsPerRun(200, func() {
		pullProc(conn, pull)
		<-conn.answered
	})
	t.Logf("allocations per send %v, per pull %v (processor to response)", perSend, perPull)
}
