package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a test clock that moves one millisecond per reading, so data
// versions are deterministic and distinct.
func clock() func() int64 {
	var now atomic.Int64
	now.Store(1_700_000_000_000)
	return func() int64 { return now.Add(1) }
}

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), NowMillis: clock()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openLogged(t testing.TB, dir string) (*Store, *bytes.Buffer, error) {
	t.Helper()
	var buf bytes.Buffer
	s, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&buf, nil)), NowMillis: clock()})
	return s, &buf, err
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fill puts something in every table.
func fill(s *Store) {
	s.Topics.Put(NewTopicConfig("orders", 8))
	tc := NewTopicConfig("events", 4)
	tc.Perm = PermRead
	tc.TopicFilterType = FilterMultiTag
	tc.TopicSysFlag = 1
	tc.Order = true
	tc.Attributes = map[string]string{"+message.type": "NORMAL", "odd": `{0:"x",1:\"}`}
	s.Topics.Put(tc)

	s.Offsets.Commit("billing", "orders", 0, 12)
	s.Offsets.Commit("billing", "orders", 1, 40)
	s.Offsets.Commit("audit", "orders", 7, 1<<40)
	s.Offsets.Commit("billing", "%RETRY%billing", 0, 3)

	s.Groups.Put(NewSubscriptionGroupConfig("billing"))
	g := NewSubscriptionGroupConfig("audit")
	g.ConsumeEnable = false
	g.ConsumeMessageOrderly = true
	g.RetryMaxTimes = 3
	g.BrokerID = 1
	g.Attributes = map[string]string{"a": "b"}
	g.GroupRetryPolicy = json.RawMessage(`{"type": "CUSTOMIZED"}`)
	g.SubscriptionDataSet = json.RawMessage(`[{"topic":"orders","expression":"*"}]`)
	s.Groups.Put(g)

	s.Delay.Set(1, 5)
	s.Delay.Set(18, 77)
}

// snapshot is everything a store holds, for comparisons.
type snapshot struct {
	Topics       []TopicConfig
	Offsets      map[string]map[int32]int64
	Groups       []SubscriptionGroupConfig
	Delay        map[int32]int64
	TopicsDV     DataVersion
	OffsetsDV    DataVersion
	GroupsDV     DataVersion
	DelayDV      DataVersion
	EncodedFiles [4]string
}

func snap(t testing.TB, s *Store) snapshot {
	t.Helper()
	var enc [4]string
	for i, e := range []func() ([]byte, error){s.Topics.Encode, s.Offsets.Encode, s.Groups.Encode, s.Delay.Encode} {
		b, err := e()
		if err != nil {
			t.Fatal(err)
		}
		enc[i] = string(b)
	}
	return snapshot{
		s.Topics.All(), s.Offsets.All(), s.Groups.All(), s.Delay.All(),
		s.Topics.DataVersion(), s.Offsets.DataVersion(), s.Groups.DataVersion(), s.Delay.DataVersion(),
		enc,
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	fill(s)
	want := snap(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{TopicsFile, ConsumerOffsetFile, SubscriptionGroupFile, DelayOffsetFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Errorf("%s is not valid JSON:\n%s", name, data)
		}
	}

	got := snap(t, open(t, dir))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened store differs\n got %+v\nwant %+v", got, want)
	}
	if q, ok := open(t, dir).Offsets.Query("audit", "orders", 7); !ok || q != 1<<40 {
		t.Fatalf("Query = %d, %v", q, ok)
	}
}

func TestFileShapes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Topics.Put(NewTopicConfig("t", 4))
	s.Offsets.Commit("g", "t", 2, 9)
	s.Groups.Put(NewSubscriptionGroupConfig("g"))
	s.Delay.Set(3, 4)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	read := func(name string) map[string]any {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(name, path string, want any) {
		t.Helper()
		var v any = read(name)
		for _, k := range strings.Split(path, "/") {
			v = v.(map[string]any)[k]
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("%s %s = %#v, want %#v", name, path, v, want)
		}
	}
	check(TopicsFile, "topicConfigTable/t", map[string]any{
		"topicName": "t", "readQueueNums": 4.0, "writeQueueNums": 4.0, "perm": 6.0,
		"topicFilterType": "SINGLE_TAG", "topicSysFlag": 0.0, "order": false, "attributes": map[string]any{},
	})
	check(TopicsFile, "dataVersion/counter", 1.0)
	check(TopicsFile, "dataVersion/stateVersion", 0.0)
	check(ConsumerOffsetFile, "offsetTable/t@g/2", 9.0)
	check(SubscriptionGroupFile, "subscriptionGroupTable/g", map[string]any{
		"groupName": "g", "consumeEnable": true, "consumeFromMinEnable": true, "consumeBroadcastEnable": true,
		"consumeMessageOrderly": false, "retryQueueNums": 1.0, "retryMaxTimes": 16.0, "brokerId": 0.0,
		"whichBrokerWhenConsumeSlowly": 1.0, "notifyConsumerIdsChangedEnable": true, "groupSysFlag": 0.0,
		"consumeTimeoutMinute": 15.0, "attributes": map[string]any{},
	})
	check(SubscriptionGroupFile, "forbiddenTable", map[string]any{})
	check(DelayOffsetFile, "offsetTable/3", 4.0)
}

// Files as a Java broker writes them: fastjson pretty format, bare
// integer keys, extra fields, and strings holding braces, colons, commas
// and escaped quotes that must come through untouched.
const (
	javaTopics = "{\n\t\"dataVersion\":{\n\t\t\"counter\":7,\n\t\t\"stateVersion\":0,\n\t\t\"timestamp\":1700000000123\n\t},\n" +
		"\t\"topicConfigTable\":{\n\t\t\"TopicTest\":{\n\t\t\t\"attributes\":{\"k\":\"{0:1, \\\"2\\\":3}\",\"x\":\"a,5:b\"},\n" +
		"\t\t\t\"order\":false,\n\t\t\t\"perm\":6,\n\t\t\t\"readQueueNums\":4,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n" +
		"\t\t\t\"topicName\":\"TopicTest\",\n\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":4\n\t\t},\n" +
		"\t\t\"Bare\":{}\n\t}\n}"
	javaOffsets = "{\n\t\"dataVersion\":{\"counter\":3,\"stateVersion\":0,\"timestamp\":1700000000000},\n" +
		"\t\"groupTopicMap\":{\"g\":[\"TopicTest\"]},\n" +
		"\t\"offsetTable\":{\n\t\t\"TopicTest@g\":{0:250,1:251,2:252,3:253\n\t\t},\n\t\t\"%RETRY%g@g\":{ 0 : 12 },\n" +
		"\t\t\"noSeparator\":{0:1}\n\t}\n}"
	javaDelay  = `{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":1700000000000},"offsetTable":{1:100,2:0,18:-3}}`
	javaGroups = "{\"dataVersion\":{\"counter\":1,\"stateVersion\":0,\"timestamp\":1},\"forbiddenTable\":{\"g\":{\"t\":4}}," +
		"\"subscriptionGroupTable\":{\"g\":{\"groupName\":\"g\",\"consumeEnable\":false,\"retryMaxTimes\":5," +
		"\"groupRetryPolicy\":{\"type\":\"CUSTOMIZED\",\"customizedRetryPolicy\":{\"max\":16}}," +
		"\"subscriptionDataSet\":[{\"topic\":\"t\",\"expression\":\"a || {1:2}\\\"\"}],\"unknown\":{1:2}}," +
		"\"h\":{}}}"
)

func TestLoadFastjson(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, TopicsFile), javaTopics)
	writeFile(t, filepath.Join(dir, ConsumerOffsetFile), javaOffsets)
	writeFile(t, filepath.Join(dir, DelayOffsetFile), javaDelay)
	writeFile(t, filepath.Join(dir, SubscriptionGroupFile), javaGroups)
	s, logs, err := openLogged(t, dir)
	if err != nil {
		t.Fatal(err)
	}

	tc, ok := s.Topics.Get("TopicTest")
	want := NewTopicConfig("TopicTest", 4)
	want.Attributes = map[string]string{"k": `{0:1, "2":3}`, "x": "a,5:b"}
	if !ok || !reflect.DeepEqual(tc, want) {
		t.Errorf("TopicTest = %+v, want %+v", tc, want)
	}
	if tc, _ := s.Topics.Get("Bare"); tc.ReadQueueNums != 16 || tc.WriteQueueNums != 16 || tc.Perm != 6 || tc.TopicName != "Bare" || tc.TopicFilterType != FilterSingleTag {
		t.Errorf("Bare did not get the Java defaults: %+v", tc)
	}
	if dv := s.Topics.DataVersion(); dv != (DataVersion{Counter: 7, Timestamp: 1700000000123}) {
		t.Errorf("topics data version %+v", dv)
	}

	if got, want := s.Offsets.All(), map[string]map[int32]int64{
		"TopicTest@g": {0: 250, 1: 251, 2: 252, 3: 253},
		"%RETRY%g@g":  {0: 12},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("offsets %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "noSeparator") {
		t.Errorf("malformed offset key not logged: %s", logs)
	}
	if got := s.Offsets.TopicsOf("g"); !reflect.DeepEqual(got, []string{"%RETRY%g", "TopicTest"}) {
		t.Errorf("TopicsOf = %v", got)
	}

	if got, want := s.Delay.All(), map[int32]int64{1: 100, 2: 0, 18: -3}; !reflect.DeepEqual(got, want) {
		t.Errorf("delay %v, want %v", got, want)
	}

	g, _ := s.Groups.Get("g")
	wantG := NewSubscriptionGroupConfig("g")
	wantG.ConsumeEnable = false
	wantG.RetryMaxTimes = 5
	wantG.GroupRetryPolicy = json.RawMessage(`{"type":"CUSTOMIZED","customizedRetryPolicy":{"max":16}}`)
	wantG.SubscriptionDataSet = json.RawMessage(`[{"topic":"t","expression":"a || {1:2}\""}]`)
	if !reflect.DeepEqual(g, wantG) {
		t.Errorf("group g = %+v\nwant %+v", g, wantG)
	}
	if h, _ := s.Groups.Get("h"); !reflect.DeepEqual(h, NewSubscriptionGroupConfig("h")) {
		t.Errorf("group h did not get the defaults: %+v", h)
	}

	// Written back, the carried-through parts survive and the file is valid JSON.
	s.Groups.Put(NewSubscriptionGroupConfig("new"))
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, SubscriptionGroupFile))
	var back groupsFile
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if string(compactRaw(back.ForbiddenTable)) != `{"g":{"t":4}}` {
		t.Errorf("forbiddenTable = %s", back.ForbiddenTable)
	}
	if !reflect.DeepEqual(back.SubscriptionGroupTable["g"], wantG) {
		t.Errorf("group g after rewrite = %+v", back.SubscriptionGroupTable["g"])
	}
}

func TestBackupFallback(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Topics.Put(NewTopicConfig("first", 1))
	s.Offsets.Commit("g", "t", 0, 1)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	s.Topics.Put(NewTopicConfig("second", 1))
	s.Offsets.Commit("g", "t", 0, 2)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}

	// Break the main files: truncated, and empty.
	path := filepath.Join(dir, TopicsFile)
	data, _ := os.ReadFile(path)
	writeFile(t, path, string(data[:len(data)/2]))
	writeFile(t, filepath.Join(dir, ConsumerOffsetFile), "")

	s2, logs, err := openLogged(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Topics.Get("first"); !ok {
		t.Error("backup not loaded")
	}
	if _, ok := s2.Topics.Get("second"); ok {
		t.Error("second should only be in the broken main file")
	}
	if off, _ := s2.Offsets.Query("g", "t", 0); off != 1 {
		t.Errorf("offset from backup = %d, want 1", off)
	}
	if m := s2.Metrics(); m.BackupLoads != 2 {
		t.Errorf("BackupLoads = %d", m.BackupLoads)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), path) {
		t.Errorf("no warning naming %s: %s", path, logs)
	}

	// Persisting over a broken main file keeps the good backup.
	s2.Topics.Put(NewTopicConfig("third", 1))
	if err := s2.Persist(); err != nil {
		t.Fatal(err)
	}
	bak, _ := os.ReadFile(path + backupSuffix)
	if !json.Valid(bak) || !bytes.Contains(bak, []byte(`"first"`)) {
		t.Errorf("backup replaced by the broken file: %s", bak)
	}
	s3 := open(t, dir)
	if _, ok := s3.Topics.Get("third"); !ok {
		t.Error("third not persisted")
	}
}

func TestMissingMainLoadsBackup(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, DelayOffsetFile+backupSuffix), `{"offsetTable":{3:9}}`)
	s := open(t, dir)
	if got := s.Delay.Get(3); got != 9 {
		t.Fatalf("Get(3) = %d, want 9 from the backup", got)
	}
	if got := s.Delay.Get(4); got != 0 {
		t.Fatalf("Get(4) = %d, want 0", got)
	}
}

func TestBothCorrupt(t *testing.T) {
	for _, name := range []string{TopicsFile, ConsumerOffsetFile, SubscriptionGroupFile, DelayOffsetFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			writeFile(t, path, `{"offsetTable":{`)
			writeFile(t, path+backupSuffix, `not json`)
			_, err := Open(Options{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), path+backupSuffix) {
				t.Fatalf("err = %v, want one naming %s and its backup", err, path)
			}
		})
	}
	t.Run("no backup", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, TopicsFile)
		writeFile(t, path, `{"topicConfigTable":[`)
		_, err := Open(Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want one naming %s", err, path)
		}
	})
	t.Run("wrong shape", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, ConsumerOffsetFile), `{"offsetTable":{"t@g":{"x":1}}}`)
		if _, err := Open(Options{Dir: dir}); err == nil {
			t.Fatal("a non-numeric queue id was accepted")
		}
	})
}

func mtime(t testing.TB, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestPersistOnlyDirty(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	if n := s.Metrics().FilesWritten; n != 0 {
		t.Fatalf("a fresh store wrote %d files", n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a fresh store created %v", entries)
	}

	s.Topics.Put(NewTopicConfig("t", 1))
	s.Offsets.Commit("g", "t", 0, 5)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	if n := s.Metrics().FilesWritten; n != 2 {
		t.Fatalf("FilesWritten = %d, want 2", n)
	}
	topicsPath := filepath.Join(dir, TopicsFile)
	before := mtime(t, topicsPath)
	os.Chtimes(topicsPath, before.Add(-time.Hour), before.Add(-time.Hour))
	before = mtime(t, topicsPath)

	// Nothing changed, or only to the same value: nothing is written.
	s.Offsets.Commit("g", "t", 0, 5)
	s.Delay.ReplaceAll(nil) // a change, of the delay table only
	for range 3 {
		if err := s.Persist(); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Metrics().FilesWritten; n != 3 {
		t.Fatalf("FilesWritten = %d, want 3", n)
	}
	if !mtime(t, topicsPath).Equal(before) {
		t.Fatal("topics.json was rewritten without a change")
	}
	if _, err := os.Stat(filepath.Join(dir, SubscriptionGroupFile)); !os.IsNotExist(err) {
		t.Fatal("untouched subscription groups were written")
	}

	s.Offsets.Commit("g", "t", 0, 6)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	if n := s.Metrics().FilesWritten; n != 4 {
		t.Fatalf("FilesWritten = %d, want 4", n)
	}
}

// A change made between the snapshot and the end of the write must keep
// the table dirty.
func TestChangeDuringPersistStaysDirty(t *testing.T) {
	s := open(t, t.TempDir())
	s.Offsets.Commit("g", "t", 0, 1)
	_, n, ok, err := s.Offsets.encodeIfDirty()
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	s.Offsets.Commit("g", "t", 0, 2) // while "writing"
	s.Offsets.markSaved(n)
	if _, _, ok, _ := s.Offsets.encodeIfDirty(); !ok {
		t.Fatal("a change made during a write was lost")
	}
}

func TestFailedWriteStaysDirty(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Topics.Put(NewTopicConfig("a", 1))
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	s.Topics.Put(NewTopicConfig("b", 1))
	// A directory where the backup goes makes the write fail.
	bak := filepath.Join(dir, TopicsFile+backupSuffix)
	if err := os.Mkdir(bak, 0o755); err != nil {
		t.Fatal(err)
	}
	err := s.Persist()
	if err == nil || !strings.Contains(err.Error(), bak) {
		t.Fatalf("err = %v, want one naming %s", err, bak)
	}
	if m := s.Metrics(); m.WriteErrors != 1 {
		t.Fatalf("WriteErrors = %d", m.WriteErrors)
	}
	if _, ok := open(t, dir).Topics.Get("a"); !ok {
		t.Fatal("main file damaged by a failed write")
	}
	os.Remove(bak)
	if err := s.Persist(); err != nil {
		t.Fatal(err)
	}
	if _, ok := open(t, dir).Topics.Get("b"); !ok {
		t.Fatal("the failed change was not written by the next Persist")
	}
}

// TestCrashSafety checks what a crash can leave: Persist never leaves a
// temporary file and always leaves files that parse as strict JSON, and
// the temporary file of an interrupted replace is ignored and removed.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for i := range 20 {
		fill(s)
		s.Offsets.Commit("g", "t", int32(i), int64(i))
		s.Topics.Put(NewTopicConfig(fmt.Sprint("t", i), 2))
		if err := s.Persist(); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp") {
				t.Fatalf("leftover temporary file %s", e.Name())
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !json.Valid(data) {
				t.Fatalf("%s does not parse (%v): %q", e.Name(), err, data)
			}
		}
	}
	want := snap(t, s)

	// A crash between creating the temporary file and the rename.
	stale := filepath.Join(dir, ConsumerOffsetFile+".tmp123456")
	writeFile(t, stale, `{"offsetTable":{"t@g":{0:`)
	if got := snap(t, open(t, dir)); !reflect.DeepEqual(got, want) {
		t.Fatal("reopened store differs")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale temporary file not removed")
	}
}

func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	const writers, queues, rounds = 8, 4, 1000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	persistDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				persistDone <- s.Persist()
				return
			default:
				if err := s.Persist(); err != nil {
					persistDone <- err
					return
				}
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprint("g", w)
			for r := range rounds {
				for q := range int32(queues) {
					s.Offsets.Commit(group, "t", q, int64(r))
					if off, ok := s.Offsets.Query(group, "t", q); !ok || off != int64(r) {
						t.Errorf("Query = %d, %v; want %d", off, ok, r)
						return
					}
				}
				if r%50 == 0 {
					s.Topics.Put(NewTopicConfig(group, int32(r)))
					s.Groups.GetOrCreate(group)
					s.Delay.Set(int32(w), int64(r))
					_ = s.Offsets.All()
					_ = s.Offsets.GroupsOf("t")
					_ = s.Topics.All()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("concurrent commits did not finish in time")
	}
	close(stop)
	if err := <-persistDone; err != nil {
		t.Fatal(err)
	}

	s2 := open(t, dir)
	for w := range writers {
		for q := range int32(queues) {
			if off, _ := s2.Offsets.Query(fmt.Sprint("g", w), "t", q); off != rounds-1 {
				t.Fatalf("g%d queue %d = %d after reopen, want %d", w, q, off, rounds-1)
			}
		}
	}
	if !reflect.DeepEqual(snap(t, s2), snap(t, s)) {
		t.Fatal("reopened store differs")
	}
}

func TestCommitDoesNotAllocate(t *testing.T) {
	s := open(t, t.TempDir())
	group, topic := "billing", "orders"
	s.Offsets.Commit(group, topic, 3, 0)
	var off int64
	if n := testing.AllocsPerRun(1000, func() {
		off++
		s.Offsets.Commit(group, topic, 3, off)
	}); n != 0 {
		t.Fatalf("Commit allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		s.Offsets.Query(group, topic, 3)
	}); n != 0 {
		t.Fatalf("Query allocates %v times per call", n)
	}
}

func TestOffsetsAPI(t *testing.T) {
	s := open(t, t.TempDir())
	o := s.Offsets
	o.Commit("g1", "t1", 0, 10)
	o.Commit("g1", "t2", 1, 11)
	o.Commit("g2", "t1", 2, 12)
	dv := o.DataVersion()

	if got := o.Groups(); !reflect.DeepEqual(got, []string{"g1", "g2"}) {
		t.Errorf("Groups = %v", got)
	}
	if got := o.TopicsOf("g1"); !reflect.DeepEqual(got, []string{"t1", "t2"}) {
		t.Errorf("TopicsOf = %v", got)
	}
	if got := o.GroupsOf("t1"); !reflect.DeepEqual(got, []string{"g1", "g2"}) {
		t.Errorf("GroupsOf = %v", got)
	}
	q := o.Queues("g1", "t1")
	q[0] = 99 // a copy
	if off, _ := o.Query("g1", "t1", 0); off != 10 {
		t.Error("Queues returned the table's own map")
	}
	if o.Queues("nobody", "t1") != nil {
		t.Error("Queues of an unknown group is not nil")
	}
	if _, ok := o.Query("g1", "t1", 5); ok {
		t.Error("unknown queue found")
	}

	if !o.DeleteGroup("g1") || o.DeleteGroup("g1") {
		t.Error("DeleteGroup result")
	}
	if got := o.All(); !reflect.DeepEqual(got, map[string]map[int32]int64{"t1@g2": {2: 12}}) {
		t.Errorf("after DeleteGroup: %v", got)
	}
	if !o.DeleteTopic("t1") || o.DeleteTopic("t1") {
		t.Error("DeleteTopic result")
	}
	if len(o.All()) != 0 || len(o.Groups()) != 0 {
		t.Error("not empty after deletes")
	}
	if o.DataVersion().Counter <= dv.Counter {
		t.Error("deletes did not bump the data version")
	}

	o.ReplaceAll(map[string]map[int32]int64{"a@b@c": {1: 2}, "bad": {1: 1}})
	if got := o.All(); !reflect.DeepEqual(got, map[string]map[int32]int64{"a@b@c": {1: 2}}) {
		t.Errorf("after ReplaceAll: %v", got)
	}
	if off, ok := o.Query("b@c", "a", 1); !ok || off != 2 {
		t.Error("a key is split at its first '@'")
	}
}

func TestTopicsAndGroupsAPI(t *testing.T) {
	s := open(t, t.TempDir())
	dv := s.Topics.DataVersion()
	s.Topics.Put(NewTopicConfig("b", 1))
	s.Topics.Put(NewTopicConfig("a", 2))
	if s.Topics.DataVersion().Counter != dv.Counter+2 || s.Topics.DataVersion().Timestamp <= dv.Timestamp {
		t.Error("Put does not bump the data version")
	}
	all := s.Topics.All()
	if len(all) != 2 || all[0].TopicName != "a" || all[1].TopicName != "b" || s.Topics.Len() != 2 {
		t.Errorf("All = %+v", all)
	}
	attrs := map[string]string{"k": "v"}
	tc := NewTopicConfig("c", 1)
	tc.Attributes = attrs
	s.Topics.Put(tc)
	attrs["k"] = "changed"
	if got, _ := s.Topics.Get("c"); got.Attributes["k"] != "v" {
		t.Error("Put kept the caller's map")
	}
	if got, _ := s.Topics.Get("c"); !got.Readable() || !got.Writable() {
		t.Error("perm 6 is not readable and writable")
	}
	if !s.Topics.Delete("c") || s.Topics.Delete("c") {
		t.Error("Delete result")
	}

	if _, created := s.Groups.GetOrCreate("g"); !created {
		t.Error("GetOrCreate did not create")
	}
	if c, created := s.Groups.GetOrCreate("g"); created || !reflect.DeepEqual(c, NewSubscriptionGroupConfig("g")) {
		t.Error("GetOrCreate created twice or without defaults")
	}
	bad := NewSubscriptionGroupConfig("bad")
	bad.GroupRetryPolicy = json.RawMessage(`{not json`)
	s.Groups.Put(bad)
	if _, err := s.Groups.Encode(); err != nil {
		t.Fatalf("invalid raw JSON from Put broke Encode: %v", err)
	}
	if got := s.Groups.All(); len(got) != 2 || got[0].GroupName != "bad" || got[1].GroupName != "g" {
		t.Errorf("All = %+v", got)
	}
	if !s.Groups.Delete("g") || s.Groups.Delete("g") {
		t.Error("Delete result")
	}

	s.Delay.Set(2, 5)
	all2 := s.Delay.All()
	all2[2] = 0
	if s.Delay.Get(2) != 5 {
		t.Error("Delay.All returned the table's own map")
	}
	s.Delay.ReplaceAll(map[int32]int64{7: 1})
	if !maps.Equal(s.Delay.All(), map[int32]int64{7: 1}) {
		t.Errorf("Delay after ReplaceAll: %v", s.Delay.All())
	}
}

// A slave decodes what its master encodes and ends with the same bytes,
// in memory and on disk.
func TestEncodeDecodeMasterToSlave(t *testing.T) {
	master := open(t, t.TempDir())
	fill(master)
	slaveDir := t.TempDir()
	slave := open(t, slaveDir)
	type pair struct {
		name string
		enc  func() ([]byte, error)
		dec  func([]byte) error
		senc func() ([]byte, error)
	}
	pairs := []pair{
		{TopicsFile, master.Topics.Encode, slave.Topics.Decode, slave.Topics.Encode},
		{ConsumerOffsetFile, master.Offsets.Encode, slave.Offsets.Decode, slave.Offsets.Encode},
		{SubscriptionGroupFile, master.Groups.Encode, slave.Groups.Decode, slave.Groups.Encode},
		{DelayOffsetFile, master.Delay.Encode, slave.Delay.Decode, slave.Delay.Encode},
	}
	for _, p := range pairs {
		body, err := p.enc()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.dec(body); err != nil {
			t.Fatal(err)
		}
		got, _ := p.senc()
		if !bytes.Equal(got, body) {
			t.Errorf("%s: slave encodes\n%s\nmaster sent\n%s", p.name, got, body)
		}
		if err := p.dec([]byte(`{"offsetTable":`)); err == nil || !strings.Contains(err.Error(), p.name) {
			t.Errorf("%s: bad body: err = %v", p.name, err)
		}
		if again, _ := p.senc(); !bytes.Equal(again, body) {
			t.Errorf("%s: a failed Decode changed the table", p.name)
		}
	}
	if err := slave.Persist(); err != nil {
		t.Fatal(err)
	}
	written := slave.Metrics().FilesWritten
	for _, p := range pairs {
		onDisk, _ := os.ReadFile(filepath.Join(slaveDir, p.name))
		body, _ := p.enc()
		if !bytes.Equal(onDisk, body) {
			t.Errorf("%s on the slave's disk differs from the master's body", p.name)
		}
		// The next sync brings the same body: nothing is rewritten.
		if err := p.dec(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := slave.Persist(); err != nil {
		t.Fatal(err)
	}
	if slave.Metrics().FilesWritten != written {
		t.Error("an unchanged master table was written again")
	}
	if !reflect.DeepEqual(snap(t, slave), snap(t, master)) {
		t.Error("slave differs from master")
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := Open(Options{}); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Fatalf("err = %v", err)
	}
}
