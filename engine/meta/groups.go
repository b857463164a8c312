package meta

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// SubscriptionGroupConfig is one entry of subscriptionGroup.json (RocketMQ
// remoting/protocol/subscription/SubscriptionGroupConfig).
//
// GroupRetryPolicy and SubscriptionDataSet are 5.x fields Gannet does not
// interpret; they are kept as compact JSON so that a file moved from a
// 5.x broker keeps them. Attributes, GroupRetryPolicy and
// SubscriptionDataSet of a config returned by Get or All are shared with
// the table and must be treated as read-only; Put stores its own copies
// (and drops raw values that are not valid JSON).
type SubscriptionGroupConfig struct {
	GroupName                      string            `json:"groupName"`
	ConsumeEnable                  bool              `json:"consumeEnable"`
	ConsumeFromMinEnable           bool              `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool              `json:"consumeBroadcastEnable"`
	ConsumeMessageOrderly          bool              `json:"consumeMessageOrderly"`
	RetryQueueNums                 int32             `json:"retryQueueNums"`
	RetryMaxTimes                  int32             `json:"retryMaxTimes"`
	BrokerID                       int64             `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64             `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIdsChangedEnable bool              `json:"notifyConsumerIdsChangedEnable"`
	GroupSysFlag                   int32             `json:"groupSysFlag"`
	ConsumeTimeoutMinute           int32             `json:"consumeTimeoutMinute"`
	GroupRetryPolicy               json.RawMessage   `json:"groupRetryPolicy,omitempty"`
	SubscriptionDataSet            json.RawMessage   `json:"subscriptionDataSet,omitempty"`
	Attributes                     map[string]string `json:"attributes"`
}

// NewSubscriptionGroupConfig returns the config of group name with the
// Java defaults, the one RocketMQ auto-creates on first use.
func NewSubscriptionGroupConfig(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName:                      name,
		ConsumeEnable:                  true,
		ConsumeFromMinEnable:           true,
		ConsumeBroadcastEnable:         true,
		ConsumeMessageOrderly:          false,
		RetryQueueNums:                 1,
		RetryMaxTimes:                  16,
		BrokerID:                       0, // MixAll.MASTER_ID
		WhichBrokerWhenConsumeSlowly:   1,
		NotifyConsumerIdsChangedEnable: true,
		GroupSysFlag:                   0,
		ConsumeTimeoutMinute:           15,
		Attributes:                     map[string]string{},
	}
}

// UnmarshalJSON starts from the Java defaults, so an entry that leaves
// out consumeEnable still means a group that may consume.
func (c *SubscriptionGroupConfig) UnmarshalJSON(b []byte) error {
	type plain SubscriptionGroupConfig // no methods: no recursion
	p := plain(NewSubscriptionGroupConfig(""))
	p.Attributes = nil
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = SubscriptionGroupConfig(p)
	c.GroupRetryPolicy = compactRaw(c.GroupRetryPolicy)
	c.SubscriptionDataSet = compactRaw(c.SubscriptionDataSet)
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	return nil
}

// groupsFile is the JSON of subscriptionGroup.json. forbiddenTable (5.x:
// group → topic → forbidden permission bits) is carried through unread.
type groupsFile struct {
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	ForbiddenTable         json.RawMessage                    `json:"forbiddenTable"`
	DataVersion            DataVersion                        `json:"dataVersion"`
}

var emptyObject = json.RawMessage(`{}`)

// SubscriptionGroups is the consumer group table, persisted as
// subscriptionGroup.json.
type SubscriptionGroups struct {
	file *file

	// mu guards the fields below. Stored configs' maps and raw JSON are
	// never mutated (Put installs fresh copies), so they may be read after
	// mu is released.
	mu        sync.RWMutex
	table     map[string]SubscriptionGroupConfig
	forbidden json.RawMessage // compact JSON, never nil
	version   DataVersion
	changes   changes
}

func newSubscriptionGroups(f *file) *SubscriptionGroups {
	return &SubscriptionGroups{
		file:      f,
		table:     map[string]SubscriptionGroupConfig{},
		forbidden: emptyObject,
		version:   DataVersion{Timestamp: f.now()},
	}
}

// Get returns the config of group name.
func (g *SubscriptionGroups) Get(name string) (SubscriptionGroupConfig, bool) {
	g.mu.RLock()
	c, ok := g.table[name]
	g.mu.RUnlock()
	return c, ok
}

// GetOrCreate returns the config of group name, first storing
// NewSubscriptionGroupConfig(name) if there is none (RocketMQ's
// autoCreateSubscriptionGroup), and reports whether it created it. Doing
// both under one lock keeps two first users from racing.
func (g *SubscriptionGroups) GetOrCreate(name string) (SubscriptionGroupConfig, bool) {
	if c, ok := g.Get(name); ok {
		return c, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.table[name]; ok {
		return c, false
	}
	c := NewSubscriptionGroupConfig(name)
	g.table[name] = c
	g.bumpLocked()
	return c, true
}

// Put adds or replaces the config of c.GroupName and bumps the data
// version. Names are the caller's to validate.
func (g *SubscriptionGroups) Put(c SubscriptionGroupConfig) {
	c.Attributes = cloneStrings(c.Attributes)
	c.GroupRetryPolicy = compactRaw(c.GroupRetryPolicy)
	c.SubscriptionDataSet = compactRaw(c.SubscriptionDataSet)
	g.mu.Lock()
	g.table[c.GroupName] = c
	g.bumpLocked()
	g.mu.Unlock()
}

// Delete removes group name and reports whether it was there.
func (g *SubscriptionGroups) Delete(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.table[name]; !ok {
		return false
	}
	delete(g.table, name)
	g.bumpLocked()
	return true
}

// All returns every config, sorted by name.
func (g *SubscriptionGroups) All() []SubscriptionGroupConfig {
	g.mu.RLock()
	all := make([]SubscriptionGroupConfig, 0, len(g.table))
	for _, c := range g.table {
		all = append(all, c)
	}
	g.mu.RUnlock()
	slices.SortFunc(all, func(a, b SubscriptionGroupConfig) int { return strings.Compare(a.GroupName, b.GroupName) })
	return all
}

// DataVersion returns the current data version.
func (g *SubscriptionGroups) DataVersion() DataVersion {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.version
}

// Encode returns the table as subscriptionGroup.json (the body of
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG for a slave).
func (g *SubscriptionGroups) Encode() ([]byte, error) {
	g.mu.RLock()
	f := g.snapshotLocked()
	g.mu.RUnlock()
	return marshal(f)
}

// Decode replaces the whole table, data version included, with the JSON
// of a subscriptionGroup.json (fastjson's bare keys accepted) and marks it
// for the next Persist. On error the table is unchanged.
func (g *SubscriptionGroups) Decode(data []byte) error {
	f, err := decodeGroups(quoteKeys(data))
	if err != nil {
		return fmt.Errorf("meta: cannot decode %s: %w", SubscriptionGroupFile, err)
	}
	g.mu.Lock()
	g.table, g.forbidden, g.version = f.SubscriptionGroupTable, f.ForbiddenTable, f.DataVersion
	g.changes.bump()
	g.mu.Unlock()
	return nil
}

func (g *SubscriptionGroups) bumpLocked() {
	g.version.next(g.file.now())
	g.changes.bump()
}

func (g *SubscriptionGroups) snapshotLocked() groupsFile {
	f := groupsFile{
		SubscriptionGroupTable: make(map[string]SubscriptionGroupConfig, len(g.table)),
		ForbiddenTable:         g.forbidden,
		DataVersion:            g.version,
	}
	for k, v := range g.table {
		f.SubscriptionGroupTable[k] = v
	}
	return f
}

// decodeGroups parses a file and normalises it the way the table keeps
// it: entries named by their key if they do not name themselves, and the
// forbidden table compact and never null.
func decodeGroups(data []byte) (groupsFile, error) {
	var f groupsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return f, err
	}
	table := make(map[string]SubscriptionGroupConfig, len(f.SubscriptionGroupTable))
	for name, c := range f.SubscriptionGroupTable {
		if c.GroupName == "" {
			c.GroupName = name
		}
		table[name] = c
	}
	f.SubscriptionGroupTable = table
	if f.ForbiddenTable = compactRaw(f.ForbiddenTable); f.ForbiddenTable == nil {
		f.ForbiddenTable = emptyObject
	}
	return f, nil
}

func (g *SubscriptionGroups) metaFile() *file { return g.file }

func (g *SubscriptionGroups) load(data []byte) error {
	f, err := decodeGroups(data)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.table, g.forbidden, g.version = f.SubscriptionGroupTable, f.ForbiddenTable, f.DataVersion
	g.changes.clean()
	g.mu.Unlock()
	return nil
}

func (g *SubscriptionGroups) encodeIfDirty() ([]byte, uint64, bool, error) {
	g.mu.RLock()
	if !g.changes.dirty() {
		g.mu.RUnlock()
		return nil, 0, false, nil
	}
	f, n := g.snapshotLocked(), g.changes.n
	g.mu.RUnlock()
	data, err := marshal(f)
	return data, n, true, err
}

func (g *SubscriptionGroups) markSaved(n uint64) {
	g.mu.Lock()
	g.changes.mark(n)
	g.mu.Unlock()
}
