package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gannetmq/gannet/engine/internal/mapped"
	"github.com/gannetmq/gannet/engine/message"
)

// Errors returned by the read side and by Open.
var (
	ErrClosed       = errors.New("commitlog: closed")
	ErrOutOfRange   = errors.New("commitlog: offset outside the log")
	ErrOffsetGap    = errors.New("commitlog: raw append does not continue the log")
	ErrSegmentRaced = errors.New("commitlog: segment removed while being read")
)

// Log is the CommitLog: an append-only byte stream in fixed-size mapped
// segments. One writer goroutine owns the active segment and the write
// position; everyone else submits Requests.
type Log struct {
	opts Options
	log  *slog.Logger

	// segments is the current list, replaced whole (copy on write) under
	// segMu so readers load it without a lock.
	segMu    sync.Mutex
	segments atomic.Pointer[[]*Segment]

	written atomic.Int64 // end of the bytes stored (not necessarily durable)
	flushed atomic.Int64 // end of the bytes known durable
	minOff  atomic.Int64 // start of the first segment

	writable atomic.Bool // false while the disk is past its hard limit

	// submitMu orders Submit against Close: Submit enqueues under the read
	// lock, Close sets closed under the write lock, so nothing is enqueued
	// after the writer's final drain.
	submitMu sync.RWMutex
	closed   bool // guarded by submitMu

	syncErr atomic.Pointer[error] // first failed sync, sticky

	counters counters

	queue chan *Request
	w     *writer
	f     *flusher
	z     *zeroFiller
	wg    sync.WaitGroup
}

// RecoveryHint tells Open what the engine knows from its checkpoint.
type RecoveryHint struct {
	Clean   bool  // the previous run shut down cleanly
	Flushed int64 // offset known durable at the last checkpoint (-1 unknown)
}

// Open opens (creating if needed) the log in opts.Dir, recovers its tail and
// starts the writer, flusher and zero-filler goroutines.
func Open(opts Options, hint RecoveryHint) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, log: opts.Logger.With("component", "commitlog")}
	l.writable.Store(true)
	end, err := l.recover(hint)
	if err != nil {
		l.closeSegments()
		return nil, err
	}
	l.written.Store(end)
	l.flushed.Store(end)
	l.queue = make(chan *Request, opts.QueueCapacity)
	l.z = newZeroFiller(l, end)
	l.f = newFlusher(l)
	l.w = newWriter(l, end)
	l.wg.Add(3)
	go func() { defer l.wg.Done(); l.w.run() }()
	go func() { defer l.wg.Done(); l.f.run() }()
	go func() { defer l.wg.Done(); l.z.run() }()
	return l, nil
}

// Options returns the effective options.
func (l *Log) Options() Options { return l.opts }

// Written is the end of the stored bytes.
func (l *Log) Written() int64 { return l.written.Load() }

// Flushed is the end of the bytes known to be on disk.
func (l *Log) Flushed() int64 { return l.flushed.Load() }

// Readable is how far readers (the dispatcher) may go: under SYNC_FLUSH only
// what is durable, so no consumer sees a message that a crash could take
// back; under ASYNC_FLUSH what is written.
func (l *Log) Readable() int64 {
	if l.opts.FlushMode == SyncFlush {
		return l.flushed.Load()
	}
	return l.written.Load()
}

// MinOffset is the first offset still on disk.
func (l *Log) MinOffset() int64 { return l.minOff.Load() }

// SetWritable turns appends off (disk full) or back on.
func (l *Log) SetWritable(ok bool) { l.writable.Store(ok) }

// Writable reports whether appends are accepted.
func (l *Log) Writable() bool { return l.writable.Load() }

// Submit queues r without waiting for it to complete; r.Done (or a later
// Wait) observes the result. It waits at most EnqueueTimeout for room in the
// queue and completes r with StatusSystemBusy after that.
func (l *Log) Submit(r *Request) {
	gen := r.begin()
	if st, err := l.prepare(r); st != StatusOK {
		r.complete(gen, st, err)
		return
	}
	l.submitMu.RLock()
	defer l.submitMu.RUnlock()
	if l.closed {
		r.complete(gen, StatusServiceNotAvailable, ErrClosed)
		return
	}
	select {
	case l.queue <- r:
		return
	default:
	}
	t := time.NewTimer(l.opts.EnqueueTimeout)
	defer t.Stop()
	select {
	case l.queue <- r:
	case <-t.C:
		l.counters.busy.Add(1)
		r.complete(gen, StatusSystemBusy, errBusy)
	}
}

var errBusy = errors.New("commitlog: append queue full")

// Append submits r and waits for its completion. r.Done must be nil.
func (l *Log) Append(r *Request) Status {
	if r.Done != nil {
		panic("BUG: Log.Append with a Done callback; use Submit")
	}
	l.Submit(r)
	<-r.done
	return r.Status
}

// AppendRaw stores data, already in the stored layout, at offset, which must
// be the current end of the log. Used by slaves.
func (l *Log) AppendRaw(offset int64, data []byte) error {
	r := &Request{}
	r.SetRaw(offset, data)
	if st := l.Append(r); st != StatusOK {
		if r.Err != nil {
			return r.Err
		}
		return fmt.Errorf("commitlog: raw append: %s", st)
	}
	return nil
}

// prepare validates r and computes its size on the caller's goroutine, so
// the writer does only the encoding.
func (l *Log) prepare(r *Request) (Status, error) {
	if r.isRaw {
		if len(r.raw) == 0 {
			return StatusMessageIllegal, errors.New("commitlog: empty raw append")
		}
		r.size = len(r.raw)
		return StatusOK, nil
	}
	if len(r.Msgs) == 0 {
		return StatusMessageIllegal, errors.New("commitlog: append without messages")
	}
	r.sizes = r.sizes[:0]
	total := 0
	v6 := l.opts.StoreHost.IPv6
	for i := range r.Msgs {
		m := &r.Msgs[i]
		if err := ValidateTopic(m.Topic); err != nil {
			return StatusMessageIllegal, err
		}
		if m.QueueID < 0 || m.QueueID > MaxQueueID {
			return StatusMessageIllegal, fmt.Errorf("commitlog: queue id %d outside 0..%d", m.QueueID, MaxQueueID)
		}
		if len(m.Properties) > message.MaxPropertiesLen {
			return StatusMessageIllegal, errors.New("commitlog: properties longer than 32767 bytes")
		}
		if len(m.Body) > l.opts.MaxMessageSize {
			return StatusMessageIllegal, fmt.Errorf("commitlog: body of %d bytes exceeds maxMessageSize %d", len(m.Body), l.opts.MaxMessageSize)
		}
		n := message.EncodedSize(m, v6)
		r.sizes = append(r.sizes, int32(n))
		total += n
	}
	if total > l.opts.MaxMessageSize+requestOverhead {
		return StatusMessageIllegal, fmt.Errorf("commitlog: request of %d bytes exceeds maxMessageSize %d plus %d bytes of headers", total, l.opts.MaxMessageSize, requestOverhead)
	}
	if int64(total)+message.BlankMinSize > l.opts.SegmentSize {
		return StatusMessageIllegal, fmt.Errorf("commitlog: request of %d bytes does not fit a segment", total)
	}
	r.size = total
	return StatusOK, nil
}

// MaxQueueID bounds queue ids (the writer keeps a slot per queue id).
const MaxQueueID = 65535

// ValidateTopic applies RocketMQ's topic rules (TopicValidator): 1 to 127
// characters of [%|a-zA-Z0-9_-]. Topic names become directory names.
func ValidateTopic(t string) error {
	if len(t) == 0 || len(t) > message.MaxTopicLenV1 {
		return fmt.Errorf("commitlog: topic length %d outside 1..127", len(t))
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("commitlog: topic %q has a character outside [%%|a-zA-Z0-9_-]", t)
		}
	}
	return nil
}

// Segments returns the current segment list; do not modify it.
func (l *Log) Segments() []*Segment {
	p := l.segments.Load()
	if p == nil {
		return nil
	}
	return *p
}

// Pin returns the segment holding offset with a reference taken; the
// caller must Release it.
func (l *Log) Pin(offset int64) (*Segment, error) {
	for try := 0; try < 3; try++ {
		segs := l.Segments()
		if len(segs) == 0 || offset < segs[0].base || offset >= segs[len(segs)-1].End() {
			return nil, ErrOutOfRange
		}
		i := int((offset - segs[0].base) / l.opts.SegmentSize)
		if i >= len(segs) {
			i = len(segs) - 1
		}
		s := segs[i]
		if offset < s.base || offset >= s.End() {
			return nil, ErrOutOfRange
		}
		if s.Acquire() {
			return s, nil
		}
	}
	return nil, ErrSegmentRaced
}

// Read returns a view of the record at offset, with its segment pinned; the
// caller releases the segment when done with the view. The record must lie
// below Readable.
func (l *Log) Read(offset int64) (message.Record, *Segment, error) {
	if offset >= l.Readable() {
		return message.Record{}, nil, ErrOutOfRange
	}
	s, err := l.Pin(offset)
	if err != nil {
		return message.Record{}, nil, err
	}
	rec, err := message.Parse(s.data[offset-s.base:], false)
	if err != nil || rec.IsBlank() {
		s.Release()
		if err == nil {
			err = ErrOutOfRange
		}
		return message.Record{}, nil, err
	}
	return rec, s, nil
}

// DeleteSegments removes segments from the head of the log while keep
// returns false for them, never the segment holding limit or later ones
// (the active segment, and what the dispatcher and flusher still need).
// Returns how many were removed.
func (l *Log) DeleteSegments(limit int64, max int, keep func(s *Segment) bool) (int, error) {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	segs := l.Segments()
	n := 0
	for n < len(segs)-1 && n < max && segs[n].End() <= limit && !keep(segs[n]) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	rest := append([]*Segment(nil), segs[n:]...)
	l.segments.Store(&rest)
	l.minOff.Store(rest[0].base)
	for _, s := range segs[:n] {
		s.removed.Store(true)
		if err := os.Remove(s.Path()); err != nil && !os.IsNotExist(err) {
			l.log.Warn("cannot delete segment", "path", s.Path(), "err", err)
		}
		l.log.Info("deleted segment", "path", s.Path())
		s.Release()
	}
	return n, mapped.SyncDir(l.opts.Dir)
}

// Stop stops accepting appends, stores what is queued and makes everything
// durable. The segments stay mapped for readers until Close.
func (l *Log) Stop() error {
	l.submitMu.Lock()
	was := l.closed
	l.closed = true
	l.submitMu.Unlock()
	if !was {
		close(l.w.stop)
	}
	l.wg.Wait()
	err := l.w.err
	if p := l.syncErr.Load(); err == nil && p != nil {
		err = *p
	}
	return err
}

// Close stops the log (see Stop) and unmaps the segments. Readers must have
// released their pins.
func (l *Log) Close() error {
	err := l.Stop()
	l.closeSegments()
	return err
}

func (l *Log) closeSegments() {
	for _, s := range l.Segments() {
		s.Release()
	}
	l.segments.Store(nil)
}

// setSegments installs a new list (under segMu).
func (l *Log) appendSegment(s *Segment) {
	l.segMu.Lock()
	old := l.Segments()
	next := make([]*Segment, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	l.segments.Store(&next)
	if len(next) == 1 {
		l.minOff.Store(s.base)
	}
	l.segMu.Unlock()
}
