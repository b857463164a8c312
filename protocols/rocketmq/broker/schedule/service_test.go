package schedule

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// testLevels are short enough for tests and long enough to see a message
// wait.
const testLevels = "100ms 200ms 300ms"

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testOptions are engine/engine_test.go's: small segments and files, fast
// flushes.
func testOptions(dir string) engine.Options {
	return engine.Options{
		Dir:                dir,
		SegmentSize:        64 << 10,
		MaxMessageSize:     16 << 10,
		FlushInterval:      5 * time.Millisecond,
		ZeroFillAhead:      32 << 10,
		ConsumeQueueUnits:  16,
		FlushQueueInterval: 20 * time.Millisecond,
		IndexHashSlots:     64,
		IndexMaxItems:      256,
		CleanInterval:      time.Hour,
		StoreHost:          message.HostFromAddrPort(netip.MustParseAddrPort("127.0.0.1:10911")),
		Logger:             discard,
		DiskUsage:          func(string) (float64, error) { return 0.1, nil },
	}
}

func openStore(t *testing.T, dir string) *engine.Store {
	t.Helper()
	s, err := engine.Open(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs svc until the returned function is called; that function
// checks Run returns promptly.
func start(t *testing.T, svc *Service) (stop func()) {
	t.Helper()
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ch)
	}()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		close(ch)
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Run did not return within 1 s of stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

var bornHost = message.HostFromAddrPort(netip.MustParseAddrPort("10.1.2.3:40000"))

// newMessage is a message for topic/qid as a producer sends it, with
// DELAY=level and a few properties that must survive the trip.
func newMessage(topic string, qid int32, body string, level int) message.Message {
	var props []byte
	props = message.AppendProperty(props, message.PropertyTags, "tagA")
	props = message.AppendProperty(props, message.PropertyKeys, "k1 k2")
	props = message.AppendProperty(props, message.PropertyUniqID, "UNIQ-"+body)
	props = message.AppendProperty(props, PropertyDelay, strconv.Itoa(level))
	return message.Message{
		Topic:          topic,
		QueueID:        qid,
		Flag:           7,
		BornTimestamp:  1700000000123,
		BornHost:       bornHost,
		ReconsumeTimes: 2,
		Body:           []byte(body),
		Properties:     props,
	}
}

// park delays and appends a message, returning its store timestamp.
func park(t *testing.T, s *engine.Store, svc *Service, topic string, qid int32, body string, level int) int64 {
	t.Helper()
	m := newMessage(topic, qid, body, level)
	if got := svc.Delay(&m, level); got != svc.Levels().Clamp(level) {
		t.Fatalf("Delay(%d) = %d", level, got)
	}
	r := &engine.Request{Msgs: []message.Message{m}}
	if st := s.Append(r); st != engine.StatusOK {
		t.Fatalf("append: %s %v", st, r.Err)
	}
	return r.StoreTimestamp
}

// stored is what a test checks of a stored message, copied out of the log.
type stored struct {
	body           string
	props          map[string]string
	flag, sysFlag  int32
	bornTimestamp  int64
	bornHost       message.Host
	storeTimestamp int64
	reconsumeTimes int32
	queueOffset    int64
}

// readQueue returns every message of topic/qid.
func readQueue(t *testing.T, s *engine.Store, topic string, qid int32) []stored {
	t.Helper()
	var out []stored
	var res engine.GetResult
	defer res.Release()
	req := engine.GetRequest{Topic: topic, QueueID: qid, MaxMessages: 64}
	for {
		s.GetMessages(&req, &res)
		if res.Status != engine.GetFound {
			return out
		}
		for _, raw := range res.Messages {
			rec, err := message.Parse(raw, true)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, stored{
				body:           string(rec.Body()),
				props:          message.ParseProperties(rec.Properties()),
				flag:           rec.Flag(),
				sysFlag:        rec.SysFlag(),
				bornTimestamp:  rec.BornTimestamp(),
				bornHost:       rec.BornHost(),
				storeTimestamp: rec.StoreTimestamp(),
				reconsumeTimes: rec.ReconsumeTimes(),
				queueOffset:    rec.QueueOffset(),
			})
		}
		req.Offset = res.NextOffset
		res.Release()
	}
}

// waitQueue waits until topic/qid holds at least n messages and returns them.
func waitQueue(t *testing.T, s *engine.Store, topic string, qid int32, n int) []stored {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := readQueue(t, s, topic, qid)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d holds %d messages after %v, want %d", topic, qid, len(got), waitLimit, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDelayRewrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels(testLevels), discard)

	m := newMessage("TopicA", 5, "x", 2)
	m.Properties = message.AppendProperty(m.Properties, propertyTimerDeliverMs, "1700000009999")
	m.Properties = message.AppendProperty(m.Properties, PropertyRealTopic, "stale")
	if got := svc.Delay(&m, 2); got != 2 {
		t.Fatalf("Delay = %d, want 2", got)
	}
	if m.Topic != Topic || m.QueueID != 1 {
		t.Errorf("parked on %s/%d, want %s/1", m.Topic, m.QueueID, Topic)
	}
	want := map[string]string{"TAGS": "tagA", "KEYS": "k1 k2", "UNIQ_KEY": "UNIQ-x", "DELAY": "2", "REAL_TOPIC": "TopicA", "REAL_QID": "5"}
	if got := message.ParseProperties(m.Properties); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("properties %v, want %v", got, want)
	}

	// A level beyond the last is clamped, DELAY included.
	m = newMessage("TopicA", 0, "y", 99)
	if got := svc.Delay(&m, 99); got != 3 || m.QueueID != 2 || PropertyLevel(m.Properties) != 3 {
		t.Errorf("Delay(99) = %d, queue %d, DELAY %d; want 3, 2, 3", got, m.QueueID, PropertyLevel(m.Properties))
	}

	// Not delayed: level 0, and transactional half and rollback messages.
	for _, c := range []struct {
		level   int
		sysFlag int32
	}{{0, 0}, {-1, 0}, {1, message.SysFlagTxPrepared}, {1, message.SysFlagTxRollback}} {
		m = newMessage("TopicA", 3, "z", c.level)
		m.SysFlag = c.sysFlag
		if got := svc.Delay(&m, c.level); got != 0 || m.Topic != "TopicA" || m.QueueID != 3 {
			t.Errorf("Delay(level %d, sysflag %#x) = %d on %s/%d, want 0 and the message unchanged", c.level, c.sysFlag, got, m.Topic, m.QueueID)
		}
	}
	// A commit message is delayed.
	m = newMessage("TopicA", 3, "z", 1)
	m.SysFlag = message.SysFlagTxCommit
	if got := svc.Delay(&m, 1); got != 1 {
		t.Errorf("Delay of a commit message = %d, want 1", got)
	}
}

func TestDeliveredAfterDelay(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels(testLevels), discard)
	stop := start(t, svc)

	parkedAt := park(t, s, svc, "TopicA", 1, "hello", 1)
	if got := readQueue(t, s, "TopicA", 1); len(got) != 0 {
		t.Fatalf("delayed message visible at once on its topic: %v", got)
	}
	if got := waitQueue(t, s, Topic, 0, 1); got[0].body != "hello" {
		t.Fatalf("parked message %+v", got[0])
	}

	got := waitQueue(t, s, "TopicA", 1, 1)
	d := got[0]
	if d.storeTimestamp < parkedAt+100 {
		t.Errorf("delivered at %d, %d ms after it was parked; want >= 100", d.storeTimestamp, d.storeTimestamp-parkedAt)
	}
	if d.body != "hello" || d.flag != 7 || d.bornTimestamp != 1700000000123 || d.bornHost != bornHost || d.reconsumeTimes != 2 || d.queueOffset != 0 {
		t.Errorf("delivered %+v, want the fields of the original", d)
	}
	// DELAY goes; REAL_TOPIC and REAL_QID stay, as ScheduleMessageService
	// leaves them.
	want := map[string]string{"TAGS": "tagA", "KEYS": "k1 k2", "UNIQ_KEY": "UNIQ-hello", "REAL_TOPIC": "TopicA", "REAL_QID": "1"}
	if fmt.Sprint(d.props) != fmt.Sprint(want) {
		t.Errorf("delivered properties %v, want %v", d.props, want)
	}
	stop()
	if got := readQueue(t, s, "TopicA", 1); len(got) != 1 {
		t.Errorf("%d messages delivered, want 1", len(got))
	}
	m := svc.Metrics()
	if svc.Delivered(1) != 1 || m.Levels[0].Delivered != 1 || m.Levels[0].Offset != 1 || m.Levels[0].MaxOffset != 1 || m.Levels[0].Delay != 100*time.Millisecond {
		t.Errorf("metrics %+v", m)
	}
	if got := s.Meta().Delay.Get(1); got != 1 {
		t.Errorf("saved delay offset of level 1 = %d, want 1", got)
	}
	// The tag hash of the delivered message is its tag's, so tag filters work.
	var res engine.GetResult
	defer res.Release()
	s.GetMessages(&engine.GetRequest{Topic: "TopicA", QueueID: 1, MaxMessages: 1, TagCodes: []int64{message.TagsCode([]byte("tagA"))}}, &res)
	if res.Status != engine.GetFound {
		t.Errorf("tag filter on the delivered message: %s", res.Status)
	}
}

func TestOrderWithinLevel(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels(testLevels), discard)
	start(t, svc)

	const n = 60
	parked := make([]int64, n)
	for i := range n {
		parked[i] = park(t, s, svc, "TopicB", 0, fmt.Sprintf("b%03d", i), 2)
		if i%20 == 0 {
			park(t, s, svc, "TopicB", 1, fmt.Sprintf("c%03d", i), 3) // another level in between
		}
	}
	got := waitQueue(t, s, "TopicB", 0, n)
	if len(got) != n {
		t.Fatalf("%d delivered, want %d", len(got), n)
	}
	for i, d := range got {
		if want := fmt.Sprintf("b%03d", i); d.body != want {
			t.Fatalf("message %d is %q, want %q", i, d.body, want)
		}
		if d.storeTimestamp < parked[i]+200 {
			t.Errorf("message %d delivered %d ms after it was parked, want >= 200", i, d.storeTimestamp-parked[i])
		}
	}
	if c := waitQueue(t, s, "TopicB", 1, 3); c[0].body != "c000" || c[1].body != "c020" || c[2].body != "c040" {
		t.Errorf("level 3 delivered %q %q %q", c[0].body, c[1].body, c[2].body)
	}
}

func TestClampedLevel(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels(testLevels), discard)
	start(t, svc)

	parkedAt := park(t, s, svc, "TopicC", 0, "far", 40)
	if got := waitQueue(t, s, Topic, 2, 1); got[0].props[PropertyDelay] != "3" {
		t.Errorf("parked with DELAY=%s, want 3", got[0].props[PropertyDelay])
	}
	d := waitQueue(t, s, "TopicC", 0, 1)[0]
	if d.storeTimestamp < parkedAt+300 {
		t.Errorf("delivered %d ms after it was parked, want >= 300", d.storeTimestamp-parkedAt)
	}
	if svc.Delivered(3) != 1 {
		t.Errorf("level 3 delivered %d, want 1", svc.Delivered(3))
	}
}

// TestRestart stops the service and the store while messages wait, opens
// both again and checks every message is delivered exactly once.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	// Level 3 waits an hour: it surely waits across the restart, after
	// which the second service's clock runs an hour ahead.
	levels := MustParseLevels("100ms 200ms 1h")
	s := openStore(t, dir)
	svc := New(s, levels, discard)
	stop := start(t, svc)

	const n = 10
	for i := range n {
		park(t, s, svc, "TopicR", 0, fmt.Sprintf("a%d", i), 1)
		park(t, s, svc, "TopicR", 1, fmt.Sprintf("b%d", i), 3)
	}
	waitQueue(t, s, "TopicR", 0, n)
	stop()
	if d := svc.Delivered(3); d != 0 {
		t.Fatalf("level 3 delivered %d before the restart", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	if got := s.Meta().Delay.All(); got[1] != n || got[3] != 0 {
		t.Errorf("delay offsets after restart %v, want level 1 at %d and level 3 at 0", got, n)
	}
	svc = New(s, levels, discard)
	svc.now = func() time.Time { return time.Now().Add(time.Hour) }
	stop = start(t, svc)
	waitQueue(t, s, "TopicR", 1, n)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	stop()

	for qid, prefix := range []string{"a", "b"} {
		got := readQueue(t, s, "TopicR", int32(qid))
		if len(got) != n {
			t.Errorf("TopicR/%d holds %d messages, want %d", qid, len(got), n)
		}
		for i, d := range got {
			if want := fmt.Sprintf("%s%d", prefix, i); d.body != want {
				t.Errorf("TopicR/%d message %d is %q, want %q", qid, i, d.body, want)
			}
		}
	}
	if svc.Delivered(1) != 0 || svc.Delivered(3) != n {
		t.Errorf("after the restart level 1 delivered %d (want 0), level 3 %d (want %d)", svc.Delivered(1), svc.Delivered(3), n)
	}
	if got := s.Meta().Delay.All(); got[1] != n || got[3] != n {
		t.Errorf("delay offsets at the end %v, want levels 1 and 3 at %d", got, n)
	}
}

// TestUndeliverableSkipped parks messages the service cannot deliver and
// checks they do not hold up the ones behind them.
func TestUndeliverableSkipped(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels(testLevels), discard)

	raw := func(props []byte) {
		t.Helper()
		r := &engine.Request{Msgs: []message.Message{{Topic: Topic, QueueID: 0, Body: []byte("bad"), Properties: props}}}
		if st := s.Append(r); st != engine.StatusOK {
			t.Fatalf("append: %s", st)
		}
	}
	raw(message.AppendProperty(nil, PropertyDelay, "1"))                                                            // no REAL_TOPIC
	raw(message.AppendProperty(message.AppendProperty(nil, PropertyRealTopic, "TopicD"), PropertyRealQueueID, "x")) // bad REAL_QID
	raw(message.AppendProperty(message.AppendProperty(nil, PropertyRealTopic, "bad topic!"), PropertyRealQueueID, "0"))
	raw(message.AppendProperty(message.AppendProperty(nil, PropertyRealTopic, transHalfTopic), PropertyRealQueueID, "0"))
	park(t, s, svc, "TopicD", 0, "good", 1)
	start(t, svc)

	if got := waitQueue(t, s, "TopicD", 0, 1); got[0].body != "good" {
		t.Errorf("delivered %q", got[0].body)
	}
	if m := svc.Metrics(); m.Levels[0].Skipped != 4 || m.Levels[0].Delivered != 1 {
		t.Errorf("level 1 metrics %+v, want 4 skipped and 1 delivered", m.Levels[0])
	}
}

// TestRunStopsPromptly stops a service whose head message is an hour away.
func TestRunStopsPromptly(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	svc := New(s, MustParseLevels("1h 2h"), discard)
	park(t, s, svc, "TopicE", 0, "later", 1)
	stop := start(t, svc)
	time.Sleep(50 * time.Millisecond)
	stop() // fails the test if Run takes more than a second
	if svc.Delivered(1) != 0 {
		t.Error("delivered an hour early")
	}
}

// TestDurableMarks drives a cursor's marks with random deliveries and
// flushes and checks, against a list of every delivery, that an offset
// is saved only once the deliveries before it are flushed, that saved
// offsets never go back, and that the newest is saved once all is flushed.
func TestDurableMarks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		c := &cursor{stats: &levelStats{}}
		type delivery struct{ end, next int64 }
		var all []delivery
		var end, flushed, saved int64
		for step := 0; step < 200; step++ {
			switch rng.IntN(3) {
			case 0, 1: // a delivery, or a skip (no new bytes)
				if rng.IntN(4) > 0 {
					end += int64(1 + rng.IntN(100))
					c.lastEnd = end
				}
				c.advance(c.next + int64(1+rng.IntN(3)))
				all = append(all, delivery{c.lastEnd, c.next})
			case 2:
				flushed = min(end, flushed+int64(rng.IntN(300)))
			}
			next, ok := c.durable(flushed)
			if !ok {
				continue
			}
			if next < saved {
				t.Fatalf("round %d: saved offset went back from %d to %d", round, saved, next)
			}
			saved = next
			for _, d := range all {
				if d.next <= next && d.end > flushed {
					t.Fatalf("round %d: offset %d saved with a delivery ending at %d not flushed (%d)", round, next, d.end, flushed)
				}
			}
		}
		if next, ok := c.durable(end); ok {
			saved = next
		}
		if len(all) > 0 && saved != c.next {
			t.Fatalf("round %d: everything flushed but saved %d, want %d", round, saved, c.next)
		}
	}
}
