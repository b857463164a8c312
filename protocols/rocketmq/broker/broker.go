package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// Broker roles (broker.properties brokerRole).
const (
	RoleAsyncMaster = "ASYNC_MASTER"
	RoleSyncMaster  = "SYNC_MASTER"
	RoleSlave       = "SLAVE"
)

// Options configure a Broker. Names in comments are the broker.properties
// keys; DefaultOptions gives RocketMQ's defaults. Zero durations and counts
// take those defaults too, but booleans do not: a zero Options has
// auto-creation and long polling off.
type Options struct {
	ClusterName string // brokerClusterName
	BrokerName  string // brokerName
	BrokerID    int64  // brokerId, 0 = master
	BrokerRole  string // brokerRole: ASYNC_MASTER, SYNC_MASTER or SLAVE
	BrokerIP1   string // brokerIP1: advertised address, also the store host of every message
	ListenPort  int    // listenPort
	// HAServerAddr is brokerIP2:haListenPort, sent in REGISTER_BROKER;
	// default BrokerIP1:ListenPort+1.
	HAServerAddr string

	AutoCreateTopicEnable       bool  // autoCreateTopicEnable (RocketMQ default true)
	AutoCreateSubscriptionGroup bool  // autoCreateSubscriptionGroup (RocketMQ default true)
	DefaultTopicQueueNums       int32 // defaultTopicQueueNums: queues of TBW102, 8
	BrokerPermission            int32 // brokerPermission, 6 = read|write
	ClusterTopicEnable          bool  // clusterTopicEnable (RocketMQ default true)
	BrokerTopicEnable           bool  // brokerTopicEnable (RocketMQ default true)

	LongPollingEnable bool          // longPollingEnable (RocketMQ default true)
	ShortPollingTime  time.Duration // shortPollingTimeMills, 1 s: how long a pull waits without long polling
	MaxMessageSize    int           // maxMessageSize, 4 MiB

	// MaxTransferCount and MaxTransferBytes bound one pull response
	// (maxTransferCountOnMessageInMemory 32, maxTransferBytesOnMessageInMemory 256 KiB).
	MaxTransferCount int
	MaxTransferBytes int

	// MaxSuspend caps the suspendTimeoutMillis a client may ask for, 60 s.
	MaxSuspend time.Duration
	// MaxHeldPullsPerConn and MaxHeldPulls bound long polling: a pull that
	// would exceed either is answered SYSTEM_BUSY at once (the clients
	// retry after 3 s). Defaults 16384 and 262144.
	MaxHeldPullsPerConn int
	MaxHeldPulls        int

	// ChannelExpiredTimeout is how long a client may stay silent before
	// it is dropped (channelExpiredTimeout, 120 s); ClientScanInterval is
	// how often that is checked (10 s).
	ChannelExpiredTimeout time.Duration
	ClientScanInterval    time.Duration

	// AccessMessageInMemoryMaxRatio (40) and TotalMemory (0: the
	// machine's) decide whether the first message of a queue still counts
	// as in memory, which QUERY_CONSUMER_OFFSET looks at.
	AccessMessageInMemoryMaxRatio int
	TotalMemory                   int64

	RegisterNameServerPeriod time.Duration // registerNameServerPeriod, 30 s, clamped to [10 s, 60 s]
	RegisterTimeout          time.Duration // registerBrokerTimeoutMills, 24 s
	NamesrvAddr              []string      // namesrvAddr, split on ';'

	// MessageDelayLevel is messageDelayLevel, the delays of the delay
	// levels (schedule.DefaultLevels: "1s 5s 10s 30s 1m ... 2h").
	MessageDelayLevel string

	RegionID string // regionId, "DefaultRegion", echoed as MSG_REGION
	TraceOn  bool   // traceOn (RocketMQ default true), echoed as TRACE_ON

	// RequestBodyRetained says the remoting server lets a processor keep
	// a request's body past its return (Command.Keep, then Free): a send
	// then stores the body straight from the connection's read buffer.
	// Otherwise a send copies its body once, because the engine reads it
	// on the writer goroutine later.
	RequestBodyRetained bool

	// Replicas, on a SYNC_MASTER, holds each send's answer until a slave
	// has its bytes: nil on other roles (and a SYNC_MASTER without it
	// answers after the local write, like ASYNC_MASTER).
	Replicas Replicas
	// SlaveWait bounds that wait: FLUSH_SLAVE_TIMEOUT after it
	// (syncFlushTimeout, 5 s).
	SlaveWait time.Duration
	// HAMaxGapNotInSync: a slave further behind than this does not count
	// as in sync, and with none in sync a SYNC_MASTER send answers
	// SLAVE_NOT_AVAILABLE at once (haMaxGapNotInSync, 256 MiB).
	HAMaxGapNotInSync int64
	// SlaveReadEnable lets a master tell a consumer that reads far behind
	// (its backlog no longer in memory) to read from a slave
	// (slaveReadEnable, false).
	SlaveReadEnable bool

	// Hook, if set, is attached to the new Broker, so that a store opened
	// with OnDispatch: hook.OnDispatch reaches it.
	Hook *DispatchHook

	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultOptions returns RocketMQ's defaults for a master broker on
// 127.0.0.1:10911.
func DefaultOptions() Options {
	return Options{
		ClusterName:                 "DefaultCluster",
		BrokerName:                  "broker-a",
		BrokerRole:                  RoleAsyncMaster,
		BrokerIP1:                   "127.0.0.1",
		ListenPort:                  10911,
		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		DefaultTopicQueueNums:       8,
		BrokerPermission:            meta.PermRead | meta.PermWrite,
		ClusterTopicEnable:          true,
		BrokerTopicEnable:           true,
		LongPollingEnable:           true,
		TraceOn:                     true,
	}
}

func (o *Options) ensureDefaults() {
	if o.ClusterName == "" {
		o.ClusterName = "DefaultCluster"
	}
	if o.BrokerRole == "" {
		o.BrokerRole = RoleAsyncMaster
	}
	if o.BrokerIP1 == "" {
		o.BrokerIP1 = "127.0.0.1"
	}
	if o.ListenPort == 0 {
		o.ListenPort = 10911
	}
	if o.HAServerAddr == "" {
		o.HAServerAddr = net.JoinHostPort(o.BrokerIP1, strconv.Itoa(o.ListenPort+1))
	}
	if o.DefaultTopicQueueNums <= 0 {
		o.DefaultTopicQueueNums = 8
	}
	if o.ShortPollingTime <= 0 {
		o.ShortPollingTime = time.Second
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 4 << 20
	}
	if o.MaxTransferCount <= 0 {
		o.MaxTransferCount = 32
	}
	if o.MaxTransferBytes <= 0 {
		o.MaxTransferBytes = 256 << 10
	}
	if o.MaxSuspend <= 0 {
		o.MaxSuspend = 60 * time.Second
	}
	if o.MaxHeldPullsPerConn <= 0 {
		o.MaxHeldPullsPerConn = 16384
	}
	if o.MaxHeldPulls <= 0 {
		o.MaxHeldPulls = 262144
	}
	if o.ChannelExpiredTimeout <= 0 {
		o.ChannelExpiredTimeout = 120 * time.Second
	}
	if o.ClientScanInterval <= 0 {
		o.ClientScanInterval = 10 * time.Second
	}
	if o.AccessMessageInMemoryMaxRatio <= 0 {
		o.AccessMessageInMemoryMaxRatio = 40
	}
	if o.TotalMemory <= 0 {
		o.TotalMemory = totalMemory()
	}
	if o.RegisterNameServerPeriod <= 0 {
		o.RegisterNameServerPeriod = 30 * time.Second
	}
	o.RegisterNameServerPeriod = min(max(o.RegisterNameServerPeriod, 10*time.Second), 60*time.Second)
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = 24 * time.Second
	}
	if o.SlaveWait <= 0 {
		o.SlaveWait = 5 * time.Second
	}
	if o.HAMaxGapNotInSync <= 0 {
		o.HAMaxGapNotInSync = 256 << 20
	}
	if o.MessageDelayLevel == "" {
		o.MessageDelayLevel = schedule.DefaultLevels
	}
	if o.RegionID == "" {
		o.RegionID = "DefaultRegion"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.BrokerName == "" {
		errs = append(errs, errors.New("broker: BrokerName (brokerName) is empty"))
	}
	switch o.BrokerRole {
	case RoleAsyncMaster, RoleSyncMaster, RoleSlave:
	default:
		errs = append(errs, fmt.Errorf("broker: brokerRole %q is not ASYNC_MASTER, SYNC_MASTER or SLAVE", o.BrokerRole))
	}
	if _, err := netip.ParseAddr(o.BrokerIP1); err != nil {
		errs = append(errs, fmt.Errorf("broker: brokerIP1 %q is not an IP address", o.BrokerIP1))
	}
	if o.ListenPort <= 0 || o.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("broker: listenPort %d is not a port", o.ListenPort))
	}
	if o.BrokerPermission&^(meta.PermRead|meta.PermWrite|meta.PermInherit) != 0 {
		errs = append(errs, fmt.Errorf("broker: brokerPermission %d has unknown bits", o.BrokerPermission))
	}
	return errors.Join(errs...)
}

// Broker answers the RocketMQ broker request codes over a store. It is
// safe for concurrent use; processors never wait for the disk.
type Broker struct {
	opts       Options
	log        *slog.Logger
	store      *engine.Store
	meta       *meta.Store
	storeHost  message.Host
	brokerAddr string // brokerIP1:listenPort
	memWindow  int64  // bytes from the end of the log still counted as in memory

	// A slave's master, as the name servers last answered its
	// registration.
	masterAddr, masterHAAddr atomic.Pointer[string]
	boot                     time.Time

	sched   *schedule.Service
	procs   map[int32]remoting.Processor // filled once by New, read only after
	clients *clients
	holder  *pullHolder
	locks   lockTable // orderly-consumption queue locks (locks.go)
	uniq    message.UniqKeys

	// topicMu serialises the creation of topics, so two first senders do
	// not overwrite each other's config.
	topicMu sync.Mutex
	// registerNow wakes RegisterLoop when the topic table changed.
	registerNow chan struct{}
	// opaque numbers the requests the broker sends to clients.
	opaque atomic.Int32

	stats struct {
		putMessages atomic.Int64 // messages stored by sends
		putRequests atomic.Int64 // send requests stored
		getMessages atomic.Int64 // messages returned by pulls
		getRequests atomic.Int64 // pulls answered with messages
	}
	metrics *brokerMetrics // per-topic traffic, latencies, send results (metrics.go)

	sends sync.Pool // *sendOp
	reads sync.Pool // *readOp
}

// New returns a broker over store, which must be open. It creates the
// start-up topics RocketMQ creates (TBW102 when auto-creation is on,
// SCHEDULE_TOPIC_XXXX with one queue per delay level, and the others of
// the protocol reference §5.9) unless the topic table has them already.
func New(opts Options, store *engine.Store) (*Broker, error) {
	if store == nil {
		return nil, errors.New("broker: store is nil")
	}
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	levels, err := schedule.ParseLevels(opts.MessageDelayLevel)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ip, _ := netip.ParseAddr(opts.BrokerIP1)
	b := &Broker{
		opts:        opts,
		log:         opts.Logger.With("component", "broker"),
		store:       store,
		meta:        store.Meta(),
		storeHost:   message.HostFromAddrPort(netip.AddrPortFrom(ip, uint16(opts.ListenPort))),
		brokerAddr:  net.JoinHostPort(opts.BrokerIP1, strconv.Itoa(opts.ListenPort)),
		memWindow:   opts.TotalMemory / 100 * int64(opts.AccessMessageInMemoryMaxRatio),
		boot:        opts.Now(),
		registerNow: make(chan struct{}, 1),
		metrics:     newBrokerMetrics(),
	}
	b.uniq.Init(ip)
	b.sched = schedule.New(store, levels, opts.Logger)
	b.clients = newClients(b)
	b.holder = newPullHolder(b)
	b.createStartupTopics()

	handlers := map[int32]handler{
		remoting.ReqSendMessage:                   b.sendMessage,
		remoting.ReqSendMessageV2:                 b.sendMessage,
		remoting.ReqSendBatchMessage:              b.sendMessage,
		remoting.ReqPullMessage:                   b.pullMessage,
		remoting.ReqQueryConsumerOffset:           b.queryConsumerOffset,
		remoting.ReqUpdateConsumerOffset:          b.updateConsumerOffset,
		remoting.ReqGetMaxOffset:                  b.getMaxOffset,
		remoting.ReqGetMinOffset:                  b.getMinOffset,
		remoting.ReqGetEarliestMsgStoretime:       b.getEarliestMsgStoreTime,
		remoting.ReqSearchOffsetByTimestamp:       b.searchOffsetByTimestamp,
		remoting.ReqHeartBeat:                     b.heartbeat,
		remoting.ReqUnregisterClient:              b.unregisterClient,
		remoting.ReqGetConsumerListByGroup:        b.getConsumerListByGroup,
		remoting.ReqCheckClientConfig:             b.checkClientConfig,
		remoting.ReqConsumerSendMsgBack:           b.consumerSendMsgBack,
		remoting.ReqViewMessageByID:               b.viewMessageByID,
		remoting.ReqQueryMessage:                  b.queryMessage,
		remoting.ReqUpdateAndCreateTopic:          b.updateAndCreateTopic,
		remoting.ReqDeleteTopicInBroker:           b.deleteTopic,
		remoting.ReqGetAllTopicConfig:             b.getAllTopicConfig,
		remoting.ReqGetBrokerRuntimeInfo:          b.getBrokerRuntimeInfo,
		remoting.ReqGetConsumeStats:               b.getConsumeStats,
		remoting.ReqGetTopicStatsInfo:             b.getTopicStatsInfo,
		remoting.ReqGetAllConsumerOffset:          b.getAllConsumerOffset,
		remoting.ReqGetAllDelayOffset:             b.getAllDelayOffset,
		remoting.ReqGetAllSubscriptiongroupConfig: b.getAllSubscriptionGroupConfig,
		remoting.ReqLockBatchMQ:                   b.lockBatchMQ,
		remoting.ReqUnlockBatchMQ:                 b.unlockBatchMQ,
	}
	b.procs = make(map[int32]remoting.Processor, len(handlers))
	for code, h := range handlers {
		b.procs[code] = b.processor(h)
	}
	if opts.Hook != nil {
		opts.Hook.Attach(b)
	}
	return b, nil
}

// handler answers one request. It returns the response, or nil when it
// answers later itself (sends complete on the engine's callback, pulls may
// be held) or not at all.
type handler func(conn remoting.Conn, req *remoting.Command) *remoting.Command

// processor adapts a handler: it sends the response unless the request is
// one-way, and turns a panic into SYSTEM_ERROR instead of killing the
// connection's goroutine.
func (b *Broker) processor(h handler) remoting.Processor {
	return func(conn remoting.Conn, req *remoting.Command) {
		resp := b.call(h, conn, req)
		b.reply(conn, req, resp)
	}
}

func (b *Broker) call(h handler, conn remoting.Conn, req *remoting.Command) (resp *remoting.Command) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("BUG: processor panicked", "code", remoting.CodeName(req.Code), "peer", conn.RemoteAddr(),
				"panic", r, "stack", string(debug.Stack()))
			resp = respond(req, remoting.ResSystemError, fmt.Sprintf("%s: internal error: %v", remoting.CodeName(req.Code), r))
		}
	}()
	return h(conn, req)
}

// reply sends resp for req, or drops it (releasing its parts) when req is
// one-way or resp is nil.
func (b *Broker) reply(conn remoting.Conn, req, resp *remoting.Command) {
	if resp == nil {
		return
	}
	if req.IsOneway() {
		if resp.Release != nil {
			resp.Release()
		}
		return
	}
	if err := conn.Send(resp); err != nil {
		b.log.Debug("cannot send response", "code", remoting.CodeName(req.Code), "peer", conn.RemoteAddr(), "err", err)
	}
}

// Processors returns the processor of every request code the broker
// answers, for the remoting router. Other codes are the router's to answer
// with REQUEST_CODE_NOT_SUPPORTED.
func (b *Broker) Processors() map[int32]remoting.Processor {
	out := make(map[int32]remoting.Processor, len(b.procs))
	for code, p := range b.procs {
		out[code] = p
	}
	return out
}

// OnDisconnect forgets a closed connection: its producers and consumers
// (the remaining members of its groups are notified) and its held pulls.
// The remoting server calls it when a connection closes.
func (b *Broker) OnDisconnect(conn remoting.Conn) {
	b.holder.dropConn(conn)
	b.clients.dropConn(conn, "connection closed")
}

// OnDispatch tells the broker that new messages became visible; it wakes
// held pulls. It never blocks, so the engine's dispatcher may call it.
func (b *Broker) OnDispatch() { b.holder.wakeUp() }

// Run runs the broker's background loops until stop is closed: held pulls
// (wake-ups and timeouts), client expiry and, on a master, delayed
// delivery (schedule.Service). Before it returns it answers every held
// pull and saves the delay offsets in memory, so close the store only
// after Run has returned.
func (b *Broker) Run(stop <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Go(func() { b.holder.run(stop) })
	wg.Go(func() { b.clients.run(stop) })
	if !b.isSlave() {
		wg.Go(func() { b.sched.Run(stop) })
	}
	wg.Wait()
}

// Schedule is the delayed-delivery service the broker runs (for metrics).
func (b *Broker) Schedule() *schedule.Service { return b.sched }

// Addr is the broker's advertised address, brokerIP1:listenPort.
func (b *Broker) Addr() string { return b.brokerAddr }

// DispatchHook forwards the engine's OnDispatch to a Broker created after
// the store was opened:
//
//	var hook broker.DispatchHook
//	engOpts.OnDispatch = hook.OnDispatch
//	store, _ := engine.Open(engOpts)
//	b, _ := broker.New(broker.Options{..., Hook: &hook}, store)
type DispatchHook struct{ b atomic.Pointer[Broker] }

// OnDispatch calls the attached broker's OnDispatch, if any.
func (h *DispatchHook) OnDispatch() {
	if b := h.b.Load(); b != nil {
		b.OnDispatch()
	}
}

// Attach makes OnDispatch reach b.
func (h *DispatchHook) Attach(b *Broker) { h.b.Store(b) }

func (b *Broker) isSlave() bool { return b.opts.BrokerRole == RoleSlave }

// Replicas is what a SYNC_MASTER needs of replication (replication.Master
// satisfies it).
type Replicas interface {
	// InSync reports whether some slave is within gap bytes of the
	// master's CommitLog end.
	InSync(gap int64) bool
	// Await calls done once: nil when a slave has acknowledged offset, an
	// error after timeout or if replication stops. It must not block.
	Await(offset int64, timeout time.Duration, done func(error))
}

// waitsForSlave reports whether sends are answered only once a slave has
// them.
func (b *Broker) waitsForSlave() bool {
	return b.opts.BrokerRole == RoleSyncMaster && b.opts.Replicas != nil
}

// nextOpaque numbers a request the broker sends to a client.
func (b *Broker) nextOpaque() int32 { return b.opaque.Add(1) }
