package commitlog

import (
	"sync"
	"time"
)

// flusher makes written bytes durable. Under SYNC_FLUSH it completes the
// groups the writer hands it after one fdatasync covering all of them
// (group commit); under ASYNC_FLUSH it syncs on an interval or when enough
// pages are dirty.
type flusher struct {
	l    *Log
	wake chan struct{}

	mu struct {
		sync.Mutex
		waiting    []pendingReq // sync mode: groups not yet in a sync
		waitingEnd int64        // end offset of the waiting groups
		since      time.Time    // when the oldest waiting group arrived
		inflight   []pendingReq // the groups the current sync covers
		taken      *sync.Cond   // signalled when a sync takes the waiting groups
		syncStart  time.Time    // zero while no sync runs
		stopping   bool
	}

	lastThorough time.Time
	lastBatch    int           // requests the last sync completed (flusher goroutine only)
	lastSync     time.Duration // how long the last sync took (flusher goroutine only)
	err          error         // sticky sync error; read after the goroutine ends
	done         chan struct{}
}

func newFlusher(l *Log) *flusher {
	f := &flusher{l: l, wake: make(chan struct{}, 1), done: make(chan struct{})}
	f.mu.waiting = make([]pendingReq, 0, 256)
	f.mu.inflight = make([]pendingReq, 0, 256)
	f.mu.taken = sync.NewCond(&f.mu.Mutex)
	f.lastThorough = time.Now()
	return f
}

func (f *flusher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// enqueue takes a stored group whose acknowledgement waits for a sync. When
// syncs fall behind by more than the append queue's capacity, the writer
// waits here, the append queue fills, and callers get SYSTEM_BUSY instead of
// memory growing without bound.
func (f *flusher) enqueue(group []pendingReq, end int64) {
	f.mu.Lock()
	for len(f.mu.waiting) >= f.l.opts.QueueCapacity && !f.mu.stopping {
		f.mu.taken.Wait()
	}
	if len(f.mu.waiting) == 0 {
		f.mu.since = time.Now()
	}
	f.mu.waiting = append(f.mu.waiting, group...)
	f.mu.waitingEnd = end
	f.mu.Unlock()
	f.poke()
}

// noteWritten is the async-mode signal: sync early once enough pages are
// dirty.
func (f *flusher) noteWritten(end int64) {
	if end-f.l.flushed.Load() >= int64(f.l.opts.FlushLeastPages)*pageSize {
		f.poke()
	}
}

// shutdown is called by the writer when it has stored its last group.
func (f *flusher) shutdown() {
	f.mu.Lock()
	f.mu.stopping = true
	f.mu.Unlock()
	f.poke()
	<-f.done
}

func (f *flusher) run() {
	defer close(f.done)
	if f.l.opts.FlushMode == SyncFlush {
		// The watchdog runs on its own goroutine because the flusher itself
		// is what gets stuck in a slow fdatasync.
		stopWatch := make(chan struct{})
		defer close(stopWatch)
		go f.watch(stopWatch)
	}
	interval := time.NewTicker(f.l.opts.FlushInterval)
	defer interval.Stop()
	gatherTimer := time.NewTimer(time.Hour)
	gatherTimer.Stop()
	for {
		timed := false
		select {
		case <-f.wake:
		case <-interval.C:
			timed = true
		}
		f.mu.Lock()
		stopping := f.mu.stopping
		f.mu.Unlock()
		if f.l.opts.FlushMode == SyncFlush {
			if !stopping {
				f.gather(gatherTimer)
			}
			f.syncGroups()
		} else {
			f.syncAsync(timed || stopping)
		}
		if stopping {
			// The writer is gone: one last round covers everything.
			f.syncGroups()
			f.syncTo(f.l.written.Load())
			return
		}
	}
}

func (f *flusher) watch(stop <-chan struct{}) {
	period := max(f.l.opts.SyncFlushTimeout/5, time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			f.expire()
		}
	}
}

// gather lets a sync wait a little for more groups when fewer are waiting
// than the last sync completed. Without it, writers fall into cohorts: those
// acknowledged by one sync resubmit while the next sync runs, and each sync
// covers only part of them. The wait ends as soon as as many are waiting as
// last time, and is capped at half the last sync's duration and 1 ms, so a
// lone writer never waits (one waiting, one completed last time).
func (f *flusher) gather(t *time.Timer) {
	f.mu.Lock()
	want, n := f.lastBatch, len(f.mu.waiting)
	f.mu.Unlock()
	if n == 0 || n >= want {
		return
	}
	wait := min(f.lastSync/2, time.Millisecond)
	if wait <= 0 {
		return
	}
	t.Reset(wait)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-f.wake:
		}
		f.mu.Lock()
		n = len(f.mu.waiting)
		stopping := f.mu.stopping
		f.mu.Unlock()
		if n >= want || stopping {
			return
		}
	}
}

// syncGroups takes every waiting group, syncs once, completes them all.
func (f *flusher) syncGroups() {
	f.mu.Lock()
	if len(f.mu.waiting) == 0 {
		f.mu.Unlock()
		return
	}
	// Take the waiters and their end together, so no one is acknowledged
	// by a sync that did not cover their bytes.
	f.mu.waiting, f.mu.inflight = f.mu.inflight[:0], f.mu.waiting
	end := f.mu.waitingEnd
	f.mu.syncStart = time.Now()
	f.mu.taken.Broadcast()
	f.mu.Unlock()

	t0 := time.Now()
	err := f.syncTo(end)
	f.lastSync = time.Since(t0)

	f.mu.Lock()
	f.lastBatch = len(f.mu.inflight)
	f.l.counters.syncedReqs.Add(int64(len(f.mu.inflight)))
	st := StatusOK
	if err != nil {
		st = StatusServiceNotAvailable
	}
	for _, p := range f.mu.inflight {
		p.req.complete(p.gen, st, err)
	}
	clear(f.mu.inflight)
	f.mu.inflight = f.mu.inflight[:0]
	f.mu.syncStart = time.Time{}
	f.mu.Unlock()
}

// syncAsync syncs what is written if enough is dirty, or if the interval
// fired with anything dirty.
func (f *flusher) syncAsync(timed bool) {
	end := f.l.written.Load()
	dirty := end - f.l.flushed.Load()
	if dirty <= 0 {
		return
	}
	thorough := time.Since(f.lastThorough) >= f.l.opts.FlushThoroughInterval
	if !timed && !thorough && dirty < int64(f.l.opts.FlushLeastPages)*pageSize {
		return
	}
	if thorough {
		f.lastThorough = time.Now()
	}
	f.syncTo(end)
}

// beforeSync, when set by a test, runs before every fdatasync (a slow or
// stuck disk).
var beforeSync func()

// syncTo fdatasyncs every segment between the flushed offset and end.
func (f *flusher) syncTo(end int64) error {
	if f.err != nil {
		return f.err
	}
	from := f.l.flushed.Load()
	if end <= from {
		return nil
	}
	for _, s := range f.l.Segments() {
		if s.End() <= from || s.base >= end {
			continue
		}
		if !s.Acquire() {
			continue
		}
		if beforeSync != nil {
			beforeSync()
		}
		t0 := time.Now()
		err := s.file.Sync()
		f.l.counters.syncNanos.Add(int64(time.Since(t0)))
		s.Release()
		if err != nil {
			f.err = err
			sticky := err // a copy, so err itself does not escape on the good path
			f.l.syncErr.CompareAndSwap(nil, &sticky)
			f.l.log.Error("sync failed; the log refuses appends until it is reopened", "err", err)
			return err
		}
	}
	f.l.counters.syncs.Add(1)
	f.l.flushed.Store(end)
	if f.l.opts.FlushMode == SyncFlush {
		f.l.opts.OnAdvance()
	}
	return nil
}

// expire answers FLUSH_DISK_TIMEOUT to requests whose sync has taken longer
// than SyncFlushTimeout. Their bytes stay in the log; only the promise that
// they are durable could not be kept in time.
func (f *flusher) expire() {
	limit := f.l.opts.SyncFlushTimeout
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.mu.syncStart.IsZero() && time.Since(f.mu.syncStart) > limit {
		for _, p := range f.mu.inflight {
			if p.req.complete(p.gen, StatusFlushDiskTimeout, nil) {
				f.l.counters.flushTimeouts.Add(1)
			}
		}
	}
	if len(f.mu.waiting) > 0 && time.Since(f.mu.since) > limit {
		for _, p := range f.mu.waiting {
			if p.req.complete(p.gen, StatusFlushDiskTimeout, nil) {
				f.l.counters.flushTimeouts.Add(1)
			}
		}
	}
}
