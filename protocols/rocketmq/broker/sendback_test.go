package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func sendBackExt(offset int64, group string, delayLevel, maxTimes int, originTopic string) map[string]string {
	return map[string]string{
		"offset": strconv.FormatInt(offset, 10), "group": group, "delayLevel": strconv.Itoa(delayLevel),
		"originMsgId": "X", "originTopic": originTopic, "unitMode": "false", "maxReconsumeTimes": strconv.Itoa(maxTimes),
	}
}

func TestSendBackRetryThenDLQ(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	s := e.send(conn, "orders", 0, "fail me", "TAGS", "T", "UNIQ_KEY", "U1", "KEYS", "k")
	origID := s.cmd.ExtFields["msgId"]
	_, off, _ := message.ParseOffsetMsgID(origID)
	e.settle()

	// First failure: delay level 3 + 0 (200 ms with the test levels).
	start := time.Now()
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(off, "g", 0, 2, "orders"), nil), remoting.ResSuccess)
	eventually(t, "parked at level 3", func() bool { return e.store.MaxOffset(TopicSchedule, 2) == 1 })
	eventually(t, "back on the retry topic", func() bool { return e.store.MaxOffset("%RETRY%g", 0) == 1 })
	e.settle()
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("retry came back after %v, want >= 200ms", d)
	}
	r := e.readQueue("%RETRY%g", 0)[0]
	if string(r.Body()) != "fail me" || r.ReconsumeTimes() != 1 || prop(r, "RETRY_TOPIC") != "orders" ||
		prop(r, "ORIGIN_MESSAGE_ID") != origID || prop(r, "UNIQ_KEY") != "U1" || prop(r, "TAGS") != "T" || prop(r, "DELAY") != "" {
		t.Fatalf("retry message %q reconsume %d props %q", r.Body(), r.ReconsumeTimes(), r.Properties())
	}

	// Second failure, of the retry copy: level 3 + 1.
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(r.PhysicalOffset(), "g", 0, 2, ""), nil), remoting.ResSuccess)
	eventually(t, "parked at level 4", func() bool { return e.store.MaxOffset(TopicSchedule, 3) == 1 })
	eventually(t, "second retry", func() bool { return e.store.MaxOffset("%RETRY%g", 0) == 2 })
	e.settle()
	r2 := e.readQueue("%RETRY%g", 0)[1]
	if r2.ReconsumeTimes() != 2 || prop(r2, "RETRY_TOPIC") != "orders" || prop(r2, "ORIGIN_MESSAGE_ID") != origID {
		t.Fatalf("second retry reconsume %d props %q", r2.ReconsumeTimes(), r2.Properties())
	}

	// Third failure: reconsumeTimes 2 >= maxReconsumeTimes 2, to the DLQ.
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(r2.PhysicalOffset(), "g", 0, 2, ""), nil), remoting.ResSuccess)
	eventually(t, "dead letter", func() bool { return e.store.MaxOffset("%DLQ%g", 0) == 1 })
	d := e.readQueue("%DLQ%g", 0)[0]
	if d.ReconsumeTimes() != 3 || string(d.Body()) != "fail me" {
		t.Fatalf("DLQ message reconsume %d body %q", d.ReconsumeTimes(), d.Body())
	}
	if tc, ok := e.b.meta.Topics.Get("%DLQ%g"); !ok || tc.WriteQueueNums != 1 || tc.Perm != 6 {
		t.Fatalf("DLQ topic %+v", tc)
	}

	// A negative delay level goes straight to the DLQ.
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(off, "g", -1, 16, "orders"), nil), remoting.ResSuccess)
	eventually(t, "second dead letter", func() bool { return e.store.MaxOffset("%DLQ%g", 0) == 2 })
}

func TestSendBackErrors(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	s := e.send(conn, "orders", 0, "x")
	_, off, _ := message.ParseOffsetMsgID(s.cmd.ExtFields["msgId"])
	e.settle()

	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(off+999, "g", 0, 16, ""), nil), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(off, "g", 0, 16, "wrong"), nil), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, map[string]string{"offset": "1"}, nil), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(off, "bad group", 0, 16, ""), nil), remoting.ResSystemError)

	noGroups := newEnv(t, func(o *Options, _ *engine.Options) { o.AutoCreateSubscriptionGroup = false })
	expect(t, noGroups.do(conn, remoting.ReqConsumerSendMsgBack, sendBackExt(0, "g", 0, 16, ""), nil), remoting.ResSubscriptionGroupNotExist)
}
