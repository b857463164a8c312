//go:build unix

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/mqtt"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Each scenario starts its own servers (broker_test.go) and drives them
// with mqtt.js and ali-ons through scripts/. Every script gets a hard
// --timeout-ms and is killed when its test ends.

// client names one MQTT connection's options.
type client struct {
	id, username, password string
	version                int // 4 (3.1.1) or 5; 0 is 5
}

func (c client) args(s *servers) []string {
	a := []string{"--url", s.mqttURL}
	if c.id != "" {
		a = append(a, "--client-id", c.id)
	}
	if c.username != "" {
		a = append(a, "--username", c.username)
	}
	if c.password != "" {
		a = append(a, "--password", c.password)
	}
	v := c.version
	if v == 0 {
		v = 5
	}
	return append(a, "--protocol-version", strconv.Itoa(v))
}

type subOpts struct {
	client
	topics []string
	qos    int
	expect int
	idleMs int
}

// startSub starts sub.js and waits for its SUBACK.
func startSub(t *testing.T, ctx context.Context, s *servers, name string, o subOpts) (*nodeProc, line) {
	t.Helper()
	args := append(o.client.args(s), "--topics", strings.Join(o.topics, ","), "--qos", strconv.Itoa(o.qos),
		"--expect", strconv.Itoa(o.expect), "--idle-ms", strconv.Itoa(o.idleMs), "--timeout-ms", "30000")
	p := startNode(t, name, "sub.js", args...)
	l := p.waitFor(ctx, "SUBACK", func(l line) bool { return l.Type == "subscribed" || l.Type == "subscribe_error" })
	return p, l
}

// mustSubscribe starts sub.js and requires every filter granted at qos.
func mustSubscribe(t *testing.T, ctx context.Context, s *servers, name string, o subOpts) *nodeProc {
	t.Helper()
	p, l := startSub(t, ctx, s, name, o)
	if l.Type != "subscribed" || len(l.Granted) != len(o.topics) {
		t.Fatalf("%s: %s", name, l)
	}
	for _, g := range l.Granted {
		if g.QoS != o.qos {
			t.Fatalf("%s: SUBACK granted %s QoS %d, asked for %d", name, g.Topic, g.QoS, o.qos)
		}
	}
	return p
}

type pubOpts struct {
	client
	topics     []string
	count      int
	qos        int
	retain     bool
	bodyPrefix string
	window     int
	userProps  map[string]string
	extra      []string
}

func startPub(t *testing.T, s *servers, name string, o pubOpts) *nodeProc {
	t.Helper()
	if o.bodyPrefix == "" {
		o.bodyPrefix = "msg"
	}
	args := append(o.client.args(s), "--topics", strings.Join(o.topics, ","), "--count", strconv.Itoa(o.count),
		"--qos", strconv.Itoa(o.qos), "--body-prefix", o.bodyPrefix, "--window", strconv.Itoa(max(o.window, 1)),
		"--timeout-ms", "30000")
	if o.retain {
		args = append(args, "--retain")
	}
	if o.userProps != nil {
		b, _ := json.Marshal(o.userProps)
		args = append(args, "--user-props", string(b))
	}
	return startNode(t, name, "pub.js", append(args, o.extra...)...)
}

// publish runs pub.js to completion and requires every publish settled.
func publish(t *testing.T, ctx context.Context, s *servers, name string, o pubOpts) []line {
	t.Helper()
	p := startPub(t, s, name, o)
	p.mustSucceed(ctx)
	sent := p.of("sent")
	if len(sent) != o.count {
		t.Fatalf("%s: %d publishes settled, want %d: %s", name, len(sent), o.count, p.describe())
	}
	return sent
}

// bodies counts the bodies of a subscriber's messages.
func bodies(p *nodeProc) map[string]int {
	m := map[string]int{}
	for _, l := range p.of("msg") {
		m[l.Body]++
	}
	return m
}

// exactlyOnce checks that got holds each of want once and nothing else.
func exactlyOnce(t *testing.T, what string, got map[string]int, want []string) {
	t.Helper()
	var missing, dup []string
	for _, w := range want {
		switch got[w] {
		case 0:
			missing = append(missing, w)
		case 1:
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", w, got[w]))
		}
	}
	var extra []string
	for b := range got {
		if !slices.Contains(want, b) {
			extra = append(extra, b)
		}
	}
	if len(missing)+len(dup)+len(extra) > 0 {
		sort.Strings(missing)
		sort.Strings(extra)
		t.Fatalf("%s: %d of %d received; missing %d %v; duplicated %v; unexpected %v", what, len(got), len(want),
			len(missing), first(missing, 10), dup, first(extra, 10))
	}
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }

func seqBodies(prefix string, n int) []string {
	b := make([]string, n)
	for i := range b {
		b[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return b
}

// TestQoSRoundTrip: an mqtt.js publisher to an mqtt.js subscriber at each
// QoS, 300 messages with 16 in flight. Every message arrives exactly once
// at the subscription's QoS; for QoS 0 too, since nothing here is lossy (a
// loss on an idle loopback would be the broker dropping messages).
func TestQoSRoundTrip(t *testing.T) {
	const n = 300
	for _, c := range []struct{ pub, sub, want int }{{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {2, 1, 1}, {1, 0, 0}} {
		t.Run(fmt.Sprintf("pub%d-sub%d", c.pub, c.sub), func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			s := startServers(t, brokerOpts{})
			topic := fmt.Sprintf("qos/p%ds%d", c.pub, c.sub)
			sub := mustSubscribe(t, ctx, s, "subscriber", subOpts{topics: []string{topic}, qos: c.sub, expect: n, idleMs: 5000})
			start := time.Now()
			publish(t, ctx, s, "publisher", pubOpts{topics: []string{topic}, count: n, qos: c.pub, window: 16})
			sub.mustSucceed(ctx)
			t.Logf("%d messages at QoS %d -> %d in %v", n, c.pub, c.sub, time.Since(start).Round(time.Millisecond))
			exactlyOnce(t, "subscriber", bodies(sub), seqBodies("msg", n))
			for _, l := range sub.of("msg") {
				if l.QoS != c.want || l.Topic != topic || l.Retain {
					t.Fatalf("delivery %s: want QoS %d on %s, not retained", l, c.want, topic)
				}
			}
		})
	}
}

// TestRetainedToLateSubscriber: the last retained message of a topic goes
// to a subscriber that arrives after it, flagged retained; a newer one
// replaces it; an empty retained message clears it.
func TestRetainedToLateSubscriber(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	s := startServers(t, brokerOpts{})
	const topic = "retain/lamp1/state"
	publish(t, ctx, s, "publisher v1", pubOpts{topics: []string{topic}, count: 1, qos: 1, retain: true, bodyPrefix: "on"})

	late := mustSubscribe(t, ctx, s, "late subscriber 1", subOpts{topics: []string{"retain/+/state"}, qos: 1, expect: 1, idleMs: 3000})
	late.mustSucceed(ctx)
	msgs := late.of("msg")
	if len(msgs) != 1 || msgs[0].Body != "on-0" || !msgs[0].Retain || msgs[0].Topic != topic {
		t.Fatalf("late subscriber 1: want one retained on-0 on %s, got %v", topic, msgs)
	}

	publish(t, ctx, s, "publisher v2", pubOpts{topics: []string{topic}, count: 1, qos: 1, retain: true, bodyPrefix: "off"})
	late2 := mustSubscribe(t, ctx, s, "late subscriber 2", subOpts{topics: []string{topic}, qos: 1, expect: 1, idleMs: 3000})
	late2.mustSucceed(ctx)
	if msgs := late2.of("msg"); len(msgs) != 1 || msgs[0].Body != "off-0" || !msgs[0].Retain {
		t.Fatalf("late subscriber 2: want only the newer retained off-0, got %v", msgs)
	}

	// An empty retained payload deletes the retained message.
	publish(t, ctx, s, "publisher clear", pubOpts{topics: []string{topic}, count: 1, qos: 1, retain: true, extra: []string{"--body", ""}})
	late3 := mustSubscribe(t, ctx, s, "late subscriber 3", subOpts{topics: []string{topic}, qos: 1})
	time.Sleep(time.Second)
	late3.stop()
	if msgs := late3.of("msg"); len(msgs) != 0 {
		t.Fatalf("late subscriber 3: the retained message was cleared, got %v", msgs)
	}
}

// TestWillOnAbnormalDisconnect: a client killed without DISCONNECT has its
// will published; one that disconnects cleanly has its will discarded.
func TestWillOnAbnormalDisconnect(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	s := startServers(t, brokerOpts{})
	sub := mustSubscribe(t, ctx, s, "watcher", subOpts{topics: []string{"will/+/status"}, qos: 1})

	willArgs := func(dev string) []string {
		return append(client{id: dev}.args(s), "--will-topic", "will/"+dev+"/status", "--will-body", dev+" offline",
			"--will-qos", "1", "--timeout-ms", "30000")
	}
	clean := startNode(t, "clean client", "will.js", willArgs("dev-clean")...)
	clean.waitType(ctx, "connected")
	abrupt := startNode(t, "killed client", "will.js", willArgs("dev-killed")...)
	abrupt.waitType(ctx, "connected")

	if code := clean.stop(); code != 0 {
		t.Fatalf("clean client: exit %d: %s", code, clean.describe())
	}
	killedAt := time.Now()
	abrupt.kill()
	got := sub.waitType(ctx, "msg")
	t.Logf("will arrived %v after SIGKILL", time.Since(killedAt).Round(time.Millisecond))
	if got.Topic != "will/dev-killed/status" || got.Body != "dev-killed offline" || got.QoS != 1 {
		t.Fatalf("will: got %s", got)
	}
	time.Sleep(time.Second) // room for a wrongly published will of the clean client
	sub.stop()
	if msgs := sub.of("msg"); len(msgs) != 1 {
		t.Fatalf("watcher: want only the killed client's will, got %v", msgs)
	}
}

// TestWildcards: + matches one level, # any number including none.
func TestWildcards(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	s := startServers(t, brokerOpts{})
	plus := mustSubscribe(t, ctx, s, "sub +", subOpts{topics: []string{"home/+/temp"}, qos: 1})
	hash := mustSubscribe(t, ctx, s, "sub #", subOpts{topics: []string{"home/#"}, qos: 1})
	topics := []string{"home/room1/temp", "home/room2/temp", "home/room1/humidity", "home/room1/temp/raw", "home", "office/room1/temp"}
	sent := publish(t, ctx, s, "publisher", pubOpts{topics: topics, count: len(topics), qos: 1})
	byTopic := map[string]string{}
	for _, l := range sent {
		byTopic[l.Topic] = l.Body
	}
	want := func(ts ...string) []string {
		var b []string
		for _, tp := range ts {
			b = append(b, byTopic[tp])
		}
		return b
	}
	wantPlus := want("home/room1/temp", "home/room2/temp")
	wantHash := want("home/room1/temp", "home/room2/temp", "home/room1/humidity", "home/room1/temp/raw", "home")
	for _, c := range []struct {
		p    *nodeProc
		want []string
	}{{plus, wantPlus}, {hash, wantHash}} {
		c.p.waitFor(ctx, "all matching messages", func(line) bool { return len(c.p.of("msg")) >= len(c.want) })
	}
	time.Sleep(500 * time.Millisecond) // room for a wrong extra delivery
	plus.stop()
	hash.stop()
	exactlyOnce(t, "home/+/temp", bodies(plus), wantPlus)
	exactlyOnce(t, "home/#", bodies(hash), wantHash)
	for _, p := range []*nodeProc{plus, hash} {
		for _, l := range p.of("msg") {
			if byTopic[l.Topic] != l.Body {
				t.Fatalf("%s: %s arrived on the wrong topic", p.name, l)
			}
		}
	}
}

// TestSharedSubscription: two members of $share/g/... split the messages,
// each message to one of them.
func TestSharedSubscription(t *testing.T) {
	const n = 200
	ctx := testContext(t, 60*time.Second)
	s := startServers(t, brokerOpts{})
	filter := "$share/workers/jobs/#"
	a := mustSubscribe(t, ctx, s, "member a", subOpts{topics: []string{filter}, qos: 1})
	b := mustSubscribe(t, ctx, s, "member b", subOpts{topics: []string{filter}, qos: 1})
	publish(t, ctx, s, "publisher", pubOpts{topics: []string{"jobs/resize", "jobs/encode"}, count: n, qos: 1, window: 8})
	a.waitFor(ctx, "every message in the group", func(line) bool { return len(a.of("msg"))+len(b.of("msg")) >= n })
	time.Sleep(500 * time.Millisecond) // room for a wrong second delivery
	a.stop()
	b.stop()
	ga, gb := bodies(a), bodies(b)
	all := map[string]int{}
	for _, m := range []map[string]int{ga, gb} {
		for k, v := range m {
			all[k] += v
		}
	}
	t.Logf("member a got %d, member b got %d", len(a.of("msg")), len(b.of("msg")))
	exactlyOnce(t, "the group", all, seqBodies("msg", n))
	if len(ga) == 0 || len(gb) == 0 {
		t.Fatalf("one member got everything (a %d, b %d): the group does not share", len(ga), len(gb))
	}
}

// TestUserPropertiesRoundTrip: MQTT 5 user properties and content type
// reach an MQTT 5 subscriber unchanged; an MQTT 3.1.1 subscriber gets the
// same message without them. A user property with an empty value, which a
// RocketMQ message cannot carry, is refused with 0x83 rather than dropped.
func TestUserPropertiesRoundTrip(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	s := startServers(t, brokerOpts{})
	v5 := mustSubscribe(t, ctx, s, "v5 subscriber", subOpts{topics: []string{"props/#"}, qos: 1, expect: 1, idleMs: 3000})
	v4 := mustSubscribe(t, ctx, s, "v3.1.1 subscriber", subOpts{client: client{version: 4}, topics: []string{"props/#"}, qos: 1, expect: 1, idleMs: 3000})
	props := map[string]string{"trace-id": "4bf92f3577b34da6", "unit": "°C", "site": "north/2"}
	publish(t, ctx, s, "publisher", pubOpts{topics: []string{"props/t1"}, count: 1, qos: 1, userProps: props,
		extra: []string{"--content-type", "text/plain"}})
	v5.mustSucceed(ctx)
	v4.mustSucceed(ctx)
	m5 := v5.of("msg")
	if len(m5) != 1 {
		t.Fatalf("v5 subscriber: %v", m5)
	}
	var got map[string]string
	if err := json.Unmarshal(m5[0].UserProperties, &got); err != nil || !reflect.DeepEqual(got, props) {
		t.Fatalf("user properties: got %s (%v), want %v", m5[0].UserProperties, err, props)
	}
	if m5[0].ContentType != "text/plain" || m5[0].Body != "msg-0" {
		t.Fatalf("v5 delivery: %s", m5[0])
	}
	m4 := v4.of("msg")
	if len(m4) != 1 || m4[0].Body != "msg-0" || string(m4[0].UserProperties) != "null" {
		t.Fatalf("v3.1.1 subscriber: %v", m4)
	}

	empty := startPub(t, s, "publisher with an empty property", pubOpts{topics: []string{"props/t2"}, count: 1, qos: 1,
		userProps: map[string]string{"flag": ""}})
	if code := empty.wait(ctx); code != 2 {
		t.Fatalf("publish with an empty user property value: exit %d, want 2 (refused): %s", code, empty.describe())
	}
	if pe := empty.of("publish_error"); len(pe) != 1 || pe[0].Error.code() != 0x83 {
		t.Fatalf("publish with an empty user property value: want PUBACK 0x83, got %v", pe)
	}
}

// TestAuthDenied: with an auth file, bad credentials are refused at
// CONNECT, and a user's publish and subscribe outside its rules are
// refused with MQTT 5 reason codes while its allowed traffic flows.
func TestAuthDenied(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	hash := func(pw string) string {
		h, err := mqtt.HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	file := filepath.Join(t.TempDir(), "mqtt-auth")
	rules := fmt.Sprintf(`# interop users
user alice %s
rules user alice
allow both sensors/%%u/#

user admin %s
rules user admin
allow both #
`, hash("alice-pw"), hash("admin-pw"))
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServers(t, brokerOpts{authFile: file})
	alice := client{username: "alice", password: "alice-pw"}
	admin := client{username: "admin", password: "admin-pw"}

	for _, c := range []struct {
		name string
		cl   client
		want int
	}{
		{"wrong password v5", client{username: "alice", password: "nope"}, 134},
		{"unknown user v5", client{username: "mallory", password: "x"}, 134},
		{"wrong password v3.1.1", client{username: "alice", password: "nope", version: 4}, 5},
	} {
		p := startPub(t, s, c.name, pubOpts{client: c.cl, topics: []string{"sensors/alice/t"}, count: 1, qos: 1})
		if code := p.wait(ctx); code != 1 {
			t.Fatalf("%s: exit %d, want 1 (refused): %s", c.name, code, p.describe())
		}
		l := p.waitType(ctx, "connect_error")
		if l.Error.code() != c.want {
			t.Fatalf("%s: CONNACK code %d, want %d: %s", c.name, l.Error.code(), c.want, l)
		}
	}

	watcher := mustSubscribe(t, ctx, s, "admin watcher", subOpts{client: admin, topics: []string{"#"}, qos: 1})
	_, l := startSub(t, ctx, s, "alice subscribing outside her tree", subOpts{client: alice, topics: []string{"secret/#"}, qos: 1})
	if l.Type != "subscribe_error" || len(l.Granted) != 1 || l.Granted[0].QoS != 135 {
		t.Fatalf("alice's subscription to secret/#: want SUBACK 0x87 (135), got %s", l)
	}
	denied := startPub(t, s, "alice publishing outside her tree", pubOpts{client: alice, topics: []string{"secret/x"}, count: 1, qos: 1,
		bodyPrefix: "leak"})
	if code := denied.wait(ctx); code != 2 {
		t.Fatalf("alice's publish to secret/x: exit %d, want 2 (refused): %s", code, denied.describe())
	}
	if pe := denied.of("publish_error"); len(pe) != 1 || pe[0].Error.code() != 135 {
		t.Fatalf("alice's publish to secret/x: want PUBACK 0x87 (135), got %v", pe)
	}
	publish(t, ctx, s, "alice publishing in her tree", pubOpts{client: alice, topics: []string{"sensors/alice/temp"}, count: 1, qos: 1,
		bodyPrefix: "ok"})
	watcher.waitFor(ctx, "alice's allowed message", func(l line) bool { return l.Type == "msg" && l.Body == "ok-0" })
	time.Sleep(300 * time.Millisecond)
	watcher.stop()
	for _, l := range watcher.of("msg") {
		if l.Body != "ok-0" {
			t.Fatalf("admin watcher received a message that was refused: %s", l)
		}
	}
}

// --- cross-protocol ---------------------------------------------------------------

// createTopic creates a RocketMQ topic on the broker (UPDATE_AND_CREATE_TOPIC)
// and waits until the name server routes it: ali-ons needs the route.
func createTopic(t *testing.T, ctx context.Context, s *servers, topic string) {
	t.Helper()
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	resp, err := cl.Invoke(ctx, s.broker, &remoting.Command{Code: remoting.ReqUpdateAndCreateTopic, Language: "GO",
		ExtFields: map[string]string{"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "4", "writeQueueNums": "4",
			"perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}})
	if err != nil || resp.Code != remoting.ResSuccess {
		t.Fatalf("create topic %s: %v %+v", topic, err, resp)
	}
	for {
		resp, err := cl.Invoke(ctx, s.namesrv, &remoting.Command{Code: remoting.ReqGetRouteinfoByTopic, Language: "GO",
			ExtFields: map[string]string{"topic": topic}})
		if err == nil && resp.Code == remoting.ResSuccess {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s never routed: %v", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestMQTTToRocketMQ: mqtt.js publishes to sensors/room1/temp; an ali-ons
// consumer of RocketMQ topic sensors receives each message with its body
// intact, the MQTT topic in property MQTT_TOPIC and its second level as
// the tag; an MQTT 5 user property arrives as a message property.
func TestMQTTToRocketMQ(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	s := startServers(t, brokerOpts{})
	createTopic(t, ctx, s, "sensors")
	cons := startNode(t, "ali-ons consumer", "ons_consume.js", "--namesrv", s.namesrv, "--topic", "sensors",
		"--group", "MqttInteropGroup", "--expect", "4", "--timeout-ms", "60000")
	cons.waitType(ctx, "ready")
	publish(t, ctx, s, "mqtt.js publisher", pubOpts{topics: []string{"sensors/room1/temp"}, count: 3, qos: 1, bodyPrefix: "21.5C"})
	publish(t, ctx, s, "mqtt.js publisher with a user property", pubOpts{topics: []string{"sensors/room1/temp"}, count: 1, qos: 1,
		bodyPrefix: "with-unit", userProps: map[string]string{"unit": "celsius"}})
	cons.mustSucceed(ctx)
	exactlyOnce(t, "ali-ons consumer", bodies(cons), append(seqBodies("21.5C", 3), "with-unit-0"))
	for _, l := range cons.of("msg") {
		if l.Topic != "sensors" {
			t.Fatalf("ali-ons delivery on RocketMQ topic %q, want sensors: %s", l.Topic, l)
		}
		if l.Properties[mqttTopicProperty] != "sensors/room1/temp" {
			t.Fatalf("ali-ons delivery: property %s is not the MQTT topic sensors/room1/temp: %s", mqttTopicProperty, l)
		}
		if l.Tags != "room1" {
			t.Fatalf("ali-ons delivery: tag %q, want room1 (the MQTT topic's second level): %s", l.Tags, l)
		}
		if l.Body == "with-unit-0" && l.Properties["unit"] != "celsius" {
			t.Fatalf("ali-ons delivery: the MQTT 5 user property unit=celsius is not a message property: %s", l)
		}
	}
}

// TestRocketMQToMQTT: ali-ons producers send to RocketMQ topic sensors;
// an mqtt.js subscriber of sensors/# receives each on the MQTT topic the
// front end documents: the MQTT_TOPIC property when set, else the topic
// and the tag as a second level, else the topic alone. Other properties
// arrive as MQTT 5 user properties.
func TestRocketMQToMQTT(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	s := startServers(t, brokerOpts{})
	createTopic(t, ctx, s, "sensors")
	sub := mustSubscribe(t, ctx, s, "mqtt.js subscriber", subOpts{topics: []string{"sensors/#"}, qos: 1, expect: 4, idleMs: 10000})
	ons := func(name string, args ...string) {
		p := startNode(t, name, "ons_produce.js", append([]string{"--namesrv", s.namesrv, "--topic", "sensors", "--timeout-ms", "30000"}, args...)...)
		p.mustSucceed(ctx)
	}
	ons("ali-ons producer, MQTT_TOPIC", "--props", `{"`+mqttTopicProperty+`":"sensors/room2/humidity","unit":"pct"}`,
		"--count", "2", "--body-prefix", "48%")
	ons("ali-ons producer, tag", "--tag", "room3", "--body-prefix", "tagged")
	ons("ali-ons producer, plain", "--body-prefix", "plain")
	sub.mustSucceed(ctx)
	exactlyOnce(t, "mqtt.js subscriber", bodies(sub), []string{"48%-0", "48%-1", "tagged-0", "plain-0"})
	wantTopic := map[string]string{"48%-0": "sensors/room2/humidity", "48%-1": "sensors/room2/humidity",
		"tagged-0": "sensors/room3", "plain-0": "sensors"}
	for _, l := range sub.of("msg") {
		if l.Topic != wantTopic[l.Body] {
			t.Fatalf("mqtt.js delivery of %s on %q, want %s: %s", l.Body, l.Topic, wantTopic[l.Body], l)
		}
		if strings.HasPrefix(l.Body, "48%") {
			var up map[string]string
			if err := json.Unmarshal(l.UserProperties, &up); err != nil || up["unit"] != "pct" {
				t.Fatalf("mqtt.js delivery of %s: user properties %s, want unit=pct", l.Body, l.UserProperties)
			}
		}
	}
}

// mqttTopicProperty is the RocketMQ message property that carries the full
// MQTT topic (docs/mqtt.md).
const mqttTopicProperty = mqtt.PropTopic
