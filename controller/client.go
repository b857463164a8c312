package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// Client bounds: one try waits at most attemptTimeout, so a controller
// that accepts connections but does not answer (cut off from its peers)
// costs one try, not the caller's whole deadline; between rounds over
// every address it backs off from minBackoff to maxBackoff.
const (
	attemptTimeout = 2 * time.Second
	minBackoff     = 50 * time.Millisecond
	maxBackoff     = time.Second
)

// Client talks to whichever controller is the leader. It remembers the
// last leader, follows the leader named in CONTROLLER_NOT_LEADER answers,
// and otherwise tries the given addresses in turn until ctx is done. Its
// methods are safe for concurrent use.
type Client struct {
	addrs []string
	rc    *remoting.Client

	mu     sync.Mutex
	leader string // guarded by mu; "" when unknown
}

// NewClient returns a client of the controllers at addrs (RPC addresses)
// over rc, which the caller owns and closes.
func NewClient(addrs []string, rc *remoting.Client) *Client {
	return &Client{addrs: slices.Clone(addrs), rc: rc}
}

// Heartbeat reports a broker alive and registers it on its first call.
// The answer is the group's state: the broker is master iff MasterID ==
// hb.BrokerID, and a master whose hb.Epoch is older than MasterEpoch has
// been replaced and must step down.
func (c *Client) Heartbeat(ctx context.Context, hb Heartbeat) (GroupState, error) {
	var gs GroupState
	err := c.call(ctx, remoting.ReqBrokerHeartbeat, hb, &gs)
	return gs, err
}

// AlterSyncStateSet replaces the group's SyncStateSet. Only the master
// masterID at the current masterEpoch may: anything else is refused with
// an *Error (CONTROLLER_FENCED_MASTER_EPOCH for a stale epoch,
// CONTROLLER_INVALID_MASTER, _INVALID_REPLICAS, _BROKER_NOT_ALIVE), and
// the returned state then says what the group looks like now.
func (c *Client) AlterSyncStateSet(ctx context.Context, brokerName string, masterID int64, masterEpoch int32, newSet []int64) (GroupState, error) {
	var gs GroupState
	err := c.call(ctx, remoting.ReqControllerAlterSyncStateSet,
		alterRequest{BrokerName: brokerName, MasterID: masterID, MasterEpoch: masterEpoch, SyncStateSet: newSet}, &gs)
	return gs, err
}

// ElectMaster hands mastership over to preferredID, which must be alive
// and in the SyncStateSet; -1 lets the controller pick the alive member
// with the largest MaxOffset other than the current master.
func (c *Client) ElectMaster(ctx context.Context, brokerName string, preferredID int64) (GroupState, error) {
	var gs GroupState
	err := c.call(ctx, remoting.ReqControllerElectMaster, electRequest{BrokerName: brokerName, BrokerID: preferredID}, &gs)
	return gs, err
}

// Group returns one group's state.
func (c *Client) Group(ctx context.Context, brokerName string) (GroupState, error) {
	var gs GroupState
	err := c.call(ctx, remoting.ReqControllerGetReplicaInfo, groupRequest{BrokerName: brokerName}, &gs)
	return gs, err
}

// Groups returns every group's state, sorted by name.
func (c *Client) Groups(ctx context.Context) ([]GroupState, error) {
	var gs []GroupState
	err := c.call(ctx, remoting.ReqControllerGetSyncStateData, groupsRequest{}, &gs)
	return gs, err
}

func (c *Client) candidates() []string {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	out := make([]string, 0, len(c.addrs)+1)
	if leader != "" {
		out = append(out, leader)
	}
	for _, a := range c.addrs {
		if a != leader {
			out = append(out, a)
		}
	}
	return out
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.leader = addr
	c.mu.Unlock()
}

// call sends one request to the leader, finding it as it goes. A
// refusal (*Error) is final: the body, when there is one, is still
// decoded into out.
func (c *Client) call(ctx context.Context, code int32, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("controller client: cannot encode request: %w", err)
	}
	if len(c.addrs) == 0 {
		return errors.New("controller client: no controller address")
	}
	backoff := minBackoff
	var last error
	for {
		queue := c.candidates()
		tried := map[string]bool{}
		for len(queue) > 0 {
			addr := queue[0]
			queue = queue[1:]
			if tried[addr] {
				continue
			}
			tried[addr] = true
			resp, err := c.try(ctx, addr, code, body)
			if err != nil {
				last = err
				if ctx.Err() != nil {
					return fmt.Errorf("controller client: %w (last error: %v)", ctx.Err(), last)
				}
				continue
			}
			switch resp.Code {
			case remoting.ResSuccess:
				c.setLeader(addr)
				if err := json.Unmarshal(resp.Body, out); err != nil {
					return fmt.Errorf("controller client: bad answer from %s: %w", addr, err)
				}
				return nil
			case remoting.ResControllerNotLeader, remoting.ResSystemBusy:
				last = &Error{Code: resp.Code, Remark: fmt.Sprintf("%s: %s", addr, resp.Remark)}
				if l := resp.ExtFields[extLeaderAddr]; l != "" && !tried[l] {
					queue = append([]string{l}, queue...)
				}
			default:
				if len(resp.Body) > 0 {
					json.Unmarshal(resp.Body, out) // best effort: the state that goes with a refusal
				}
				c.setLeader(addr)
				return &Error{Code: resp.Code, Remark: resp.Remark}
			}
		}
		// No leader answered in this round: an election is likely under
		// way. Wait and try everyone again.
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller client: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (c *Client) try(ctx context.Context, addr string, code int32, body []byte) (*remoting.Command, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	return c.rc.Invoke(actx, addr, remoting.NewRequest(code, nil, body))
}
