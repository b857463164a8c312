package broker

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func consumerList(t *testing.T, e *env, conn *fakeConn, group string) []string {
	t.Helper()
	s := e.do(conn, remoting.ReqGetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil)
	if s.cmd.Code != remoting.ResSuccess {
		return nil
	}
	var body struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(s.body, &body); err != nil {
		t.Fatal(err)
	}
	return body.ConsumerIDList
}

// notified waits for the n-th NOTIFY_CONSUMER_IDS_CHANGED on conn.
func notified(t *testing.T, conn *fakeConn, n int) {
	t.Helper()
	if !conn.waitRequests(remoting.ReqNotifyConsumerIdsChanged, n, waitLimit) {
		t.Fatalf("%s: %d notifications, want %d", conn.addr, len(conn.requests(remoting.ReqNotifyConsumerIdsChanged)), n)
	}
	for _, r := range conn.requests(remoting.ReqNotifyConsumerIdsChanged) {
		if r.cmd.ExtFields["consumerGroup"] != "g" || !r.cmd.IsOneway() {
			t.Fatalf("notification %+v", r.cmd)
		}
	}
}

func TestHeartbeatMembership(t *testing.T) {
	e := newEnv(t, nil)
	a, b := newConn("10.0.0.1:1000"), newConn("10.0.0.2:1000")
	asker := newConn("10.0.0.3:1000")

	if ids := consumerList(t, e, asker, "g"); ids != nil {
		t.Fatalf("consumers before any heartbeat: %v", ids)
	}
	s := e.do(asker, remoting.ReqGetConsumerListByGroup, map[string]string{"consumerGroup": "g"}, nil)
	expect(t, s, remoting.ResSystemError)

	expect(t, e.do(a, remoting.ReqHeartBeat, nil, heartbeatBody("10.0.0.1@1", "g", [2]string{"t", "*"}, [2]string{"%RETRY%g", "*"})), remoting.ResSuccess)
	notified(t, a, 1)
	if ids := consumerList(t, e, asker, "g"); !slices.Equal(ids, []string{"10.0.0.1@1"}) {
		t.Fatalf("consumers %v", ids)
	}
	if tc, ok := e.b.meta.Topics.Get("%RETRY%g"); !ok || tc.WriteQueueNums != 1 || tc.Perm != 6 {
		t.Fatalf("retry topic %+v %v", tc, ok)
	}
	if _, ok := e.b.meta.Groups.Get("g"); !ok {
		t.Fatal("subscription group not auto-created")
	}
	// The same heartbeat again changes nothing.
	expect(t, e.do(a, remoting.ReqHeartBeat, nil, heartbeatBody("10.0.0.1@1", "g", [2]string{"t", "*"}, [2]string{"%RETRY%g", "*"})), remoting.ResSuccess)

	// B joins: both are told.
	expect(t, e.do(b, remoting.ReqHeartBeat, nil, heartbeatBody("10.0.0.2@2", "g", [2]string{"t", "*"}, [2]string{"%RETRY%g", "*"})), remoting.ResSuccess)
	notified(t, a, 2)
	notified(t, b, 1)
	if n := len(a.requests(remoting.ReqNotifyConsumerIdsChanged)); n != 2 {
		t.Fatalf("a notified %d times, want 2", n)
	}
	if ids := consumerList(t, e, asker, "g"); !slices.Equal(ids, []string{"10.0.0.1@1", "10.0.0.2@2"}) {
		t.Fatalf("consumers %v", ids)
	}

	// B unregisters: A is told.
	expect(t, e.do(b, remoting.ReqUnregisterClient, map[string]string{"clientID": "10.0.0.2@2", "consumerGroup": "g"}, nil), remoting.ResSuccess)
	notified(t, a, 3)
	if ids := consumerList(t, e, asker, "g"); !slices.Equal(ids, []string{"10.0.0.1@1"}) {
		t.Fatalf("consumers after unregister %v", ids)
	}

	// B comes back, then A's connection closes: B is told, A is gone.
	expect(t, e.do(b, remoting.ReqHeartBeat, nil, heartbeatBody("10.0.0.2@2", "g", [2]string{"t", "*"})), remoting.ResSuccess)
	notified(t, b, 2)
	e.b.OnDisconnect(a)
	notified(t, b, 3)
	if ids := consumerList(t, e, asker, "g"); !slices.Equal(ids, []string{"10.0.0.2@2"}) {
		t.Fatalf("consumers after close %v", ids)
	}
	e.b.OnDisconnect(b)
	if ids := consumerList(t, e, asker, "g"); ids != nil {
		t.Fatalf("consumers after everyone left %v", ids)
	}
}

func TestClientExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *engine.Options) {
		o.ChannelExpiredTimeout = 150 * time.Millisecond
		o.ClientScanInterval = 20 * time.Millisecond
	})
	a, b := newConn("10.0.0.1:1000"), newConn("10.0.0.2:1000")
	expect(t, e.do(a, remoting.ReqHeartBeat, nil, heartbeatBody("A", "g", [2]string{"t", "*"})), remoting.ResSuccess)
	expect(t, e.do(b, remoting.ReqHeartBeat, nil, heartbeatBody("B", "g", [2]string{"t", "*"})), remoting.ResSuccess)
	// B keeps heartbeating, A falls silent.
	deadline := time.Now().Add(waitLimit)
	for !a.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("silent client never expired")
		}
		expect(t, e.do(b, remoting.ReqHeartBeat, nil, heartbeatBody("B", "g", [2]string{"t", "*"})), remoting.ResSuccess)
		time.Sleep(30 * time.Millisecond)
	}
	if b.closed.Load() {
		t.Fatal("a client that heartbeats expired")
	}
	if ids := e.b.clients.consumerIDs("g"); !slices.Equal(ids, []string{"B"}) {
		t.Fatalf("consumers after expiry %v", ids)
	}
	notified(t, b, 2) // its own join, then A expiring
}

func TestHeartbeatProducersAndBadInput(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	body := []byte(`{"clientID":"p@1","producerDataSet":[{"groupName":"pg"},{"groupName":"CLIENT_INNER_PRODUCER"}],"consumerDataSet":[]}`)
	expect(t, e.do(conn, remoting.ReqHeartBeat, nil, body), remoting.ResSuccess)
	e.b.clients.mu.RLock()
	n := len(e.b.clients.producers)
	e.b.clients.mu.RUnlock()
	if n != 2 {
		t.Fatalf("%d producer groups", n)
	}
	expect(t, e.do(conn, remoting.ReqHeartBeat, nil, []byte("{not json")), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqUnregisterClient, map[string]string{"producerGroup": "pg"}, nil), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqUnregisterClient, map[string]string{"clientID": "p@1", "producerGroup": "pg"}, nil), remoting.ResSuccess)
	expect(t, e.do(conn, remoting.ReqGetConsumerListByGroup, nil, nil), remoting.ResSystemError)

	// Java's heartbeat: codeSet as numbers, extra fields.
	java := []byte(`{"clientID":"10.0.0.9@123#456","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"jg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"jt"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}`)
	expect(t, e.do(conn, remoting.ReqHeartBeat, nil, java), remoting.ResSuccess)
	sub, _, ok := e.b.clients.subscription("jg", "jt")
	if !ok || sub == nil || len(sub.codes) != 1 || sub.subVersion != 1700000000000 {
		t.Fatalf("java subscription %+v", sub)
	}

	check := e.do(conn, remoting.ReqCheckClientConfig, nil, []byte(`{"clientId":"c","group":"g","subscriptionData":{"expressionType":"SQL92","subString":"a>1","topic":"t"}}`))
	expect(t, check, remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqCheckClientConfig, nil, []byte(`{"clientId":"c","group":"g","subscriptionData":{"expressionType":"TAG","subString":"*","topic":"t"}}`)), remoting.ResSuccess)
}
