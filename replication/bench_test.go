package replication

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// Replication throughput against its ceiling, in one run:
//
//	go test -run '^$' -bench 'CatchUp|Ceiling' -benchtime 5x ./replication
//
// BenchmarkCatchUp: an empty slave copies benchLog bytes of 1 KiB messages
// from a master over loopback, storing them in its own CommitLog (its
// dispatcher building ConsumeQueues meanwhile). BenchmarkLoopbackCeiling
// moves the same bytes in 1 MiB frames over a loopback TCP
// connection from memory to memory: what no replication can beat on this
// machine. The ratio of the two MB/s is the figure to quote.

const (
	benchLog     = 128 << 20
	ceilingFrame = 1 << 20 // the largest frame the catch-up benchmark uses
)

func benchOptions(dir string, zeroFill bool) engine.Options {
	o := testOptions(dir, engine.AsyncFlush)
	o.SegmentSize = 256 << 20
	o.MaxMessageSize = 4 << 20
	o.ZeroFillAhead = -1
	if zeroFill {
		o.ZeroFillAhead = 64 << 20
	}
	o.FlushInterval = 500 * time.Millisecond
	o.ConsumeQueueUnits = 300_000
	o.IndexHashSlots = 1 << 16
	o.IndexMaxItems = 1 << 18
	return o
}

// benchMaster fills a master with about benchLog bytes of 1 KiB messages.
func benchMaster(b *testing.B) *engine.Store {
	b.Helper()
	s, err := engine.Open(benchOptions(b.TempDir(), false))
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	msgs := make([]message.Message, 64)
	for i := range msgs {
		msgs[i] = message.Message{Topic: "Bench", QueueID: int32(i % 8), Body: body, BornTimestamp: time.Now().UnixMilli()}
	}
	for s.MaxPhysicalOffset() < benchLog {
		r := &engine.Request{Msgs: msgs}
		if st := s.Append(r); st != engine.StatusOK {
			b.Fatalf("append: %s %v", st, r.Err)
		}
	}
	return s
}

func BenchmarkCatchUp(b *testing.B) {
	for _, batch := range []int{32 << 10, 256 << 10, 1 << 20} {
		for _, zf := range []bool{true, false} {
			b.Run(fmt.Sprintf("batch=%dKiB/zerofill=%v", batch>>10, zf), func(b *testing.B) { benchCatchUp(b, batch, zf) })
		}
	}
}

func benchCatchUp(b *testing.B, batch int, zeroFill bool) {
	master := benchMaster(b)
	defer master.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := NewMaster(master, MasterOptions{Logger: quiet, BatchSize: batch})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go m.Serve(ln)
	defer m.Close()
	end := master.MaxPhysicalOffset()
	b.SetBytes(end)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		slave, err := engine.Open(benchOptions(b.TempDir(), zeroFill))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		s := NewSlave(slave, ln.Addr().String(), SlaveOptions{Logger: quiet})
		b.StartTimer()
		go func() { done <- s.Run(ctx) }()
		deadline := time.Now().Add(2 * time.Minute)
		for slave.MaxPhysicalOffset() < end {
			if time.Now().After(deadline) {
				b.Fatalf("slave at %d of %d after 2 minutes", slave.MaxPhysicalOffset(), end)
			}
			time.Sleep(200 * time.Microsecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		slave.Close()
		b.StartTimer()
	}
}

// BenchmarkDiskCeiling writes the same bytes in 1 MiB pwrites into a
// fresh file: the other ceiling of a slave, which stores what it receives.
func BenchmarkDiskCeiling(b *testing.B) {
	chunk := make([]byte, 1<<20)
	b.SetBytes(benchLog)
	for range b.N {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < benchLog; off += int64(len(chunk)) {
			if _, err := f.WriteAt(chunk, off); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

func BenchmarkLoopbackCeiling(b *testing.B) {
	data := make([]byte, benchLog)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [headerSize]byte
				for off := 0; off < len(data); off += ceilingFrame {
					end := min(off+ceilingFrame, len(data))
					binary.BigEndian.PutUint64(hdr[0:8], uint64(off))
					binary.BigEndian.PutUint32(hdr[8:12], uint32(end-off))
					bufs := net.Buffers{hdr[:], data[off:end]}
					if _, err := bufs.WriteTo(c); err != nil {
						return
					}
				}
			}()
		}
	}()
	b.SetBytes(int64(len(data)))
	sink := make([]byte, ceilingFrame)
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		var hdr [headerSize]byte
		for got := 0; got < len(data); {
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				b.Fatal(err)
			}
			n := int(binary.BigEndian.Uint32(hdr[8:12]))
			if _, err := io.ReadFull(c, sink[:n]); err != nil {
				b.Fatal(err)
			}
			got += n
		}
		c.Close()
	}
}
