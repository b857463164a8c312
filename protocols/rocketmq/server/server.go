// Package server runs Gannet's RocketMQ front end: a name server, a broker
// (its store, its request processors on a remoting server, its registration
// with the name servers), or both in one process. The gannet command and
// end-to-end tests start them through this package.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/namesrv"
	"github.com/gannetmq/gannet/replication"
)

// NameServer is a running name server.
type NameServer struct {
	srv  *remoting.Server
	stop chan struct{}
	wg   sync.WaitGroup
}

// StartNameServer serves a name server on addr (host:port; port 0 picks one).
func StartNameServer(addr string, logger *slog.Logger) (*NameServer, error) {
	ns := namesrv.New(namesrv.Options{Logger: logger.With("component", "namesrv")})
	router := remoting.NewRouter()
	for code, p := range ns.Processors() {
		router.Register(code, p)
	}
	srv := remoting.NewServer(remoting.ServerOptions{
		Addr:         addr,
		Router:       router,
		Logger:       logger.With("component", "namesrv"),
		OnDisconnect: ns.OnDisconnect,
	})
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("name server cannot listen on %s: %w", addr, err)
	}
	n := &NameServer{srv: srv, stop: make(chan struct{})}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); srv.Serve() }()
	go func() { defer n.wg.Done(); ns.Run(n.stop) }()
	return n, nil
}

// Addr is the bound address.
func (n *NameServer) Addr() net.Addr { return n.srv.Addr() }

// RemotingMetrics reports the name server's remoting server (open
// connections), for the metrics exporter.
func (n *NameServer) RemotingMetrics() remoting.ServerMetrics { return n.srv.Metrics() }

// Close stops the name server.
func (n *NameServer) Close() error {
	close(n.stop)
	err := n.srv.Close()
	n.wg.Wait()
	return err
}

// Broker is a running broker: its store, its request processors on a
// remoting server, and its registration with the name servers.
type Broker struct {
	ha          *ha
	setReplicas *setReplicas    // controller mode, master: its SyncStateSet
	cfg         config.Broker   // as started
	replicas    broker.Replicas // what a SYNC_MASTER's sends wait for; nil otherwise
	store       *engine.Store
	dispatch    *dispatchFanout
	b           *broker.Broker
	srv         *remoting.Server
	client      *remoting.Client
	stop        chan struct{}
	runWG       sync.WaitGroup
	regWG       sync.WaitGroup
	srvWG       sync.WaitGroup
}

// brokerOptions maps the configuration onto the broker's options.
func brokerOptions(cfg *config.Broker, logger *slog.Logger) broker.Options {
	o := broker.DefaultOptions()
	o.ClusterName = cfg.BrokerClusterName
	o.BrokerName = cfg.BrokerName
	o.BrokerID = cfg.BrokerID
	o.BrokerRole = string(cfg.BrokerRole)
	o.BrokerIP1 = cfg.BrokerIP1
	o.ListenPort = cfg.ListenPort
	o.HAServerAddr = cfg.HAServerAddr()
	o.AutoCreateTopicEnable = cfg.AutoCreateTopicEnable
	o.AutoCreateSubscriptionGroup = cfg.AutoCreateSubscriptionGroup
	o.DefaultTopicQueueNums = int32(cfg.DefaultTopicQueueNums)
	o.BrokerPermission = int32(cfg.BrokerPermission)
	o.LongPollingEnable = cfg.LongPollingEnable
	o.ShortPollingTime = cfg.ShortPollingTimeMills
	o.MaxMessageSize = cfg.MaxMessageSize
	o.RegisterNameServerPeriod = cfg.RegisterInterval()
	o.NamesrvAddr = cfg.NamesrvAddrs()
	o.MessageDelayLevel = cfg.MessageDelayLevel
	o.RegionID = cfg.RegionID
	o.TraceOn = cfg.TraceOn
	o.SlaveWait = cfg.SyncFlushTimeout
	o.HAMaxGapNotInSync = cfg.HAMaxGapNotInSync
	o.SlaveReadEnable = cfg.SlaveReadEnable
	// The remoting server lets a send keep its request body (Keep/Free),
	// so bodies go from the read buffer to the CommitLog with no copy.
	o.RequestBodyRetained = true
	o.Logger = logger // broker.New adds its component
	return o
}

// StartBroker opens the store and serves the broker on listen (host:port;
// the port should be cfg.ListenPort, which goes into message ids).
func StartBroker(cfg *config.Broker, listen string, logger *slog.Logger) (*Broker, error) {
	return StartBrokerWith(cfg, listen, logger, StartOptions{})
}

// StartOptions are what a broker run by a controller adds to StartBroker.
type StartOptions struct {
	// BeforeServe runs once the store is open, before any request is
	// served (a new master records its epoch's start offset there).
	BeforeServe func(*engine.Store) error
	// SlaveID, on a slave, is announced to the master's HA port.
	SlaveID int64
	// Replicas, on a SYNC_MASTER, replaces "one slave has it" with the
	// caller's rule (every member of the SyncStateSet has it).
	Replicas func(*replication.Master) broker.Replicas
	// Processors are served besides the broker's own.
	Processors map[int32]remoting.Processor
}

// StartBrokerWith is StartBroker with the additions of opts.
func StartBrokerWith(cfg *config.Broker, listen string, logger *slog.Logger, opts StartOptions) (*Broker, error) {
	eo := cfg.EngineOptions()
	eo.Logger = logger
	hook := &broker.DispatchHook{}
	fan := new(dispatchFanout)
	fan.add(hook.OnDispatch)
	eo.OnDispatch = fan.call
	store, err := engine.Open(eo)
	if err != nil {
		return nil, err
	}
	if opts.BeforeServe != nil {
		if err := opts.BeforeServe(store); err != nil {
			store.Close()
			return nil, err
		}
	}
	bo := brokerOptions(cfg, logger)
	bo.Hook = hook
	var h *ha
	if cfg.BrokerRole.IsMaster() && cfg.HAEnable {
		if h, err = startMasterHA(cfg, listen, store, logger); err != nil {
			store.Close()
			return nil, err
		}
		if cfg.BrokerRole == config.SyncMaster {
			bo.Replicas = h.master
			if opts.Replicas != nil {
				bo.Replicas = opts.Replicas(h.master)
			}
		}
	}
	b, err := broker.New(bo, store)
	if err != nil {
		h.close()
		store.Close()
		return nil, err
	}
	router := remoting.NewRouter()
	for code, p := range b.Processors() {
		router.Register(code, p)
	}
	for code, p := range opts.Processors {
		router.Register(code, p)
	}
	srv := remoting.NewServer(remoting.ServerOptions{
		Addr:         listen,
		Router:       router,
		Logger:       logger.With("component", "broker"),
		OnDisconnect: b.OnDisconnect,
	})
	if err := srv.Listen(); err != nil {
		h.close()
		store.Close()
		return nil, fmt.Errorf("broker cannot listen on %s: %w", listen, err)
	}
	bs := &Broker{
		cfg:      *cfg,
		replicas: bo.Replicas,
		ha:       h,
		dispatch: fan,
		store:    store,
		b:        b,
		srv:      srv,
		client:   remoting.NewClient(remoting.ClientOptions{Logger: logger.With("component", "broker-client")}),
		stop:     make(chan struct{}),
	}
	bs.srvWG.Add(1)
	go func() { defer bs.srvWG.Done(); srv.Serve() }()
	bs.runWG.Add(1)
	go func() { defer bs.runWG.Done(); b.Run(bs.stop) }()
	if len(bo.NamesrvAddr) > 0 {
		bs.regWG.Add(1)
		go func() { defer bs.regWG.Done(); b.RegisterLoop(bs.stop, bs.client) }()
	}
	if cfg.BrokerRole == config.Slave {
		bs.ha = startSlaveHA(cfg, store, b, bs.client, bs.stop, opts.SlaveID, logger)
	}
	return bs, nil
}

// OnDispatch makes fn run, on the engine's dispatcher goroutine, after
// every batch of new messages is indexed (whichever front end wrote them),
// so other front ends can wake their readers. fn must not block.
func (bs *Broker) OnDispatch(fn func()) { bs.dispatch.add(fn) }

// dispatchFanout calls every registered function; adding is rare and
// copies the list, calling is lock-free.
type dispatchFanout struct {
	fns atomic.Pointer[[]func()]
}

func (f *dispatchFanout) add(fn func()) {
	for {
		old := f.fns.Load()
		var next []func()
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if f.fns.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (f *dispatchFanout) call() {
	if p := f.fns.Load(); p != nil {
		for _, fn := range *p {
			fn()
		}
	}
}

// Addr is the bound address.
func (bs *Broker) Addr() net.Addr { return bs.srv.Addr() }

// Store is the broker's storage engine.
func (bs *Broker) Store() *engine.Store { return bs.store }

// Broker is the broker's request processors, for the metrics exporter
// (Metrics, ConsumerLag).
func (bs *Broker) Broker() *broker.Broker { return bs.b }

// RemotingMetrics reports the broker's remoting server (open connections),
// for the metrics exporter.
func (bs *Broker) RemotingMetrics() remoting.ServerMetrics { return bs.srv.Metrics() }

// Close unregisters, stops serving, lets the background loops finish and
// closes the store cleanly (checkpoint written, abort marker removed).
func (bs *Broker) Close() error {
	close(bs.stop)
	bs.regWG.Wait() // unregistered from the name servers
	bs.ha.close()   // slaves released, pending SYNC_MASTER sends answered
	errs := []error{bs.srv.Close()}
	bs.srvWG.Wait()
	bs.runWG.Wait()
	errs = append(errs, bs.client.Close(), bs.store.Close())
	return errors.Join(errs...)
}

// SplitPort returns the host and port of a host:port address.
func SplitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// StandaloneConfig is the broker configuration of `gannet standalone`:
// RocketMQ's defaults with the store in data, the name server at
// namesrvAddr, the broker advertised and listening at brokerAddr, the given
// flushDiskType, then the key=value overrides in sets.
func StandaloneConfig(data, namesrvAddr, brokerAddr, flushDiskType string, sets []string) (config.Broker, error) {
	host, port, err := SplitPort(brokerAddr)
	if err != nil {
		return config.Broker{}, fmt.Errorf("broker address %q: %w", brokerAddr, err)
	}
	if _, _, err := SplitPort(namesrvAddr); err != nil {
		return config.Broker{}, fmt.Errorf("name server address %q: %w", namesrvAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	cfg := config.Default()
	defaults := []string{
		"brokerName=broker-a",
		"storePathRootDir=" + data,
		"storePathCommitLog=" + filepath.Join(data, "commitlog"),
		"namesrvAddr=" + namesrvAddr,
		"brokerIP1=" + host,
		"brokerIP2=" + host,
		fmt.Sprintf("listenPort=%d", port),
		fmt.Sprintf("haListenPort=%d", port+1),
		// One process, no slaves: no HA listener unless --set haEnable=true.
		"haEnable=false",
		"flushDiskType=" + flushDiskType,
	}
	if err := cfg.Apply(append(defaults, sets...)); err != nil {
		return config.Broker{}, err
	}
	if err := cfg.Validate(); err != nil {
		return config.Broker{}, fmt.Errorf("invalid configuration: %w", err)
	}
	// The broker listens on brokerAddr; an override that advertised another
	// port or address would put unreachable addresses into routes and ids.
	if cfg.ListenPort != port || cfg.BrokerIP1 != host {
		return config.Broker{}, fmt.Errorf("listenPort and brokerIP1 come from the broker address %s; set them with --broker-addr", brokerAddr)
	}
	return cfg, nil
}
