package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): the queue locks of orderly
// consumption (RebalanceLockManager, AdminBrokerProcessor.lockBatchMQ and
// unlockBatchMQ; protocol reference §3.3.8 and §8.6).
//
// Per consumer group and message queue (topic, brokerName, queueId) at
// most one client id holds a lock. A LOCK grants a queue that is unlocked,
// renews one its client already holds, and takes over one whose holder has
// not renewed it for lockMaxLiveTime; it answers the subset of the
// requested queues the client holds afterwards. An UNLOCK releases the
// queues held by its client and leaves the others alone. Clients renew
// every 20 s, so a lock outlives a crashed client by at most a minute.
//
// Both bodies are JSON, as fastjson and the Go client write them:
//
//	{"consumerGroup":"g","clientId":"10.0.0.5@4242","onlyThisBroker":false,
//	 "mqSet":[{"topic":"t","brokerName":"broker-a","queueId":0}]}
//
// and the LOCK response body is LockBatchResponseBody:
//
//	{"lockOKMQSet":[{"topic":"t","brokerName":"broker-a","queueId":0}]}
//
// onlyThisBroker only matters with lockInStrictMode, where a Java master
// also asks its replicas for a quorum; Gannet locks on this broker alone,
// which is what Java does with the default lockInStrictMode=false.
//
// Locks live in memory only, as in Java: a restarted broker starts with
// none, and clients take them again on their next renewal.

// lockMaxLiveTime is how long a lock lasts without renewal
// (rocketmq.broker.rebalance.lockMaxLiveTime, 60 000 ms).
const lockMaxLiveTime = 60 * time.Second

// maxLockBatch bounds the queues of one request. Java has no limit; a Go
// or Java client sends the queues it owns on one broker, far fewer.
const maxLockBatch = 1 << 16

// messageQueue is a MessageQueue as JSON carries it. The field order is
// what the Go client writes; fastjson writes the names sorted, and either
// order reads the same.
type messageQueue struct {
	Topic      string    `json:"topic"`
	BrokerName string    `json:"brokerName"`
	QueueID    jsonInt32 `json:"queueId"`
}

// jsonInt32 reads a number, or a number in a string as fastjson accepts
// for an int field, and writes a number.
type jsonInt32 int32

func (n *jsonInt32) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("queueId %s is not an int32", b)
	}
	*n = jsonInt32(v)
	return nil
}

// lockBatchBody is LockBatchRequestBody and UnlockBatchRequestBody, which
// have the same fields.
type lockBatchBody struct {
	ConsumerGroup  string         `json:"consumerGroup"`
	ClientID       string         `json:"clientId"`
	OnlyThisBroker bool           `json:"onlyThisBroker"`
	MQSet          []messageQueue `json:"mqSet"`
}

// lockEntry is the holder of one queue's lock and when it last locked or
// renewed it.
type lockEntry struct {
	clientID string
	renewed  time.Time
}

func (e *lockEntry) expired(now time.Time) bool { return now.Sub(e.renewed) > lockMaxLiveTime }

// lockTable holds the locks of every group. Its zero value is empty and
// ready; callers pass the time, so tests drive expiry with a fake clock.
//
// One mutex guards the whole table: a lock request is a handful of map
// operations, clients send one per 20 s per broker, and Java serialises
// them behind one lock too. mu is a leaf: nothing else is locked or
// called while it is held.
type lockTable struct {
	mu     sync.Mutex
	groups map[string]map[messageQueue]*lockEntry // guarded by mu
}

// tryLock locks mqs for clientID in group and returns the queues the
// client holds afterwards, in request order without repeats
// (RebalanceLockManager.tryLockBatch).
func (t *lockTable) tryLock(group, clientID string, mqs []messageQueue, now time.Time) []messageQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups == nil {
		t.groups = map[string]map[messageQueue]*lockEntry{}
	}
	locks := t.groups[group]
	if locks == nil {
		locks = make(map[messageQueue]*lockEntry, len(mqs))
		t.groups[group] = locks
	}
	granted := make([]messageQueue, 0, len(mqs))
	seen := make(map[messageQueue]bool, len(mqs))
	for _, mq := range mqs {
		if seen[mq] {
			continue
		}
		seen[mq] = true
		e := locks[mq]
		switch {
		case e == nil:
			locks[mq] = &lockEntry{clientID: clientID, renewed: now}
		case e.clientID == clientID:
			e.renewed = now // renewal, or a take-back after its own expiry
		case e.expired(now):
			e.clientID, e.renewed = clientID, now
		default:
			continue // held by another live client
		}
		granted = append(granted, mq)
	}
	return granted
}

// unlock releases the queues of mqs that clientID holds in group
// (RebalanceLockManager.unlockBatch); expired or not, another client's
// lock stays.
func (t *lockTable) unlock(group, clientID string, mqs []messageQueue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	locks := t.groups[group]
	if locks == nil {
		return
	}
	for _, mq := range mqs {
		if e := locks[mq]; e != nil && e.clientID == clientID {
			delete(locks, mq)
		}
	}
	if len(locks) == 0 {
		delete(t.groups, group)
	}
}

// anyLive reports whether some lock of group has not expired: the group
// consumes orderly (RebalanceLockManager.isLockAllExpired, negated).
func (t *lockTable) anyLive(group string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.groups[group] {
		if !e.expired(now) {
			return true
		}
	}
	return false
}

// decodeLockBody reads a (UN)LOCK_BATCH_MQ body. Java answers a body it
// cannot read, or one without a group or client id, with the exception
// of its decoder or a NullPointerException: SYSTEM_ERROR either way.
func decodeLockBody(op string, req *remoting.Command) (lockBatchBody, *codeError) {
	var body lockBatchBody
	if len(req.Body) == 0 {
		return body, errorf(remoting.ResSystemError, "%s: the request has no body", op)
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return body, errorf(remoting.ResSystemError, "%s: cannot decode the body: %v", op, err)
	}
	switch {
	case body.ConsumerGroup == "":
		return body, errorf(remoting.ResSystemError, "%s: the body has no consumerGroup", op)
	case body.ClientID == "":
		return body, errorf(remoting.ResSystemError, "%s: the body has no clientId", op)
	case len(body.MQSet) > maxLockBatch:
		return body, errorf(remoting.ResSystemError, "%s: %d queues in one request, at most %d", op, len(body.MQSet), maxLockBatch)
	}
	return body, nil
}

func (b *Broker) lockBatchMQ(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := decodeLockBody("LOCK_BATCH_MQ", req)
	if err != nil {
		return fail(req, err)
	}
	granted := b.locks.tryLock(body.ConsumerGroup, body.ClientID, body.MQSet, b.opts.Now())
	if len(granted) < len(body.MQSet) {
		b.log.Debug("queues locked by other clients", "group", body.ConsumerGroup, "client", body.ClientID,
			"asked", len(body.MQSet), "granted", len(granted))
	}
	data, jerr := json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{granted})
	return encoded(req, data, jerr)
}

func (b *Broker) unlockBatchMQ(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := decodeLockBody("UNLOCK_BATCH_MQ", req)
	if err != nil {
		return fail(req, err)
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return success(req)
}
