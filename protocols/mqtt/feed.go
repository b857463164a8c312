package mqtt

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// A feed delivers stored messages to MQTT subscribers. A session has one
// for its ordinary subscriptions; a shared subscription name has one whose
// members are the connected clients subscribed under it, each message
// going to exactly one of them.
//
// A feed reads the ConsumeQueues of every RocketMQ topic its filters can
// match, each from its own position, matches the MQTT topic of each
// message against the filters and writes a PUBLISH straight to the
// client's connection (mochi's Client.WritePacket, not the bounded
// outbound channel that drops). So a slow subscriber slows only its own
// feed: its backlog stays in the log, nothing is dropped.
//
//	for wake := range f.wake {        // Notify after dispatch, acks, a 1 s tick
//		for each source (topic, queue):
//			read up to 32 messages from src.next
//			for each: match filters; QoS > 0 needs a window slot, else stop
//			write the PUBLISHes, without holding f.mu
//	}
//
// Un-acknowledged QoS 1/2 deliveries are pending entries in their source,
// in queue order; the committed position of a source is its first pending
// entry (or src.next when none), so a restart redelivers from there and
// never skips an un-acknowledged message. The window per client is the
// smaller of Options.ReceiveMaximum and the client's own MQTT 5 receive
// maximum, counted over all the feeds that deliver to it.
type feed struct {
	s     *Server
	name  string   // for logs: the client id, or "$share/<name>"
	group string   // the RocketMQ consumer group of a shared feed; "" for a session
	sess  *session // the owner of a session feed

	mu       sync.Mutex
	members  map[string]*member
	order    []*member // join order, for round robin in a group
	rr       int
	srcs     map[srcKey]*source
	list     []*source
	restored map[srcKey]position // positions saved before a restart, used once
	since    int64               // group: log end at creation; sources found later start there
	initial  bool                // the first refresh of a group: unknown sources start at the end
	topicVer int64
	resync   bool // subscriptions changed: recompute the sources
	dirty    bool // positions changed since the session was saved

	wake      chan struct{}
	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	// Owned by the feed goroutine.
	res     engine.GetResult
	st      stored
	batch   []delivery
	snap    []*source
	topics  map[string]string // interned MQTT topic names
	free    []*pending
	ids     []int
	lastRun time.Time
}

// member is a client a feed delivers to.
type member struct {
	sess     *session
	cl       *mochi.Client // nil while offline; guarded by the feed's mu
	subs     []*subscription
	inflight map[uint16]*pending
}

type srcKey struct {
	topic string
	qid   int32
}

// source is one ConsumeQueue a feed reads.
type source struct {
	srcKey
	next  int64      // next queue offset to read
	since int64      // messages stored before this CommitLog offset are not for this feed
	sent  int64      // restored: offsets below may have been sent before the restart (DUP)
	pend  []*pending // un-acknowledged deliveries and redeliveries, by offset
	redo  []*pending // pending entries to deliver again (their member left), by offset
}

// committed is where a restart resumes.
func (src *source) committed() int64 {
	if len(src.pend) > 0 {
		return src.pend[0].off
	}
	return src.next
}

// pending is a QoS 1/2 delivery awaiting its PUBACK or PUBCOMP.
type pending struct {
	src  *source
	off  int64
	m    *member // nil while waiting for redelivery
	pid  uint16
	done bool
	redo bool
}

// position is a source's saved state.
type position struct {
	committed, sent int64
}

// delivery is one PUBLISH planned under f.mu and written without it.
type delivery struct {
	m  *member
	cl *mochi.Client
	p  *pending
	pk packets.Packet
}

const (
	readBatch    = 32
	readMaxBytes = 1 << 20
	maxInterned  = 4096
	saveInterval = time.Second
)

func newFeed(s *Server, name, group string, sess *session) *feed {
	f := &feed{
		s: s, name: name, group: group, sess: sess,
		members:  map[string]*member{},
		srcs:     map[srcKey]*source{},
		restored: map[srcKey]position{},
		topics:   map[string]string{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		topicVer: -1,
	}
	if group != "" {
		f.since = s.store.MaxPhysicalOffset()
		f.initial = true
	}
	s.addFeed(f)
	go f.run()
	return f
}

func (f *feed) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) close() {
	f.closeOnce.Do(func() { close(f.stop) })
	<-f.done
	f.s.removeFeed(f)
}

func (f *feed) run() {
	defer close(f.done)
	defer f.res.Release()
	for {
		select {
		case <-f.stop:
			return
		case <-f.wake:
		}
		f.refresh(false)
		for {
			progress := false
			f.mu.Lock()
			f.snap = append(f.snap[:0], f.list...)
			f.mu.Unlock()
			for _, src := range f.snap {
				if f.pump(src) {
					progress = true
				}
			}
			select {
			case <-f.stop:
				return
			default:
			}
			if !progress {
				break
			}
		}
		if f.sess != nil && time.Since(f.lastRun) >= saveInterval {
			f.lastRun = time.Now()
			f.mu.Lock()
			dirty := f.dirty
			f.mu.Unlock()
			if dirty {
				if err := f.sess.save(); err != nil {
					f.s.log.Error("cannot save mqtt session", "client", f.sess.id, "err", err)
				}
			}
		}
	}
}

// setMember adds or updates a member: its connection (nil: offline) and
// the subscriptions this feed serves for it. atSubscribe makes sources
// that are new to the feed start at the end of their queues: the caller
// is about to acknowledge a SUBSCRIBE, and everything stored from now on
// is for it.
func (f *feed) setMember(ss *session, cl *mochi.Client, subs []*subscription, atSubscribe bool) {
	f.mu.Lock()
	m := f.members[ss.id]
	if m == nil {
		m = &member{sess: ss, inflight: map[uint16]*pending{}}
		f.members[ss.id] = m
		f.order = append(f.order, m)
	}
	if m.cl != nil && m.cl != cl && cl != nil && f.group != "" {
		f.releaseLocked(m) // a new connection of the same client id
	}
	m.cl = cl
	m.subs = subs
	f.resync = true
	if atSubscribe {
		f.refreshLocked(true)
	}
	f.mu.Unlock()
	f.kick()
}

// setOffline marks a session feed's member offline; its deliveries stay
// pending (mochi resends them when the session resumes).
func (f *feed) setOffline(id string) {
	f.mu.Lock()
	if m := f.members[id]; m != nil {
		m.cl = nil
	}
	f.mu.Unlock()
}

// leave removes a member from a group; its un-acknowledged deliveries go
// to the other members. It reports whether members remain.
func (f *feed) leave(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.members[id]
	if m == nil {
		return len(f.members) > 0
	}
	f.releaseLocked(m)
	delete(f.members, id)
	f.order = slices.DeleteFunc(f.order, func(x *member) bool { return x == m })
	f.resync = true
	f.kick()
	return len(f.members) > 0
}

// releaseLocked takes a group member's pending deliveries back for
// redelivery, and removes them from its mochi session so a reconnect does
// not resend them as well.
func (f *feed) releaseLocked(m *member) {
	for _, src := range f.list {
		for _, p := range src.pend {
			if p.m != m || p.done || p.redo {
				continue
			}
			if p.pid != 0 {
				delete(m.inflight, p.pid)
				if m.cl != nil {
					m.cl.State.Inflight.Delete(p.pid)
				}
				m.sess.release()
			}
			p.m, p.pid, p.redo = nil, 0, true
			i, _ := slices.BinarySearchFunc(src.redo, p.off, func(q *pending, off int64) int { return cmp.Compare(q.off, off) })
			src.redo = slices.Insert(src.redo, i, p)
		}
	}
}

// ack completes the delivery pid of client id; false if it is not this
// feed's.
func (f *feed) ack(id string, pid uint16) bool {
	f.mu.Lock()
	m := f.members[id]
	if m == nil {
		f.mu.Unlock()
		return false
	}
	p := m.inflight[pid]
	if p == nil {
		f.mu.Unlock()
		return false
	}
	delete(m.inflight, pid)
	m.sess.release()
	p.done = true
	f.popLocked(p.src)
	f.mu.Unlock()
	f.kick()
	return true
}

// popLocked drops finished entries from the head of a source's pending
// list; a group commits its new position to the consumer offsets.
func (f *feed) popLocked(src *source) {
	n := 0
	for n < len(src.pend) && src.pend[n].done {
		p := src.pend[n]
		*p = pending{}
		f.free = append(f.free, p)
		n++
	}
	if n > 0 {
		clear(src.pend[:n])
		src.pend = src.pend[n:]
	}
	f.dirty = true
	if f.group != "" {
		f.s.store.Meta().Offsets.Commit(f.group, src.topic, src.qid, src.committed())
	}
}

func (f *feed) newPending(src *source, off int64) *pending {
	var p *pending
	if n := len(f.free); n > 0 {
		p = f.free[n-1]
		f.free = f.free[:n-1]
	} else {
		p = &pending{}
	}
	p.src, p.off = src, off
	return p
}

// refresh recomputes the sources when the subscriptions or the topic table
// changed.
func (f *feed) refresh(atSubscribe bool) {
	f.mu.Lock()
	f.refreshLocked(atSubscribe)
	f.mu.Unlock()
}

func (f *feed) refreshLocked(atSubscribe bool) {
	topics := f.s.store.Meta().Topics
	ver := topics.DataVersion().Counter
	if !f.resync && ver == f.topicVer {
		return
	}
	f.resync, f.topicVer = false, ver
	want := map[string]bool{}
	all := false
	for _, m := range f.members {
		for _, sub := range m.subs {
			l := firstLevel(sub.filter)
			if l == "+" || l == "#" {
				all = true
				continue
			}
			want[rocketTopic(sub.filter, f.s.opts.FallbackTopic)] = true
		}
	}
	if all {
		for _, tc := range topics.All() {
			if mqttVisible(tc.TopicName) {
				want[tc.TopicName] = true
			}
		}
	}
	keep := map[srcKey]bool{}
	for topic := range want {
		tc, ok := topics.Get(topic)
		if !ok {
			continue
		}
		n := max(tc.ReadQueueNums, tc.WriteQueueNums)
		for q := int32(0); q < n; q++ {
			key := srcKey{topic, q}
			keep[key] = true
			if _, ok := f.srcs[key]; !ok {
				f.srcs[key] = f.newSource(key, atSubscribe || f.initial)
			}
		}
	}
	f.initial = false
	for key, src := range f.srcs {
		if !keep[key] && len(src.pend) == 0 {
			delete(f.srcs, key)
		}
	}
	f.list = f.list[:0]
	for _, src := range f.srcs {
		f.list = append(f.list, src)
	}
	sort.Slice(f.list, func(i, j int) bool {
		a, b := f.list[i], f.list[j]
		return a.topic < b.topic || a.topic == b.topic && a.qid < b.qid
	})
}

// newSource places a source: at its saved position; else at the end of
// the queue when the feed is being subscribed (or a group starts); else
// (a topic that appeared later) at its start, skipping what was stored
// before the subscription.
func (f *feed) newSource(key srcKey, atEnd bool) *source {
	st := f.s.store
	lo, hi := st.MinOffset(key.topic, key.qid), st.MaxOffset(key.topic, key.qid)
	src := &source{srcKey: key}
	switch pos, ok := f.restored[key]; {
	case ok:
		src.next, src.sent = pos.committed, pos.sent
		delete(f.restored, key)
	case f.group != "":
		if off, ok := st.Meta().Offsets.Query(f.group, key.topic, key.qid); ok {
			src.next = off
		} else if atEnd {
			src.next = hi
		} else {
			src.next, src.since = lo, f.since
		}
	case atEnd:
		src.next = hi
	default:
		src.next = lo // each subscription's own start (subscription.since) filters
	}
	src.next = min(max(src.next, lo), hi)
	if f.group != "" {
		st.Meta().Offsets.Commit(f.group, key.topic, key.qid, src.next)
	}
	f.dirty = true
	return src
}

// pump delivers what it can from one source and reports progress.
func (f *feed) pump(src *source) bool {
	f.mu.Lock()
	redo := len(src.redo) > 0
	from := src.next
	n := readBatch
	if redo {
		from, n = src.redo[0].off, 1
	}
	if !redo && f.group == "" && !f.anyOnlineLocked() {
		f.mu.Unlock()
		return false
	}
	req := engine.GetRequest{Topic: src.topic, QueueID: src.qid, Offset: from, MaxMessages: n, MaxBytes: readMaxBytes}
	f.s.store.GetMessages(&req, &f.res)
	switch f.res.Status {
	case engine.GetFound:
	case engine.GetOffsetTooSmall, engine.GetMessageWasRemoving, engine.GetOffsetOverflowBadly, engine.GetNoMatchedMessage:
		// Retention removed messages before they were delivered, or the
		// queue was reset: continue where the queue now is.
		if f.res.NextOffset != from {
			f.s.log.Warn("mqtt subscriber position moved", "feed", f.name, "topic", src.topic, "queue", src.qid,
				"from", from, "to", f.res.NextOffset, "status", f.res.Status)
			f.skipToLocked(src, f.res.NextOffset)
			f.mu.Unlock()
			return true
		}
		f.mu.Unlock()
		return false
	default:
		f.mu.Unlock()
		return false
	}
	now := time.Now()
	f.batch = f.batch[:0]
	stopped := false
	for i, raw := range f.res.Messages {
		off := f.res.Offsets[i]
		var p *pending
		if redo {
			p = src.redo[0]
			if p.off != off { // the message is gone: nothing to redeliver
				src.redo = src.redo[1:]
				p.done, p.redo = true, false
				f.popLocked(src)
				break
			}
		}
		d, wait := f.planLocked(src, off, raw, p, now)
		if wait {
			stopped = true
			break
		}
		if redo {
			src.redo = src.redo[1:]
			if d == nil {
				p.done, p.redo = true, false
				f.popLocked(src)
			}
		} else {
			src.next = off + 1
			f.dirty = true
		}
		if d != nil {
			f.batch = append(f.batch, *d)
		}
	}
	if !redo && !stopped && len(f.res.Messages) > 0 {
		src.next = max(src.next, f.res.NextOffset)
	}
	f.mu.Unlock()
	progress := len(f.batch) > 0 || !stopped
	f.send()
	f.res.Release()
	return progress
}

func (f *feed) anyOnlineLocked() bool {
	for _, m := range f.members {
		if m.cl != nil {
			return true
		}
	}
	return false
}

// skipToLocked moves a source to off, finishing pending entries below it.
func (f *feed) skipToLocked(src *source, off int64) {
	for _, p := range src.pend {
		if p.off < off && !p.done {
			if p.m != nil && p.pid != 0 {
				delete(p.m.inflight, p.pid)
				p.m.sess.release()
			}
			p.done = true
		}
	}
	src.redo = slices.DeleteFunc(src.redo, func(p *pending) bool { return p.off < off })
	src.next = max(src.next, off)
	f.popLocked(src)
}

// planLocked decides what to do with the message at off: nil (not for
// this feed, expired, or undecodable), a delivery, or wait (its receiver
// is offline or has no free window slot). p is the pending entry of a
// redelivery.
func (f *feed) planLocked(src *source, off int64, raw []byte, p *pending, now time.Time) (*delivery, bool) {
	rec, err := message.Parse(raw, false)
	if err != nil {
		return nil, false
	}
	st := &f.st
	if !parseStored(st, rec.Topic(), rec.Properties()) {
		return nil, false
	}
	phys := rec.PhysicalOffset()
	if phys < src.since {
		return nil, false
	}
	nowMs := now.UnixMilli()
	if st.expireAt > 0 && st.expireAt <= nowMs {
		return nil, false // [MQTT-3.3.2-5]
	}
	m, qos, rap, wait := f.routeLocked(st, phys)
	if m == nil {
		return nil, wait
	}
	d := delivery{m: m, cl: m.cl}
	pk := &d.pk
	pk.FixedHeader = packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: rap && st.retain}
	pk.TopicName = f.intern(st.topic)
	pk.Created = now.Unix()
	if qos > 0 {
		// mochi keeps the packet for resending until it is acknowledged,
		// after this feed has released the mapped segment: copy.
		pk.Payload = append([]byte(nil), rec.Body()...)
		pk.FixedHeader.Dup = p != nil || off < src.sent // [MQTT-3.3.1-1]
		if p == nil {
			p = f.newPending(src, off)
			src.pend = append(src.pend, p)
		}
		p.m, p.redo, p.done = m, false, false
		d.p = p
	} else {
		pk.Payload = rec.Body() // written before f.res is released
	}
	if m.cl.Properties.ProtocolVersion == 5 {
		pr := &pk.Properties
		if st.expireAt > 0 {
			pr.MessageExpiryInterval = uint32((st.expireAt - nowMs + 999) / 1000)
		}
		if len(st.contentType) > 0 {
			pr.ContentType = string(st.contentType)
		}
		if len(st.responseTopic) > 0 {
			pr.ResponseTopic = string(st.responseTopic)
		}
		if len(st.correlation) > 0 {
			pr.CorrelationData = correlationData(st.correlation)
		}
		if st.payloadFormat >= 0 {
			pr.PayloadFormat, pr.PayloadFormatFlag = byte(st.payloadFormat), true
		}
		if len(st.user) > 0 {
			pr.User = make([]packets.UserProperty, len(st.user))
			for i, u := range st.user {
				pr.User[i] = packets.UserProperty{Key: string(u[0]), Val: string(u[1])}
			}
		}
		if len(f.ids) > 0 {
			pr.SubscriptionIdentifier = append([]int(nil), f.ids...) // [MQTT-3.3.4-3]
		}
	}
	return &d, false
}

// routeLocked chooses the member a message goes to and its QoS: the
// highest QoS among the member's matching subscriptions, capped by the
// message's [MQTT-3.8.4-8], with their identifiers in f.ids. m is nil
// when no member wants it, or, with wait, when the member that does is
// offline or out of window.
func (f *feed) routeLocked(st *stored, phys int64) (m *member, qos byte, rap, wait bool) {
	n := len(f.order)
	for k := 0; k < n; k++ {
		i := (f.rr + k) % n
		c := f.order[i]
		q, r, ok := f.matchLocked(c, st, phys)
		if !ok {
			continue
		}
		if c.cl == nil {
			wait = true
			continue
		}
		if f.s.acl && !f.s.auth.OnACLCheck(c.cl, string(st.topic), false) {
			continue // a delivery the ACL forbids is skipped, as mochi does
		}
		if q > 0 && !c.sess.acquire() {
			wait = true
			continue
		}
		f.rr = (i + 1) % n
		return c, q, r, false
	}
	return nil, 0, false, wait
}

func (f *feed) matchLocked(m *member, st *stored, phys int64) (qos byte, rap, ok bool) {
	f.ids = f.ids[:0]
	for _, sub := range m.subs {
		if phys < sub.since || !matchFilter(sub.filter, st.topic) {
			continue
		}
		if sub.noLocal && string(st.origin) == m.sess.id { // [MQTT-3.8.3-3]
			continue
		}
		q := min(st.qos, sub.qos)
		if !ok || q > qos {
			qos = q
		}
		rap = rap || sub.rap
		ok = true
		if sub.id > 0 {
			f.ids = append(f.ids, sub.id)
		}
	}
	return qos, rap, ok
}

// intern returns a string for an MQTT topic without allocating for topics
// seen before.
func (f *feed) intern(b []byte) string {
	if s, ok := f.topics[string(b)]; ok {
		return s
	}
	if len(f.topics) >= maxInterned {
		clear(f.topics)
	}
	s := string(b)
	f.topics[s] = s
	return s
}

// send writes the planned deliveries. QoS 1/2 packets get a packet id and
// enter mochi's in-flight table first, so mochi's PUBACK/PUBREC/PUBCOMP
// handling (and its resend when a session resumes) applies to them.
func (f *feed) send() {
	if len(f.batch) == 0 {
		return
	}
	info := f.s.mq.Info
	for i := range f.batch {
		d := &f.batch[i]
		if d.p == nil {
			continue
		}
		id, ok := d.m.sess.nextPID(d.cl)
		if !ok {
			d.cl = nil // every id of our range is in flight; the window keeps this from happening
			continue
		}
		d.pk.PacketID = uint16(id)
		if d.cl.State.Inflight.Set(d.pk) {
			atomic.AddInt64(&info.Inflight, 1)
		}
		d.cl.State.Inflight.DecreaseSendQuota()
	}
	f.mu.Lock()
	for i := range f.batch {
		d := &f.batch[i]
		if d.p == nil {
			continue
		}
		if d.cl == nil || d.p.m != d.m || d.p.done {
			// Released while unlocked (the member left), or no id.
			if d.cl != nil {
				d.cl.State.Inflight.Delete(d.pk.PacketID)
			}
			if d.p.m == d.m && !d.p.done {
				d.m.sess.release()
				d.p.m, d.p.redo = nil, true
				src := d.p.src
				j, _ := slices.BinarySearchFunc(src.redo, d.p.off, func(q *pending, off int64) int { return cmp.Compare(q.off, off) })
				src.redo = slices.Insert(src.redo, j, d.p)
			}
			d.cl = nil
			continue
		}
		d.p.pid = d.pk.PacketID
		d.m.inflight[d.pk.PacketID] = d.p
	}
	f.mu.Unlock()
	for i := range f.batch {
		d := &f.batch[i]
		if d.cl == nil {
			continue
		}
		err := d.cl.WritePacket(d.pk)
		switch {
		case err == nil:
		case err == packets.ErrPacketTooLarge:
			// Larger than the client accepts: discard it [MQTT-3.1.2-25].
			f.s.log.Warn("mqtt delivery larger than the client's maximum packet size; discarded",
				"client", d.cl.ID, "topic", d.pk.TopicName, "bytes", len(d.pk.Payload))
			if d.p != nil {
				d.cl.State.Inflight.Delete(d.pk.PacketID)
				f.ack(d.m.sess.id, d.pk.PacketID)
			}
		default:
			// The connection is closing; a pending delivery stays in mochi's
			// table for the session's next connection (a group hands it to
			// another member when this one leaves).
		}
		d.pk = packets.Packet{}
	}
	f.batch = f.batch[:0]
}

// positions snapshots the committed and sent offsets of a session feed.
func (f *feed) positions() map[srcKey]position {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[srcKey]position, len(f.srcs)+len(f.restored))
	for k, p := range f.restored {
		out[k] = p
	}
	for k, src := range f.srcs {
		out[k] = position{committed: src.committed(), sent: src.next}
	}
	f.dirty = false
	return out
}

// groupName is the RocketMQ consumer group of a shared subscription name:
// a prefix keeps it apart from RocketMQ consumers' own groups, and a name
// RocketMQ would refuse is replaced by its hash.
func groupName(share string) string {
	const prefix = "MQTT_SHARE_"
	if validRocketTopic(share) && len(prefix)+len(share) <= 120 && !strings.ContainsAny(share, "%|") {
		return prefix + share
	}
	return fmt.Sprintf("%s%08X", prefix, topicHash(share))
}
