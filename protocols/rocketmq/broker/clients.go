package broker

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// HEART_BEAT (34), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
// CHECK_CLIENT_CONFIG (46) and the NOTIFY_CONSUMER_IDS_CHANGED (40)
// requests the broker sends: ClientManageProcessor, ConsumerManager,
// ProducerManager and ClientHousekeepingService.
//
// A client is known by its connection: each heartbeat registers the
// connection under its clientID in every group it names. A group's member
// list changes when a connection first heartbeats for it, when the client
// unregisters, when the connection closes, and when a connection stays
// silent for ChannelExpiredTimeout; then every remaining member of a
// clustering group is told to rebalance.

// heartbeatData is the HEART_BEAT body (HeartbeatData.java). Java sends
// codeSet as numbers and Go as strings; it is not read: the codes are
// recomputed from tagsSet.
type heartbeatData struct {
	ClientID        string `json:"clientID"`
	ProducerDataSet []struct {
		GroupName string `json:"groupName"`
	} `json:"producerDataSet"`
	ConsumerDataSet []consumerData `json:"consumerDataSet"`
	WithoutSub      bool           `json:"withoutSub"`
}

type consumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	SubscriptionDataSet []subscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool               `json:"unitMode"`
}

type subscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	Topic           string   `json:"topic"`
	SubString       string   `json:"subString"`
	TagsSet         []string `json:"tagsSet"`
	SubVersion      int64    `json:"subVersion"`
	ExpressionType  string   `json:"expressionType"`
}

// subscription is a group's subscription to one topic, immutable once
// stored.
type subscription struct {
	topic          string
	subString      string
	expressionType string
	subVersion     int64
	codes          []int64 // nil: every message
}

// member is one connection registered in a group.
type member struct {
	clientID string
	language string
	version  int32
	seen     time.Time
}

type consumerGroup struct {
	consumeType      string
	messageModel     string
	consumeFromWhere string
	members          map[remoting.Conn]*member
	subs             map[string]*subscription
	notify           bool // notifyConsumerIdsChangedEnable of the group config
}

type clients struct {
	b *Broker

	// mu guards the maps and everything they point to. Requests to
	// clients (notifications) are sent after it is released.
	mu        sync.RWMutex
	consumers map[string]*consumerGroup
	producers map[string]map[remoting.Conn]*member
}

func newClients(b *Broker) *clients {
	return &clients{b: b, consumers: map[string]*consumerGroup{}, producers: map[string]map[remoting.Conn]*member{}}
}

// notice is a NOTIFY_CONSUMER_IDS_CHANGED to send once the lock is released.
type notice struct {
	group string
	conns []remoting.Conn
}

func (c *clients) notifyAll(notes []notice) {
	for _, n := range notes {
		for _, conn := range n.conns {
			req := &remoting.Command{
				Code:      remoting.ReqNotifyConsumerIdsChanged,
				Language:  "JAVA",
				Version:   serverVersion,
				Opaque:    c.b.nextOpaque(),
				Flag:      remoting.FlagOneway,
				ExtFields: map[string]string{"consumerGroup": n.group},
			}
			if err := conn.Send(req); err != nil {
				c.b.log.Debug("cannot notify consumer ids changed", "group", n.group, "peer", conn.RemoteAddr(), "err", err)
			}
		}
	}
}

// noticeLocked returns the notice for g's members, or nothing when the
// group does not want them or is a broadcasting group.
func noticeLocked(name string, g *consumerGroup) []notice {
	if !g.notify || g.messageModel == "BROADCASTING" || len(g.members) == 0 {
		return nil
	}
	conns := make([]remoting.Conn, 0, len(g.members))
	for conn := range g.members {
		conns = append(conns, conn)
	}
	return []notice{{group: name, conns: conns}}
}

func (b *Broker) heartbeat(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	var hb heartbeatData
	if err := json.Unmarshal(req.Body, &hb); err != nil {
		return respond(req, remoting.ResSystemError, "HEART_BEAT: cannot decode HeartbeatData: "+err.Error())
	}
	now := b.opts.Now()
	var notes []notice
	for i := range hb.ConsumerDataSet {
		cd := &hb.ConsumerDataSet[i]
		if cd.GroupName == "" {
			continue
		}
		notify := true
		if gc, ok := b.groupConfig(cd.GroupName); ok {
			notify = gc.NotifyConsumerIdsChangedEnable
			if validateGroup(cd.GroupName) == nil {
				b.topicForSendBack(retryTopic(cd.GroupName), gc.RetryQueueNums, meta.PermRead|meta.PermWrite)
			}
		}
		notes = append(notes, b.clients.registerConsumer(conn, req, hb.ClientID, cd, !hb.WithoutSub, notify, now)...)
	}
	for _, pd := range hb.ProducerDataSet {
		if pd.GroupName != "" {
			b.clients.registerProducer(conn, req, hb.ClientID, pd.GroupName, now)
		}
	}
	b.clients.notifyAll(notes)
	return success(req)
}

func buildSubscription(sd *subscriptionData) *subscription {
	s := &subscription{
		topic:          sd.Topic,
		subString:      sd.SubString,
		expressionType: sd.ExpressionType,
		subVersion:     sd.SubVersion,
	}
	if s.expressionType == "" || strings.EqualFold(s.expressionType, "TAG") {
		// The expression is authoritative; tagsSet is what the client
		// made of it, and Go leaves it empty for "*".
		s.codes = tagFilter(sd.SubString)
	}
	return s
}

// registerConsumer records conn as a member of cd's group and the group's
// subscriptions (ConsumerManager.registerConsumer): the members are told
// when a member joined or the set of subscribed topics changed.
func (c *clients) registerConsumer(conn remoting.Conn, req *remoting.Command, clientID string, cd *consumerData, withSubs, notify bool, now time.Time) []notice {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.consumers[cd.GroupName]
	if g == nil {
		g = &consumerGroup{members: map[remoting.Conn]*member{}, subs: map[string]*subscription{}}
		c.consumers[cd.GroupName] = g
	}
	g.consumeType, g.messageModel, g.consumeFromWhere, g.notify = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere, notify
	changed := false
	if m := g.members[conn]; m == nil {
		g.members[conn] = &member{clientID: clientID, language: req.Language, version: req.Version, seen: now}
		changed = true
		c.b.log.Info("consumer joined", "group", cd.GroupName, "client", clientID, "peer", conn.RemoteAddr())
	} else {
		m.seen = now
		if m.clientID != clientID {
			c.b.log.Warn("a connection changed its client id", "group", cd.GroupName, "old", m.clientID, "new", clientID)
			m.clientID = clientID
		}
	}
	if withSubs {
		// ConsumerGroupInfo.updateSubscription: a new topic or a removed
		// one is a change; a newer version of a topic replaces it quietly.
		seen := make(map[string]bool, len(cd.SubscriptionDataSet))
		for i := range cd.SubscriptionDataSet {
			sd := &cd.SubscriptionDataSet[i]
			seen[sd.Topic] = true
			old := g.subs[sd.Topic]
			if old == nil {
				g.subs[sd.Topic] = buildSubscription(sd)
				changed = true
			} else if sd.SubVersion > old.subVersion {
				g.subs[sd.Topic] = buildSubscription(sd)
			}
		}
		for topic := range g.subs {
			if !seen[topic] {
				delete(g.subs, topic)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return noticeLocked(cd.GroupName, g)
}

func (c *clients) registerProducer(conn remoting.Conn, req *remoting.Command, clientID, group string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	members := c.producers[group]
	if members == nil {
		members = map[remoting.Conn]*member{}
		c.producers[group] = members
	}
	if m := members[conn]; m != nil {
		m.seen, m.clientID = now, clientID
		return
	}
	members[conn] = &member{clientID: clientID, language: req.Language, version: req.Version, seen: now}
}

// removeConsumerLocked removes conn from group and returns the notice for
// the remaining members.
func (c *clients) removeConsumerLocked(group string, conn remoting.Conn) []notice {
	g := c.consumers[group]
	if g == nil || g.members[conn] == nil {
		return nil
	}
	c.b.log.Info("consumer left", "group", group, "client", g.members[conn].clientID, "peer", conn.RemoteAddr())
	delete(g.members, conn)
	if len(g.members) == 0 {
		delete(c.consumers, group)
		return nil
	}
	return noticeLocked(group, g)
}

func (c *clients) removeProducerLocked(group string, conn remoting.Conn) {
	if members := c.producers[group]; members != nil {
		delete(members, conn)
		if len(members) == 0 {
			delete(c.producers, group)
		}
	}
}

// dropConn removes conn from every group and notifies the groups it left.
func (c *clients) dropConn(conn remoting.Conn, why string) {
	var notes []notice
	c.mu.Lock()
	for group, g := range c.consumers {
		if g.members[conn] != nil {
			c.b.log.Debug("dropping consumer", "group", group, "peer", conn.RemoteAddr(), "why", why)
			notes = append(notes, c.removeConsumerLocked(group, conn)...)
		}
	}
	for group := range c.producers {
		c.removeProducerLocked(group, conn)
	}
	c.mu.Unlock()
	c.notifyAll(notes)
}

// run evicts connections silent for ChannelExpiredTimeout, closing them
// (ClientHousekeepingService.scanExceptionChannel).
func (c *clients) run(stop <-chan struct{}) {
	tick := time.NewTicker(c.b.opts.ClientScanInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			c.expire(c.b.opts.Now())
		}
	}
}

// expire drops every connection whose latest heartbeat, in any group, is
// older than the timeout.
func (c *clients) expire(now time.Time) {
	limit := c.b.opts.ChannelExpiredTimeout
	last := map[remoting.Conn]time.Time{}
	c.mu.RLock()
	note := func(members map[remoting.Conn]*member) {
		for conn, m := range members {
			if t, ok := last[conn]; !ok || m.seen.After(t) {
				last[conn] = m.seen
			}
		}
	}
	for _, g := range c.consumers {
		note(g.members)
	}
	for _, members := range c.producers {
		note(members)
	}
	c.mu.RUnlock()
	for conn, seen := range last {
		if now.Sub(seen) > limit {
			c.b.log.Info("client expired: no heartbeat", "peer", conn.RemoteAddr(), "silent", now.Sub(seen).Round(time.Second))
			c.dropConn(conn, "expired")
			c.b.holder.dropConn(conn)
			_ = conn.Close()
		}
	}
}

// subscription returns the group's subscription to topic and its message
// model; found is false when no live consumer of the group heartbeated.
func (c *clients) subscription(group, topic string) (sub *subscription, model string, found bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	g := c.consumers[group]
	if g == nil {
		return nil, "", false
	}
	return g.subs[topic], g.messageModel, true
}

// consumerIDs returns the client ids of the group's live members, sorted.
func (c *clients) consumerIDs(group string) []string {
	c.mu.RLock()
	g := c.consumers[group]
	var ids []string
	if g != nil {
		ids = make([]string, 0, len(g.members))
		for _, m := range g.members {
			ids = append(ids, m.clientID)
		}
	}
	c.mu.RUnlock()
	slices.Sort(ids)
	return slices.Compact(ids)
}

// subscribedTopics returns the topics the group's consumers subscribe to.
func (c *clients) subscribedTopics(group string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	g := c.consumers[group]
	if g == nil {
		return nil
	}
	topics := make([]string, 0, len(g.subs))
	for t := range g.subs {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	return topics
}

func (b *Broker) unregisterClient(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("UNREGISTER_CLIENT", req)
	h.str("clientID")
	producerGroup, consumerGroup := h.opt("producerGroup"), h.opt("consumerGroup")
	if h.err != nil {
		return fail(req, h.err)
	}
	var notes []notice
	b.clients.mu.Lock()
	if producerGroup != "" {
		b.clients.removeProducerLocked(producerGroup, conn)
	}
	if consumerGroup != "" {
		notes = b.clients.removeConsumerLocked(consumerGroup, conn)
	}
	b.clients.mu.Unlock()
	b.clients.notifyAll(notes)
	return success(req)
}

func (b *Broker) getConsumerListByGroup(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_CONSUMER_LIST_BY_GROUP", req)
	group := h.str("consumerGroup")
	if h.err != nil {
		return fail(req, h.err)
	}
	ids := b.clients.consumerIDs(group)
	if len(ids) == 0 {
		return respond(req, remoting.ResSystemError, "no consumer for this group, "+group)
	}
	body, err := json.Marshal(struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}{ids})
	if err != nil {
		return respond(req, remoting.ResSystemError, err.Error())
	}
	resp := success(req)
	resp.Body = body
	return resp
}

// checkClientConfig answers CHECK_CLIENT_CONFIG: TAG subscriptions are
// fine, other expression types are not supported.
func (b *Broker) checkClientConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	var body struct {
		SubscriptionData *subscriptionData `json:"subscriptionData"`
	}
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return respond(req, remoting.ResSystemError, "CHECK_CLIENT_CONFIG: cannot decode the body: "+err.Error())
		}
	}
	if sd := body.SubscriptionData; sd != nil && sd.ExpressionType != "" && !strings.EqualFold(sd.ExpressionType, "TAG") {
		return respond(req, remoting.ResSystemError, "The broker does not support consumer to filter message by "+sd.ExpressionType)
	}
	return success(req)
}
