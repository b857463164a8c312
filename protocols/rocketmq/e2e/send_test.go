package e2e

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
// what the broker refuses to store.

// checkSendResponse checks the fields every client reads from a send
// response and returns the CommitLog offset its msgId names.
func (c *cluster) checkSendResponse(resp *remoting.Command, qid int, queueOffset int64) int64 {
	c.t.Helper()
	expect(c.t, resp, remoting.ResSuccess)
	if got := resp.ExtFields["queueId"]; got != strconv.Itoa(qid) {
		c.t.Fatalf("queueId %q, want %d", got, qid)
	}
	if got := extInt(c.t, resp, "queueOffset"); got != queueOffset {
		c.t.Fatalf("queueOffset %d, want %d", got, queueOffset)
	}
	if resp.ExtFields["MSG_REGION"] != "DefaultRegion" || resp.ExtFields["TRACE_ON"] != "true" {
		c.t.Fatalf("MSG_REGION/TRACE_ON missing: %v", resp.ExtFields)
	}
	id := resp.ExtFields["msgId"]
	if len(id) != 32 || strings.ToUpper(id) != id {
		c.t.Fatalf("msgId %q is not 32 upper-case hex digits", id)
	}
	return c.physOffset(id)
}

func TestSendMessage(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-send"
	resp := c.call(remoting.ReqSendMessage, sendExt(topic, 1, props("TAGS", "TagA", "KEYS", "k1", "UNIQ_KEY", "UNIQ-1")), []byte("hello"))
	off0 := c.checkSendResponse(resp, 1, 0)
	if resp.ExtFields["transactionId"] != "UNIQ-1" {
		t.Fatalf("transactionId %q, want the UNIQ_KEY", resp.ExtFields["transactionId"])
	}
	off1 := c.checkSendResponse(c.send(topic, 1, "world", "TAGS", "TagB"), 1, 1)
	if off1 <= off0 {
		t.Fatalf("second message at CommitLog offset %d, first at %d", off1, off0)
	}

	c.waitDispatched(topic, 1, 2)
	_, recs := c.pull("e2e-g", topic, 1, 0, "*")
	if got := bodies(recs); !slices.Equal(got, []string{"hello", "world"}) {
		t.Fatalf("pulled %q", got)
	}
	m := recs[0]
	if m.PhysicalOffset() != off0 || m.QueueOffset() != 0 || m.QueueID() != 1 || string(m.Topic()) != topic {
		t.Fatalf("record at %d queue %d offset %d topic %q", m.PhysicalOffset(), m.QueueID(), m.QueueOffset(), m.Topic())
	}
	if prop(m, "TAGS") != "TagA" || prop(m, "KEYS") != "k1" || prop(m, "UNIQ_KEY") != "UNIQ-1" || prop(m, "CLUSTER") != "DefaultCluster" {
		t.Fatalf("properties %q", m.Properties())
	}
	if got := m.StoreHost().AddrPort().String(); got != c.brokerAddr {
		t.Fatalf("store host %s, want %s", got, c.brokerAddr)
	}
	if got := m.BornHost().AddrPort().Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("born host %v", got)
	}
	// A message without UNIQ_KEY gets one from the broker.
	if prop(recs[1], "UNIQ_KEY") == "" {
		t.Fatalf("no UNIQ_KEY added: %q", recs[1].Properties())
	}

	// A negative queueId lets the broker pick one of the 4 queues the
	// topic was auto-created with (defaultTopicQueueNums=4).
	r := c.send(topic, -1, "anywhere")
	if q, err := strconv.Atoi(r.ExtFields["queueId"]); err != nil || q < 0 || q >= 4 {
		t.Fatalf("random queueId %q", r.ExtFields["queueId"])
	}
}

func TestSendMessageV2(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-send-v2"
	for i, body := range []string{"java-0", "java-1"} {
		ext := sendExtV2(topic, 2, props("TAGS", "TagJ", "WAIT", "true", "UNIQ_KEY", "J"+strconv.Itoa(i)), false)
		c.checkSendResponse(c.call(remoting.ReqSendMessageV2, ext, []byte(body)), 2, int64(i))
	}
	c.waitDispatched(topic, 2, 2)
	_, recs := c.pull("e2e-g", topic, 2, 0, "TagJ")
	if got := bodies(recs); !slices.Equal(got, []string{"java-0", "java-1"}) {
		t.Fatalf("pulled %q", got)
	}
	if prop(recs[1], "UNIQ_KEY") != "J1" || prop(recs[1], "WAIT") != "true" {
		t.Fatalf("properties %q", recs[1].Properties())
	}
	// The long names on 310 are not the V2 header: fields are missing.
	expect(t, c.call(remoting.ReqSendMessageV2, map[string]string{"b": topic}, []byte("x")), remoting.ResSystemError)
}

func TestSendBatchMessage(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-batch"
	batch := encodeBatch(
		[2]string{"b-0", props("TAGS", "T0", "KEYS", "bk0", "UNIQ_KEY", "B0")},
		[2]string{"b-1", props("TAGS", "T1", "UNIQ_KEY", "B1")},
		[2]string{"b-2", ""}, // Go batch entries may carry no properties at all
	)
	resp := c.call(remoting.ReqSendBatchMessage, sendExtV2(topic, 0, "", true), batch)
	expect(t, resp, remoting.ResSuccess)
	if extInt(t, resp, "queueOffset") != 0 || resp.ExtFields["queueId"] != "0" {
		t.Fatalf("batch response %v", resp.ExtFields)
	}
	ids := strings.Split(resp.ExtFields["msgId"], ",")
	if len(ids) != 3 {
		t.Fatalf("msgId %q: want 3 comma-separated ids", resp.ExtFields["msgId"])
	}
	c.waitDispatched(topic, 0, 3)
	_, recs := c.pull("e2e-g", topic, 0, 0, "*")
	if got := bodies(recs); !slices.Equal(got, []string{"b-0", "b-1", "b-2"}) {
		t.Fatalf("pulled %q", got)
	}
	for i, r := range recs {
		if r.QueueOffset() != int64(i) || r.PhysicalOffset() != c.physOffset(ids[i]) || r.Flag() != 7 {
			t.Fatalf("entry %d: queue offset %d, CommitLog offset %d (msgId says %d), flag %d",
				i, r.QueueOffset(), r.PhysicalOffset(), c.physOffset(ids[i]), r.Flag())
		}
	}
	if prop(recs[0], "KEYS") != "bk0" || prop(recs[1], "TAGS") != "T1" || prop(recs[2], "CLUSTER") != "DefaultCluster" {
		t.Fatalf("entry properties %q / %q / %q", recs[0].Properties(), recs[1].Properties(), recs[2].Properties())
	}
	// The next batch continues the queue.
	resp = c.call(remoting.ReqSendBatchMessage, sendExtV2(topic, 0, "", true), encodeBatch([2]string{"b-3", ""}))
	expect(t, resp, remoting.ResSuccess)
	if extInt(t, resp, "queueOffset") != 3 {
		t.Fatalf("second batch at queue offset %s", resp.ExtFields["queueOffset"])
	}

	// A truncated batch and a batch to a retry topic are illegal.
	expect(t, c.call(remoting.ReqSendBatchMessage, sendExtV2(topic, 0, "", true), batch[:len(batch)-2]), remoting.ResMessageIllegal)
	expect(t, c.call(remoting.ReqSendBatchMessage, sendExtV2("%RETRY%e2e-g", 0, "", true), batch), remoting.ResMessageIllegal)
}

// TestSendOversizeBody: maxMessageSize is 4 MiB of body. Java's store
// refuses a larger body with PutMessageStatus.MESSAGE_ILLEGAL, which the
// send processor answers MESSAGE_ILLEGAL (13); a body of exactly 4 MiB is
// stored (MessageExtEncoder: bodyLength > maxMessageBodySize).
func TestSendOversizeBody(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-big"
	limit := 4 << 20
	big := bytes.Repeat([]byte("x"), limit+1)

	resp := c.call(remoting.ReqSendMessage, sendExt(topic, 0, props("TAGS", "big")), big[:limit])
	c.checkSendResponse(resp, 0, 0)

	for _, code := range []int32{remoting.ReqSendMessage, remoting.ReqSendMessageV2} {
		ext := sendExt(topic, 0, "")
		if code == remoting.ReqSendMessageV2 {
			ext = sendExtV2(topic, 0, "", false)
		}
		resp := c.call(code, ext, big)
		expect(t, resp, remoting.ResMessageIllegal)
		if resp.ExtFields["MSG_REGION"] == "" {
			t.Fatalf("%s: an illegal send's response lacks MSG_REGION: %v", remoting.CodeName(code), resp.ExtFields)
		}
	}
	batch := encodeBatch([2]string{string(big[:limit/2]), ""}, [2]string{string(big[:limit/2]), ""})
	expect(t, c.call(remoting.ReqSendBatchMessage, sendExtV2(topic, 0, "", true), batch), remoting.ResMessageIllegal)

	// Properties over 32767 bytes are illegal too.
	expect(t, c.call(remoting.ReqSendMessage, sendExt(topic, 0, props("KEYS", strings.Repeat("k", 1<<15))), []byte("x")), remoting.ResMessageIllegal)

	// Nothing but the first message was stored, and the connection works.
	c.waitDispatched(topic, 0, 1)
	if got := extInt(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil), "offset"); got != 1 {
		t.Fatalf("max offset %d after one good and four illegal sends", got)
	}
	_, recs := c.pull("e2e-g", topic, 0, 0, "*")
	if len(recs) != 1 || len(recs[0].Body()) != limit {
		t.Fatalf("pulled %d records", len(recs))
	}
}

// TestSendIllegalTopic: Java's msgCheck validates the topic with
// TopicValidator.validateTopic, which answers SYSTEM_ERROR (1) for a blank
// name, illegal characters or more than 127 characters, and NO_PERMISSION
// (16) for the topics clients may not send to.
func TestSendIllegalTopic(t *testing.T) {
	c := startCluster(t)
	for _, topic := range []string{"bad topic", "a/b", "tópico", strings.Repeat("t", 128), "TBW102"} {
		resp := c.call(remoting.ReqSendMessage, sendExt(topic, 0, ""), []byte("x"))
		expect(t, resp, remoting.ResSystemError)
		if resp.Remark == "" {
			t.Fatalf("topic %q: no remark", topic)
		}
	}
	for _, topic := range []string{"SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "OFFSET_MOVED_EVENT"} {
		expect(t, c.call(remoting.ReqSendMessage, sendExt(topic, 0, ""), []byte("x")), remoting.ResNoPermission)
	}
	// Nothing was created, and a good send still works.
	expect(t, c.callNS(remoting.ReqGetRouteinfoByTopic, map[string]string{"topic": "bad topic"}), remoting.ResTopicNotExist)
	c.send("good-topic", 0, "x")
}
