package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/gannetmq/gannet/engine/message"
)

// maxGroup caps how many requests one group commit takes, so that one group
// cannot hold the others' acknowledgements for long.
const maxGroup = 4096

// writer is the only goroutine that stores bytes into the log. It owns the
// active segment, the write position and the queue-offset table.
type writer struct {
	l    *Log
	stop chan struct{}

	seg *Segment // active segment
	pos int64    // global write position

	// queueOffsets holds the next queue offset per topic and queue id; -1
	// means not yet known (ask Options.NextQueueOffset).
	queueOffsets map[string][]int64

	batch     []*Request
	lastGroup int // requests in the previous group
	done      []pendingReq
	staged    []byte // pwrite mode: bytes of the group not yet written
	stagedAt  int64  // global offset of staged[0]

	err error // sticky: after a failed write or sync nothing more is stored
}

func newWriter(l *Log, end int64) *writer {
	segs := l.Segments()
	return &writer{
		l:            l,
		stop:         make(chan struct{}),
		seg:          segs[len(segs)-1],
		pos:          end,
		queueOffsets: make(map[string][]int64),
		batch:        make([]*Request, 0, 256),
		done:         make([]pendingReq, 0, 256),
	}
}

// run is the writer loop: take everything queued, store it as one group,
// hand it to the flusher or acknowledge it, repeat.
//
// With PinWriter it runs locked to its OS thread. Measured on 2 cores
// (BenchmarkAppendPinned against BenchmarkAppend), every wake-up of a
// locked goroutine hands the P between two threads through futexes, which
// made a single producer's async append about ten times slower; so pinning
// is an option, off by default.
func (w *writer) run() {
	if w.l.opts.PinWriter {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer close(w.l.z.stop)
	defer w.l.f.shutdown()
	for {
		select {
		case r := <-w.l.queue:
			w.batch = append(w.batch[:0], r)
		case <-w.stop:
			// Close has made sure no Submit is still sending; store what
			// is queued, then let the flusher finish.
			for {
				select {
				case r := <-w.l.queue:
					w.batch = append(w.batch[:0], r)
					w.drain()
					w.writeGroup()
					continue
				default:
				}
				return
			}
		}
		w.drain()
		w.lastGroup = len(w.batch)
		w.writeGroup()
	}
}

func (w *writer) drain() {
	if len(w.l.queue) == 0 && w.lastGroup > 1 {
		// Woken by one producer while others were seen queueing together
		// last time: let the runnable ones queue first, so one group
		// carries many requests instead of one (19-30 instead of 1.2 with
		// 64 writers). A lone producer never pays for the yield.
		runtime.Gosched()
	}
	for len(w.batch) < maxGroup {
		select {
		case r := <-w.l.queue:
			w.batch = append(w.batch, r)
		default:
			return
		}
	}
}

func (w *writer) writeGroup() {
	now := w.l.opts.NowMillis()
	w.done = w.done[:0]
	if p := w.l.syncErr.Load(); p != nil && w.err == nil {
		w.err = *p
	}
	for _, r := range w.batch {
		gen := r.gen.Load()
		if w.err != nil {
			r.complete(gen, StatusServiceNotAvailable, w.err)
			continue
		}
		if r.isRaw {
			if st, err := w.storeRaw(r); st != StatusOK {
				r.complete(gen, st, err)
				continue
			}
		} else {
			if !w.l.writable.Load() {
				r.complete(gen, StatusDiskFull, errDiskFull)
				continue
			}
			if st, err := w.storeMessages(r, now); st != StatusOK {
				r.complete(gen, st, err)
				continue
			}
		}
		w.done = append(w.done, pendingReq{r, gen})
	}
	if err := w.flushStaged(); err != nil {
		w.fail(err)
	}
	if w.err != nil {
		for _, p := range w.done {
			p.req.complete(p.gen, StatusServiceNotAvailable, w.err)
		}
		return
	}
	if len(w.done) == 0 {
		return
	}
	c := &w.l.counters
	c.groups.Add(1)
	c.requests.Add(int64(len(w.done)))
	for _, p := range w.done {
		c.messages.Add(int64(max(len(p.req.Msgs), 1)))
		c.bytes.Add(int64(p.req.Size))
	}
	w.l.written.Store(w.pos)
	w.l.z.poke(w.pos)
	if w.l.opts.FlushMode == SyncFlush {
		w.l.f.enqueue(w.done, w.pos)
		return
	}
	for _, p := range w.done {
		p.req.complete(p.gen, StatusOK, nil)
	}
	w.l.f.noteWritten(w.pos)
	w.l.opts.OnAdvance()
}

var errDiskFull = errors.New("commitlog: disk full, appends refused until space is freed")

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
		w.l.log.Error("write failed; the log refuses appends until it is reopened", "err", err)
	}
}

// storeMessages encodes r's messages contiguously at the write position.
func (w *writer) storeMessages(r *Request, now int64) (Status, error) {
	if w.pos+int64(r.size)+message.BlankMinSize > w.seg.End() {
		if st, err := w.roll(); st != StatusOK {
			return st, err
		}
	}
	stamp := message.Stamp{PhysicalOffset: w.pos, StoreTimestamp: now, StoreHost: w.l.opts.StoreHost}
	dst := w.reserve(r.size)
	r.PhysicalOffset, r.StoreTimestamp, r.Size = w.pos, now, r.size
	for i := range r.Msgs {
		m := &r.Msgs[i]
		next := w.queueOffset(m.Topic, m.QueueID)
		stamp.QueueOffset = *next
		*next++
		if i == 0 {
			r.QueueOffset = stamp.QueueOffset
		}
		n := message.Encode(dst, m, &stamp)
		dst = dst[n:]
		stamp.PhysicalOffset += int64(n)
	}
	w.pos += int64(r.size)
	r.end = w.pos
	return StatusOK, nil
}

// queueOffset returns the slot holding the next queue offset of a queue.
func (w *writer) queueOffset(topic string, qid int32) *int64 {
	qs := w.queueOffsets[topic]
	if int(qid) >= len(qs) {
		grown := make([]int64, int(qid)+1)
		copy(grown, qs)
		for i := len(qs); i < len(grown); i++ {
			grown[i] = -1
		}
		qs = grown
		w.queueOffsets[topic] = qs
	}
	if qs[qid] < 0 {
		qs[qid] = w.l.opts.NextQueueOffset(topic, qid)
	}
	return &qs[qid]
}

// reserve returns where the next n bytes at the write position go: the
// mapping itself, or the staging buffer in pwrite mode.
func (w *writer) reserve(n int) []byte {
	w.l.z.claim(w.pos + int64(n))
	if w.l.opts.WriteMode == WriteMmap {
		off := w.pos - w.seg.base
		return w.seg.data[off : off+int64(n)]
	}
	if len(w.staged) == 0 {
		w.stagedAt = w.pos
	}
	start := len(w.staged)
	if cap(w.staged)-start < n {
		grown := make([]byte, start, 2*cap(w.staged)+n)
		copy(grown, w.staged)
		w.staged = grown
	}
	w.staged = w.staged[:start+n]
	return w.staged[start:]
}

// flushStaged writes the staged bytes of the group with one pwrite.
func (w *writer) flushStaged() error {
	if len(w.staged) == 0 {
		return nil
	}
	err := w.seg.file.WriteAt(w.staged, w.stagedAt-w.seg.base)
	w.staged = w.staged[:0]
	return err
}

// roll closes the active segment with a blank record and moves to the next
// one. The next segment is made ready (and listed) first, so a full disk
// leaves the log exactly as it was; readers never look past Readable, so a
// listed segment with nothing in it yet is invisible to them.
func (w *writer) roll() (Status, error) {
	next, err := w.l.z.takeNext(w.seg.End())
	if err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return StatusDiskFull, fmt.Errorf("commitlog: no space for a new segment: %w", err)
		}
		w.fail(err)
		return StatusServiceNotAvailable, err
	}
	if rest := w.seg.End() - w.pos; rest > 0 {
		if rest < message.BlankMinSize {
			panic("BUG: segment tail shorter than a blank record")
		}
		// Only the blank header is stored: its size field covers the rest
		// of the tail, whatever bytes lie there.
		blank := w.reserve(message.BlankMinSize)
		binary.BigEndian.PutUint32(blank[message.OffTotalSize:], uint32(rest))
		binary.BigEndian.PutUint32(blank[message.OffMagic:], uint32(int64(message.MagicBlank)&0xFFFFFFFF))
		w.pos = w.seg.End()
	}
	if err := w.flushStaged(); err != nil {
		w.fail(err)
		return StatusServiceNotAvailable, err
	}
	w.seg = next
	return StatusOK, nil
}

// storeRaw copies a master's bytes at exactly the write position.
func (w *writer) storeRaw(r *Request) (Status, error) {
	if r.rawOffset != w.pos {
		if w.pos == w.seg.base && len(w.l.Segments()) == 1 && w.l.written.Load() == w.pos && r.rawOffset%w.l.opts.SegmentSize == 0 && w.seg.data[0] == 0 {
			// An empty slave follows a master whose log starts later.
			if err := w.restartAt(r.rawOffset); err != nil {
				w.fail(err)
				return StatusServiceNotAvailable, err
			}
		} else {
			return StatusOffsetMismatch, fmt.Errorf("%w: offset %d, log ends at %d", ErrOffsetGap, r.rawOffset, w.pos)
		}
	}
	r.PhysicalOffset = w.pos
	data := r.raw
	for len(data) > 0 {
		if w.pos == w.seg.End() {
			if st, err := w.roll(); st != StatusOK {
				return st, err
			}
		}
		n := int64(len(data))
		if room := w.seg.End() - w.pos; n > room {
			n = room
		}
		copy(w.reserve(int(n)), data[:n])
		w.pos += n
		data = data[n:]
		if w.pos == w.seg.End() {
			if err := w.flushStaged(); err != nil {
				w.fail(err)
				return StatusServiceNotAvailable, err
			}
		}
	}
	r.Size, r.end = len(r.raw), w.pos
	// The master assigned queue offsets; forget ours so they are read
	// again from the ConsumeQueues before this log appends on its own.
	clear(w.queueOffsets)
	return StatusOK, nil
}

// restartAt replaces the empty first segment by one at base.
func (w *writer) restartAt(base int64) error {
	w.l.segMu.Lock()
	old := w.seg
	s, err := openSegment(w.l.opts.Dir, base, w.l.opts.SegmentSize, true)
	if err == nil {
		err = s.file.Allocate()
	}
	if err != nil {
		w.l.segMu.Unlock()
		return err
	}
	list := []*Segment{s}
	w.l.segments.Store(&list)
	w.l.minOff.Store(base)
	w.l.segMu.Unlock()
	old.removed.Store(true)
	old.Release()
	w.seg, w.pos = s, base
	w.l.written.Store(base)
	w.l.flushed.Store(base)
	w.l.z.reset(base)
	return nil
}
