package engine

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

const testSegment = 64 << 10

func testOptions(dir string, flush Flush) Options {
	return Options{
		Dir:                dir,
		SegmentSize:        testSegment,
		FlushMode:          flush,
		MaxMessageSize:     16 << 10,
		FlushInterval:      5 * time.Millisecond,
		ZeroFillAhead:      32 << 10,
		ConsumeQueueUnits:  16,
		FlushQueueInterval: 20 * time.Millisecond,
		IndexHashSlots:     64,
		IndexMaxItems:      256,
		CleanInterval:      time.Hour,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		DiskUsage:          func(string) (float64, error) { return 0.1, nil },
	}
}

func mustOpen(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testBody(i int) []byte {
	return []byte(fmt.Sprintf("message-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%300)))
}

func testMessage(topic string, qid int32, i int) message.Message {
	var props []byte
	props = message.AppendProperty(props, message.PropertyTags, fmt.Sprintf("tag%d", i%3))
	props = message.AppendProperty(props, message.PropertyKeys, fmt.Sprintf("key-%d common", i))
	props = message.AppendProperty(props, message.PropertyUniqID, fmt.Sprintf("UNIQ%08d", i))
	return message.Message{Topic: topic, QueueID: qid, Body: testBody(i), Properties: props, BornTimestamp: time.Now().UnixMilli()}
}

func appendN(t testing.TB, s *Store, topic string, queues int32, n int) []*Request {
	t.Helper()
	var out []*Request
	for i := 0; i < n; i++ {
		r := &Request{Msgs: []message.Message{testMessage(topic, int32(i)%queues, i)}}
		if st := s.Append(r); st != StatusOK {
			t.Fatalf("append %d: %s %v", i, st, r.Err)
		}
		out = append(out, r)
	}
	return out
}

// waitDispatched waits until everything written is visible to readers.
func waitDispatched(t testing.TB, s *Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.DispatchedPhysicalOffset() < s.MaxPhysicalOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("dispatch stuck at %d of %d: %v", s.DispatchedPhysicalOffset(), s.MaxPhysicalOffset(), s.DispatchError())
		}
		time.Sleep(time.Millisecond)
	}
}

// readQueue reads a whole queue from offset 0 and returns the bodies.
func readQueue(t testing.TB, s *Store, topic string, qid int32) [][]byte {
	t.Helper()
	var out [][]byte
	var res GetResult
	defer res.Release()
	req := GetRequest{Topic: topic, QueueID: qid, MaxMessages: 7}
	for {
		s.GetMessages(&req, &res)
		if res.Status != GetFound {
			if res.Status != GetOffsetOverflowOne && res.Status != GetNoMessageInQueue {
				t.Fatalf("read %s/%d at %d: %s", topic, qid, req.Offset, res.Status)
			}
			return out
		}
		for i, m := range res.Messages {
			rec, err := message.Parse(m, true)
			if err != nil {
				t.Fatalf("stored record at queue offset %d: %v", res.Offsets[i], err)
			}
			if rec.QueueOffset() != res.Offsets[i] || string(rec.Topic()) != topic || rec.QueueID() != qid {
				t.Fatalf("record at %d: queue offset %d topic %s queue %d", res.Offsets[i], rec.QueueOffset(), rec.Topic(), rec.QueueID())
			}
			out = append(out, bytes.Clone(rec.Body()))
		}
		req.Offset = res.NextOffset
	}
}

func TestAppendDispatchRead(t *testing.T) {
	for _, flush := range []Flush{AsyncFlush, SyncFlush} {
		t.Run(flush.String(), func(t *testing.T) {
			s := mustOpen(t, testOptions(t.TempDir(), flush))
			defer s.Close()
			appendN(t, s, "TopicA", 4, 400)
			waitDispatched(t, s)
			for q := int32(0); q < 4; q++ {
				got := readQueue(t, s, "TopicA", q)
				if len(got) != 100 {
					t.Fatalf("queue %d: %d messages, want 100", q, len(got))
				}
				for j, b := range got {
					if want := testBody(j*4 + int(q)); !bytes.Equal(b, want) {
						t.Fatalf("queue %d offset %d: %q, want %q", q, j, b, want)
					}
				}
				if s.MaxOffset("TopicA", q) != 100 || s.MinOffset("TopicA", q) != 0 {
					t.Fatalf("queue %d: min %d max %d", q, s.MinOffset("TopicA", q), s.MaxOffset("TopicA", q))
				}
			}
		})
	}
}

func TestGetStatuses(t *testing.T) {
	s := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer s.Close()
	var res GetResult
	check := func(offset int64, want GetStatus, wantNext int64) {
		t.Helper()
		s.GetMessages(&GetRequest{Topic: "S", QueueID: 0, Offset: offset, MaxMessages: 4}, &res)
		if res.Status != want || res.NextOffset != wantNext {
			t.Fatalf("offset %d: %s next %d, want %s next %d", offset, res.Status, res.NextOffset, want, wantNext)
		}
		res.Release()
	}
	check(0, GetNoMatchedLogicQueue, 0)
	appendN(t, s, "S", 1, 10)
	waitDispatched(t, s)
	check(0, GetFound, 4)
	check(8, GetFound, 10)
	check(10, GetOffsetOverflowOne, 10)
	check(15, GetOffsetOverflowBadly, 10)

	// Tag filter: tag0 is every third message.
	req := GetRequest{Topic: "S", Offset: 0, MaxMessages: 32, TagCodes: []int64{message.TagsCode([]byte("tag0"))}}
	s.GetMessages(&req, &res)
	if res.Status != GetFound || len(res.Messages) != 4 || res.NextOffset != 10 {
		t.Fatalf("filtered: %s %d messages next %d", res.Status, len(res.Messages), res.NextOffset)
	}
	res.Release()
	req.TagCodes = []int64{12345}
	s.GetMessages(&req, &res)
	if res.Status != GetNoMatchedMessage || res.NextOffset != 10 {
		t.Fatalf("filtered out: %s next %d", res.Status, res.NextOffset)
	}
	res.Release()
	// Byte limit: at least one message, never past the limit otherwise.
	req = GetRequest{Topic: "S", MaxMessages: 32, MaxBytes: 1}
	s.GetMessages(&req, &res)
	if len(res.Messages) != 1 {
		t.Fatalf("byte-limited read returned %d messages", len(res.Messages))
	}
	res.Release()
}

func TestLookups(t *testing.T) {
	s := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer s.Close()
	start := time.Now().UnixMilli()
	reqs := appendN(t, s, "L", 2, 50)
	waitDispatched(t, s)

	// By key and by unique key.
	got := s.QueryByKey("L", "key-17", 10, 0, 0)
	if len(got) != 1 || !bytes.Equal(got[0].Record.Body(), testBody(17)) {
		t.Fatalf("by key: %d results", len(got))
	}
	got[0].Release()
	got = s.QueryByKey("L", "UNIQ00000023", 10, 0, 0)
	if len(got) != 1 || got[0].Record.PhysicalOffset() != reqs[23].PhysicalOffset {
		t.Fatalf("by unique key: %d results", len(got))
	}
	got[0].Release()
	got = s.QueryByKey("L", "common", 100, 0, 0)
	if len(got) != 50 {
		t.Fatalf("shared key: %d results, want 50", len(got))
	}
	for i := range got {
		got[i].Release()
	}
	if got := s.QueryByKey("Other", "key-17", 10, 0, 0); len(got) != 0 {
		t.Fatalf("key found under the wrong topic")
	}

	// By physical offset (what an offsetMsgId carries).
	var p Pinned
	if err := s.ReadMessage(reqs[5].PhysicalOffset, &p); err != nil || !bytes.Equal(p.Record.Body(), testBody(5)) {
		t.Fatalf("by offset: %v", err)
	}
	p.Release()
	if err := s.ReadMessage(s.MaxPhysicalOffset(), &p); err == nil {
		t.Fatal("read past the end succeeded")
	}

	// By time.
	if off := s.OffsetByTime("L", 0, start-1000); off != 0 {
		t.Fatalf("offset by early time: %d", off)
	}
	if off := s.OffsetByTime("L", 0, time.Now().UnixMilli()+1000); off != s.MaxOffset("L", 0) {
		t.Fatalf("offset by future time: %d", off)
	}
	mid := reqs[20].StoreTimestamp
	off := s.OffsetByTime("L", 0, mid)
	if ts, ok := s.StoreTimeAt("L", 0, off); !ok || ts < mid {
		t.Fatalf("offset by time %d: offset %d has time %d", mid, off, ts)
	}
	if off > 0 {
		if ts, _ := s.StoreTimeAt("L", 0, off-1); ts >= mid {
			t.Fatalf("offset by time %d: offset %d is not the first", mid, off)
		}
	}
	if ts, ok := s.EarliestStoreTime("L", 1); !ok || ts != reqs[1].StoreTimestamp {
		t.Fatalf("earliest store time %d, want %d", ts, reqs[1].StoreTimestamp)
	}
}

func TestCleanRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, AsyncFlush)
	s := mustOpen(t, o)
	appendN(t, s, "R", 3, 300)
	s.Meta().Offsets.Commit("g1", "R", 1, 42)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "abort")); !os.IsNotExist(err) {
		t.Fatal("abort marker left after a clean close")
	}
	s = mustOpen(t, o)
	defer s.Close()
	if got := len(readQueue(t, s, "R", 1)); got != 100 {
		t.Fatalf("%d messages after restart", got)
	}
	if off, ok := s.Meta().Offsets.Query("g1", "R", 1); !ok || off != 42 {
		t.Fatalf("consumer offset after restart: %d %v", off, ok)
	}
	// Queue offsets continue where they were.
	r := &Request{Msgs: []message.Message{testMessage("R", 1, 999)}}
	if st := s.Append(r); st != StatusOK || r.QueueOffset != 100 {
		t.Fatalf("append after restart: %s queue offset %d", st, r.QueueOffset)
	}
}

// copyStore snapshots a running store's files, as a crash would leave them
// (the page cache survives a process crash).
func copyStore(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUncleanRestartRebuildsQueues(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, SyncFlush)
	o.FlushQueueInterval = time.Hour // no checkpoint after the start
	s := mustOpen(t, o)
	appendN(t, s, "U", 2, 200)
	waitDispatched(t, s)
	crashed := t.TempDir()
	copyStore(t, dir, crashed)
	s.Close()

	// Throw the ConsumeQueues away too: they are rebuilt from the log.
	os.RemoveAll(filepath.Join(crashed, "consumequeue"))
	os.RemoveAll(filepath.Join(crashed, "index"))
	o.Dir, o.CommitLogDir = crashed, ""
	s = mustOpen(t, o)
	defer s.Close()
	for q := int32(0); q < 2; q++ {
		if got := len(readQueue(t, s, "U", q)); got != 100 {
			t.Fatalf("queue %d: %d messages after unclean restart", q, got)
		}
	}
	if got := s.QueryByKey("U", "key-150", 5, 0, 0); len(got) != 1 {
		t.Fatalf("index not rebuilt: %d results", len(got))
	} else {
		got[0].Release()
	}
	r := &Request{Msgs: []message.Message{testMessage("U", 0, 1)}}
	if st := s.Append(r); st != StatusOK || r.QueueOffset != 100 {
		t.Fatalf("append after recovery: %s queue offset %d", st, r.QueueOffset)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testOptions(dir, AsyncFlush))
	defer s.Close()
	if _, err := Open(testOptions(dir, AsyncFlush)); err == nil {
		t.Fatal("a second store opened the same directory")
	}
}

func TestOptionsValidateReportsAll(t *testing.T) {
	o := Options{Dir: "x", DeleteWhen: "25", DiskMaxUsedRatio: 2, SegmentSize: 1000}
	o.EnsureDefaults()
	err := o.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"deleteWhen", "diskMaxUsedSpaceRatio", "segment size"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

// A slave stores its master's bytes with AppendRaw in chunks that cut
// records; its dispatcher builds the same queues, and once promoted it
// continues the queue offsets.
func TestRawAppendBuildsQueues(t *testing.T) {
	master := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer master.Close()
	appendN(t, master, "Rep", 3, 300)
	slave := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer slave.Close()
	streamLog(t, master, slave, master.CommitLog().MinOffset(), 777)
	waitDispatched(t, slave)
	for q := int32(0); q < 3; q++ {
		m, s := readQueue(t, master, "Rep", q), readQueue(t, slave, "Rep", q)
		if len(m) != 100 || len(s) != 100 {
			t.Fatalf("queue %d: master %d slave %d", q, len(m), len(s))
		}
	}
	if got := slave.QueryByKey("Rep", "key-42", 2, 0, 0); len(got) != 1 {
		t.Fatalf("slave index: %d results", len(got))
	} else {
		got[0].Release()
	}
	r := &Request{Msgs: []message.Message{testMessage("Rep", 2, 1000)}}
	if st := slave.Append(r); st != StatusOK || r.QueueOffset != 100 {
		t.Fatalf("append on the promoted slave: %s queue offset %d", st, r.QueueOffset)
	}
}

func TestDeleteTopic(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testOptions(dir, SyncFlush))
	defer s.Close()
	appendN(t, s, "Gone", 2, 40)
	appendN(t, s, "Kept", 1, 5)
	waitDispatched(t, s)
	if err := s.DeleteTopic("Gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "consumequeue", "Gone")); !os.IsNotExist(err) {
		t.Fatalf("consume queue directory still there: %v", err)
	}
	var res GetResult
	s.GetMessages(&GetRequest{Topic: "Gone", MaxMessages: 4}, &res)
	if res.Status != GetNoMatchedLogicQueue {
		t.Fatalf("read of a deleted topic: %s", res.Status)
	}
	if got := len(readQueue(t, s, "Kept", 0)); got != 5 {
		t.Fatalf("other topic: %d messages", got)
	}
	// New messages to the deleted topic are readable again.
	r := &Request{Msgs: []message.Message{testMessage("Gone", 0, 99)}}
	if st := s.Append(r); st != StatusOK {
		t.Fatal(st)
	}
	waitDispatched(t, s)
	s.GetMessages(&GetRequest{Topic: "Gone", Offset: s.MinOffset("Gone", 0), MaxMessages: 4}, &res)
	if res.Status != GetFound || len(res.Messages) != 1 {
		t.Fatalf("read after re-creation: %s %d", res.Status, len(res.Messages))
	}
	res.Release()
}

// An empty store that receives its master's log from a later segment on
// builds its queues from there.
func TestRawAppendIntoEmptyStoreAtLaterSegment(t *testing.T) {
	master := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer master.Close()
	appendN(t, master, "Late", 1, 400) // several 64 KiB segments
	from := master.CommitLog().Segments()[1].Base()
	slave := mustOpen(t, testOptions(t.TempDir(), SyncFlush))
	defer slave.Close()
	streamLog(t, master, slave, from, 1<<30)
	waitDispatched(t, slave)
	minQ := slave.MinOffset("Late", 0)
	if minQ == 0 || slave.MaxOffset("Late", 0) != 400 {
		t.Fatalf("slave queue min %d max %d", minQ, slave.MaxOffset("Late", 0))
	}
	var res GetResult
	slave.GetMessages(&GetRequest{Topic: "Late", Offset: minQ, MaxMessages: 1}, &res)
	if res.Status != GetFound {
		t.Fatalf("read on the slave: %s", res.Status)
	}
	res.Release()
}

// streamLog copies master's log from offset from to slave with AppendRaw,
// in chunks of at most chunk bytes (also cut at segment ends), as a
// master's stream would.
func streamLog(t *testing.T, master, slave *Store, from, chunk int64) {
	t.Helper()
	log := master.CommitLog()
	for pos := from; pos < log.Written(); {
		seg, err := log.Pin(pos)
		if err != nil {
			t.Fatal(err)
		}
		end := min(pos+chunk, seg.End(), log.Written())
		data := bytes.Clone(seg.Bytes()[pos-seg.Base() : end-seg.Base()])
		seg.Release()
		if err := slave.AppendRaw(pos, data); err != nil {
			t.Fatalf("raw append at %d: %v", pos, err)
		}
		pos = end
	}
}
