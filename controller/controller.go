package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// Defaults of Config.
const (
	// DefaultBrokerHeartbeatTimeout is RocketMQ's controllerHeartBeatTimeoutMills
	// (BrokerConfig, 10 s): a broker silent this long is dead.
	DefaultBrokerHeartbeatTimeout = 10 * time.Second
	// DefaultScanInterval is how often the leader looks for dead masters
	// (RocketMQ's scanNotActiveBrokerInterval is 5 s; 1 s fails over sooner
	// for the cost of one map walk).
	DefaultScanInterval = time.Second
	// DefaultApplyTimeout bounds one raft.Apply on the leader.
	DefaultApplyTimeout = 3 * time.Second

	// maxHandlers bounds the requests being served at once; past it the
	// controller answers SYSTEM_BUSY instead of queueing goroutines.
	maxHandlers = 256
)

// Peer is one controller of the cluster.
type Peer struct{ ID, RaftAddr, RPCAddr string }

// Config configures a controller. Zero fields take the defaults above.
type Config struct {
	ID       string // this controller's raft server id
	RaftAddr string // host:port for raft traffic
	RPCAddr  string // host:port where brokers and admins reach it (remoting protocol)
	// Peers lists every controller, this one included, and is used to
	// bootstrap the cluster on the first start and to name the leader's
	// RPC address. Empty or one peer: development mode, a cluster of one.
	Peers []Peer
	Dir   string // raft log, stable store, snapshots

	BrokerHeartbeatTimeout time.Duration
	ScanInterval           time.Duration
	// EnableElectUncleanMaster elects a live broker outside the
	// SyncStateSet when none inside is alive (RocketMQ's
	// enableElectUncleanMaster): it may lose acknowledged messages.
	EnableElectUncleanMaster bool
	Logger                   *slog.Logger

	// Raft timings; zero takes hashicorp/raft's defaults (1 s heartbeat
	// and election timeouts, 500 ms leader lease). Tests shorten them.
	RaftHeartbeatTimeout time.Duration
	RaftElectionTimeout  time.Duration
	ApplyTimeout         time.Duration
}

// Controller is one running controller: a raft member replicating the
// groups' state and a remoting server answering brokers and admins.
type Controller struct {
	cfg   Config
	log   *slog.Logger
	fsm   *fsm
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	srv   *remoting.Server
	rpcOf map[raft.ServerID]string // peer id → RPC address
	sem   chan struct{}            // one token per request being served

	notify chan bool
	stop   chan struct{}
	wg     sync.WaitGroup

	// proposeMu serialises the leader's decide-then-Apply steps, so each
	// decision reads the state the previous one left. Lock order:
	// proposeMu, then mu, then fsm.mu.
	proposeMu sync.Mutex

	mu sync.Mutex
	// ready is true while this controller is the raft leader and has
	// applied everything committed before its term; leaderGen counts
	// leadership changes so a stale barrier cannot set ready. live is
	// this leadership's liveness. All guarded by mu.
	ready     bool
	leaderGen uint64
	live      *liveness

	closeOnce sync.Once
	closeErr  error
}

// Start opens (or creates) the raft state in cfg.Dir, joins the cluster
// and serves the remoting protocol on cfg.RPCAddr. On a first start with
// no state in Dir it bootstraps the cluster with cfg.Peers; every peer
// bootstrapping with the same list is hashicorp/raft's documented way.
func Start(cfg Config) (*Controller, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "controller", "id", cfg.ID),
		fsm:    newFSM(),
		rpcOf:  map[raft.ServerID]string{},
		sem:    make(chan struct{}, maxHandlers),
		notify: make(chan bool), // unbuffered: see watchLeadership
		stop:   make(chan struct{}),
		live:   newLiveness(cfg.BrokerHeartbeatTimeout, time.Now()),
	}
	for _, p := range cfg.Peers {
		c.rpcOf[raft.ServerID(p.ID)] = p.RPCAddr
	}
	if err := c.startRaft(); err != nil {
		c.closeRaft()
		return nil, err
	}
	c.wg.Add(2)
	go c.watchLeadership()
	go c.scanLoop()
	if err := c.startRPC(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (cfg *Config) fill() error {
	var errs []error
	if cfg.ID == "" {
		errs = append(errs, errors.New("ID is empty"))
	}
	if cfg.RaftAddr == "" {
		errs = append(errs, errors.New("RaftAddr is empty"))
	}
	if cfg.RPCAddr == "" {
		errs = append(errs, errors.New("RPCAddr is empty"))
	}
	if cfg.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	if len(cfg.Peers) == 0 {
		cfg.Peers = []Peer{{ID: cfg.ID, RaftAddr: cfg.RaftAddr, RPCAddr: cfg.RPCAddr}}
	}
	self, ids := false, map[string]bool{}
	for _, p := range cfg.Peers {
		if p.ID == "" || p.RaftAddr == "" || p.RPCAddr == "" {
			errs = append(errs, fmt.Errorf("peer %+v: id, raft and rpc addresses are all needed", p))
		}
		if ids[p.ID] {
			errs = append(errs, fmt.Errorf("peer id %q listed twice", p.ID))
		}
		ids[p.ID] = true
		if p.ID == cfg.ID {
			self = true
			if p.RaftAddr != cfg.RaftAddr {
				errs = append(errs, fmt.Errorf("peer %q has raft address %s, this controller %s", p.ID, p.RaftAddr, cfg.RaftAddr))
			}
		}
	}
	if !self && cfg.ID != "" {
		errs = append(errs, fmt.Errorf("peers do not list this controller %q", cfg.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("controller: bad config: %w", err)
	}
	if cfg.BrokerHeartbeatTimeout <= 0 {
		cfg.BrokerHeartbeatTimeout = DefaultBrokerHeartbeatTimeout
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = DefaultApplyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

func (c *Controller) startRaft() error {
	cfg := c.cfg
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("controller: cannot create %s: %w", cfg.Dir, err)
	}
	hl := hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Info,
		Output:      &slogWriter{log: c.log},
		DisableTime: true, // slog stamps the time
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hl
	rc.NotifyCh = c.notify
	if cfg.RaftHeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.RaftHeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.RaftHeartbeatTimeout / 2
	}
	if cfg.RaftElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.RaftElectionTimeout
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("controller: raft config: %w", err)
	}

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("controller: cannot open the raft log in %s: %w", cfg.Dir, err)
	}
	c.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		return fmt.Errorf("controller: cannot open snapshots in %s: %w", cfg.Dir, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("controller: raft address %s: %w", cfg.RaftAddr, err)
	}
	trans, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, adv, 3, 2*time.Second, hl)
	if err != nil {
		return fmt.Errorf("controller: cannot listen for raft on %s: %w", cfg.RaftAddr, err)
	}
	c.trans = trans

	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("controller: cannot read the raft state in %s: %w", cfg.Dir, err)
	}
	if !has {
		var conf raft.Configuration
		for _, p := range cfg.Peers {
			conf.Servers = append(conf.Servers, raft.Server{
				Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr),
			})
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, trans, conf); err != nil {
			return fmt.Errorf("controller: cannot bootstrap the cluster: %w", err)
		}
		c.log.Info("bootstrapped a new controller cluster", "peers", len(cfg.Peers))
	}
	r, err := raft.NewRaft(rc, c.fsm, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("controller: cannot start raft: %w", err)
	}
	c.raft = r
	return nil
}

// watchLeadership follows raft's leadership notifications. NotifyCh is
// unbuffered and raft blocks on it: raft cannot become leader again
// before this loop has seen it step down, so ready never carries over
// from an earlier term (a liveness table from an older term would make
// live masters look dead).
func (c *Controller) watchLeadership() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case leader := <-c.notify:
			c.mu.Lock()
			c.leaderGen++
			c.ready = false
			gen := c.leaderGen
			c.mu.Unlock()
			if leader {
				c.wg.Add(1)
				go c.becomeReady(gen)
			} else {
				c.log.Info("no longer the controller leader")
			}
		}
	}
}

// becomeReady waits until everything committed before this term is
// applied (raft.Barrier), then serves as leader with a fresh liveness
// table: every known broker gets one heartbeat timeout from now.
func (c *Controller) becomeReady(gen uint64) {
	defer c.wg.Done()
	for {
		err := c.raft.Barrier(c.cfg.ApplyTimeout).Error()
		c.mu.Lock()
		if c.leaderGen != gen {
			c.mu.Unlock()
			return
		}
		if err == nil {
			c.ready = true
			c.live = newLiveness(c.cfg.BrokerHeartbeatTimeout, time.Now())
			c.mu.Unlock()
			c.log.Info("controller leader ready", "groups", len(c.fsm.all()))
			return
		}
		c.mu.Unlock()
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		c.log.Warn("leader barrier failed, retrying", "err", err)
	}
}

// leading reports whether this controller may decide: raft leader in a
// term whose earlier entries it has applied.
func (c *Controller) leading() bool {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	return ready && c.raft.State() == raft.Leader
}

// IsLeader reports whether this controller is the raft leader and ready
// to serve as one.
func (c *Controller) IsLeader() bool { return c.leading() }

// RPCAddr is the bound address of the remoting server.
func (c *Controller) RPCAddr() net.Addr { return c.srv.Addr() }

// leaderRPCAddr names the leader's RPC address, "" when unknown.
func (c *Controller) leaderRPCAddr() string {
	_, id := c.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	if raft.ServerID(c.cfg.ID) == id {
		if a := c.srv.Addr(); a != nil {
			return a.String()
		}
	}
	return c.rpcOf[id]
}

// propose applies one command through raft on the leader and returns the
// FSM's answer. It must be called with proposeMu held, so the caller's
// decision and its application are not interleaved with another one.
func (c *Controller) proposeLocked(kind byte, cmd any) error {
	f := c.raft.Apply(encodeCmd(kind, cmd), c.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrRaftShutdown) {
			return errNotLeader
		}
		return fmt.Errorf("controller: raft apply: %w", err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

var errNotLeader = errors.New("controller: not the leader")

// scanLoop is the leader's periodic look for groups whose master died.
func (c *Controller) scanLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if c.leading() {
				c.scan()
			}
		}
	}
}

func (c *Controller) scan() {
	c.proposeMu.Lock()
	defer c.proposeMu.Unlock()
	for _, g := range c.fsm.all() {
		if !c.leading() {
			return
		}
		c.mu.Lock()
		d := scanGroup(g, c.live, time.Now(), c.cfg.EnableElectUncleanMaster)
		c.mu.Unlock()
		if d.elect == nil {
			continue
		}
		c.applyElection(g, d)
	}
}

// applyElection proposes an election decided by the scan or a heartbeat
// and logs its outcome.
func (c *Controller) applyElection(g *group, d decision) {
	e := d.elect
	if err := c.proposeLocked(kindElect, e); err != nil {
		c.log.Warn("election not applied", "group", g.BrokerName, "err", err)
		return
	}
	switch {
	case e.NewMaster < 0:
		c.log.Warn("broker group has no master", "group", g.BrokerName, "oldMaster", g.MasterID,
			"syncStateSet", g.SyncStateSet, "why", e.Note)
	case d.unclean:
		c.log.Error("UNCLEAN MASTER ELECTED: no in-sync replica was alive; messages acknowledged by the old master may be lost",
			"group", g.BrokerName, "newMaster", e.NewMaster, "oldMaster", g.MasterID,
			"syncStateSet", g.SyncStateSet, "masterEpoch", g.MasterEpoch+1)
	default:
		c.log.Info("master elected", "group", g.BrokerName, "newMaster", e.NewMaster, "oldMaster", g.MasterID,
			"masterEpoch", g.MasterEpoch+1)
	}
}

// Close stops serving, leaves raft (without removing this peer from the
// configuration: a restart from Dir rejoins) and closes the stores.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.srv != nil {
			errs = append(errs, c.srv.Close())
		}
		close(c.stop)
		errs = append(errs, c.closeRaft())
		c.wg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

func (c *Controller) closeRaft() error {
	var errs []error
	if c.raft != nil {
		errs = append(errs, c.raft.Shutdown().Error())
	}
	if c.trans != nil {
		errs = append(errs, c.trans.Close())
	}
	if c.store != nil {
		errs = append(errs, c.store.Close())
	}
	return errors.Join(errs...)
}

// slogWriter carries hashicorp/raft's hclog lines into the slog logger,
// keeping their level.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		lvl := slog.LevelInfo
		switch {
		case bytes.Contains(line, []byte("[ERROR]")):
			lvl = slog.LevelError
		case bytes.Contains(line, []byte("[WARN]")):
			lvl = slog.LevelWarn
		case bytes.Contains(line, []byte("[DEBUG]")), bytes.Contains(line, []byte("[TRACE]")):
			lvl = slog.LevelDebug
		}
		w.log.Log(context.Background(), lvl, "raft", "line", string(line))
	}
	return len(p), nil
}

var _ io.Writer = (*slogWriter)(nil)
