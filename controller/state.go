package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// group is the replicated state of one broker group (brokerName). It
// changes only through fsm.apply, on every controller in log order.
type group struct {
	ClusterName       string            `json:"clusterName"`
	BrokerName        string            `json:"brokerName"`
	Brokers           map[int64]*broker `json:"brokers"`
	MasterID          int64             `json:"masterId"` // -1: none
	MasterEpoch       int32             `json:"masterEpoch"`
	SyncStateSet      []int64           `json:"syncStateSet"` // sorted; contains MasterID when there is one
	SyncStateSetEpoch int32             `json:"syncStateSetEpoch"`
	Note              string            `json:"note,omitempty"`
}

type broker struct {
	Addr   string `json:"addr"`
	HAAddr string `json:"haAddr"`
}

func newGroup(cluster, name string) *group {
	return &group{ClusterName: cluster, BrokerName: name, Brokers: map[int64]*broker{}, MasterID: -1}
}

func (g *group) clone() *group {
	c := *g
	c.Brokers = make(map[int64]*broker, len(g.Brokers))
	for id, b := range g.Brokers {
		bb := *b
		c.Brokers[id] = &bb
	}
	c.SyncStateSet = slices.Clone(g.SyncStateSet)
	return &c
}

func (g *group) inSet(id int64) bool {
	_, ok := slices.BinarySearch(g.SyncStateSet, id)
	return ok
}

// neverHadMaster is the state in which the first broker to heartbeat
// becomes master: no master was ever elected (a group that lost its
// master has MasterEpoch > 0 and waits for a member of its set).
func (g *group) neverHadMaster() bool { return g.MasterID < 0 && g.MasterEpoch == 0 }

// Log entry kinds. The entry is one kind byte followed by the JSON of the
// command; the kinds are part of the durable log format and never change
// meaning.
const (
	kindRegister byte = 1
	kindElect    byte = 2
	kindAlter    byte = 3
)

// registerCmd adds a broker to its group or updates its addresses.
type registerCmd struct {
	ClusterName string `json:"clusterName"`
	BrokerName  string `json:"brokerName"`
	ID          int64  `json:"id"`
	Addr        string `json:"addr"`
	HAAddr      string `json:"haAddr"`
}

// electCmd installs NewMaster (-1: none, with Note saying why) if the
// group is still at ExpectMasterEpoch. Liveness is not replicated, so the
// leader decides and the log carries the decision; the epoch check makes
// a decision taken on a state that changed meanwhile (a leader change, a
// concurrent request) a no-op instead of a second election.
type electCmd struct {
	BrokerName        string `json:"brokerName"`
	NewMaster         int64  `json:"newMaster"`
	ExpectMasterEpoch int32  `json:"expectMasterEpoch"`
	Note              string `json:"note,omitempty"`
}

// alterCmd replaces the SyncStateSet on behalf of the master MasterID at
// MasterEpoch, if the set is still at ExpectSetEpoch.
type alterCmd struct {
	BrokerName     string  `json:"brokerName"`
	MasterID       int64   `json:"masterId"`
	MasterEpoch    int32   `json:"masterEpoch"`
	ExpectSetEpoch int32   `json:"expectSetEpoch"`
	NewSet         []int64 `json:"newSet"`
}

func encodeCmd(kind byte, cmd any) []byte {
	b, err := json.Marshal(cmd)
	if err != nil {
		panic(fmt.Sprintf("controller: cannot encode command: %v", err)) // plain structs always encode
	}
	return append([]byte{kind}, b...)
}

// Error is a refusal with a RocketMQ controller response code
// (remoting.ResController*), as the controller answers it and as Client
// returns it.
type Error struct {
	Code   int32
	Remark string
}

func (e *Error) Error() string {
	return fmt.Sprintf("controller: %s (code %d)", e.Remark, e.Code)
}

func refuse(code int32, format string, args ...any) *Error {
	return &Error{Code: code, Remark: fmt.Sprintf(format, args...)}
}

// fsm is the replicated state machine: every group by name. raft calls
// Apply, Snapshot and Restore on one goroutine; readers on other
// goroutines take mu for reading.
type fsm struct {
	mu     sync.RWMutex
	groups map[string]*group // guarded by mu
}

func newFSM() *fsm { return &fsm{groups: map[string]*group{}} }

// group returns a copy of the named group's state.
func (f *fsm) group(name string) (*group, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return nil, false
	}
	return g.clone(), true
}

// all returns copies of every group, sorted by name.
func (f *fsm) all() []*group {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*group, 0, len(f.groups))
	for _, name := range slices.Sorted(maps.Keys(f.groups)) {
		out = append(out, f.groups[name].clone())
	}
	return out
}

// Apply implements raft.FSM. Its result (nil or *Error) is what the
// leader's ApplyFuture.Response returns; followers ignore it.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.apply(l.Data)
}

func (f *fsm) apply(data []byte) error {
	if len(data) == 0 {
		return refuse(remoting.ResControllerInvalidRequest, "empty log entry")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch data[0] {
	case kindRegister:
		var c registerCmd
		if err := json.Unmarshal(data[1:], &c); err != nil {
			return refuse(remoting.ResControllerInvalidRequest, "bad register entry: %v", err)
		}
		return f.registerLocked(c)
	case kindElect:
		var c electCmd
		if err := json.Unmarshal(data[1:], &c); err != nil {
			return refuse(remoting.ResControllerInvalidRequest, "bad elect entry: %v", err)
		}
		return f.electLocked(c)
	case kindAlter:
		var c alterCmd
		if err := json.Unmarshal(data[1:], &c); err != nil {
			return refuse(remoting.ResControllerInvalidRequest, "bad alter entry: %v", err)
		}
		return f.alterLocked(c)
	default:
		// An entry of a newer version: skipping it on every replica keeps
		// them identical.
		return refuse(remoting.ResControllerInvalidRequest, "unknown log entry kind %d", data[0])
	}
}

func (f *fsm) registerLocked(c registerCmd) error {
	g := f.groups[c.BrokerName]
	if g == nil {
		g = newGroup(c.ClusterName, c.BrokerName)
		f.groups[c.BrokerName] = g
	}
	if c.ClusterName != "" {
		g.ClusterName = c.ClusterName
	}
	g.Brokers[c.ID] = &broker{Addr: c.Addr, HAAddr: c.HAAddr}
	return nil
}

func (f *fsm) electLocked(c electCmd) error {
	g := f.groups[c.BrokerName]
	if g == nil {
		return refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", c.BrokerName)
	}
	if g.MasterEpoch != c.ExpectMasterEpoch {
		return refuse(remoting.ResControllerFencedMasterEpoch,
			"election decided at master epoch %d, group %q is at %d", c.ExpectMasterEpoch, c.BrokerName, g.MasterEpoch)
	}
	if c.NewMaster < 0 {
		// RocketMQ bumps the epoch when the master is removed too: an old
		// master that was only cut off is then fenced when it returns.
		// The set stays: its members are the ones that may be elected.
		if g.MasterID >= 0 {
			g.MasterEpoch++
		}
		g.MasterID = -1
		g.Note = c.Note
		return nil
	}
	if _, ok := g.Brokers[c.NewMaster]; !ok {
		return refuse(remoting.ResControllerInvalidReplicas, "broker %d is not registered in group %q", c.NewMaster, c.BrokerName)
	}
	g.MasterID = c.NewMaster
	g.MasterEpoch++
	g.SyncStateSet = []int64{c.NewMaster}
	g.SyncStateSetEpoch++
	g.Note = ""
	return nil
}

func (f *fsm) alterLocked(c alterCmd) error {
	g := f.groups[c.BrokerName]
	if g == nil {
		return refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", c.BrokerName)
	}
	if err := checkAlter(g, c.MasterID, c.MasterEpoch, c.NewSet); err != nil {
		return err
	}
	if g.SyncStateSetEpoch != c.ExpectSetEpoch {
		return refuse(remoting.ResControllerFencedSyncStateSetEpoch,
			"sync state set changed at epoch %d, group %q is at %d", c.ExpectSetEpoch, c.BrokerName, g.SyncStateSetEpoch)
	}
	g.SyncStateSet = normalizeSet(c.NewSet)
	g.SyncStateSetEpoch++
	return nil
}

// checkAlter holds the rules of an AlterSyncStateSet that depend on the
// replicated state only (liveness is the leader's check): the caller must
// be the master at the current epoch, and the new set must keep the master
// and name registered brokers only.
func checkAlter(g *group, masterID int64, masterEpoch int32, newSet []int64) error {
	if masterEpoch != g.MasterEpoch {
		return refuse(remoting.ResControllerFencedMasterEpoch,
			"master epoch %d is stale, group %q is at epoch %d with master %d", masterEpoch, g.BrokerName, g.MasterEpoch, g.MasterID)
	}
	if g.MasterID < 0 || masterID != g.MasterID {
		return refuse(remoting.ResControllerInvalidMaster,
			"broker %d is not the master of group %q (master is %d)", masterID, g.BrokerName, g.MasterID)
	}
	if !slices.Contains(newSet, masterID) {
		return refuse(remoting.ResControllerInvalidReplicas, "new sync state set %v leaves out the master %d", newSet, masterID)
	}
	for _, id := range newSet {
		if _, ok := g.Brokers[id]; !ok {
			return refuse(remoting.ResControllerInvalidReplicas, "broker %d of the new sync state set is not registered", id)
		}
	}
	return nil
}

func normalizeSet(ids []int64) []int64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

// Snapshot implements raft.FSM: a copy of every group, written as JSON by
// Persist on raft's snapshot goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	groups := make(map[string]*group, len(f.groups))
	for name, g := range f.groups {
		groups[name] = g.clone()
	}
	return &fsmSnapshot{groups: groups}, nil
}

// snapshotFile is the snapshot format. Version lets a later format be
// told apart.
type snapshotFile struct {
	Version int               `json:"version"`
	Groups  map[string]*group `json:"groups"`
}

// Restore implements raft.FSM: it replaces the whole state.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotFile
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("controller: cannot read snapshot: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("controller: snapshot version %d, want 1", s.Version)
	}
	if s.Groups == nil {
		s.Groups = map[string]*group{}
	}
	for _, g := range s.Groups {
		if g.Brokers == nil {
			g.Brokers = map[int64]*broker{}
		}
	}
	f.mu.Lock()
	f.groups = s.Groups
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct{ groups map[string]*group }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := json.NewEncoder(sink).Encode(snapshotFile{Version: 1, Groups: s.groups})
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("controller: cannot write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
