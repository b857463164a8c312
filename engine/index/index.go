package index

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// Geometry defaults, RocketMQ's maxHashSlotNum and maxIndexNum: 420 000 040
// bytes per file, sparse until written.
const (
	DefaultHashSlots = 5_000_000
	DefaultMaxItems  = 20_000_000
)

// ErrClosed is returned by calls on a closed Index.
var ErrClosed = errors.New("index is closed")

// Options configure an Index. Every file in Dir must have the geometry given
// here: the header does not record it.
type Options struct {
	// Dir holds the index files; it is created if missing.
	Dir string
	// HashSlots is the number of hash buckets per file; 0 means
	// DefaultHashSlots.
	HashSlots int
	// MaxItems is the number of item places per file; 0 means
	// DefaultMaxItems. Item 0 is never used, so a file takes MaxItems-1
	// items before the next one is started.
	MaxItems int
}

// EnsureDefaults fills the zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.HashSlots == 0 {
		o.HashSlots = DefaultHashSlots
	}
	if o.MaxItems == 0 {
		o.MaxItems = DefaultMaxItems
	}
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("index: Dir is empty"))
	}
	// Slot and item numbers are int32 in the file.
	if o.HashSlots < 1 || o.HashSlots > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("index: HashSlots %d is outside [1, %d]", o.HashSlots, math.MaxInt32))
	}
	if o.MaxItems < 2 || o.MaxItems > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("index: MaxItems %d is outside [2, %d]", o.MaxItems, math.MaxInt32))
	}
	return errors.Join(errs...)
}

// Index is the set of index files in one directory, oldest first.
//
// Locking: flushMu is taken before mu. Put holds mu for writing; Lookup and
// the getters hold it for reading. Flush syncs outside mu, so that neither
// Put nor Lookup waits for the disk, and holds flushMu instead, which
// DeleteFilesBefore and Close also take before they unmap a file.
type Index struct {
	dir      string
	slots    int
	maxItems int
	now      func() time.Time // names new files; tests replace it

	flushMu sync.Mutex

	// mu guards the fields below, and the header copies and mapped bytes of
	// every file in files.
	mu       sync.RWMutex
	files    []*file // oldest first; names ascend
	endPhy   int64   // highest phyOffset indexed
	dirDirty bool    // files created or removed since the last Flush
	err      error   // sticky: a failed store or sync; Put returns it until reopened
	closed   bool
}

// Open loads the index files in opts.Dir in name order, checking the size and
// header of each; a short or corrupt file is an error naming it, except a
// newest file that is short with a zero header, which a crash while Put was
// creating it leaves behind and which is removed. Names that are not 17
// digits are ignored. New files are created by Put when needed.
func Open(opts Options) (*Index, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create index directory: %w", err)
	}
	entries, err := os.ReadDir(opts.Dir) // sorted by name, hence by time
	if err != nil {
		return nil, fmt.Errorf("cannot list index directory: %w", err)
	}
	x := &Index{dir: opts.Dir, slots: opts.HashSlots, maxItems: opts.MaxItems, now: time.Now}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isFileName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	for i, name := range names {
		path := filepath.Join(opts.Dir, name)
		if i == len(names)-1 {
			// A crash between creating the newest file and sizing it
			// leaves it short with nothing in its header (items are
			// written only through the sized mapping): drop it, Put makes
			// a new one. A short file with a header is another geometry
			// and stays an error.
			if st, err := os.Stat(path); err == nil && st.Size() < fileSize(x.slots, x.maxItems) && headerIsZero(path) {
				if err := os.Remove(path); err != nil {
					x.closeFilesLocked()
					return nil, fmt.Errorf("cannot remove short index file %q: %w", path, err)
				}
				continue
			}
		}
		f, err := openFile(path, name, x.slots, x.maxItems)
		if err != nil {
			x.closeFilesLocked()
			return nil, err
		}
		x.files = append(x.files, f)
		if !f.empty() {
			x.endPhy = max(x.endPhy, f.endPhyOffset)
		}
	}
	return x, nil
}

// Put indexes one key of the message at phyOffset: the key topic+"#"+key
// goes into the newest file, and a new file is started when that one is full.
// Put is meant for a single writer, the dispatcher; it allocates nothing
// unless it starts a file. The index does not skip offsets it has seen: a
// caller that re-dispatches compares with EndPhyOffset, and Lookup drops
// duplicate offsets anyway.
func (x *Index) Put(topic, key []byte, phyOffset, storeTimestamp int64) error {
	hash := keyHash(topic, key)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	if x.err != nil {
		return x.err
	}
	var f *file
	if n := len(x.files); n > 0 && !x.files[n-1].full() {
		f = x.files[n-1]
	} else {
		var err error
		if f, err = x.rollLocked(); err != nil {
			return err
		}
	}
	if err := x.putLocked(f, hash, phyOffset, storeTimestamp); err != nil {
		return err
	}
	x.endPhy = max(x.endPhy, phyOffset)
	return nil
}

// putLocked stores through the mapping with faults turned into panics: a
// store into a sparse file that needs a block on a full disk, or into a file
// truncated behind our back, raises SIGBUS, which would otherwise kill the
// broker. The fault becomes the sticky error; file.put orders its stores so
// that what it leaves behind is consistent.
func (x *Index) putLocked(f *file, hash int32, phyOffset, storeTimestamp int64) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			x.err = fmt.Errorf("cannot store into index file %q (disk full or file truncated?): %v", f.m.Path(), faultOrPanic(r))
			err = x.err
		}
	}()
	f.put(hash, phyOffset, storeTimestamp)
	return nil
}

// faultOrPanic returns r if it is a memory fault, and panics again otherwise:
// only faults are expected while touching a mapping.
func faultOrPanic(r any) any {
	if _, ok := r.(interface{ Addr() uintptr }); !ok {
		panic(r)
	}
	return r
}

// rollLocked starts a new file named after the current time, made later than
// the newest file's name and unused, so names sort by time and never collide.
func (x *Index) rollLocked() (*file, error) {
	name := formatName(x.now())
	if n := len(x.files); n > 0 && name <= x.files[n-1].name {
		var err error
		if name, err = nameAfter(x.files[n-1].name); err != nil {
			return nil, err
		}
	}
	for {
		_, err := os.Lstat(filepath.Join(x.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cannot create index file: %w", err)
		}
		if name, err = nameAfter(name); err != nil {
			return nil, err
		}
	}
	f, err := createFile(filepath.Join(x.dir, name), name, x.slots, x.maxItems)
	if err != nil {
		return nil, err
	}
	x.files = append(x.files, f)
	x.dirDirty = true
	return f, nil
}

// Lookup appends to dst the physical offsets of items indexed under
// topic+"#"+key whose store time may lie in [beginMs, endMs] (beginMs =
// endMs = 0: any time), newest first across files, at most max of them, each
// offset once even if it was indexed more than once. These are candidates:
// different keys can share a hash, and an item keeps its time to the second,
// so the caller checks the stored message's keys (and store time, if it must
// be exact). Offsets already in dst are neither counted nor de-duplicated.
//
// Lookup is safe from any goroutine, and cannot loop or fault on a corrupt
// file (see file.lookup).
func (x *Index) Lookup(topic, key string, beginMs, endMs int64, max int, dst []int64) []int64 {
	return x.lookupHash(keyHash(stringBytes(topic), stringBytes(key)), beginMs, endMs, max, dst)
}

func (x *Index) lookupHash(hash int32, begin, end int64, max int, dst []int64) []int64 {
	if max <= 0 {
		return dst
	}
	anyTime := begin == 0 && end == 0
	if !anyTime && begin > end {
		return dst
	}
	res := results{dst: dst, start: len(dst), max: max}
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.lookupLocked(&res, hash, begin, end, anyTime)
	return res.dst
}

// lookupLocked walks the files newest first. A fault (a file truncated
// behind our back) ends the walk with what was found so far.
func (x *Index) lookupLocked(res *results, hash int32, begin, end int64, anyTime bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			faultOrPanic(r)
		}
	}()
	for i := len(x.files) - 1; i >= 0 && !res.full(); i-- {
		f := x.files[i]
		if f.empty() {
			continue
		}
		if anyTime || f.timeOverlaps(begin, end) {
			f.lookup(res, hash, begin, end, anyTime)
		}
		// Store times grow with the log, so older files end before this
		// one begins: when this one begins before the range, they miss it.
		if !anyTime && f.beginTimestamp < begin {
			return
		}
	}
}

// results collects the offsets of one Lookup, dropping repeats. Few lookups
// return many offsets, so repeats are found by scanning until there are
// enough of them that a set pays off.
type results struct {
	dst   []int64
	start int // offsets before start belong to the caller
	max   int
	seen  map[int64]struct{}
}

const scanLimit = 64

func (r *results) full() bool { return len(r.dst)-r.start >= r.max }

func (r *results) add(off int64) {
	mine := r.dst[r.start:]
	if r.seen == nil {
		if len(mine) < scanLimit {
			if slices.Contains(mine, off) {
				return
			}
			r.dst = append(r.dst, off)
			return
		}
		r.seen = make(map[int64]struct{}, 2*len(mine))
		for _, o := range mine {
			r.seen[o] = struct{}{}
		}
	}
	if _, ok := r.seen[off]; ok {
		return
	}
	r.seen[off] = struct{}{}
	r.dst = append(r.dst, off)
}

// EndPhyOffset is the highest phyOffset indexed so far, 0 if none.
func (x *Index) EndPhyOffset() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.endPhy
}

// Files is the number of index files.
func (x *Index) Files() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.files)
}

// DeleteFilesBefore removes the oldest files whose items all lie before
// minPhyOffset (endPhyOffset < minPhyOffset), stopping at the first that does
// not, and never the newest file, which Put is filling. It returns how many
// were removed.
func (x *Index) DeleteFilesBefore(minPhyOffset int64) (int, error) {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, ErrClosed
	}
	var errs []error
	n := 0
	for n < len(x.files)-1 && x.files[n].endPhyOffset < minPhyOffset {
		// A file that cannot be deleted is closed all the same; Open loads
		// it again and a later retention pass retries.
		if err := x.files[n].m.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove index file: %w", err))
		}
		n++
	}
	if n > 0 {
		x.files = slices.Delete(x.files, 0, n)
		x.dirDirty = true
	}
	return n, errors.Join(errs...)
}

// Flush makes durable every item Put before Flush was called: it fdatasyncs
// the files written since the last Flush, and the directory if files were
// created or removed. A failed sync is sticky (a page the kernel failed to
// write may be dropped, and a later sync would not report it), so Put and
// Flush return that error until the index is reopened.
func (x *Index) Flush() error {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()

	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	if x.err != nil {
		x.mu.Unlock()
		return x.err
	}
	var dirty []*file
	for _, f := range x.files {
		if f.dirty {
			dirty = append(dirty, f)
			f.dirty = false
		}
	}
	dirDirty := x.dirDirty
	x.dirDirty = false
	x.mu.Unlock()

	// flushMu keeps these files mapped; Put may store into them meanwhile,
	// and such stores mark them dirty again for the next Flush.
	var err error
	for _, f := range dirty {
		if err = f.m.Sync(); err != nil {
			break
		}
	}
	if err == nil && dirDirty {
		err = mapped.SyncDir(x.dir)
	}
	if err != nil {
		x.mu.Lock()
		if x.err == nil {
			x.err = err
		}
		x.mu.Unlock()
	}
	return err
}

// Close syncs what was written since the last Flush, then unmaps and closes
// every file. Calls after Close return ErrClosed, or nothing for Lookup.
func (x *Index) Close() error {
	x.flushMu.Lock()
	defer x.flushMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	var errs []error
	if x.err == nil {
		for _, f := range x.files {
			if f.dirty {
				if err := f.m.Sync(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if x.dirDirty {
			if err := mapped.SyncDir(x.dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, x.closeFilesLocked())
	return errors.Join(errs...)
}

func (x *Index) closeFilesLocked() error {
	var errs []error
	for _, f := range x.files {
		if err := f.m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close index file %q: %w", f.m.Path(), err))
		}
	}
	x.files = nil
	return errors.Join(errs...)
}

// headerIsZero reports whether the file's first header bytes (as many as it
// has) are all zero.
func headerIsZero(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, headerSize)
	n, _ := io.ReadFull(f, buf)
	for _, b := range buf[:n] {
		if b != 0 {
			return false
		}
	}
	return true
}
