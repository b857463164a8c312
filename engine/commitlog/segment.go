package commitlog

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// Segment is one mapped CommitLog file. It is reference counted: the log
// holds one reference while the segment is part of the log, and every reader
// holds one while it uses bytes of the mapping. The mapping is released when
// the last reference goes, so retention can drop a segment while a pull
// response still points into it.
type Segment struct {
	base int64 // global offset of the first byte
	file *mapped.File
	data []byte

	refs    atomic.Int64
	removed atomic.Bool // file deleted from disk when the last reference goes
}

// SegmentName is the 20-digit zero-padded offset of a segment's first byte
// (RocketMQ UtilAll.offset2FileName).
func SegmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func openSegment(dir string, base, size int64, create bool) (*Segment, error) {
	f, err := mapped.Open(filepath.Join(dir, SegmentName(base)), size, create)
	if err != nil {
		return nil, err
	}
	if f.Size() != size {
		f.Close()
		return nil, fmt.Errorf("segment %q is %d bytes, expected %d (segment size changed?)", f.Path(), f.Size(), size)
	}
	s := &Segment{base: base, file: f, data: f.Bytes()}
	s.refs.Store(1)
	return s, nil
}

// Base is the global offset of the segment's first byte.
func (s *Segment) Base() int64 { return s.base }

// End is the global offset just past the segment.
func (s *Segment) End() int64 { return s.base + int64(len(s.data)) }

// Bytes is the whole mapping; valid while the caller holds a reference.
func (s *Segment) Bytes() []byte { return s.data }

// Path is the segment's file.
func (s *Segment) Path() string { return s.file.Path() }

// Acquire takes a reference; false if the segment is already released.
func (s *Segment) Acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference; the last one unmaps the file (and deletes it
// if the segment was removed from the log).
func (s *Segment) Release() {
	n := s.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("BUG: commitlog segment released more often than acquired")
	}
	if s.removed.Load() {
		s.file.Remove()
	} else {
		s.file.Close()
	}
}

// listSegments returns the bases of the segment files in dir, sorted.
func listSegments(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if len(name) != 20 || e.IsDir() {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}
