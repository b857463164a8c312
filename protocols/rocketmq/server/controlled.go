package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/replication"
)

// A broker in controller mode (enableControllerMode=true) does not choose
// its role: it heartbeats to the controllers, which say who the group's
// master is and at which epoch. The broker then runs as that master or as
// a slave of it; when the answer changes it stops and starts again in the
// new role (clients reconnect, as they do when a broker restarts). A
// master records the epoch it starts in its epoch file; a slave first
// compares its epoch file with its master's and cuts its log back to the
// last point they share, so a former master never keeps bytes the group
// did not.

// GroupView is what the controllers say about a broker's group.
type GroupView struct {
	MasterID     int64 // -1: no master
	MasterAddr   string
	MasterHAAddr string
	Epoch        int32
	SyncStateSet []int64
	Note         string // why there is no master
}

// Controller is the broker's link to the controllers (the gannet command
// adapts the controller package's client).
type Controller interface {
	Heartbeat(ctx context.Context, maxOffset int64, epoch int32) (GroupView, error)
	AlterSyncStateSet(ctx context.Context, masterEpoch int32, set []int64) (GroupView, error)
}

// ControlledOptions tune RunControlled; zero values take the defaults.
type ControlledOptions struct {
	HeartbeatInterval time.Duration            // 1 s
	Started           func(*Broker, GroupView) // called each time the broker starts in a role (tests, metrics)
}

// epochCache is the answer to GET_BROKER_EPOCH_CACHE.
type epochCache struct {
	Epochs    []replication.Epoch `json:"epochs"`
	MaxOffset int64               `json:"maxOffset"`
}

// RunControlled runs the broker of cfg under the controllers until ctx
// ends, then stops it cleanly. It returns an error only when the broker
// cannot run at all (its store cannot open, its ports are taken).
func RunControlled(ctx context.Context, cfg config.Broker, listen string, ctl Controller, logger *slog.Logger, opts ControlledOptions) error {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	log := logger.With("component", "controlled", "brokerName", cfg.BrokerName, "brokerId", cfg.BrokerID)
	epochs, err := replication.OpenEpochFile(filepath.Join(cfg.StorePathRootDir, "epoch.json"))
	if err != nil {
		return err
	}
	rc := remoting.NewClient(remoting.ClientOptions{Logger: log})
	defer rc.Close()
	var view GroupView
	for ctx.Err() == nil {
		// Learn the role.
		end, err := storeEnd(cfg)
		if err != nil {
			return err
		}
		view, err = ctl.Heartbeat(ctx, end, epochs.Last().Epoch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("controller not reachable; retrying", "err", err)
				sleepCtx(ctx, opts.HeartbeatInterval)
			}
			continue
		}
		if view.MasterID < 0 {
			log.Warn("the group has no master", "note", view.Note)
			sleepCtx(ctx, opts.HeartbeatInterval)
			continue
		}
		var bs *Broker
		if view.MasterID == cfg.BrokerID {
			bs, err = startControlledMaster(cfg, listen, epochs, view, log)
		} else {
			bs, err = startControlledSlave(ctx, cfg, listen, epochs, end, view, rc, log)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errRetry) {
				log.Warn("cannot take the role yet; retrying", "err", err)
				sleepCtx(ctx, opts.HeartbeatInterval)
				continue
			}
			return err
		}
		if opts.Started != nil {
			opts.Started(bs, view)
		}
		serveRole(ctx, bs, cfg, ctl, &view, opts.HeartbeatInterval, log)
		if err := bs.Close(); err != nil {
			log.Error("stopping the broker", "err", err)
		}
	}
	return nil
}

var errRetry = errors.New("retry")

// storeEnd opens the store just long enough to read its log's end.
func storeEnd(cfg config.Broker) (int64, error) {
	eo := cfg.EngineOptions()
	eo.Logger = slog.New(slog.DiscardHandler)
	s, err := engine.Open(eo)
	if err != nil {
		return 0, err
	}
	end := s.MaxPhysicalOffset()
	return end, s.Close()
}

// setReplicas makes a SYNC_MASTER wait for every other member of its
// SyncStateSet; with fewer members than minInSyncReplicas it refuses.
type setReplicas struct {
	m      *replication.Master
	self   int64
	minISR int
	set    atomic.Pointer[[]int64] // members other than self
}

func (r *setReplicas) others() []int64 {
	if p := r.set.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *setReplicas) InSync(int64) bool { return len(r.others())+1 >= r.minISR }

func (r *setReplicas) Await(offset int64, timeout time.Duration, done func(error)) {
	r.m.AwaitAll(r.others(), offset, timeout, done)
}

func (r *setReplicas) update(set []int64) {
	others := slices.DeleteFunc(slices.Clone(set), func(id int64) bool { return id == r.self })
	r.set.Store(&others)
}

func startControlledMaster(cfg config.Broker, listen string, epochs *replication.EpochFile, view GroupView, log *slog.Logger) (*Broker, error) {
	c := cfg
	c.BrokerID = 0 // a group's master registers as broker 0
	c.HAEnable = true
	reps := &setReplicas{self: cfg.BrokerID, minISR: cfg.MinInSyncReplicas}
	reps.update(view.SyncStateSet)
	es := &epochServer{epochs: epochs}
	bs, err := StartBrokerWith(&c, listen, log, StartOptions{
		BeforeServe: func(s *engine.Store) error {
			es.store.Store(s)
			return epochs.Append(view.Epoch, s.MaxPhysicalOffset())
		},
		Replicas:   func(m *replication.Master) broker.Replicas { reps.m = m; return reps },
		Processors: map[int32]remoting.Processor{remoting.ReqGetBrokerEpochCache: es.process},
	})
	if err != nil {
		return nil, err
	}
	bs.setReplicas = reps
	log.Info("running as master", "epoch", view.Epoch, "syncStateSet", view.SyncStateSet, "epochStart", epochs.Last().StartOffset)
	return bs, nil
}

// end is the local log's end (the store is closed).
func startControlledSlave(ctx context.Context, cfg config.Broker, listen string, epochs *replication.EpochFile, end int64, view GroupView, rc *remoting.Client, log *slog.Logger) (*Broker, error) {
	// The master's epochs, to find where this log agrees with it.
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	resp, err := rc.Invoke(cctx, view.MasterAddr, remoting.NewRequest(remoting.ReqGetBrokerEpochCache, nil, nil))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: asking master %s for its epochs: %v", errRetry, view.MasterAddr, err)
	}
	var remote epochCache
	err = json.Unmarshal(resp.Body, &remote)
	if resp.Release != nil {
		resp.Release()
	}
	if resp.Code != remoting.ResSuccess || err != nil {
		return nil, fmt.Errorf("%w: master %s answered its epochs with %s %s (%v)", errRetry, view.MasterAddr, remoting.ResponseCodeName(resp.Code), resp.Remark, err)
	}
	if end > 0 {
		point := replication.ConsistentPoint(epochs.Entries(), end, remote.Epochs, remote.MaxOffset)
		if point < 0 {
			point = 0
		}
		if point < end {
			eo := cfg.EngineOptions()
			eo.Logger = log
			cut, err := engine.Truncate(eo, point)
			if err != nil {
				return nil, fmt.Errorf("cutting the log back to %d, where it agrees with master %s: %w", point, view.MasterAddr, err)
			}
			log.Warn("cut the log back to where it agrees with the new master", "to", point, "bytes", cut, "master", view.MasterAddr, "epoch", view.Epoch)
		}
	}
	// The log is now a prefix of the master's: its history is the master's.
	if err := epochs.Replace(remote.Epochs); err != nil {
		return nil, err
	}
	c := cfg
	c.BrokerRole = config.Slave
	c.HAMasterAddress = view.MasterHAAddr
	es := &epochServer{epochs: epochs}
	bs, err := StartBrokerWith(&c, listen, log, StartOptions{
		BeforeServe: func(s *engine.Store) error { es.store.Store(s); return nil },
		SlaveID:     cfg.BrokerID,
		Processors:  map[int32]remoting.Processor{remoting.ReqGetBrokerEpochCache: es.process},
	})
	if err != nil {
		return nil, err
	}
	log.Info("running as slave", "master", view.MasterAddr, "epoch", view.Epoch)
	return bs, nil
}

// epochServer answers GET_BROKER_EPOCH_CACHE: the broker's epoch list and
// its log's end, what a new slave needs to find where it agrees.
type epochServer struct {
	epochs *replication.EpochFile
	store  atomic.Pointer[engine.Store] // set before the broker serves
}

func (e *epochServer) process(conn remoting.Conn, req *remoting.Command) {
	var end int64
	if s := e.store.Load(); s != nil {
		end = s.MaxPhysicalOffset()
	}
	body, err := json.Marshal(epochCache{Epochs: e.epochs.Entries(), MaxOffset: end})
	resp := remoting.NewResponse(req, remoting.ResSuccess, "")
	if err != nil {
		resp = remoting.NewResponse(req, remoting.ResSystemError, err.Error())
	}
	resp.Body = body
	conn.Send(resp)
}

// serveRole heartbeats while the broker runs in the role of view and
// returns when the role must change or ctx ends. A master also keeps its
// SyncStateSet: replicas that caught up join it, replicas that fell
// behind or went silent leave it.
func serveRole(ctx context.Context, bs *Broker, cfg config.Broker, ctl Controller, view *GroupView, every time.Duration, log *slog.Logger) {
	master := view.MasterID == cfg.BrokerID
	lastSeen := map[int64]time.Time{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := ctl.Heartbeat(ctx, bs.Store().MaxPhysicalOffset(), view.Epoch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("controller heartbeat failed; keeping the current role", "err", err)
			}
			continue
		}
		switch {
		case master && (v.MasterID != cfg.BrokerID || v.Epoch != view.Epoch):
			log.Warn("no longer master; stepping down", "newMaster", v.MasterID, "epoch", v.Epoch)
			return
		case !master && (v.MasterID != view.MasterID || v.Epoch != view.Epoch || v.MasterAddr != view.MasterAddr):
			log.Info("the group's master changed", "master", v.MasterID, "epoch", v.Epoch)
			return
		}
		*view = v
		if !master || bs.setReplicas == nil {
			continue
		}
		bs.setReplicas.update(v.SyncStateSet)
		want := syncStateSet(bs, cfg, v.SyncStateSet, lastSeen)
		if !slices.Equal(want, v.SyncStateSet) {
			nv, err := ctl.AlterSyncStateSet(ctx, v.Epoch, want)
			if err != nil {
				log.Warn("cannot change the SyncStateSet", "from", v.SyncStateSet, "to", want, "err", err)
				continue
			}
			log.Info("SyncStateSet changed", "from", v.SyncStateSet, "to", nv.SyncStateSet)
			*view = nv
			bs.setReplicas.update(nv.SyncStateSet)
		}
	}
}

// syncStateSet is the set a master wants: itself, the members still
// within haMaxGapNotInSync and heard from within haMaxTimeSlaveNotCatchup,
// and the replicas that have caught up (within the gap).
func syncStateSet(bs *Broker, cfg config.Broker, current []int64, lastSeen map[int64]time.Time) []int64 {
	now := time.Now()
	end := bs.Store().MaxPhysicalOffset()
	acks := bs.HAMaster().Acks()
	for id, off := range acks {
		if end-off < cfg.HAMaxGapNotInSync {
			lastSeen[id] = now
		}
	}
	want := []int64{cfg.BrokerID}
	for id, seen := range lastSeen {
		if id != cfg.BrokerID && now.Sub(seen) < cfg.HAMaxTimeSlaveNotCatchup {
			if _, connected := acks[id]; connected || slices.Contains(current, id) {
				want = append(want, id)
			}
		}
	}
	slices.Sort(want)
	return slices.Compact(want)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
