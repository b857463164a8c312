package consumequeue

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// fileNameLen is the width of a file name: the byte offset of the file's
// first unit, zero-padded (UtilAll.offset2FileName).
const fileNameLen = 20

// Queue is the ConsumeQueue of one (topic, queueId). See the package doc for
// who may call what.
type Queue struct {
	dir          string
	unitsPerFile int64
	fileSize     int64 // unitsPerFile * UnitSize
	// maxPut is the largest queue offset Put accepts, so that byte offsets
	// and file names never overflow.
	maxPut int64

	// maxOffset is the queue offset of the next unit to be written. Put
	// stores it after the unit's bytes, without mu when no file changes;
	// TruncatePhysical stores it with mu held for writing.
	maxOffset atomic.Int64
	// minOffset is the first queue offset readers may ask for. Stored only
	// with mu held for writing, so it agrees with mu.files under mu.
	minOffset atomic.Int64
	// dirDirty: a file was created or removed since the last Flush, so the
	// directory needs a sync too.
	dirDirty atomic.Bool

	// flushMu keeps files mapped while Flush syncs them without mu (holding
	// mu's read side across an fdatasync would stall Put behind a waiting
	// DeleteFilesBefore). Every path that unmaps a file takes it first.
	flushMu struct {
		sync.Mutex
		scratch []*segment // files to sync, reused
		err     error      // first sync failure; sticky, see Flush
	}

	// mu guards the file list. Readers copy units out under the read side;
	// files are created, unmapped or zeroed under the write side.
	mu struct {
		sync.RWMutex
		files  []*segment // contiguous and ascending: files[i].start == files[0].start + i*unitsPerFile
		closed bool
	}
}

// segment is one mapped file of a queue.
type segment struct {
	start int64 // queue offset of the file's first unit
	m     *mapped.File
	data  []byte // m.Bytes(), exactly fileSize bytes
	// dirty: written since the last Flush. Set after the bytes are stored,
	// swapped to false before the sync, so no write is missed.
	dirty atomic.Bool
}

// OpenQueue opens the queue stored in dir, creating dir if it is missing.
// unitsPerFile <= 0 means DefaultUnitsPerFile. Names that are not 20 digits
// are ignored; a queue file of the wrong size, at an offset that is not a
// multiple of the file size, or after a missing file is an error naming it.
//
// MaxOffset follows the last non-empty unit of the last file; MinOffset is
// the first non-empty unit. Retention's MinOffset is not stored: the engine
// calls DeleteFilesBefore with the CommitLog's first offset after opening.
func OpenQueue(dir string, unitsPerFile int) (*Queue, error) {
	if unitsPerFile <= 0 {
		unitsPerFile = DefaultUnitsPerFile
	}
	if unitsPerFile > maxUnitsPerFile {
		return nil, fmt.Errorf("cannot open consume queue %q: %d units per file is more than %d", dir, unitsPerFile, maxUnitsPerFile)
	}
	q := &Queue{
		dir:          dir,
		unitsPerFile: int64(unitsPerFile),
		fileSize:     int64(unitsPerFile) * UnitSize,
	}
	q.maxPut = math.MaxInt64/UnitSize - 2*q.unitsPerFile
	if err := mkdirAllSynced(dir); err != nil {
		return nil, err
	}
	if err := q.load(); err != nil {
		for _, s := range q.mu.files {
			s.m.Close()
		}
		return nil, err
	}
	return q, nil
}

// load maps the files in q.dir and finds the offsets.
func (q *Queue) load() error {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("cannot read consume queue directory %q: %w", q.dir, err)
	}
	// ReadDir sorts by name, and equal-width decimal names sort by value.
	var names []string
	for _, e := range entries {
		if isFileName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	for i, name := range names {
		path := filepath.Join(q.dir, name)
		byteOff, err := strconv.ParseInt(name, 10, 64)
		if err != nil || byteOff%q.fileSize != 0 || byteOff > math.MaxInt64/2 {
			return fmt.Errorf("consume queue file %q: name is not a multiple of the file size %d in range", path, q.fileSize)
		}
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("cannot stat consume queue file %q: %w", path, err)
		}
		// A crash between creating the newest file and sizing it leaves it
		// short; mapping it at full size completes the creation (the
		// missing part reads as empty units).
		short := i == len(names)-1 && st.Size() < q.fileSize
		if !st.Mode().IsRegular() || (st.Size() != q.fileSize && !short) {
			return fmt.Errorf("consume queue file %q: size %d, want %d", path, st.Size(), q.fileSize)
		}
		start := byteOff / UnitSize
		if n := len(q.mu.files); n > 0 && q.mu.files[n-1].start+q.unitsPerFile != start {
			return fmt.Errorf("consume queue file %q: the file before it is missing", path)
		}
		m, err := mapped.Open(path, q.fileSize, false)
		if err != nil {
			return fmt.Errorf("cannot open consume queue file %q: %w", path, err)
		}
		q.mu.files = append(q.mu.files, &segment{start: start, m: m, data: m.Bytes()})
	}
	files := q.mu.files
	if len(files) == 0 {
		return nil
	}
	// The last file holds the end. Scanning it backward for the last
	// non-empty unit finds the end even if a crash lost a unit before it;
	// the dispatcher fills such holes when it replays the CommitLog.
	last := files[len(files)-1]
	maxOff := last.start
	for i := q.unitsPerFile - 1; i >= 0; i-- {
		if !last.unit(i).Empty() {
			maxOff = last.start + i + 1
			break
		}
	}
	// Leading empty units are what Put leaves before the first unit of a
	// queue that starts at a high offset.
	minOff := files[0].start
	for minOff < maxOff {
		s := q.segmentLocked(minOff)
		if !s.unit(minOff - s.start).Empty() {
			break
		}
		minOff++
	}
	q.minOffset.Store(minOff)
	q.maxOffset.Store(maxOff)
	return nil
}

// isFileName reports whether name has the form of a queue file name.
func isFileName(name string) bool {
	if len(name) != fileNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// fileName is the name of the file whose first byte is at byteOff.
func fileName(byteOff int64) string {
	return fmt.Sprintf("%020d", byteOff)
}

// mkdirAllSynced creates dir and its missing parents, syncing the parent of
// each directory it creates so that the new entries survive a crash.
func mkdirAllSynced(dir string) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("cannot use %q as a consume queue directory: not a directory", dir)
		}
		return nil
	}
	if !os.IsNotExist(err) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("cannot create consume queue directory %q: %w", dir, err)
	}
	return mapped.SyncDir(parent)
}

// unit decodes the i-th unit of the file.
func (s *segment) unit(i int64) Unit {
	return decodeUnit(s.data[i*UnitSize:])
}

// Dir is the queue's directory.
func (q *Queue) Dir() string { return q.dir }

// MaxOffset is the queue offset of the next unit to be written: every unit
// below it has its bytes in place.
func (q *Queue) MaxOffset() int64 { return q.maxOffset.Load() }

// MinOffset is the first queue offset a reader may ask for.
func (q *Queue) MinOffset() int64 { return q.minOffset.Load() }

// segmentLocked returns the file holding queue offset off, or nil when no
// file does. Needs mu held (either side).
func (q *Queue) segmentLocked(off int64) *segment {
	files := q.mu.files
	if len(files) == 0 || off < files[0].start {
		return nil
	}
	i := (off - files[0].start) / q.unitsPerFile
	if i >= int64(len(files)) {
		return nil
	}
	return files[i]
}

// Put stores u at queueOffset. Only the writer calls it. queueOffset equal
// to MaxOffset appends; below it overwrites in place (the dispatcher replays
// the CommitLog after a crash and writes the same units again, filling any
// hole; a unit repaired below MinOffset shows from the next open on); above
// it is an error wrapping ErrGap, except in a queue without files, which
// starts at queueOffset. An offset whose file retention removed is an error
// wrapping ErrBelowMin. Put does not allocate unless it creates a file.
func (q *Queue) Put(queueOffset int64, u Unit) error {
	if u.Size <= 0 {
		// A unit of size 0 would read back as a hole.
		return fmt.Errorf("cannot put unit of size %d at queue offset %d in %q", u.Size, queueOffset, q.dir)
	}
	q.mu.RLock()
	if s := q.segmentLocked(queueOffset); s != nil {
		maxOff := q.maxOffset.Load()
		if queueOffset <= maxOff {
			EncodeUnit(s.data[(queueOffset-s.start)*UnitSize:], u)
			if !s.dirty.Load() {
				s.dirty.Store(true)
			}
			q.mu.RUnlock()
			if queueOffset == maxOff {
				q.maxOffset.Store(queueOffset + 1) // publish after the bytes
			}
			return nil
		}
	}
	q.mu.RUnlock()
	return q.putSlow(queueOffset, u)
}

// putSlow is Put when the offset needs a new file, or is wrong.
func (q *Queue) putSlow(off int64, u Unit) error {
	if off < 0 || off > q.maxPut {
		return fmt.Errorf("cannot put unit at queue offset %d in %q: out of range", off, q.dir)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed {
		return fmt.Errorf("cannot put unit at queue offset %d in %q: %w", off, q.dir, ErrClosed)
	}
	files := q.mu.files
	if len(files) == 0 {
		// Every older file was deleted, or a slave starts mid-stream: the
		// queue begins here, and the units before off in the file stay
		// empty.
		s, err := q.createLocked(off - off%q.unitsPerFile)
		if err != nil {
			return err
		}
		EncodeUnit(s.data[(off-s.start)*UnitSize:], u)
		s.dirty.Store(true)
		q.mu.files = append(q.mu.files, s)
		q.minOffset.Store(off)
		q.maxOffset.Store(off + 1)
		return nil
	}
	maxOff := q.maxOffset.Load()
	switch {
	case off > maxOff:
		return fmt.Errorf("cannot put unit at queue offset %d in %q: max offset is %d: %w", off, q.dir, maxOff, ErrGap)
	case off < maxOff:
		// The fast path found no file: the offset's file was deleted.
		return fmt.Errorf("cannot put unit at queue offset %d in %q: first file starts at %d: %w", off, q.dir, files[0].start, ErrBelowMin)
	}
	last := files[len(files)-1]
	if off != last.start+q.unitsPerFile {
		panic(fmt.Sprintf("BUG: consume queue %q: max offset %d is not the end of the last file at %d", q.dir, off, last.start))
	}
	s, err := q.createLocked(off)
	if err != nil {
		return err
	}
	EncodeUnit(s.data, u)
	s.dirty.Store(true)
	q.mu.files = append(q.mu.files, s)
	q.maxOffset.Store(off + 1)
	return nil
}

// createLocked creates and maps the file whose first unit is start. Needs mu
// held for writing.
func (q *Queue) createLocked(start int64) (*segment, error) {
	path := filepath.Join(q.dir, fileName(start*UnitSize))
	// A leftover of a failed removal must not lend its units to the new
	// file: mapped.Open keeps the content of an existing file.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("cannot replace consume queue file %q: %w", path, err)
	}
	m, err := mapped.Open(path, q.fileSize, true)
	if err != nil {
		return nil, fmt.Errorf("cannot create consume queue file %q: %w", path, err)
	}
	// Reserve the blocks now: a store into a sparse mapping on a full disk
	// raises SIGBUS instead of returning an error.
	if err := m.Allocate(); err != nil {
		m.Remove()
		return nil, err
	}
	q.dirDirty.Store(true)
	return &segment{start: start, m: m, data: m.Bytes()}, nil
}

// Get appends to dst the units from queueOffset on, until dst reaches its
// capacity or the units reach MaxOffset; the capacity is the batch size, so
// pass buf[:0]. Units are copied out, so they stay valid whatever happens to
// the files later. An empty unit (Size 0) is a hole a crash left that the
// dispatcher has not refilled yet. queueOffset below MinOffset is an error
// wrapping ErrBelowMin; at or past MaxOffset, Get returns dst unchanged. Get
// does not allocate when dst has the capacity.
func (q *Queue) Get(queueOffset int64, dst []Unit) ([]Unit, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.mu.closed {
		return dst, fmt.Errorf("cannot read queue offset %d of %q: %w", queueOffset, q.dir, ErrClosed)
	}
	if minOff := q.minOffset.Load(); queueOffset < minOff {
		return dst, fmt.Errorf("cannot read queue offset %d of %q: min offset is %d: %w", queueOffset, q.dir, minOff, ErrBelowMin)
	}
	n := q.maxOffset.Load() - queueOffset
	if room := int64(cap(dst) - len(dst)); room < n {
		n = room
	}
	for n > 0 {
		s := q.segmentLocked(queueOffset)
		if s == nil {
			panic(fmt.Sprintf("BUG: consume queue %q: no file holds queue offset %d below max offset %d", q.dir, queueOffset, q.maxOffset.Load()))
		}
		i := queueOffset - s.start
		k := min(n, q.unitsPerFile-i)
		b := s.data[i*UnitSize : (i+k)*UnitSize]
		for ; len(b) >= UnitSize; b = b[UnitSize:] {
			dst = append(dst, decodeUnit(b))
		}
		queueOffset += k
		n -= k
	}
	return dst, nil
}

// Unit returns the unit at queueOffset, false outside [MinOffset, MaxOffset)
// or once the queue is closed. The unit is empty if a crash left a hole there.
func (q *Queue) Unit(queueOffset int64) (Unit, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if queueOffset < q.minOffset.Load() || queueOffset >= q.maxOffset.Load() {
		return Unit{}, false
	}
	s := q.segmentLocked(queueOffset)
	if s == nil {
		return Unit{}, false // closed
	}
	return s.unit(queueOffset - s.start), true
}

// LastUnit returns the unit at MaxOffset-1, false if the queue has none.
// Recovery uses it to learn how far the queue reaches into the CommitLog,
// so it answers even when retention has moved MinOffset past that unit.
func (q *Queue) LastUnit() (Unit, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	off := q.maxOffset.Load() - 1
	s := q.segmentLocked(off)
	if s == nil {
		return Unit{}, false
	}
	return s.unit(off - s.start), true
}

// SearchOffset returns the smallest queue offset in [lo, hi) whose unit
// satisfies pred, or hi if none does; pred must be false then true along the
// queue. Offsets below MinOffset (retention may move it during the search)
// count as false, offsets at or past MaxOffset as true. pred runs without a
// lock held, so it may read the CommitLog or this queue; it may see an empty
// unit (a hole left by a crash).
func (q *Queue) SearchOffset(lo, hi int64, pred func(Unit) bool) int64 {
	for lo < hi {
		mid := lo + (hi-lo)/2
		u, ok := q.Unit(mid)
		var yes bool
		if ok {
			yes = pred(u)
		} else {
			yes = mid >= q.MaxOffset()
		}
		if yes {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// TruncatePhysical drops what recovery cut off the CommitLog: every unit
// whose message ends past end is zeroed, from the first such unit to the end
// of the queue, files wholly past the new end are removed (the first file
// always stays) and MaxOffset moves back. Only the writer calls it. Units are
// monotonic in PhysicalOffset, so the scan runs backward from the end and
// stops at the first unit that survives.
func (q *Queue) TruncatePhysical(end int64) error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed {
		return fmt.Errorf("cannot truncate %q: %w", q.dir, ErrClosed)
	}
	files := q.mu.files
	if len(files) == 0 {
		return nil
	}
	oldMax := q.maxOffset.Load()
	cut := q.truncationPointLocked(end, oldMax) // the first unit to zero
	if cut >= oldMax {
		return nil
	}
	// Units below MinOffset are gone for readers already: the queue ends
	// up empty at MinOffset rather than ending below it, and the file
	// holding MinOffset-1 stays so that MaxOffset is inside the files.
	newMax := max(cut, q.minOffset.Load())

	var err error
	keep := len(files)
	for keep > 1 && files[keep-1].start >= newMax {
		keep--
	}
	for _, s := range files[keep:] {
		err = errors.Join(err, s.m.Remove())
	}
	if keep < len(files) {
		clear(files[keep:])
		q.mu.files = files[:keep]
		// Like the zeroed units, the removals become durable at the next
		// Flush; recovery after a crash truncates again.
		q.dirDirty.Store(true)
	}
	last := q.mu.files[keep-1]
	zeroTo := min(oldMax, last.start+q.unitsPerFile)
	for off := cut; off < zeroTo; {
		s := q.segmentLocked(off)
		i := off - s.start
		k := min(zeroTo-off, q.unitsPerFile-i)
		clear(s.data[i*UnitSize : (i+k)*UnitSize])
		s.dirty.Store(true)
		off += k
	}
	q.maxOffset.Store(newMax)
	return err
}

// truncationPointLocked returns the first queue offset below maxOff whose
// unit ends past end, scanning from the back. Needs mu held.
func (q *Queue) truncationPointLocked(end, maxOff int64) int64 {
	files := q.mu.files
	for k := len(files) - 1; k >= 0; k-- {
		s := files[k]
		hi := min(maxOff, s.start+q.unitsPerFile)
		if hi <= s.start {
			continue
		}
		// A whole file past end is skipped without reading each unit.
		if first := s.unit(0); !first.Empty() && first.End() > end {
			continue
		}
		for off := hi - 1; off >= s.start; off-- {
			if u := s.unit(off - s.start); !u.Empty() && u.End() <= end {
				return off + 1
			}
		}
	}
	return files[0].start
}

// DeleteFilesBefore removes, from the front, the files that only point into
// CommitLog bytes below minPhysical (their last non-empty unit ends at or
// before it), never the last file, then moves MinOffset to the first unit of
// the first remaining file at or past minPhysical. It returns how many files
// it removed. Readers are safe: they copy units out under the read lock, and
// this runs under the write lock.
func (q *Queue) DeleteFilesBefore(minPhysical int64) (int, error) {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed {
		return 0, fmt.Errorf("cannot delete files of %q: %w", q.dir, ErrClosed)
	}
	files := q.mu.files
	if len(files) == 0 {
		return 0, nil
	}
	maxOff := q.maxOffset.Load()
	n := 0
	for n < len(files)-1 {
		if u, ok := q.lastNonEmptyLocked(files[n], maxOff); ok && u.End() > minPhysical {
			break
		}
		n++
	}
	var err error
	for _, s := range files[:n] {
		err = errors.Join(err, s.m.Remove())
	}
	if n > 0 {
		rest := copy(files, files[n:])
		clear(files[rest:])
		q.mu.files = files[:rest]
		// Flush syncs the directory, not this, which holds the write
		// lock. A removal lost in a crash only brings back a file that
		// the next retention pass removes again.
		q.dirDirty.Store(true)
	}

	first := q.mu.files[0]
	newMin := max(q.minOffset.Load(), first.start)
	hi := min(maxOff, first.start+q.unitsPerFile)
	for ; newMin < hi; newMin++ {
		if u := first.unit(newMin - first.start); !u.Empty() && u.PhysicalOffset >= minPhysical {
			break
		}
	}
	if newMin > q.minOffset.Load() {
		q.minOffset.Store(newMin)
	}
	return n, err
}

// lastNonEmptyLocked returns the last non-empty unit of s below maxOff.
func (q *Queue) lastNonEmptyLocked(s *segment, maxOff int64) (Unit, bool) {
	for off := min(maxOff, s.start+q.unitsPerFile) - 1; off >= s.start; off-- {
		if u := s.unit(off - s.start); !u.Empty() {
			return u, true
		}
	}
	return Unit{}, false
}

// Flush makes every unit stored before the call durable: it fdatasyncs the
// files written since the last Flush, and the directory if a file was
// created or removed. A failed sync is sticky: the kernel may have dropped the dirty
// pages, so a later sync that succeeds proves nothing; every later Flush
// returns the first error.
func (q *Queue) Flush() error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	if q.flushMu.err != nil {
		return q.flushMu.err
	}
	q.mu.RLock()
	if q.mu.closed {
		q.mu.RUnlock()
		return nil
	}
	dirty := q.flushMu.scratch[:0]
	for _, s := range q.mu.files {
		if s.dirty.Load() {
			dirty = append(dirty, s)
		}
	}
	q.mu.RUnlock()
	// No lock but flushMu from here: files cannot be unmapped, and Put
	// goes on while the disk syncs.
	var err error
	for _, s := range dirty {
		if s.dirty.Swap(false) {
			err = errors.Join(err, s.m.Sync())
		}
	}
	clear(dirty)
	q.flushMu.scratch = dirty[:0]
	if q.dirDirty.Swap(false) {
		err = errors.Join(err, mapped.SyncDir(q.dir))
	}
	q.flushMu.err = err
	return err
}

// Close flushes and unmaps the files. Later calls fail with ErrClosed.
func (q *Queue) Close() error {
	err := q.Flush()
	return errors.Join(err, q.close())
}

// close unmaps the files without syncing them (the topic is being deleted,
// or Close has flushed).
func (q *Queue) close() error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.closed {
		return nil
	}
	q.mu.closed = true
	var err error
	for _, s := range q.mu.files {
		err = errors.Join(err, s.m.Close())
	}
	clear(q.mu.files)
	q.mu.files = nil
	q.dirDirty.Store(false)
	return err
}
