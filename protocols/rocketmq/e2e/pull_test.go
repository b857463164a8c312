package e2e

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// PULL_MESSAGE (11): found, not found, offset moved, tag filtered, and
// long polling.

func TestPullMessage(t *testing.T) {
	c := startCluster(t)
	const topic, group = "e2e-pull", "e2e-g"
	for i, tag := range []string{"A", "B", "A", "B"} {
		c.send(topic, 0, "m"+strconv.Itoa(i), "TAGS", tag)
	}
	c.waitDispatched(topic, 0, 4)
	offsets := func(resp *remoting.Command) [3]int64 {
		return [3]int64{extInt(t, resp, "nextBeginOffset"), extInt(t, resp, "minOffset"), extInt(t, resp, "maxOffset")}
	}

	// Found.
	resp, recs := c.pull(group, topic, 0, 0, "*")
	expect(t, resp, remoting.ResSuccess)
	if got := bodies(recs); !slices.Equal(got, []string{"m0", "m1", "m2", "m3"}) || offsets(resp) != [3]int64{4, 0, 4} {
		t.Fatalf("pulled %q, offsets %v", got, offsets(resp))
	}
	if resp.ExtFields["suggestWhichBrokerId"] != "0" {
		t.Fatalf("suggestWhichBrokerId %q", resp.ExtFields["suggestWhichBrokerId"])
	}
	resp, recs = c.pull(group, topic, 0, 2, "")
	if got := bodies(recs); !slices.Equal(got, []string{"m2", "m3"}) || offsets(resp)[0] != 4 {
		t.Fatalf("from 2: pulled %q, next %d", got, offsets(resp)[0])
	}

	// Not found: the offset is the next one to be written.
	resp, _ = c.pull(group, topic, 0, 4, "*")
	expect(t, resp, remoting.ResPullNotFound)
	if offsets(resp) != [3]int64{4, 0, 4} {
		t.Fatalf("not found: offsets %v", offsets(resp))
	}

	// Offset moved: past the end, and before the start.
	resp, _ = c.pull(group, topic, 0, 10, "*")
	expect(t, resp, remoting.ResPullOffsetMoved)
	if offsets(resp)[0] != 4 {
		t.Fatalf("offset 10: nextBeginOffset %d, want 4", offsets(resp)[0])
	}
	resp, _ = c.pull(group, topic, 0, -3, "*")
	expect(t, resp, remoting.ResPullOffsetMoved)
	if offsets(resp)[0] != 0 {
		t.Fatalf("offset -3: nextBeginOffset %d, want 0", offsets(resp)[0])
	}
	// An empty queue of the topic: 19 at 0, 21 (back to 0) elsewhere.
	resp, _ = c.pull(group, topic, 1, 0, "*")
	expect(t, resp, remoting.ResPullNotFound)
	resp, _ = c.pull(group, topic, 1, 5, "*")
	expect(t, resp, remoting.ResPullOffsetMoved)
	if offsets(resp)[0] != 0 {
		t.Fatalf("empty queue at 5: nextBeginOffset %d, want 0", offsets(resp)[0])
	}

	// Tag filtered.
	_, recs = c.pull(group, topic, 0, 0, "A")
	if got := bodies(recs); !slices.Equal(got, []string{"m0", "m2"}) {
		t.Fatalf("TAG A: pulled %q", got)
	}
	_, recs = c.pull(group, topic, 0, 0, "B || A")
	if len(recs) != 4 {
		t.Fatalf("TAG B || A: pulled %d", len(recs))
	}
	resp, _ = c.pull(group, topic, 0, 0, "C")
	expect(t, resp, remoting.ResPullRetryImmediately)
	if offsets(resp)[0] != 4 {
		t.Fatalf("no match: nextBeginOffset %d, want 4 (past the scanned units)", offsets(resp)[0])
	}

	// Errors: unknown topic, queue out of range, no subscription anywhere.
	resp = c.call(remoting.ReqPullMessage, pullExt(group, "no-such-topic", 0, 0, pullSubscription, 0, "*"), nil)
	expect(t, resp, remoting.ResTopicNotExist)
	resp = c.call(remoting.ReqPullMessage, pullExt(group, topic, 99, 0, pullSubscription, 0, "*"), nil)
	expect(t, resp, remoting.ResSystemError)
	resp = c.call(remoting.ReqPullMessage, pullExt(group, topic, 0, 0, 0, 0, ""), nil)
	expect(t, resp, remoting.ResSubscriptionNotExist)

	// The commit bit stores commitOffset as the group's offset.
	ext := pullExt(group, topic, 0, 3, pullSubscription|pullCommitOffset, 0, "*")
	ext["commitOffset"] = "3"
	expect(t, c.call(remoting.ReqPullMessage, ext, nil), remoting.ResSuccess)
	q := c.call(remoting.ReqQueryConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0"}, nil)
	expect(t, q, remoting.ResSuccess)
	if q.ExtFields["offset"] != "3" {
		t.Fatalf("committed offset %q, want 3", q.ExtFields["offset"])
	}
}

// heldPulls reads the number of parked pulls from GET_BROKER_RUNTIME_INFO.
func (c *cluster) heldPulls() string {
	c.t.Helper()
	resp := c.call(remoting.ReqGetBrokerRuntimeInfo, nil, nil)
	expect(c.t, resp, remoting.ResSuccess)
	return runtimeTable(c.t, resp)["heldPullRequests"]
}

type pullResult struct {
	resp *remoting.Command
	err  error
	at   time.Time
}

// pullAsync starts a suspended pull on its own goroutine.
func (c *cluster) pullAsync(cl *remoting.Client, group, topic string, offset int64, suspend time.Duration) <-chan pullResult {
	out := make(chan pullResult, 1)
	ext := pullExt(group, topic, 0, offset, pullSuspend|pullSubscription, suspend, "*")
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), suspend+callTimeout)
		defer cancel()
		resp, err := cl.Invoke(ctx, c.brokerAddr, remoting.NewRequest(remoting.ReqPullMessage, ext, nil))
		out <- pullResult{resp, err, time.Now()}
	}()
	return out
}

func waitPull(t *testing.T, ch <-chan pullResult) pullResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("held pull: %v", r.err)
		}
		return r
	case <-time.After(waitLimit + callTimeout):
		t.Fatal("held pull never answered")
	}
	return pullResult{}
}

// TestLongPolling: a pull with the SUSPEND bit that finds nothing is held
// and answered as soon as a message reaches its queue; with nothing
// coming it answers PULL_NOT_FOUND when its suspend time is over.
func TestLongPolling(t *testing.T) {
	c := startCluster(t)
	const topic, group = "e2e-longpoll", "e2e-g"
	c.send(topic, 0, "first")
	puller := c.newClient(remoting.ClientOptions{})

	const rounds = 5
	var worst time.Duration
	for i := 1; i <= rounds; i++ {
		c.waitDispatched(topic, 0, int64(i))
		ch := c.pullAsync(puller, group, topic, int64(i), 20*time.Second)
		eventually(t, "the pull to be held", func() bool { return c.heldPulls() == "1" })
		sent := time.Now()
		c.send(topic, 0, "wake-"+strconv.Itoa(i))
		sendTook := time.Since(sent)
		r := waitPull(t, ch)
		latency := r.at.Sub(sent)
		expect(t, r.resp, remoting.ResSuccess)
		if got := bodies(records(t, r.resp.Body)); !slices.Equal(got, []string{"wake-" + strconv.Itoa(i)}) {
			t.Fatalf("round %d: held pull got %q", i, got)
		}
		t.Logf("long polling round %d: held pull answered %v after the send started (the send took %v)",
			i, latency.Round(10*time.Microsecond), sendTook.Round(10*time.Microsecond))
		worst = max(worst, latency)
		if latency > time.Second {
			t.Fatalf("round %d: held pull answered %v after the send, want < 1s (200 ms expected)", i, latency)
		}
	}
	t.Logf("long polling: worst wake-up latency over %d rounds %v", rounds, worst.Round(10*time.Microsecond))

	// Nothing comes: PULL_NOT_FOUND after the suspend time, offset unchanged.
	c.waitDispatched(topic, 0, rounds+1)
	const suspend = 300 * time.Millisecond
	start := time.Now()
	ch := c.pullAsync(puller, group, topic, rounds+1, suspend)
	r := waitPull(t, ch)
	took := r.at.Sub(start)
	expect(t, r.resp, remoting.ResPullNotFound)
	if got := extInt(t, r.resp, "nextBeginOffset"); got != rounds+1 {
		t.Fatalf("timed-out pull: nextBeginOffset %d, want %d", got, rounds+1)
	}
	t.Logf("long polling: an idle pull with suspendTimeoutMillis=%d answered PULL_NOT_FOUND after %v",
		suspend.Milliseconds(), took.Round(10*time.Microsecond))
	if took < suspend-10*time.Millisecond || took > suspend+time.Second {
		t.Fatalf("idle pull answered after %v, want about %v", took, suspend)
	}
	if got := c.heldPulls(); got != "0" {
		t.Fatalf("%s pulls still held", got)
	}
}
