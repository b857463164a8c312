package engine

import "github.com/gannetmq/gannet/engine/commitlog"

// Metrics is a snapshot of the engine's counters and positions, for the
// metrics exporter and for reports.
type Metrics struct {
	CommitLog        commitlog.Metrics
	MinOffset        int64 // first CommitLog byte on disk
	WrittenOffset    int64 // end of the stored log
	FlushedOffset    int64 // end of the durable log
	DispatchedOffset int64 // end of what readers can see
	DispatchLag      int64 // bytes readable in the log but not yet dispatched
	Writable         bool  // false while appends are refused for lack of disk
	DispatchFailed   bool  // the dispatcher is stuck (see DispatchError)
}

// Metrics returns the current counters.
func (s *Store) Metrics() Metrics {
	d := s.dispatched.Load()
	return Metrics{
		CommitLog:        s.cl.Metrics(),
		MinOffset:        s.cl.MinOffset(),
		WrittenOffset:    s.cl.Written(),
		FlushedOffset:    s.cl.Flushed(),
		DispatchedOffset: d,
		DispatchLag:      max(s.cl.Readable()-d, 0),
		Writable:         s.cl.Writable(),
		DispatchFailed:   s.dispatchErr.Load() != nil,
	}
}
