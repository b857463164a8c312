package goclient

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Scenarios: each test runs its own name server and broker, its clients
// in child processes, and bounds every wait by waitLimit.

var tagNames = []string{"TagA", "TagB", "TagC"}

// seqMessages is a numbered run: message i has body "<prefix>-<i>", tag
// TagA/TagB/TagC by i, and keys "<prefix>-key-<i>" and "k2-<i>".
func seqMessages(prefix string, n int) []msgSpec {
	out := make([]msgSpec, n)
	for i := range out {
		out[i] = msgSpec{
			Body: fmt.Sprintf("%s-%04d", prefix, i),
			Tag:  tagNames[i%len(tagNames)],
			Keys: []string{fmt.Sprintf("%s-key-%d", prefix, i), fmt.Sprintf("k2-%d", i)},
		}
	}
	return out
}

// checkSeq checks that a delivery of a numbered run carries the topic,
// tag and keys seqMessages gave it, and returns its number.
func checkSeq(t *testing.T, r event, topic, prefix string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(r.Body, prefix+"-%04d", &i); err != nil {
		t.Fatalf("unexpected body %q: %v", r.Body, err)
	}
	if r.Topic != topic {
		t.Errorf("%s: topic %q, want %q", r.Body, r.Topic, topic)
	}
	if want := tagNames[i%len(tagNames)]; r.Tags != want {
		t.Errorf("%s: tags %q, want %q", r.Body, r.Tags, want)
	}
	if want := fmt.Sprintf("%s-key-%d k2-%d", prefix, i, i); r.Keys != want {
		t.Errorf("%s: keys %q, want %q", r.Body, r.Keys, want)
	}
	return i
}

// checkExactlyOnce checks that message i of the run 0..n-1 was delivered
// exactly once if want(i), never otherwise, and that nothing else was.
func checkExactlyOnce(t *testing.T, got []event, topic, prefix string, want func(i int) bool, n int) {
	t.Helper()
	count := make(map[int]int)
	for _, r := range got {
		count[checkSeq(t, r, topic, prefix)]++
	}
	for i := range n {
		switch c := count[i]; {
		case want(i) && c != 1:
			t.Errorf("%s-%04d delivered %d times, want once", prefix, i, c)
		case !want(i) && c != 0:
			t.Errorf("%s-%04d (tag %s) delivered %d times, want never", prefix, i, tagNames[i%len(tagNames)], c)
		}
	}
	for i := range count {
		if i < 0 || i >= n {
			t.Errorf("%s-%04d delivered, never sent", prefix, i)
		}
	}
}

func all(int) bool { return true }

// settle is how long a test keeps listening after the expected messages
// arrived, to catch duplicates and unwanted deliveries.
const settle = time.Second

// TestSyncSendPushConsume: 500 SendSync with tags and keys to a topic the
// broker auto-creates from TBW102; then a "*" consumer gets each exactly
// once, as sent, and a "TagA" consumer gets only the TagA ones.
func TestSyncSendPushConsume(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	const topic, n = "gc-sync", 500

	sent := c.produce("gc-sync-producer", topic, "sync", seqMessages("sync", n))
	queueCount := make(map[int]int64) // messages per queue
	t.Run("SendSync", func(t *testing.T) {
		if len(sent) != n {
			t.Fatalf("%d send results, want %d", len(sent), n)
		}
		seen := make(map[[2]int64]int) // (queue, offset) -> message
		perQueue := make(map[int64]int64)
		for i, e := range sent {
			checkSent(t, fmt.Sprintf("SendSync %d", i), e, topic)
			if e.MsgID == "" {
				t.Fatalf("SendSync %d: no msgId: %+v", i, e)
			}
			k := [2]int64{int64(e.Queue), e.QueueOffset}
			if j, dup := seen[k]; dup {
				t.Fatalf("messages %d and %d both got queue %d offset %d", j, i, k[0], k[1])
			}
			seen[k] = i
			perQueue[k[0]]++
		}
		// Offsets are logical and dense per queue.
		for k := range seen {
			if k[1] >= perQueue[k[0]] {
				t.Errorf("queue %d has %d messages but offset %d was returned", k[0], perQueue[k[0]], k[1])
			}
		}
		t.Logf("%d messages over %d queues", n, len(perQueue))
		for q, m := range perQueue {
			queueCount[int(q)] = m
		}
	})
	if t.Failed() {
		return
	}
	c.waitRoute(topic)
	cAll := c.startConsumer("gc-sync-all", topic, "*", "")
	cTagA := c.startConsumer("gc-sync-taga", topic, "TagA", "")

	t.Run("ConsumeAll", func(t *testing.T) {
		cAll.waitDistinct(t, n)
		time.Sleep(settle)
		got := cAll.snapshot()
		checkExactlyOnce(t, got, topic, "sync", all, n)
		for _, r := range got {
			s := sent[checkSeq(t, r, topic, "sync")]
			if r.MsgID != s.MsgID || r.Queue != s.Queue || r.QueueOffset != s.QueueOffset {
				t.Errorf("%s arrived as msgId %s queue %d offset %d, was sent as msgId %s queue %d offset %d",
					r.Body, r.MsgID, r.Queue, r.QueueOffset, s.MsgID, s.Queue, s.QueueOffset)
			}
		}
	})
	wantA := func(i int) bool { return tagNames[i%len(tagNames)] == "TagA" }
	t.Run("TagFilter", func(t *testing.T) {
		nA := 0
		for i := range n {
			if wantA(i) {
				nA++
			}
		}
		cTagA.waitDistinct(t, nA)
		time.Sleep(settle)
		checkExactlyOnce(t, cTagA.snapshot(), topic, "sync", wantA, n)
	})
	// Shutdown commits each queue's offset (UPDATE_CONSUMER_OFFSET) before
	// the client closes its connections: at least one past the last message
	// the group consumed there, never past the queue's end. (A tag-filtered
	// group commits the end only once a pull has answered past the
	// unmatched tail, as with Java's broker.) The Go client sends those
	// commits one-way and closes its connections right after, so one can
	// be lost on the client's side (seen once in CI: a reset before the
	// last commit was written); a missing commit is logged, a commit past
	// the queue's end fails.
	t.Run("OffsetsCommittedOnShutdown", func(t *testing.T) {
		cAll.stop()
		cTagA.stop()
		for _, g := range []struct {
			group string
			gets  func(i int) bool
		}{{"gc-sync-all", all}, {"gc-sync-taga", wantA}} {
			least := make(map[int]int64) // queue -> one past the last message consumed
			for i, e := range sent {
				if g.gets(i) {
					least[e.Queue] = max(least[e.Queue], e.QueueOffset+1)
				}
			}
			for q, end := range queueCount {
				var got int64
				deadline := time.Now().Add(5 * time.Second)
				for {
					got = c.consumerOffset(g.group, topic, q)
					if got >= least[q] || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if got < least[q] {
					t.Logf("%s: queue %d committed %d, consumed up to %d: a one-way shutdown commit did not arrive", g.group, q, got, least[q])
				}
				if got > end {
					t.Errorf("%s committed offset %d on queue %d, which ends at %d", g.group, got, q, end)
				}
			}
		}
	})
}

// TestAsyncAndBatchSend: SendAsync and a batch SendSync both succeed and
// their messages are consumed.
func TestAsyncAndBatchSend(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	const topic, nAsync, nBatch = "gc-async", 100, 16
	c.createTopic(topic, 4)

	t.Run("SendAsync", func(t *testing.T) {
		sent := c.produce("gc-async-producer", topic, "async", seqMessages("async", nAsync))
		if len(sent) != nAsync {
			t.Fatalf("%d async callbacks, want %d", len(sent), nAsync)
		}
		for i, e := range sent {
			if e.Index != i {
				t.Fatalf("callback %d is for message %d: one was called twice", i, e.Index)
			}
			checkSent(t, fmt.Sprintf("SendAsync %d", i), e, topic)
			if e.MsgID == "" {
				t.Fatalf("SendAsync %d: no msgId: %+v", i, e)
			}
		}
	})
	t.Run("SendBatch", func(t *testing.T) {
		sent := c.produce("gc-batch-producer", topic, "batch", seqMessages("batch", nBatch))
		if len(sent) != 1 {
			t.Fatalf("%d batch results, want 1", len(sent))
		}
		checkSent(t, "batch SendSync", sent[0], topic)
		if ids := strings.Split(sent[0].OffsetMsgID, ","); len(ids) != nBatch {
			t.Errorf("a batch of %d was answered %d msgIds: %q", nBatch, len(ids), sent[0].OffsetMsgID)
		}
	})
	if t.Failed() {
		return
	}

	cons := c.startConsumer("gc-async-all", topic, "*", "")
	cons.waitDistinct(t, nAsync+nBatch)
	time.Sleep(settle)
	var async, batch []event
	for _, r := range cons.snapshot() {
		if strings.HasPrefix(r.Body, "batch-") {
			batch = append(batch, r)
		} else {
			async = append(async, r)
		}
	}
	checkExactlyOnce(t, async, topic, "async", all, nAsync)
	checkExactlyOnce(t, batch, topic, "batch", all, nBatch)
	cons.stop()
}

// delaySets makes delay level 1 500 ms and level 3, the one of a first
// retry, 2 s.
const delaySets = "messageDelayLevel=500ms 1s 2s"

// TestRetryLater: a consumer that answers ConsumeRetryLater for a message
// the first time gets it again, with ReconsumeTimes 1, on its own topic.
func TestRetryLater(t *testing.T) {
	t.Parallel()
	c := startCluster(t, delaySets)
	const topic, group, n = "gc-retry", "gc-retry-group", 6
	c.createTopic(topic, 2)
	// The Go consumer reads the routes of its topics, %RETRY%<group>
	// included, in Start before its first heartbeat, and the broker creates
	// the retry topic on that heartbeat (as Java's does): without the topic
	// made first the client learns its route on a later refresh and pulls
	// it only from the next rebalance, 20 s on. Creating it first, as an
	// operator's updateSubGroup would, lets the first rebalance take it.
	c.createTopic("%RETRY%"+group, 1)
	cons := c.startConsumer(group, topic, "*", "-0000")

	for i, e := range c.produce("gc-retry-producer", topic, "sync", seqMessages("retry", n)) {
		checkSent(t, fmt.Sprintf("SendSync %d", i), e, topic)
	}
	// retry-0000 is refused once; it comes back after delay level 3 (2 s).
	cons.waitFor(t, "retry-0000 to be delivered again", func(got []event) bool {
		for _, r := range got {
			if r.Body == "retry-0000" && r.Reconsume >= 1 {
				return true
			}
		}
		return false
	})
	time.Sleep(settle)
	var first, again []event
	for _, r := range cons.snapshot() {
		if r.Reconsume == 0 {
			first = append(first, r)
		} else {
			again = append(again, r)
		}
	}
	checkExactlyOnce(t, first, topic, "retry", all, n)
	checkExactlyOnce(t, again, topic, "retry", func(i int) bool { return i == 0 }, n)
	for _, r := range again {
		if r.Reconsume != 1 {
			t.Errorf("%s: reconsumeTimes %d, want 1", r.Body, r.Reconsume)
		}
		for _, f := range first {
			if f.Body == r.Body {
				t.Logf("%s redelivered %v after its first delivery, reconsumeTimes=%d, msgId %s (first %s)",
					r.Body, r.time().Sub(f.time()).Round(time.Millisecond), r.Reconsume, r.MsgID, f.MsgID)
			}
		}
	}
	cons.stop()
}

// TestDelayLevel: a message sent with delay level 1 (500 ms) arrives no
// earlier than 500 ms after it was sent. A plain one sent right after it
// is logged for comparison (not checked: a loaded machine may hold it up).
func TestDelayLevel(t *testing.T) {
	t.Parallel()
	c := startCluster(t, delaySets)
	const topic = "gc-delay"
	c.createTopic(topic, 2)
	cons := c.startConsumer("gc-delay-group", topic, "*", "")

	msgs := seqMessages("delay", 3)
	// A first plain message shows the consumer is pulling.
	checkSent(t, "SendSync delay-0000", c.produce("gc-delay-producer", topic, "sync", msgs[:1])[0], topic)
	cons.waitDistinct(t, 1)

	msgs[1].Delay = 1
	sent := c.produce("gc-delay-producer", topic, "sync", msgs[1:])
	for i, e := range sent {
		checkSent(t, fmt.Sprintf("SendSync %d", i+1), e, topic)
	}
	cons.waitDistinct(t, 3)
	time.Sleep(settle)
	got := cons.snapshot()
	checkExactlyOnce(t, got, topic, "delay", all, 3)
	var delayed, plain time.Time
	for _, r := range got {
		switch r.Body {
		case "delay-0001":
			delayed = r.time()
		case "delay-0002":
			plain = r.time()
		}
	}
	sentAt := sent[0].time()
	d := delayed.Sub(sentAt)
	t.Logf("the delay level 1 message arrived %v after it was sent; the plain one sent after it, %v after",
		d.Round(time.Millisecond), plain.Sub(sentAt).Round(time.Millisecond))
	// Store timestamps have millisecond resolution: allow that much.
	if d < 499*time.Millisecond {
		t.Errorf("delay level 1 (500ms) message arrived %v after it was sent", d)
	}
	if d > 5*time.Second {
		t.Errorf("delay level 1 (500ms) message arrived only %v after it was sent", d)
	}
	cons.stop()
}
