package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/message"
)

// Values copied from engine/engine_test.go's testOptions.
const testSegment = 64 << 10

func testOptions(dir string, flush engine.Flush) engine.Options {
	return engine.Options{
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

func openStore(t testing.TB, dir string, flush engine.Flush) *engine.Store {
	t.Helper()
	s, err := engine.Open(testOptions(dir, flush))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testMessage(topic string, qid int32, i int) message.Message {
	var props []byte
	props = message.AppendProperty(props, message.PropertyTags, fmt.Sprintf("tag%d", i%3))
	props = message.AppendProperty(props, message.PropertyKeys, fmt.Sprintf("key-%d", i))
	body := fmt.Appendf(nil, "message-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%700))
	return message.Message{Topic: topic, QueueID: qid, Body: body, Properties: props, BornTimestamp: time.Now().UnixMilli()}
}

func appendRange(t testing.TB, s *engine.Store, topic string, queues int32, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		r := &engine.Request{Msgs: []message.Message{testMessage(topic, int32(i)%queues, i)}}
		if st := s.Append(r); st != engine.StatusOK {
			t.Errorf("append %d: %s %v", i, st, r.Err)
			return
		}
	}
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startMaster(t *testing.T, store *engine.Store, logs io.Writer) (*Master, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = io.Discard
	}
	m := NewMaster(store, MasterOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	served := make(chan error, 1)
	go func() { served <- m.Serve(ln) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, ln.Addr().String()
}

// runSlave starts a slave and returns a stop function that waits for Run.
func runSlave(t *testing.T, store *engine.Store, addr string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewSlave(store, addr, SlaveOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sameLog compares the slave's CommitLog with the master's, byte for byte,
// from the slave's first offset to its end.
func sameLog(t *testing.T, master, slave *engine.Store) {
	t.Helper()
	ml, sl := master.CommitLog(), slave.CommitLog()
	end := sl.Written()
	if end > ml.Written() {
		t.Fatalf("slave end %d beyond master end %d", end, ml.Written())
	}
	for pos := sl.MinOffset(); pos < end; {
		ms, err := ml.Pin(pos)
		if err != nil {
			t.Fatalf("master pin %d: %v", pos, err)
		}
		ss, err := sl.Pin(pos)
		if err != nil {
			ms.Release()
			t.Fatalf("slave pin %d: %v", pos, err)
		}
		next := min(ms.End(), ss.End(), end)
		equal := bytes.Equal(ms.Bytes()[pos-ms.Base():next-ms.Base()], ss.Bytes()[pos-ss.Base():next-ss.Base()])
		ms.Release()
		ss.Release()
		if !equal {
			t.Fatalf("CommitLogs differ in [%d, %d)", pos, next)
		}
		pos = next
	}
}

// readQueue returns copies of every message of a topic-queue.
func readQueue(t *testing.T, s *engine.Store, topic string, qid int32) [][]byte {
	t.Helper()
	var out [][]byte
	var res engine.GetResult
	defer res.Release()
	for off := s.MinOffset(topic, qid); ; {
		s.GetMessages(&engine.GetRequest{Topic: topic, QueueID: qid, Offset: off, MaxMessages: 32}, &res)
		if res.Status != engine.GetFound {
			return out
		}
		for _, m := range res.Messages {
			out = append(out, bytes.Clone(m))
		}
		off = res.NextOffset
	}
}

func sameQueues(t *testing.T, master, slave *engine.Store, topic string, queues int32, total int) {
	t.Helper()
	waitFor(t, "master dispatch", func() bool { return master.DispatchedPhysicalOffset() >= master.MaxPhysicalOffset() })
	waitFor(t, "slave dispatch", func() bool { return slave.DispatchedPhysicalOffset() >= slave.MaxPhysicalOffset() })
	n := 0
	for q := int32(0); q < queues; q++ {
		m, s := readQueue(t, master, topic, q), readQueue(t, slave, topic, q)
		if len(m) != len(s) {
			t.Fatalf("queue %d: master %d messages, slave %d", q, len(m), len(s))
		}
		for i := range m {
			if !bytes.Equal(m[i], s[i]) {
				t.Fatalf("queue %d message %d differs", q, i)
			}
		}
		n += len(s)
	}
	if n != total {
		t.Fatalf("slave has %d messages, want %d", n, total)
	}
}

func forFlush(t *testing.T, fn func(t *testing.T, flush engine.Flush)) {
	t.Run("sync", func(t *testing.T) { fn(t, engine.SyncFlush) })
	t.Run("async", func(t *testing.T) { fn(t, engine.AsyncFlush) })
}

func TestCatchUpAndFollow(t *testing.T) {
	forFlush(t, func(t *testing.T, flush engine.Flush) {
		master := openStore(t, t.TempDir(), flush)
		defer master.Close()
		slave := openStore(t, t.TempDir(), flush)
		defer slave.Close()
		appendRange(t, master, "Rep", 4, 0, 600) // several segments before the slave connects
		if master.MaxPhysicalOffset() < 3*testSegment {
			t.Fatalf("only %d bytes before replication", master.MaxPhysicalOffset())
		}
		m, addr := startMaster(t, master, nil)
		stop := runSlave(t, slave, addr)

		appendRange(t, master, "Rep", 4, 600, 1200) // while streaming
		end := master.MaxPhysicalOffset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.WaitForSlave(ctx, end); err != nil {
			t.Fatalf("WaitForSlave(%d): %v", end, err)
		}
		if got := slave.MaxPhysicalOffset(); got < end {
			t.Fatalf("WaitForSlave returned with the slave at %d < %d", got, end)
		}
		offs := m.SlaveOffsets()
		if len(offs) != 1 {
			t.Fatalf("SlaveOffsets: %v", offs)
		}
		for _, off := range offs {
			if off < end {
				t.Fatalf("acknowledged %d < %d", off, end)
			}
		}
		sameLog(t, master, slave)
		sameQueues(t, master, slave, "Rep", 4, 1200)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestWaitForSlave(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.SyncFlush)
	defer master.Close()
	appendRange(t, master, "W", 1, 0, 10)
	m, addr := startMaster(t, master, nil)

	// No slave: the wait ends with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := m.WaitForSlave(ctx, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForSlave without slaves: %v", err)
	}

	// A waiter registered before the bytes exist returns once the slave
	// has them.
	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	runSlave(t, slave, addr)
	target := master.MaxPhysicalOffset() + 1 // beyond what is written now
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got <- m.WaitForSlave(ctx, target)
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("WaitForSlave returned before the bytes existed: %v", err)
	default:
	}
	appendRange(t, master, "W", 1, 10, 11)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if slave.MaxPhysicalOffset() < target {
		t.Fatalf("slave at %d, waited for %d", slave.MaxPhysicalOffset(), target)
	}

	// Close fails pending waiters.
	pending := make(chan error, 1)
	go func() { pending <- m.WaitForSlave(context.Background(), 1<<40) }()
	time.Sleep(20 * time.Millisecond)
	m.Close()
	if err := <-pending; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending waiter after Close: %v", err)
	}
}

func TestSlaveRestartResumes(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.AsyncFlush)
	defer master.Close()
	slaveDir := t.TempDir()
	slave := openStore(t, slaveDir, engine.AsyncFlush)
	_, addr := startMaster(t, master, nil)
	appendRange(t, master, "Res", 3, 0, 300)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); appendRange(t, master, "Res", 3, 300, 1500) }()

	stop := runSlave(t, slave, addr)
	waitFor(t, "slave mid-stream", func() bool { return slave.MaxPhysicalOffset() > 2*testSegment })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mid := slave.MaxPhysicalOffset()
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	slave = openStore(t, slaveDir, engine.AsyncFlush) // reopen: resume from recovered end
	defer slave.Close()
	if got := slave.MaxPhysicalOffset(); got != mid {
		t.Logf("recovered end %d (was %d)", got, mid)
	}
	runSlave(t, slave, addr)
	wg.Wait()
	end := master.MaxPhysicalOffset()
	waitFor(t, "slave caught up", func() bool { return slave.MaxPhysicalOffset() >= end })
	if got := slave.MaxPhysicalOffset(); got != end {
		t.Fatalf("slave end %d, master %d", got, end)
	}
	if mid >= end {
		t.Fatalf("the slave was stopped at %d, not mid-stream (master end %d)", mid, end)
	}
	sameLog(t, master, slave)
	sameQueues(t, master, slave, "Res", 3, 1500)
}

func TestSlaveAheadRefused(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.SyncFlush)
	defer master.Close()
	appendRange(t, master, "A", 1, 0, 10)
	logs := &logBuffer{}
	m, addr := startMaster(t, master, logs)

	// Raw protocol: report an offset beyond the master's end.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(master.MaxPhysicalOffset()+1))
	if _, err := conn.Write(buf[:]); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("after %d bytes: %v; want the connection closed", len(answer), err)
	}
	if len(answer) < headerSize || int64(binary.BigEndian.Uint64(answer)) != refusalOffset ||
		!strings.Contains(string(answer[headerSize:]), "ahead of the master") {
		t.Fatalf("master answered %q; want a refusal frame saying why", answer)
	}
	if !strings.Contains(logs.String(), "ahead of the master") {
		t.Fatalf("no refusal logged:\n%s", logs.String())
	}

	// A real slave whose log is longer than the master's never gets bytes.
	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	appendRange(t, slave, "A", 1, 0, 50)
	before := slave.MaxPhysicalOffset()
	s := NewSlave(slave, addr, SlaveOptions{MinBackoff: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The slave stops by itself, with the master's reason.
	if err := s.Run(ctx); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "ahead of the master") {
		t.Fatalf("Run of a slave ahead of its master: %v", err)
	}
	if len(m.SlaveOffsets()) != 0 {
		t.Fatalf("refused slave listed: %v", m.SlaveOffsets())
	}
	if slave.MaxPhysicalOffset() != before {
		t.Fatalf("refused slave changed: %d → %d", before, slave.MaxPhysicalOffset())
	}
}

// A master that sends a frame not continuing the slave's log stops the
// slave with ErrOffsetMismatch instead of corrupting it.
func TestSlaveRejectsGap(t *testing.T) {
	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	appendRange(t, slave, "G", 1, 0, 5)
	local := slave.MaxPhysicalOffset()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var rep [8]byte
		io.ReadFull(c, rep[:])
		var hdr [headerSize]byte
		binary.BigEndian.PutUint64(hdr[:8], uint64(local+100)) // a gap
		binary.BigEndian.PutUint32(hdr[8:], 4)
		c.Write(append(hdr[:], "abcd"...))
		io.Copy(io.Discard, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = NewSlave(slave, ln.Addr().String(), SlaveOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(ctx)
	if !errors.Is(err, ErrOffsetMismatch) || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("Run: %v", err)
	}
	if slave.MaxPhysicalOffset() != local {
		t.Fatalf("slave log changed: %d → %d", local, slave.MaxPhysicalOffset())
	}
}

// An empty slave of a master whose oldest segments are gone starts at the
// master's MinPhysicalOffset.
func TestEmptySlaveOfTrimmedMaster(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.SyncFlush)
	defer master.Close()
	appendRange(t, master, "T", 2, 0, 600)
	waitFor(t, "master dispatch", func() bool { return master.DispatchedPhysicalOffset() >= master.MaxPhysicalOffset() })
	n, err := master.CommitLog().DeleteSegments(master.DispatchedPhysicalOffset(), 2, func(*commitlog.Segment) bool { return false })
	if err != nil || n != 2 {
		t.Fatalf("DeleteSegments: %d %v", n, err)
	}
	minOff := master.MinPhysicalOffset()
	if minOff != 2*testSegment {
		t.Fatalf("master min %d", minOff)
	}
	m, addr := startMaster(t, master, nil)
	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	runSlave(t, slave, addr)
	appendRange(t, master, "T", 2, 600, 700)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitForSlave(ctx, master.MaxPhysicalOffset()); err != nil {
		t.Fatal(err)
	}
	if got := slave.MinPhysicalOffset(); got != minOff {
		t.Fatalf("slave starts at %d, master min %d", got, minOff)
	}
	sameLog(t, master, slave)
	// Not checked here: the slave's ConsumeQueues. The engine's dispatcher
	// starts at offset 0 on an empty store and fails with "dispatch at 0:
	// offset outside the log" when the log begins at a later segment; that
	// needs an engine fix (start at max(dispatched, MinOffset)).
}

// fakeMaster accepts one slave, reads its first report and sends frames.
func fakeMaster(t *testing.T, frames func(report int64) [][]byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var rep [8]byte
		if _, err := io.ReadFull(c, rep[:]); err != nil {
			return
		}
		for _, f := range frames(int64(binary.BigEndian.Uint64(rep[:]))) {
			if _, err := c.Write(f); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c)
	}()
	return ln.Addr().String()
}

func frame(off int64, body []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(body))
	binary.BigEndian.PutUint64(b[:8], uint64(off))
	binary.BigEndian.PutUint32(b[8:], uint32(len(body)))
	return append(b, body...)
}

// The slave stores only whole records: a record cut across frames is held
// back until complete, and a frame that skips the held bytes is an overlap.
func TestSlaveHoldsPartialRecords(t *testing.T) {
	src := openStore(t, t.TempDir(), engine.SyncFlush)
	defer src.Close()
	appendRange(t, src, "P", 1, 0, 1)
	seg, err := src.CommitLog().Pin(0)
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.Clone(seg.Bytes()[:src.MaxPhysicalOffset()])
	seg.Release()

	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	addr := fakeMaster(t, func(int64) [][]byte {
		return [][]byte{frame(0, rec[:10]), frame(10, rec[10:20]), frame(20, nil), frame(0, rec)}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = NewSlave(slave, addr, SlaveOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(ctx)
	if !errors.Is(err, ErrOffsetMismatch) || !strings.Contains(err.Error(), "overlap") || !strings.Contains(err.Error(), "+20 bytes") {
		t.Fatalf("Run: %v", err)
	}
	if got := slave.MaxPhysicalOffset(); got != 0 {
		t.Fatalf("slave stored %d bytes of an incomplete record", got)
	}

	// Delivered in pieces, the record is stored whole.
	addr = fakeMaster(t, func(int64) [][]byte {
		return [][]byte{frame(0, rec[:7]), frame(7, rec[7:30]), frame(30, rec[30:])}
	})
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewSlave(slave, addr, SlaveOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(ctx2)
	}()
	waitFor(t, "record stored", func() bool { return slave.MaxPhysicalOffset() == int64(len(rec)) })
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dispatch", func() bool { return slave.DispatchedPhysicalOffset() == int64(len(rec)) })
	if got := readQueue(t, slave, "P", 0); len(got) != 1 || !bytes.Equal(got[0], rec) {
		t.Fatalf("slave queue: %d messages", len(got))
	}
}

// TestAwaitAndInSync covers what a SYNC_MASTER send relies on: no slave in
// sync without a slave or with one too far behind, a timeout when no slave
// acknowledges, and one report completing every waiter it covers.
func TestAwaitAndInSync(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.SyncFlush)
	defer master.Close()
	appendRange(t, master, "A", 1, 0, 50)
	m, addr := startMaster(t, master, nil)
	defer m.Close()

	if m.InSync(1 << 30) {
		t.Fatal("InSync with no slave connected")
	}
	timedOut := make(chan error, 1)
	start := time.Now()
	m.Await(1, 30*time.Millisecond, func(err error) { timedOut <- err })
	if err := <-timedOut; !errors.Is(err, ErrTimeout) {
		t.Fatalf("Await with no slave: %v", err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("timed out after %v, before its 30ms", el)
	}

	slave := openStore(t, t.TempDir(), engine.SyncFlush)
	defer slave.Close()
	runSlave(t, slave, addr)
	end := master.MaxPhysicalOffset()
	waitFor(t, "slave caught up", func() bool { return slave.MaxPhysicalOffset() == end })
	waitFor(t, "slave in sync", func() bool { return m.InSync(1) })

	// Waiters for bytes not yet written complete together once a slave
	// reports past them; each exactly once.
	const waiters = 20
	var calls atomic.Int32
	done := make(chan error, waiters)
	for i := range waiters {
		m.Await(end+int64(i)+1, 10*time.Second, func(err error) { calls.Add(1); done <- err })
	}
	appendRange(t, master, "A", 1, 50, 60)
	for range waiters {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if n := calls.Load(); n != waiters {
		t.Fatalf("%d callbacks for %d waiters", n, waiters)
	}

	// A slave more than gap behind is not in sync.
	if m.InSync(0) {
		t.Fatal("InSync(0): a gap of 0 bytes cannot be met")
	}
}

// TestAwaitAll: slaves that announce their broker id are tracked by id; a
// set waiter completes only once every member acknowledged, and times out
// while one is missing.
func TestAwaitAll(t *testing.T) {
	master := openStore(t, t.TempDir(), engine.SyncFlush)
	defer master.Close()
	appendRange(t, master, "S", 1, 0, 20)
	m, addr := startMaster(t, master, nil)
	defer m.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, id := range []int64{1, 2} {
		s := openStore(t, t.TempDir(), engine.SyncFlush)
		defer s.Close()
		sl := NewSlave(s, addr, SlaveOptions{BrokerID: id, MinBackoff: 10 * time.Millisecond, Logger: quiet})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sl.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	end := master.MaxPhysicalOffset()
	waitFor(t, "both slaves acknowledged by id", func() bool {
		a := m.Acks()
		return a[1] == end && a[2] == end
	})
	got := make(chan error, 1)
	m.AwaitAll([]int64{1, 2}, end+1, 10*time.Second, func(err error) { got <- err })
	select {
	case err := <-got:
		t.Fatalf("set waiter done before the bytes existed: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	appendRange(t, master, "S", 1, 20, 21)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	timedOut := make(chan error, 1)
	m.AwaitAll([]int64{1, 2, 3}, end+1, 50*time.Millisecond, func(err error) { timedOut <- err })
	if err := <-timedOut; !errors.Is(err, ErrTimeout) {
		t.Fatalf("set with an absent member: %v", err)
	}
}
