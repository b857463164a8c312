package mqtt

import (
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
)

// mochi reads one connection's packets on one goroutine and acknowledges
// a publish when OnPublish returns. Waiting there for the append made a
// lone QoS 1 publisher pay one fsync per message under SYNC_FLUSH, however
// many publishes it had in flight. Instead a QoS 1 publish (not retained)
// is submitted and OnPublish returns at once; the connection's acker
// writes the PUBACKs as the appends complete, in the order the publishes
// arrived [MQTT-4.6.0-2], so the appends of one connection share group
// commits like those of many.

// maxPendingAcks bounds one connection's publishes awaiting their PUBACK:
// a client that publishes faster than the store acknowledges waits in
// OnPublish, which stops reading from its connection.
const maxPendingAcks = 256

type ackItem struct {
	pid    uint16
	topic  string // for the log line of a refusal
	ready  bool
	status engine.Status
	err    error
	end    int64
}

// acker writes one connection's PUBACKs.
type acker struct {
	s  *Server
	cl *mochi.Client

	mu   sync.Mutex
	cond *sync.Cond
	// ring holds the publishes awaiting their PUBACK, in arrival order:
	// sequence numbers head (the next to answer) to tail (the next to
	// take), slot seq%maxPendingAcks. No allocation per publish.
	ring       [maxPendingAcks]ackItem
	head, tail uint64
	closed     bool
	done       chan struct{}
}

// ackerFor returns the connection's acker, starting it on first use. It
// runs for every QoS 1 publish: a sync.Map keeps it off the server's lock.
func (s *Server) ackerFor(cl *mochi.Client) *acker {
	if a, ok := s.ackers.Load(cl); ok {
		return a.(*acker)
	}
	a := &acker{s: s, cl: cl, done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	if prev, loaded := s.ackers.LoadOrStore(cl, a); loaded {
		return prev.(*acker)
	}
	go a.run()
	return a
}

// dropAcker stops a closed connection's acker; acks not yet written are
// dropped (the client resends those publishes: at least once).
func (s *Server) dropAcker(cl *mochi.Client) {
	if a, ok := s.ackers.LoadAndDelete(cl); ok {
		a.(*acker).close()
	}
}

// enqueue reserves the next PUBACK slot, waiting while the ring is full,
// and returns its sequence number.
func (a *acker) enqueue(pid uint16, topic string) (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.tail-a.head >= maxPendingAcks && !a.closed {
		a.cond.Wait()
	}
	if a.closed {
		return 0, false
	}
	seq := a.tail
	a.ring[seq%maxPendingAcks] = ackItem{pid: pid, topic: topic}
	a.tail++
	return seq, true
}

// complete records an append's outcome; called on the engine's goroutine.
func (a *acker) complete(seq uint64, r *engine.Request) {
	a.mu.Lock()
	it := &a.ring[seq%maxPendingAcks]
	it.ready, it.status, it.err, it.end = true, r.Status, r.Err, r.End()
	a.mu.Unlock()
	a.cond.Broadcast()
}

func (a *acker) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cond.Broadcast()
	<-a.done
}

// run writes the PUBACKs in order as their appends complete.
func (a *acker) run() {
	defer close(a.done)
	for {
		a.mu.Lock()
		for !a.closed && (a.head == a.tail || !a.ring[a.head%maxPendingAcks].ready) {
			a.cond.Wait()
		}
		if a.closed {
			a.mu.Unlock()
			return
		}
		slot := &a.ring[a.head%maxPendingAcks]
		it := *slot
		*slot = ackItem{}
		a.head++
		a.mu.Unlock()
		a.cond.Broadcast() // room for a waiting enqueue
		a.answer(&it)
	}
}

func (a *acker) answer(it *ackItem) {
	if code, err := a.s.stored(it.status, it.err, it.end); err != nil {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: it.pid, TopicName: it.topic}
		a.s.refuse(a.cl, &pk, code, err) // logs; MQTT 5: PUBACK with the code; 3.1.1: disconnect
		return
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: it.pid}
	_ = a.cl.WritePacket(ack) // a closed connection: the client resends
}

// doneQoS1 completes an append submitted for a QoS 1 publish.
func (op *pubOp) doneQoS1(r *engine.Request) {
	a, seq := op.acker, op.seq
	op.acker = nil
	a.complete(seq, r)
	op.s.putPub(op)
}
