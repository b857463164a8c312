//go:build unix

package interop

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenarios run against one `gannet standalone`, each with its own topic and
// consumer group, driven by the ali-ons scripts in scripts/.
//
// Every consumer uses --from first (CONSUME_FROM_FIRST_OFFSET) so a new group
// reads its queues from offset 0 whatever the broker answers to
// QUERY_CONSUMER_OFFSET for an unknown offset.

const topicQueues = 8

// createTopic creates topic on the broker and waits until the name server
// routes it.
func createTopic(t *testing.T, ctx context.Context, e *env, topic string, queues int) {
	t.Helper()
	p := e.startNode(t, "create_topic "+topic, "create_topic.js",
		"--namesrv", e.namesrv, "--broker", e.broker, "--topic", topic,
		"--queues", strconv.Itoa(queues), "--timeout-ms", "20000")
	if code := p.wait(ctx); code != 0 {
		t.Fatalf("creating topic %s (UPDATE_AND_CREATE_TOPIC to the broker, then GET_ROUTEINTO_BY_TOPIC): %s",
			topic, p.describeExit())
	}
}

type produceOpts struct {
	topic, group, bodyPrefix string
	start, count             int
	intervalMs               int
	timeout                  time.Duration
}

func startProducer(t *testing.T, e *env, o produceOpts) *nodeProc {
	t.Helper()
	if o.group == "" {
		o.group = "InteropProducer"
	}
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	return e.startNode(t, "producer "+o.topic, "produce.js",
		"--namesrv", e.namesrv, "--topic", o.topic, "--group", o.group,
		"--count", strconv.Itoa(o.count), "--start", strconv.Itoa(o.start),
		"--body-prefix", o.bodyPrefix, "--key-prefix", "key-",
		"--interval-ms", strconv.Itoa(o.intervalMs),
		"--timeout-ms", strconv.Itoa(int(o.timeout/time.Millisecond)))
}

// sentBySeq checks a finished producer and returns its send results by seq.
func sentBySeq(t *testing.T, p *nodeProc, ctx context.Context, want int) map[int]line {
	t.Helper()
	if code := p.wait(ctx); code != 0 {
		t.Fatalf("producer failed (exit %d): %s", code, p.describeExit())
	}
	sent := map[int]line{}
	for _, l := range p.snapshot() {
		if l.Type != "sent" {
			continue
		}
		if l.SendStatus != "SEND_OK" {
			t.Errorf("send of seq %d: sendStatus %q, want SEND_OK", l.Seq, l.SendStatus)
		}
		if l.MsgID == "" {
			t.Errorf("send of seq %d: empty msgId in the SEND_MESSAGE_V2 response header", l.Seq)
		}
		sent[l.Seq] = l
	}
	if len(sent) != want {
		t.Fatalf("producer reported %d successful sends, want %d", len(sent), want)
	}
	return sent
}

type consumeOpts struct {
	topic, group string
	broadcast    bool
	failPattern  string
	expect       int
	timeout      time.Duration
}

func startConsumer(t *testing.T, e *env, name string, o consumeOpts) *nodeProc {
	t.Helper()
	args := []string{
		"--namesrv", e.namesrv, "--topic", o.topic, "--group", o.group, "--from", "first",
		"--timeout-ms", strconv.Itoa(int(o.timeout / time.Millisecond)),
	}
	if o.expect > 0 {
		args = append(args, "--expect", strconv.Itoa(o.expect))
	}
	if o.failPattern != "" {
		args = append(args, "--fail-pattern", o.failPattern)
	}
	if o.broadcast {
		args = append(args, "--broadcast")
	}
	return e.startNode(t, name, "consume.js", args...)
}

func waitReady(t *testing.T, ctx context.Context, ps ...*nodeProc) {
	t.Helper()
	for _, p := range ps {
		p.waitFor(ctx, "consumer ready (topic route known)", func(l line) bool { return l.Type == "ready" })
	}
}

// lastAssignment is the latest "assigned" line of p (nil if none yet).
func lastAssignment(p *nodeProc) *line {
	var last *line
	for _, l := range p.snapshot() {
		if l.Type == "assigned" {
			l := l
			last = &l
		}
	}
	return last
}

// assignmentState describes the consumers' latest queue sets and whether they
// partition the topic's queues: every consumer has some, none shared, all
// covered.
func assignmentState(ps []*nodeProc) (stable bool, desc string) {
	stable = true
	owner := map[int]string{}
	total := -1
	var parts []string
	for _, p := range ps {
		a := lastAssignment(p)
		if a == nil {
			parts = append(parts, p.name+"=none")
			stable = false
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v/%d", p.name, a.Queues, a.Total))
		if len(a.Queues) == 0 || a.Total <= 0 {
			stable = false
		}
		if total == -1 {
			total = a.Total
		} else if total != a.Total {
			stable = false
		}
		for _, q := range a.Queues {
			if o, dup := owner[q]; dup {
				stable = false
				parts = append(parts, fmt.Sprintf("queue %d held by %s and %s", q, o, p.name))
			}
			owner[q] = p.name
		}
	}
	if total <= 0 || len(owner) != total {
		stable = false
	}
	return stable, strings.Join(parts, " ")
}

// waitStableAssignment waits until the consumers partition the topic's queues
// (clustering rebalance converged).
func waitStableAssignment(t *testing.T, ctx context.Context, what string, ps ...*nodeProc) {
	t.Helper()
	for {
		stable, desc := assignmentState(ps)
		if stable {
			t.Logf("%s: queues partitioned: %s", what, desc)
			return
		}
		for _, p := range ps {
			if p.exited() {
				t.Fatalf("%s: %s", what, p.describeExit())
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: consumers never partitioned the topic's queues (GET_CONSUMER_LIST_BY_GROUP / HEART_BEAT / route): %s",
				what, desc)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// delivery is one message handed to a consumer.
type delivery struct {
	consumer string
	seq      int
	l        line
}

// deliveries returns the "msg" lines of ps (status filter "" = any) whose body
// is <bodyPrefix>-<seq>.
func deliveries(t *testing.T, bodyPrefix, status string, ps ...*nodeProc) []delivery {
	t.Helper()
	var out []delivery
	for _, p := range ps {
		for _, l := range p.snapshot() {
			if l.Type == "decode_error" {
				t.Fatalf("%s: ali-ons could not decode a PULL_MESSAGE response body: %v", p.name, l.Problems)
			}
			if l.Type != "msg" || (status != "" && l.Status != status) {
				continue
			}
			seq, ok := seqOf(bodyPrefix, l.Body)
			if !ok {
				t.Errorf("%s: unexpected body %q (msgId %s, topic %s)", p.name, l.Body, l.MsgID, l.Topic)
				continue
			}
			out = append(out, delivery{consumer: p.name, seq: seq, l: l})
		}
	}
	return out
}

func seqOf(prefix, body string) (int, bool) {
	if !strings.HasPrefix(body, prefix+"-") {
		return 0, false
	}
	n, err := strconv.Atoi(body[len(prefix)+1:])
	return n, err == nil
}

// waitAllReceived waits until every seq in want has an "ok" delivery.
func waitAllReceived(t *testing.T, ctx context.Context, what, bodyPrefix string, want map[int]line, ps ...*nodeProc) {
	t.Helper()
	for {
		got := map[int]bool{}
		for _, d := range deliveries(t, bodyPrefix, "ok", ps...) {
			got[d.seq] = true
		}
		var missing []int
		for seq := range want {
			if !got[seq] {
				missing = append(missing, seq)
			}
		}
		if len(missing) == 0 {
			return
		}
		for _, p := range ps {
			if p.exited() {
				t.Fatalf("%s: %s", what, p.describeExit())
			}
		}
		select {
		case <-ctx.Done():
			sort.Ints(missing)
			t.Fatalf("%s: %d of %d produced messages never delivered; first missing seqs: %v",
				what, len(missing), len(want), missing[:min(len(missing), 20)])
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopConsumers stops each consumer with SIGTERM and checks it closed cleanly
// (offset commit and UNREGISTER_CLIENT answered).
func stopConsumers(t *testing.T, ps ...*nodeProc) {
	t.Helper()
	for _, p := range ps {
		if code := p.stop(); code != 0 {
			t.Errorf("%s did not close cleanly (exit %d): %s", p.name, code, p.describeExit())
		}
	}
}

// sameMessage compares what a consumer (or a query) got with the send result
// and returns the differences. ali-ons' send result msgId is the broker's
// SEND_MESSAGE_V2 response header msgId, while the msgId of a received message
// is computed from its STOREHOST and PHYSICALOFFSET, so the two match when the
// broker answers with the offset msgId, as RocketMQ's broker does.
func sameMessage(d delivery, s line, tags bool) []string {
	var diffs []string
	wantKey := "key-" + strconv.Itoa(d.seq)
	if d.l.Keys != wantKey {
		diffs = append(diffs, fmt.Sprintf("keys %q, want %q", d.l.Keys, wantKey))
	}
	if tags && d.l.Tags != s.Tags {
		diffs = append(diffs, fmt.Sprintf("tags %q, want %q", d.l.Tags, s.Tags))
	}
	if d.l.MsgID != s.MsgID {
		diffs = append(diffs, fmt.Sprintf("msgId %s but the send result said %s", d.l.MsgID, s.MsgID))
	}
	if d.l.QueueID != s.QueueID || d.l.QueueOffset != s.QueueOffset {
		diffs = append(diffs, fmt.Sprintf("queue %d offset %d but the send result said queue %d offset %d",
			d.l.QueueID, d.l.QueueOffset, s.QueueID, s.QueueOffset))
	}
	return diffs
}

// mismatchReporter reports the first 20 mismatching messages and counts the
// rest.
type mismatchReporter struct {
	t *testing.T
	n int
}

func (r *mismatchReporter) check(d delivery, s line, tags bool) {
	r.t.Helper()
	diffs := sameMessage(d, s, tags)
	if len(diffs) == 0 {
		return
	}
	r.n++
	if r.n <= 20 {
		r.t.Errorf("seq %d (%s): %s", d.seq, d.consumer, strings.Join(diffs, "; "))
	}
}

func (r *mismatchReporter) done() {
	r.t.Helper()
	if r.n > 20 {
		r.t.Errorf("... %d messages differ from their send results in all (first 20 shown)", r.n)
	}
}

// a. 1,000 messages with tags and keys; a clustering group of two consumer
// processes receives every message exactly once between them.
func TestClusteringTwoConsumersExactlyOnce(t *testing.T) {
	e := setup(t)
	ctx := testContext(t, 3*time.Minute)
	const (
		topic = "InteropTopicA"
		group = "InteropGroupA"
		body  = "a"
		n     = 1000
	)
	createTopic(t, ctx, e, topic, topicQueues)

	c1 := startConsumer(t, e, "consumer-a1", consumeOpts{topic: topic, group: group, timeout: 170 * time.Second})
	c2 := startConsumer(t, e, "consumer-a2", consumeOpts{topic: topic, group: group, timeout: 170 * time.Second})
	waitReady(t, ctx, c1, c2)
	waitStableAssignment(t, within(t, ctx, 45*time.Second), "two consumers joining "+group, c1, c2)

	prod := startProducer(t, e, produceOpts{topic: topic, bodyPrefix: body, count: n})
	sent := sentBySeq(t, prod, ctx, n)

	waitAllReceived(t, within(t, ctx, 90*time.Second), "clustering consumers", body, sent, c1, c2)
	// Give late duplicates a moment to show up before judging exactly-once.
	time.Sleep(3 * time.Second)
	if stable, desc := assignmentState([]*nodeProc{c1, c2}); !stable {
		t.Logf("assignment changed while consuming: %s", desc)
	}
	stopConsumers(t, c1, c2)
	e.brokerAlive(t)

	got := deliveries(t, body, "", c1, c2)
	bySeq := map[int][]delivery{}
	perConsumer := map[string]int{}
	for _, d := range got {
		bySeq[d.seq] = append(bySeq[d.seq], d)
		perConsumer[d.consumer]++
	}
	t.Logf("deliveries per consumer: %v", perConsumer)
	var dups []string
	mm := &mismatchReporter{t: t}
	for seq := 0; seq < n; seq++ {
		ds := bySeq[seq]
		if len(ds) == 0 {
			t.Errorf("seq %d never delivered", seq)
			continue
		}
		if len(ds) > 1 {
			var who []string
			for _, d := range ds {
				who = append(who, fmt.Sprintf("%s(q%d@%d,reconsume=%d)", d.consumer, d.l.QueueID, d.l.QueueOffset, d.l.ReconsumeTimes))
			}
			dups = append(dups, fmt.Sprintf("seq %d x%d: %s", seq, len(ds), strings.Join(who, " ")))
		}
		d := ds[0]
		if d.l.ReconsumeTimes != 0 {
			t.Errorf("seq %d: reconsumeTimes %d, want 0", seq, d.l.ReconsumeTimes)
		}
		if d.l.Topic != topic {
			t.Errorf("seq %d: topic %q, want %q", seq, d.l.Topic, topic)
		}
		mm.check(d, sent[seq], true)
	}
	mm.done()
	if len(dups) > 0 {
		t.Errorf("%d messages delivered more than once with a stable group of two (want exactly once); first: %s",
			len(dups), strings.Join(dups[:min(len(dups), 10)], "; "))
	}
	for _, p := range []*nodeProc{c1, c2} {
		if perConsumer[p.name] == 0 {
			t.Errorf("%s received nothing although it held queues: the group did not share the load", p.name)
		}
	}
}

// b. A third consumer joins while messages are being produced: the group
// rebalances and nothing is lost (duplicates are allowed and only logged).
func TestClusteringRebalanceOnJoinLosesNothing(t *testing.T) {
	e := setup(t)
	ctx := testContext(t, 4*time.Minute)
	const (
		topic = "InteropTopicB"
		group = "InteropGroupB"
		body  = "b"
		n     = 1000
	)
	createTopic(t, ctx, e, topic, topicQueues)

	c1 := startConsumer(t, e, "consumer-b1", consumeOpts{topic: topic, group: group, timeout: 230 * time.Second})
	c2 := startConsumer(t, e, "consumer-b2", consumeOpts{topic: topic, group: group, timeout: 230 * time.Second})
	waitReady(t, ctx, c1, c2)
	waitStableAssignment(t, within(t, ctx, 45*time.Second), "two consumers joining "+group, c1, c2)

	// About 10 s of steady production (10 ms between sends).
	prod := startProducer(t, e, produceOpts{topic: topic, bodyPrefix: body, count: n, intervalMs: 10, timeout: 120 * time.Second})
	prod.waitFor(within(t, ctx, 60*time.Second), "200 sends before the third consumer joins", func(l line) bool {
		return l.Type == "sent" && l.Seq >= 199
	})

	c3 := startConsumer(t, e, "consumer-b3", consumeOpts{topic: topic, group: group, timeout: 200 * time.Second})
	waitReady(t, ctx, c3)
	c3.waitFor(within(t, ctx, 45*time.Second), "queues assigned to the joining consumer", func(l line) bool {
		return l.Type == "assigned" && len(l.Queues) > 0
	})
	joinedAt := time.Now()
	// Convergence is informative here: the old owners release queues on their
	// next periodic rebalance; until then a queue may be pulled twice.
	func() {
		cctx := within(t, ctx, 30*time.Second)
		for {
			if stable, desc := assignmentState([]*nodeProc{c1, c2, c3}); stable {
				t.Logf("three consumers partition the queues %v after the join: %s", time.Since(joinedAt).Round(time.Millisecond), desc)
				return
			}
			select {
			case <-cctx.Done():
				_, desc := assignmentState([]*nodeProc{c1, c2, c3})
				t.Errorf("three consumers did not partition the queues within 30 s of the join: %s", desc)
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	sent := sentBySeq(t, prod, ctx, n)
	waitAllReceived(t, within(t, ctx, 90*time.Second), "after rebalance", body, sent, c1, c2, c3)
	stopConsumers(t, c1, c2, c3)
	e.brokerAlive(t)

	got := deliveries(t, body, "ok", c1, c2, c3)
	count := map[int]int{}
	perConsumer := map[string]int{}
	for _, d := range got {
		count[d.seq]++
		perConsumer[d.consumer]++
	}
	t.Logf("deliveries per consumer: %v", perConsumer)
	var dups []int
	for seq, c := range count {
		if c > 1 {
			dups = append(dups, seq)
		}
	}
	sort.Ints(dups)
	if len(dups) > 0 {
		t.Logf("%d messages delivered more than once across the rebalance (allowed in clustering mode); first: %v",
			len(dups), dups[:min(len(dups), 20)])
	}
	if perConsumer["consumer-b3"] == 0 {
		t.Errorf("consumer-b3 joined and got queues but received none of the messages produced after it joined")
	}
	mm := &mismatchReporter{t: t}
	for _, d := range got {
		if s, ok := sent[d.seq]; ok && d.l.ReconsumeTimes == 0 {
			mm.check(d, s, true)
		}
	}
	mm.done()
}

// c. A consumer that fails a message the first time gets it again from the
// retry topic with reconsumeTimes >= 1.
func TestFailedMessageIsRedelivered(t *testing.T) {
	e := setup(t)
	ctx := testContext(t, 3*time.Minute)
	const (
		topic = "InteropTopicC"
		group = "InteropGroupC"
		body  = "c"
		n     = 5
	)
	failing := map[int]bool{1: true, 3: true}
	createTopic(t, ctx, e, topic, 4)

	c1 := startConsumer(t, e, "consumer-c", consumeOpts{
		topic: topic, group: group, expect: n, failPattern: "^c-(1|3)$", timeout: 150 * time.Second,
	})
	waitReady(t, ctx, c1)
	prod := startProducer(t, e, produceOpts{topic: topic, bodyPrefix: body, count: n})
	sent := sentBySeq(t, prod, ctx, n)

	// The consumer exits by itself after n successful deliveries. RocketMQ's
	// first retry comes after delay level 3 (10 s) when the client sends
	// delayLevel 0, as ali-ons does.
	code := c1.wait(within(t, ctx, 160*time.Second))
	all := deliveries(t, body, "", c1)
	bySeq := map[int][]delivery{}
	for _, d := range all {
		bySeq[d.seq] = append(bySeq[d.seq], d)
	}
	for seq := 0; seq < n; seq++ {
		ds := bySeq[seq]
		var trace []string
		for _, d := range ds {
			trace = append(trace, fmt.Sprintf("%s(reconsume=%d,topic=%s,retryTopic=%s)", d.l.Status, d.l.ReconsumeTimes, d.l.Topic, d.l.RetryTopic))
		}
		if !failing[seq] {
			if len(ds) == 0 {
				t.Errorf("seq %d never delivered", seq)
			} else if ds[0].l.Status != "ok" || ds[0].l.ReconsumeTimes != 0 {
				t.Errorf("seq %d: deliveries %v, want one ok delivery with reconsumeTimes 0", seq, trace)
			}
			continue
		}
		if len(ds) == 0 || ds[0].l.Status != "failed" {
			t.Errorf("seq %d: deliveries %v, want a first delivery that the handler failed", seq, trace)
			continue
		}
		var retried *delivery
		for i := range ds[1:] {
			if ds[1+i].l.Status == "ok" {
				retried = &ds[1+i]
				break
			}
		}
		if retried == nil {
			t.Errorf("seq %d: failed once but never redelivered (deliveries %v). ali-ons sends CONSUMER_SEND_MSG_BACK(36) "+
				"and pulls %%RETRY%%%s (created by the broker on HEART_BEAT, routed by the name server); the retried "+
				"message must carry property RETRY_TOPIC=%s or ali-ons drops it", seq, trace, group, topic)
			continue
		}
		t.Logf("seq %d: %v", seq, trace)
		if retried.l.ReconsumeTimes < 1 {
			t.Errorf("seq %d: redelivered with reconsumeTimes %d, want >= 1", seq, retried.l.ReconsumeTimes)
		}
		if retried.l.RetryTopic != topic {
			t.Errorf("seq %d: redelivered with RETRY_TOPIC %q, want %q", seq, retried.l.RetryTopic, topic)
		}
		if retried.l.Keys != "key-"+strconv.Itoa(seq) || retried.l.Tags != sent[seq].Tags {
			t.Errorf("seq %d: redelivered with keys %q tags %q, want the original's key-%d %q",
				seq, retried.l.Keys, retried.l.Tags, seq, sent[seq].Tags)
		}
		if retried.l.OriginMsgID != ds[0].l.MsgID {
			t.Logf("seq %d: ORIGIN_MESSAGE_ID %q differs from the first delivery's msgId %q", seq, retried.l.OriginMsgID, ds[0].l.MsgID)
		}
	}
	if code != 0 {
		t.Errorf("retry consumer did not reach %d successful deliveries cleanly: %s", n, c1.describeExit())
	}
	e.brokerAlive(t)
}

// d. Keys can be queried back.
func TestQueryByKey(t *testing.T) {
	e := setup(t)
	ctx := testContext(t, 2*time.Minute)
	const (
		topic = "InteropTopicD"
		body  = "d"
		n     = 20
	)
	createTopic(t, ctx, e, topic, 4)
	prod := startProducer(t, e, produceOpts{topic: topic, bodyPrefix: body, count: n})
	sent := sentBySeq(t, prod, ctx, n)

	wantSeqs := []int{3, 17}
	var keys []string
	for _, s := range wantSeqs {
		keys = append(keys, "key-"+strconv.Itoa(s))
	}
	q := e.startNode(t, "query", "query.js", "--namesrv", e.namesrv, "--topic", topic,
		"--keys", strings.Join(keys, ","), "--timeout-ms", "30000")
	code := q.wait(within(t, ctx, 40*time.Second))
	found := map[string][]line{}
	for _, l := range q.snapshot() {
		switch l.Type {
		case "found":
			found[l.Key] = append(found[l.Key], l)
		case "decode_error":
			t.Errorf("ali-ons could not decode a QUERY_MESSAGE response body: %v", l.Problems)
		}
	}
	for _, seq := range wantSeqs {
		key := "key-" + strconv.Itoa(seq)
		ls := found[key]
		if len(ls) == 0 {
			t.Errorf("QUERY_MESSAGE(12) for key %s of topic %s found nothing", key, topic)
			continue
		}
		if len(ls) > 1 {
			t.Errorf("QUERY_MESSAGE for key %s found %d messages, want 1", key, len(ls))
		}
		l := ls[0]
		if l.Body != body+"-"+strconv.Itoa(seq) {
			t.Errorf("key %s: body %q, want %q", key, l.Body, body+"-"+strconv.Itoa(seq))
		}
		if diffs := sameMessage(delivery{consumer: "query", seq: seq, l: l}, sent[seq], true); len(diffs) > 0 {
			t.Errorf("key %s: %s", key, strings.Join(diffs, "; "))
		}
	}
	if code != 0 && !t.Failed() {
		t.Errorf("query.js failed: %s", q.describeExit())
	}
	e.brokerAlive(t)
}

// within narrows ctx to d; it is cancelled when the test ends.
func within(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}

// e. Broadcasting: every consumer of the group receives every message; the
// offsets are the clients' own.
func TestBroadcastEveryConsumerGetsEverything(t *testing.T) {
	e := setup(t)
	ctx := testContext(t, 2*time.Minute)
	const (
		topic = "InteropTopicE"
		group = "InteropGroupE"
		body  = "e"
		n     = 200
	)
	createTopic(t, ctx, e, topic, topicQueues)
	c1 := startConsumer(t, e, "consumer-e1", consumeOpts{topic: topic, group: group, broadcast: true, timeout: 110 * time.Second})
	c2 := startConsumer(t, e, "consumer-e2", consumeOpts{topic: topic, group: group, broadcast: true, timeout: 110 * time.Second})
	waitReady(t, ctx, c1, c2)
	// Broadcasting consumers each take every queue; wait until both do.
	for _, c := range []*nodeProc{c1, c2} {
		c.waitFor(within(t, ctx, 45*time.Second), "all queues assigned", func(l line) bool {
			return l.Type == "assigned" && len(l.Queues) == topicQueues
		})
	}
	prod := startProducer(t, e, produceOpts{topic: topic, bodyPrefix: body, count: n})
	sent := sentBySeq(t, prod, ctx, n)
	for _, c := range []*nodeProc{c1, c2} {
		waitAllReceived(t, within(t, ctx, 60*time.Second), "broadcast consumer "+c.name, body, sent, c)
	}
	stopConsumers(t, c1, c2)
	e.brokerAlive(t)
}
