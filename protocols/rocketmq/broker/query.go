package broker

import (
	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12): QueryMessageProcessor.
// Both answer with stored records as body parts pinned until written.

const (
	defaultQueryMaxNum = 32 // defaultQueryMaxNum: the answer size of a unique-key query
	maxMsgsNumBatch    = 64 // maxMsgsNumBatch: the most a key query returns
	// maxQueryBytes keeps a key query's answer well inside the 16 MiB frame.
	maxQueryBytes = 12 << 20
)

func (b *Broker) viewMessageByID(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("VIEW_MESSAGE_BY_ID", req)
	off := h.int64("offset")
	if h.err != nil {
		return fail(req, h.err)
	}
	p := new(engine.Pinned)
	if err := b.store.ReadMessage(off, p); err != nil {
		return respond(req, remoting.ResSystemError, "can not find message by the offset, "+itoa(off))
	}
	resp := success(req)
	resp.BodyParts = [][]byte{p.Record.Buf}
	resp.Release = p.Release
	return resp
}

func (b *Broker) queryMessage(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("QUERY_MESSAGE", req)
	topic := h.str("topic")
	key := h.str("key")
	maxNum := h.int32("maxNum")
	begin := h.int64("beginTimestamp")
	end := h.int64("endTimestamp")
	unique, _ := h.optBool("_UNIQUE_KEY_QUERY")
	if h.err != nil {
		return fail(req, h.err)
	}
	if unique {
		maxNum = defaultQueryMaxNum
	}
	maxNum = min(maxNum, maxMsgsNumBatch)

	found := b.store.QueryByKey(topic, key, int(maxNum), begin, end)
	parts := make([][]byte, 0, len(found))
	total := 0
	kept := found[:0]
	for i := range found {
		rec := found[i].Record.Buf
		if total+len(rec) > maxQueryBytes && len(parts) > 0 {
			found[i].Release()
			continue
		}
		total += len(rec)
		parts = append(parts, rec)
		kept = append(kept, found[i])
	}
	resp := respond(req, remoting.ResSuccess, "")
	resp.ExtFields = map[string]string{
		"indexLastUpdateTimestamp": itoa(b.opts.Now().UnixMilli()),
		"indexLastUpdatePhyoffset": itoa(b.store.DispatchedPhysicalOffset()),
	}
	if len(parts) == 0 {
		resp.Code, resp.Remark = remoting.ResQueryNotFound, "can not find message, maybe time range not correct"
		return resp
	}
	resp.BodyParts = parts
	resp.Release = func() {
		for i := range kept {
			kept[i].Release()
		}
	}
	return resp
}
