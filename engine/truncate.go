package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// ErrTruncateBelowMin means the requested end lies before the oldest byte
// the store still holds: the store cannot be cut back there.
var ErrTruncateBelowMin = errors.New("engine: truncation point is below the log's first offset")

// Truncate cuts the store in opts.Dir back so that its CommitLog ends at
// end, for a former master rejoining a group whose new master never had
// its last bytes. The store must not be open. end must be a record
// boundary (an epoch's end offset, taken from a log end, is one).
//
// It opens the store once (recovering it), closes it, zeroes the log's
// bytes from end on and removes the segments after it, and records end in
// the checkpoint; the next Open finds the log ending at end and cuts the
// ConsumeQueues back to it, as after a crash. Index entries past end stay:
// a lookup reads the message and checks its topic and key, so an entry
// pointing at other bytes later is skipped. It returns how many bytes were
// cut.
func Truncate(opts Options, end int64) (int64, error) {
	opts.EnsureDefaults()
	s, err := Open(opts)
	if err != nil {
		return 0, err
	}
	oldEnd, minOff, segSize := s.cl.Written(), s.cl.MinOffset(), s.cl.Options().SegmentSize
	if err := s.Close(); err != nil {
		return 0, err
	}
	if end >= oldEnd {
		return 0, nil
	}
	if end < minOff {
		return 0, fmt.Errorf("%w: %d < %d", ErrTruncateBelowMin, end, minOff)
	}
	cpPath := filepath.Join(opts.Dir, "checkpoint")
	cp, err := readCheckpoint(cpPath)
	if err != nil {
		return 0, err
	}
	// The checkpoint goes first, with the abort marker: if this process
	// dies half way, the next Open scans from the checkpoint's segment
	// and keeps only whole records, which may still include bytes past
	// end; Truncate is then simply run again.
	if err := os.WriteFile(filepath.Join(opts.Dir, "abort"), []byte("truncate"), 0o644); err != nil {
		return 0, err
	}
	cp.Flushed = end
	cp.Dispatched = min(cp.Dispatched, end)
	if err := writeCheckpoint(cpPath, cp); err != nil {
		return 0, err
	}
	zero := make([]byte, 1<<20)
	for base := end - end%segSize; base < oldEnd; base += segSize {
		path := filepath.Join(opts.CommitLogDir, commitlog.SegmentName(base))
		if base > end {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
			continue
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		from, to := end-base, min(oldEnd, base+segSize)-base
		for off := from; off < to; off += int64(len(zero)) {
			n := min(int64(len(zero)), to-off)
			if _, err := f.WriteAt(zero[:n], off); err != nil {
				f.Close()
				return 0, err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
	}
	if err := mapped.SyncDir(opts.CommitLogDir); err != nil {
		return 0, err
	}
	if err := os.Remove(filepath.Join(opts.Dir, "abort")); err != nil {
		return 0, err
	}
	return oldEnd - end, nil
}
