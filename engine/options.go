package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/consumequeue"
	"github.com/gannetmq/gannet/engine/message"
)

// Flush and Write are the CommitLog's modes, re-exported so callers need
// only this package.
type (
	Flush = commitlog.FlushMode
	Write = commitlog.WriteMode
)

const (
	AsyncFlush  = commitlog.AsyncFlush
	SyncFlush   = commitlog.SyncFlush
	WritePwrite = commitlog.WritePwrite
	WriteMmap   = commitlog.WriteMmap
)

// Options configure a Store. The names in comments are the broker.properties
// keys they come from; zero values take RocketMQ's defaults.
type Options struct {
	Dir          string // storePathRootDir
	CommitLogDir string // storePathCommitLog, default <Dir>/commitlog

	SegmentSize int64 // mappedFileSizeCommitLog, default 1 GiB
	FlushMode   commitlog.FlushMode
	WriteMode   commitlog.WriteMode

	SyncFlushTimeout      time.Duration // syncFlushTimeout, 5 s
	FlushInterval         time.Duration // flushIntervalCommitLog, 500 ms
	FlushLeastPages       int           // flushCommitLogLeastPages, 4
	FlushThoroughInterval time.Duration // flushCommitLogThoroughInterval, 10 s
	QueueCapacity         int           // append queue bound, 16384
	EnqueueTimeout        time.Duration // waitTimeMillsInSendQueue, 200 ms
	MaxMessageSize        int           // maxMessageSize, 4 MiB
	ZeroFillAhead         int64         // bytes zero-filled ahead of the writer, 64 MiB
	PinWriter             bool          // lock the writer goroutine to its OS thread (slower, see commitlog)

	StoreHost message.Host // brokerIP1:listenPort, stored in every message

	ConsumeQueueUnits  int           // units per ConsumeQueue file, 300000
	FlushQueueInterval time.Duration // flushIntervalConsumeQueue, 1 s (also the checkpoint period)

	IndexDisabled  bool // messageIndexEnable=false
	IndexHashSlots int  // maxHashSlotNum, 5000000
	IndexMaxItems  int  // maxIndexNum, 20000000

	FileReservedHours   int           // fileReservedTime, 48
	DeleteWhen          string        // deleteWhen, "04" (hours separated by ';')
	DiskMaxUsedRatio    float64       // diskMaxUsedSpaceRatio, 0.75: expired files go at once
	DiskForceCleanRatio float64       // diskSpaceCleanForciblyRatio, 0.85: oldest files go even if young
	DiskFullRatio       float64       // diskSpaceWarningLevelRatio, 0.90: appends refused
	CleanInterval       time.Duration // how often retention looks, 10 s
	DeleteFilesBatch    int           // deleteFileBatchMax, 10 segments per round

	Logger *slog.Logger

	// OnDispatch is called on the dispatcher goroutine after new messages
	// became visible to readers (long polling hooks in here). Must not block.
	OnDispatch func()

	// Seams for tests.
	Now       func() time.Time
	DiskUsage func(path string) (float64, error)
}

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.CommitLogDir == "" && o.Dir != "" {
		o.CommitLogDir = filepath.Join(o.Dir, "commitlog")
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = commitlog.DefaultSegmentSize
	}
	if o.ConsumeQueueUnits == 0 {
		o.ConsumeQueueUnits = consumequeue.DefaultUnitsPerFile
	}
	if o.FlushQueueInterval == 0 {
		o.FlushQueueInterval = time.Second
	}
	if o.IndexHashSlots == 0 {
		o.IndexHashSlots = 5_000_000
	}
	if o.IndexMaxItems == 0 {
		o.IndexMaxItems = 20_000_000
	}
	if o.FileReservedHours == 0 {
		o.FileReservedHours = 48
	}
	if o.DeleteWhen == "" {
		o.DeleteWhen = "04"
	}
	if o.DiskMaxUsedRatio == 0 {
		o.DiskMaxUsedRatio = 0.75
	}
	if o.DiskForceCleanRatio == 0 {
		o.DiskForceCleanRatio = 0.85
	}
	if o.DiskFullRatio == 0 {
		o.DiskFullRatio = 0.90
	}
	if o.CleanInterval == 0 {
		o.CleanInterval = 10 * time.Second
	}
	if o.DeleteFilesBatch == 0 {
		o.DeleteFilesBatch = 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnDispatch == nil {
		o.OnDispatch = func() {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DiskUsage == nil {
		o.DiskUsage = diskUsage
	}
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("engine: Dir (storePathRootDir) is empty"))
	}
	if o.ConsumeQueueUnits < 1 {
		errs = append(errs, fmt.Errorf("engine: ConsumeQueueUnits %d must be positive", o.ConsumeQueueUnits))
	}
	if o.IndexHashSlots < 1 || o.IndexMaxItems < 1 {
		errs = append(errs, errors.New("engine: index geometry must be positive"))
	}
	if o.FileReservedHours < 0 {
		errs = append(errs, fmt.Errorf("engine: fileReservedTime %d must not be negative", o.FileReservedHours))
	}
	if _, err := parseDeleteWhen(o.DeleteWhen); err != nil {
		errs = append(errs, err)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"diskMaxUsedSpaceRatio", o.DiskMaxUsedRatio}, {"diskSpaceCleanForciblyRatio", o.DiskForceCleanRatio}, {"diskSpaceWarningLevelRatio", o.DiskFullRatio}} {
		if r.v <= 0 || r.v > 1 {
			errs = append(errs, fmt.Errorf("engine: %s %.2f must be in (0, 1]", r.name, r.v))
		}
	}
	clOpts := o.commitLogOptions(nil)
	clOpts.EnsureDefaults()
	if err := clOpts.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseDeleteWhen reads "04" or "04;12" into a set of hours.
func parseDeleteWhen(s string) ([24]bool, error) {
	var hours [24]bool
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		h, err := strconv.Atoi(part)
		if err != nil || h < 0 || h > 23 {
			return hours, fmt.Errorf("engine: deleteWhen %q: %q is not an hour 00..23", s, part)
		}
		hours[h] = true
	}
	return hours, nil
}

func (o *Options) commitLogOptions(s *Store) commitlog.Options {
	c := commitlog.Options{
		Dir:                   o.CommitLogDir,
		SegmentSize:           o.SegmentSize,
		FlushMode:             o.FlushMode,
		WriteMode:             o.WriteMode,
		SyncFlushTimeout:      o.SyncFlushTimeout,
		FlushInterval:         o.FlushInterval,
		FlushLeastPages:       o.FlushLeastPages,
		FlushThoroughInterval: o.FlushThoroughInterval,
		QueueCapacity:         o.QueueCapacity,
		EnqueueTimeout:        o.EnqueueTimeout,
		MaxMessageSize:        o.MaxMessageSize,
		ZeroFillAhead:         o.ZeroFillAhead,
		PinWriter:             o.PinWriter,
		StoreHost:             o.StoreHost,
		Logger:                o.Logger,
	}
	if c.Dir == "" {
		c.Dir = "commitlog"
	}
	if s != nil {
		c.NextQueueOffset = s.nextQueueOffset
		c.OnAdvance = s.wakeDispatcher
	}
	return c
}
