package controller

import (
	"slices"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// liveness is what the leader knows of each broker from its heartbeats.
// It is not replicated: a new leader starts one with since = the moment
// it became ready, which gives every broker a fresh grace period of one
// heartbeat timeout (RocketMQ's DefaultBrokerHeartbeatManager likewise
// lives in the leader's memory only).
type liveness struct {
	timeout time.Duration
	since   time.Time
	beats   map[beatKey]beat
}

type beatKey struct {
	group string
	id    int64
}

type beat struct {
	at        time.Time
	maxOffset int64
	epoch     int32
}

func newLiveness(timeout time.Duration, since time.Time) *liveness {
	return &liveness{timeout: timeout, since: since, beats: map[beatKey]beat{}}
}

func (l *liveness) record(group string, id int64, now time.Time, maxOffset int64, epoch int32) {
	l.beats[beatKey{group, id}] = beat{at: now, maxOffset: maxOffset, epoch: epoch}
}

// alive reports whether the broker was heard from (or, if never, the
// leadership began) less than one timeout before now.
func (l *liveness) alive(group string, id int64, now time.Time) bool {
	last := l.since
	if b, ok := l.beats[beatKey{group, id}]; ok && b.at.After(last) {
		last = b.at
	}
	return now.Sub(last) < l.timeout
}

// lastBeat returns the broker's last heartbeat; maxOffset is -1 when
// this leader has not heard from it, so any broker that reported ranks
// above it.
func (l *liveness) lastBeat(group string, id int64) (b beat, ok bool) {
	b, ok = l.beats[beatKey{group, id}]
	if !ok {
		b.maxOffset = -1
	}
	return b, ok
}

// decision is what the leader proposes for a group, or nothing.
type decision struct {
	elect   *electCmd
	unclean bool // the new master is outside the SyncStateSet
}

// pickMaster chooses among candidates the alive broker with the largest
// MaxOffset (ties: the smaller id, so the choice is stable), leaving out
// exclude. It returns -1 when none is alive.
func pickMaster(g *group, candidates []int64, exclude int64, lv *liveness, now time.Time) int64 {
	best, bestOff := int64(-1), int64(0)
	for _, id := range candidates {
		if id == exclude || !lv.alive(g.BrokerName, id, now) {
			continue
		}
		if _, ok := g.Brokers[id]; !ok {
			continue
		}
		b, _ := lv.lastBeat(g.BrokerName, id)
		if best < 0 || b.maxOffset > bestOff || (b.maxOffset == bestOff && id < best) {
			best, bestOff = id, b.maxOffset
		}
	}
	return best
}

// scanGroup is the leader's periodic check of one group (RocketMQ's
// scanNeedReelectBrokerSets): when the master's heartbeats expired, or
// the group has no master, elect from the SyncStateSet the alive member
// with the largest MaxOffset; when no member is alive, an unclean master
// if allowed, else no master with a note.
func scanGroup(g *group, lv *liveness, now time.Time, unclean bool) decision {
	if g.MasterID >= 0 && lv.alive(g.BrokerName, g.MasterID, now) {
		return decision{}
	}
	if g.neverHadMaster() {
		// The first broker to heartbeat is elected by the heartbeat
		// itself; a group with no heartbeat yet has nobody to elect.
		return decision{}
	}
	dead := g.MasterID // -1 when the master is already gone
	if id := pickMaster(g, g.SyncStateSet, dead, lv, now); id >= 0 {
		return decision{elect: &electCmd{BrokerName: g.BrokerName, NewMaster: id, ExpectMasterEpoch: g.MasterEpoch}}
	}
	if unclean {
		all := make([]int64, 0, len(g.Brokers))
		for id := range g.Brokers {
			all = append(all, id)
		}
		if id := pickMaster(g, all, dead, lv, now); id >= 0 {
			return decision{elect: &electCmd{BrokerName: g.BrokerName, NewMaster: id, ExpectMasterEpoch: g.MasterEpoch}, unclean: true}
		}
	}
	note := "no in-sync replica alive; enableElectUncleanMaster is off"
	if unclean {
		note = "no broker of the group alive"
	}
	if g.MasterID < 0 && g.Note == note {
		return decision{} // already recorded; keep checking quietly
	}
	return decision{elect: &electCmd{BrokerName: g.BrokerName, NewMaster: -1, ExpectMasterEpoch: g.MasterEpoch, Note: note}}
}

// decideAdminElect is an admin's handover (CONTROLLER_ELECT_MASTER):
// preferred must be registered, alive and in the SyncStateSet; -1 lets
// the controller pick the alive member other than the current master with
// the largest MaxOffset. Electing the current master changes nothing.
func decideAdminElect(g *group, preferred int64, lv *liveness, now time.Time) (*electCmd, error) {
	if preferred >= 0 {
		if _, ok := g.Brokers[preferred]; !ok {
			return nil, refuse(remoting.ResControllerBrokerMetadataNotExist, "broker %d is not registered in group %q", preferred, g.BrokerName)
		}
		if preferred == g.MasterID {
			return nil, nil
		}
		if !g.inSet(preferred) {
			return nil, refuse(remoting.ResControllerElectMasterFailed,
				"broker %d is not in the sync state set %v of group %q", preferred, g.SyncStateSet, g.BrokerName)
		}
		if !lv.alive(g.BrokerName, preferred, now) {
			return nil, refuse(remoting.ResControllerBrokerNotAlive, "broker %d of group %q is not alive", preferred, g.BrokerName)
		}
		return &electCmd{BrokerName: g.BrokerName, NewMaster: preferred, ExpectMasterEpoch: g.MasterEpoch}, nil
	}
	id := pickMaster(g, g.SyncStateSet, g.MasterID, lv, now)
	if id < 0 {
		return nil, refuse(remoting.ResControllerElectMasterFailed,
			"no alive broker in the sync state set %v of group %q other than the master %d", g.SyncStateSet, g.BrokerName, g.MasterID)
	}
	return &electCmd{BrokerName: g.BrokerName, NewMaster: id, ExpectMasterEpoch: g.MasterEpoch}, nil
}

// decideAlter checks an AlterSyncStateSet against the replicated state
// and the leader's liveness (every member of the new set must be alive,
// as in RocketMQ) and returns the command, or nil when the set is already
// the one asked for.
func decideAlter(g *group, masterID int64, masterEpoch int32, newSet []int64, lv *liveness, now time.Time) (*alterCmd, error) {
	if err := checkAlter(g, masterID, masterEpoch, newSet); err != nil {
		return nil, err
	}
	set := normalizeSet(newSet)
	if slices.Equal(set, g.SyncStateSet) {
		return nil, nil // a retry of an applied change
	}
	for _, id := range set {
		if !lv.alive(g.BrokerName, id, now) {
			return nil, refuse(remoting.ResControllerBrokerNotAlive, "broker %d of the new sync state set is not alive", id)
		}
	}
	return &alterCmd{BrokerName: g.BrokerName, MasterID: masterID, MasterEpoch: masterEpoch,
		ExpectSetEpoch: g.SyncStateSetEpoch, NewSet: set}, nil
}
