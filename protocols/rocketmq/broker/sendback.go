package broker

import (
	"math/rand/v2"
	"strconv"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// CONSUMER_SEND_MSG_BACK (36): a consumer gives a message back for a later
// retry (AbstractSendMessageProcessor.consumerSendMsgBack). The broker
// reads the original by its CommitLog offset and stores a copy in
// %RETRY%group with reconsumeTimes+1 and a delay level (3 + reconsumeTimes
// unless the request names one), which parks it in SCHEDULE_TOPIC_XXXX
// until it is due; past maxReconsumeTimes, or when the request's delay
// level is negative, the copy goes to %DLQ%group instead.

func (b *Broker) consumerSendMsgBack(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("CONSUMER_SEND_MSG_BACK", req)
	offset := h.int64("offset")
	group := h.str("group")
	delayLevel := h.int32("delayLevel")
	originTopic := h.opt("originTopic")
	maxTimesReq, hasMaxTimes := h.optInt32("maxReconsumeTimes")
	if h.err != nil {
		return fail(req, h.err)
	}
	if b.isSlave() {
		return respond(req, remoting.ResSystemError, "no master available along with "+b.opts.BrokerIP1)
	}
	if err := validateGroup(group); err != nil {
		return fail(req, err)
	}
	gc, ok := b.groupConfig(group)
	if !ok {
		return respond(req, remoting.ResSubscriptionGroupNotExist, "subscription group not exist, "+group)
	}
	if b.opts.BrokerPermission&meta.PermWrite == 0 {
		return respond(req, remoting.ResNoPermission, "the broker["+b.opts.BrokerIP1+"] sending message is forbidden")
	}
	if gc.RetryQueueNums <= 0 {
		return success(req) // the group wants no retries: the message is dropped
	}
	topic := retryTopic(group)
	tc := b.topicForSendBack(topic, gc.RetryQueueNums, meta.PermRead|meta.PermWrite)
	if !tc.Writable() {
		return respond(req, remoting.ResNoPermission, "the topic["+topic+"] sending message is forbidden")
	}
	queueID := rand.Int32N(max(gc.RetryQueueNums, 1))

	var p engine.Pinned
	if err := b.store.ReadMessage(offset, &p); err != nil {
		return respond(req, remoting.ResSystemError, "look message by offset failed, "+itoa(offset))
	}
	defer p.Release()
	rec := &p.Record
	if originTopic != "" && string(rec.Topic()) != originTopic {
		return respond(req, remoting.ResSystemError, "look message by offset failed to check the topic name "+itoa(offset))
	}

	maxTimes := gc.RetryMaxTimes
	if req.Version >= versionV3_4_9 && hasMaxTimes {
		maxTimes = maxTimesReq
	}
	reconsume := rec.ReconsumeTimes()
	level, toDLQ := schedule.RetryLevel(int(delayLevel), int(reconsume), int(maxTimes))
	if toDLQ {
		topic = dlqTopic(group)
		queueID = 0
		b.topicForSendBack(topic, 1, meta.PermRead|meta.PermWrite)
		b.log.Info("message sent back to the dead letter queue", "group", group, "offset", offset, "reconsume_times", reconsume, "max", maxTimes)
	}

	// Properties: the original's, with RETRY_TOPIC kept (or set to the
	// original topic), ORIGIN_MESSAGE_ID kept (or set to the original's
	// offset message id), WAIT=false and the new DELAY.
	props := rec.Properties()
	retryOf, hasRetryOf := message.Property(props, propRetryTopic)
	origin, hasOrigin := message.Property(props, propOriginMessageID)
	body := rec.Body()
	buf := make([]byte, 0, len(body)+len(props)+len(rec.Topic())+160)
	buf = append(buf, body...)
	bodyCopy := buf[:len(body):len(body)]
	start := len(buf)
	buf = appendWithout(buf, props, propRetryTopic, propOriginMessageID, propWait, propDelay)
	if hasRetryOf {
		buf = message.AppendProperty(buf, propRetryTopic, string(retryOf))
	} else {
		buf = message.AppendProperty(buf, propRetryTopic, string(rec.Topic()))
	}
	if hasOrigin && len(origin) > 0 {
		buf = message.AppendProperty(buf, propOriginMessageID, string(origin))
	} else {
		id := message.AppendOffsetMsgID(nil, rec.StoreHost(), rec.PhysicalOffset())
		buf = message.AppendProperty(buf, propOriginMessageID, string(id))
	}
	buf = message.AppendProperty(buf, propWait, "false")
	buf = message.AppendProperty(buf, propDelay, strconv.Itoa(level))
	if len(buf)-start > message.MaxPropertiesLen {
		return respond(req, remoting.ResSystemError, "the retry message's properties are too long")
	}

	op := b.getSendOp()
	op.conn, op.opaque, op.serialize, op.oneway, op.sendBack = conn, req.Opaque, req.Serialize, req.IsOneway(), true
	op.buf = buf
	op.msgs = append(op.msgs[:0], message.Message{
		Topic:          topic,
		QueueID:        queueID,
		Flag:           rec.Flag(),
		SysFlag:        rec.SysFlag() &^ (message.SysFlagBornHostV6 | message.SysFlagStoreHostV6),
		BornTimestamp:  rec.BornTimestamp(),
		BornHost:       rec.BornHost(),
		ReconsumeTimes: reconsume + 1,
		Body:           bodyCopy,
		Properties:     buf[start:len(buf):len(buf)],
	})
	op.queueID = queueID
	if level > 0 {
		b.sched.Delay(&op.msgs[0], level)
	}
	op.req.Msgs = op.msgs
	b.store.Submit(&op.req)
	return nil
}

// sendBackResponse answers a completed send-back: SUCCESS when stored,
// SYSTEM_ERROR with the store's status otherwise (the client then sends
// the message itself).
func sendBackResponse(req *remoting.Command, r *engine.Request) *remoting.Command {
	if r.Status == engine.StatusOK {
		return success(req)
	}
	remark := r.Status.String()
	if r.Err != nil {
		remark += ": " + r.Err.Error()
	}
	return respond(req, remoting.ResSystemError, remark)
}
