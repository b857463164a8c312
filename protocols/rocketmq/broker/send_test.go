package broker

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func TestStartupTopics(t *testing.T) {
	e := newEnv(t, nil)
	tbw, ok := e.b.meta.Topics.Get(TopicAutoCreate)
	if !ok || tbw.Perm != 7 || tbw.WriteQueueNums != 8 {
		t.Fatalf("TBW102 = %+v, %v; want perm 7, 8 queues", tbw, ok)
	}
	sched, ok := e.b.meta.Topics.Get(TopicSchedule)
	if !ok || sched.ReadQueueNums != 18 {
		t.Fatalf("SCHEDULE_TOPIC_XXXX = %+v, %v; want 18 queues", sched, ok)
	}
	for _, name := range []string{"SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "DefaultCluster", "broker-a", "BenchmarkTest"} {
		if _, ok := e.b.meta.Topics.Get(name); !ok {
			t.Errorf("start-up topic %s missing", name)
		}
	}

	off := newEnv(t, func(o *Options, _ *engine.Options) { o.AutoCreateTopicEnable = false })
	if _, ok := off.b.meta.Topics.Get(TopicAutoCreate); ok {
		t.Fatal("TBW102 created with autoCreateTopicEnable=false")
	}
}

func TestSendV1(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	s := e.send(conn, "orders", 1, "hello", "TAGS", "TagA", "UNIQ_KEY", "AABBCC", "KEYS", "k1")
	ext := s.cmd.ExtFields
	if ext["queueId"] != "1" || ext["queueOffset"] != "0" || ext["transactionId"] != "AABBCC" ||
		ext["MSG_REGION"] != "DefaultRegion" || ext["TRACE_ON"] != "true" {
		t.Fatalf("response extFields %v", ext)
	}
	host, off, err := message.ParseOffsetMsgID(ext["msgId"])
	if err != nil || host.String() != "127.0.0.1:10911" {
		t.Fatalf("msgId %q: %v %v", ext["msgId"], host, err)
	}
	tc, ok := e.b.meta.Topics.Get("orders")
	if !ok || tc.WriteQueueNums != 4 || tc.Perm != meta.PermRead|meta.PermWrite {
		t.Fatalf("auto-created topic %+v", tc)
	}
	e.settle()
	var p engine.Pinned
	if err := e.store.ReadMessage(off, &p); err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	r := p.Record
	if string(r.Topic()) != "orders" || string(r.Body()) != "hello" || r.QueueID() != 1 ||
		r.BornHost().String() != "10.1.2.3:5555" || prop(r, "CLUSTER") != "DefaultCluster" || prop(r, "TAGS") != "TagA" ||
		r.BornTimestamp() != 1700000000000 {
		t.Fatalf("stored %s %q q%d born %s props %q", r.Topic(), r.Body(), r.QueueID(), r.BornHost(), r.Properties())
	}
}

func TestSendV2AndGeneratedUniqKey(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	ext := map[string]string{"a": "pg", "b": "v2topic", "c": "TBW102", "d": "4", "e": "-1", "f": "0",
		"g": "1700000000000", "h": "3", "i": props("TAGS", "x"), "j": "0", "k": "false", "m": "false", "n": "broker-a"}
	s := e.do(conn, remoting.ReqSendMessageV2, ext, []byte("v2"))
	expect(t, s, remoting.ResSuccess)
	qid, _ := strconv.Atoi(s.cmd.ExtFields["queueId"])
	if qid < 0 || qid >= 4 {
		t.Fatalf("queueId %d, want a random queue of 4", qid)
	}
	uniq := s.cmd.ExtFields["transactionId"]
	if len(uniq) != 32 || strings.ToUpper(uniq) != uniq {
		t.Fatalf("generated UNIQ_KEY %q", uniq)
	}
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("v2topic", int32(qid)) == 1 })
	recs := e.readQueue("v2topic", int32(qid))
	if prop(recs[0], "UNIQ_KEY") != uniq || recs[0].Flag() != 3 {
		t.Fatalf("stored UNIQ_KEY %q flag %d, want %q", prop(recs[0], "UNIQ_KEY"), recs[0].Flag(), uniq)
	}
}

func TestSendBatch(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	body := encodeBatch([2]string{"one", props("TAGS", "a")}, [2]string{"two", ""}, [2]string{"three", props("KEYS", "k3")})
	ext := map[string]string{"a": "pg", "b": "batchy", "c": "TBW102", "d": "4", "e": "2", "f": "0",
		"g": "1700000000000", "h": "0", "i": props("WAIT", "true"), "m": "true"}
	s := e.do(conn, remoting.ReqSendBatchMessage, ext, body)
	expect(t, s, remoting.ResSuccess)
	ids := strings.Split(s.cmd.ExtFields["msgId"], ",")
	if len(ids) != 3 || s.cmd.ExtFields["queueOffset"] != "0" || s.cmd.ExtFields["queueId"] != "2" {
		t.Fatalf("batch response %v", s.cmd.ExtFields)
	}
	eventually(t, "dispatch", func() bool { return e.store.MaxOffset("batchy", 2) == 3 })
	recs := e.readQueue("batchy", 2)
	if got := bodies(recs); strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("bodies %v", got)
	}
	for i, r := range recs {
		_, phys, _ := message.ParseOffsetMsgID(ids[i])
		if r.PhysicalOffset() != phys || r.Flag() != 7 || prop(r, "WAIT") != "true" || prop(r, "CLUSTER") != "DefaultCluster" {
			t.Fatalf("entry %d: phys %d (id %d) flag %d props %q", i, r.PhysicalOffset(), phys, r.Flag(), r.Properties())
		}
	}
	if prop(recs[0], "TAGS") != "a" || prop(recs[2], "KEYS") != "k3" {
		t.Fatalf("entry properties lost: %q %q", recs[0].Properties(), recs[2].Properties())
	}
}

func TestSendErrors(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *engine.Options) { o.MaxMessageSize = 1024 })
	conn := newConn("10.1.2.3:5555")
	with := func(kv ...string) map[string]string {
		ext := sendExt("good", 0, "")
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<del>" {
				delete(ext, kv[i])
			} else {
				ext[kv[i]] = kv[i+1]
			}
		}
		return ext
	}
	f := func(name string, code int32, ext map[string]string, body []byte, remark string) {
		t.Run(name, func(t *testing.T) {
			s := e.do(conn, code, ext, body)
			if s.cmd.Code == remoting.ResSuccess {
				t.Fatalf("accepted: %v", s.cmd.ExtFields)
			}
			if !strings.Contains(s.cmd.Remark, remark) {
				t.Fatalf("remark %q, want it to mention %q", s.cmd.Remark, remark)
			}
			if s.cmd.ExtFields["MSG_REGION"] != "DefaultRegion" {
				t.Fatalf("error response without MSG_REGION: %v", s.cmd.ExtFields)
			}
		})
	}
	code := func(name string, want int32, ext map[string]string, body []byte, remark string) {
		f(name, remoting.ReqSendMessage, ext, body, remark)
		t.Run(name+"/code", func(t *testing.T) {
			expect(t, e.do(conn, remoting.ReqSendMessage, ext, body), want)
		})
	}
	code("missing topic", remoting.ResSystemError, with("topic", "<del>"), []byte("x"), "topic")
	code("bad queueId", remoting.ResSystemError, with("queueId", "one"), []byte("x"), "queueId")
	code("bad topic", remoting.ResSystemError, with("topic", "a b"), []byte("x"), "illegal characters")
	code("long topic", remoting.ResSystemError, with("topic", strings.Repeat("t", 128)), []byte("x"), "longer")
	code("TBW102", remoting.ResSystemError, with("topic", "TBW102"), []byte("x"), "AUTO_CREATE")
	code("schedule topic", remoting.ResNoPermission, with("topic", "SCHEDULE_TOPIC_XXXX"), []byte("x"), "forbidden")
	code("no default topic", remoting.ResTopicNotExist, with("defaultTopic", "nope"), []byte("x"), "not exist")
	code("queue out of range", remoting.ResSystemError, with("topic", "SELF", "defaultTopic", "TBW102", "queueId", "99"), []byte("x"), "queueId[99]")
	code("too large", remoting.ResMessageIllegal, with(), make([]byte, 1025), "body length limit")
	code("transaction", remoting.ResNoPermission, with("properties", props("TRAN_MSG", "true")), []byte("x"), "transaction")

	batch := map[string]string{"a": "pg", "b": "good", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "1", "h": "0", "m": "true"}
	f("batch truncated", remoting.ReqSendBatchMessage, batch, []byte{0, 0, 0, 30, 1, 2}, "truncated")
	f("batch empty", remoting.ReqSendBatchMessage, batch, nil, "empty")
	bad := encodeBatch([2]string{"x", ""})
	bad[19] = 200 // body length past the end
	f("batch bad length", remoting.ReqSendBatchMessage, batch, bad, "body length")
	retry := map[string]string{"a": "pg", "b": "%RETRY%g", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "1", "h": "0", "m": "true"}
	f("batch to retry", remoting.ReqSendBatchMessage, retry, encodeBatch([2]string{"x", ""}), "retry group")
	delayed := map[string]string{"a": "pg", "b": "good", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "1", "h": "0", "i": props("DELAY", "2")}
	f("batch delayed", remoting.ReqSendBatchMessage, delayed, encodeBatch([2]string{"x", ""}), "delayed")

	noAuto := newEnv(t, func(o *Options, _ *engine.Options) { o.AutoCreateTopicEnable = false })
	s := noAuto.do(conn, remoting.ReqSendMessage, sendExt("fresh", 0, ""), []byte("x"))
	expect(t, s, remoting.ResTopicNotExist)

	noGroups := newEnv(t, func(o *Options, _ *engine.Options) { o.AutoCreateSubscriptionGroup = false })
	expect(t, noGroups.do(conn, remoting.ReqSendMessage, sendExt("%RETRY%nogroup", 0, ""), []byte("x")), remoting.ResSubscriptionGroupNotExist)

	slave := newEnv(t, func(o *Options, _ *engine.Options) { o.BrokerRole = RoleSlave; o.BrokerID = 1 })
	expect(t, slave.do(conn, remoting.ReqSendMessage, sendExt("fresh", 0, ""), []byte("x")), remoting.ResServiceNotAvailable)
}

func TestSendStoreStatuses(t *testing.T) {
	conn := newConn("10.1.2.3:5555")

	// The engine's own size limit (16 KiB here, below the broker's).
	e := newEnv(t, func(_ *Options, eo *engine.Options) { eo.MaxMessageSize = 16 << 10 })
	expect(t, e.do(conn, remoting.ReqSendMessage, sendExt("t", 0, ""), make([]byte, 20<<10)), remoting.ResMessageIllegal)

	// Disk full: retention refuses appends.
	full := newEnv(t, func(_ *Options, eo *engine.Options) {
		eo.DiskUsage = func(string) (float64, error) { return 0.99, nil }
	})
	full.store.RunRetention()
	s := full.do(conn, remoting.ReqSendMessage, sendExt("t", 0, ""), []byte("x"))
	expect(t, s, remoting.ResServiceNotAvailable)
	if !strings.Contains(s.cmd.Remark, "disk is full") {
		t.Fatalf("remark %q", s.cmd.Remark)
	}

	// A closed store.
	closed := newEnv(t, nil)
	if err := closed.store.CommitLog().Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, closed.do(conn, remoting.ReqSendMessage, sendExt("t", 0, ""), []byte("x")), remoting.ResServiceNotAvailable)
}

func TestSendOneway(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	req := request(remoting.ReqSendMessage, sendExt("quiet", 0, ""), []byte("x"))
	req.Flag = remoting.FlagOneway
	e.invoke(conn, req)
	eventually(t, "stored", func() bool { return e.store.MaxOffset("quiet", 0) == 1 })
	if s := conn.response(req.Opaque, 50*time.Millisecond); s != nil {
		t.Fatalf("one-way send answered: %v", s.cmd)
	}
}

func TestSendDelayed(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	start := time.Now()
	e.send(conn, "later", 0, "wait", "DELAY", "2") // 150 ms
	eventually(t, "parked", func() bool { return e.store.MaxOffset(TopicSchedule, 1) == 1 })
	if n := e.store.MaxOffset("later", 0); n != 0 && time.Since(start) < 150*time.Millisecond {
		t.Fatal("delayed message visible at once")
	}
	eventually(t, "delivered", func() bool { return e.store.MaxOffset("later", 0) == 1 })
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Fatalf("delivered after %v, want >= 150ms", d)
	}
	r := e.readQueue("later", 0)[0]
	if string(r.Body()) != "wait" || prop(r, "REAL_TOPIC") != "later" {
		t.Fatalf("delivered %q props %q", r.Body(), r.Properties())
	}
}

func TestSendRetryTopicToDLQ(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.1.2.3:5555")
	ext := sendExt("%RETRY%grp", 0, props("RETRY_TOPIC", "orders"))
	ext["reconsumeTimes"] = "3"
	ext["maxReconsumeTimes"] = "2"
	expect(t, e.do(conn, remoting.ReqSendMessage, ext, []byte("dead")), remoting.ResSuccess)
	eventually(t, "dead letter", func() bool { return e.store.MaxOffset("%DLQ%grp", 0) == 1 })
	r := e.readQueue("%DLQ%grp", 0)[0]
	if prop(r, "DELAY") != "-1" || r.ReconsumeTimes() != 3 {
		t.Fatalf("DLQ message props %q reconsume %d", r.Properties(), r.ReconsumeTimes())
	}
	if tc, _ := e.b.meta.Topics.Get("%DLQ%grp"); tc.WriteQueueNums != 1 {
		t.Fatalf("DLQ topic %+v", tc)
	}

	// Within the budget it stays on the retry topic.
	ext["reconsumeTimes"] = "2"
	expect(t, e.do(conn, remoting.ReqSendMessage, ext, []byte("again")), remoting.ResSuccess)
	eventually(t, "retry", func() bool { return e.store.MaxOffset("%RETRY%grp", 0) == 1 })
}
