package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12).

func TestViewMessageByID(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-view"
	c.send(topic, 0, "before")
	resp := c.send(topic, 0, "look me up", "TAGS", "V", "KEYS", "vk")
	msgID := resp.ExtFields["msgId"]
	off := c.physOffset(msgID)

	view := c.call(remoting.ReqViewMessageByID, map[string]string{"offset": strconv.FormatInt(off, 10)}, nil)
	expect(t, view, remoting.ResSuccess)
	recs := records(t, view.Body)
	if len(recs) != 1 {
		t.Fatalf("VIEW_MESSAGE_BY_ID answered %d records", len(recs))
	}
	r := recs[0]
	if string(r.Body()) != "look me up" || string(r.Topic()) != topic || r.PhysicalOffset() != off || r.QueueOffset() != 1 ||
		prop(r, "TAGS") != "V" {
		t.Fatalf("viewed %q on %q at %d (queue offset %d), props %q", r.Body(), r.Topic(), r.PhysicalOffset(), r.QueueOffset(), r.Properties())
	}

	// Offsets where no message starts: past the end, inside a message,
	// negative.
	for _, bad := range []int64{off + 1<<20, off + 1, -1} {
		resp := c.call(remoting.ReqViewMessageByID, map[string]string{"offset": strconv.FormatInt(bad, 10)}, nil)
		expect(t, resp, remoting.ResSystemError)
	}
	expect(t, c.call(remoting.ReqViewMessageByID, nil, nil), remoting.ResSystemError)
}

func TestQueryMessageByKey(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-keys"
	c.send(topic, 0, "one", "KEYS", "order-1 shared", "UNIQ_KEY", "UQ-1")
	c.send(topic, 1, "two", "KEYS", "order-2 shared")
	c.send(topic, 2, "three", "KEYS", "order-3")
	end := time.Now().Add(time.Hour).UnixMilli()
	query := func(key string, maxNum int, begin, end int64, unique bool) *remoting.Command {
		ext := map[string]string{
			"topic": topic, "key": key, "maxNum": strconv.Itoa(maxNum),
			"beginTimestamp": strconv.FormatInt(begin, 10), "endTimestamp": strconv.FormatInt(end, 10),
		}
		if unique {
			ext["_UNIQUE_KEY_QUERY"] = "true"
		}
		return c.call(remoting.ReqQueryMessage, ext, nil)
	}
	found := func(resp *remoting.Command) []string {
		t.Helper()
		expect(t, resp, remoting.ResSuccess)
		got := bodies(records(t, resp.Body))
		slices.Sort(got)
		return got
	}

	// The index is written as messages are dispatched: wait for it.
	eventually(t, "the key index", func() bool { return query("order-3", 32, 0, end, false).Code == remoting.ResSuccess })

	if got := found(query("order-2", 32, 0, end, false)); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("order-2: %q", got)
	}
	resp := query("shared", 32, 0, end, false)
	if got := found(resp); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("shared: %q", got)
	}
	if resp.ExtFields["indexLastUpdateTimestamp"] == "" || resp.ExtFields["indexLastUpdatePhyoffset"] == "" {
		t.Fatalf("response fields %v", resp.ExtFields)
	}
	if got := found(query("shared", 1, 0, end, false)); len(got) != 1 {
		t.Fatalf("shared with maxNum 1: %q", got)
	}
	if got := found(query("UQ-1", 1, 0, end, true)); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("unique key: %q", got)
	}

	expect(t, query("order-9", 32, 0, end, false), remoting.ResQueryNotFound)
	expect(t, query("order-1", 32, end, end+1, false), remoting.ResQueryNotFound) // outside the time range
	other := map[string]string{"topic": "other", "key": "order-1", "maxNum": "32", "beginTimestamp": "0", "endTimestamp": strconv.FormatInt(end, 10)}
	expect(t, c.call(remoting.ReqQueryMessage, other, nil), remoting.ResQueryNotFound)
	expect(t, c.call(remoting.ReqQueryMessage, map[string]string{"topic": topic, "key": "x"}, nil), remoting.ResSystemError)
}
