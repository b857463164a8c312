package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/consumequeue"
	"github.com/gannetmq/gannet/engine/index"
	"github.com/gannetmq/gannet/engine/meta"
)

// Request, Status and their values are the CommitLog's, re-exported.
type (
	Request = commitlog.Request
	Status  = commitlog.Status
)

const (
	StatusOK                  = commitlog.StatusOK
	StatusFlushDiskTimeout    = commitlog.StatusFlushDiskTimeout
	StatusSystemBusy          = commitlog.StatusSystemBusy
	StatusDiskFull            = commitlog.StatusDiskFull
	StatusMessageIllegal      = commitlog.StatusMessageIllegal
	StatusServiceNotAvailable = commitlog.StatusServiceNotAvailable
	StatusOffsetMismatch      = commitlog.StatusOffsetMismatch
)

// Store is the storage engine: the CommitLog, the ConsumeQueues and the
// Index built from it by the dispatcher, the metadata files, crash recovery
// and retention.
type Store struct {
	opts Options
	log  *slog.Logger

	lockFile *os.File
	cl       *commitlog.Log
	cqs      *consumequeue.Set
	idx      *index.Index // nil when the index is disabled
	meta     *meta.Store

	dispatched   atomic.Int64 // end of the last record the dispatcher indexed
	dispatchWake chan struct{}
	dispatchErr  atomic.Pointer[error]
	rawAppended  atomic.Bool // a master's bytes were stored: queue offsets come from the dispatcher

	stop    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

// Open opens or creates the store in opts.Dir and recovers it.
func Open(opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	s := &Store{
		opts:         opts,
		log:          opts.Logger.With("component", "engine"),
		dispatchWake: make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	if err := s.open(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.dispatchLoop() }()
	go func() { defer s.wg.Done(); s.checkpointLoop() }()
	go func() { defer s.wg.Done(); s.retentionLoop() }()
	s.log.Info("store open", "dir", opts.Dir, "flush", opts.FlushMode, "write", opts.WriteMode,
		"min_offset", s.cl.MinOffset(), "max_offset", s.cl.Written(), "took", time.Since(start))
	return s, nil
}

func (s *Store) open() error {
	o := &s.opts
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(o.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		return fmt.Errorf("engine: store %q is in use by another process: %w", o.Dir, err)
	}
	s.lockFile = lf

	abortPath := filepath.Join(o.Dir, "abort")
	_, statErr := os.Stat(abortPath)
	clean := errors.Is(statErr, os.ErrNotExist)
	cp, cpErr := readCheckpoint(filepath.Join(o.Dir, "checkpoint"))
	if cpErr != nil {
		s.log.Warn("checkpoint unusable; recovering from the start of the log", "err", cpErr)
		clean = false
	}
	if !clean {
		s.log.Warn("previous run did not stop cleanly; checking the log tail")
	}

	if s.meta, err = meta.Open(meta.Options{Dir: filepath.Join(o.Dir, "config"), Logger: o.Logger}); err != nil {
		return err
	}
	if s.cqs, err = consumequeue.OpenSet(filepath.Join(o.Dir, "consumequeue"), o.ConsumeQueueUnits); err != nil {
		return err
	}
	if !o.IndexDisabled {
		if s.idx, err = index.Open(index.Options{Dir: filepath.Join(o.Dir, "index"), HashSlots: o.IndexHashSlots, MaxItems: o.IndexMaxItems}); err != nil {
			return err
		}
	}
	hint := commitlog.RecoveryHint{Clean: clean, Flushed: cp.Flushed}
	if cpErr != nil {
		hint.Flushed = -1
	}
	if s.cl, err = commitlog.Open(o.commitLogOptions(s), hint); err != nil {
		return err
	}
	end := s.cl.Written()

	// ConsumeQueue units past the recovered end point at nothing.
	var truncErr error
	s.cqs.ForEach(func(topic string, qid int32, q *consumequeue.Queue) bool {
		if err := q.TruncatePhysical(end); err != nil {
			truncErr = fmt.Errorf("engine: truncating consume queue %s/%d: %w", topic, qid, err)
			return false
		}
		return true
	})
	if truncErr != nil {
		return truncErr
	}

	// Dispatch again everything the checkpoint does not vouch for; units
	// and index entries are rewritten with the same values.
	from := cp.Dispatched
	if cpErr != nil {
		from = s.cl.MinOffset()
	}
	from = max(min(from, end), s.cl.MinOffset())
	s.dispatched.Store(from)
	if err := s.dispatch(); err != nil {
		return err
	}
	if d := s.dispatched.Load(); d != s.cl.Readable() {
		// Only a slave's log can end inside a record (its master's bytes
		// arrive in chunks); the rest of that record comes with the next
		// raw append.
		s.log.Warn("the log ends inside a record; it is dispatched once the rest arrives", "dispatched", d, "end", s.cl.Readable())
	}
	// Queue minimums are not stored: derive them from the log's first
	// offset, dropping files that only point below it.
	s.dropIndexesBefore(s.cl.MinOffset())
	if err := os.WriteFile(abortPath, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	return nil
}

// Append stores r and waits for the outcome (see commitlog.Request).
func (s *Store) Append(r *Request) Status { return s.cl.Append(r) }

// Submit stores r and reports through r.Done; it never waits for the disk.
func (s *Store) Submit(r *Request) { s.cl.Submit(r) }

// AppendRaw stores bytes already in the stored layout at offset, which must
// continue the log exactly (slaves storing their master's stream).
func (s *Store) AppendRaw(offset int64, data []byte) error {
	s.rawAppended.Store(true)
	return s.cl.AppendRaw(offset, data)
}

// CommitLog gives access to the log for replication and tests.
func (s *Store) CommitLog() *commitlog.Log { return s.cl }

// Meta is the metadata (topics, consumer offsets, groups, delay offsets).
func (s *Store) Meta() *meta.Store { return s.meta }

// MinPhysicalOffset is the first CommitLog offset still on disk.
func (s *Store) MinPhysicalOffset() int64 { return s.cl.MinOffset() }

// MaxPhysicalOffset is the end of the stored CommitLog.
func (s *Store) MaxPhysicalOffset() int64 { return s.cl.Written() }

// FlushedPhysicalOffset is the end of the durable CommitLog.
func (s *Store) FlushedPhysicalOffset() int64 { return s.cl.Flushed() }

// DispatchedPhysicalOffset is how far messages are visible to readers.
func (s *Store) DispatchedPhysicalOffset() int64 { return s.dispatched.Load() }

// nextQueueOffset seeds the writer's queue-offset table from the
// ConsumeQueue. Open dispatches the whole log before the first append, so
// the queues are exact then; only after raw appends may the dispatcher be
// behind, and then the writer waits (bounded) until it has caught up.
func (s *Store) nextQueueOffset(topic string, qid int32) int64 {
	deadline := time.Now().Add(5 * time.Second)
	for s.rawAppended.Load() && s.dispatched.Load() < s.cl.Readable() && time.Now().Before(deadline) {
		s.wakeDispatcher()
		time.Sleep(time.Millisecond)
	}
	if q := s.cqs.LookupString(topic, qid); q != nil {
		return q.MaxOffset()
	}
	return 0
}

// Close stops appends, makes everything durable, writes the checkpoint and
// removes the abort marker, so the next Open starts without a scan.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.cl.Stop()
	close(s.stop)
	s.wg.Wait()
	if derr := s.dispatch(); err == nil {
		err = derr
	}
	if cerr := s.checkpoint(); err == nil {
		err = cerr
	}
	if err == nil {
		if rerr := os.Remove(filepath.Join(s.opts.Dir, "abort")); rerr != nil && err == nil {
			err = rerr
		}
	}
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeFiles() error {
	var errs []error
	if s.cl != nil {
		errs = append(errs, s.cl.Close())
	}
	if s.cqs != nil {
		errs = append(errs, s.cqs.Close())
	}
	if s.idx != nil {
		errs = append(errs, s.idx.Close())
	}
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	if s.lockFile != nil {
		errs = append(errs, s.lockFile.Close())
	}
	return errors.Join(errs...)
}

// diskUsage is the used fraction of the filesystem holding path.
func diskUsage(path string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 0, nil
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks), nil
}
