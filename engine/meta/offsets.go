package meta

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
)

// topicGroupSeparator joins topic and group in the keys of
// consumerOffset.json ("topic@group"); RocketMQ's name rules keep '@' out
// of both, so the first '@' splits a key.
const topicGroupSeparator = "@"

// offsetsFile is the JSON of consumerOffset.json. Java 5.x also writes
// groupTopicMap and other derived tables; they are ignored on load.
type offsetsFile struct {
	OffsetTable map[string]map[int32]int64 `json:"offsetTable"`
	DataVersion DataVersion                `json:"dataVersion"`
}

// ConsumerOffsets holds the committed offset of every group on every
// queue, persisted as consumerOffset.json. An offset is the next queue
// offset the group will consume.
type ConsumerOffsets struct {
	file *file

	// mu guards the fields below.
	mu sync.RWMutex
	// byTopic is keyed topic, then group, then queue id, rather than by
	// the file's "topic@group", so that Commit and Query find an entry
	// without building a key string.
	byTopic map[string]map[string]map[int32]int64
	version DataVersion
	changes changes
}

func newConsumerOffsets(f *file) *ConsumerOffsets {
	return &ConsumerOffsets{
		file:    f,
		byTopic: map[string]map[string]map[int32]int64{},
		version: DataVersion{Timestamp: f.now()},
	}
}

// Commit records offset for group on topic's queue queueID. Committing
// the offset already stored changes nothing, so idle consumers do not make
// the file dirty. It does not allocate once the queue has an entry.
func (o *ConsumerOffsets) Commit(group, topic string, queueID int32, offset int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	groups := o.byTopic[topic]
	if groups == nil {
		groups = map[string]map[int32]int64{}
		o.byTopic[topic] = groups
	}
	queues := groups[group]
	if queues == nil {
		queues = map[int32]int64{}
		groups[group] = queues
	}
	if old, ok := queues[queueID]; ok && old == offset {
		return
	}
	queues[queueID] = offset
	o.bumpLocked()
}

// Query returns the offset committed by group on topic's queue queueID.
func (o *ConsumerOffsets) Query(group, topic string, queueID int32) (int64, bool) {
	o.mu.RLock()
	off, ok := o.byTopic[topic][group][queueID]
	o.mu.RUnlock()
	return off, ok
}

// Queues returns a copy of the offsets of group on topic by queue id, or
// nil when there are none.
func (o *ConsumerOffsets) Queues(group, topic string) map[int32]int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	q := o.byTopic[topic][group]
	if q == nil {
		return nil
	}
	return maps.Clone(q)
}

// Groups returns every group with an offset, sorted.
func (o *ConsumerOffsets) Groups() []string {
	o.mu.RLock()
	set := map[string]struct{}{}
	for _, groups := range o.byTopic {
		for g := range groups {
			set[g] = struct{}{}
		}
	}
	o.mu.RUnlock()
	return slices.Sorted(maps.Keys(set))
}

// TopicsOf returns the topics on which group has offsets, sorted.
func (o *ConsumerOffsets) TopicsOf(group string) []string {
	o.mu.RLock()
	var topics []string
	for t, groups := range o.byTopic {
		if _, ok := groups[group]; ok {
			topics = append(topics, t)
		}
	}
	o.mu.RUnlock()
	slices.Sort(topics)
	return topics
}

// GroupsOf returns the groups with offsets on topic, sorted.
func (o *ConsumerOffsets) GroupsOf(topic string) []string {
	o.mu.RLock()
	groups := slices.Collect(maps.Keys(o.byTopic[topic]))
	o.mu.RUnlock()
	slices.Sort(groups)
	return groups
}

// DeleteGroup removes every offset of group and reports whether there was one.
func (o *ConsumerOffsets) DeleteGroup(group string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	removed := false
	for t, groups := range o.byTopic {
		if _, ok := groups[group]; ok {
			delete(groups, group)
			removed = true
			if len(groups) == 0 {
				delete(o.byTopic, t)
			}
		}
	}
	if removed {
		o.bumpLocked()
	}
	return removed
}

// DeleteTopic removes every offset on topic and reports whether there was one.
func (o *ConsumerOffsets) DeleteTopic(topic string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.byTopic[topic]; !ok {
		return false
	}
	delete(o.byTopic, topic)
	o.bumpLocked()
	return true
}

// All returns a copy of every offset keyed "topic@group", the shape of
// the file's offsetTable.
func (o *ConsumerOffsets) All() map[string]map[int32]int64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.snapshotLocked()
}

// ReplaceAll replaces every offset with snapshot, keyed "topic@group" as
// All returns it (a slave copying its master), and bumps the data
// version. Keys without '@' are skipped with a warning.
func (o *ConsumerOffsets) ReplaceAll(snapshot map[string]map[int32]int64) {
	byTopic := splitOffsetTable(snapshot, o.file.log, o.file.path)
	o.mu.Lock()
	o.byTopic = byTopic
	o.bumpLocked()
	o.mu.Unlock()
}

// DataVersion returns the current data version.
func (o *ConsumerOffsets) DataVersion() DataVersion {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.version
}

// Encode returns the table as consumerOffset.json (the body of
// GET_ALL_CONSUMER_OFFSET for a slave).
func (o *ConsumerOffsets) Encode() ([]byte, error) {
	o.mu.RLock()
	f := offsetsFile{OffsetTable: o.snapshotLocked(), DataVersion: o.version}
	o.mu.RUnlock()
	return marshal(f)
}

// Decode replaces the whole table, data version included, with the JSON
// of a consumerOffset.json (fastjson's bare keys accepted) and marks it
// for the next Persist. On error the table is unchanged.
func (o *ConsumerOffsets) Decode(data []byte) error {
	byTopic, version, err := o.decode(quoteKeys(data))
	if err != nil {
		return fmt.Errorf("meta: cannot decode %s: %w", ConsumerOffsetFile, err)
	}
	o.mu.Lock()
	o.byTopic, o.version = byTopic, version
	o.changes.bump()
	o.mu.Unlock()
	return nil
}

func (o *ConsumerOffsets) bumpLocked() {
	o.version.next(o.file.now())
	o.changes.bump()
}

func (o *ConsumerOffsets) snapshotLocked() map[string]map[int32]int64 {
	all := map[string]map[int32]int64{}
	for t, groups := range o.byTopic {
		for g, queues := range groups {
			all[t+topicGroupSeparator+g] = maps.Clone(queues)
		}
	}
	return all
}

func (o *ConsumerOffsets) decode(data []byte) (map[string]map[string]map[int32]int64, DataVersion, error) {
	var f offsetsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, DataVersion{}, err
	}
	return splitOffsetTable(f.OffsetTable, o.file.log, o.file.path), f.DataVersion, nil
}

// splitOffsetTable turns "topic@group" keys into the nested table, with
// copies of the queue maps.
func splitOffsetTable(table map[string]map[int32]int64, log *slog.Logger, path string) map[string]map[string]map[int32]int64 {
	byTopic := map[string]map[string]map[int32]int64{}
	for key, queues := range table {
		topic, group, ok := strings.Cut(key, topicGroupSeparator)
		if !ok {
			log.Warn("meta: skipping consumer offsets with a key that is not topic@group", "file", path, "key", key)
			continue
		}
		if queues == nil {
			continue
		}
		groups := byTopic[topic]
		if groups == nil {
			groups = map[string]map[int32]int64{}
			byTopic[topic] = groups
		}
		groups[group] = maps.Clone(queues)
	}
	return byTopic
}

func (o *ConsumerOffsets) metaFile() *file { return o.file }

func (o *ConsumerOffsets) load(data []byte) error {
	byTopic, version, err := o.decode(data)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.byTopic, o.version = byTopic, version
	o.changes.clean()
	o.mu.Unlock()
	return nil
}

func (o *ConsumerOffsets) encodeIfDirty() ([]byte, uint64, bool, error) {
	o.mu.RLock()
	if !o.changes.dirty() {
		o.mu.RUnlock()
		return nil, 0, false, nil
	}
	f := offsetsFile{OffsetTable: o.snapshotLocked(), DataVersion: o.version}
	n := o.changes.n
	o.mu.RUnlock()
	data, err := marshal(f)
	return data, n, true, err
}

func (o *ConsumerOffsets) markSaved(n uint64) {
	o.mu.Lock()
	o.changes.mark(n)
	o.mu.Unlock()
}
