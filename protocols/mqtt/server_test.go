package mqtt

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestQoSRoundTrip(t *testing.T) {
	e := startEnv(t, engine.SyncFlush, nil)
	sub := client(t, e.addr, "sub", true, nil)
	in := newInbox()
	await(t, sub.Subscribe("rt/#", 2, in.handler), "subscribe")
	pub := client(t, e.addr, "pub", true, nil)
	for qos := byte(0); qos <= 2; qos++ {
		await(t, pub.Publish(fmt.Sprintf("rt/q%d", qos), qos, false, fmt.Sprintf("payload %d", qos)), "publish")
	}
	msgs := in.waitN(t, 3)
	slices.SortFunc(msgs, func(a, b got) int { return strings.Compare(a.topic, b.topic) })
	for i, m := range msgs {
		if m.topic != fmt.Sprintf("rt/q%d", i) || m.payload != fmt.Sprintf("payload %d", i) || m.qos != byte(i) || m.retained {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	// A subscription at QoS 1 caps a QoS 2 publish [MQTT-3.8.4-8].
	low := newInbox()
	await(t, sub.Subscribe("cap/x", 1, low.handler), "subscribe")
	await(t, pub.Publish("cap/x", 2, false, "two"), "publish")
	if m := low.waitN(t, 1)[0]; m.qos != 1 || m.payload != "two" {
		t.Errorf("capped delivery: %+v", m)
	}
}

func TestWildcards(t *testing.T) {
	e := startEnv(t, engine.AsyncFlush, nil)
	sub := client(t, e.addr, "sub", true, nil)
	plus, hash, first := newInbox(), newInbox(), newInbox()
	await(t, sub.Subscribe("w/+/temp", 1, plus.handler), "subscribe +")
	await(t, sub.Subscribe("w/#", 1, hash.handler), "subscribe #")
	pub := client(t, e.addr, "pub", true, nil)
	topics := []string{"w/a/temp", "w/b/temp", "w/a/humidity", "w", "w/a/temp/deep", "other/a/temp"}
	for _, tp := range topics {
		await(t, pub.Publish(tp, 1, false, tp), "publish "+tp)
	}
	// A first-level wildcard reads every topic, including one created
	// after the subscription.
	await(t, sub.Subscribe("+/a/temp", 1, first.handler), "subscribe first-level +")
	await(t, pub.Publish("late/a/temp", 1, false, "late"), "publish late")
	await(t, pub.Publish("w/a/temp", 1, false, "again"), "publish again")

	got := func(b *inbox, n int) []string {
		var out []string
		for _, m := range b.waitN(t, n) {
			out = append(out, m.topic+"="+m.payload)
		}
		time.Sleep(200 * time.Millisecond) // nothing more may come
		if extra := len(b.snapshot()); extra != n {
			t.Errorf("received %d messages, want exactly %d", extra, n)
		}
		slices.Sort(out)
		return out
	}
	if g, w := got(plus, 3), []string{"w/a/temp=again", "w/a/temp=w/a/temp", "w/b/temp=w/b/temp"}; !slices.Equal(g, w) {
		t.Errorf("w/+/temp got %v, want %v", g, w)
	}
	if g := got(hash, 6); len(g) != 6 || !slices.Contains(g, "w=w") || !slices.Contains(g, "w/a/temp/deep=w/a/temp/deep") {
		t.Errorf("w/# got %v", g)
	}
	if g, w := got(first, 2), []string{"late/a/temp=late", "w/a/temp=again"}; !slices.Equal(g, w) {
		t.Errorf("+/a/temp got %v, want %v", g, w)
	}
}

func TestMatchFilter(t *testing.T) {
	f := func(filter, topic string, want bool) {
		t.Helper()
		if got := matchFilter(filter, []byte(topic)); got != want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", filter, topic, got, want)
		}
	}
	f("a/b", "a/b", true)
	f("a/b", "a/c", false)
	f("a/+", "a/b", true)
	f("a/+", "a/b/c", false)
	f("a/+", "a/", true)
	f("a/#", "a", true)
	f("a/#", "a/b/c", true)
	f("#", "a/b", true)
	f("#", "$SYS/x", false)
	f("+/b", "$x/b", false)
	f("$SYS/#", "$SYS/x", true)
	f("+/+", "/x", true)
	f("a/b", "a/b/c", false)
	f("a/b/c", "a/b", false)
	f("+", "a", true)
	f("+", "a/b", false)
	f("a/+/#", "a/b", true)
}

func TestRetained(t *testing.T) {
	e := startEnv(t, engine.SyncFlush, nil)
	pub := client(t, e.addr, "pub", true, nil)
	// The QoS 1 PUBACK, on the same connection, also vouches for the QoS 0 publish before it.
	await(t, pub.Publish("ret/b", 0, true, "kept b"), "publish retained qos 0")
	await(t, pub.Publish("ret/a", 1, true, "kept"), "publish retained")

	sub := client(t, e.addr, "sub1", true, nil)
	in := newInbox()
	await(t, sub.Subscribe("ret/#", 1, in.handler), "subscribe")
	msgs := in.waitN(t, 2)
	slices.SortFunc(msgs, func(a, b got) int { return strings.Compare(a.topic, b.topic) })
	if !msgs[0].retained || msgs[0].payload != "kept" || !msgs[1].retained || msgs[1].payload != "kept b" {
		t.Fatalf("retained messages: %+v", msgs)
	}
	// A live publish is not flagged retained for existing subscribers [MQTT-3.3.1-9].
	await(t, pub.Publish("ret/a", 1, true, "newer"), "publish retained again")
	if m := in.waitN(t, 3)[2]; m.retained || m.payload != "newer" {
		t.Errorf("live delivery of a retained publish: %+v", m)
	}
	// An empty retained payload clears it.
	await(t, pub.Publish("ret/a", 1, true, ""), "clear retained")
	sub2 := client(t, e.addr, "sub2", true, nil)
	in2 := newInbox()
	await(t, sub2.Subscribe("ret/#", 1, in2.handler), "subscribe")
	msgs = in2.waitN(t, 1)
	time.Sleep(300 * time.Millisecond)
	if msgs = in2.snapshot(); len(msgs) != 1 || msgs[0].topic != "ret/b" {
		t.Errorf("after clearing ret/a, a new subscriber got %+v", msgs)
	}
}

func TestWillOnAbnormalDisconnect(t *testing.T) {
	e := startEnv(t, engine.SyncFlush, nil)
	sub := client(t, e.addr, "sub", true, nil)
	in := newInbox()
	await(t, sub.Subscribe("wills/#", 1, in.handler), "subscribe")

	// A normal DISCONNECT publishes no will.
	polite := dialRaw(t, e.addr)
	polite.connect("polite", 4, &packets.Packet{TopicName: "wills/polite", Payload: []byte("gone"), FixedHeader: packets.FixedHeader{Qos: 1}})
	polite.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	polite.expectClosed()

	r := dialRaw(t, e.addr)
	r.connect("dev1", 4, &packets.Packet{TopicName: "wills/dev1", Payload: []byte("offline"), FixedHeader: packets.FixedHeader{Qos: 1}})
	r.conn.Close() // no DISCONNECT
	m := in.waitN(t, 1)[0]
	if m.topic != "wills/dev1" || m.payload != "offline" {
		t.Fatalf("will: %+v", m)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(in.snapshot()); n != 1 {
		t.Errorf("received %d wills, want 1 (none for the normal disconnect)", n)
	}
	// The will is a stored message like any other.
	var total int64
	for q := int32(0); q < DefaultTopicQueues; q++ {
		total += e.store.MaxOffset("wills", q)
	}
	if total != 1 {
		t.Errorf("topic wills holds %d messages, want 1", total)
	}
}

func TestSharedSubscription(t *testing.T) {
	e := startEnv(t, engine.AsyncFlush, nil)
	a, b := newInbox(), newInbox()
	ca := client(t, e.addr, "member-a", true, nil)
	cb := client(t, e.addr, "member-b", true, nil)
	await(t, ca.Subscribe("$share/g/sensors/#", 1, a.handler), "subscribe a")
	await(t, cb.Subscribe("$share/g/sensors/#", 1, b.handler), "subscribe b")
	pub := client(t, e.addr, "pub", true, nil)
	const n = 400
	for i := 0; i < n; i++ {
		await(t, pub.Publish(fmt.Sprintf("sensors/room%d/temp", i%7), 1, false, payloadOf(i)), "publish")
	}
	deadline := time.Now().Add(waitFor)
	for len(a.snapshot())+len(b.snapshot()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range append(a.snapshot(), b.snapshot()...) {
		seen[m.payload]++
	}
	for i := 0; i < n; i++ {
		if c := seen[payloadOf(i)]; c != 1 {
			t.Errorf("message %d delivered %d times to the group, want exactly once", i, c)
		}
	}
	na, nb := len(a.snapshot()), len(b.snapshot())
	if na == 0 || nb == 0 {
		t.Errorf("one member got nothing: a=%d b=%d", na, nb)
	}
	t.Logf("member a %d, member b %d messages", na, nb)
	// The group's position is a RocketMQ consumer group's offsets.
	var committed int64
	for q := int32(0); q < DefaultTopicQueues; q++ {
		off, _ := e.store.Meta().Offsets.Query(groupName("g"), "sensors", q)
		committed += off
	}
	if committed != n {
		t.Errorf("group %s committed %d messages, want %d", groupName("g"), committed, n)
	}
}

// TestSlowSubscriber holds a QoS 1 subscriber still while 20,000 messages
// are published and acknowledged, a backlog more than twice what bare
// mochi buffers (8,192 pending writes) before dropping. Released, it must
// receive every one, in order, through a window of 4.
func TestSlowSubscriber(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	e := startEnv(t, engine.AsyncFlush, func(o *Options) { o.ReceiveMaximum = 4 })
	release := make(chan struct{})
	in := newInbox()
	sub := client(t, e.addr, "slow", true, nil)
	await(t, sub.Subscribe("slow/data", 1, func(c paho.Client, m paho.Message) {
		<-release // the first message blocks paho's router until released
		in.handler(c, m)
	}), "subscribe")

	pub := client(t, e.addr, "fast", true, nil)
	start := time.Now()
	toks := make([]paho.Token, 0, 256)
	for i := 0; i < n; i++ {
		toks = append(toks, pub.Publish("slow/data", 1, false, payloadOf(i)))
		if len(toks) == cap(toks) || i == n-1 {
			for _, tok := range toks {
				await(t, tok, "publish")
			}
			toks = toks[:0]
		}
	}
	published := time.Since(start)
	backlog := n - len(in.snapshot())
	close(release)

	deadline := time.Now().Add(60 * time.Second)
	for len(in.snapshot()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	msgs := in.snapshot()
	if len(msgs) != n {
		t.Fatalf("slow subscriber received %d of %d acknowledged messages", len(msgs), n)
	}
	for i, m := range msgs {
		if m.payload != payloadOf(i) {
			t.Fatalf("message %d is %q: out of order or missing", i, m.payload)
		}
	}
	t.Logf("%d QoS 1 messages acknowledged in %v with a backlog of %d at the subscriber; all received in order in %v",
		n, published.Round(time.Millisecond), backlog, time.Since(start).Round(time.Millisecond))
}

// TestCrossProtocol: a message stored the RocketMQ way (no MQTT property,
// a tag) reaches MQTT subscribers as <topic>/<tag>; one naming its MQTT
// topic reaches them under it; an MQTT publish is a RocketMQ message of
// the first-level topic.
func TestCrossProtocol(t *testing.T) {
	e := startEnv(t, engine.SyncFlush, nil)
	sub := client(t, e.addr, "sub", true, nil)
	in := newInbox()
	await(t, sub.Subscribe("sensors/#", 1, in.handler), "subscribe")
	pub := client(t, e.addr, "pub", true, nil)
	await(t, pub.Publish("sensors/room1/temp", 1, false, "21.5"), "publish")
	in.waitN(t, 1)

	// What a RocketMQ consumer of "sensors" pulls.
	tc, ok := e.store.Meta().Topics.Get("sensors")
	if !ok {
		t.Fatal("topic sensors was not created")
	}
	var found []message.Record
	var res engine.GetResult
	for q := int32(0); q < tc.ReadQueueNums; q++ {
		e.store.GetMessages(&engine.GetRequest{Topic: "sensors", QueueID: q, MaxMessages: 32}, &res)
		for _, raw := range res.Messages {
			rec, err := message.Parse(append([]byte(nil), raw...), true)
			if err != nil {
				t.Fatal(err)
			}
			found = append(found, rec)
		}
		res.Release()
	}
	if len(found) != 1 {
		t.Fatalf("topic sensors holds %d messages, want 1", len(found))
	}
	rec := found[0]
	props := message.ParseProperties(rec.Properties())
	want := map[string]string{"MQTT_TOPIC": "sensors/room1/temp", "MQTT_QOS": "1", "TAGS": "room1", "MQTT_CLIENT": "pub"}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("property %s = %q, want %q (all: %v)", k, props[k], v, props)
		}
	}
	if len(props["UNIQ_KEY"]) != 32 {
		t.Errorf("UNIQ_KEY %q is not a 32-digit message id", props["UNIQ_KEY"])
	}
	if string(rec.Body()) != "21.5" || rec.QueueID() >= tc.WriteQueueNums || rec.BornTimestamp() == 0 {
		t.Errorf("record: body %q queue %d of %d born %d", rec.Body(), rec.QueueID(), tc.WriteQueueNums, rec.BornTimestamp())
	}
	if props["MQTT_RETAIN"] != "" {
		t.Errorf("a non-retained publish has MQTT_RETAIN=%q", props["MQTT_RETAIN"])
	}

	// A RocketMQ producer's message: tag room9, a user property, no MQTT_*.
	appendRocket := func(props string, body string) {
		t.Helper()
		r := &engine.Request{Msgs: []message.Message{{Topic: "sensors", QueueID: 3, Body: []byte(body), Properties: []byte(props)}}}
		if st := e.store.Append(r); st != engine.StatusOK {
			t.Fatalf("append: %v %v", st, r.Err)
		}
	}
	p := message.AppendProperty(nil, "UNIQ_KEY", "AC11000100002A9F0000000000000001")
	p = message.AppendProperty(p, "TAGS", "room9")
	p = message.AppendProperty(p, "KEYS", "k1")
	p = message.AppendProperty(p, "color", "blue")
	appendRocket(string(p), "from rocketmq")
	p = message.AppendProperty(nil, "UNIQ_KEY", "AC11000100002A9F0000000000000002")
	p = message.AppendProperty(p, PropTopic, "sensors/room2/humidity")
	appendRocket(string(p), "addressed")
	msgs := in.waitN(t, 3)
	if m := msgs[1]; m.topic != "sensors/room9" || m.payload != "from rocketmq" || m.qos != 1 {
		t.Errorf("tag-mapped RocketMQ message: %+v", m)
	}
	if m := msgs[2]; m.topic != "sensors/room2/humidity" || m.payload != "addressed" {
		t.Errorf("MQTT_TOPIC-addressed RocketMQ message: %+v", m)
	}
}

func TestMalformedAndOversized(t *testing.T) {
	e := startEnv(t, engine.AsyncFlush, func(o *Options) { o.MaxPayload = 1024 })
	sub := client(t, e.addr, "bystander", true, nil)
	in := newInbox()
	await(t, sub.Subscribe("ok/#", 1, in.handler), "subscribe")
	pub := client(t, e.addr, "pub", true, nil)
	check := func(i int) {
		t.Helper()
		await(t, pub.Publish("ok/x", 1, false, payloadOf(i)), "publish after abuse")
		if m := in.waitN(t, i+1)[i]; m.payload != payloadOf(i) {
			t.Fatalf("after abuse %d: %+v", i, m)
		}
	}

	// Garbage instead of CONNECT.
	g := dialRaw(t, e.addr)
	g.conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	g.expectClosed()
	check(0)

	// A valid CONNECT, then a packet of a reserved type.
	m := dialRaw(t, e.addr)
	m.connect("malformed", 4, nil)
	m.conn.Write([]byte{0xF0, 0x00})
	m.expectClosed()
	check(1)

	// A remaining length that never ends (5 continuation bytes).
	l := dialRaw(t, e.addr)
	l.connect("badlen", 4, nil)
	l.conn.Write([]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	l.expectClosed()
	check(2)

	// Oversized payload, MQTT 3.1.1: the connection is closed.
	big := dialRaw(t, e.addr)
	big.connect("big3", 4, nil)
	big.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1,
		TopicName: "ok/big", Payload: make([]byte, 2048)})
	for _, pk := range big.expectClosed() {
		if pk.FixedHeader.Type == packets.Puback {
			t.Error("an oversized publish was acknowledged")
		}
	}
	check(3)

	// Oversized payload, MQTT 5: DISCONNECT 0x95 Packet too large.
	big5 := dialRaw(t, e.addr)
	big5.connect("big5", 5, nil)
	big5.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1,
		TopicName: "ok/big", Payload: make([]byte, 2048)})
	pks := big5.expectClosed()
	if len(pks) == 0 || pks[len(pks)-1].FixedHeader.Type != packets.Disconnect || pks[len(pks)-1].ReasonCode != packets.ErrPacketTooLarge.Code {
		t.Errorf("MQTT 5 oversized publish: got %+v, want DISCONNECT 0x95", pks)
	}
	check(4)

	// Way past mochi's own bound: dropped while reading the header.
	huge := dialRaw(t, e.addr)
	huge.connect("huge", 4, nil)
	huge.conn.Write([]byte{0x30, 0x80, 0x80, 0x80, 0x7F}) // 256 MiB announced
	huge.expectClosed()
	check(5)
	for _, want := range []string{"publish too large", "huge"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("no log line mentions %q", want)
		}
	}
	if n := len(in.snapshot()); n != 6 {
		t.Errorf("bystander got %d messages, want 6 (nothing oversized)", n)
	}
}

func TestReadOnly(t *testing.T) {
	e := startEnv(t, engine.AsyncFlush, func(o *Options) { o.ReadOnly = true })
	sub := client(t, e.addr, "reader", true, nil)
	await(t, sub.Subscribe("ro/#", 1, func(paho.Client, paho.Message) {}), "a read-only broker still accepts subscriptions")

	r5 := dialRaw(t, e.addr)
	r5.connect("v5", 5, nil)
	r5.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7, TopicName: "ro/x", Payload: []byte("no")})
	ack, err := r5.read()
	if err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 7 || ack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Errorf("MQTT 5 publish to a read-only broker: %+v %v, want PUBACK 0x87", ack, err)
	}

	r3 := dialRaw(t, e.addr)
	r3.connect("v3", 4, nil)
	r3.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 8, TopicName: "ro/x", Payload: []byte("no")})
	for _, pk := range r3.expectClosed() {
		if pk.FixedHeader.Type == packets.Puback {
			t.Error("an MQTT 3.1.1 publish to a read-only broker was acknowledged")
		}
	}
	if _, ok := e.store.Meta().Topics.Get("ro"); ok {
		t.Error("a read-only broker created a topic")
	}
	if !strings.Contains(e.logs.String(), "read-only") {
		t.Error("no log line for the refused publish")
	}
}

func TestAnonymousNeedsLoopback(t *testing.T) {
	st := testStore(t, t.TempDir(), engine.AsyncFlush, new(atomic.Pointer[func()]), io.Discard)
	defer st.Close()
	o := DefaultOptions()
	o.Addr = "0.0.0.0:0"
	if _, err := Start(o, st); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Fatalf("start on all interfaces without an auth file: %v, want a refusal", err)
	}
	o.AllowAnonymous = true
	srv, err := Start(o, st)
	if err != nil {
		t.Fatalf("start with anonymous access enabled: %v", err)
	}
	srv.Close()
}

// TestMQTT5PropertiesAndReceiveMaximum: MQTT 5 user properties and
// content type go through the store to an MQTT 5 subscriber, and a
// subscriber announcing receive maximum 2 never has more than 2
// un-acknowledged deliveries, yet gets every message once it acknowledges.
func TestMQTT5PropertiesAndReceiveMaximum(t *testing.T) {
	e := startEnv(t, engine.AsyncFlush, nil)
	sub := dialRaw(t, e.addr)
	sub.v = 5
	sub.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect:     packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "v5sub"},
		Properties:  packets.Properties{ReceiveMaximum: 2},
	})
	if ack, err := sub.read(); err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("connack: %+v %v", ack, err)
	}
	sub.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "v5/#", Qos: 1}}})
	if ack, err := sub.read(); err != nil || ack.FixedHeader.Type != packets.Suback {
		t.Fatalf("suback: %+v %v", ack, err)
	}

	pub := dialRaw(t, e.addr)
	pub.connect("v5pub", 5, nil)
	const n = 6
	for i := 0; i < n; i++ {
		pub.write(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: uint16(i + 1),
			TopicName: "v5/t", Payload: []byte(payloadOf(i)),
			Properties: packets.Properties{ContentType: "text/plain", User: []packets.UserProperty{{Key: "unit", Val: "celsius"}}},
		})
		if ack, err := pub.read(); err != nil || ack.FixedHeader.Type != packets.Puback || ack.ReasonCode >= 0x80 {
			t.Fatalf("puback %d: %+v %v", i, ack, err)
		}
	}

	// Read without acknowledging: exactly 2 arrive, then nothing.
	var pending []packets.Packet
	for len(pending) < 2 {
		pk, err := sub.read()
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, pk)
	}
	sub.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := sub.r.Peek(1); err == nil {
		t.Fatalf("a third delivery arrived past receive maximum 2 (first byte %#x)", b[0])
	}
	var payloads []string
	for got := 0; got < n; {
		pk := pending[0]
		pending = pending[1:]
		if pk.FixedHeader.Type != packets.Publish {
			t.Fatalf("unexpected %+v", pk.FixedHeader)
		}
		if pk.Properties.ContentType != "text/plain" || len(pk.Properties.User) != 1 || pk.Properties.User[0] != (packets.UserProperty{Key: "unit", Val: "celsius"}) {
			t.Errorf("MQTT 5 properties lost: %+v", pk.Properties)
		}
		payloads = append(payloads, string(pk.Payload))
		got++
		sub.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		if got+len(pending) < n {
			next, err := sub.read()
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, next)
		}
	}
	for i, p := range payloads {
		if p != payloadOf(i) {
			t.Fatalf("delivery %d is %q", i, p)
		}
	}
}
