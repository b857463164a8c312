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
	err          error // sticky sync error; read after the goroutine ends
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

	err := f.syncTo(end)

	f.mu.Lock()
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
		err := s.file.Sync()
		s.Release()
		if err != nil {
			f.err = err
			sticky := err // a copy, so err itself does not escape on the good path
			f.l.syncErr.CompareAndSwap(nil, &sticky)
			f.l.log.Error("sync failed; the log refuses appends until it is reopened", "err", err)
			return err
		}
	}
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
			p.req.complete(p.gen, StatusFlushDiskTimeout, nil)
		}
	}
	if len(f.mu.waiting) > 0 && time.Since(f.mu.since) > limit {
		for _, p := range f.mu.waiting {
			p.req.complete(p.gen, StatusFlushDiskTimeout, nil)
		}
	}
}
