package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Delayed delivery by DELAY level, and CONSUMER_SEND_MSG_BACK (36) with
// its retries and dead letters.

// waitForMessage pulls a queue at offset every 5 ms until a message is
// there and returns it with the time it was first seen.
func (c *cluster) waitForMessage(group, topic string, qid int, offset int64) (message.Record, time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		resp, recs := c.pull(group, topic, qid, offset, "*")
		if resp.Code == remoting.ResSuccess {
			return recs[0], time.Now()
		}
		if resp.Code != remoting.ResPullNotFound && resp.Code != remoting.ResPullOffsetMoved {
			expect(c.t, resp, remoting.ResSuccess)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no message at %s/%d offset %d after %v", topic, qid, offset, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDelayedDelivery: a message with DELAY=L waits the L-th delay of
// messageDelayLevel in SCHEDULE_TOPIC_XXXX (queue L-1) before it can be
// pulled from its topic.
func TestDelayedDelivery(t *testing.T) {
	levels := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond}
	c := startCluster(t, "messageDelayLevel=100ms 300ms 500ms")

	for level := 1; level <= len(levels); level++ {
		want := levels[level-1]
		topic := "e2e-delay-" + strconv.Itoa(level)
		start := time.Now()
		resp := c.send(topic, 0, "later", "TAGS", "D", "DELAY", strconv.Itoa(level))
		sendTook := time.Since(start)
		// The send answers with the message's place in the schedule queue.
		if got := resp.ExtFields["queueId"]; got != "0" {
			t.Fatalf("level %d: response queueId %q, want the real queue 0", level, got)
		}
		// It is parked in the level's queue of the schedule topic.
		c.waitDispatched("SCHEDULE_TOPIC_XXXX", level-1, 1)

		rec, seen := c.waitForMessage("e2e-g", topic, 0, 0)
		delay := seen.Sub(start)
		t.Logf("delay level %d (%v): pullable %v after the send started (the send took %v)",
			level, want, delay.Round(time.Millisecond), sendTook.Round(10*time.Microsecond))
		// Delays count from the store timestamp, in whole milliseconds.
		if delay < want-2*time.Millisecond {
			t.Fatalf("level %d: pullable after %v, before its delay %v", level, delay, want)
		}
		if delay > want+700*time.Millisecond {
			t.Fatalf("level %d: pullable only after %v, want within 700ms of %v", level, delay, want)
		}
		if string(rec.Body()) != "later" || prop(rec, "DELAY") != "" || prop(rec, "TAGS") != "D" || prop(rec, "REAL_TOPIC") != topic {
			t.Fatalf("level %d: delivered %q with properties %q", level, rec.Body(), rec.Properties())
		}
	}
}

func sendBackExt(offset int64, group string, delayLevel int, originMsgID, originTopic string) map[string]string {
	return map[string]string{
		"offset": strconv.FormatInt(offset, 10), "group": group, "delayLevel": strconv.Itoa(delayLevel),
		"originMsgId": originMsgID, "originTopic": originTopic, "unitMode": "false", "maxReconsumeTimes": "16",
		"bname": "broker-a",
	}
}

// TestSendBackRetriesThenDeadLetter: each send-back puts a copy on
// %RETRY%<group> with reconsumeTimes+1 and RETRY_TOPIC set; the 17th, of a
// copy already reconsumed 16 times (maxReconsumeTimes 16), goes to
// %DLQ%<group>.
func TestSendBackRetriesThenDeadLetter(t *testing.T) {
	c := startCluster(t, "messageDelayLevel="+strings.Repeat("20ms ", 18))
	const topic, group = "e2e-orders", "e2e-sb"
	retry, dlq := "%RETRY%"+group, "%DLQ%"+group
	resp := c.send(topic, 0, "fail me", "TAGS", "T", "KEYS", "sb-key", "UNIQ_KEY", "SB-1")
	origID := resp.ExtFields["msgId"]
	off, recTopic := c.physOffset(origID), topic

	start := time.Now()
	for i := 1; i <= 16; i++ {
		expect(t, c.call(remoting.ReqConsumerSendMsgBack, sendBackExt(off, group, 0, "SB-1", recTopic), nil), remoting.ResSuccess)
		r, _ := c.waitForMessage(group, retry, 0, int64(i-1))
		if string(r.Body()) != "fail me" || r.ReconsumeTimes() != int32(i) || prop(r, "RETRY_TOPIC") != topic ||
			prop(r, "ORIGIN_MESSAGE_ID") != origID || prop(r, "UNIQ_KEY") != "SB-1" || prop(r, "TAGS") != "T" || prop(r, "DELAY") != "" {
			t.Fatalf("retry %d: %q reconsumeTimes %d properties %q", i, r.Body(), r.ReconsumeTimes(), r.Properties())
		}
		off, recTopic = r.PhysicalOffset(), retry
	}
	t.Logf("16 retries came back through SCHEDULE_TOPIC_XXXX in %v", time.Since(start).Round(time.Millisecond))
	resp, _ = c.pull(group, dlq, 0, 0, "*")
	if resp.Code == remoting.ResSuccess {
		t.Fatal("a message reached the DLQ before its retries were used up")
	}

	// The 17th failure: reconsumeTimes 16 >= maxReconsumeTimes 16.
	expect(t, c.call(remoting.ReqConsumerSendMsgBack, sendBackExt(off, group, 0, "SB-1", recTopic), nil), remoting.ResSuccess)
	d, _ := c.waitForMessage(group, dlq, 0, 0)
	if string(d.Body()) != "fail me" || d.ReconsumeTimes() != 17 || prop(d, "RETRY_TOPIC") != topic || prop(d, "ORIGIN_MESSAGE_ID") != origID {
		t.Fatalf("dead letter %q reconsumeTimes %d properties %q", d.Body(), d.ReconsumeTimes(), d.Properties())
	}
	if got := extInt(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": retry, "queueId": "0"}, nil), "offset"); got != 16 {
		t.Fatalf("%s holds %d messages, want 16", retry, got)
	}

	// A negative delay level sends the original straight to the DLQ.
	expect(t, c.call(remoting.ReqConsumerSendMsgBack, sendBackExt(c.physOffset(origID), group, -1, "SB-1", topic), nil), remoting.ResSuccess)
	d2, _ := c.waitForMessage(group, dlq, 0, 1)
	if d2.ReconsumeTimes() != 1 {
		t.Fatalf("direct dead letter reconsumeTimes %d", d2.ReconsumeTimes())
	}
	// An offset where no message starts.
	expect(t, c.call(remoting.ReqConsumerSendMsgBack, sendBackExt(1<<40, group, 0, "", ""), nil), remoting.ResSystemError)
}
