package meta

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Permission bits of a topic (RocketMQ common/constant/PermName).
const (
	PermRead    = 4
	PermWrite   = 2
	PermInherit = 1
)

// Topic filter types (RocketMQ common/TopicFilterType).
const (
	FilterSingleTag = "SINGLE_TAG"
	FilterMultiTag  = "MULTI_TAG"
)

// Defaults of a TopicConfig whose JSON leaves a field out, as the Java
// field initialisers in common/TopicConfig give them.
const (
	defaultTopicQueueNums = 16
	defaultTopicPerm      = PermRead | PermWrite
)

// TopicConfig is one entry of topics.json (RocketMQ common/TopicConfig).
//
// Attributes of a config returned by Topics.Get or Topics.All is shared
// with the table and must be treated as read-only; Put stores its own copy.
type TopicConfig struct {
	TopicName       string            `json:"topicName"`
	ReadQueueNums   int32             `json:"readQueueNums"`
	WriteQueueNums  int32             `json:"writeQueueNums"`
	Perm            int32             `json:"perm"`
	TopicFilterType string            `json:"topicFilterType"`
	TopicSysFlag    int32             `json:"topicSysFlag"`
	Order           bool              `json:"order"`
	Attributes      map[string]string `json:"attributes"`
}

// NewTopicConfig returns a readable and writable SINGLE_TAG topic with
// queues read and write queues.
func NewTopicConfig(name string, queues int32) TopicConfig {
	return TopicConfig{
		TopicName:       name,
		ReadQueueNums:   queues,
		WriteQueueNums:  queues,
		Perm:            PermRead | PermWrite,
		TopicFilterType: FilterSingleTag,
		Attributes:      map[string]string{},
	}
}

// UnmarshalJSON starts from the Java defaults, so a hand-written or older
// entry that leaves fields out means what it means to a Java broker.
func (c *TopicConfig) UnmarshalJSON(b []byte) error {
	type plain TopicConfig // no methods: no recursion
	p := plain{
		ReadQueueNums:   defaultTopicQueueNums,
		WriteQueueNums:  defaultTopicQueueNums,
		Perm:            defaultTopicPerm,
		TopicFilterType: FilterSingleTag,
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = TopicConfig(p)
	return nil
}

// Readable reports whether the topic may be consumed from.
func (c TopicConfig) Readable() bool { return c.Perm&PermRead != 0 }

// Writable reports whether the topic may be produced to.
func (c TopicConfig) Writable() bool { return c.Perm&PermWrite != 0 }

// topicsFile is the JSON of topics.json.
type topicsFile struct {
	DataVersion      DataVersion            `json:"dataVersion"`
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
}

// Topics is the topic table, persisted as topics.json.
type Topics struct {
	file *file

	// mu guards the fields below. Stored Attributes maps are never
	// mutated (Put installs a fresh copy), so they may be read after mu
	// is released.
	mu      sync.RWMutex
	table   map[string]TopicConfig
	version DataVersion
	changes changes
}

func newTopics(f *file) *Topics {
	return &Topics{file: f, table: map[string]TopicConfig{}, version: DataVersion{Timestamp: f.now()}}
}

// Get returns the config of topic name.
func (t *Topics) Get(name string) (TopicConfig, bool) {
	t.mu.RLock()
	c, ok := t.table[name]
	t.mu.RUnlock()
	return c, ok
}

// Put adds or replaces the config of c.TopicName and bumps the data
// version. Names are the caller's to validate.
func (t *Topics) Put(c TopicConfig) {
	c.Attributes = cloneStrings(c.Attributes)
	t.mu.Lock()
	t.table[c.TopicName] = c
	t.bumpLocked()
	t.mu.Unlock()
}

// Delete removes topic name and reports whether it was there.
func (t *Topics) Delete(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.table[name]; !ok {
		return false
	}
	delete(t.table, name)
	t.bumpLocked()
	return true
}

// All returns every config, sorted by name.
func (t *Topics) All() []TopicConfig {
	t.mu.RLock()
	all := make([]TopicConfig, 0, len(t.table))
	for _, c := range t.table {
		all = append(all, c)
	}
	t.mu.RUnlock()
	slices.SortFunc(all, func(a, b TopicConfig) int { return strings.Compare(a.TopicName, b.TopicName) })
	return all
}

// Len returns the number of topics.
func (t *Topics) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.table)
}

// DataVersion returns the current data version.
func (t *Topics) DataVersion() DataVersion {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.version
}

// Encode returns the table as topics.json (the body of
// GET_ALL_TOPIC_CONFIG for a slave).
func (t *Topics) Encode() ([]byte, error) {
	t.mu.RLock()
	f := t.snapshotLocked()
	t.mu.RUnlock()
	return marshal(f)
}

// Decode replaces the whole table, data version included, with the JSON
// of a topics.json (fastjson's bare keys accepted) and marks it for the
// next Persist. On error the table is unchanged.
func (t *Topics) Decode(data []byte) error {
	table, version, err := decodeTopics(quoteKeys(data))
	if err != nil {
		return fmt.Errorf("meta: cannot decode %s: %w", TopicsFile, err)
	}
	t.mu.Lock()
	t.table, t.version = table, version
	t.changes.bump()
	t.mu.Unlock()
	return nil
}

func (t *Topics) bumpLocked() {
	t.version.next(t.file.now())
	t.changes.bump()
}

func (t *Topics) snapshotLocked() topicsFile {
	f := topicsFile{DataVersion: t.version, TopicConfigTable: make(map[string]TopicConfig, len(t.table))}
	for k, v := range t.table {
		f.TopicConfigTable[k] = v
	}
	return f
}

func decodeTopics(data []byte) (map[string]TopicConfig, DataVersion, error) {
	var f topicsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, DataVersion{}, err
	}
	table := make(map[string]TopicConfig, len(f.TopicConfigTable))
	for name, c := range f.TopicConfigTable {
		// The map key is what Java looks topics up by; an entry that
		// does not repeat it inside still belongs to it.
		if c.TopicName == "" {
			c.TopicName = name
		}
		if c.Attributes == nil {
			c.Attributes = map[string]string{}
		}
		table[name] = c
	}
	return table, f.DataVersion, nil
}

func (t *Topics) metaFile() *file { return t.file }

func (t *Topics) load(data []byte) error {
	table, version, err := decodeTopics(data)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.table, t.version = table, version
	t.changes.clean()
	t.mu.Unlock()
	return nil
}

func (t *Topics) encodeIfDirty() ([]byte, uint64, bool, error) {
	t.mu.RLock()
	if !t.changes.dirty() {
		t.mu.RUnlock()
		return nil, 0, false, nil
	}
	f, n := t.snapshotLocked(), t.changes.n
	t.mu.RUnlock()
	data, err := marshal(f)
	return data, n, true, err
}

func (t *Topics) markSaved(n uint64) {
	t.mu.Lock()
	t.changes.mark(n)
	t.mu.Unlock()
}

// ValidName reports whether s is a legal topic or group name for RocketMQ
// clients: one or more of [%|a-zA-Z0-9_-] (TopicValidator's pattern).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '%', c == '|', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
