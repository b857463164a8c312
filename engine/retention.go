package engine

import (
	"os"
	"time"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/consumequeue"
)

// Retention, as RocketMQ's CleanCommitLogService does it:
//   - at the deleteWhen hours, segments older than fileReservedTime go;
//   - above diskMaxUsedSpaceRatio they go at any hour;
//   - above diskSpaceCleanForciblyRatio the oldest go even if young;
//   - above diskSpaceWarningLevelRatio appends are refused (DISK_FULL)
//     until space is back; reads keep working.
// ConsumeQueue and Index files that only point into deleted segments go
// after them. Never the active segment, nor one that is not yet flushed
// and dispatched.

func (s *Store) retentionLoop() {
	hours, _ := parseDeleteWhen(s.opts.DeleteWhen)
	s.retain(hours)
	t := time.NewTicker(s.opts.CleanInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.retain(hours)
	}
}

// RunRetention runs one retention round now (tests, admin commands).
func (s *Store) RunRetention() {
	hours, _ := parseDeleteWhen(s.opts.DeleteWhen)
	s.retain(hours)
}

func (s *Store) retain(hours [24]bool) {
	o := &s.opts
	usage, err := o.DiskUsage(o.CommitLogDir)
	if err != nil {
		s.log.Warn("cannot read disk usage", "dir", o.CommitLogDir, "err", err)
		usage = 0
	}
	full := usage >= o.DiskFullRatio
	if full == s.cl.Writable() {
		s.cl.SetWritable(!full)
		if full {
			s.log.Error("disk almost full: appends refused until space is freed", "dir", o.CommitLogDir, "used", usage, "limit", o.DiskFullRatio)
		} else {
			s.log.Info("disk space back: appends accepted again", "dir", o.CommitLogDir, "used", usage)
		}
	}

	now := o.Now()
	force := usage >= o.DiskForceCleanRatio
	due := hours[now.Hour()] || usage >= o.DiskMaxUsedRatio || force
	if !due {
		return
	}
	reserve := time.Duration(o.FileReservedHours) * time.Hour
	limit := min(s.cl.Flushed(), s.dispatched.Load())
	n, err := s.cl.DeleteSegments(limit, o.DeleteFilesBatch, func(seg *commitlog.Segment) bool {
		if force {
			return false
		}
		st, err := os.Stat(seg.Path())
		if err != nil {
			return true
		}
		return now.Sub(st.ModTime()) < reserve
	})
	if err != nil {
		s.log.Warn("retention", "err", err)
	}
	if n == 0 {
		return
	}
	s.dropIndexesBefore(s.cl.MinOffset())
}

// dropIndexesBefore removes ConsumeQueue and Index files that only point
// below minPhys.
func (s *Store) dropIndexesBefore(minPhys int64) {
	s.cqs.ForEach(func(topic string, qid int32, q *consumequeue.Queue) bool {
		if _, err := q.DeleteFilesBefore(minPhys); err != nil {
			s.log.Warn("cannot delete consume queue files", "topic", topic, "queue", qid, "err", err)
		}
		return true
	})
	if s.idx != nil {
		if _, err := s.idx.DeleteFilesBefore(minPhys); err != nil {
			s.log.Warn("cannot delete index files", "err", err)
		}
	}
}
