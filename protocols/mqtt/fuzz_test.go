package mqtt

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine/message"
)

// FuzzParseStored feeds arbitrary properties strings and RocketMQ topics
// to the decoder of stored messages: it must not panic, must return views
// into its input, and an accepted topic must be a valid MQTT topic name.
func FuzzParseStored(f *testing.F) {
	f.Add([]byte("UNIQ_KEY\x01AB\x02MQTT_TOPIC\x01a/b\x02MQTT_QOS\x012\x02color\x01red\x02"), []byte("a"))
	f.Add([]byte("TAGS\x01room1\x02"), []byte("sensors"))
	f.Add([]byte("\x01\x02\x02MQTT_QOS\x019\x02MQTT_EXPIRE_AT\x01-5\x02MQTT_PAYLOAD_FORMAT\x01"), []byte("x"))
	f.Add([]byte("TAGS\x01a+b\x02"), []byte("t"))
	f.Fuzz(func(t *testing.T, props, topic []byte) {
		var st stored
		ok := parseStored(&st, topic, props)
		if ok && !validTopicName(st.topic) {
			t.Fatalf("accepted invalid topic %q", st.topic)
		}
		if st.qos > 2 {
			t.Fatalf("qos %d", st.qos)
		}
		for _, u := range st.user {
			if len(u[0]) == 0 || len(u[1]) == 0 || isSystemProp(u[0]) {
				t.Fatalf("bad user property %q=%q", u[0], u[1])
			}
		}
	})
}

// FuzzPublishRoundTrip: whatever a publish carries, either it is refused
// or a subscriber reading the stored properties sees the same topic, QoS,
// retain flag, content type, response topic, correlation data and user
// properties; and RocketMQ's own parser sees the same MQTT topic.
func FuzzPublishRoundTrip(f *testing.F) {
	f.Add("sensors/room1/temp", byte(1), true, "text/plain", "reply/here", []byte{0, 1, 0xff}, "unit", "celsius")
	f.Add("a", byte(0), false, "", "", []byte(nil), "", "")
	f.Add("x/\x01/y", byte(2), false, "", "", []byte(nil), "KEYS", "v")
	f.Add("$dollar/*/x", byte(2), true, "ct\x02", "", []byte("c"), "MQTT_TOPIC", "evil")
	f.Fuzz(func(t *testing.T, topic string, qos byte, retain bool, ct, rt string, cd []byte, uk, uv string) {
		qos %= 3
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
			TopicName:   topic,
			Properties:  packets.Properties{ContentType: ct, ResponseTopic: rt, CorrelationData: cd},
		}
		if uk != "" || uv != "" {
			pk.Properties.User = []packets.UserProperty{{Key: uk, Val: uv}}
		}
		props, err := appendPublishProps(nil, &pk, "client-1", "0123456789ABCDEF0123456789ABCDEF", 1000)
		if err != nil {
			return
		}
		var st stored
		rtopic := rocketTopic(topic, DefaultFallbackTopic)
		if !parseStored(&st, []byte(rtopic), props) {
			if validTopicName([]byte(topic)) {
				t.Fatalf("a stored publish to %q does not read back", topic)
			}
			return
		}
		if string(st.topic) != topic || st.qos != qos || st.retain != retain || string(st.origin) != "client-1" {
			t.Fatalf("read back topic %q qos %d retain %v origin %q", st.topic, st.qos, st.retain, st.origin)
		}
		if string(st.contentType) != ct || string(st.responseTopic) != rt || !bytes.Equal(correlationData(st.correlation), cd) && len(cd) > 0 {
			t.Fatalf("MQTT 5 properties changed: %q %q %x", st.contentType, st.responseTopic, st.correlation)
		}
		if pk.Properties.User != nil {
			if len(st.user) != 1 || string(st.user[0][0]) != uk || string(st.user[0][1]) != uv {
				t.Fatalf("user property %q=%q read back as %q", uk, uv, st.user)
			}
		}
		if v, ok := message.Property(props, PropTopic); !ok || string(v) != topic {
			t.Fatalf("RocketMQ's parser sees MQTT_TOPIC %q", v)
		}
	})
}

// FuzzDecodeSession: the session file decoder rejects or accepts without
// panicking, and what it accepts encodes to a file it accepts again, equal.
func FuzzDecodeSession(f *testing.F) {
	f.Add([]byte(`{"version":1,"client":{"id":"c1","protocolVersion":4,"clean":false},"subscriptions":[{"filter":"a/#","qos":1,"since":10},{"filter":"$share/g/b/+","qos":2,"since":0}],"positions":[{"topic":"a","queue":0,"committed":3,"sent":5}]}`))
	f.Add([]byte(`{"version":1,"client":{"id":"","protocolVersion":4}}`))
	f.Add([]byte(`{"version":1,"client":{"id":"x","protocolVersion":5},"subscriptions":[{"filter":"a/#/b","qos":1}]}`))
	f.Add([]byte(`{"version":1,"client":{"id":"x","protocolVersion":5},"positions":[{"topic":"a","queue":0,"committed":9,"sent":2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeSession(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(sf)
		if err != nil {
			t.Fatal(err)
		}
		sf2, err := decodeSession(again)
		if err != nil {
			t.Fatalf("re-encoded session file refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(normSession(sf), normSession(sf2)) {
			t.Fatalf("session file changed through a round trip:\n%+v\n%+v", sf, sf2)
		}
	})
}

func normSession(sf *sessionFile) *sessionFile {
	out := *sf
	if len(out.Subs) == 0 {
		out.Subs = nil
	}
	if len(out.Positions) == 0 {
		out.Positions = nil
	}
	out.Client.Properties.User = nil
	out.Client.Will.User = nil
	return &out
}

// FuzzDecodeRetained: the same for retained.json.
func FuzzDecodeRetained(f *testing.F) {
	f.Add([]byte(`{"version":1,"mark":123,"messages":[{"topic":"a/b","payload":"aGk=","qos":1,"created":1,"user":[{"k":"a","v":"b"}]}]}`))
	f.Add([]byte(`{"version":1,"mark":-1,"messages":[]}`))
	f.Add([]byte(`{"version":1,"mark":0,"messages":[{"topic":"a/+","payload":"aGk=","qos":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf, err := decodeRetained(data)
		if err != nil {
			return
		}
		for i := range rf.Messages {
			pk := rf.Messages[i].packet()
			back := retainedFromPacket(&pk)
			if back.Topic != rf.Messages[i].Topic || !bytes.Equal(back.Payload, rf.Messages[i].Payload) || back.QoS != rf.Messages[i].QoS {
				t.Fatalf("retained message changed through a packet: %+v %+v", rf.Messages[i], back)
			}
		}
		again, err := json.Marshal(rf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRetained(again); err != nil {
			t.Fatalf("re-encoded retained file refused: %v", err)
		}
	})
}
