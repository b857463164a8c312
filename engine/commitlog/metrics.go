package commitlog

import (
	"sync/atomic"
	"time"
)

// Metrics are cumulative counters of the log, read by the metrics exporter
// and by benchmarks (average group size = Requests / Groups).
type Metrics struct {
	Requests      int64         // append requests stored
	Messages      int64         // messages stored
	Bytes         int64         // bytes stored
	Groups        int64         // writer rounds that stored something
	Syncs         int64         // fdatasync rounds
	SyncedGroups  int64         // SYNC_FLUSH requests completed by a sync
	SyncTime      time.Duration // time spent in fdatasync
	Busy          int64         // requests refused with SYSTEM_BUSY
	FlushTimeouts int64         // requests answered FLUSH_DISK_TIMEOUT
}

type counters struct {
	requests, messages, bytes, groups atomic.Int64
	syncs, syncedReqs, syncNanos      atomic.Int64
	busy, flushTimeouts               atomic.Int64
}

// Metrics returns a snapshot of the counters.
func (l *Log) Metrics() Metrics {
	c := &l.counters
	return Metrics{
		Requests:      c.requests.Load(),
		Messages:      c.messages.Load(),
		Bytes:         c.bytes.Load(),
		Groups:        c.groups.Load(),
		Syncs:         c.syncs.Load(),
		SyncedGroups:  c.syncedReqs.Load(),
		SyncTime:      time.Duration(c.syncNanos.Load()),
		Busy:          c.busy.Load(),
		FlushTimeouts: c.flushTimeouts.Load(),
	}
}
