package namesrv

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// Permission bits of QueueData.Perm and TopicConfig.Perm
// (R:common/…/common/constant/PermName.java).
const (
	PermInherit  = 1 // only meaningful for template topics such as TBW102
	PermWrite    = 2
	PermRead     = 4
	PermPriority = 8
)

// MasterID is the brokerId of a master; slaves have ids 1, 2, …
const MasterID = int64(0)

// DefaultBrokerTimeout is how long a broker may stay silent before the name
// server forgets it (DEFAULT_BROKER_CHANNEL_EXPIRED_TIME in RouteInfoManager).
const DefaultBrokerTimeout = 120 * time.Second

// DataVersion is the broker's topic-config version. Two versions are equal
// when all three fields are (DataVersion.equals in the Java broker).
type DataVersion struct {
	StateVersion int64
	Timestamp    int64
	Counter      int64
}

// TopicConfig is the part of a broker's topic config the name server keeps.
type TopicConfig struct {
	TopicName      string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32
	TopicSysFlag   int32
}

// QueueData is one broker name's share of a topic.
type QueueData struct {
	BrokerName     string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32
	TopicSysFlag   int32
}

// BrokerData is one broker name (a master and its slaves).
type BrokerData struct {
	Cluster    string
	BrokerName string
	// BrokerAddrs maps brokerId to "ip:port"; id 0 is the master.
	BrokerAddrs        map[int64]string
	ZoneName           string // 5.x, empty when the broker sent none
	EnableActingMaster bool
}

func (b BrokerData) clone() BrokerData {
	c := b
	c.BrokerAddrs = make(map[int64]string, len(b.BrokerAddrs))
	for id, addr := range b.BrokerAddrs {
		c.BrokerAddrs[id] = addr
	}
	return c
}

// TopicRouteData is the answer to GET_ROUTEINFO_BY_TOPIC: the queue data of
// every broker name hosting the topic and the live addresses of those
// broker names. Both slices are sorted by broker name.
type TopicRouteData struct {
	OrderTopicConf    string // empty unless an order config was set
	QueueDatas        []QueueData
	BrokerDatas       []BrokerData
	FilterServerTable map[string][]string // brokerAddr → filter servers; legacy, usually empty
}

// ClusterInfo is the answer to GET_BROKER_CLUSTER_INFO.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData // brokerName →
	ClusterAddrTable map[string][]string   // clusterName → sorted broker names
}

// Registration is one REGISTER_BROKER request, decoded.
type Registration struct {
	ClusterName  string
	BrokerName   string
	BrokerAddr   string // "ip:port" clients connect to
	BrokerID     int64  // 0 = master
	HAServerAddr string // "ip:port" slaves replicate from
	ZoneName     string
	// HeartbeatTimeout is the broker's own liveness timeout; 0 means the
	// timeout passed to ScanExpired.
	HeartbeatTimeout time.Duration
	// EnableActingMaster is nil for brokers older than 5.0, which do not
	// send the field.
	EnableActingMaster *bool
	DataVersion        DataVersion
	Topics             []TopicConfig
	// FilterServers replaces the broker's filter server list; nil leaves
	// it as it was.
	FilterServers []string
	// Conn is the broker's connection; OnDisconnect of this connection
	// unregisters the broker. May be nil.
	Conn remoting.Conn
}

// RegisterResult tells a slave where its master is. Both fields are empty
// for a master or while no live master is registered.
type RegisterResult struct {
	MasterAddr   string
	HAServerAddr string
}

// RemovedBroker is a broker address ScanExpired or RemoveConn removed.
type RemovedBroker struct {
	ClusterName string
	BrokerName  string
	BrokerAddr  string
	BrokerID    int64
	Conn        remoting.Conn // the broker's last connection, may be nil
}

// errRegisterRefused is RouteInfoManager's refusal of a single-topic
// (incremental) registration from a broker id that never registered fully.
var errRegisterRefused = errors.New("register broker failed")

// liveBroker is what the name server knows about one registered address.
type liveBroker struct {
	clusterName  string
	lastUpdate   time.Time
	timeout      time.Duration // 0 = the scan's default
	dataVersion  DataVersion
	haServerAddr string
	conn         remoting.Conn
}

// RouteTable holds the name server's whole state. It is safe for
// concurrent use.
//
// Lock order: mu is the only lock; no method calls out (no Send, no Close,
// no logging) while holding it.
type RouteTable struct {
	// mu guards every field below. Readers (Route, ClusterInfo, AllTopics,
	// …) take it shared and copy what they return; registrations, expiry
	// and deletions take it exclusively.
	mu sync.RWMutex

	brokers       map[string]*BrokerData          // brokerName →
	clusters      map[string]map[string]struct{}  // clusterName → broker names
	topics        map[string]map[string]QueueData // topic → brokerName →
	live          map[string]*liveBroker          // brokerAddr →
	filterServers map[string][]string             // brokerAddr →
}

// NewRouteTable returns an empty table.
func NewRouteTable() *RouteTable {
	return &RouteTable{
		brokers:       make(map[string]*BrokerData),
		clusters:      make(map[string]map[string]struct{}),
		topics:        make(map[string]map[string]QueueData),
		live:          make(map[string]*liveBroker),
		filterServers: make(map[string][]string),
	}
}

// RegisterBroker records a broker registration received at now, following
// RouteInfoManager.registerBroker (5.x):
//   - the broker name joins its cluster, and its address is stored under its
//     id (the same address under another id is dropped first: a slave that
//     became master);
//   - the queue data of the broker's topics are (re)built only from the
//     master (or, for 5.x brokers with acting master enabled, from the
//     lowest-id slave while no master is registered, without write
//     permission), and only on the first registration of that address, when
//     the data version changed, or for topics the table lacks;
//   - a single-topic registration from an id not registered yet is refused
//     with errRegisterRefused.
func (t *RouteTable) RegisterBroker(reg Registration, now time.Time) (RegisterResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var result RegisterResult

	names := t.clusters[reg.ClusterName]
	if names == nil {
		names = make(map[string]struct{})
		t.clusters[reg.ClusterName] = names
	}
	names[reg.BrokerName] = struct{}{}

	registerFirst := false
	bd := t.brokers[reg.BrokerName]
	if bd == nil {
		registerFirst = true
		bd = &BrokerData{Cluster: reg.ClusterName, BrokerName: reg.BrokerName, BrokerAddrs: make(map[int64]string)}
		t.brokers[reg.BrokerName] = bd
	}
	oldVersionBroker := reg.EnableActingMaster == nil
	bd.EnableActingMaster = !oldVersionBroker && *reg.EnableActingMaster
	bd.ZoneName = reg.ZoneName

	// The same address must appear under one id only.
	for id, addr := range bd.BrokerAddrs {
		if addr == reg.BrokerAddr && id != reg.BrokerID {
			delete(bd.BrokerAddrs, id)
		}
	}

	// Another address already holds this id: the one with the larger
	// stateVersion wins.
	if old, ok := bd.BrokerAddrs[reg.BrokerID]; ok && old != reg.BrokerAddr {
		if oldLive := t.live[old]; oldLive != nil && oldLive.dataVersion.StateVersion > reg.DataVersion.StateVersion {
			delete(t.live, reg.BrokerAddr)
			return result, nil
		}
	}

	if _, ok := bd.BrokerAddrs[reg.BrokerID]; !ok && len(reg.Topics) == 1 {
		return result, errRegisterRefused
	}

	old := bd.BrokerAddrs[reg.BrokerID]
	bd.BrokerAddrs[reg.BrokerID] = reg.BrokerAddr
	registerFirst = registerFirst || old == ""

	isMaster := reg.BrokerID == MasterID
	isPrimeSlave := !oldVersionBroker && !isMaster && reg.BrokerID == minID(bd.BrokerAddrs)
	if isMaster || isPrimeSlave {
		prev := t.live[reg.BrokerAddr]
		versionChanged := prev == nil || prev.dataVersion != reg.DataVersion
		for _, tc := range reg.Topics {
			if !registerFirst && !versionChanged && t.hasQueueDataLocked(tc.TopicName, reg.BrokerName) {
				continue
			}
			perm := tc.Perm
			if isPrimeSlave {
				perm &^= PermWrite
			}
			t.putQueueDataLocked(tc.TopicName, QueueData{
				BrokerName:     reg.BrokerName,
				ReadQueueNums:  tc.ReadQueueNums,
				WriteQueueNums: tc.WriteQueueNums,
				Perm:           perm,
				TopicSysFlag:   tc.TopicSysFlag,
			})
		}
	}

	t.live[reg.BrokerAddr] = &liveBroker{
		clusterName:  reg.ClusterName,
		lastUpdate:   now,
		timeout:      reg.HeartbeatTimeout,
		dataVersion:  reg.DataVersion,
		haServerAddr: reg.HAServerAddr,
		conn:         reg.Conn,
	}

	if reg.FilterServers != nil {
		if len(reg.FilterServers) == 0 {
			delete(t.filterServers, reg.BrokerAddr)
		} else {
			t.filterServers[reg.BrokerAddr] = slices.Clone(reg.FilterServers)
		}
	}

	if !isMaster {
		if masterAddr, ok := bd.BrokerAddrs[MasterID]; ok {
			if ml := t.live[masterAddr]; ml != nil {
				result.MasterAddr = masterAddr
				result.HAServerAddr = ml.haServerAddr
			}
		}
	}
	return result, nil
}

func minID(addrs map[int64]string) int64 {
	first := true
	var m int64
	for id := range addrs {
		if first || id < m {
			m, first = id, false
		}
	}
	return m
}

func (t *RouteTable) hasQueueDataLocked(topic, brokerName string) bool {
	_, ok := t.topics[topic][brokerName]
	return ok
}

func (t *RouteTable) putQueueDataLocked(topic string, qd QueueData) {
	m := t.topics[topic]
	if m == nil {
		m = make(map[string]QueueData)
		t.topics[topic] = m
	}
	m[qd.BrokerName] = qd
}

// UnregisterBroker removes one broker address (UNREGISTER_BROKER, or a
// broker found dead). When it was the last address of its broker name, the
// name leaves its cluster and the topics lose that broker's queue data;
// topics left without queue data disappear. A master whose slaves remain
// keeps its queue data: consumers still read from the slaves, and clients
// do not publish to a broker name without a master address.
func (t *RouteTable) UnregisterBroker(clusterName, brokerAddr, brokerName string, brokerID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unregisterLocked(clusterName, brokerAddr, brokerName)
}

func (t *RouteTable) unregisterLocked(clusterName, brokerAddr, brokerName string) {
	delete(t.live, brokerAddr)
	delete(t.filterServers, brokerAddr)

	bd := t.brokers[brokerName]
	if bd == nil {
		return
	}
	// RouteInfoManager.unRegisterBroker removes by address, not by id.
	for id, addr := range bd.BrokerAddrs {
		if addr == brokerAddr {
			delete(bd.BrokerAddrs, id)
		}
	}
	if len(bd.BrokerAddrs) > 0 {
		if bd.EnableActingMaster {
			if _, ok := bd.BrokerAddrs[MasterID]; !ok {
				// No master left: the acting master serves reads only.
				for _, m := range t.topics {
					if qd, ok := m[brokerName]; ok {
						qd.Perm &^= PermWrite
						m[brokerName] = qd
					}
				}
			}
		}
		return
	}
	delete(t.brokers, brokerName)
	if names := t.clusters[clusterName]; names != nil {
		delete(names, brokerName)
		if len(names) == 0 {
			delete(t.clusters, clusterName)
		}
	}
	for topic, m := range t.topics {
		delete(m, brokerName)
		if len(m) == 0 {
			delete(t.topics, topic)
		}
	}
}

// brokerOfAddrLocked finds the broker name and id an address is registered
// under within a cluster (RouteInfoManager.setupUnRegisterRequest).
func (t *RouteTable) brokerOfAddrLocked(clusterName, addr string) (name string, id int64, ok bool) {
	for _, bd := range t.brokers {
		if bd.Cluster != clusterName {
			continue
		}
		for i, a := range bd.BrokerAddrs {
			if a == addr {
				return bd.BrokerName, i, true
			}
		}
	}
	return "", 0, false
}

// ScanExpired removes every broker whose last registration or heartbeat is
// older than its own heartbeat timeout, or than timeout when it stated
// none, and returns them so the caller can close their connections.
func (t *RouteTable) ScanExpired(now time.Time, timeout time.Duration) []RemovedBroker {
	if timeout <= 0 {
		timeout = DefaultBrokerTimeout
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []RemovedBroker
	for addr, lb := range t.live {
		limit := lb.timeout
		if limit <= 0 {
			limit = timeout
		}
		if now.Sub(lb.lastUpdate) <= limit {
			continue
		}
		out = append(out, t.removeLiveLocked(addr, lb))
	}
	slices.SortFunc(out, func(a, b RemovedBroker) int {
		if a.BrokerAddr < b.BrokerAddr {
			return -1
		}
		if a.BrokerAddr > b.BrokerAddr {
			return 1
		}
		return 0
	})
	return out
}

func (t *RouteTable) removeLiveLocked(addr string, lb *liveBroker) RemovedBroker {
	e := RemovedBroker{ClusterName: lb.clusterName, BrokerAddr: addr, Conn: lb.conn}
	if name, id, ok := t.brokerOfAddrLocked(lb.clusterName, addr); ok {
		e.BrokerName, e.BrokerID = name, id
		t.unregisterLocked(lb.clusterName, addr, name)
	} else {
		delete(t.live, addr)
		delete(t.filterServers, addr)
	}
	return e
}

// RemoveConn unregisters every broker whose registration came over conn
// (BrokerHousekeepingService: a closed broker connection removes the
// broker at once). A broker that re-registered over another connection
// since is left alone.
func (t *RouteTable) RemoveConn(conn remoting.Conn) []RemovedBroker {
	if conn == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []RemovedBroker
	for addr, lb := range t.live {
		if lb.conn == conn {
			out = append(out, t.removeLiveLocked(addr, lb))
		}
	}
	return out
}

// Heartbeat refreshes the liveness of a registered address
// (BROKER_HEARTBEAT). It reports whether the address was known.
func (t *RouteTable) Heartbeat(brokerAddr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	lb := t.live[brokerAddr]
	if lb == nil {
		return false
	}
	lb.lastUpdate = now
	return true
}

// QueryDataVersion answers QUERY_DATA_VERSION: changed is true when the
// name server holds no version for the address or a different one; when
// unchanged, the query counts as a heartbeat. current is the stored
// version, nil when the address is unknown.
func (t *RouteTable) QueryDataVersion(brokerAddr string, dv DataVersion, now time.Time) (changed bool, current *DataVersion) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lb := t.live[brokerAddr]
	if lb == nil {
		return true, nil
	}
	if lb.dataVersion == dv {
		lb.lastUpdate = now
	} else {
		changed = true
	}
	cur := lb.dataVersion
	return changed, &cur
}

// Route assembles the route of a topic (pickupTopicRouteData): all its
// queue data, and a copy of the broker data of each broker name they
// mention. ok is false when the topic has no queue data or none of its
// broker names is registered any more.
func (t *RouteTable) Route(topic string) (rd TopicRouteData, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := t.topics[topic]
	if len(m) == 0 {
		return rd, false
	}
	rd.QueueDatas = make([]QueueData, 0, len(m))
	rd.FilterServerTable = map[string][]string{}
	for name, qd := range m {
		rd.QueueDatas = append(rd.QueueDatas, qd)
		bd := t.brokers[name]
		if bd == nil {
			continue
		}
		c := bd.clone()
		rd.BrokerDatas = append(rd.BrokerDatas, c)
		if len(t.filterServers) == 0 {
			continue
		}
		for _, addr := range c.BrokerAddrs {
			if fs := t.filterServers[addr]; len(fs) > 0 {
				rd.FilterServerTable[addr] = slices.Clone(fs)
			}
		}
	}
	if len(rd.BrokerDatas) == 0 {
		return TopicRouteData{}, false
	}
	slices.SortFunc(rd.QueueDatas, func(a, b QueueData) int { return cmp.Compare(a.BrokerName, b.BrokerName) })
	slices.SortFunc(rd.BrokerDatas, func(a, b BrokerData) int { return cmp.Compare(a.BrokerName, b.BrokerName) })
	return rd, true
}

// ClusterInfo returns a copy of every registered broker name and cluster.
func (t *RouteTable) ClusterInfo() ClusterInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ci := ClusterInfo{
		BrokerAddrTable:  make(map[string]BrokerData, len(t.brokers)),
		ClusterAddrTable: make(map[string][]string, len(t.clusters)),
	}
	for name, bd := range t.brokers {
		ci.BrokerAddrTable[name] = bd.clone()
	}
	for cluster, names := range t.clusters {
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		slices.Sort(list)
		ci.ClusterAddrTable[cluster] = list
	}
	return ci
}

// BrokerMember returns a copy of one broker name's addresses
// (GET_BROKER_MEMBER_GROUP); ok is false when the name is unknown.
func (t *RouteTable) BrokerMember(brokerName string) (bd BrokerData, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	b := t.brokers[brokerName]
	if b == nil {
		return BrokerData{}, false
	}
	return b.clone(), true
}

// AllTopics returns every topic with queue data, sorted.
func (t *RouteTable) AllTopics() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.topics))
	for topic := range t.topics {
		out = append(out, topic)
	}
	slices.Sort(out)
	return out
}

// TopicsByCluster returns the topics with queue data on a broker name of
// the cluster, sorted; empty for an unknown cluster.
func (t *RouteTable) TopicsByCluster(clusterName string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := t.clusters[clusterName]
	out := []string{}
	for topic, m := range t.topics {
		for name := range names {
			if _, ok := m[name]; ok {
				out = append(out, topic)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// ClusterAndBrokerNames returns the cluster names and broker names (the
// "system topics" of GET_SYSTEM_TOPIC_LIST_FROM_NS) and one broker
// address, sorted.
func (t *RouteTable) ClusterAndBrokerNames() (names []string, anyAddr string) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for cluster, bn := range t.clusters {
		names = append(names, cluster)
		for n := range bn {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	bnames := make([]string, 0, len(t.brokers))
	for n := range t.brokers {
		bnames = append(bnames, n)
	}
	slices.Sort(bnames)
	for _, n := range bnames {
		addrs := t.brokers[n].BrokerAddrs
		if len(addrs) > 0 {
			anyAddr = addrs[minID(addrs)]
			break
		}
	}
	return names, anyAddr
}

// DeleteTopic removes a topic's queue data: all of it when clusterName is
// empty, otherwise only that of the cluster's broker names (nothing when
// the cluster is unknown). It reports whether anything was removed.
func (t *RouteTable) DeleteTopic(topic, clusterName string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.topics[topic]
	if !ok {
		return false
	}
	if clusterName == "" {
		delete(t.topics, topic)
		return true
	}
	removed := false
	for name := range t.clusters[clusterName] {
		if _, ok := m[name]; ok {
			delete(m, name)
			removed = true
		}
	}
	if len(m) == 0 {
		delete(t.topics, topic)
	}
	return removed
}

// SetWritePerm clears (wipe) or restores the write permission of every
// queue data of a broker name (WIPE_WRITE_PERM_OF_BROKER,
// ADD_WRITE_PERM_OF_BROKER; restoring sets read+write as Java does) and
// returns how many topics it changed.
func (t *RouteTable) SetWritePerm(brokerName string, writable bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.topics {
		qd, ok := m[brokerName]
		if !ok {
			continue
		}
		if writable {
			qd.Perm = PermRead | PermWrite
		} else {
			qd.Perm &^= PermWrite
		}
		m[brokerName] = qd
		n++
	}
	return n
}
