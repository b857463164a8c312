package commitlog

import (
	"sync"
	"sync/atomic"
	"time"
)

// zeroFiller keeps the next segment created and its disk space reserved,
// and writes zeros ahead of the write position. Storing into blocks that
// already hold data avoids the extent conversion a filesystem does on first
// write, which on these machines halves the rate of small synced appends.
//
// Coordination with the writer: zeros go only into [zeroed, ...), and only
// under mu; the writer claims a range by raising zeroed under mu before it
// stores there. So the filler never overwrites the writer's bytes, and the
// writer only waits on mu when it outruns the filler.
type zeroFiller struct {
	l      *Log
	zeroed atomic.Int64 // global offset below which bytes are zeroed or claimed
	wake   chan struct{}
	stop   chan struct{}

	mu struct {
		sync.Mutex
		next *Segment // created and reserved, not yet part of the log
	}
	zeros []byte
}

const zeroChunk = 1 << 20

func newZeroFiller(l *Log, end int64) *zeroFiller {
	z := &zeroFiller{l: l, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	z.zeroed.Store(end)
	return z
}

// claim is called by the writer before it stores bytes below end.
func (z *zeroFiller) claim(end int64) {
	if end <= z.zeroed.Load() {
		return
	}
	z.mu.Lock()
	if end > z.zeroed.Load() {
		z.zeroed.Store(end)
	}
	z.mu.Unlock()
}

// poke tells the filler the writer has moved to pos.
func (z *zeroFiller) poke(pos int64) {
	if z.l.opts.ZeroFillAhead <= 0 || z.zeroed.Load()-pos > z.l.opts.ZeroFillAhead/2 {
		return
	}
	select {
	case z.wake <- struct{}{}:
	default:
	}
}

// reset is used when the writer restarts the log at another base.
func (z *zeroFiller) reset(base int64) {
	z.mu.Lock()
	if z.mu.next != nil {
		z.mu.next.removed.Store(true)
		z.mu.next.Release()
		z.mu.next = nil
	}
	z.zeroed.Store(base)
	z.mu.Unlock()
}

// takeNext hands the writer the segment starting at base, prepared ahead
// if the filler got to it, created now otherwise, and adds it to the log's
// list. Both happen under mu, so the filler never sees the list without the
// segment it just gave away and prepares that base a second time.
func (z *zeroFiller) takeNext(base int64) (*Segment, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	s := z.mu.next
	if s != nil && s.base == base {
		z.mu.next = nil
	} else {
		var err error
		if s, err = z.createLocked(base); err != nil {
			return nil, err
		}
	}
	z.l.appendSegment(s)
	return s, nil
}

func (z *zeroFiller) createLocked(base int64) (*Segment, error) {
	s, err := openSegment(z.l.opts.Dir, base, z.l.opts.SegmentSize, true)
	if err != nil {
		return nil, err
	}
	if err := s.file.Allocate(); err != nil {
		s.removed.Store(true)
		s.Release()
		return nil, err
	}
	return s, nil
}

func (z *zeroFiller) run() {
	defer z.dropNext()
	if z.l.opts.ZeroFillAhead <= 0 {
		<-z.stop
		return
	}
	z.zeros = make([]byte, zeroChunk)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-z.stop:
			return
		case <-z.wake:
		case <-tick.C:
		}
		z.fill()
	}
}

// fill zeroes up to ZeroFillAhead past the write position, one chunk per
// lock hold so the writer never waits long.
func (z *zeroFiller) fill() {
	for {
		select {
		case <-z.stop:
			return
		default:
		}
		if !z.fillChunk() {
			return
		}
	}
}

func (z *zeroFiller) fillChunk() bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	start := z.zeroed.Load()
	target := z.l.written.Load() + z.l.opts.ZeroFillAhead
	if start >= target {
		return false
	}
	seg := z.segmentForLocked(start)
	if seg == nil {
		return false
	}
	n := seg.End() - start
	if n > zeroChunk {
		n = zeroChunk
	}
	if n > target-start {
		n = target - start
	}
	if err := seg.file.WriteAt(z.zeros[:n], start-seg.base); err != nil {
		z.l.log.Warn("cannot zero-fill ahead of the writer", "path", seg.Path(), "err", err)
		return false
	}
	z.zeroed.Store(start + n)
	return true
}

// segmentForLocked finds the segment holding offset among the active one
// and the prepared next one, preparing the next one if offset lies there.
func (z *zeroFiller) segmentForLocked(offset int64) *Segment {
	segs := z.l.Segments()
	if len(segs) == 0 {
		return nil
	}
	last := segs[len(segs)-1]
	if offset >= last.base && offset < last.End() {
		return last
	}
	if offset < last.End() {
		return nil // behind the active segment: nothing to do
	}
	if z.mu.next == nil {
		if offset != last.End() {
			return nil
		}
		s, err := z.createLocked(last.End())
		if err != nil {
			z.l.log.Warn("cannot prepare the next segment", "err", err)
			return nil
		}
		z.mu.next = s
	}
	if n := z.mu.next; offset >= n.base && offset < n.End() {
		return n
	}
	return nil
}

func (z *zeroFiller) dropNext() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if s := z.mu.next; s != nil {
		// An unused prepared segment would read as an empty tail segment
		// at the next start; remove it.
		s.removed.Store(true)
		s.Release()
		z.mu.next = nil
	}
}
