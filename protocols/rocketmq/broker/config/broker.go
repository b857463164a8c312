package config

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// Role is brokerRole.
type Role string

const (
	AsyncMaster Role = "ASYNC_MASTER" // acknowledges before slaves have the data
	SyncMaster  Role = "SYNC_MASTER"  // acknowledges once a slave has the data
	Slave       Role = "SLAVE"        // copies a master; brokerId > 0
)

// IsMaster reports whether r is one of the master roles.
func (r Role) IsMaster() bool { return r == AsyncMaster || r == SyncMaster }

// FlushDiskType is flushDiskType.
type FlushDiskType string

const (
	AsyncFlush FlushDiskType = "ASYNC_FLUSH" // acknowledge from the page cache, flush on an interval
	SyncFlush  FlushDiskType = "SYNC_FLUSH"  // acknowledge after fdatasync
)

// WriteMode is Gannet's writeMode: how the CommitLog writer stores bytes.
type WriteMode string

const (
	WriteMmap   WriteMode = "mmap"   // encode into the mapped segment
	WritePwrite WriteMode = "pwrite" // encode into a buffer, pwrite it (default)
)

// Broker is a broker's configuration: the broker.properties keys of
// RocketMQ's BrokerConfig, NettyServerConfig and MessageStoreConfig that
// Gannet uses, and Gannet's own. Each field names its key and its default
// (Default). Durations are given in milliseconds in the file. Build one
// with Default, Parse or Load, change it with Set, check it with Validate.
type Broker struct {
	// Identity and role.
	BrokerClusterName string // brokerClusterName, "DefaultCluster"
	BrokerName        string // brokerName, the host name ("DEFAULT_BROKER" if unknown)
	BrokerID          int64  // brokerId, 0: the master; a slave's is > 0
	BrokerRole        Role   // brokerRole, ASYNC_MASTER

	// Network.
	BrokerIP1    string // brokerIP1, "127.0.0.1": advertised client address, and store host in message ids
	BrokerIP2    string // brokerIP2, brokerIP1 unless given: advertised HA address
	ListenPort   int    // listenPort, 10911
	HAListenPort int    // haListenPort, listenPort+1 unless given (0 in the file means that too)
	NamesrvAddr  string // namesrvAddr, $NAMESRV_ADDR: name servers, "host:port;host:port"

	// Replication (HA).
	HAMasterAddress         string        // haMasterAddress, "": a slave's master HA address; learned from the name servers when empty
	HAMaxGapNotInSync       int64         // haMaxGapNotInSync (bytes), 256 MiB: a slave further behind is not in sync
	HASendHeartbeatInterval time.Duration // haSendHeartbeatInterval (ms), 5 s: a slave reports its offset at least this often
	HAHousekeepingInterval  time.Duration // haHousekeepingInterval (ms), 20 s: a connection silent this long is dropped
	HATransferBatchSize     int           // haTransferBatchSize (bytes), 1 MiB (RocketMQ's 32 KiB; larger frames doubled catch-up speed): largest frame a master sends

	// Controller mode: a controller decides who is master.
	EnableControllerMode     bool          // enableControllerMode, false
	ControllerAddr           string        // controllerAddr, "": controllers, "host:port;host:port"
	MinInSyncReplicas        int           // minInSyncReplicas, 1: a SYNC_MASTER in controller mode refuses sends with fewer replicas (itself included) in its SyncStateSet
	HAMaxTimeSlaveNotCatchup time.Duration // haMaxTimeSlaveNotCatchup (ms), 15 s: a replica silent this long leaves the SyncStateSet

	// Name server registration.
	BrokerPermission         int           // brokerPermission, 6 (READ|WRITE)
	RegisterNameServerPeriod time.Duration // registerNameServerPeriod (ms), 30 s; used clamped to [10 s, 60 s]

	// Topics and groups.
	AutoCreateTopicEnable       bool // autoCreateTopicEnable, true: TBW102 exists and unknown topics are created
	AutoCreateSubscriptionGroup bool // autoCreateSubscriptionGroup, true
	DefaultTopicQueueNums       int  // defaultTopicQueueNums, 8: queues of TBW102; an auto-created topic gets the smaller of this and the client's number

	// Consumption.
	SlaveReadEnable       bool          // slaveReadEnable, false: a master may redirect pulls to a slave
	LongPollingEnable     bool          // longPollingEnable, true
	ShortPollingTimeMills time.Duration // shortPollingTimeMills (ms), 1 s: hold time when long polling is off

	// Send responses, transactions.
	TraceOn                  bool          // traceOn, true: echoed in send responses
	RegionID                 string        // regionId, "DefaultRegion": echoed in send responses
	TransactionTimeOut       time.Duration // transactionTimeOut (ms), 6 s: a half message is checked after this
	TransactionCheckMax      int           // transactionCheckMax, 15: checks before a half message is dropped
	TransactionCheckInterval time.Duration // transactionCheckInterval (ms), 30 s

	// Store (engine.Options).
	StorePathRootDir               string        // storePathRootDir, "./data"
	StorePathCommitLog             string        // storePathCommitLog, <storePathRootDir>/commitlog unless given
	MappedFileSizeCommitLog        int64         // mappedFileSizeCommitLog, 1 GiB: segment size, a multiple of 4 KiB
	MappedFileSizeConsumeQueue     int64         // mappedFileSizeConsumeQueue, 6,000,000 bytes = 300,000 units of 20 bytes
	FlushDiskType                  FlushDiskType // flushDiskType, ASYNC_FLUSH
	FlushIntervalCommitLog         time.Duration // flushIntervalCommitLog (ms), 500 ms
	FlushCommitLogLeastPages       int           // flushCommitLogLeastPages, 4
	FlushCommitLogThoroughInterval time.Duration // flushCommitLogThoroughInterval (ms), 10 s
	SyncFlushTimeout               time.Duration // syncFlushTimeout (ms), 5 s
	FlushIntervalConsumeQueue      time.Duration // flushIntervalConsumeQueue (ms), 1 s
	WaitTimeMillsInSendQueue       time.Duration // waitTimeMillsInSendQueue (ms), 200 ms
	MaxMessageSize                 int           // maxMessageSize, 4 MiB
	MessageIndexEnable             bool          // messageIndexEnable, true
	MaxHashSlotNum                 int           // maxHashSlotNum, 5,000,000
	MaxIndexNum                    int           // maxIndexNum, 20,000,000
	DeleteWhen                     string        // deleteWhen, "04": hours of day, ';'-separated
	FileReservedTime               int           // fileReservedTime (hours), 48 (RocketMQ's 72; its sample configs ship 48)
	DiskMaxUsedSpaceRatio          int           // diskMaxUsedSpaceRatio (%), 75; used clamped to [10, 95]
	DiskSpaceCleanForciblyRatio    int           // diskSpaceCleanForciblyRatio (%), 85; used clamped to [30, 85]
	DiskSpaceWarningLevelRatio     int           // diskSpaceWarningLevelRatio (%), 90; used clamped to [35, 90]
	DeleteFileBatchMax             int           // deleteFileBatchMax, 10: segments deleted per round
	MessageDelayLevel              string        // messageDelayLevel, schedule.DefaultLevels

	// Gannet's own.
	HAEnable       bool      // haEnable, true: a master listens for slaves on haListenPort (gannet standalone sets false unless asked)
	MQTTListenAddr string    // mqttListenAddr, "": MQTT listener "host:port", off when empty
	HTTPAddr       string    // httpAddr, "": metrics and pprof listener "host:port", off when empty
	WriteMode      WriteMode // writeMode, pwrite
}

// Default returns RocketMQ's defaults, except brokerIP1 ("127.0.0.1"
// instead of a detected address), storePathRootDir ("./data") and
// fileReservedTime (48, as the sample configs ship). Like Java's field
// initializers, it takes brokerName from the host name and namesrvAddr from
// the NAMESRV_ADDR environment variable.
func Default() Broker {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "DEFAULT_BROKER"
	}
	return Broker{
		BrokerClusterName: "DefaultCluster",
		BrokerName:        name,
		BrokerID:          0,
		BrokerRole:        AsyncMaster,

		BrokerIP1:    "127.0.0.1",
		BrokerIP2:    "127.0.0.1",
		ListenPort:   10911,
		HAListenPort: 10912,
		NamesrvAddr:  strings.TrimSpace(os.Getenv("NAMESRV_ADDR")),

		HAMaxGapNotInSync:       256 << 20,
		HASendHeartbeatInterval: 5 * time.Second,
		HAHousekeepingInterval:  20 * time.Second,
		HATransferBatchSize:     1 << 20,
		HAEnable:                true,

		MinInSyncReplicas:        1,
		HAMaxTimeSlaveNotCatchup: 15 * time.Second,

		BrokerPermission:         6,
		RegisterNameServerPeriod: 30 * time.Second,

		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		DefaultTopicQueueNums:       8,

		SlaveReadEnable:       false,
		LongPollingEnable:     true,
		ShortPollingTimeMills: time.Second,

		TraceOn:                  true,
		RegionID:                 "DefaultRegion",
		TransactionTimeOut:       6 * time.Second,
		TransactionCheckMax:      15,
		TransactionCheckInterval: 30 * time.Second,

		StorePathRootDir:               "./data",
		StorePathCommitLog:             filepath.Join("./data", "commitlog"),
		MappedFileSizeCommitLog:        1 << 30,
		MappedFileSizeConsumeQueue:     300_000 * cqUnitSize,
		FlushDiskType:                  AsyncFlush,
		FlushIntervalCommitLog:         500 * time.Millisecond,
		FlushCommitLogLeastPages:       4,
		FlushCommitLogThoroughInterval: 10 * time.Second,
		SyncFlushTimeout:               5 * time.Second,
		FlushIntervalConsumeQueue:      time.Second,
		WaitTimeMillsInSendQueue:       200 * time.Millisecond,
		MaxMessageSize:                 4 << 20,
		MessageIndexEnable:             true,
		MaxHashSlotNum:                 5_000_000,
		MaxIndexNum:                    20_000_000,
		DeleteWhen:                     "04",
		FileReservedTime:               48,
		DiskMaxUsedSpaceRatio:          75,
		DiskSpaceCleanForciblyRatio:    85,
		DiskSpaceWarningLevelRatio:     90,
		DeleteFileBatchMax:             10,
		MessageDelayLevel:              schedule.DefaultLevels,

		MQTTListenAddr: "",
		HTTPAddr:       "",
		WriteMode:      WritePwrite,
	}
}

// cqUnitSize is the size of a ConsumeQueue unit (ConsumeQueue.CQ_STORE_UNIT_SIZE).
const cqUnitSize = 20

// BrokerAddr is the address the broker registers for clients:
// brokerIP1:listenPort.
func (b *Broker) BrokerAddr() string {
	return net.JoinHostPort(b.BrokerIP1, strconv.Itoa(b.ListenPort))
}

// HAServerAddr is the address slaves replicate from: brokerIP2:haListenPort.
func (b *Broker) HAServerAddr() string {
	return net.JoinHostPort(b.BrokerIP2, strconv.Itoa(b.HAListenPort))
}

// StoreHost is brokerIP1:listenPort as an address (the zero AddrPort when
// brokerIP1 is not an IP address, which Validate reports).
func (b *Broker) StoreHost() netip.AddrPort {
	ip, err := netip.ParseAddr(b.BrokerIP1)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip, uint16(b.ListenPort))
}

// NamesrvAddrs splits namesrvAddr into its addresses.
func (b *Broker) NamesrvAddrs() []string {
	var out []string
	for _, a := range strings.Split(b.NamesrvAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ControllerAddrs splits controllerAddr.
func (b *Broker) ControllerAddrs() []string {
	var out []string
	for _, a := range strings.Split(b.ControllerAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// RegisterInterval is how often to register with the name servers:
// registerNameServerPeriod clamped to [10 s, 60 s] as BrokerController does.
func (b *Broker) RegisterInterval() time.Duration {
	return min(max(b.RegisterNameServerPeriod, 10*time.Second), 60*time.Second)
}

// DelayLevels parses messageDelayLevel (Validate has checked it).
func (b *Broker) DelayLevels() (schedule.Levels, error) {
	return schedule.ParseLevels(b.MessageDelayLevel)
}
