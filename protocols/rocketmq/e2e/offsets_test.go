package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET
// (30), GET_MIN_OFFSET (31), SEARCH_OFFSET_BY_TIMESTAMP (29) and
// GET_EARLIEST_MSG_STORETIME (32).

func TestConsumerOffsetSurvivesRestart(t *testing.T) {
	c := startCluster(t)
	const topic, group = "e2e-offsets", "e2e-g"
	q := func(extra ...string) *remoting.Command {
		ext := map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0"}
		for i := 0; i+1 < len(extra); i += 2 {
			ext[extra[i]] = extra[i+1]
		}
		return c.call(remoting.ReqQueryConsumerOffset, ext, nil)
	}
	offset := func(resp *remoting.Command) string {
		t.Helper()
		expect(t, resp, remoting.ResSuccess)
		return resp.ExtFields["offset"]
	}

	// No offset yet: 22 when the client says not to default to zero;
	// otherwise 0, because the queue's first message is still in memory.
	expect(t, q("setZeroIfNotFound", "false"), remoting.ResQueryNotFound)
	if got := offset(q()); got != "0" {
		t.Fatalf("new group on a young queue: offset %q, want 0", got)
	}

	for i := range 3 {
		c.send(topic, 0, "m"+strconv.Itoa(i))
	}
	c.waitDispatched(topic, 0, 3)
	update := map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "2"}
	expect(t, c.call(remoting.ReqUpdateConsumerOffset, update, nil), remoting.ResSuccess)
	if got := offset(q()); got != "2" {
		t.Fatalf("offset %q after committing 2", got)
	}
	if got := offset(q("setZeroIfNotFound", "false")); got != "2" {
		t.Fatalf("offset %q with setZeroIfNotFound=false", got)
	}
	bad := map[string]string{"consumerGroup": group, "topic": topic, "queueId": "-1", "commitOffset": "2"}
	expect(t, c.call(remoting.ReqUpdateConsumerOffset, bad, nil), remoting.ResSystemError)
	expect(t, c.call(remoting.ReqQueryConsumerOffset, map[string]string{"topic": topic, "queueId": "0"}, nil), remoting.ResSystemError)

	c.restartBroker()
	c.client = c.newClient(remoting.ClientOptions{})
	if got := offset(q()); got != "2" {
		t.Fatalf("offset %q after a restart, want 2", got)
	}
	if got := extInt(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil), "offset"); got != 3 {
		t.Fatalf("max offset %d after a restart, want 3", got)
	}
	_, recs := c.pull(group, topic, 0, 2, "*")
	if len(recs) != 1 || string(recs[0].Body()) != "m2" {
		t.Fatalf("resuming at the committed offset pulled %q", bodies(recs))
	}
}

func TestQueueOffsetsAndTimes(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-times"
	get := func(code int32, key string, extra ...string) int64 {
		t.Helper()
		ext := map[string]string{"topic": topic, "queueId": "0"}
		for i := 0; i+1 < len(extra); i += 2 {
			ext[extra[i]] = extra[i+1]
		}
		resp := c.call(code, ext, nil)
		expect(t, resp, remoting.ResSuccess)
		return extInt(t, resp, key)
	}
	search := func(ts int64, boundary string) int64 {
		t.Helper()
		if boundary == "" {
			return get(remoting.ReqSearchOffsetByTimestamp, "offset", "timestamp", strconv.FormatInt(ts, 10))
		}
		return get(remoting.ReqSearchOffsetByTimestamp, "offset", "timestamp", strconv.FormatInt(ts, 10), "boundaryType", boundary)
	}

	// An empty (unknown) queue.
	if mx, mn := get(remoting.ReqGetMaxOffset, "offset"), get(remoting.ReqGetMinOffset, "offset"); mx != 0 || mn != 0 {
		t.Fatalf("empty queue: max %d min %d", mx, mn)
	}
	if ts := get(remoting.ReqGetEarliestMsgStoretime, "timestamp"); ts != -1 {
		t.Fatalf("empty queue: earliest store time %d, want -1", ts)
	}

	// Three messages, stored at least 20 ms apart.
	for i := range 3 {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		c.send(topic, 0, "m"+strconv.Itoa(i))
	}
	c.waitDispatched(topic, 0, 3)
	_, recs := c.pull("e2e-g", topic, 0, 0, "*")
	if len(recs) != 3 {
		t.Fatalf("pulled %d", len(recs))
	}
	var ts [3]int64
	for i, r := range recs {
		ts[i] = r.StoreTimestamp()
	}
	if !(ts[0] < ts[1] && ts[1] < ts[2]) {
		t.Fatalf("store timestamps %v not increasing", ts)
	}

	if mx, mn := get(remoting.ReqGetMaxOffset, "offset"), get(remoting.ReqGetMinOffset, "offset"); mx != 3 || mn != 0 {
		t.Fatalf("max %d min %d, want 3 and 0", mx, mn)
	}
	if got := get(remoting.ReqGetEarliestMsgStoretime, "timestamp"); got != ts[0] {
		t.Fatalf("earliest store time %d, want %d", got, ts[0])
	}
	f := func(at int64, boundary string, want int64) {
		t.Helper()
		if got := search(at, boundary); got != want {
			t.Fatalf("SEARCH_OFFSET_BY_TIMESTAMP %d (%s): %d, want %d (store times %v)", at, boundary, got, want, ts)
		}
	}
	f(0, "", 0)
	f(ts[0], "", 0)
	f(ts[0]+1, "", 1)
	f(ts[1], "", 1)
	f(ts[2], "", 2)
	f(ts[2]+60_000, "", 3) // later than everything: the end of the queue
	f(ts[1], "upper", 1)   // boundaryType is case-insensitive
	f(ts[1]-1, "UPPER", 0)
	f(ts[2]+60_000, "UPPER", 2)
	f(ts[1], "LOWER", 1)

	// A missing field is a SYSTEM_ERROR.
	expect(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": topic}, nil), remoting.ResSystemError)
	expect(t, c.call(remoting.ReqSearchOffsetByTimestamp, map[string]string{"topic": topic, "queueId": "0"}, nil), remoting.ResSystemError)
}
