package mqtt

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/engine/meta"
)

// The publish path. mochi calls OnPublish on the publishing client's own
// goroutine before it builds the PUBACK or PUBREC. A retained or QoS 2
// publish is stored there, waiting for the engine's answer, and the hook
// returns packets.CodeSuccessIgnore: mochi acknowledges, but neither
// retains the packet nor fans it out in memory; subscribers read it from
// the log (feed.go). A QoS 1 publish is submitted without waiting and the
// connection's acker (acker.go) writes its PUBACK when the append
// completes, so an acknowledgement still means "stored under the flush
// mode" (after fsync with SYNC_FLUSH) while one connection's publishes
// share group commits. QoS 0 is submitted and not waited for.

// pubOp is one append: the request, its message and the properties
// buffer, reused through Server.pubs.
type pubOp struct {
	s     *Server
	req   engine.Request
	msg   [1]message.Message
	props []byte

	acker *acker // QoS 1 publishes acknowledged on completion (acker.go)
	seq   uint64 // its PUBACK's place in the acker
}

const maxPooledProps = 4 << 10

func (s *Server) getPub() *pubOp {
	if op, ok := s.pubs.Get().(*pubOp); ok {
		return op
	}
	op := &pubOp{s: s}
	op.req.Msgs = op.msg[:]
	return op
}

func (s *Server) putPub(op *pubOp) {
	op.msg[0] = message.Message{}
	if cap(op.props) > maxPooledProps {
		op.props = nil
	}
	op.req.Done = nil
	s.pubs.Put(op)
}

// doneQoS0 completes a QoS 0 append submitted without waiting.
func (op *pubOp) doneQoS0(r *engine.Request) {
	if r.Status != engine.StatusOK {
		op.s.log.Warn("mqtt qos 0 publish not stored", "topic", op.msg[0].Topic, "status", r.Status, "err", r.Err)
	}
	op.s.putPub(op)
}

// storePublish appends pk to the engine and waits, except for a QoS 0
// publish that is not retained, which only waits for room in the append
// queue (at most once). It returns the reason code to refuse the publish
// with, and why.
//
// With a (a connection's acker), a QoS 1 publish that is not retained is
// submitted without waiting and a answers it when the append completes;
// storePublish then reports async.
func (s *Server) storePublish(clientID, remote string, pk *packets.Packet, a *acker) (code packets.Code, async bool, err error) {
	topic := rocketTopic(pk.TopicName, s.opts.FallbackTopic)
	tc, err := s.topicConfig(topic)
	if err != nil {
		return packets.ErrTopicNameInvalid, false, err
	}
	queues := tc.WriteQueueNums
	if queues <= 0 {
		return packets.ErrNotAuthorized, false, errors.New("topic " + topic + " has no write queue")
	}
	if tc.Perm&meta.PermWrite == 0 {
		return packets.ErrNotAuthorized, false, errors.New("topic " + topic + " is not writable")
	}
	now := time.Now()
	op := s.getPub()
	props, err := appendPublishProps(op.props[:0], pk, clientID, s.uniq.Next(now), now.UnixMilli())
	op.props = props
	if err != nil {
		s.putPub(op)
		return packets.ErrImplementationSpecificError, false, err
	}
	// One MQTT topic always lands in the same queue, so its messages keep
	// their order for every reader.
	op.msg[0] = message.Message{
		Topic:         topic,
		QueueID:       int32(topicHash(pk.TopicName) % uint32(queues)),
		BornTimestamp: now.UnixMilli(),
		BornHost:      bornHost(remote),
		Body:          pk.Payload,
		Properties:    props,
	}
	if pk.FixedHeader.Qos == 0 && !pk.FixedHeader.Retain {
		op.req.Done = op.doneQoS0
		s.store.Submit(&op.req)
		return packets.CodeSuccess, false, nil
	}
	if pk.FixedHeader.Qos == 1 && !pk.FixedHeader.Retain && a != nil {
		seq, ok := a.enqueue(pk.PacketID, pk.TopicName)
		if !ok {
			s.putPub(op)
			return packets.ErrUnspecifiedError, false, errors.New("the connection is closing")
		}
		op.acker, op.seq = a, seq
		op.req.Done = op.doneQoS1
		s.store.Submit(&op.req)
		return packets.CodeSuccess, true, nil
	}
	if pk.FixedHeader.Retain {
		s.retMu.Lock()
		defer s.retMu.Unlock()
	}
	st := s.store.Append(&op.req)
	end, reqErr := op.req.End(), op.req.Err
	s.putPub(op)
	if code, err := s.stored(st, reqErr, end); err != nil {
		return code, false, err
	}
	if pk.FixedHeader.Retain {
		s.retainedStored(pk)
	}
	return packets.CodeSuccess, false, nil
}

// stored turns an append's outcome into the reason code to answer the
// publish with: success once the engine acknowledged and, if the broker
// asks (Options.Durable, a SYNC_MASTER), a slave has the bytes up to end.
func (s *Server) stored(st engine.Status, reqErr error, end int64) (packets.Code, error) {
	switch st {
	case engine.StatusOK:
	case engine.StatusSystemBusy:
		return packets.ErrQuotaExceeded, errors.New("the store is busy")
	default:
		return packets.ErrUnspecifiedError, errors.Join(errors.New("store answered "+st.String()), reqErr)
	}
	if s.opts.Durable != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.DurableTimeout)
		defer cancel()
		if err := s.opts.Durable(ctx, end); err != nil {
			return packets.ErrUnspecifiedError, err
		}
	}
	return packets.CodeSuccess, nil
}

// topicConfig returns the config of a RocketMQ topic, creating it on first
// use as the broker's auto-creation does: from the TBW102 template when it
// exists and may be inherited, else with TopicQueues queues. The metadata
// is saved at once so a crash does not forget a topic that has messages.
func (s *Server) topicConfig(topic string) (meta.TopicConfig, error) {
	topics := s.store.Meta().Topics
	if tc, ok := topics.Get(topic); ok {
		return tc, nil
	}
	if !s.opts.AutoCreateTopics {
		return meta.TopicConfig{}, errors.New("topic " + topic + " does not exist and auto-creation is off")
	}
	s.topicMu.Lock()
	if tc, ok := topics.Get(topic); ok {
		s.topicMu.Unlock()
		return tc, nil
	}
	queues := int32(s.opts.TopicQueues)
	perm := int32(meta.PermRead | meta.PermWrite)
	filter := meta.FilterSingleTag
	if def, ok := topics.Get("TBW102"); ok && def.Perm&meta.PermInherit != 0 && def.WriteQueueNums > 0 {
		queues = def.WriteQueueNums
		perm = def.Perm &^ meta.PermInherit
		filter = def.TopicFilterType
	}
	tc := meta.NewTopicConfig(topic, queues)
	tc.Perm = perm
	tc.TopicFilterType = filter
	topics.Put(tc)
	s.topicMu.Unlock()
	if err := s.store.Meta().Persist(); err != nil {
		s.log.Error("cannot save the topic table", "topic", topic, "err", err)
	}
	s.log.Info("topic auto-created for mqtt", "topic", topic, "queues", queues)
	if s.opts.OnTopicCreated != nil {
		s.opts.OnTopicCreated(topic)
	}
	s.kickAll() // feeds with wildcard filters read the new topic
	return tc, nil
}

// bornHost is the stored form of a client's address.
func bornHost(remote string) message.Host {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return message.Host{}
	}
	return message.HostFromAddrPort(ap)
}

// refuse answers a publish the server will not store: MQTT 5 gets the
// reason code in a PUBACK or PUBREC (a QoS 0 publish is dropped), MQTT
// 3.1.1 has no negative acknowledgement and is disconnected. Every refusal
// is logged. The returned error makes mochi skip the publish.
func (s *Server) refuse(cl *mochi.Client, pk *packets.Packet, code packets.Code, why error) error {
	s.log.Warn("mqtt publish refused", "client", cl.ID, "remote", cl.Net.Remote, "topic", pk.TopicName,
		"qos", pk.FixedHeader.Qos, "code", code.Code, "err", why)
	if cl.Properties.ProtocolVersion < 5 {
		cl.Stop(code)
		return packets.ErrRejectPacket
	}
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	typ := packets.Puback
	if pk.FixedHeader.Qos == 2 {
		typ = packets.Pubrec
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: typ},
		PacketID:    pk.PacketID,
		ReasonCode:  code.Code,
		Properties:  packets.Properties{ReasonString: why.Error()},
	}
	if err := cl.WritePacket(ack); err != nil {
		return err
	}
	return packets.ErrRejectPacket
}

// hostIP is the address UNIQ_KEYs carry: the first non-loopback IPv4
// address of the machine, else 127.0.0.1.
func hostIP() netip.Addr {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				if v4 := n.IP.To4(); v4 != nil {
					return netip.AddrFrom4([4]byte(v4))
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// willInfo is a will taken over from mochi at CONNECT, so that it goes
// through the store like any publish.
type willInfo struct {
	will   mochi.Will
	remote string
}

// publishWill stores a will message (MQTT-3.1.2-8); with a delay it waits
// unless the client reconnects first [MQTT-3.1.3-9].
func (s *Server) publishWill(id string, w willInfo) {
	if w.will.WillDelayInterval > 0 {
		s.mu.Lock()
		if old := s.delayed[id]; old != nil {
			old.Stop()
		}
		var t *time.Timer
		t = time.AfterFunc(time.Duration(w.will.WillDelayInterval)*time.Second, func() {
			s.mu.Lock()
			current := s.delayed[id] == t
			if current {
				delete(s.delayed, id)
			}
			s.mu.Unlock()
			if current && !s.closing.Load() {
				w.will.WillDelayInterval = 0
				s.publishWill(id, w)
			}
		})
		s.delayed[id] = t
		s.mu.Unlock()
		return
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: w.will.Qos, Retain: w.will.Retain},
		TopicName:   w.will.TopicName,
		Payload:     w.will.Payload,
		Properties:  packets.Properties{User: w.will.User},
	}
	if s.opts.ReadOnly {
		s.log.Warn("mqtt will dropped: the broker is read-only", "client", id, "topic", pk.TopicName)
		return
	}
	if len(pk.Payload) > s.opts.MaxPayload {
		s.log.Warn("mqtt will dropped: payload too large", "client", id, "topic", pk.TopicName, "bytes", len(pk.Payload))
		return
	}
	if code, _, err := s.storePublish(id, w.remote, &pk, nil); err != nil {
		s.log.Warn("mqtt will not stored", "client", id, "topic", pk.TopicName, "code", code.Code, "err", err)
		return
	}
	s.log.Debug("mqtt will published", "client", id, "topic", pk.TopicName)
}

// cancelWill drops a delayed will of a client that connected again.
func (s *Server) cancelWill(id string) {
	s.mu.Lock()
	if t := s.delayed[id]; t != nil {
		t.Stop()
		delete(s.delayed, id)
	}
	s.mu.Unlock()
}

// topicHash is FNV-1a of an MQTT topic; it chooses the topic's queue.
func topicHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
