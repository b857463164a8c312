package meta

import (
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// delayFile is the JSON of delayOffset.json.
type delayFile struct {
	OffsetTable map[int32]int64 `json:"offsetTable"`
	DataVersion DataVersion     `json:"dataVersion"`
}

// DelayOffsets holds, for each delay level, how far the scheduler has
// delivered the level's queue of SCHEDULE_TOPIC_XXXX (queue id level-1),
// persisted as delayOffset.json (RocketMQ ScheduleMessageService).
type DelayOffsets struct {
	file *file

	// mu guards the fields below.
	mu      sync.RWMutex
	table   map[int32]int64 // delay level (1-based) → next queue offset to deliver
	version DataVersion
	changes changes
}

func newDelayOffsets(f *file) *DelayOffsets {
	return &DelayOffsets{file: f, table: map[int32]int64{}, version: DataVersion{Timestamp: f.now()}}
}

// Get returns the offset of level, 0 when the level has none yet (where
// the Java scheduler starts too).
func (d *DelayOffsets) Get(level int32) int64 {
	d.mu.RLock()
	off := d.table[level]
	d.mu.RUnlock()
	return off
}

// Set records offset for level; setting the stored value changes nothing.
func (d *DelayOffsets) Set(level int32, offset int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.table[level]; ok && old == offset {
		return
	}
	d.table[level] = offset
	d.bumpLocked()
}

// All returns a copy of every level's offset.
func (d *DelayOffsets) All() map[int32]int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return maps.Clone(d.table)
}

// ReplaceAll replaces every offset with a copy of table (a slave copying
// its master) and bumps the data version.
func (d *DelayOffsets) ReplaceAll(table map[int32]int64) {
	c := maps.Clone(table)
	if c == nil {
		c = map[int32]int64{}
	}
	d.mu.Lock()
	d.table = c
	d.bumpLocked()
	d.mu.Unlock()
}

// DataVersion returns the current data version.
func (d *DelayOffsets) DataVersion() DataVersion {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.version
}

// Encode returns the table as delayOffset.json (the body of
// GET_ALL_DELAY_OFFSET for a slave).
func (d *DelayOffsets) Encode() ([]byte, error) {
	d.mu.RLock()
	f := delayFile{OffsetTable: maps.Clone(d.table), DataVersion: d.version}
	d.mu.RUnlock()
	return marshal(f)
}

// Decode replaces the whole table, data version included, with the JSON
// of a delayOffset.json (fastjson's bare keys accepted) and marks it for
// the next Persist. On error the table is unchanged.
func (d *DelayOffsets) Decode(data []byte) error {
	table, version, err := decodeDelay(quoteKeys(data))
	if err != nil {
		return fmt.Errorf("meta: cannot decode %s: %w", DelayOffsetFile, err)
	}
	d.mu.Lock()
	d.table, d.version = table, version
	d.changes.bump()
	d.mu.Unlock()
	return nil
}

func (d *DelayOffsets) bumpLocked() {
	d.version.next(d.file.now())
	d.changes.bump()
}

func decodeDelay(data []byte) (map[int32]int64, DataVersion, error) {
	var f delayFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, DataVersion{}, err
	}
	if f.OffsetTable == nil {
		f.OffsetTable = map[int32]int64{}
	}
	return f.OffsetTable, f.DataVersion, nil
}

func (d *DelayOffsets) metaFile() *file { return d.file }

func (d *DelayOffsets) load(data []byte) error {
	table, version, err := decodeDelay(data)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.table, d.version = table, version
	d.changes.clean()
	d.mu.Unlock()
	return nil
}

func (d *DelayOffsets) encodeIfDirty() ([]byte, uint64, bool, error) {
	d.mu.RLock()
	if !d.changes.dirty() {
		d.mu.RUnlock()
		return nil, 0, false, nil
	}
	f := delayFile{OffsetTable: maps.Clone(d.table), DataVersion: d.version}
	n := d.changes.n
	d.mu.RUnlock()
	data, err := marshal(f)
	return data, n, true, err
}

func (d *DelayOffsets) markSaved(n uint64) {
	d.mu.Lock()
	d.changes.mark(n)
	d.mu.Unlock()
}
