package broker

import (
	"encoding/binary"
	"strings"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET
// (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32) and
// SEARCH_OFFSET_BY_TIMESTAMP (29): ConsumerManageProcessor and
// AdminBrokerProcessor. Committed offsets live in the engine's metadata
// (consumerOffset.json), which the engine persists.

// queueHeader reads the topic and queueId every request here carries.
func queueHeader(op string, req *remoting.Command) (header, string, int32) {
	h := newHeader(op, req)
	topic := h.str("topic")
	qid := h.int32("queueId")
	return h, topic, qid
}

func offsetResponse(req *remoting.Command, key string, v int64) *remoting.Command {
	resp := success(req)
	resp.ExtFields = map[string]string{key: itoa(v)}
	return resp
}

func (b *Broker) queryConsumerOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("QUERY_CONSUMER_OFFSET", req)
	group := h.str("consumerGroup")
	setZero, hasSetZero := h.optBool("setZeroIfNotFound")
	if h.err != nil {
		return fail(req, h.err)
	}
	if off, ok := b.meta.Offsets.Query(group, topic, qid); ok && off >= 0 {
		return offsetResponse(req, "offset", off)
	}
	if hasSetZero && !setZero {
		return respond(req, remoting.ResQueryNotFound, "Not found, do not set to zero, maybe this group boot first")
	}
	// A group without an offset on a queue whose first message is still
	// in memory starts at 0, so a new group on a young queue sees every
	// message whatever its consumeFromWhere (Java: minOffset <= 0 &&
	// !checkInDiskByConsumeOffset(topic, queueId, 0)).
	if b.store.MinOffset(topic, qid) <= 0 && !b.inDisk(topic, qid, 0) {
		return offsetResponse(req, "offset", 0)
	}
	return respond(req, remoting.ResQueryNotFound, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
}

// inDisk reports whether the message at a queue offset lies further from
// the end of the CommitLog than the in-memory window
// (DefaultMessageStore.checkInDiskByConsumeOffset); a missing message is
// not on disk.
func (b *Broker) inDisk(topic string, qid int32, offset int64) bool {
	op := b.getReadOp()
	defer op.free()
	b.store.GetMessages(&engine.GetRequest{Topic: topic, QueueID: qid, Offset: offset, MaxMessages: 1}, &op.res)
	if op.res.Status != engine.GetFound || len(op.res.Messages) == 0 {
		return false
	}
	phys := int64(0)
	if m := op.res.Messages[0]; len(m) >= message.OffPhysicalOffset+8 {
		phys = int64(binary.BigEndian.Uint64(m[message.OffPhysicalOffset:]))
	}
	return b.store.MaxPhysicalOffset()-phys > b.memWindow
}

func (b *Broker) updateConsumerOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("UPDATE_CONSUMER_OFFSET", req)
	group := h.str("consumerGroup")
	off := h.int64("commitOffset")
	if h.err != nil {
		return fail(req, h.err)
	}
	if qid < 0 {
		return respond(req, remoting.ResSystemError, "UPDATE_CONSUMER_OFFSET: queueId must not be negative")
	}
	// A negative offset means "none" to the clients (ali-ons sends -1 for
	// a queue it has consumed nothing from); storing it would turn a real
	// earlier commit into "no offset". Answer success and keep what is there.
	if off >= 0 {
		b.meta.Offsets.Commit(group, topic, qid, off)
	}
	return success(req)
}

func (b *Broker) getMaxOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("GET_MAX_OFFSET", req)
	if h.err != nil {
		return fail(req, h.err)
	}
	return offsetResponse(req, "offset", b.store.MaxOffset(topic, qid))
}

func (b *Broker) getMinOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("GET_MIN_OFFSET", req)
	if h.err != nil {
		return fail(req, h.err)
	}
	return offsetResponse(req, "offset", b.store.MinOffset(topic, qid))
}

func (b *Broker) getEarliestMsgStoreTime(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("GET_EARLIEST_MSG_STORETIME", req)
	if h.err != nil {
		return fail(req, h.err)
	}
	ts, ok := b.store.EarliestStoreTime(topic, qid)
	if !ok {
		ts = -1
	}
	return offsetResponse(req, "timestamp", ts)
}

// searchOffsetByTimestamp answers the first offset stored at or after
// timestamp, or with boundaryType UPPER the last one stored at or before
// it.
func (b *Broker) searchOffsetByTimestamp(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h, topic, qid := queueHeader("SEARCH_OFFSET_BY_TIMESTAMP", req)
	ts := h.int64("timestamp")
	boundary := h.opt("boundaryType")
	if h.err != nil {
		return fail(req, h.err)
	}
	if strings.EqualFold(boundary, "UPPER") {
		minOff := b.store.MinOffset(topic, qid)
		off := b.store.OffsetByTime(topic, qid, ts+1)
		return offsetResponse(req, "offset", max(off-1, minOff))
	}
	return offsetResponse(req, "offset", b.store.OffsetByTime(topic, qid, ts))
}
