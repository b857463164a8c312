package mqtt

import (
	"errors"
	"io"
	"net"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook is the server's mochi hook: limits and read-only refusals in every
// mode; with Persist, the publish path, sessions, deliveries and their
// acknowledgements, wills and what mochi reloads at start.
type hook struct {
	mochi.HookBase
	s *Server
}

func (h *hook) ID() string { return "gannet" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mochi.OnPacketRead, mochi.OnPacketEncode, mochi.OnPublish, mochi.OnDisconnect:
		return true
	case mochi.OnSessionEstablish, mochi.OnSessionEstablished,
		mochi.OnSubscribed, mochi.OnUnsubscribed,
		mochi.OnClientExpired, mochi.OnRetainedExpired,
		mochi.StoredClients, mochi.StoredSubscriptions:
		return h.s.opts.Persist
	}
	return false
}

// OnPacketRead enforces MaxPayload with the MQTT 5 reason code: mochi's own
// bound (MaximumPacketSize, MaxPayload plus headroom) only drops the
// connection. With Persist it also completes deliveries: a PUBACK or
// PUBCOMP, or a PUBREC refusing the message, ends one. Taken here rather
// than from mochi's OnQosComplete, which fires only while mochi's table
// still holds the id (see session.nextPID).
func (h *hook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if h.s.opts.Persist {
		switch pk.FixedHeader.Type {
		case packets.Puback, packets.Pubcomp:
			h.s.acked(cl.ID, pk.PacketID)
		case packets.Pubrec:
			if pk.ReasonCode >= 0x80 {
				h.s.acked(cl.ID, pk.PacketID)
			}
		}
	}
	if pk.FixedHeader.Type == packets.Publish && len(pk.Payload) > h.s.opts.MaxPayload {
		h.s.log.Warn("mqtt publish too large; disconnecting", "client", cl.ID, "remote", cl.Net.Remote,
			"topic", pk.TopicName, "bytes", len(pk.Payload), "max", h.s.opts.MaxPayload)
		if cl.Properties.ProtocolVersion == 5 {
			_ = h.s.mq.DisconnectClient(cl, packets.ErrPacketTooLarge) // [MQTT-3.2.2-15]
		} else {
			cl.Stop(packets.ErrPacketTooLarge)
		}
		// mochi ignores any other error of this hook; this one ends the read loop.
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnPacketEncode tells MQTT 5 clients the largest packet the server
// accepts [MQTT-3.2.2-15], so a well-behaved client never sends one.
func (h *hook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode < 0x80 {
		pk.Properties.MaximumPacketSize = uint32(h.s.opts.MaxPayload + packetHeadroom)
	}
	return pk
}

func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	s := h.s
	if s.opts.ReadOnly {
		return pk, s.refuse(cl, &pk, packets.ErrNotAuthorized, errors.New("the broker is read-only (a slave)"))
	}
	if !s.opts.Persist {
		return pk, nil
	}
	var a *acker
	if pk.FixedHeader.Qos == 1 && !pk.FixedHeader.Retain && !cl.Net.Inline {
		a = s.ackerFor(cl)
	}
	code, async, err := s.storePublish(cl.ID, cl.Net.Remote, &pk, a)
	if err != nil {
		return pk, s.refuse(cl, &pk, code, err)
	}
	if async {
		// The acker sends the PUBACK once the append completes; mochi must
		// neither acknowledge nor fan out.
		return pk, packets.ErrRejectPacket
	}
	return pk, packets.CodeSuccessIgnore
}

// OnSessionEstablish runs before mochi inherits an existing session: a
// clean start discards the stored one [MQTT-3.1.2-4], and a reconnect
// cancels a delayed will [MQTT-3.1.3-9].
//
// It also takes the will over from mochi, which would publish it in memory
// only; OnDisconnect stores it. (Here rather than in OnConnect: a client
// refused by authentication never reaches OnDisconnect.)
func (h *hook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	if atomic.LoadUint32(&cl.Properties.Will.Flag) != 0 {
		w := willInfo{will: cl.Properties.Will, remote: cl.Net.Remote}
		atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
		h.s.mu.Lock()
		h.s.wills[cl] = w
		h.s.mu.Unlock()
	}
	h.s.cancelWill(cl.ID)
	if pk.Connect.Clean {
		h.s.dropSession(cl.ID, nil)
	}
}

func (h *hook) OnSessionEstablished(cl *mochi.Client, pk packets.Packet) {
	h.s.attach(cl)
}

func (h *hook) OnDisconnect(cl *mochi.Client, err error, expire bool) {
	s := h.s
	s.dropAcker(cl)
	if err != nil && !quietDisconnect(err) {
		s.log.Info("mqtt client disconnected", "client", cl.ID, "remote", cl.Net.Remote, "err", err)
	}
	s.mu.Lock()
	w, hasWill := s.wills[cl]
	delete(s.wills, cl)
	s.mu.Unlock()
	if !s.opts.Persist {
		return
	}
	s.detach(cl, expire && !cl.IsTakenOver())
	// A will goes out when the connection ends without a normal
	// DISCONNECT [MQTT-3.1.2-8]; a broker shutting down publishes none.
	if hasWill && err != nil && !s.closing.Load() {
		s.publishWill(cl.ID, w)
	}
}

// quietDisconnect reports the ordinary ways a connection ends.
func quietDisconnect(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, packets.CodeDisconnect) ||
		errors.Is(err, packets.ErrServerShuttingDown) || errors.Is(err, packets.ErrSessionTakenOver) ||
		errors.As(err, &ne) && ne.Timeout()
}

// OnSubscribed records granted subscriptions in the session (saved before
// mochi sends the SUBACK) and starts reading for them.
func (h *hook) OnSubscribed(cl *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	h.s.subscribe(cl, pk.Filters, reasonCodes)
}

func (h *hook) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	h.s.unsubscribe(cl, pk.Filters)
}

func (h *hook) OnClientExpired(cl *mochi.Client) {
	h.s.log.Info("mqtt session expired", "client", cl.ID)
	h.s.dropSession(cl.ID, nil)
}

func (h *hook) OnRetainedExpired(filter string) {
	h.s.retMu.Lock()
	h.s.ret.dirty = true
	h.s.retMu.Unlock()
}

func (h *hook) StoredClients() ([]storage.Client, error) { return h.s.storedClients(), nil }

func (h *hook) StoredSubscriptions() ([]storage.Subscription, error) {
	return h.s.storedSubscriptions(), nil
}
