package commitlog

import (
	"bytes"
	"fmt"

	"github.com/gannetmq/gannet/engine/internal/mapped"
	"github.com/gannetmq/gannet/engine/message"
)

// recover opens the segments on disk and finds the end of the valid log.
//
// After a clean stop the checkpoint's flushed offset is the end, checked by
// a look at the bytes there. After a crash every record from the start of
// the segment holding the checkpoint on is checked (size, magic code, body
// CRC, its own physical offset); the first one that fails ends the log, and
// everything after it is zeroed or removed, so a half-written message is
// never seen and never resurrected by a later scan.
func (l *Log) recover(hint RecoveryHint) (int64, error) {
	size := l.opts.SegmentSize
	bases, err := listSegments(l.opts.Dir)
	if err != nil {
		return 0, err
	}
	if len(bases) == 0 {
		s, err := openSegment(l.opts.Dir, 0, size, true)
		if err != nil {
			return 0, err
		}
		if err := s.file.Allocate(); err != nil {
			s.removed.Store(true)
			s.Release()
			return 0, err
		}
		l.appendSegment(s)
		return 0, nil
	}
	for i, b := range bases {
		if b%size != 0 {
			return 0, fmt.Errorf("commitlog: segment %s is not aligned to the segment size %d", SegmentName(b), size)
		}
		if i > 0 && b != bases[i-1]+size {
			return 0, fmt.Errorf("commitlog: segments missing between %s and %s", SegmentName(bases[i-1]), SegmentName(b))
		}
	}
	for _, b := range bases {
		s, err := openSegment(l.opts.Dir, b, size, false)
		if err != nil {
			return 0, err
		}
		l.appendSegment(s)
	}
	segs := l.Segments()
	first, last := segs[0].base, segs[len(segs)-1].End()

	if hint.Clean && hint.Flushed >= first && hint.Flushed <= last && l.looksLikeEnd(hint.Flushed) {
		// A clean stop wrote nothing past the checkpoint: only drop a
		// prepared segment that was never used.
		return hint.Flushed, l.dropSegmentsAfter(hint.Flushed)
	}
	from := first
	if hint.Flushed >= first && hint.Flushed <= last {
		from = hint.Flushed - (hint.Flushed-first)%size
		if from == last { // checkpoint at the very end of the last segment
			from -= size
		}
	}
	end := l.scan(from)
	if hint.Clean {
		l.log.Warn("checkpoint did not match the log; scanned the tail", "checkpoint", hint.Flushed, "end", end)
	}
	return end, l.truncate(end)
}

// looksLikeEnd reports whether nothing was stored at or after offset in its
// segment (the next 8 bytes are zero, or offset is a segment end).
func (l *Log) looksLikeEnd(offset int64) bool {
	for _, s := range l.Segments() {
		if offset >= s.base && offset < s.End() {
			rest := s.data[offset-s.base:]
			if len(rest) > message.BlankMinSize {
				rest = rest[:message.BlankMinSize]
			}
			return isZero(rest)
		}
	}
	return offset == l.Segments()[len(l.Segments())-1].End()
}

// scan walks records from from (a segment start) and returns the end of
// the last valid one.
func (l *Log) scan(from int64) int64 {
	pos := from
	for _, s := range l.Segments() {
		if s.End() <= pos {
			continue
		}
		for pos < s.End() {
			buf := s.data[pos-s.base:]
			if size, magic, ok := message.PeekHeader(buf); ok && size == 0 && magic == 0 {
				return pos
			}
			rec, err := message.Parse(buf, true)
			if err != nil {
				l.log.Warn("truncating the log at a record that does not check", "offset", pos, "err", err)
				return pos
			}
			if rec.IsBlank() {
				if pos+int64(rec.TotalSize()) != s.End() {
					l.log.Warn("truncating the log at a blank record that does not end its segment", "offset", pos)
					return pos
				}
				pos = s.End()
				break
			}
			if rec.PhysicalOffset() != pos {
				l.log.Warn("truncating the log at a record stored for another offset", "offset", pos, "recorded", rec.PhysicalOffset())
				return pos
			}
			if why := checkShape(&rec); why != "" {
				l.log.Warn("truncating the log at a torn record", "offset", pos, "why", why)
				return pos
			}
			pos += int64(rec.TotalSize())
		}
	}
	return pos
}

// truncate makes end the end of the log: bytes after it in its segment are
// zeroed (only the pages holding something), later segments removed.
func (l *Log) truncate(end int64) error {
	for i, s := range l.Segments() {
		if end < s.End() || (end == s.End() && i == len(l.Segments())-1) {
			if err := zeroTail(s, end); err != nil {
				return err
			}
			break
		}
	}
	return l.dropSegmentsAfter(end)
}

// dropSegmentsAfter removes the segments that begin after end.
func (l *Log) dropSegmentsAfter(end int64) error {
	segs := l.Segments()
	keep := len(segs)
	for i, s := range segs {
		if end < s.End() || (end == s.End() && i == len(segs)-1) {
			keep = i + 1
			break
		}
	}
	if keep == len(segs) {
		return nil
	}
	for _, s := range segs[keep:] {
		l.log.Warn("removing a segment past the end of the recovered log", "path", s.Path())
		s.removed.Store(true)
		s.Release()
	}
	rest := append([]*Segment(nil), segs[:keep]...)
	l.segments.Store(&rest)
	return mapped.SyncDir(l.opts.Dir)
}

func zeroTail(s *Segment, end int64) error {
	if end >= s.End() {
		return nil
	}
	// Read with pread and skip holes: faulting a mostly unwritten 1 GiB
	// segment in through the mapping costs seconds of page faults.
	buf := make([]byte, 1<<20)
	off := end - s.base
	size := int64(len(s.data))
	dirty := false
	for off < size {
		if next := s.file.NextData(off); next > off {
			off = next - next%pageSize
			if off < end-s.base {
				off = end - s.base
			}
			continue
		}
		n := min(int64(len(buf)), size-off)
		if rem := off % pageSize; rem != 0 {
			n = min(n, pageSize-rem) // realign to pages after a mid-page end
		}
		got, err := s.file.ReadAt(buf[:n], off)
		if err != nil && int64(got) < n {
			return err
		}
		for p := int64(0); p < n; {
			q := min(p+pageSize, n)
			if !isZero(buf[p:q]) {
				if err := s.file.WriteAt(zeroPage[:q-p], off+p); err != nil {
					return err
				}
				dirty = true
			}
			p = q
		}
		off += n
	}
	if dirty {
		return s.file.Sync()
	}
	return nil
}

var zeroPage = make([]byte, pageSize)

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := len(b)
		if n > pageSize {
			n = pageSize
		}
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// checkShape catches a torn record whose body CRC still matches: a write
// cut short leaves zeros, and every record ends with a property separator
// (when it has properties) and has a topic of printable characters. The
// body CRC is the only checksum of RocketMQ's layout; other header bytes
// are not covered by one.
func checkShape(rec *message.Record) string {
	if err := ValidateTopic(string(rec.Topic())); err != nil {
		return "topic"
	}
	if p := rec.Properties(); len(p) > 0 && p[len(p)-1] != message.PropertySeparator {
		return "properties do not end with a separator"
	}
	if q := rec.QueueID(); q < 0 || q > MaxQueueID {
		return "queue id"
	}
	return ""
}
