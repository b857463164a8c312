package broker

import (
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// fakeClock is a settable Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mq(topic string, qid int32) messageQueue {
	return messageQueue{Topic: topic, BrokerName: "broker-a", QueueID: jsonInt32(qid)}
}

func TestLockTable(t *testing.T) {
	var lt lockTable
	t0 := time.Unix(1_700_000_000, 0)
	q0, q1, q2 := mq("t", 0), mq("t", 1), mq("t", 2)
	f := func(group, client string, at time.Duration, ask []messageQueue, want ...messageQueue) {
		t.Helper()
		got := lt.tryLock(group, client, ask, t0.Add(at))
		if want == nil {
			want = []messageQueue{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s/%s at %v: locked %v, want %v", group, client, at, got, want)
		}
	}

	if lt.anyLive("g", t0) {
		t.Fatal("an empty table has a live lock")
	}
	f("g", "A", 0, []messageQueue{q0, q1, q0}, q0, q1) // repeats answered once
	f("g", "B", time.Second, []messageQueue{q0, q1, q2}, q2)
	f("other", "B", time.Second, []messageQueue{q0}, q0) // groups are separate
	f("g", "A", 30*time.Second, []messageQueue{q0}, q0)  // renews q0 only

	// q1 was last renewed at 0: still A's at exactly 60 s, free just after.
	// q2, B's since 1 s, has expired too: B takes it back.
	f("g", "B", lockMaxLiveTime, []messageQueue{q1})
	f("g", "B", lockMaxLiveTime+time.Millisecond, []messageQueue{q0, q1, q2}, q1, q2)
	// q0 was renewed at 30 s, so A keeps it until 90 s.
	f("g", "B", 90*time.Second, []messageQueue{q0})
	f("g", "A", 90*time.Second, []messageQueue{q0, q1}, q0)

	// Unlock releases only what the client holds.
	lt.unlock("g", "A", []messageQueue{q1, q2})
	f("g", "C", 90*time.Second, []messageQueue{q1, q2})
	lt.unlock("g", "B", []messageQueue{q1, q2, mq("never", 9)})
	f("g", "C", 90*time.Second, []messageQueue{q1, q2}, q1, q2)
	lt.unlock("nope", "A", []messageQueue{q0})

	// A client takes its own expired lock back.
	f("g", "A", 200*time.Second, []messageQueue{q0}, q0)

	if !lt.anyLive("g", t0.Add(200*time.Second)) {
		t.Fatal("no live lock in g")
	}
	if lt.anyLive("g", t0.Add(200*time.Second+lockMaxLiveTime+time.Millisecond)) {
		t.Fatal("expired locks count as live")
	}
	lt.unlock("g", "A", []messageQueue{q0})
	lt.unlock("g", "C", []messageQueue{q1, q2})
	lt.mu.Lock()
	_, kept := lt.groups["g"]
	lt.mu.Unlock()
	if kept {
		t.Fatal("an empty group stays in the table")
	}
}

func lockBody(group, client string, mqs ...messageQueue) []byte {
	b, err := json.Marshal(lockBatchBody{ConsumerGroup: group, ClientID: client, MQSet: mqs})
	if err != nil {
		panic(err)
	}
	return b
}

// lockOK runs LOCK_BATCH_MQ and returns the queues granted.
func lockOK(t *testing.T, e *env, conn *fakeConn, body []byte) []messageQueue {
	t.Helper()
	s := e.do(conn, remoting.ReqLockBatchMQ, nil, body)
	expect(t, s, remoting.ResSuccess)
	var resp struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}
	if err := json.Unmarshal(s.body, &resp); err != nil {
		t.Fatalf("lock response %q: %v", s.body, err)
	}
	if resp.LockOKMQSet == nil {
		t.Fatalf("lock response %q has no lockOKMQSet array", s.body)
	}
	return resp.LockOKMQSet
}

func TestLockBatchMQ(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, func(o *Options, _ *engine.Options) { o.Now = clock.Now })
	a, b := newConn("10.0.0.1:1000"), newConn("10.0.0.2:1000")
	q0, q1 := mq("orders", 0), mq("orders", 1)

	// The exact response body: an array of MessageQueue objects.
	s := e.do(a, remoting.ReqLockBatchMQ, nil, lockBody("g", "A", q0))
	expect(t, s, remoting.ResSuccess)
	if want := `{"lockOKMQSet":[{"topic":"orders","brokerName":"broker-a","queueId":0}]}`; string(s.body) != want {
		t.Fatalf("lock response %s, want %s", s.body, want)
	}

	// Contention: B gets only the free queue; A keeps renewing q0.
	if got := lockOK(t, e, b, lockBody("g", "B", q0, q1)); !slices.Equal(got, []messageQueue{q1}) {
		t.Fatalf("B locked %v, want [q1]", got)
	}
	if got := lockOK(t, e, a, lockBody("g", "A", q0, q1)); !slices.Equal(got, []messageQueue{q0}) {
		t.Fatalf("A locked %v, want [q0]", got)
	}
	// Nothing granted is an empty array, not null.
	s = e.do(a, remoting.ReqLockBatchMQ, nil, lockBody("g", "A", q1))
	if string(s.body) != `{"lockOKMQSet":[]}` {
		t.Fatalf("refused lock response %s", s.body)
	}

	// Renewal keeps a lock past the first minute.
	clock.Advance(40 * time.Second)
	lockOK(t, e, a, lockBody("g", "A", q0))
	clock.Advance(40 * time.Second) // 80 s after the first lock, 40 s after the renewal
	if got := lockOK(t, e, b, lockBody("g", "B", q0)); len(got) != 0 {
		t.Fatalf("B took a renewed lock: %v", got)
	}

	// A stops renewing: B takes q0 once it is more than 60 s old.
	clock.Advance(20*time.Second + time.Millisecond)
	if got := lockOK(t, e, b, lockBody("g", "B", q0, q1)); !slices.Equal(got, []messageQueue{q0, q1}) {
		t.Fatalf("B locked %v after A's lock expired", got)
	}

	// A cannot unlock B's queues; B can.
	expect(t, e.do(a, remoting.ReqUnlockBatchMQ, nil, lockBody("g", "A", q0, q1)), remoting.ResSuccess)
	if got := lockOK(t, e, a, lockBody("g", "A", q0, q1)); len(got) != 0 {
		t.Fatalf("A's unlock released B's queues: A now holds %v", got)
	}
	expect(t, e.do(b, remoting.ReqUnlockBatchMQ, nil, lockBody("g", "B", q0)), remoting.ResSuccess)
	if got := lockOK(t, e, a, lockBody("g", "A", q0, q1)); !slices.Equal(got, []messageQueue{q0}) {
		t.Fatalf("after B's unlock A locked %v, want [q0]", got)
	}

	// A one-way unlock (Java's unlockBatchMQ oneway) is applied and not answered.
	req := request(remoting.ReqUnlockBatchMQ, nil, lockBody("g", "A", q0))
	req.Flag = remoting.FlagOneway
	e.invoke(a, req)
	if s := a.response(req.Opaque, 50*time.Millisecond); s != nil {
		t.Fatalf("one-way unlock answered: %+v", s.cmd)
	}
	if got := lockOK(t, e, b, lockBody("g", "B", q0)); !slices.Equal(got, []messageQueue{q0}) {
		t.Fatalf("the one-way unlock did not release q0: B locked %v", got)
	}
}

// TestLockBatchMQJavaBody reads the body as fastjson writes it (names
// sorted, onlyThisBroker present) and tolerates a quoted queueId.
func TestLockBatchMQJavaBody(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	java := `{"clientId":"10.0.0.9@123#456","consumerGroup":"jg","mqSet":[{"brokerName":"broker-a","queueId":3,"topic":"jt"},` +
		`{"brokerName":"broker-a","queueId":"4","topic":"jt"}],"onlyThisBroker":true}`
	got := lockOK(t, e, conn, []byte(java))
	want := []messageQueue{{Topic: "jt", BrokerName: "broker-a", QueueID: 3}, {Topic: "jt", BrokerName: "broker-a", QueueID: 4}}
	if !slices.Equal(got, want) {
		t.Fatalf("locked %v, want %v", got, want)
	}
	// An empty set is fine and locks nothing.
	if got := lockOK(t, e, conn, []byte(`{"consumerGroup":"jg","clientId":"x","mqSet":[]}`)); len(got) != 0 {
		t.Fatalf("empty request locked %v", got)
	}
}

func TestLockBatchMQBadBodies(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	many := make([]messageQueue, maxLockBatch+1)
	bad := map[string][]byte{
		"no body":         nil,
		"not json":        []byte(`{"consumerGroup":`),
		"not an object":   []byte(`[1,2]`),
		"no group":        []byte(`{"clientId":"c","mqSet":[{"topic":"t","brokerName":"b","queueId":0}]}`),
		"no client":       []byte(`{"consumerGroup":"g","mqSet":[{"topic":"t","brokerName":"b","queueId":0}]}`),
		"bad queueId":     []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[{"topic":"t","brokerName":"b","queueId":"x"}]}`),
		"huge queueId":    []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[{"topic":"t","brokerName":"b","queueId":4294967296}]}`),
		"mqSet an object": []byte(`{"consumerGroup":"g","clientId":"c","mqSet":{"topic":"t"}}`),
		"too many queues": lockBody("g", "c", many...),
	}
	for name, body := range bad {
		for _, code := range []int32{remoting.ReqLockBatchMQ, remoting.ReqUnlockBatchMQ} {
			s := e.do(conn, code, nil, body)
			if s.cmd.Code != remoting.ResSystemError || s.cmd.Remark == "" {
				t.Errorf("%s, %s: answered %s %q, want SYSTEM_ERROR with a remark",
					name, remoting.CodeName(code), remoting.ResponseCodeName(s.cmd.Code), s.cmd.Remark)
			}
			if code == remoting.ReqLockBatchMQ && !strings.HasPrefix(s.cmd.Remark, "LOCK_BATCH_MQ: ") {
				t.Errorf("%s: remark %q", name, s.cmd.Remark)
			}
		}
	}
	// Nothing of the above was locked.
	e.b.locks.mu.Lock()
	n := len(e.b.locks.groups)
	e.b.locks.mu.Unlock()
	if n != 0 {
		t.Fatalf("bad requests left %d groups in the lock table", n)
	}
}

// TestRetrySendWhileLockedGoesToDLQ: a group that holds live locks
// consumes orderly, and its %RETRY% sends go straight to the DLQ
// (SendMessageProcessor.handleRetryAndDLQ, 5.x).
func TestRetrySendWhileLockedGoesToDLQ(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, func(o *Options, _ *engine.Options) { o.Now = clock.Now })
	conn := newConn("10.0.0.1:1000")
	retry := func(body string) *sent {
		ext := sendExt("%RETRY%g", 0, props("RETRY_TOPIC", "orders"))
		ext["reconsumeTimes"], ext["maxReconsumeTimes"] = "1", "16"
		s := e.do(conn, remoting.ReqSendMessage, ext, []byte(body))
		expect(t, s, remoting.ResSuccess)
		return s
	}

	retry("before any lock")
	lockOK(t, e, conn, lockBody("g", "A", mq("orders", 0)))
	retry("while locked")
	clock.Advance(lockMaxLiveTime + time.Millisecond)
	retry("after the lock expired")
	e.settle()

	got := func(topic string) []string { return bodies(e.readQueue(topic, 0)) }
	if r, d := got("%RETRY%g"), got("%DLQ%g"); !slices.Equal(r, []string{"before any lock", "after the lock expired"}) ||
		!slices.Equal(d, []string{"while locked"}) {
		t.Fatalf("retry topic %q, DLQ %q", r, d)
	}
	if dl := e.readQueue("%DLQ%g", 0)[0]; prop(dl, "DELAY") != "-1" {
		t.Fatalf("DLQ message DELAY=%q, want -1", prop(dl, "DELAY"))
	}
}
