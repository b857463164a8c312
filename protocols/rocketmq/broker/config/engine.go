package config

import (
	"path/filepath"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// EngineOptions maps the store keys onto engine.Options. Call it on a
// Broker that Validate accepts. Percentages become fractions, clamped as
// RocketMQ's getters clamp them (diskMaxUsedSpaceRatio to [10, 95],
// diskSpaceCleanForciblyRatio to [30, 85], diskSpaceWarningLevelRatio to
// [35, 90]); mappedFileSizeConsumeQueue, in bytes, becomes units of 20
// bytes, rounded up as MessageStoreConfig does.
//
// The fields no key sets are left zero for the caller or the engine's
// defaults: Logger, OnDispatch, QueueCapacity, ZeroFillAhead, PinWriter,
// CleanInterval, Now, DiskUsage.
func (b *Broker) EngineOptions() engine.Options {
	o := engine.Options{
		Dir:                   b.StorePathRootDir,
		CommitLogDir:          b.StorePathCommitLog,
		SegmentSize:           b.MappedFileSizeCommitLog,
		FlushMode:             engine.AsyncFlush,
		WriteMode:             engine.WritePwrite,
		SyncFlushTimeout:      b.SyncFlushTimeout,
		FlushInterval:         b.FlushIntervalCommitLog,
		FlushLeastPages:       b.FlushCommitLogLeastPages,
		FlushThoroughInterval: b.FlushCommitLogThoroughInterval,
		EnqueueTimeout:        b.WaitTimeMillsInSendQueue,
		MaxMessageSize:        b.MaxMessageSize,
		StoreHost:             message.HostFromAddrPort(b.StoreHost()),
		ConsumeQueueUnits:     int((b.MappedFileSizeConsumeQueue + cqUnitSize - 1) / cqUnitSize),
		FlushQueueInterval:    b.FlushIntervalConsumeQueue,
		IndexDisabled:         !b.MessageIndexEnable,
		IndexHashSlots:        b.MaxHashSlotNum,
		IndexMaxItems:         b.MaxIndexNum,
		FileReservedHours:     b.FileReservedTime,
		DeleteWhen:            b.DeleteWhen,
		DiskMaxUsedRatio:      percent(b.DiskMaxUsedSpaceRatio, 10, 95),
		DiskForceCleanRatio:   percent(b.DiskSpaceCleanForciblyRatio, 30, 85),
		DiskFullRatio:         percent(b.DiskSpaceWarningLevelRatio, 35, 90),
		DeleteFilesBatch:      b.DeleteFileBatchMax,
	}
	if o.CommitLogDir == "" {
		o.CommitLogDir = filepath.Join(o.Dir, "commitlog")
	}
	if b.FlushDiskType == SyncFlush {
		o.FlushMode = engine.SyncFlush
	}
	if b.WriteMode == WriteMmap {
		o.WriteMode = engine.WriteMmap
	}
	return o
}

// percent turns a percentage into a fraction after clamping it to [lo, hi].
func percent(p, lo, hi int) float64 {
	return float64(min(max(p, lo), hi)) / 100
}
