package broker

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).
//
// A send is checked and turned into an engine.Request on the connection's
// goroutine, submitted, and answered from the request's Done callback on
// the engine's goroutine; nothing here waits for the disk
// (SendMessageProcessor.sendMessage / sendBatchMessage,
// AbstractSendMessageProcessor.msgCheck).

// sendNames are the extFields keys of SendMessageRequestHeader: the long
// names of SEND_MESSAGE and the one-letter names of V2 and batches
// (SendMessageRequestHeaderV2).
type sendNames struct {
	producerGroup, topic, defaultTopic, defaultTopicQueueNums, queueID, sysFlag,
	bornTimestamp, flag, properties, reconsumeTimes, unitMode, maxReconsumeTimes, batch string
}

var (
	sendNamesV1 = sendNames{"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
		"bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch"}
	sendNamesV2 = sendNames{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}
)

// sendHeader is a decoded SendMessageRequestHeader.
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	maxReconsumeTimes     int32
	hasMaxReconsumeTimes  bool
}

func decodeSendHeader(req *remoting.Command) (sendHeader, *codeError) {
	names := &sendNamesV1
	// 310 and 320 use the short names; a client sending the long names
	// on 320 is accepted too.
	if req.Code != remoting.ReqSendMessage {
		if _, ok := req.ExtFields["b"]; ok || req.ExtFields["topic"] == "" {
			names = &sendNamesV2
		}
	}
	h := newHeader(remoting.CodeName(req.Code), req)
	s := sendHeader{
		producerGroup:         h.str(names.producerGroup),
		topic:                 h.str(names.topic),
		defaultTopic:          h.str(names.defaultTopic),
		defaultTopicQueueNums: h.int32(names.defaultTopicQueueNums),
		queueID:               h.int32(names.queueID),
		sysFlag:               h.int32(names.sysFlag),
		bornTimestamp:         h.int64(names.bornTimestamp),
		flag:                  h.int32(names.flag),
		properties:            h.opt(names.properties),
	}
	s.reconsumeTimes, _ = h.optInt32(names.reconsumeTimes)
	s.maxReconsumeTimes, s.hasMaxReconsumeTimes = h.optInt32(names.maxReconsumeTimes)
	return s, h.err
}

// sendOp is one send in flight: the engine request, what the response
// needs, and the buffers the messages point into. Pooled; its Done is
// bound once when it is made.
type sendOp struct {
	b    *Broker
	req  engine.Request
	conn remoting.Conn

	opaque    int32
	serialize remoting.SerializeType
	oneway    bool
	batch     bool
	sendBack  bool   // CONSUMER_SEND_MSG_BACK: answered SUCCESS or SYSTEM_ERROR only
	queueID   int32  // the queue chosen for the message (before any delay)
	uniqKey   string // transactionId in the response

	topic string    // the topic the producer named, for the traffic counters
	start time.Time // when the request arrived, for the send latency

	msgs []message.Message
	buf  []byte // body copy and properties; sized before use, never grown
	offs []int64

	// held is the request whose body the messages point into (kept until
	// the store has encoded them), when bodies are used in place.
	held *remoting.Command
}

// maxPooledSendBuf keeps a batch's large buffer out of the pool.
const maxPooledSendBuf = 1 << 20

func (b *Broker) getSendOp() *sendOp {
	if op, ok := b.sends.Get().(*sendOp); ok {
		return op
	}
	op := &sendOp{b: b}
	op.req.Done = op.done
	return op
}

func (b *Broker) putSendOp(op *sendOp) {
	op.conn = nil
	op.uniqKey, op.topic = "", ""
	op.batch, op.sendBack = false, false
	clear(op.msgs)
	op.msgs = op.msgs[:0]
	op.req.Msgs = nil
	if cap(op.buf) > maxPooledSendBuf {
		op.buf = nil
	}
	op.buf = op.buf[:0]
	op.offs = op.offs[:0]
	b.sends.Put(op)
}

// sendResponse is a response to a send: every one, failed or not, carries
// MSG_REGION and TRACE_ON (SendMessageProcessor.preSend).
func (b *Broker) sendResponse(req *remoting.Command, code int32, remark string) *remoting.Command {
	resp := respond(req, code, remark)
	resp.ExtFields = make(map[string]string, 6)
	resp.ExtFields["MSG_REGION"] = b.opts.RegionID
	resp.ExtFields["TRACE_ON"] = strconv.FormatBool(b.opts.TraceOn)
	return resp
}

func (b *Broker) sendFail(req *remoting.Command, err *codeError) *remoting.Command {
	return b.sendResponse(req, err.code, err.remark)
}

// sendMessage times a send and counts its result; a send the engine
// accepted is counted when it completes (sendOp.done).
func (b *Broker) sendMessage(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	start := time.Now()
	resp := b.trySend(conn, req, start)
	if resp != nil {
		b.metrics.sendAnswered(resp.Code, start)
	}
	return resp
}

// trySend submits a send to the engine and returns nil, or returns the
// response that refuses it.
func (b *Broker) trySend(conn remoting.Conn, req *remoting.Command, start time.Time) *remoting.Command {
	h, herr := decodeSendHeader(req)
	if herr != nil {
		return b.sendFail(req, herr)
	}
	batch := req.Code == remoting.ReqSendBatchMessage
	if b.isSlave() {
		return b.sendFail(req, errorf(remoting.ResServiceNotAvailable,
			"service not available now: the broker[%s] is a slave and does not accept messages", b.opts.BrokerIP1))
	}
	tc, cerr := b.checkSend(conn, &h)
	if cerr != nil {
		return b.sendFail(req, cerr)
	}
	queueID := h.queueID
	if queueID < 0 {
		if tc.WriteQueueNums <= 0 {
			return b.sendFail(req, errorf(remoting.ResSystemError, "topic[%s] has no write queue", h.topic))
		}
		queueID = rand.Int32N(tc.WriteQueueNums)
	}
	sysFlag := h.sysFlag
	if tc.TopicFilterType == meta.FilterMultiTag {
		sysFlag |= message.SysFlagMultiTags
	}
	// Only the bits a client may set survive; the host bits are the
	// encoder's to set.
	sysFlag &^= message.SysFlagBornHostV6 | message.SysFlagStoreHostV6

	op := b.getSendOp()
	op.conn, op.opaque, op.serialize, op.oneway, op.batch = conn, req.Opaque, req.Serialize, req.IsOneway(), batch
	op.topic, op.start = h.topic, start
	body := req.Body
	var err *codeError
	if batch {
		err = b.buildBatch(op, &h, tc, queueID, sysFlag, body, conn)
	} else {
		err = b.buildSingle(op, &h, queueID, sysFlag, body, conn, req.Version)
	}
	if err != nil {
		b.putSendOp(op)
		return b.sendFail(req, err)
	}
	op.req.Msgs = op.msgs
	if b.opts.RequestBodyRetained {
		// The messages point into the request's body, which must stay
		// valid until the store has encoded them (done frees it).
		req.Keep()
		op.held = req
	}
	b.store.Submit(&op.req)
	return nil
}

// checkSend applies msgCheck: permission, topic name, forbidden topics,
// the topic's existence (auto-creating it) and the queue id.
func (b *Broker) checkSend(conn remoting.Conn, h *sendHeader) (meta.TopicConfig, *codeError) {
	if b.opts.BrokerPermission&meta.PermWrite == 0 {
		if tc, ok := b.meta.Topics.Get(h.topic); ok && tc.Order {
			return tc, errorf(remoting.ResNoPermission, "the broker[%s] sending message is forbidden", b.opts.BrokerIP1)
		}
	}
	if err := validateTopic(h.topic); err != nil {
		return meta.TopicConfig{}, err
	}
	if h.topic == TopicAutoCreate {
		return meta.TopicConfig{}, errorf(remoting.ResSystemError, "The specified topic[%s] is conflict with AUTO_CREATE_TOPIC_KEY_TOPIC.", h.topic)
	}
	if notAllowedSend(h.topic) {
		return meta.TopicConfig{}, errorf(remoting.ResNoPermission, "Sending message to topic[%s] is forbidden.", h.topic)
	}
	tc, ok := b.topicForSend(h.topic, h.defaultTopic, h.defaultTopicQueueNums)
	if !ok && strings.HasPrefix(h.topic, RetryPrefix) {
		tc, ok = b.topicForSendBack(h.topic, 1, meta.PermRead|meta.PermWrite), true
	}
	if !ok {
		return tc, errorf(remoting.ResTopicNotExist, "topic[%s] not exist, apply first please!", h.topic)
	}
	if h.queueID >= max(tc.WriteQueueNums, tc.ReadQueueNums) {
		return tc, errorf(remoting.ResSystemError, "request queueId[%d] is illegal, topic %s has %d write and %d read queues, producer: %s",
			h.queueID, h.topic, tc.WriteQueueNums, tc.ReadQueueNums, conn.RemoteAddr())
	}
	return tc, nil
}

// bornHost is the stored form of the peer's address.
func bornHost(conn remoting.Conn) message.Host {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr())
	if err != nil {
		return message.Host{}
	}
	return message.HostFromAddrPort(ap)
}

// javaTrue is Boolean.parseBoolean.
func javaTrue(v []byte) bool { return len(v) == 4 && strings.EqualFold(string(v), "true") }

func (b *Broker) illegalSize(bodyLen int) *codeError {
	return errorf(remoting.ResMessageIllegal,
		"the message is illegal, maybe msg body or properties length not matched. msg body length limit %dB, msg properties length limit 32KB. (body %dB)",
		b.opts.MaxMessageSize, bodyLen)
}

// buildSingle fills op with the message of a SEND_MESSAGE(_V2).
func (b *Broker) buildSingle(op *sendOp, h *sendHeader, queueID, sysFlag int32, body []byte, conn remoting.Conn, version int32) *codeError {
	if len(body) > b.opts.MaxMessageSize {
		return b.illegalSize(len(body))
	}
	if len(h.properties) > message.MaxPropertiesLen {
		return errorf(remoting.ResMessageIllegal, "the message properties length %d is over the limit %d", len(h.properties), message.MaxPropertiesLen)
	}
	props := []byte(h.properties)
	topic := h.topic

	// Transactional half messages are not supported: refused as a Java
	// broker with rejectTransactionMessage=true refuses them. A 4.6.1-
	// style client's retry of one (reconsumed and delayed) is stored as a
	// plain message.
	delay := schedule.PropertyLevel(props)
	tranMsg, _ := message.Property(props, propTranMsg)
	tx := sysFlag & message.SysFlagTxMask
	if javaTrue(tranMsg) || tx == message.SysFlagTxPrepared || tx == message.SysFlagTxRollback {
		if !(h.reconsumeTimes > 0 && delay > 0) {
			return errorf(remoting.ResNoPermission, "the broker[%s] sending transaction message is forbidden", b.opts.BrokerIP1)
		}
		sysFlag &^= message.SysFlagTxMask
	}

	// %RETRY% sends past their retry budget go to the dead-letter queue
	// (handleRetryAndDLQ). ">" rather than ">=": clients that resend a
	// message themselves have already counted this attempt. So do those of
	// a group that holds live queue locks: an orderly consumer retries
	// locally, and a message it gives up on is dead (5.x).
	toDLQ := false
	if group, ok := strings.CutPrefix(topic, RetryPrefix); ok {
		gc, found := b.groupConfig(group)
		if !found {
			return errorf(remoting.ResSubscriptionGroupNotExist, "subscription group not exist, %s", group)
		}
		maxTimes := gc.RetryMaxTimes
		if version >= versionV3_4_9 && h.hasMaxReconsumeTimes {
			maxTimes = h.maxReconsumeTimes
		}
		orderly := b.locks.anyLive(group, b.opts.Now())
		if h.reconsumeTimes > maxTimes || orderly {
			toDLQ = true
			topic = dlqTopic(group)
			queueID = 0
			b.topicForSendBack(topic, 1, meta.PermRead|meta.PermWrite)
			b.log.Info("retry message sent to the dead letter queue", "group", group, "reconsume_times", h.reconsumeTimes,
				"max", maxTimes, "group_holds_locks", orderly)
		}
	}

	uniq, hasUniq := message.Property(props, message.PropertyUniqID)
	_, hasCluster := message.Property(props, propCluster)

	// One buffer holds the body copy and the rewritten properties, sized
	// up front so the slices into it never move.
	need := len(props) + 1 + len(propCluster) + len(b.opts.ClusterName) + 2 + len(propDelay) + 5
	if !hasUniq {
		need += len(message.PropertyUniqID) + 2 + b.uniq.Len()
	}
	if !b.opts.RequestBodyRetained {
		need += len(body)
	}
	buf := op.buf[:0]
	if cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	if !b.opts.RequestBodyRetained {
		buf = append(buf, body...)
		body = buf[:len(body):len(body)]
	}
	start := len(buf)
	switch {
	case toDLQ:
		buf = appendWithout(buf, props, propCluster, propDelay)
	case hasCluster:
		buf = appendWithout(buf, props, propCluster)
	default:
		buf = append(buf, props...)
		if len(props) > 0 && props[len(props)-1] != message.PropertySeparator {
			buf = append(buf, message.PropertySeparator)
		}
	}
	if toDLQ {
		buf = message.AppendProperty(buf, propDelay, "-1")
	}
	if hasUniq {
		op.uniqKey = string(uniq)
	} else {
		op.uniqKey = b.uniq.Next(b.opts.Now())
		buf = message.AppendProperty(buf, message.PropertyUniqID, op.uniqKey)
	}
	buf = message.AppendProperty(buf, propCluster, b.opts.ClusterName)
	if len(buf)-start > message.MaxPropertiesLen {
		return errorf(remoting.ResMessageIllegal, "the message properties length %d is over the limit %d", len(buf)-start, message.MaxPropertiesLen)
	}
	op.buf = buf

	op.msgs = append(op.msgs[:0], message.Message{
		Topic:          topic,
		QueueID:        queueID,
		Flag:           h.flag,
		SysFlag:        sysFlag,
		BornTimestamp:  h.bornTimestamp,
		BornHost:       bornHost(conn),
		ReconsumeTimes: h.reconsumeTimes,
		Body:           body,
		Properties:     buf[start:len(buf):len(buf)],
	})
	op.queueID = queueID
	if !toDLQ && delay > 0 {
		b.sched.Delay(&op.msgs[0], delay) // plain and commit messages only
	}
	return nil
}

// appendWithout appends props to dst without the pairs named in drop,
// every kept piece ending with \x02 and empty pieces left out.
func appendWithout(dst, props []byte, drop ...string) []byte {
	for len(props) > 0 {
		piece := props
		if i := bytes.IndexByte(props, message.PropertySeparator); i >= 0 {
			piece, props = props[:i], props[i+1:]
		} else {
			props = nil
		}
		if len(piece) == 0 {
			continue
		}
		name := piece
		if k := bytes.IndexByte(piece, message.NameValueSeparator); k >= 0 {
			name = piece[:k]
		}
		if slices.Contains(drop, string(name)) {
			continue
		}
		dst = append(dst, piece...)
		dst = append(dst, message.PropertySeparator)
	}
	return dst
}

// Batch entry layout (MessageDecoder.encodeMessage): TOTALSIZE, MAGICCODE,
// BODYCRC, FLAG, BODYLEN, BODY, PROPLEN (int16), PROPERTIES.
const batchEntryFixed = 4 + 4 + 4 + 4 + 4 + 2

// buildBatch fills op with the messages of a SEND_BATCH_MESSAGE: each entry
// keeps its flag, body and properties; the batch gives topic, queue,
// sysFlag, born time and host, and its own properties are appended to
// every entry's (CommitLog.MessageExtBatchEncoder).
func (b *Broker) buildBatch(op *sendOp, h *sendHeader, tc meta.TopicConfig, queueID, sysFlag int32, body []byte, conn remoting.Conn) *codeError {
	if strings.HasPrefix(h.topic, RetryPrefix) {
		return errorf(remoting.ResMessageIllegal, "batch request does not support retry group %s", h.topic)
	}
	if len(body) > b.opts.MaxMessageSize {
		return b.illegalSize(len(body))
	}
	if len(body) == 0 {
		return errorf(remoting.ResMessageIllegal, "the batch is empty")
	}
	if sysFlag&message.SysFlagTxMask != 0 {
		return errorf(remoting.ResMessageIllegal, "a batch cannot hold transactional messages")
	}
	batchProps := []byte(h.properties)
	if level := schedule.PropertyLevel(batchProps); level > 0 {
		return errorf(remoting.ResMessageIllegal, "a batch cannot be delayed (DELAY=%d)", level)
	}

	// First pass: validate every entry and size the buffer.
	count, propsTotal := 0, 0
	for rest := body; len(rest) > 0; count++ {
		_, props, next, err := nextBatchEntry(rest)
		if err != nil {
			return err
		}
		propsTotal += len(props) + 1
		rest = next
	}
	var extra []byte // the batch's properties plus CLUSTER, appended to every entry
	if _, ok := message.Property(batchProps, propCluster); ok {
		extra = appendWithout(nil, batchProps, propCluster)
	} else {
		extra = append(extra, batchProps...)
		if len(extra) > 0 && extra[len(extra)-1] != message.PropertySeparator {
			extra = append(extra, message.PropertySeparator)
		}
	}
	extra = message.AppendProperty(extra, propCluster, b.opts.ClusterName)
	need := propsTotal + count*len(extra)
	if !b.opts.RequestBodyRetained {
		need += len(body)
	}
	buf := op.buf[:0]
	if cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	if !b.opts.RequestBodyRetained {
		buf = append(buf, body...)
		body = buf[:len(body):len(body)]
	}

	born := bornHost(conn)
	msgs := op.msgs[:0]
	for rest := body; len(rest) > 0; {
		e, props, next, _ := nextBatchEntry(rest)
		rest = next
		start := len(buf)
		buf = append(buf, props...)
		if len(props) > 0 && props[len(props)-1] != message.PropertySeparator {
			buf = append(buf, message.PropertySeparator)
		}
		buf = append(buf, extra...)
		if len(buf)-start > message.MaxPropertiesLen {
			return errorf(remoting.ResMessageIllegal, "a batch entry's properties length %d is over the limit %d", len(buf)-start, message.MaxPropertiesLen)
		}
		msgs = append(msgs, message.Message{
			Topic:          h.topic,
			QueueID:        queueID,
			Flag:           e.flag,
			SysFlag:        sysFlag,
			BornTimestamp:  h.bornTimestamp,
			BornHost:       born,
			ReconsumeTimes: h.reconsumeTimes,
			Body:           e.body,
			Properties:     buf[start:len(buf):len(buf)],
		})
	}
	op.msgs, op.buf, op.queueID = msgs, buf, queueID
	if v, ok := message.Property(batchProps, message.PropertyUniqID); ok {
		op.uniqKey = string(v)
	}
	return nil
}

type batchEntry struct {
	flag int32
	body []byte
}

// nextBatchEntry decodes the entry at the start of b, bounding every
// length; TOTALSIZE and the CRC are not trusted, as in Java's decoder.
func nextBatchEntry(b []byte) (e batchEntry, props, rest []byte, err *codeError) {
	be := binary.BigEndian
	if len(b) < batchEntryFixed {
		return e, nil, nil, errorf(remoting.ResMessageIllegal, "the batch body is truncated: %d bytes left, an entry takes at least %d", len(b), batchEntryFixed)
	}
	e.flag = int32(be.Uint32(b[12:]))
	bodyLen := int64(int32(be.Uint32(b[16:])))
	if bodyLen < 0 || bodyLen > int64(len(b)-batchEntryFixed) {
		return e, nil, nil, errorf(remoting.ResMessageIllegal, "a batch entry's body length %d does not fit the %d bytes left", bodyLen, len(b)-batchEntryFixed)
	}
	p := 20 + int(bodyLen)
	e.body = b[20:p:p]
	propLen := int(int16(be.Uint16(b[p:])))
	p += 2
	if propLen < 0 || propLen > len(b)-p {
		return e, nil, nil, errorf(remoting.ResMessageIllegal, "a batch entry's properties length %d does not fit the %d bytes left", propLen, len(b)-p)
	}
	return e, b[p : p+propLen : p+propLen], b[p+propLen:], nil
}

// done completes a send on the engine's goroutine: it answers the client
// (on a SYNC_MASTER, once a slave has the bytes) and returns the op to the
// pool.
func (op *sendOp) done(r *engine.Request) {
	b := op.b
	req := &remoting.Command{Opaque: op.opaque, Serialize: op.serialize}
	var resp *remoting.Command
	counted := !op.sendBack
	if op.sendBack {
		resp = sendBackResponse(req, r)
	} else {
		resp = b.sendDoneResponse(req, op, r)
	}
	a := sendAnswer{conn: op.conn, resp: resp, start: op.start, counted: counted, oneway: op.oneway}
	end := r.End()
	if op.held != nil {
		op.held.Free()
		op.held = nil
	}
	b.putSendOp(op)
	if resp.Code != remoting.ResSuccess || !counted || !b.waitsForSlave() {
		b.answerSend(a)
		return
	}
	// SYNC_MASTER (CommitLog.handleHA): the message is stored either way;
	// the code tells the producer whether a slave has it too.
	if !b.opts.Replicas.InSync(b.opts.HAMaxGapNotInSync) {
		resp.Code, resp.Remark = remoting.ResSlaveNotAvailable, "no slave in sync with the master; the message is stored on the master only"
		b.answerSend(a)
		return
	}
	b.opts.Replicas.Await(end, b.opts.SlaveWait, func(err error) {
		if err != nil {
			resp.Code, resp.Remark = remoting.ResFlushSlaveTimeout, "no slave acknowledged the message in time; it is stored on the master: "+err.Error()
		}
		b.answerSend(a)
	})
}

// sendAnswer is what answering a completed send needs once its op went
// back to the pool.
type sendAnswer struct {
	conn    remoting.Conn
	resp    *remoting.Command
	start   time.Time
	counted bool // a send, not a send-back: counted in the metrics
	oneway  bool
}

func (b *Broker) answerSend(a sendAnswer) {
	if a.counted {
		b.metrics.sendAnswered(a.resp.Code, a.start)
	}
	if !a.oneway {
		if err := a.conn.Send(a.resp); err != nil {
			b.log.Debug("cannot send response", "peer", a.conn.RemoteAddr(), "err", err)
		}
	}
}

// sendDoneResponse maps a completed send onto its response
// (SendMessageProcessor.handlePutMessageResult).
func (b *Broker) sendDoneResponse(req *remoting.Command, op *sendOp, r *engine.Request) *remoting.Command {
	var resp *remoting.Command
	switch r.Status {
	case engine.StatusOK, engine.StatusFlushDiskTimeout:
		code := remoting.ResSuccess
		if r.Status == engine.StatusFlushDiskTimeout {
			code = remoting.ResFlushDiskTimeout
		}
		resp = b.sendResponse(req, code, "")
		var id []byte
		if op.batch {
			op.offs = r.MessageOffsets(op.offs[:0])
			for i, off := range op.offs {
				if i > 0 {
					id = append(id, ',')
				}
				id = message.AppendOffsetMsgID(id, b.storeHost, off)
			}
		} else {
			id = message.AppendOffsetMsgID(make([]byte, 0, 32), b.storeHost, r.PhysicalOffset)
		}
		resp.ExtFields["msgId"] = string(id)
		resp.ExtFields["queueId"] = strconv.Itoa(int(op.queueID))
		resp.ExtFields["queueOffset"] = itoa(r.QueueOffset)
		if op.uniqKey != "" {
			resp.ExtFields["transactionId"] = op.uniqKey
		}
		b.stats.putRequests.Add(1)
		b.stats.putMessages.Add(int64(len(op.msgs)))
		b.metrics.stored(op.topic, len(op.msgs), r.Size)
	case engine.StatusSystemBusy:
		resp = b.sendResponse(req, remoting.ResSystemBusy, "[PC_SYNCHRONIZED]broker busy, start flow control for a while")
	case engine.StatusDiskFull:
		resp = b.sendResponse(req, remoting.ResServiceNotAvailable, "service not available now: the broker's disk is full")
	case engine.StatusMessageIllegal:
		remark := "the message is illegal"
		if r.Err != nil {
			remark += ": " + r.Err.Error()
		}
		resp = b.sendResponse(req, remoting.ResMessageIllegal, remark)
	case engine.StatusServiceNotAvailable:
		remark := "service not available now: the message store is closed or failed"
		if r.Err != nil {
			remark += ": " + r.Err.Error()
		}
		resp = b.sendResponse(req, remoting.ResServiceNotAvailable, remark)
	default:
		resp = b.sendResponse(req, remoting.ResSystemError, "store answered "+r.Status.String())
	}
	return resp
}
