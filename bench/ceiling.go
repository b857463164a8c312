package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Ceiling is what this machine can do at best, measured now, for reports
// to divide by: the disk under Dir for sequential writes and for small
// synchronous appends (the cost of SYNC_FLUSH), and the loopback for
// small request/response round trips (the cost of an unpipelined call).
type Ceiling struct {
	Dir string `json:"dir"`
	FS  string `json:"fs"` // file system type of Dir (tmpfs makes the disk figures meaningless)

	// SeqWriteMBPerSec: 1 MiB writes for about a second, with an
	// fdatasync every 64 MiB and one at the end, over the whole time.
	SeqWriteMBPerSec       float64 `json:"seq_write_mb_per_sec"`
	SeqWriteCachedMBPerSec float64 `json:"seq_write_cached_mb_per_sec"` // the writes alone, syncs excluded
	SeqWriteBytes          int64   `json:"seq_write_bytes"`

	// FdatasyncPerSec: 4 KiB appended then fdatasync, in a loop for
	// about a second.
	FdatasyncPerSec float64 `json:"fdatasync_per_sec"`
	FdatasyncP50Us  int64   `json:"fdatasync_p50_us"`
	FdatasyncP99Us  int64   `json:"fdatasync_p99_us"`

	// LoopbackRTTPerSec: 16 bytes to a TCP echo on 127.0.0.1 and back,
	// one at a time on one connection, for about a second.
	LoopbackRTTPerSec float64 `json:"loopback_rtt_per_sec"`
	LoopbackP50Us     int64   `json:"loopback_p50_us"`
	LoopbackP99Us     int64   `json:"loopback_p99_us"`
}

// Bounds of the ceiling measurements: each runs for about ceilingTime
// and stops earlier at its size or count limit.
const (
	ceilingTime       = time.Second
	seqChunk          = 1 << 20
	seqSyncEvery      = 64 << 20
	seqMaxBytes       = 8 << 30
	syncChunk         = 4 << 10
	syncMaxCount      = 1_000_000
	rttMaxCount       = 10_000_000
	rttMessage        = 16
	ceilingIOTimeout  = 10 * time.Second
	ceilingFilePrefix = "gannet-ceiling-"
)

// MeasureCeiling measures the machine's ceilings, with temporary files in
// dir (the system temporary directory when empty); they are removed.
// Each step takes about a second; ctx ends it sooner.
func MeasureCeiling(ctx context.Context, dir string) (*Ceiling, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	c := &Ceiling{Dir: dir, FS: fsType(dir)}
	if err := seqWrite(ctx, dir, c); err != nil {
		return nil, fmt.Errorf("sequential write in %s: %w", dir, err)
	}
	if err := syncLoop(ctx, dir, c); err != nil {
		return nil, fmt.Errorf("append+fdatasync in %s: %w", dir, err)
	}
	if err := loopback(ctx, c); err != nil {
		return nil, fmt.Errorf("loopback round trips: %w", err)
	}
	return c, nil
}

func tempFile(dir string) (*os.File, func(), error) {
	f, err := os.CreateTemp(dir, ceilingFilePrefix+"*")
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close(); os.Remove(f.Name()) }, nil
}

func seqWrite(ctx context.Context, dir string, c *Ceiling) error {
	f, cleanup, err := tempFile(dir)
	if err != nil {
		return err
	}
	defer cleanup()
	buf := make([]byte, seqChunk)
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not all zeros, in case the file system compresses
	}
	var written, unsynced int64
	var syncTime time.Duration
	start := time.Now()
	for written < seqMaxBytes && time.Since(start) < ceilingTime && ctx.Err() == nil {
		n, err := f.Write(buf)
		written += int64(n)
		unsynced += int64(n)
		if err != nil {
			return err
		}
		if unsynced >= seqSyncEvery {
			t := time.Now()
			if err := fdatasync(f); err != nil {
				return err
			}
			syncTime += time.Since(t)
			unsynced = 0
		}
	}
	t := time.Now()
	if err := fdatasync(f); err != nil {
		return err
	}
	syncTime += time.Since(t)
	total := time.Since(start)
	c.SeqWriteBytes = written
	c.SeqWriteMBPerSec = round2(float64(written) / total.Seconds() / 1e6)
	if w := total - syncTime; w > 0 {
		c.SeqWriteCachedMBPerSec = round2(float64(written) / w.Seconds() / 1e6)
	}
	return nil
}

func syncLoop(ctx context.Context, dir string, c *Ceiling) error {
	f, cleanup, err := tempFile(dir)
	if err != nil {
		return err
	}
	defer cleanup()
	buf := make([]byte, syncChunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	h := newHist()
	n := 0
	start := time.Now()
	for n < syncMaxCount && time.Since(start) < ceilingTime && ctx.Err() == nil {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		h.RecordValue(min(time.Since(t).Microseconds(), histMaxUs))
		n++
	}
	c.FdatasyncPerSec = round2(float64(n) / time.Since(start).Seconds())
	c.FdatasyncP50Us = h.ValueAtQuantile(50)
	c.FdatasyncP99Us = h.ValueAtQuantile(99)
	return nil
}

func loopback(ctx context.Context, c *Ceiling) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	echoDone := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			echoDone <- err
			return
		}
		defer conn.Close()
		buf := make([]byte, rttMessage)
		for {
			if _, err := io.ReadFull(conn, buf); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				echoDone <- err
				return
			}
			if _, err := conn.Write(buf); err != nil {
				echoDone <- err
				return
			}
		}
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), ceilingIOTimeout)
	if err != nil {
		return err
	}
	// Bounds every read and write: a stuck echo cannot hold the run.
	conn.SetDeadline(time.Now().Add(ceilingTime + ceilingIOTimeout))
	msg := make([]byte, rttMessage)
	in := make([]byte, rttMessage)
	h := newHist()
	n := 0
	start := time.Now()
	for n < rttMaxCount && time.Since(start) < ceilingTime && ctx.Err() == nil {
		t := time.Now()
		if _, err := conn.Write(msg); err != nil {
			conn.Close()
			return err
		}
		if _, err := io.ReadFull(conn, in); err != nil {
			conn.Close()
			return err
		}
		h.RecordValue(min(time.Since(t).Microseconds(), histMaxUs))
		n++
	}
	elapsed := time.Since(start)
	conn.Close()
	if err := <-echoDone; err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	c.LoopbackRTTPerSec = round2(float64(n) / elapsed.Seconds())
	c.LoopbackP50Us = h.ValueAtQuantile(50)
	c.LoopbackP99Us = h.ValueAtQuantile(99)
	return nil
}
