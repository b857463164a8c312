package broker

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// PULL_MESSAGE (11): PullMessageProcessor.processRequest and the store's
// getMessage, as the protocol reference §3.3.1 describes them. The body of
// a found pull is the stored records as they lie in the mapped CommitLog:
// the response's BodyParts are the engine's views and its Release unpins
// them once the server has written them.

// Pull sysFlag bits (PullSysFlag.java).
const (
	pullCommitOffset = 0x1
	pullSuspend      = 0x2
	pullSubscription = 0x4
	pullClassFilter  = 0x8
)

// matchNothing is a tag code no unit holds (units hold int32 hashes or 0):
// a subscription whose expression names no tag matches no message.
const matchNothing = math.MinInt64

// pullQuery is what one read of a pull needs; a held pull keeps it and
// reads again with it.
type pullQuery struct {
	group    string
	topic    string
	queueID  int32
	offset   int64
	maxMsgs  int
	maxBytes int
	tagCodes []int64 // nil: every message
}

// readOp is a pooled read result; free is bound once, so handing it to a
// response as Release allocates nothing.
type readOp struct {
	b    *Broker
	res  engine.GetResult
	free func()
}

func (b *Broker) getReadOp() *readOp {
	if op, ok := b.reads.Get().(*readOp); ok {
		return op
	}
	op := &readOp{b: b}
	op.free = func() {
		op.res.Release()
		op.b.reads.Put(op)
	}
	return op
}

// pullMessage times a pull answered at once; a held pull is timed when
// the holder answers it (pullHolder.respond).
func (b *Broker) pullMessage(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	start := time.Now()
	resp := b.tryPull(conn, req, start)
	if resp != nil {
		b.metrics.pullAnswered(start, false)
	}
	return resp
}

// tryPull answers a pull, or parks it and returns nil.
func (b *Broker) tryPull(conn remoting.Conn, req *remoting.Command, start time.Time) *remoting.Command {
	h := newHeader("PULL_MESSAGE", req)
	q := pullQuery{
		group:   h.str("consumerGroup"),
		topic:   h.str("topic"),
		queueID: h.int32("queueId"),
		offset:  h.int64("queueOffset"),
	}
	maxNums := h.int32("maxMsgNums")
	sysFlag := h.int32("sysFlag")
	commitOffset := h.int64("commitOffset")
	suspendMs := h.int64("suspendTimeoutMillis")
	subVersion, _ := h.optInt64("subVersion")
	subscription := h.opt("subscription")
	expressionType := h.opt("expressionType")
	maxBytes, hasMaxBytes := h.optInt32("maxMsgBytes")
	if h.err != nil {
		return fail(req, h.err)
	}

	if b.opts.BrokerPermission&meta.PermRead == 0 {
		return respond(req, remoting.ResNoPermission, "the broker["+b.opts.BrokerIP1+"] pulling message is forbidden")
	}
	gc, ok := b.groupConfig(q.group)
	if !ok {
		return respond(req, remoting.ResSubscriptionGroupNotExist, "subscription group ["+q.group+"] does not exist")
	}
	if !gc.ConsumeEnable {
		return respond(req, remoting.ResNoPermission, "subscription group no permission, "+q.group)
	}
	tc, ok := b.meta.Topics.Get(q.topic)
	if !ok && b.isSlave() && b.store.MaxOffset(q.topic, q.queueID) > 0 {
		// A topic created on the master after this slave's last metadata
		// copy (every 10 s): its messages are here, so a consumer that
		// turned to this slave because the master is gone reads them.
		tc, ok = meta.TopicConfig{TopicName: q.topic, ReadQueueNums: q.queueID + 1, WriteQueueNums: q.queueID + 1, Perm: meta.PermRead}, true
	}
	if !ok {
		return respond(req, remoting.ResTopicNotExist, "topic["+q.topic+"] not exist, apply first please!")
	}
	if !tc.Readable() {
		return respond(req, remoting.ResNoPermission, "the topic["+q.topic+"] pulling message is forbidden")
	}
	if q.queueID < 0 || q.queueID >= tc.ReadQueueNums {
		return respond(req, remoting.ResSystemError, "queueId["+strconv.Itoa(int(q.queueID))+"] is illegal, topic:["+
			q.topic+"] topicConfig.readQueueNums:["+strconv.Itoa(int(tc.ReadQueueNums))+"] consumer:["+conn.RemoteAddr()+"]")
	}

	var err *codeError
	if sysFlag&pullSubscription != 0 {
		q.tagCodes, err = filterFromRequest(subscription, expressionType)
	} else {
		q.tagCodes, err = b.filterFromHeartbeat(q.group, q.topic, subVersion, gc)
	}
	if err != nil {
		return fail(req, err)
	}

	q.maxMsgs = min(max(int(maxNums), 1), b.opts.MaxTransferCount)
	q.maxBytes = b.opts.MaxTransferBytes
	if hasMaxBytes && maxBytes > 0 {
		q.maxBytes = min(q.maxBytes, int(maxBytes))
	}

	// The offset a pull carries is committed on its first execution only
	// (PullMessageProcessor: storeOffsetEnable), never on a slave.
	if sysFlag&pullCommitOffset != 0 && !b.isSlave() && commitOffset >= 0 {
		b.meta.Offsets.Commit(q.group, q.topic, q.queueID, commitOffset)
	}

	op, code := b.readPull(&q)
	if code == remoting.ResPullNotFound && sysFlag&pullSuspend != 0 {
		wait := b.opts.ShortPollingTime
		if b.opts.LongPollingEnable {
			wait = min(max(time.Duration(suspendMs)*time.Millisecond, 0), b.opts.MaxSuspend)
		}
		p := &heldPull{
			conn: conn, opaque: req.Opaque, serialize: req.Serialize, oneway: req.IsOneway(),
			q: q, deadline: b.opts.Now().Add(wait), start: start,
		}
		op.free()
		if busy := b.holder.hold(p, true); busy != nil {
			return fail(req, busy)
		}
		return nil
	}
	return b.pullResponse(req.Opaque, req.Serialize, q.topic, op, code)
}

// filterFromRequest builds the tag filter of a pull that carries its own
// subscription (FilterAPI.buildSubscriptionData).
func filterFromRequest(expr, exprType string) ([]int64, *codeError) {
	if exprType != "" && !strings.EqualFold(exprType, "TAG") {
		return nil, errorf(remoting.ResSystemError, "The broker does not support consumer to filter message by %s", exprType)
	}
	return tagFilter(expr), nil
}

// tagFilter turns a TAG expression ("*", "", "TagA || TagB") into the tag
// codes a ConsumeQueue unit must hold; nil matches everything.
func tagFilter(expr string) []int64 {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return nil
	}
	var codes []int64
	for tag := range strings.SplitSeq(expr, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			codes = append(codes, int64(message.JavaHashString(tag)))
		}
	}
	if len(codes) == 0 {
		return []int64{matchNothing}
	}
	return codes
}

// filterFromHeartbeat finds the group's subscription to topic from its
// latest heartbeat (the pull carries none).
func (b *Broker) filterFromHeartbeat(group, topic string, subVersion int64, gc meta.SubscriptionGroupConfig) ([]int64, *codeError) {
	sub, model, found := b.clients.subscription(group, topic)
	if !found {
		return nil, errorf(remoting.ResSubscriptionNotExist, "the consumer's group info not exist, group %s", group)
	}
	if !gc.ConsumeBroadcastEnable && model == "BROADCASTING" {
		return nil, errorf(remoting.ResNoPermission, "the consumer group[%s] can not consume by broadcast way", group)
	}
	if sub == nil {
		return nil, errorf(remoting.ResSubscriptionNotExist, "the consumer's subscription not exist, group %s, topic %s", group, topic)
	}
	if sub.subVersion < subVersion {
		return nil, errorf(remoting.ResSubscriptionNotLatest, "the consumer's subscription not latest")
	}
	if sub.expressionType != "" && !strings.EqualFold(sub.expressionType, "TAG") {
		return nil, errorf(remoting.ResSystemError, "The broker does not support consumer to filter message by %s", sub.expressionType)
	}
	return sub.codes, nil
}

// readPull reads once and maps the store's status onto the pull response
// code as PullMessageProcessor does. The caller owns op and frees it
// (directly or through a response's Release).
func (b *Broker) readPull(q *pullQuery) (*readOp, int32) {
	op := b.getReadOp()
	b.store.GetMessages(&engine.GetRequest{
		Topic:       q.topic,
		QueueID:     q.queueID,
		Offset:      q.offset,
		MaxMessages: q.maxMsgs,
		MaxBytes:    q.maxBytes,
		TagCodes:    q.tagCodes,
	}, &op.res)
	return op, pullCode(op.res.Status, q.offset)
}

func pullCode(st engine.GetStatus, offset int64) int32 {
	switch st {
	case engine.GetFound:
		return remoting.ResSuccess
	case engine.GetMessageWasRemoving, engine.GetNoMatchedMessage:
		return remoting.ResPullRetryImmediately
	case engine.GetNoMatchedLogicQueue, engine.GetNoMessageInQueue:
		if offset != 0 {
			return remoting.ResPullOffsetMoved
		}
		return remoting.ResPullNotFound
	case engine.GetOffsetOverflowOne:
		return remoting.ResPullNotFound
	case engine.GetOffsetOverflowBadly, engine.GetOffsetTooSmall:
		return remoting.ResPullOffsetMoved
	}
	return remoting.ResSystemError
}

// suggestBroker is suggestWhichBrokerId (PullMessageProcessor): with
// slaveReadEnable, a reader whose position is further from the log's end
// than the in-memory window (accessMessageInMemoryMaxRatio of memory) is
// sent to a slave (whichBrokerWhenConsumeSlowly, 1), anyone else to the
// master; without it, always the master. A slave serves the pull either
// way: when the master is gone, consumers keep reading from it.
func (b *Broker) suggestBroker(r *engine.GetResult) string {
	if !b.opts.SlaveReadEnable || r.LastPhysical < 0 {
		return "0"
	}
	if b.store.MaxPhysicalOffset()-r.LastPhysical > b.memWindow {
		return "1"
	}
	return "0"
}

// pullResponse turns a read into the response: the four offsets every
// client needs, and on SUCCESS the records as body parts that Release
// unpins. Other results free op at once.
func (b *Broker) pullResponse(opaque int32, ser remoting.SerializeType, topic string, op *readOp, code int32) *remoting.Command {
	r := &op.res
	resp := &remoting.Command{
		Code:      code,
		Language:  "JAVA",
		Version:   serverVersion,
		Opaque:    opaque,
		Flag:      remoting.FlagResponse,
		Remark:    r.Status.String(),
		Serialize: ser,
		ExtFields: map[string]string{
			"suggestWhichBrokerId": b.suggestBroker(r),
			"nextBeginOffset":      itoa(r.NextOffset),
			"minOffset":            itoa(r.MinOffset),
			"maxOffset":            itoa(r.MaxOffset),
		},
	}
	if code == remoting.ResSuccess {
		b.stats.getRequests.Add(1)
		b.stats.getMessages.Add(int64(len(r.Messages)))
		b.metrics.delivered(topic, len(r.Messages), r.Bytes)
		resp.BodyParts = r.Messages
		resp.Release = op.free
		return resp
	}
	op.free()
	return resp
}
