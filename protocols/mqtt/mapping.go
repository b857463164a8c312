package mqtt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
)

// Message properties that carry the MQTT side of a stored message. A
// RocketMQ producer sets PropTopic (and optionally PropQoS) to address MQTT
// subscribers precisely; see docs/mqtt.md for the whole mapping.
const (
	PropTopic         = "MQTT_TOPIC"            // the full MQTT topic name
	PropQoS           = "MQTT_QOS"              // "0", "1" or "2": the QoS it was published with
	PropRetain        = "MQTT_RETAIN"           // "true" when published with the retain flag
	PropClient        = "MQTT_CLIENT"           // the publisher's client id
	PropExpireAt      = "MQTT_EXPIRE_AT"        // ms since the epoch; MQTT 5 message expiry
	PropContentType   = "MQTT_CONTENT_TYPE"     // MQTT 5 content type
	PropResponseTopic = "MQTT_RESPONSE_TOPIC"   // MQTT 5 response topic
	PropCorrelation   = "MQTT_CORRELATION_DATA" // MQTT 5 correlation data, hex
	PropPayloadFormat = "MQTT_PAYLOAD_FORMAT"   // MQTT 5 payload format indicator, "0" or "1"
)

// mqttPropPrefix marks names this package owns; user properties may not
// use it, so a stored message cannot lie about its MQTT fields.
const mqttPropPrefix = "MQTT_"

// DefaultFallbackTopic is the RocketMQ topic of MQTT topics whose first
// level is not a usable RocketMQ topic name (characters outside
// [%|a-zA-Z0-9_-], longer than 127 bytes, empty, or a system topic).
const DefaultFallbackTopic = "MQTT_OTHER"

// systemProps are RocketMQ's own property names (MessageConst.java): an
// MQTT 5 user property must not overwrite them, and they are not shown to
// MQTT subscribers as user properties.
var systemProps = map[string]struct{}{
	"KEYS": {}, "TAGS": {}, "WAIT": {}, "DELAY": {}, "RETRY_TOPIC": {}, "REAL_TOPIC": {}, "REAL_QID": {},
	"TRAN_MSG": {}, "PGROUP": {}, "MIN_OFFSET": {}, "MAX_OFFSET": {}, "BUYER_ID": {}, "ORIGIN_MESSAGE_ID": {},
	"TRANSFER_FLAG": {}, "CORRECTION_FLAG": {}, "MQ2_FLAG": {}, "RECONSUME_TIME": {}, "MSG_REGION": {},
	"TRACE_ON": {}, "UNIQ_KEY": {}, "MAX_RECONSUME_TIMES": {}, "CONSUME_START_TIME": {},
	"TRAN_PREPARED_QUEUE_OFFSET": {}, "TRANSACTION_CHECK_TIMES": {}, "CHECK_IMMUNITY_TIME_IN_SECONDS": {},
	"INSTANCE_ID": {}, "CORRELATION_ID": {}, "REPLY_TO_CLIENT": {}, "TTL": {}, "ARRIVE_TIME": {},
	"PUSH_REPLY_TIME": {}, "CLUSTER": {}, "MSG_TYPE": {}, "__STARTDELIVERTIME": {}, "SHARDING_KEY": {},
	"__SHARDINGKEY": {}, "INNER_MULTI_DISPATCH": {}, "INNER_MULTI_QUEUE_OFFSET": {}, "TRACE_CONTEXT": {},
	"TIMER_DELIVER_MS": {}, "TIMER_DELAY_SEC": {}, "TIMER_DELAY_MS": {}, "TIMER_OUT_MS": {},
	"TIMER_ENQUEUE_MS": {}, "TIMER_DEQUEUE_MS": {}, "TIMER_ROLL_TIMES": {}, "TIMER_DEL_UNIQKEY": {},
	"DLQ_ORIGIN_TOPIC": {}, "DLQ_ORIGIN_MESSAGE_ID": {}, "SUPPORT_INNER_MULTI_DISPATCH": {},
	"PROPERTY_MSG_REGION": {}, "bornHost": {}, "bornTimestamp": {}, "storeHost": {},
}

func isSystemProp(name []byte) bool {
	_, ok := systemProps[string(name)] // the conversion does not allocate in a map index
	return ok || bytes.HasPrefix(name, []byte(mqttPropPrefix))
}

// systemTopics are RocketMQ topics MQTT neither writes nor reads
// (TopicValidator.java and the broker's startup topics).
var systemTopics = map[string]struct{}{
	"TBW102": {}, "SCHEDULE_TOPIC_XXXX": {}, "SELF_TEST_TOPIC": {}, "OFFSET_MOVED_EVENT": {},
	"RMQ_SYS_TRANS_HALF_TOPIC": {}, "RMQ_SYS_TRANS_OP_HALF_TOPIC": {}, "TRANS_CHECK_MAX_TIME_TOPIC": {},
	"BenchmarkTest": {},
}

// mqttVisible reports whether a RocketMQ topic is one MQTT maps to: not a
// system, retry or dead-letter topic.
func mqttVisible(topic string) bool {
	if _, ok := systemTopics[topic]; ok {
		return false
	}
	return !strings.HasPrefix(topic, "%RETRY%") && !strings.HasPrefix(topic, "%DLQ%") &&
		!strings.HasPrefix(strings.ToUpper(topic), "RMQ_SYS_") && !strings.HasSuffix(topic, "_REPLY_TOPIC")
}

// validRocketTopic applies RocketMQ's topic name rule: 1 to 127 bytes of
// [%|a-zA-Z0-9_-].
func validRocketTopic(s string) bool {
	return len(s) <= message.MaxTopicLenV1 && meta.ValidName(s)
}

// firstLevel is the MQTT topic (or filter) up to its first '/'.
func firstLevel(topic string) string {
	if i := strings.IndexByte(topic, '/'); i >= 0 {
		return topic[:i]
	}
	return topic
}

// rocketTopic maps an MQTT topic name to the RocketMQ topic that stores it:
// its first level when that is a usable RocketMQ topic, else fallback.
func rocketTopic(mqttTopic, fallback string) string {
	l := firstLevel(mqttTopic)
	if validRocketTopic(l) && mqttVisible(l) && !strings.HasPrefix(l, "%") {
		return l
	}
	return fallback
}

// tagOf is the RocketMQ tag of an MQTT topic: its second level, so a
// RocketMQ consumer can subscribe "sensors" with "room1 || room2". Levels
// that mean something else in a subscription expression ("*", "||") give
// no tag.
func tagOf(mqttTopic string) string {
	i := strings.IndexByte(mqttTopic, '/')
	if i < 0 {
		return ""
	}
	rest := mqttTopic[i+1:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	if rest == "*" || strings.Contains(rest, "||") {
		return ""
	}
	return rest
}

// errUnmappable reports a publish that cannot be stored as RocketMQ
// properties; it is answered with 0x83 (implementation specific error).
var errUnmappable = errors.New("mqtt: publish cannot be stored")

func unmappable(what string) error { return errors.Join(errUnmappable, errors.New(what)) }

// hasSeparator reports the bytes the properties string uses as separators.
func hasSeparator(s string) bool {
	return strings.IndexByte(s, message.NameValueSeparator) >= 0 || strings.IndexByte(s, message.PropertySeparator) >= 0
}

// appendPublishProps appends the properties of a stored MQTT publish to
// dst: UNIQ_KEY, TAGS, the MQTT_* fields and the MQTT 5 user properties.
// It fails, appending nothing useful, when a value cannot be stored
// (separator bytes, a user property named like a system property, too
// long); nowMs turns a message expiry interval into a deadline.
func appendPublishProps(dst []byte, pk *packets.Packet, clientID, uniq string, nowMs int64) ([]byte, error) {
	start := len(dst)
	if hasSeparator(pk.TopicName) {
		return dst, unmappable("the topic name contains a 0x01 or 0x02 byte")
	}
	dst = message.AppendProperty(dst, message.PropertyUniqID, uniq)
	if tag := tagOf(pk.TopicName); tag != "" {
		dst = message.AppendProperty(dst, message.PropertyTags, tag)
	}
	dst = message.AppendProperty(dst, PropTopic, pk.TopicName)
	dst = append(dst, PropQoS...)
	dst = append(dst, message.NameValueSeparator, '0'+pk.FixedHeader.Qos, message.PropertySeparator)
	if pk.FixedHeader.Retain {
		dst = message.AppendProperty(dst, PropRetain, "true")
	}
	if clientID != "" && !hasSeparator(clientID) {
		dst = message.AppendProperty(dst, PropClient, clientID)
	}
	p := &pk.Properties
	if p.MessageExpiryInterval > 0 {
		dst = append(dst, PropExpireAt...)
		dst = append(dst, message.NameValueSeparator)
		dst = strconv.AppendInt(dst, nowMs+int64(p.MessageExpiryInterval)*1000, 10)
		dst = append(dst, message.PropertySeparator)
	}
	if p.ContentType != "" {
		if hasSeparator(p.ContentType) {
			return dst[:start], unmappable("the content type contains a 0x01 or 0x02 byte")
		}
		dst = message.AppendProperty(dst, PropContentType, p.ContentType)
	}
	if p.ResponseTopic != "" {
		if hasSeparator(p.ResponseTopic) {
			return dst[:start], unmappable("the response topic contains a 0x01 or 0x02 byte")
		}
		dst = message.AppendProperty(dst, PropResponseTopic, p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		dst = append(dst, PropCorrelation...)
		dst = append(dst, message.NameValueSeparator)
		dst = hex.AppendEncode(dst, p.CorrelationData)
		dst = append(dst, message.PropertySeparator)
	}
	if p.PayloadFormatFlag {
		dst = append(dst, PropPayloadFormat...)
		dst = append(dst, message.NameValueSeparator, '0'+p.PayloadFormat&1, message.PropertySeparator)
	}
	for _, u := range p.User {
		switch {
		case u.Key == "" || u.Val == "":
			// RocketMQ's parser drops pairs with an empty side; refuse
			// rather than lose it silently.
			return dst[:start], unmappable("a user property has an empty name or value")
		case hasSeparator(u.Key) || hasSeparator(u.Val):
			return dst[:start], unmappable("a user property contains a 0x01 or 0x02 byte")
		case isSystemProp([]byte(u.Key)):
			return dst[:start], unmappable("user property " + strconv.Quote(u.Key) + " is a reserved RocketMQ or MQTT_ name")
		}
		dst = message.AppendProperty(dst, u.Key, u.Val)
	}
	if len(dst)-start > message.MaxPropertiesLen {
		return dst[:start], unmappable("the properties are longer than 32767 bytes")
	}
	return dst, nil
}

// stored is what an MQTT subscriber needs of a stored message. Byte slices
// are views into the record's properties (valid while the record is
// pinned) or into topicBuf.
type stored struct {
	topic         []byte
	qos           byte
	retain        bool
	origin        []byte
	expireAt      int64 // ms, 0: none
	contentType   []byte
	responseTopic []byte
	correlation   []byte // hex
	payloadFormat int    // -1: not set
	user          [][2][]byte
	topicBuf      []byte
}

// parseStored reads a stored message's properties. A message without
// MQTT_TOPIC came from another front end: its MQTT topic is the RocketMQ
// topic, followed by "/" and its tag when it has one, and it counts as a
// QoS 1 publish (RocketMQ stores every message durably). ok is false when
// the message has no valid MQTT topic name. Unknown, non-system properties
// become MQTT 5 user properties. Pieces are read as RocketMQ's Java parser
// reads them (message.Property): split on 0x02, the first 0x01 ends the
// name, pieces with an empty name or value are ignored; for the MQTT
// fields the last value wins.
func parseStored(d *stored, rocketTopic, props []byte) (ok bool) {
	*d = stored{topicBuf: d.topicBuf[:0], user: d.user[:0], qos: 1, payloadFormat: -1}
	var tags []byte
	for len(props) > 0 {
		var piece []byte
		if i := bytes.IndexByte(props, message.PropertySeparator); i >= 0 {
			piece, props = props[:i], props[i+1:]
		} else {
			piece, props = props, nil
		}
		k := bytes.IndexByte(piece, message.NameValueSeparator)
		if k <= 0 || k == len(piece)-1 {
			continue
		}
		name, value := piece[:k], piece[k+1:]
		switch string(name) {
		case PropTopic:
			d.topic = value
		case PropQoS:
			if len(value) == 1 && value[0] >= '0' && value[0] <= '2' {
				d.qos = value[0] - '0'
			}
		case PropRetain:
			d.retain = string(value) == "true"
		case PropClient:
			d.origin = value
		case PropExpireAt:
			if v, err := strconv.ParseInt(string(value), 10, 64); err == nil && v > 0 {
				d.expireAt = v
			}
		case PropContentType:
			d.contentType = value
		case PropResponseTopic:
			d.responseTopic = value
		case PropCorrelation:
			d.correlation = value
		case PropPayloadFormat:
			if len(value) == 1 && (value[0] == '0' || value[0] == '1') {
				d.payloadFormat = int(value[0] - '0')
			}
		case message.PropertyTags:
			tags = value
		default:
			if !isSystemProp(name) {
				d.user = append(d.user, [2][]byte{name, value})
			}
		}
	}
	if d.topic == nil {
		d.topicBuf = append(d.topicBuf, rocketTopic...)
		if len(tags) > 0 {
			d.topicBuf = append(d.topicBuf, '/')
			d.topicBuf = append(d.topicBuf, tags...)
		}
		d.topic = d.topicBuf
	}
	return validTopicName(d.topic)
}

// validTopicName applies the MQTT rules for a topic name: not empty, valid
// UTF-8 without U+0000, no wildcards [MQTT-4.7.3-1] [MQTT-4.7.3-2]
// [MQTT-3.3.2-2], at most 65535 bytes.
func validTopicName(t []byte) bool {
	if len(t) == 0 || len(t) > 65535 || !utf8.Valid(t) {
		return false
	}
	return bytes.IndexAny(t, "+#\x00") < 0
}

// correlationData decodes the hex of PropCorrelation; nil if it is not hex.
func correlationData(h []byte) []byte {
	out := make([]byte, hex.DecodedLen(len(h)))
	if _, err := hex.Decode(out, h); err != nil {
		return nil
	}
	return out
}
