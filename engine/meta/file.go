package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/gannetmq/gannet/engine/atomicfile"
)

// DataVersion is RocketMQ's version stamp of a table (common/DataVersion):
// a slave or a name server compares it to see whether the table changed.
// Every mutation here bumps Counter and sets Timestamp; StateVersion
// belongs to 5.x controller mode and is only carried through.
type DataVersion struct {
	Counter      int64 `json:"counter"`
	StateVersion int64 `json:"stateVersion"`
	Timestamp    int64 `json:"timestamp"`
}

// next moves the version forward. It does not allocate, because
// ConsumerOffsets.Commit calls it.
func (v *DataVersion) next(nowMillis int64) {
	v.Counter++
	v.Timestamp = nowMillis
}

// changes tells Persist whether a table needs writing without losing a
// change made while the file is being written: Persist records n when it
// takes its snapshot and stores it in saved only after the write
// succeeded, so a mutation in between leaves the table dirty. It is
// guarded by the mutex of the table that holds it.
type changes struct {
	n     uint64 // bumped by every mutation
	saved uint64 // n as of the snapshot behind the last successful write or load
}

func (c *changes) bump()       { c.n++ }
func (c *changes) dirty() bool { return c.n != c.saved }
func (c *changes) clean()      { c.saved = c.n }
func (c *changes) mark(n uint64) {
	if n > c.saved {
		c.saved = n
	}
}

// table is what Open and Persist need from each of the four tables.
type table interface {
	metaFile() *file
	// load replaces the content with a file's JSON (already key-quoted)
	// and leaves the table clean.
	load(data []byte) error
	// encodeIfDirty returns the file JSON and the change count it
	// reflects, or ok == false when nothing changed since the last write.
	encodeIfDirty() (data []byte, n uint64, ok bool, err error)
	// markSaved records that the snapshot taken at change count n is on disk.
	markSaved(n uint64)
}

// file is the on-disk half of a table: where it lives and how it is read
// and replaced.
type file struct {
	path string
	log  *slog.Logger
	ctr  *counters
	now  func() int64

	// writeMu serialises the persists of one file so that two callers
	// cannot interleave their .bak copies and renames, and an older
	// snapshot cannot replace a newer one. Lock order: writeMu before the
	// table's mu.
	writeMu sync.Mutex
}

// persist writes t's file if t changed since its last write.
func persist(t table) error {
	f := t.metaFile()
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	data, n, ok, err := t.encodeIfDirty()
	if err != nil {
		f.ctr.writeErrors.Add(1)
		return fmt.Errorf("meta: cannot encode %q: %w", f.path, err)
	}
	if !ok {
		return nil
	}
	if err := f.replace(data); err != nil {
		f.ctr.writeErrors.Add(1)
		return err
	}
	t.markSaved(n)
	return nil
}

// replace copies the current content to <file>.bak, as RocketMQ's
// MixAll.string2File does, then replaces the file atomically. The copy is
// a plain write: while it runs the main file is intact, and once the main
// file has been replaced it is the one that matters.
func (f *file) replace(data []byte) error {
	prev, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		prev = nil
	case err != nil:
		return fmt.Errorf("meta: cannot read %q before replacing it: %w", f.path, err)
	}
	if bytes.Equal(prev, data) {
		// A slave decoding an unchanged master table lands here: nothing
		// to write, and keeping the .bak one step behind stays useful.
		return nil
	}
	// Only a readable previous version is worth keeping: when the main
	// file is broken (and was loaded from the .bak), copying it would
	// destroy the one good copy left if we crashed before the rename.
	if len(prev) > 0 && json.Valid(quoteKeys(prev)) {
		if err := os.WriteFile(f.path+backupSuffix, prev, defaultFilePermissions); err != nil {
			return fmt.Errorf("meta: cannot write backup %q: %w", f.path+backupSuffix, err)
		}
	}
	if err := atomicfile.Write(f.path, data); err != nil {
		return fmt.Errorf("meta: cannot replace %q: %w", f.path, err)
	}
	f.ctr.filesWritten.Add(1)
	return nil
}

// load reads the file into a table through decode. A missing or broken
// main file falls back to <file>.bak, as RocketMQ's ConfigManager.load
// does; with neither present the table stays empty. A main file that
// cannot be read for another reason (permissions, I/O) is an error rather
// than a reason to serve older data.
func (f *file) load(decode func([]byte) error) error {
	data, err := os.ReadFile(f.path)
	var mainErr error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		mainErr = err
	case err != nil:
		return fmt.Errorf("meta: cannot read %q: %w", f.path, err)
	case len(bytes.TrimSpace(data)) == 0:
		mainErr = errors.New("file is empty")
	default:
		if mainErr = decode(quoteKeys(data)); mainErr == nil {
			return nil
		}
	}

	bak := f.path + backupSuffix
	bdata, berr := os.ReadFile(bak)
	switch {
	case errors.Is(berr, fs.ErrNotExist):
		if errors.Is(mainErr, fs.ErrNotExist) {
			return nil // first start: an empty table
		}
		return fmt.Errorf("meta: cannot parse %q and no backup %q: %w", f.path, bak, mainErr)
	case berr != nil:
		return fmt.Errorf("meta: cannot parse %q (%v) nor read backup %q: %w", f.path, mainErr, bak, berr)
	}
	if berr = decode(quoteKeys(bdata)); berr != nil {
		return fmt.Errorf("meta: cannot parse %q (%v) nor backup %q: %w", f.path, mainErr, bak, berr)
	}
	f.ctr.backupLoads.Add(1)
	f.log.Warn("meta: loaded backup instead of main file", "file", f.path, "backup", bak, "err", mainErr)
	return nil
}

// removeStaleTemps deletes the temporary files atomicfile.Write leaves
// behind when the process dies before its rename; they never hold the
// only copy of anything.
func (f *file) removeStaleTemps() {
	matches, _ := filepath.Glob(f.path + ".tmp*")
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			f.log.Info("meta: removed stale temporary file", "file", m)
		}
	}
}

// marshal writes a file's JSON: indented like fastjson's pretty format,
// with quoted keys so the result is valid JSON, and with <, > and &
// left alone (fastjson does not escape them either).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compactRaw returns a compact copy of a carried-through JSON value, so
// that equal values compare equal whatever the indentation they were read
// with. JSON null becomes nil so that omitempty drops it, and so does
// invalid JSON (only possible from Put), which would otherwise make every
// later Encode fail.
func compactRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil || buf.String() == "null" {
		return nil
	}
	return buf.Bytes()
}

func cloneStrings(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
