package broker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// fill sends n messages to topic/qid alternating TagA and TagB, and waits
// until they are visible.
func (e *env) fill(topic string, qid int, n int) {
	e.t.Helper()
	conn := newConn("10.9.9.9:1")
	for i := range n {
		tag := "TagA"
		if i%2 == 1 {
			tag = "TagB"
		}
		e.send(conn, topic, qid, tag+"-"+string(rune('0'+i)), "TAGS", tag)
	}
	eventually(e.t, "dispatch", func() bool { return e.store.MaxOffset(topic, int32(qid)) == int64(n) })
}

func TestPullStatuses(t *testing.T) {
	e := newEnv(t, nil)
	e.fill("p", 0, 4)
	conn := newConn("10.0.0.7:4000")
	const sub = pullSubscription

	f := func(name string, ext map[string]string, code int32, next string, want ...string) {
		t.Run(name, func(t *testing.T) {
			s := e.do(conn, remoting.ReqPullMessage, ext, nil)
			expect(t, s, code)
			x := s.cmd.ExtFields
			if x["nextBeginOffset"] != next || x["suggestWhichBrokerId"] != "0" || x["minOffset"] == "" || x["maxOffset"] == "" {
				t.Fatalf("extFields %v, want nextBeginOffset %s", x, next)
			}
			got := bodies(records(t, s.body))
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("bodies %v, want %v", got, want)
			}
		})
	}
	f("found", pullExt("g", "p", 0, 0, sub, 0, "*"), remoting.ResSuccess, "4", "TagA-0", "TagB-1", "TagA-2", "TagB-3")
	f("found from 2", pullExt("g", "p", 0, 2, sub, 0, ""), remoting.ResSuccess, "4", "TagA-2", "TagB-3")
	f("tag filtered", pullExt("g", "p", 0, 0, sub, 0, "TagB"), remoting.ResSuccess, "4", "TagB-1", "TagB-3")
	f("tags or", pullExt("g", "p", 0, 1, sub, 0, "TagA || TagB"), remoting.ResSuccess, "4", "TagB-1", "TagA-2", "TagB-3")
	f("no tag matches", pullExt("g", "p", 0, 0, sub, 0, "TagC"), remoting.ResPullRetryImmediately, "4")
	f("at the end", pullExt("g", "p", 0, 4, sub, 0, "*"), remoting.ResPullNotFound, "4")
	f("past the end", pullExt("g", "p", 0, 9, sub, 0, "*"), remoting.ResPullOffsetMoved, "4")
	f("empty queue at 0", pullExt("g", "p", 1, 0, sub, 0, "*"), remoting.ResPullNotFound, "0")
	f("empty queue at 5", pullExt("g", "p", 1, 5, sub, 0, "*"), remoting.ResPullOffsetMoved, "0")

	maxed := pullExt("g", "p", 0, 0, sub, 0, "*")
	maxed["maxMsgNums"] = "1"
	f("max one", maxed, remoting.ResSuccess, "1", "TagA-0")

	errCase := func(name string, ext map[string]string, code int32) {
		t.Run(name, func(t *testing.T) { expect(t, e.do(conn, remoting.ReqPullMessage, ext, nil), code) })
	}
	errCase("unknown topic", pullExt("g", "nope", 0, 0, sub, 0, "*"), remoting.ResTopicNotExist)
	errCase("queue out of range", pullExt("g", "p", 4, 0, sub, 0, "*"), remoting.ResSystemError)
	errCase("no heartbeat", pullExt("g", "p", 0, 0, 0, 0, ""), remoting.ResSubscriptionNotExist)
	sql := pullExt("g", "p", 0, 0, sub, 0, "a > 1")
	sql["expressionType"] = "SQL92"
	errCase("sql92", sql, remoting.ResSystemError)
	missing := pullExt("g", "p", 0, 0, sub, 0, "*")
	delete(missing, "queueOffset")
	errCase("missing queueOffset", missing, remoting.ResSystemError)

	noGroups := newEnv(t, func(o *Options, _ *engine.Options) { o.AutoCreateSubscriptionGroup = false })
	noGroups.fill("p", 0, 1)
	expect(t, noGroups.do(conn, remoting.ReqPullMessage, pullExt("g", "p", 0, 0, sub, 0, "*"), nil), remoting.ResSubscriptionGroupNotExist)
}

func heartbeatBody(clientID, group string, subs ...[2]string) []byte {
	type sd struct {
		ClassFilterMode bool     `json:"classFilterMode"`
		Topic           string   `json:"topic"`
		SubString       string   `json:"subString"`
		TagsSet         []string `json:"tagsSet"`
		CodeSet         []string `json:"codeSet"`
		SubVersion      int64    `json:"subVersion"`
		ExpressionType  string   `json:"expressionType"`
	}
	var set []sd
	for _, s := range subs {
		set = append(set, sd{Topic: s[0], SubString: s[1], TagsSet: []string{}, CodeSet: []string{}, SubVersion: 1700000000123456789, ExpressionType: "TAG"})
	}
	body, _ := json.Marshal(map[string]any{
		"clientID":        clientID,
		"producerDataSet": []any{},
		"consumerDataSet": []any{map[string]any{
			"groupName": group, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
			"consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "subscriptionDataSet": set, "unitMode": false,
		}},
	})
	return body
}

func TestPullWithHeartbeatSubscription(t *testing.T) {
	e := newEnv(t, nil)
	e.fill("p", 0, 4)
	conn := newConn("10.0.0.7:4000")
	expect(t, e.do(conn, remoting.ReqHeartBeat, nil, heartbeatBody("10.0.0.7@1", "g", [2]string{"p", "TagA"})), remoting.ResSuccess)

	s := e.do(conn, remoting.ReqPullMessage, pullExt("g", "p", 0, 0, 0, 0, ""), nil)
	expect(t, s, remoting.ResSuccess)
	if got := bodies(records(t, s.body)); strings.Join(got, ",") != "TagA-0,TagA-2" {
		t.Fatalf("heartbeat filter gave %v", got)
	}
	ext := pullExt("g", "p", 0, 0, 0, 0, "")
	ext["subVersion"] = "1800000000000000000"
	expect(t, e.do(conn, remoting.ReqPullMessage, ext, nil), remoting.ResSubscriptionNotLatest)
	expect(t, e.do(conn, remoting.ReqPullMessage, pullExt("g", "other", 0, 0, 0, 0, ""), nil), remoting.ResTopicNotExist)
	e.fill("other", 0, 1)
	expect(t, e.do(conn, remoting.ReqPullMessage, pullExt("g", "other", 0, 0, 0, 0, ""), nil), remoting.ResSubscriptionNotExist)
}

func TestPullCommitsOffset(t *testing.T) {
	e := newEnv(t, nil)
	e.fill("p", 0, 4)
	conn := newConn("10.0.0.7:4000")
	ext := pullExt("g", "p", 0, 3, pullSubscription|pullCommitOffset, 0, "*")
	ext["commitOffset"] = "3"
	expect(t, e.do(conn, remoting.ReqPullMessage, ext, nil), remoting.ResSuccess)
	if off, ok := e.b.meta.Offsets.Query("g", "p", 0); !ok || off != 3 {
		t.Fatalf("committed %d %v, want 3", off, ok)
	}
	// Without the bit nothing is committed.
	ext = pullExt("g", "p", 0, 3, pullSubscription, 0, "*")
	ext["commitOffset"] = "1"
	expect(t, e.do(conn, remoting.ReqPullMessage, ext, nil), remoting.ResSuccess)
	if off, _ := e.b.meta.Offsets.Query("g", "p", 0); off != 3 {
		t.Fatalf("committed %d without the commit bit", off)
	}
}

func TestPullZeroCopy(t *testing.T) {
	e := newEnv(t, nil)
	e.fill("p", 0, 2)
	conn := newConn("10.0.0.7:4000")
	conn.holdRelease = true
	s := e.do(conn, remoting.ReqPullMessage, pullExt("g", "p", 0, 0, pullSubscription, 0, "*"), nil)
	expect(t, s, remoting.ResSuccess)
	if s.release == nil || len(s.parts) != 2 || len(s.cmd.Body) != 0 {
		t.Fatalf("pull response: %d parts, body %d bytes, release %v", len(s.parts), len(s.cmd.Body), s.release != nil)
	}
	// The parts are the store's own views of the mapped CommitLog.
	var res engine.GetResult
	e.store.GetMessages(&engine.GetRequest{Topic: "p", QueueID: 0, MaxMessages: 2}, &res)
	for i := range s.parts {
		if &s.parts[i][0] != &res.Messages[i][0] {
			t.Fatalf("part %d is a copy, not a view of the mapping", i)
		}
	}
	res.Release()
	s.release()
	if s.cmd.BodyParts[0] != nil {
		t.Fatal("Release did not release the read result")
	}
}

func TestLongPollingWakesOnSend(t *testing.T) {
	e := newEnv(t, nil)
	e.fill("lp", 0, 1)
	consumer := newConn("10.0.0.7:4000")
	req := request(remoting.ReqPullMessage, pullExt("g", "lp", 0, 1, pullSubscription|pullSuspend, 20000, "*"), nil)
	e.invoke(consumer, req)
	if s := consumer.response(req.Opaque, 50*time.Millisecond); s != nil {
		t.Fatalf("pull with nothing new answered at once: %s", remoting.ResponseCodeName(s.cmd.Code))
	}
	if n := e.b.holder.held(); n != 1 {
		t.Fatalf("%d pulls held, want 1", n)
	}
	sentAt := time.Now()
	e.send(newConn("10.0.0.8:1"), "lp", 0, "fresh")
	s := consumer.response(req.Opaque, waitLimit)
	if s == nil {
		t.Fatal("held pull not answered after a send")
	}
	if d := time.Since(sentAt); d > 500*time.Millisecond {
		t.Fatalf("held pull answered %v after the send", d)
	}
	expect(t, s, remoting.ResSuccess)
	if got := bodies(records(t, s.body)); len(got) != 1 || got[0] != "fresh" || s.cmd.ExtFields["nextBeginOffset"] != "2" {
		t.Fatalf("woken pull gave %v %v", got, s.cmd.ExtFields)
	}
}

func TestLongPollingTimesOut(t *testing.T) {
	e := newEnv(t, nil)
	consumer := newConn("10.0.0.7:4000")
	start := time.Now()
	req := request(remoting.ReqPullMessage, pullExt("g", "SELF_TEST_TOPIC", 0, 0, pullSubscription|pullSuspend, 150, "*"), nil)
	e.invoke(consumer, req)
	s := consumer.response(req.Opaque, waitLimit)
	if s == nil {
		t.Fatal("held pull never answered")
	}
	d := time.Since(start)
	if d < 140*time.Millisecond || d > 2*time.Second {
		t.Fatalf("held pull answered after %v, want about 150ms", d)
	}
	expect(t, s, remoting.ResPullNotFound)
	if s.cmd.ExtFields["nextBeginOffset"] != "0" {
		t.Fatalf("timeout response %v", s.cmd.ExtFields)
	}

	// Without long polling the wait is shortPollingTimeMills.
	short := newEnv(t, func(o *Options, _ *engine.Options) {
		o.LongPollingEnable = false
		o.ShortPollingTime = 60 * time.Millisecond
	})
	start = time.Now()
	req = request(remoting.ReqPullMessage, pullExt("g", "SELF_TEST_TOPIC", 0, 0, pullSubscription|pullSuspend, 20000, "*"), nil)
	short.invoke(consumer, req)
	if s := consumer.response(req.Opaque, waitLimit); s == nil || time.Since(start) > 2*time.Second {
		t.Fatal("short polling did not answer in time")
	}
}

func TestLongPollingTagMismatchKeepsWaiting(t *testing.T) {
	e := newEnv(t, nil)
	consumer := newConn("10.0.0.7:4000")
	producer := newConn("10.0.0.8:1")
	e.send(producer, "tags", 0, "first", "TAGS", "TagA")
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("tags", 0) == 1 })
	req := request(remoting.ReqPullMessage, pullExt("g", "tags", 0, 1, pullSubscription|pullSuspend, 20000, "TagA"), nil)
	e.invoke(consumer, req)
	e.send(producer, "tags", 0, "other", "TAGS", "TagB")
	if s := consumer.response(req.Opaque, 150*time.Millisecond); s != nil {
		t.Fatalf("pull answered for a message it does not subscribe to: %s %v", remoting.ResponseCodeName(s.cmd.Code), s.cmd.ExtFields)
	}
	e.send(producer, "tags", 0, "mine", "TAGS", "TagA")
	s := consumer.response(req.Opaque, waitLimit)
	if s == nil {
		t.Fatal("pull not answered for a matching message")
	}
	expect(t, s, remoting.ResSuccess)
	if got := bodies(records(t, s.body)); len(got) != 1 || got[0] != "mine" || s.cmd.ExtFields["nextBeginOffset"] != "3" {
		t.Fatalf("got %v %v", got, s.cmd.ExtFields)
	}
}

func TestLongPollingBounds(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *engine.Options) { o.MaxHeldPullsPerConn = 1 })
	consumer := newConn("10.0.0.7:4000")
	hold := func(qid int) *remoting.Command {
		req := request(remoting.ReqPullMessage, pullExt("g", "SELF_TEST_TOPIC", qid, 0, pullSubscription|pullSuspend, 20000, "*"), nil)
		e.invoke(consumer, req)
		return req
	}
	first := hold(0)
	// A second pull for the same queue replaces the first, which is answered.
	second := hold(0)
	s := consumer.response(first.Opaque, waitLimit)
	if s == nil {
		t.Fatal("replaced pull not answered")
	}
	expect(t, s, remoting.ResPullNotFound)
	if e.b.holder.held() != 1 {
		t.Fatalf("%d held", e.b.holder.held())
	}
	// The per-connection cap answers SYSTEM_BUSY.
	e.b.meta.Topics.Put(meta.NewTopicConfig("wide", 4))
	req := request(remoting.ReqPullMessage, pullExt("g", "wide", 1, 0, pullSubscription|pullSuspend, 20000, "*"), nil)
	e.invoke(consumer, req)
	s = consumer.response(req.Opaque, waitLimit)
	if s == nil {
		t.Fatal("pull over the cap not answered")
	}
	expect(t, s, remoting.ResSystemBusy)

	// A closed connection's pulls are dropped unanswered.
	e.b.OnDisconnect(consumer)
	if n := e.b.holder.held(); n != 0 {
		t.Fatalf("%d held after disconnect", n)
	}
	if s := consumer.response(second.Opaque, 50*time.Millisecond); s != nil {
		t.Fatal("pull of a closed connection answered")
	}

	// Stopping the broker answers what is held.
	other := newConn("10.0.0.9:4000")
	req = request(remoting.ReqPullMessage, pullExt("g", "SELF_TEST_TOPIC", 0, 0, pullSubscription|pullSuspend, 20000, "*"), nil)
	e.invoke(other, req)
	eventually(t, "held", func() bool { return e.b.holder.held() == 1 })
	e.shutdown()
	if s := other.response(req.Opaque, 10*time.Millisecond); s == nil {
		t.Fatal("held pull not answered at stop")
	}
}

// TestSyncFlush runs a send, a long-polled pull and a batch with
// SYNC_FLUSH, where the engine answers from its flusher and readers see a
// message only once it is durable.
func TestSyncFlush(t *testing.T) {
	e := newEnv(t, func(_ *Options, eo *engine.Options) { eo.FlushMode = engine.SyncFlush })
	consumer, producer := newConn("10.0.0.7:4000"), newConn("10.0.0.8:1")
	req := request(remoting.ReqPullMessage, pullExt("g", "SELF_TEST_TOPIC", 0, 0, pullSubscription|pullSuspend, 20000, "*"), nil)
	e.invoke(consumer, req)
	e.send(producer, "sync", 0, "durable")
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("sync", 0) == 1 })
	batch := map[string]string{"a": "pg", "b": "sync", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "1", "h": "0", "m": "true"}
	expect(t, e.do(producer, remoting.ReqSendBatchMessage, batch, encodeBatch([2]string{"b1", ""}, [2]string{"b2", ""})), remoting.ResSuccess)
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("sync", 0) == 3 })
	s := e.do(consumer, remoting.ReqPullMessage, pullExt("g", "sync", 0, 0, pullSubscription, 0, "*"), nil)
	expect(t, s, remoting.ResSuccess)
	if got := bodies(records(t, s.body)); strings.Join(got, ",") != "durable,b1,b2" {
		t.Fatalf("got %v", got)
	}
	if s := consumer.response(req.Opaque, 10*time.Millisecond); s != nil {
		t.Fatal("a pull on another topic was woken")
	}
}
