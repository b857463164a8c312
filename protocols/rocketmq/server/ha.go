package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/replication"
)

// ha is a broker's side of replication: a master serves its CommitLog on
// the HA port; a slave copies its master's CommitLog and metadata.
type ha struct {
	master *replication.Master // masters only
	ln     net.Listener

	cancel context.CancelFunc // slaves only
	wg     sync.WaitGroup
}

// haListenAddr is where a master accepts slaves: the broker's listen host
// and haListenPort.
func haListenAddr(cfg *config.Broker, listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(cfg.HAListenPort))
}

// startMasterHA listens on the HA port and serves slaves.
func startMasterHA(cfg *config.Broker, listen string, store *engine.Store, logger *slog.Logger) (*ha, error) {
	addr := haListenAddr(cfg, listen)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker cannot listen for slaves on %s (haListenPort): %w", addr, err)
	}
	m := replication.NewMaster(store, replication.MasterOptions{
		BatchSize:            cfg.HATransferBatchSize,
		HeartbeatInterval:    cfg.HASendHeartbeatInterval,
		HousekeepingInterval: cfg.HAHousekeepingInterval,
		Logger:               logger,
	})
	h := &ha{master: m, ln: ln}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := m.Serve(ln); err != nil {
			logger.Error("HA listener stopped", "addr", addr, "err", err)
		}
	}()
	return h, nil
}

// startSlaveHA replicates from haMasterAddress, or from the HA address the
// name servers give (b learns it when it registers), and copies the
// master's metadata every broker.SlaveSyncInterval.
func startSlaveHA(cfg *config.Broker, store *engine.Store, b *broker.Broker, client broker.NamesrvClient, stop <-chan struct{}, slaveID int64, logger *slog.Logger) *ha {
	ctx, cancel := context.WithCancel(context.Background())
	h := &ha{cancel: cancel}
	haAddr := func() string {
		if cfg.HAMasterAddress != "" {
			return cfg.HAMasterAddress
		}
		return b.MasterHAAddr()
	}
	s := replication.NewSlave(store, "", replication.SlaveOptions{
		HeartbeatInterval:    cfg.HASendHeartbeatInterval,
		HousekeepingInterval: cfg.HAHousekeepingInterval,
		MasterAddr:           haAddr,
		BrokerID:             slaveID,
		Logger:               logger,
	})
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		if err := s.Run(ctx); err != nil {
			logger.Error("replication stopped; this slave keeps serving reads of what it has, and will not copy its master until the cause is fixed and it restarts", "err", err)
		}
	}()
	go func() {
		defer h.wg.Done()
		b.SlaveSyncLoop(stop, client, b.MasterAddr, broker.SlaveSyncInterval)
	}()
	return h
}

// close stops replication and waits for its goroutines.
func (h *ha) close() {
	if h == nil {
		return
	}
	if h.master != nil {
		h.master.Close()
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
}

// HAMaster is the replication master of a master broker (nil otherwise).
func (bs *Broker) HAMaster() *replication.Master {
	if bs.ha == nil {
		return nil
	}
	return bs.ha.master
}

// SlaveOffsets lists each connected slave's acknowledged CommitLog offset
// (a master; empty otherwise).
func (bs *Broker) SlaveOffsets() map[string]int64 {
	if bs.ha == nil || bs.ha.master == nil {
		return map[string]int64{}
	}
	return bs.ha.master.SlaveOffsets()
}

// ErrSlaveNotAvailable is AwaitReplicas' answer when no slave is in sync.
var ErrSlaveNotAvailable = errors.New("no slave in sync with the master; the message is stored on the master only")

// AwaitReplicas is what another front end (MQTT) calls after the engine
// acknowledged an append ending at end, before acknowledging to its
// client: on a SYNC_MASTER it returns once a slave has those bytes,
// ErrSlaveNotAvailable at once if none is in sync, or an error after
// syncFlushTimeout; on other roles it returns nil at once.
func (bs *Broker) AwaitReplicas(ctx context.Context, end int64) error {
	r := bs.replicas // the same rule RocketMQ sends follow
	if r == nil {
		return nil
	}
	if !r.InSync(bs.cfg.HAMaxGapNotInSync) {
		return ErrSlaveNotAvailable
	}
	done := make(chan error, 1)
	r.Await(end, bs.cfg.SyncFlushTimeout, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("no slave acknowledged the message in time; it is stored on the master: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsSlave reports whether the broker is a slave (other front ends refuse
// writes there).
func (bs *Broker) IsSlave() bool { return bs.cfg.BrokerRole == config.Slave }

// ReplicationMetrics is a master's replication state for the metrics
// exporter.
type ReplicationMetrics struct {
	Slaves   int   // slaves connected now
	LagBytes int64 // CommitLog bytes the furthest-behind slave lacks (0 without slaves)
}

// ReplicationMetrics reads the master's replication state (zero on a
// slave or without an HA listener).
func (bs *Broker) ReplicationMetrics() ReplicationMetrics {
	offs := bs.SlaveOffsets()
	m := ReplicationMetrics{Slaves: len(offs)}
	end := bs.store.MaxPhysicalOffset()
	for _, off := range offs {
		m.LagBytes = max(m.LagBytes, end-off)
	}
	return m
}
