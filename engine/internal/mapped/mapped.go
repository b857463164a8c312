// Package mapped owns files the engine maps into memory: CommitLog segments,
// ConsumeQueue files and Index files. A File is created at its full size,
// mapped read-write and shared, so bytes stored through the mapping or through
// WriteAt are the same page-cache pages, and Sync (fdatasync) makes both
// durable.
//
// Lifetime: the slice returned by Bytes is valid until Close or Remove; the
// owner of a File decides when that is (the CommitLog reference-counts its
// segments so that readers keep them mapped).
package mapped

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// File is one memory-mapped file of a fixed size.
type File struct {
	f    *os.File
	data []byte
	path string
}

// Open maps the file at path read-write. With create set, a missing file is
// created; a file shorter than size is extended (sparse) to size. A file
// longer than size is mapped at its own length.
func Open(path string, size int64, create bool) (*File, error) {
	if size <= 0 {
		return nil, fmt.Errorf("cannot map %q: size %d is not positive", path, size)
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() < size {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot size %q to %d bytes: %w", path, size, err)
		}
	} else {
		size = st.Size()
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot map %q: %w", path, err)
	}
	return &File{f: f, data: data, path: path}, nil
}

// Bytes returns the mapping. Valid until Close or Remove.
func (m *File) Bytes() []byte { return m.data }

// Size is the mapped length in bytes.
func (m *File) Size() int64 { return int64(len(m.data)) }

// Path is the file's path.
func (m *File) Path() string { return m.path }

// Sync makes every byte stored so far durable. fdatasync on the descriptor
// also writes back pages dirtied through the shared mapping.
func (m *File) Sync() error {
	if err := unix.Fdatasync(int(m.f.Fd())); err != nil {
		return fmt.Errorf("cannot sync %q: %w", m.path, err)
	}
	return nil
}

// WriteAt writes p at off with pwrite; the bytes are visible through the
// mapping at once.
func (m *File) WriteAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return fmt.Errorf("cannot write %d bytes at %d into %q of %d bytes", len(p), off, m.path, len(m.data))
	}
	for len(p) > 0 {
		n, err := unix.Pwrite(int(m.f.Fd()), p, off)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("cannot write %q at %d: %w", m.path, off, err)
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// ReadAt reads len(p) bytes at off with pread (no page faults on the
// mapping, which matters when scanning large unwritten regions).
func (m *File) ReadAt(p []byte, off int64) (int, error) {
	return m.f.ReadAt(p, off)
}

// NextData returns the first offset at or after off that may hold data,
// skipping holes and unwritten extents (SEEK_DATA), or the file size if
// none does. Filesystems without SEEK_DATA report off itself.
func (m *File) NextData(off int64) int64 {
	n, err := unix.Seek(int(m.f.Fd()), off, unix.SEEK_DATA)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return int64(len(m.data))
		}
		return off
	}
	return n
}

// Allocate reserves disk blocks for the whole file, so that later stores
// through the mapping cannot fail for lack of space (which would raise
// SIGBUS instead of returning an error). Filesystems without fallocate are
// not an error.
func (m *File) Allocate() error {
	err := unix.Fallocate(int(m.f.Fd()), 0, 0, int64(len(m.data)))
	if err == nil || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return fmt.Errorf("cannot reserve %d bytes for %q: %w", len(m.data), m.path, err)
}

// Close unmaps and closes the file.
func (m *File) Close() error {
	var err error
	if m.data != nil {
		err = unix.Munmap(m.data)
		m.data = nil
	}
	if m.f != nil {
		if cerr := m.f.Close(); err == nil {
			err = cerr
		}
		m.f = nil
	}
	return err
}

// Remove closes the file and deletes it.
func (m *File) Remove() error {
	err := m.Close()
	if rerr := os.Remove(m.path); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = rerr
	}
	return err
}

// SyncDir makes a directory's entries (created, renamed or removed files)
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync directory %q: %w", dir, err)
	}
	return nil
}
