package engine

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gannetmq/gannet/engine/message"
)

// Benchmarks are named key=value so runs can be compared across commits
// (benchstat). BenchmarkRawWrite and BenchmarkRawWriteSync are the disk
// baselines measured in the same run: report appends as a ratio to them.

func benchOptions(dir string, flush Flush, write Write) Options {
	return Options{
		Dir:       dir,
		FlushMode: flush,
		WriteMode: write,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Retention and checkpoints stay out of the measurement.
		CleanInterval: 1 << 40,
	}
}

func benchAppend(b *testing.B, flush Flush, write Write, size, writers int, pin bool) {
	benchAppendOpts(b, flush, write, size, writers, func(o *Options) { o.PinWriter = pin })
}

func benchAppendOpts(b *testing.B, flush Flush, write Write, size, writers int, tune func(*Options)) {
	o := benchOptions(b.TempDir(), flush, write)
	tune(&o)
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	props := message.AppendProperty(nil, message.PropertyTags, "TagA")
	props = message.AppendProperty(props, message.PropertyUniqID, "7F0000010C3418B4AAC2123456780000")
	body := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.SetParallelism((writers + 1) / 2) // RunParallel starts GOMAXPROCS × parallelism goroutines
	if writers == 1 {
		b.SetParallelism(1)
	}
	var qid int32
	b.ResetTimer()
	before := s.CommitLog().Metrics()
	defer func() {
		m := s.CommitLog().Metrics()
		if g := m.Groups - before.Groups; g > 0 {
			b.ReportMetric(float64(m.Requests-before.Requests)/float64(g), "reqs/group")
		}
		if n := m.Syncs - before.Syncs; n > 0 && flush == SyncFlush {
			b.ReportMetric(float64(m.SyncedGroups-before.SyncedGroups)/float64(n), "reqs/sync")
		}
	}()
	if writers == 1 {
		r := &Request{Msgs: []message.Message{{Topic: "Bench", Body: body, Properties: props}}}
		for i := 0; i < b.N; i++ {
			if st := s.Append(r); st != StatusOK {
				b.Fatal(st, r.Err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		r := &Request{Msgs: []message.Message{{Topic: "Bench", QueueID: qid % 8, Body: body, Properties: props}}}
		qid++
		for pb.Next() {
			if st := s.Append(r); st != StatusOK {
				b.Error(st, r.Err)
				return
			}
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, flush := range []Flush{AsyncFlush, SyncFlush} {
		for _, size := range []int{128, 1024, 4096} {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("flush=%s/size=%d/writers=%d", flushName(flush), size, writers)
				b.Run(name, func(b *testing.B) { benchAppend(b, flush, WritePwrite, size, writers, false) })
			}
		}
	}
}

// BenchmarkAppendWriteMode compares storing through the mapping with
// pwrite, both followed by fdatasync (docs/storage.md reports it).
func BenchmarkAppendWriteMode(b *testing.B) {
	for _, write := range []Write{WritePwrite, WriteMmap} {
		for _, flush := range []Flush{AsyncFlush, SyncFlush} {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("write=%s/flush=%s/size=1024/writers=%d", write, flushName(flush), writers)
				b.Run(name, func(b *testing.B) { benchAppend(b, flush, write, 1024, writers, false) })
			}
		}
	}
}

// BenchmarkAppendZeroFill compares zero-filling segments ahead of the
// writer (the default: -1 turns it off) under both flush modes.
func BenchmarkAppendZeroFill(b *testing.B) {
	for _, ahead := range []int64{64 << 20, -1} {
		for _, flush := range []Flush{AsyncFlush, SyncFlush} {
			for _, writers := range []int{1, 64} {
				name := fmt.Sprintf("zerofill=%v/flush=%s/size=1024/writers=%d", ahead > 0, flushName(flush), writers)
				b.Run(name, func(b *testing.B) {
					benchAppendOpts(b, flush, WritePwrite, 1024, writers, func(o *Options) { o.ZeroFillAhead = ahead })
				})
			}
		}
	}
}

// BenchmarkAppendPinned measures the writer locked to its OS thread.
func BenchmarkAppendPinned(b *testing.B) {
	for _, flush := range []Flush{AsyncFlush, SyncFlush} {
		for _, writers := range []int{1, 64} {
			name := fmt.Sprintf("flush=%s/size=1024/writers=%d", flushName(flush), writers)
			b.Run(name, func(b *testing.B) { benchAppend(b, flush, WritePwrite, 1024, writers, true) })
		}
	}
}

func flushName(f Flush) string {
	if f == SyncFlush {
		return "sync"
	}
	return "async"
}

// BenchmarkRawWrite is the baseline: plain sequential write(2) of the same
// bytes into a file.
func BenchmarkRawWrite(b *testing.B) {
	b.Run("size=1024", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1024)
		b.SetBytes(1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawWriteSync is the durable baseline: write(2) with one
// fdatasync every batch writes.
func BenchmarkRawWriteSync(b *testing.B) {
	b.Run("size=1024/batch=64", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1024)
		b.SetBytes(1024)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			if i%64 == 63 {
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkGetMessage reads 32 messages per call from a backlog.
func BenchmarkGetMessage(b *testing.B) {
	b.Run("size=1024", func(b *testing.B) {
		s, err := Open(benchOptions(b.TempDir(), AsyncFlush, WriteMmap))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		const backlog = 100_000
		r := &Request{Msgs: make([]message.Message, 32)}
		for i := range r.Msgs {
			r.Msgs[i] = message.Message{Topic: "Backlog", Body: make([]byte, 1024)}
		}
		for i := 0; i < backlog/32; i++ {
			if st := s.Append(r); st != StatusOK {
				b.Fatal(st)
			}
		}
		waitDispatched(b, s)
		var res GetResult
		req := GetRequest{Topic: "Backlog", MaxMessages: 32}
		max := s.MaxOffset("Backlog", 0)
		b.SetBytes(32 * 1024)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			s.GetMessages(&req, &res)
			if res.Status != GetFound || len(res.Messages) != 32 {
				b.Fatalf("%s %d", res.Status, len(res.Messages))
			}
			req.Offset = res.NextOffset
			if req.Offset+32 > max {
				req.Offset = 0
			}
		}
		b.StopTimer()
		res.Release()
	})
}
