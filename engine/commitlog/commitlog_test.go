package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

const testSegment = 64 << 10

func testOptions(t testing.TB, dir string, flush FlushMode, write WriteMode) Options {
	return Options{
		Dir:            dir,
		SegmentSize:    testSegment,
		FlushMode:      flush,
		WriteMode:      write,
		MaxMessageSize: 16 << 10,
		FlushInterval:  10 * time.Millisecond,
		ZeroFillAhead:  32 << 10,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// forEachMode runs a test over both flush modes and both write modes.
func forEachMode(t *testing.T, fn func(t *testing.T, opts Options)) {
	for _, flush := range []FlushMode{AsyncFlush, SyncFlush} {
		for _, write := range []WriteMode{WritePwrite, WriteMmap} {
			t.Run(fmt.Sprintf("flush=%s/write=%s", flush, write), func(t *testing.T) {
				fn(t, testOptions(t, t.TempDir(), flush, write))
			})
		}
	}
}

func mustOpen(t testing.TB, opts Options, hint RecoveryHint) *Log {
	t.Helper()
	l, err := Open(opts, hint)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func body(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

func msg(topic string, qid int32, b []byte) message.Message {
	return message.Message{Topic: topic, QueueID: qid, Body: b, BornTimestamp: 1, Properties: message.AppendProperty(nil, "KEYS", "k")}
}

// readAll walks the log from its start and returns every message record.
func readAll(t *testing.T, l *Log) []message.Record {
	t.Helper()
	var out []message.Record
	pos := l.MinOffset()
	end := l.Readable()
	for pos < end {
		s, err := l.Pin(pos)
		if err != nil {
			t.Fatalf("pin %d: %v", pos, err)
		}
		rec, err := message.Parse(s.Bytes()[pos-s.Base():], true)
		s.Release()
		if err != nil {
			t.Fatalf("parse at %d: %v", pos, err)
		}
		if rec.IsBlank() {
			pos = s.End()
			continue
		}
		out = append(out, rec)
		pos += int64(rec.TotalSize())
	}
	return out
}

func TestAppendReadRollReopen(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
		const n = 400 // ~1 KiB each: several 64 KiB segments
		var offsets []int64
		for i := 0; i < n; i++ {
			r := &Request{Msgs: []message.Message{msg("T", int32(i%3), body(i, 900+i%50))}}
			if st := l.Append(r); st != StatusOK {
				t.Fatalf("append %d: %s %v", i, st, r.Err)
			}
			if want := int64(i / 3); r.QueueOffset != want && i%3 == 0 {
				t.Fatalf("append %d: queue offset %d, want %d", i, r.QueueOffset, want)
			}
			offsets = append(offsets, r.PhysicalOffset)
		}
		if len(l.Segments()) < 5 {
			t.Fatalf("expected several segments, got %d", len(l.Segments()))
		}
		check := func(l *Log) {
			recs := readAll(t, l)
			if len(recs) != n {
				t.Fatalf("read %d records, want %d", len(recs), n)
			}
			for i, rec := range recs {
				if rec.PhysicalOffset() != offsets[i] || !bytes.Equal(rec.Body(), body(i, 900+i%50)) || rec.QueueOffset() != int64(i/3) {
					t.Fatalf("record %d: offset %d queue offset %d", i, rec.PhysicalOffset(), rec.QueueOffset())
				}
				if rec.PhysicalOffset()/testSegment != (rec.PhysicalOffset()+int64(rec.TotalSize())-1)/testSegment {
					t.Fatalf("record %d spans two segments", i)
				}
			}
		}
		check(l)
		end := l.Written()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, opts, RecoveryHint{Clean: true, Flushed: end})
		defer l.Close()
		if l.Written() != end {
			t.Fatalf("clean reopen: end %d, want %d", l.Written(), end)
		}
		check(l)
	})
}

func TestOptionsValidate(t *testing.T) {
	bad := Options{SegmentSize: 1000, MaxMessageSize: -1, QueueCapacity: -1, FlushMode: 7}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"Dir", "segment size", "max message size", "flush mode", "queue capacity"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRejectsBadRequests(t *testing.T) {
	l := mustOpen(t, testOptions(t, t.TempDir(), AsyncFlush, WritePwrite), RecoveryHint{Flushed: -1})
	defer l.Close()
	for name, r := range map[string]*Request{
		"empty":    {},
		"topic":    {Msgs: []message.Message{msg("a/b", 0, nil)}},
		"long":     {Msgs: []message.Message{msg(string(bytes.Repeat([]byte("t"), 128)), 0, nil)}},
		"too big":  {Msgs: []message.Message{msg("T", 0, make([]byte, 16<<10+1))}},
		"queue id": {Msgs: []message.Message{msg("T", -1, nil)}},
	} {
		if st := l.Append(r); st != StatusMessageIllegal {
			t.Errorf("%s: status %s, want MESSAGE_ILLEGAL", name, st)
		}
	}
	if l.Written() != 0 {
		t.Fatalf("rejected requests wrote %d bytes", l.Written())
	}
}

func TestBatchIsContiguous(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
		defer l.Close()
		for round := 0; round < 30; round++ {
			r := &Request{}
			for i := 0; i < 8; i++ {
				r.Msgs = append(r.Msgs, msg("B", 1, body(i, 500)))
			}
			if st := l.Append(r); st != StatusOK {
				t.Fatal(st, r.Err)
			}
			offs := r.MessageOffsets(nil)
			for i, off := range offs {
				rec, seg, err := l.Read(off)
				if err != nil {
					t.Fatalf("round %d msg %d at %d: %v", round, i, off, err)
				}
				if rec.QueueOffset() != r.QueueOffset+int64(i) || !bytes.Equal(rec.Body(), body(i, 500)) {
					t.Fatalf("round %d msg %d: queue offset %d", round, i, rec.QueueOffset())
				}
				seg.Release()
			}
			if offs[0]/testSegment != (r.End()-1)/testSegment {
				t.Fatalf("batch spans segments")
			}
		}
	})
}

// Group commit: many concurrent writers under SYNC_FLUSH all complete, and
// every acknowledged message is below the flushed offset.
func TestConcurrentSyncAppends(t *testing.T) {
	for _, write := range []WriteMode{WritePwrite, WriteMmap} {
		t.Run(write.String(), func(t *testing.T) {
			opts := testOptions(t, t.TempDir(), SyncFlush, write)
			l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
			defer l.Close()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					r := &Request{Msgs: make([]message.Message, 1)}
					for i := 0; i < 100; i++ {
						r.Msgs[0] = msg("C", int32(w), body(i, 200))
						if st := l.Append(r); st != StatusOK {
							errs <- fmt.Errorf("writer %d: %s %v", w, st, r.Err)
							return
						}
						if r.End() > l.Flushed() {
							errs <- fmt.Errorf("acknowledged at %d before flushed %d", r.End(), l.Flushed())
							return
						}
						if r.QueueOffset != int64(i) {
							errs <- fmt.Errorf("writer %d: queue offset %d, want %d", w, r.QueueOffset, i)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if got := len(readAll(t, l)); got != 1600 {
				t.Fatalf("read %d, want 1600", got)
			}
		})
	}
}

func TestSubmitCallback(t *testing.T) {
	l := mustOpen(t, testOptions(t, t.TempDir(), SyncFlush, WritePwrite), RecoveryHint{Flushed: -1})
	defer l.Close()
	done := make(chan *Request, 10)
	for i := 0; i < 10; i++ {
		l.Submit(&Request{Msgs: []message.Message{msg("S", 0, body(i, 10))}, Done: func(r *Request) { done <- r }})
	}
	for i := 0; i < 10; i++ {
		select {
		case r := <-done:
			if r.Status != StatusOK {
				t.Fatal(r.Status, r.Err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("callback not called")
		}
	}
}

func TestDiskFullRefusesAppends(t *testing.T) {
	l := mustOpen(t, testOptions(t, t.TempDir(), SyncFlush, WritePwrite), RecoveryHint{Flushed: -1})
	defer l.Close()
	l.SetWritable(false)
	r := &Request{Msgs: []message.Message{msg("D", 0, body(1, 10))}}
	if st := l.Append(r); st != StatusDiskFull {
		t.Fatalf("status %s, want DISK_FULL", st)
	}
	if l.Written() != 0 {
		t.Fatal("bytes written while the disk was full")
	}
	l.SetWritable(true)
	if st := l.Append(r); st != StatusOK {
		t.Fatal(st)
	}
}

func TestSyncFlushTimeout(t *testing.T) {
	opts := testOptions(t, t.TempDir(), SyncFlush, WritePwrite)
	opts.SyncFlushTimeout = 50 * time.Millisecond
	release := make(chan struct{})
	beforeSync = func() { <-release }
	defer func() { beforeSync = nil }()
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	r := &Request{Msgs: []message.Message{msg("F", 0, body(1, 10))}}
	start := time.Now()
	if st := l.Append(r); st != StatusFlushDiskTimeout {
		t.Fatalf("status %s, want FLUSH_DISK_TIMEOUT", st)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	close(release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestQueueFullIsSystemBusy(t *testing.T) {
	opts := testOptions(t, t.TempDir(), SyncFlush, WritePwrite)
	opts.QueueCapacity = 1
	opts.EnqueueTimeout = 10 * time.Millisecond
	opts.SyncFlushTimeout = 10 * time.Second
	release := make(chan struct{})
	beforeSync = func() { <-release }
	defer func() { beforeSync = nil }()
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	// The flusher blocks, so the writer eventually blocks handing groups
	// over; keep submitting until one is refused.
	busy := false
	results := make(chan Status, 10000)
	for i := 0; i < 10000 && !busy; i++ {
		r := &Request{Msgs: []message.Message{msg("Q", 0, body(i, 10))}, Done: func(r *Request) { results <- r.Status }}
		l.Submit(r)
		select {
		case st := <-results:
			busy = st == StatusSystemBusy
		default:
		}
	}
	close(release)
	if !busy {
		for len(results) > 0 {
			if <-results == StatusSystemBusy {
				busy = true
			}
		}
	}
	l.Close()
	if !busy {
		t.Fatal("a full queue never answered SYSTEM_BUSY")
	}
}

func TestRawAppend(t *testing.T) {
	forEachMode(t, func(t *testing.T, opts Options) {
		master := mustOpen(t, opts, RecoveryHint{Flushed: -1})
		defer master.Close()
		for i := 0; i < 300; i++ {
			if st := master.Append(&Request{Msgs: []message.Message{msg("R", int32(i%2), body(i, 700))}}); st != StatusOK {
				t.Fatal(st)
			}
		}
		sopts := opts
		sopts.Dir = t.TempDir()
		slave := mustOpen(t, sopts, RecoveryHint{Flushed: -1})
		defer slave.Close()
		// Stream in odd-sized chunks that cut records and segment ends.
		pos := int64(0)
		for pos < master.Written() {
			n := int64(3001)
			if pos+n > master.Written() {
				n = master.Written() - pos
			}
			chunk := make([]byte, 0, n)
			for p := pos; p < pos+n; {
				s, err := master.Pin(p)
				if err != nil {
					t.Fatal(err)
				}
				take := min(pos+n, s.End()) - p
				chunk = append(chunk, s.Bytes()[p-s.Base():p-s.Base()+take]...)
				s.Release()
				p += take
			}
			if err := slave.AppendRaw(pos, chunk); err != nil {
				t.Fatalf("raw append at %d: %v", pos, err)
			}
			pos += n
		}
		if err := slave.AppendRaw(pos+1, []byte{1}); !errors.Is(err, ErrOffsetGap) {
			t.Fatalf("gap accepted: %v", err)
		}
		if err := slave.AppendRaw(pos-10, []byte{1}); !errors.Is(err, ErrOffsetGap) {
			t.Fatalf("overlap accepted: %v", err)
		}
		mr, sr := readAll(t, master), readAll(t, slave)
		if len(mr) != len(sr) {
			t.Fatalf("slave has %d records, master %d", len(sr), len(mr))
		}
		for i := range mr {
			if !bytes.Equal(mr[i].Buf, sr[i].Buf) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

// A slave with an empty log follows a master whose log starts at a later
// segment.
func TestRawAppendIntoEmptyLogAtLaterSegment(t *testing.T) {
	opts := testOptions(t, t.TempDir(), AsyncFlush, WritePwrite)
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	defer l.Close()
	rec := make([]byte, 200)
	m := msg("E", 0, body(1, 50))
	stamp := message.Stamp{PhysicalOffset: 3 * testSegment}
	n := message.Encode(rec, &m, &stamp)
	if err := l.AppendRaw(3*testSegment, rec[:n]); err != nil {
		t.Fatal(err)
	}
	if l.MinOffset() != 3*testSegment || l.Written() != 3*testSegment+int64(n) {
		t.Fatalf("min %d written %d", l.MinOffset(), l.Written())
	}
}

// Recovery after a crash that tore the last message at every byte, or
// corrupted any byte of it: the log ends right before it, nothing of it is
// visible, and appends continue cleanly.
func TestRecoveryTornTailAtEveryByte(t *testing.T) {
	base := t.TempDir()
	opts := testOptions(t, filepath.Join(base, "src"), SyncFlush, WritePwrite)
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	for i := 0; i < 5; i++ {
		if st := l.Append(&Request{Msgs: []message.Message{msg("X", 0, body(i, 100))}}); st != StatusOK {
			t.Fatal(st)
		}
	}
	last := &Request{Msgs: []message.Message{msg("X", 0, body(9, 100))}}
	l.Append(last)
	lastStart, lastEnd := last.PhysicalOffset, last.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg0 := filepath.Join(opts.Dir, SegmentName(0))
	orig, err := os.ReadFile(seg0)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, mutate func(b []byte)) {
		dir := filepath.Join(base, name)
		os.MkdirAll(dir, 0o755)
		b := bytes.Clone(orig)
		mutate(b)
		if err := os.WriteFile(filepath.Join(dir, SegmentName(0)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Dir = dir
		// The checkpoint vouches only for the first message: scan from there.
		l := mustOpen(t, o, RecoveryHint{Clean: false, Flushed: 0})
		defer l.Close()
		if l.Written() != lastStart {
			t.Fatalf("%s: recovered end %d, want %d", name, l.Written(), lastStart)
		}
		if got := len(readAll(t, l)); got != 5 {
			t.Fatalf("%s: %d records visible, want 5", name, got)
		}
		if st := l.Append(&Request{Msgs: []message.Message{msg("X", 0, body(7, 30))}}); st != StatusOK {
			t.Fatalf("%s: append after recovery: %s", name, st)
		}
		if got := len(readAll(t, l)); got != 6 {
			t.Fatalf("%s: %d records after append, want 6", name, got)
		}
	}
	for cut := lastStart; cut < lastEnd; cut++ {
		run(fmt.Sprintf("cut%d", cut), func(b []byte) { clear(b[cut:lastEnd]) })
	}
	// Corruption of the bytes a check covers: size, magic, physical
	// offset, every body byte (body CRC), the topic and the properties'
	// final separator.
	var covered []int64
	for i := int64(0); i < 8; i++ {
		covered = append(covered, lastStart+i)
	}
	for i := int64(28); i < 36; i++ {
		covered = append(covered, lastStart+i)
	}
	for i := int64(88); i < 88+100+1+1; i++ { // body, topic length, topic
		covered = append(covered, lastStart+i)
	}
	covered = append(covered, lastEnd-1)
	for _, at := range covered {
		run(fmt.Sprintf("flip%d", at), func(b []byte) { b[at] ^= 0x5A })
	}
	// Garbage after a torn record must not come back after later appends.
	run("stale", func(b []byte) {
		binary.BigEndian.PutUint32(b[lastStart+4:], 0) // break the magic
	})
}

func TestRecoveryRemovesSegmentsPastTheEnd(t *testing.T) {
	opts := testOptions(t, t.TempDir(), AsyncFlush, WriteMmap)
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	for i := 0; i < 200; i++ {
		l.Append(&Request{Msgs: []message.Message{msg("Y", 0, body(i, 900))}})
	}
	l.Close()
	// Corrupt a record in the second segment: everything after it goes.
	seg1 := filepath.Join(opts.Dir, SegmentName(testSegment))
	b, _ := os.ReadFile(seg1)
	b[100] ^= 0xFF
	os.WriteFile(seg1, b, 0o644)
	l = mustOpen(t, opts, RecoveryHint{Flushed: -1})
	defer l.Close()
	if l.Written() >= 2*testSegment || l.Written() < testSegment {
		t.Fatalf("recovered end %d not inside the second segment", l.Written())
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, SegmentName(2*testSegment))); !os.IsNotExist(err) {
		t.Fatalf("segment past the end still there: %v", err)
	}
}

func TestDeleteSegmentsKeepsPinnedViews(t *testing.T) {
	opts := testOptions(t, t.TempDir(), AsyncFlush, WriteMmap)
	l := mustOpen(t, opts, RecoveryHint{Flushed: -1})
	defer l.Close()
	for i := 0; i < 300; i++ {
		l.Append(&Request{Msgs: []message.Message{msg("Z", 0, body(i, 900))}})
	}
	rec, seg, err := l.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(rec.Buf)
	n, err := l.DeleteSegments(l.Written(), 2, func(*Segment) bool { return false })
	if err != nil || n != 2 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if l.MinOffset() != 2*testSegment {
		t.Fatalf("min offset %d", l.MinOffset())
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, SegmentName(0))); !os.IsNotExist(err) {
		t.Fatal("deleted segment file still on disk")
	}
	if !bytes.Equal(rec.Buf, want) {
		t.Fatal("pinned view changed after deletion")
	}
	seg.Release()
	if _, _, err := l.Read(0); err == nil {
		t.Fatal("read below the min offset succeeded")
	}
	// The active segment is never deleted.
	n, _ = l.DeleteSegments(l.Written()+testSegment, 100, func(*Segment) bool { return false })
	if len(l.Segments()) != 1 {
		t.Fatalf("%d deleted, %d segments left", n, len(l.Segments()))
	}
}
