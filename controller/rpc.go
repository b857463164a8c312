package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// BrokerInfo is one broker of a group as the leader sees it. Alive,
// MaxOffset and Epoch come from its heartbeats to the current leader
// (MaxOffset -1: not heard from since that leader took over).
type BrokerInfo struct {
	ID        int64  `json:"brokerId"`
	Addr      string `json:"addr"`
	HAAddr    string `json:"haAddr"`
	Alive     bool   `json:"alive"`
	MaxOffset int64  `json:"maxOffset"`
	Epoch     int32  `json:"epoch"`
}

// GroupState is a broker group's replicated state plus the leader's view
// of its brokers' liveness; it is the answer to every broker and admin
// request.
type GroupState struct {
	ClusterName       string       `json:"clusterName"`
	BrokerName        string       `json:"brokerName"`
	MasterID          int64        `json:"masterId"` // -1: no master
	MasterAddr        string       `json:"masterAddr"`
	MasterHAAddr      string       `json:"masterHaAddr"`
	MasterEpoch       int32        `json:"masterEpoch"`
	SyncStateSet      []int64      `json:"syncStateSet"` // sorted
	SyncStateSetEpoch int32        `json:"syncStateSetEpoch"`
	Brokers           []BrokerInfo `json:"brokers"` // sorted by ID
	Note              string       `json:"note,omitempty"`
}

// Heartbeat is what a broker sends every second (RocketMQ's
// brokerHeartbeatInterval); the first one registers it.
type Heartbeat struct {
	ClusterName string `json:"clusterName"`
	BrokerName  string `json:"brokerName"`
	BrokerID    int64  `json:"brokerId"`
	Addr        string `json:"addr"`
	HAAddr      string `json:"haAddr"`
	MaxOffset   int64  `json:"maxOffset"`
	Epoch       int32  `json:"epoch"` // the master epoch this broker last knew
}

// Request bodies other than Heartbeat.
type alterRequest struct {
	BrokerName   string  `json:"brokerName"`
	MasterID     int64   `json:"masterId"`
	MasterEpoch  int32   `json:"masterEpoch"`
	SyncStateSet []int64 `json:"syncStateSet"`
}

type electRequest struct {
	BrokerName string `json:"brokerName"`
	BrokerID   int64  `json:"brokerId"` // -1: the controller picks
}

type groupRequest struct {
	BrokerName string `json:"brokerName"`
}

type groupsRequest struct {
	BrokerNames []string `json:"brokerNames,omitempty"` // empty: every group
}

// extLeaderAddr is the extField of a CONTROLLER_NOT_LEADER answer naming
// the leader's RPC address, when known.
const extLeaderAddr = "leaderAddr"

func (c *Controller) startRPC() error {
	r := remoting.NewRouter()
	r.Register(remoting.ReqBrokerHeartbeat, c.processor(c.handleHeartbeat))
	r.Register(remoting.ReqControllerAlterSyncStateSet, c.processor(c.handleAlter))
	r.Register(remoting.ReqControllerElectMaster, c.processor(c.handleElect))
	r.Register(remoting.ReqControllerGetReplicaInfo, c.processor(c.handleGroup))
	r.Register(remoting.ReqControllerGetSyncStateData, c.processor(c.handleGroups))
	c.srv = remoting.NewServer(remoting.ServerOptions{
		Addr:   c.cfg.RPCAddr,
		Router: r,
		Logger: c.log,
	})
	if err := c.srv.Listen(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.srv.Serve(); err != nil {
			c.log.Error("controller RPC server stopped", "err", err)
		}
	}()
	return nil
}

// handler answers one request: a body to send as JSON, or an error.
type handler func(body []byte) (any, error)

// processor runs h off the read callback: raft.Apply waits for a quorum,
// and a remoting processor must not block. The number in flight is
// bounded; past it the answer is SYSTEM_BUSY.
func (c *Controller) processor(h handler) remoting.Processor {
	return func(conn remoting.Conn, req *remoting.Command) {
		select {
		case c.sem <- struct{}{}:
		default:
			conn.Send(remoting.NewResponse(req, remoting.ResSystemBusy, "controller busy"))
			return
		}
		body := req.Body
		req.Keep()
		go func() {
			defer func() { <-c.sem }()
			out, err := h(body)
			req.Free()
			conn.Send(c.respond(req, out, err))
		}()
	}
}

func (c *Controller) respond(req *remoting.Command, out any, err error) *remoting.Command {
	var resp *remoting.Command
	var ce *Error
	switch {
	case err == nil:
		resp = remoting.NewResponse(req, remoting.ResSuccess, "")
	case errors.Is(err, errNotLeader):
		leader := c.leaderRPCAddr()
		resp = remoting.NewResponse(req, remoting.ResControllerNotLeader, "not the controller leader; leader is "+orUnknown(leader))
		resp.ExtFields = map[string]string{extLeaderAddr: leader}
		return resp
	case errors.As(err, &ce):
		resp = remoting.NewResponse(req, ce.Code, ce.Remark)
	default:
		resp = remoting.NewResponse(req, remoting.ResSystemError, err.Error())
	}
	// A refusal still carries the group's state when there is one: a
	// fenced master learns from it who the master is now.
	if out != nil {
		b, jerr := json.Marshal(out)
		if jerr != nil {
			return remoting.NewResponse(req, remoting.ResSystemError, "cannot encode the answer: "+jerr.Error())
		}
		resp.Body = b
	}
	return resp
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return refuse(remoting.ResControllerInvalidRequest, "bad request body: %v", err)
	}
	return nil
}

func (c *Controller) handleHeartbeat(body []byte) (any, error) {
	var hb Heartbeat
	if err := decode(body, &hb); err != nil {
		return nil, err
	}
	gs, err := c.heartbeat(hb)
	if err != nil {
		return nil, err
	}
	return gs, nil
}

// heartbeat records the broker's liveness, registers it when it is new
// or moved, and elects a master when the group has none: the first
// broker of a new group, or a SyncStateSet member back alive.
func (c *Controller) heartbeat(hb Heartbeat) (GroupState, error) {
	if hb.BrokerName == "" || hb.BrokerID < 0 || hb.Addr == "" {
		return GroupState{}, refuse(remoting.ResControllerInvalidRequest,
			"heartbeat needs brokerName, brokerId >= 0 and addr (got %q, %d, %q)", hb.BrokerName, hb.BrokerID, hb.Addr)
	}
	if !c.leading() {
		return GroupState{}, errNotLeader
	}
	c.mu.Lock()
	c.live.record(hb.BrokerName, hb.BrokerID, time.Now(), hb.MaxOffset, hb.Epoch)
	c.mu.Unlock()

	if g, ok := c.fsm.group(hb.BrokerName); !ok || needsRegister(g, hb) || g.MasterID < 0 {
		c.proposeMu.Lock()
		err := c.heartbeatLocked(hb)
		c.proposeMu.Unlock()
		if err != nil {
			return GroupState{}, err
		}
	}
	g, ok := c.fsm.group(hb.BrokerName)
	if !ok {
		return GroupState{}, refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", hb.BrokerName)
	}
	return c.view(g), nil
}

func needsRegister(g *group, hb Heartbeat) bool {
	b := g.Brokers[hb.BrokerID]
	return b == nil || b.Addr != hb.Addr || b.HAAddr != hb.HAAddr ||
		(hb.ClusterName != "" && hb.ClusterName != g.ClusterName)
}

func (c *Controller) heartbeatLocked(hb Heartbeat) error {
	g, ok := c.fsm.group(hb.BrokerName)
	if !ok || needsRegister(g, hb) {
		err := c.proposeLocked(kindRegister, registerCmd{
			ClusterName: hb.ClusterName, BrokerName: hb.BrokerName, ID: hb.BrokerID, Addr: hb.Addr, HAAddr: hb.HAAddr,
		})
		if err != nil {
			return err
		}
		c.log.Info("broker registered", "group", hb.BrokerName, "broker", hb.BrokerID, "addr", hb.Addr, "haAddr", hb.HAAddr)
		if g, ok = c.fsm.group(hb.BrokerName); !ok {
			return refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q vanished", hb.BrokerName)
		}
	}
	switch {
	case g.neverHadMaster():
		c.applyElection(g, decision{elect: &electCmd{BrokerName: g.BrokerName, NewMaster: hb.BrokerID}})
	case g.MasterID < 0:
		c.mu.Lock()
		d := scanGroup(g, c.live, time.Now(), c.cfg.EnableElectUncleanMaster)
		c.mu.Unlock()
		if d.elect != nil && d.elect.NewMaster >= 0 {
			c.applyElection(g, d)
		}
	}
	return nil
}

func (c *Controller) handleAlter(body []byte) (any, error) {
	var r alterRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if !c.leading() {
		return nil, errNotLeader
	}
	c.proposeMu.Lock()
	defer c.proposeMu.Unlock()
	g, ok := c.fsm.group(r.BrokerName)
	if !ok {
		return nil, refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", r.BrokerName)
	}
	c.mu.Lock()
	cmd, err := decideAlter(g, r.MasterID, r.MasterEpoch, r.SyncStateSet, c.live, time.Now())
	c.mu.Unlock()
	if err == nil && cmd != nil {
		err = c.proposeLocked(kindAlter, cmd)
		if err == nil {
			c.log.Info("sync state set altered", "group", r.BrokerName, "from", g.SyncStateSet, "to", cmd.NewSet,
				"syncStateSetEpoch", g.SyncStateSetEpoch+1)
		}
	}
	return c.answer(r.BrokerName, err)
}

func (c *Controller) handleElect(body []byte) (any, error) {
	var r electRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if !c.leading() {
		return nil, errNotLeader
	}
	c.proposeMu.Lock()
	defer c.proposeMu.Unlock()
	g, ok := c.fsm.group(r.BrokerName)
	if !ok {
		return nil, refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", r.BrokerName)
	}
	c.mu.Lock()
	cmd, err := decideAdminElect(g, r.BrokerID, c.live, time.Now())
	c.mu.Unlock()
	if err == nil && cmd != nil {
		err = c.proposeLocked(kindElect, cmd)
		if err == nil {
			c.log.Info("master handed over by an admin", "group", r.BrokerName, "from", g.MasterID, "to", cmd.NewMaster,
				"masterEpoch", g.MasterEpoch+1)
		}
	}
	return c.answer(r.BrokerName, err)
}

// answer is the group's state with err; the state goes with refusals too.
func (c *Controller) answer(name string, err error) (any, error) {
	if errors.Is(err, errNotLeader) {
		return nil, err
	}
	g, ok := c.fsm.group(name)
	if !ok {
		return nil, err
	}
	return c.view(g), err
}

func (c *Controller) handleGroup(body []byte) (any, error) {
	var r groupRequest
	if err := decode(body, &r); err != nil {
		return nil, err
	}
	if !c.leading() {
		return nil, errNotLeader
	}
	g, ok := c.fsm.group(r.BrokerName)
	if !ok {
		return nil, refuse(remoting.ResControllerBrokerMetadataNotExist, "broker group %q is not registered", r.BrokerName)
	}
	return c.view(g), nil
}

func (c *Controller) handleGroups(body []byte) (any, error) {
	var r groupsRequest
	if len(body) > 0 {
		if err := decode(body, &r); err != nil {
			return nil, err
		}
	}
	if !c.leading() {
		return nil, errNotLeader
	}
	out := []GroupState{}
	for _, g := range c.fsm.all() {
		if len(r.BrokerNames) == 0 || slices.Contains(r.BrokerNames, g.BrokerName) {
			out = append(out, c.view(g))
		}
	}
	return out, nil
}

// view is g with the leader's liveness of its brokers.
func (c *Controller) view(g *group) GroupState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	gs := GroupState{
		ClusterName:       g.ClusterName,
		BrokerName:        g.BrokerName,
		MasterID:          g.MasterID,
		MasterEpoch:       g.MasterEpoch,
		SyncStateSet:      slices.Clone(g.SyncStateSet),
		SyncStateSetEpoch: g.SyncStateSetEpoch,
		Note:              g.Note,
		Brokers:           make([]BrokerInfo, 0, len(g.Brokers)),
	}
	if gs.SyncStateSet == nil {
		gs.SyncStateSet = []int64{}
	}
	if b := g.Brokers[g.MasterID]; b != nil {
		gs.MasterAddr, gs.MasterHAAddr = b.Addr, b.HAAddr
	}
	for _, id := range slices.Sorted(maps.Keys(g.Brokers)) {
		b := g.Brokers[id]
		beat, _ := c.live.lastBeat(g.BrokerName, id)
		gs.Brokers = append(gs.Brokers, BrokerInfo{
			ID: id, Addr: b.Addr, HAAddr: b.HAAddr,
			Alive:     c.live.alive(g.BrokerName, id, now),
			MaxOffset: beat.maxOffset, Epoch: beat.epoch,
		})
	}
	return gs
}
