package broker

import (
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Long polling (PullRequestHoldService): a pull that finds nothing and
// carries the SUSPEND bit is parked on its topic-queue until a message
// arrives there or its suspend time ends, then read again and answered.
//
//	pullMessage ──hold──▶ queues[topic,queue] ──┐
//	engine dispatcher ──OnDispatch──▶ wake ─────┤ run: collect the pulls whose queue grew or
//	timer (earliest deadline) ──────────────────┘      whose time is up, read, answer
//
// Differences from Java, all toward answering sooner: the holder wakes on
// every dispatch and checks each parked queue's max offset (Java is told
// the queue); a wake-up whose new messages do not match the pull's tags
// moves its offset past them and keeps it parked instead of answering
// PULL_RETRY_IMMEDIATELY; timeouts are noticed by a timer, not a 5 s scan.
//
// Bounds: at most Options.MaxHeldPullsPerConn pulls per connection and
// MaxHeldPulls in all (beyond that a pull is answered SYSTEM_BUSY), and one
// per connection and queue: a second pull of the same connection for the
// same queue and group answers the first. A closed connection's pulls are
// dropped unanswered.

type heldPull struct {
	conn      remoting.Conn
	opaque    int32
	serialize remoting.SerializeType
	oneway    bool
	q         pullQuery
	deadline  time.Time
	start     time.Time // when the pull arrived, for the pull latency
}

type queueKey struct {
	topic   string
	queueID int32
}

type pullHolder struct {
	b    *Broker
	wake chan struct{} // capacity 1: a wake-up is pending

	// mu guards the fields below. Store lookups (MaxOffset) are made
	// under it; the store never calls back into the broker while it
	// holds its own locks, except OnDispatch, which only signals wake.
	mu      sync.Mutex
	queues  map[queueKey][]*heldPull
	perConn map[remoting.Conn]int
	total   int
	next    time.Time // earliest deadline of a parked pull, zero if none
	stopped bool
}

func newPullHolder(b *Broker) *pullHolder {
	return &pullHolder{
		b:       b,
		wake:    make(chan struct{}, 1),
		queues:  map[queueKey][]*heldPull{},
		perConn: map[remoting.Conn]int{},
	}
}

func (h *pullHolder) wakeUp() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// hold parks p. A new pull replaces (and answers) an older one of the same
// connection for the same queue and group; a pull parked again after a
// read yields to a newer one and is answered instead. A non-nil result is
// the answer to give at once because the holder is full.
func (h *pullHolder) hold(p *heldPull, isNew bool) *codeError {
	// p belongs to the run goroutine as soon as it is parked: read what
	// is needed afterwards now.
	key, offset := queueKey{p.q.topic, p.q.queueID}, p.q.offset
	var answer *heldPull
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		h.answerNow(p)
		return nil
	}
	list := h.queues[key]
	for i, old := range list {
		if old.conn != p.conn || old.q.group != p.q.group {
			continue
		}
		if isNew {
			list[i] = p // takes old's place and counts
			answer = old
		} else {
			answer = p
		}
		break
	}
	if answer == nil {
		if h.perConn[p.conn] >= h.b.opts.MaxHeldPullsPerConn || h.total >= h.b.opts.MaxHeldPulls {
			h.mu.Unlock()
			return errorf(remoting.ResSystemBusy, "[OVERLOAD]too many held pulls (connection %d, broker %d), try again later",
				h.b.opts.MaxHeldPullsPerConn, h.b.opts.MaxHeldPulls)
		}
		h.queues[key] = append(list, p)
		h.perConn[p.conn]++
		h.total++
	}
	earlier := h.next.IsZero() || p.deadline.Before(h.next)
	if earlier && answer != p {
		h.next = p.deadline
	}
	h.mu.Unlock()

	if answer != nil {
		h.answerNow(answer)
	}
	// A message may have arrived between the read and now; its dispatch
	// wake-up found nothing parked.
	if earlier || h.b.store.MaxOffset(key.topic, key.queueID) > offset {
		h.wakeUp()
	}
	return nil
}

// answerNow reads for p once more and answers whatever the store says.
func (h *pullHolder) answerNow(p *heldPull) {
	op, code := h.b.readPull(&p.q)
	h.respond(p, op, code)
}

func (h *pullHolder) respond(p *heldPull, op *readOp, code int32) {
	resp := h.b.pullResponse(p.opaque, p.serialize, p.q.topic, op, code)
	h.b.metrics.pullAnswered(p.start, true)
	h.b.reply(p.conn, &remoting.Command{Flag: onewayFlag(p.oneway)}, resp)
}

func onewayFlag(oneway bool) int32 {
	if oneway {
		return remoting.FlagOneway
	}
	return 0
}

// dropConn forgets the pulls of a closed connection without answering.
func (h *pullHolder) dropConn(conn remoting.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perConn[conn] == 0 {
		return
	}
	for key, list := range h.queues {
		keep := list[:0]
		for _, p := range list {
			if p.conn == conn {
				h.total--
				continue
			}
			keep = append(keep, p)
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(h.queues, key)
		} else {
			h.queues[key] = keep
		}
	}
	delete(h.perConn, conn)
}

// collect takes out the pulls whose queue has grown past their offset or
// whose time is up, and recomputes the earliest deadline of the rest.
func (h *pullHolder) collect(now time.Time, all bool) []*heldPull {
	var ready []*heldPull
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next = time.Time{}
	for key, list := range h.queues {
		maxOff := h.b.store.MaxOffset(key.topic, key.queueID)
		keep := list[:0]
		for _, p := range list {
			if all || maxOff > p.q.offset || !now.Before(p.deadline) {
				ready = append(ready, p)
				h.total--
				if n := h.perConn[p.conn] - 1; n > 0 {
					h.perConn[p.conn] = n
				} else {
					delete(h.perConn, p.conn)
				}
				continue
			}
			if h.next.IsZero() || p.deadline.Before(h.next) {
				h.next = p.deadline
			}
			keep = append(keep, p)
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(h.queues, key)
		} else {
			h.queues[key] = keep
		}
	}
	return ready
}

// execute reads again for a collected pull. It answers unless the pull
// should stay parked: the new messages did not match its tags (its offset
// moves past them) and its time is not up.
func (h *pullHolder) execute(p *heldPull, now time.Time) {
	op, code := h.b.readPull(&p.q)
	expired := !now.Before(p.deadline)
	if !expired {
		switch {
		case code == remoting.ResPullRetryImmediately && op.res.Status == engine.GetNoMatchedMessage:
			p.q.offset = op.res.NextOffset
			op.free()
			if busy := h.hold(p, false); busy != nil {
				h.answerNow(p)
			}
			return
		case code == remoting.ResPullNotFound:
			op.free()
			if busy := h.hold(p, false); busy != nil {
				h.answerNow(p)
			}
			return
		}
	}
	h.respond(p, op, code)
}

// run serves wake-ups and deadlines until stop is closed, then answers
// every parked pull and refuses to park more.
func (h *pullHolder) run(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			h.mu.Lock()
			h.stopped = true
			h.mu.Unlock()
			for _, p := range h.collect(h.b.opts.Now(), true) {
				h.answerNow(p)
			}
			return
		case <-h.wake:
		case <-timer.C:
		}
		now := h.b.opts.Now()
		for _, p := range h.collect(now, false) {
			h.execute(p, now)
		}
		h.mu.Lock()
		next := h.next
		h.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(h.b.opts.Now()), 0)
		}
		timer.Reset(wait)
	}
}

// held returns the number of parked pulls (for tests and runtime info).
func (h *pullHolder) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}
