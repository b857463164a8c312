package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

// FlushMode says when an append is acknowledged.
type FlushMode int

const (
	// AsyncFlush acknowledges once the bytes are in the page cache; a
	// flusher syncs on an interval or when enough pages are dirty.
	AsyncFlush FlushMode = iota
	// SyncFlush acknowledges only after the bytes are on disk (fdatasync).
	SyncFlush
)

func (m FlushMode) String() string {
	if m == SyncFlush {
		return "SYNC_FLUSH"
	}
	return "ASYNC_FLUSH"
}

// WriteMode says how the writer puts encoded bytes into a segment. Reads
// always come from the mapping.
type WriteMode int

const (
	// WritePwrite encodes a group into a staging buffer and stores it with
	// one pwrite per segment touched (the default: faster when followed by
	// fdatasync, see docs/storage.md).
	WritePwrite WriteMode = iota
	// WriteMmap encodes straight into the mapped segment.
	WriteMmap
)

func (m WriteMode) String() string {
	if m == WriteMmap {
		return "mmap"
	}
	return "pwrite"
}

// Options configure a Log. Zero values take the defaults of EnsureDefaults.
type Options struct {
	Dir         string
	SegmentSize int64 // mappedFileSizeCommitLog, default 1 GiB

	FlushMode FlushMode
	WriteMode WriteMode

	SyncFlushTimeout      time.Duration // syncFlushTimeout, default 5 s
	FlushInterval         time.Duration // flushIntervalCommitLog, default 500 ms
	FlushLeastPages       int           // flushCommitLogLeastPages, default 4
	FlushThoroughInterval time.Duration // flushCommitLogThoroughInterval, default 10 s

	QueueCapacity  int           // bounded append queue, default 16384 requests
	EnqueueTimeout time.Duration // wait for room before "system busy", default 200 ms
	MaxMessageSize int           // maxMessageSize, default 4 MiB (one request in total)

	// ZeroFillAhead is how far ahead of the write position segments are
	// zero-filled in the background (writes into blocks that already hold
	// data are much faster than into fresh extents). 0 takes the default,
	// a negative value disables it.
	ZeroFillAhead int64

	// PinWriter locks the writer goroutine to its OS thread.
	PinWriter bool

	StoreHost message.Host
	Logger    *slog.Logger

	// NowMillis is the clock for store timestamps; tests replace it.
	NowMillis func() int64

	// NextQueueOffset gives the next queue offset of a topic-queue the
	// writer has not seen yet (the engine answers from its ConsumeQueue).
	// Called on the writer goroutine.
	NextQueueOffset func(topic string, queueID int32) int64

	// OnAdvance is called, on the writer or flusher goroutine, whenever
	// the readable end of the log moves forward. It must not block.
	OnAdvance func()
}

// Default values (RocketMQ MessageStoreConfig).
const (
	DefaultSegmentSize    = 1 << 30
	DefaultMaxMessageSize = 4 << 20
	pageSize              = 4096

	// requestOverhead is what one request may store beyond MaxMessageSize
	// of body: headers, topics and properties of its messages.
	requestOverhead = 256 << 10
)

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SyncFlushTimeout == 0 {
		o.SyncFlushTimeout = 5 * time.Second
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 500 * time.Millisecond
	}
	if o.FlushLeastPages == 0 {
		o.FlushLeastPages = 4
	}
	if o.FlushThoroughInterval == 0 {
		o.FlushThoroughInterval = 10 * time.Second
	}
	if o.QueueCapacity == 0 {
		o.QueueCapacity = 16384
	}
	if o.EnqueueTimeout == 0 {
		o.EnqueueTimeout = 200 * time.Millisecond
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.ZeroFillAhead == 0 {
		o.ZeroFillAhead = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NowMillis == nil {
		o.NowMillis = func() int64 { return time.Now().UnixMilli() }
	}
	if o.NextQueueOffset == nil {
		o.NextQueueOffset = func(string, int32) int64 { return 0 }
	}
	if o.OnAdvance == nil {
		o.OnAdvance = func() {}
	}
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("commitlog: Dir is empty"))
	}
	if o.SegmentSize < 64<<10 || o.SegmentSize%pageSize != 0 {
		errs = append(errs, fmt.Errorf("commitlog: segment size %d must be a multiple of %d and at least 64 KiB", o.SegmentSize, pageSize))
	}
	if o.MaxMessageSize <= 0 || int64(o.MaxMessageSize)+message.BlankMinSize > o.SegmentSize {
		errs = append(errs, fmt.Errorf("commitlog: max message size %d must be positive and fit a segment of %d bytes", o.MaxMessageSize, o.SegmentSize))
	}
	if o.FlushMode != AsyncFlush && o.FlushMode != SyncFlush {
		errs = append(errs, fmt.Errorf("commitlog: unknown flush mode %d", o.FlushMode))
	}
	if o.WriteMode != WritePwrite && o.WriteMode != WriteMmap {
		errs = append(errs, fmt.Errorf("commitlog: unknown write mode %d", o.WriteMode))
	}
	if o.QueueCapacity < 1 {
		errs = append(errs, fmt.Errorf("commitlog: queue capacity %d must be positive", o.QueueCapacity))
	}
	if o.SyncFlushTimeout < 0 || o.FlushInterval < 0 || o.EnqueueTimeout < 0 || o.FlushThoroughInterval < 0 {
		errs = append(errs, errors.New("commitlog: durations must not be negative"))
	}
	if o.FlushLeastPages < 0 {
		errs = append(errs, errors.New("commitlog: flush pages must not be negative"))
	}
	return errors.Join(errs...)
}
