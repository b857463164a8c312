package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// The RocketMQ driver: route lookup and topic creation through the name
// server, producers sending SEND_MESSAGE_V2 asynchronously within a window,
// consumers long-polling PULL_MESSAGE on each queue and committing offsets.
// See the protocol reference, sections 3.2.2, 3.3.1, 4.3 and 6.1.

const (
	adminTimeout   = 5 * time.Second  // one setup call
	routeWait      = 15 * time.Second // for a created topic to appear in the route
	pullBatch      = "32"             // maxMsgNums, the Java and Go default
	pullSuspend    = 15 * time.Second // long-polling hold (Java push consumer)
	pullSlack      = 5 * time.Second  // on top of the hold, for the response
	pullBackoff    = 100 * time.Millisecond
	commitTimeout  = 3 * time.Second
	inflightGrace  = 2 * time.Second // after the send timeout, before giving up on responses
	defaultTopicQs = "4"
)

// Pull sysFlag bits (PullSysFlag.java).
const (
	pullFlagCommit       = 0x1
	pullFlagSuspend      = 0x2
	pullFlagSubscription = 0x4
)

// messageQueue is one queue of the topic on one broker.
type messageQueue struct {
	broker string // broker name
	addr   string // its master's address
	qid    int32
	qidStr string
}

func (q messageQueue) String() string { return fmt.Sprintf("%s/%d", q.broker, q.qid) }

// rmq is one run's RocketMQ side.
type rmq struct {
	r          *run
	cfg        *Config
	namesrvs   []string
	admin      *remoting.Client
	writeQueue []messageQueue
	readQueue  []messageQueue
}

// runRocketMQ sets the topic up, runs the load and stops every goroutine
// it started before it returns. A setup failure wraps errSetup.
func runRocketMQ(ctx context.Context, r *run, nsAddr string) error {
	cfg := r.cfg
	m := &rmq{r: r, cfg: cfg, admin: remoting.NewClient(remoting.ClientOptions{Logger: cfg.Logger})}
	defer m.admin.Close()
	for a := range strings.SplitSeq(nsAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			m.namesrvs = append(m.namesrvs, a)
		}
	}
	if err := m.setupTopic(ctx); err != nil {
		return fmt.Errorf("%w: topic %s: %w", errSetup, cfg.Topic, err)
	}
	var cons []*consumer
	if cfg.Mode != ModeProduce {
		var err error
		if cons, err = m.newConsumers(ctx); err != nil {
			return fmt.Errorf("%w: consumer offsets: %w", errSetup, err)
		}
	}
	var prods []*producer
	if cfg.Mode != ModeConsume {
		prods = m.newProducers()
	}
	defer func() {
		for _, p := range prods {
			p.client.Close()
		}
		for _, c := range cons {
			c.client.Close()
		}
	}()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	stopAt, stopMeter := r.startLoad()

	var consWG, prodWG sync.WaitGroup
	for _, c := range cons {
		for _, q := range c.queues {
			consWG.Go(func() { c.pullLoop(loadCtx, q, stopAt) })
		}
	}
	consDone := make(chan struct{})
	go func() { consWG.Wait(); close(consDone) }()

	for i, p := range prods {
		loop := schedule[*sendSlot](r, len(prods), i, stopAt)
		loop.acquire = p.acquire
		loop.release = func(s *sendSlot) { p.free <- s }
		loop.send = p.send
		prodWG.Go(func() {
			loop.run(loadCtx)
			p.waitInflight(ctx)
		})
	}
	prodDone := make(chan struct{})
	go func() { prodWG.Wait(); close(prodDone) }()

	m.supervise(ctx, loadCtx, stopLoad, prodDone, consDone, len(cons) > 0, stopAt)
	r.end = time.Now()
	stopLoad()
	<-prodDone
	<-consDone
	stopMeter()
	for _, c := range cons {
		c.commit(ctx)
	}
	return nil
}

// supervise waits for the load to end and ends the consumers' part of it:
// a produce run ends with its producers; a consume run when its queues are
// drained, its message count is reached or its time is up; an e2e run when
// everything acknowledged was received after the producers finished, or
// DrainTimeout after that.
func (m *rmq) supervise(ctx, loadCtx context.Context, stopLoad func(), prodDone, consDone <-chan struct{}, hasCons bool, stopAt time.Time) {
	cfg := m.cfg
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var drainBy time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		prodFinished := isClosed(prodDone)
		switch cfg.Mode {
		case ModeProduce:
			if prodFinished {
				return
			}
		case ModeConsume:
			if isClosed(consDone) {
				return
			}
			c := sum(m.r.consumers)
			if cfg.Messages > 0 && c.received >= cfg.Messages {
				return
			}
			if !stopAt.IsZero() && time.Now().After(stopAt) {
				return
			}
		case ModeE2E:
			if !prodFinished {
				continue
			}
			if !hasCons || isClosed(consDone) {
				return
			}
			if drainBy.IsZero() {
				drainBy = time.Now().Add(cfg.DrainTimeout)
			}
			p, c := sum(m.r.producers), sum(m.r.consumers)
			if c.received >= p.acked {
				return
			}
			if time.Now().After(drainBy) {
				m.r.note("%d acknowledged messages not received %v after the last send", p.acked-c.received, cfg.DrainTimeout)
				return
			}
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ---- setup ----

// call sends one request to addr and waits up to adminTimeout.
func (m *rmq) call(ctx context.Context, addr string, code int32, ext map[string]string) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp, err := m.admin.Invoke(ctx, addr, &remoting.Command{Code: code, Language: "GO", ExtFields: ext})
	if err != nil {
		return nil, fmt.Errorf("%s to %s: %w", remoting.CodeName(code), addr, err)
	}
	return resp, nil
}

// callNS asks the name servers in turn until one answers.
func (m *rmq) callNS(ctx context.Context, code int32, ext map[string]string) (*remoting.Command, error) {
	var errs []error
	for _, ns := range m.namesrvs {
		resp, err := m.call(ctx, ns, code, ext)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// topicRoute is the part of TopicRouteData the bench reads (§6.1).
type topicRoute struct {
	QueueDatas []struct {
		BrokerName     string `json:"brokerName"`
		ReadQueueNums  int    `json:"readQueueNums"`
		WriteQueueNums int    `json:"writeQueueNums"`
		Perm           int    `json:"perm"`
	} `json:"queueDatas"`
	BrokerDatas []brokerData `json:"brokerDatas"`
}

type brokerData struct {
	BrokerName  string            `json:"brokerName"`
	BrokerAddrs map[string]string `json:"brokerAddrs"`
}

// route returns the topic's route; found is false when the name server
// knows no such topic.
func (m *rmq) route(ctx context.Context) (rt topicRoute, found bool, err error) {
	resp, err := m.callNS(ctx, remoting.ReqGetRouteinfoByTopic,
		map[string]string{"topic": m.cfg.Topic, "acceptStandardJsonOnly": "true"})
	if err != nil {
		return rt, false, err
	}
	switch resp.Code {
	case remoting.ResSuccess:
	case remoting.ResTopicNotExist:
		return rt, false, nil
	default:
		return rt, false, fmt.Errorf("GET_ROUTEINFO_BY_TOPIC: %s %s", remoting.ResponseCodeName(resp.Code), resp.Remark)
	}
	if err := json.Unmarshal(quoteBareKeys(resp.Body), &rt); err != nil {
		return rt, false, fmt.Errorf("GET_ROUTEINFO_BY_TOPIC: cannot decode the route: %w", err)
	}
	return rt, len(rt.QueueDatas) > 0, nil
}

// clusterInfo returns the brokers the name server knows, by name.
func clusterInfo(ctx context.Context, cl *remoting.Client, ns string) (map[string]brokerData, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp, err := cl.Invoke(ctx, ns, &remoting.Command{Code: remoting.ReqGetBrokerClusterInfo, Language: "GO",
		ExtFields: map[string]string{"acceptStandardJsonOnly": "true"}})
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.ResSuccess {
		return nil, fmt.Errorf("GET_BROKER_CLUSTER_INFO: %s %s", remoting.ResponseCodeName(resp.Code), resp.Remark)
	}
	var ci struct {
		BrokerAddrTable map[string]brokerData `json:"brokerAddrTable"`
	}
	if err := json.Unmarshal(quoteBareKeys(resp.Body), &ci); err != nil {
		return nil, fmt.Errorf("GET_BROKER_CLUSTER_INFO: cannot decode: %w", err)
	}
	return ci.BrokerAddrTable, nil
}

// setupTopic looks the topic up, creates it on every master broker when it
// is missing, and lists its queues.
func (m *rmq) setupTopic(ctx context.Context) error {
	rt, found, err := m.route(ctx)
	if err != nil {
		return err
	}
	if !found {
		if err := m.createTopic(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, routeWait)
		defer cancel()
		for !found {
			select {
			case <-wctx.Done():
				return fmt.Errorf("created, but not in the name server's route after %v", routeWait)
			case <-time.After(20 * time.Millisecond):
			}
			if rt, found, err = m.route(wctx); err != nil {
				return err
			}
		}
	}
	masters := map[string]string{}
	for _, bd := range rt.BrokerDatas {
		if a := bd.BrokerAddrs["0"]; a != "" {
			masters[bd.BrokerName] = a
		}
	}
	for _, qd := range rt.QueueDatas {
		addr, ok := masters[qd.BrokerName]
		if !ok {
			continue
		}
		if qd.Perm&2 != 0 {
			for i := range qd.WriteQueueNums {
				m.writeQueue = append(m.writeQueue, messageQueue{qd.BrokerName, addr, int32(i), strconv.Itoa(i)})
			}
		}
		if qd.Perm&4 != 0 {
			for i := range qd.ReadQueueNums {
				m.readQueue = append(m.readQueue, messageQueue{qd.BrokerName, addr, int32(i), strconv.Itoa(i)})
			}
		}
	}
	if m.cfg.Mode != ModeConsume && len(m.writeQueue) == 0 {
		return errors.New("the route has no writable queue on a master broker")
	}
	if m.cfg.Mode != ModeProduce && len(m.readQueue) == 0 {
		return errors.New("the route has no readable queue on a master broker")
	}
	n := len(m.writeQueue)
	if m.cfg.Mode == ModeConsume {
		n = len(m.readQueue)
	}
	if n != m.cfg.Queues {
		m.cfg.Logger.Info("bench: the topic exists with other queues; --queues applies only when the bench creates it",
			"topic", m.cfg.Topic, "queues", n, "flag", m.cfg.Queues)
	}
	m.r.queues = n
	return nil
}

// createTopic sends UPDATE_AND_CREATE_TOPIC to every master broker of the
// cluster (§3.6).
func (m *rmq) createTopic(ctx context.Context) error {
	var brokers map[string]brokerData
	var errs []error
	for _, ns := range m.namesrvs {
		ci, err := clusterInfo(ctx, m.admin, ns)
		if err == nil {
			brokers = ci
			break
		}
		errs = append(errs, err)
	}
	if brokers == nil {
		return errors.Join(errs...)
	}
	q := strconv.Itoa(m.cfg.Queues)
	created := 0
	for _, name := range slices.Sorted(maps.Keys(brokers)) {
		addr := brokers[name].BrokerAddrs["0"]
		if addr == "" {
			continue
		}
		resp, err := m.call(ctx, addr, remoting.ReqUpdateAndCreateTopic, map[string]string{
			"topic": m.cfg.Topic, "defaultTopic": "TBW102", "readQueueNums": q, "writeQueueNums": q,
			"perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false",
		})
		if err != nil {
			return err
		}
		if resp.Code != remoting.ResSuccess {
			return fmt.Errorf("UPDATE_AND_CREATE_TOPIC on %s: %s %s", addr, remoting.ResponseCodeName(resp.Code), resp.Remark)
		}
		created++
	}
	if created == 0 {
		return errors.New("the name server lists no master broker to create it on")
	}
	return nil
}

// quoteBareKeys turns fastjson's numeric object keys ({0:"a"}) into JSON
// ({"0":"a"}), for name servers that answer in the legacy form (§6.2).
// Strings are copied unchanged.
func quoteBareKeys(in []byte) []byte {
	if !bytes.ContainsAny(in, "{,") {
		return in
	}
	out := make([]byte, 0, len(in)+16)
	inString, escaped, afterOpen := false, false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if afterOpen && (c == '-' || (c >= '0' && c <= '9')) {
			j := i + 1
			for j < len(in) && in[j] >= '0' && in[j] <= '9' {
				j++
			}
			k := j
			for k < len(in) && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' || in[k] == '\r') {
				k++
			}
			if k < len(in) && in[k] == ':' {
				out = append(out, '"')
				out = append(out, in[i:j]...)
				out = append(out, '"')
				i = j - 1
				afterOpen = false
				continue
			}
		}
		switch c {
		case '"':
			inString = true
			afterOpen = false
		case '{', ',':
			afterOpen = true
		case ' ', '\t', '\n', '\r':
		default:
			afterOpen = false
		}
		out = append(out, c)
	}
	return out
}

// ---- producers ----

// producer is one connection (per broker) sending asynchronously, with at
// most Inflight sends outstanding. A send slot is everything one send
// needs; the slots are made once and reused, so the send path allocates
// only the born-time string (once a millisecond), the properties string
// and what the client needs per call.
type producer struct {
	m      *rmq
	id     int
	client *remoting.Client
	stats  *workerStats
	free   chan *sendSlot // slots not in flight; capacity Inflight

	uniqPrefix string // UNIQ_KEY's first 20 hex digits (§4.6)
	bornMs     int64  // the millisecond bornStr holds
	bornStr    string
}

// sendSlot is one send in flight. The remoting client encodes the command
// during InvokeAsync and keeps no reference to it, so the command, the
// extFields map and the body are reused as soon as InvokeAsync returns.
type sendSlot struct {
	p        *producer
	cmd      remoting.Command
	ext      map[string]string
	body     []byte
	props    []byte
	intended time.Time
	done     func(*remoting.Command, error) // s.complete, bound once
}

func (m *rmq) newProducers() []*producer {
	cfg := m.cfg
	prods := make([]*producer, cfg.Producers)
	pid := os.Getpid()
	for i := range prods {
		p := &producer{
			m:  m,
			id: i,
			client: remoting.NewClient(remoting.ClientOptions{
				Window: cfg.Inflight + 1, // the slots are the window; the client's never binds
				Logger: cfg.Logger,
			}),
			stats:      newWorkerStats(),
			free:       make(chan *sendSlot, cfg.Inflight),
			uniqPrefix: fmt.Sprintf("7F000001%04X%08X", uint16(pid), uint32(m.r.runID)+uint32(i)),
		}
		for range cfg.Inflight {
			p.free <- p.newSlot()
		}
		m.r.producers = append(m.r.producers, p.stats)
		prods[i] = p
	}
	return prods
}

func (p *producer) newSlot() *sendSlot {
	cfg := p.m.cfg
	s := &sendSlot{
		p: p,
		ext: map[string]string{
			"a": cfg.ProducerGroup, "b": cfg.Topic, "c": "TBW102", "d": defaultTopicQs,
			"f": "0", "h": "0", "j": "0", "k": "false", "m": "false",
		},
		body:  make([]byte, cfg.Size),
		props: make([]byte, 0, 64),
	}
	for i := headerSize; i < len(s.body); i++ {
		s.body[i] = byte('a' + i%26)
	}
	s.done = s.complete
	return s
}

// acquire waits for a free slot.
func (p *producer) acquire(ctx context.Context) (*sendSlot, bool) { return acquireSlot(ctx, p.free) }

// born returns the bornTimestamp field for t, formatting it once per
// millisecond.
func (p *producer) born(t time.Time) string {
	ms := t.UnixMilli()
	if ms != p.bornMs || p.bornStr == "" {
		p.bornMs, p.bornStr = ms, strconv.FormatInt(ms, 10)
	}
	return p.bornStr
}

// send starts one SEND_MESSAGE_V2 (§3.2.2) on the next queue in turn.
func (p *producer) send(s *sendSlot, seq int64, intended time.Time) {
	addr := p.prepare(s, seq, intended)
	p.stats.sent.Add(1)
	if err := p.client.InvokeAsync(addr, &s.cmd, p.m.cfg.SendTimeout, s.done); err != nil {
		p.fail(err)
		p.free <- s
	}
}

// prepare fills the slot's command for send seq and returns the broker
// address it goes to. It allocates the properties string, and the born
// time string once a millisecond.
func (p *producer) prepare(s *sendSlot, seq int64, intended time.Time) string {
	qs := p.m.writeQueue
	q := &qs[(seq+int64(p.id))%int64(len(qs))]
	putHeader(s.body, p.m.r.runID, intended.UnixNano())
	s.props = append(s.props[:0], message.PropertyUniqID...)
	s.props = append(s.props, message.NameValueSeparator)
	s.props = append(s.props, p.uniqPrefix...)
	s.props = appendHex12(s.props, uint64(seq))
	s.props = append(s.props, message.PropertySeparator)
	s.props = message.AppendProperty(s.props, "WAIT", "true")
	s.ext["e"] = q.qidStr
	s.ext["g"] = p.born(intended)
	s.ext["i"] = string(s.props)
	s.ext["n"] = q.broker
	s.cmd = remoting.Command{Code: remoting.ReqSendMessageV2, Language: "GO", ExtFields: s.ext, Body: s.body}
	s.intended = intended
	return q.addr
}

// complete is a send's response callback; it runs on the connection's
// reading goroutine (or a timer's) and must not block: the slot's channel
// has room for every slot.
func (s *sendSlot) complete(resp *remoting.Command, err error) {
	p := s.p
	switch {
	case err != nil:
		p.fail(err)
	case resp.Code != remoting.ResSuccess:
		p.stats.errors.Add(1)
		p.m.r.errs.add("send: " + remoting.ResponseCodeName(resp.Code))
	default:
		now := time.Now()
		p.stats.acked.Add(1)
		p.stats.bytes.Add(int64(len(s.body)))
		p.stats.lat.record(now.Sub(s.intended))
		p.stats.touch(now)
	}
	p.free <- s
}

func (p *producer) fail(err error) {
	p.stats.errors.Add(1)
	p.m.r.errs.add("send: " + errKind(err))
}

// waitInflight waits until every slot is back: each send in flight is
// answered, times out (SendTimeout) or fails with its connection. Once ctx
// ends it waits inflightGrace at most; sends still out then are abandoned
// when the client closes.
func (p *producer) waitInflight(ctx context.Context) {
	deadline := time.Now().Add(p.m.cfg.SendTimeout + inflightGrace)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	done := ctx.Done()
	for range cap(p.free) {
		select {
		case <-p.free:
		case <-t.C:
			return
		case <-done:
			done = nil
			if time.Until(deadline) > inflightGrace {
				t.Reset(inflightGrace)
			}
		}
	}
}

// errKind names an error for the errors_by_kind table.
func errKind(err error) string {
	switch {
	case errors.Is(err, remoting.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, remoting.ErrClientClosed):
		return "abandoned at the end"
	case errors.Is(err, remoting.ErrConnClosed):
		return "connection closed"
	case errors.Is(err, remoting.ErrWindowFull):
		return "window full"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func appendHex12(dst []byte, v uint64) []byte {
	const hex = "0123456789ABCDEF"
	for i := 11; i >= 0; i-- {
		dst = append(dst, hex[(v>>(uint(i)*4))&0xF])
	}
	return dst
}

// ---- consumers ----

// consumer is one connection (per broker) pulling a share of the queues,
// each on its own goroutine with a long-polling PULL_MESSAGE at a time.
type consumer struct {
	m      *rmq
	client *remoting.Client
	stats  *workerStats
	queues []*pullQueue
}

// pullQueue is one queue's consumption: owned by its pull loop until the
// loop returns.
type pullQueue struct {
	q      messageQueue
	first  int64 // offset at the start
	offset int64 // next offset to pull; every message before it is processed
	target int64 // consume: stop at this offset (the backlog's end); -1: none
}

// newConsumers deals the readable queues out to the consumers and finds
// where each queue starts: at its end for e2e (this run's messages only);
// at the group's committed offset, or the queue's first, for consume.
func (m *rmq) newConsumers(ctx context.Context) (cons []*consumer, err error) {
	cfg := m.cfg
	defer func() {
		if err != nil {
			for _, c := range cons {
				c.client.Close()
			}
		}
	}()
	n := min(cfg.Consumers, len(m.readQueue))
	if n < cfg.Consumers {
		m.r.note("%d consumers for %d queues: %d stay idle", cfg.Consumers, len(m.readQueue), cfg.Consumers-n)
	}
	cons = make([]*consumer, n)
	for i := range cons {
		cons[i] = &consumer{
			m:      m,
			client: remoting.NewClient(remoting.ClientOptions{Logger: cfg.Logger}),
			stats:  newWorkerStats(),
		}
		m.r.consumers = append(m.r.consumers, cons[i].stats)
	}
	for i, q := range m.readQueue {
		pq := &pullQueue{q: q, target: -1}
		qext := func() map[string]string {
			return map[string]string{"topic": cfg.Topic, "queueId": q.qidStr, "consumerGroup": cfg.Group, "bname": q.broker}
		}
		if cfg.Mode == ModeE2E {
			off, err := m.offset(ctx, q.addr, remoting.ReqGetMaxOffset, qext())
			if err != nil {
				return cons, err
			}
			pq.offset = off
		} else {
			resp, err := m.call(ctx, q.addr, remoting.ReqQueryConsumerOffset, qext())
			if err != nil {
				return cons, err
			}
			switch resp.Code {
			case remoting.ResSuccess:
				pq.offset, err = extInt(resp, "offset")
			case remoting.ResQueryNotFound:
				pq.offset, err = m.offset(ctx, q.addr, remoting.ReqGetMinOffset, qext())
			default:
				err = fmt.Errorf("QUERY_CONSUMER_OFFSET %s: %s %s", q, remoting.ResponseCodeName(resp.Code), resp.Remark)
			}
			if err != nil {
				return cons, err
			}
			if cfg.Messages == 0 {
				if pq.target, err = m.offset(ctx, q.addr, remoting.ReqGetMaxOffset, qext()); err != nil {
					return cons, err
				}
			}
		}
		pq.first = pq.offset
		cons[i%n].queues = append(cons[i%n].queues, pq)
	}
	return cons, nil
}

// offset asks a broker for one queue offset (GET_MAX_OFFSET, GET_MIN_OFFSET).
func (m *rmq) offset(ctx context.Context, addr string, code int32, ext map[string]string) (int64, error) {
	resp, err := m.call(ctx, addr, code, ext)
	if err != nil {
		return 0, err
	}
	if resp.Code != remoting.ResSuccess {
		return 0, fmt.Errorf("%s: %s %s", remoting.CodeName(code), remoting.ResponseCodeName(resp.Code), resp.Remark)
	}
	return extInt(resp, "offset")
}

func extInt(resp *remoting.Command, key string) (int64, error) {
	v, ok := resp.ExtFields[key]
	if !ok {
		return 0, fmt.Errorf("response without %s", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("response field %s=%q: %w", key, v, err)
	}
	return n, nil
}

// pullLoop pulls one queue until ctx ends or, for a drain, the queue
// reaches its target. The pull carries its own subscription ("*"), so no
// heartbeat is needed, and the offset processed so far as commitOffset.
func (c *consumer) pullLoop(ctx context.Context, pq *pullQueue, stopAt time.Time) {
	m := c.m
	cfg := m.cfg
	e2e := cfg.Mode == ModeE2E
	ext := map[string]string{
		"consumerGroup": cfg.Group, "topic": cfg.Topic, "queueId": pq.q.qidStr, "maxMsgNums": pullBatch,
		"suspendTimeoutMillis": strconv.FormatInt(pullSuspend.Milliseconds(), 10),
		"subscription":         "*", "subVersion": "0", "expressionType": "TAG", "bname": pq.q.broker,
	}
	for ctx.Err() == nil {
		if pq.target >= 0 && pq.offset >= pq.target {
			return
		}
		if !e2e && !stopAt.IsZero() && time.Now().After(stopAt) {
			return
		}
		flag := pullFlagSuspend | pullFlagSubscription
		if pq.offset > 0 {
			flag |= pullFlagCommit
		}
		off := strconv.FormatInt(pq.offset, 10)
		ext["queueOffset"], ext["commitOffset"], ext["sysFlag"] = off, off, strconv.Itoa(flag)
		callCtx, cancel := context.WithTimeout(ctx, pullSuspend+pullSlack)
		t0 := time.Now()
		resp, err := c.client.Invoke(callCtx, pq.q.addr, &remoting.Command{Code: remoting.ReqPullMessage, Language: "GO", ExtFields: ext})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.stats.errors.Add(1)
			m.r.errs.add("pull: " + errKind(err))
			sleepCtx(ctx, pullBackoff)
			continue
		}
		now := time.Now()
		switch resp.Code {
		case remoting.ResSuccess:
			if !e2e {
				c.stats.lat.record(now.Sub(t0))
			}
			c.process(resp.Body, now)
			fallthrough
		case remoting.ResPullNotFound, remoting.ResPullRetryImmediately, remoting.ResPullOffsetMoved:
			next, err := extInt(resp, "nextBeginOffset")
			if err != nil {
				c.stats.errors.Add(1)
				m.r.errs.add("pull: no nextBeginOffset")
				sleepCtx(ctx, pullBackoff)
				continue
			}
			if resp.Code == remoting.ResPullOffsetMoved {
				m.r.note("queue %s: offset %d moved to %d", pq.q, pq.offset, next)
			}
			pq.offset = next
		default:
			c.stats.errors.Add(1)
			m.r.errs.add("pull: " + remoting.ResponseCodeName(resp.Code))
			sleepCtx(ctx, pullBackoff)
		}
	}
}

// process counts the stored records of a pull body (§4.3); in e2e only
// this run's messages count, with their latency from the intended time in
// their header.
func (c *consumer) process(body []byte, now time.Time) {
	e2e := c.m.cfg.Mode == ModeE2E
	runID := c.m.r.runID
	var n, nbytes int64
	for len(body) > 0 {
		rec, err := message.Parse(body, false)
		if err != nil {
			c.stats.errors.Add(1)
			c.m.r.errs.add("pull: undecodable record")
			break
		}
		if rec.IsBlank() {
			break
		}
		b := rec.Body()
		if e2e {
			id, intended, ok := readHeader(b)
			if !ok || id != runID {
				c.stats.foreign.Add(1)
			} else {
				n++
				nbytes += int64(len(b))
				c.stats.lat.record(now.Sub(time.Unix(0, intended)))
			}
		} else {
			n++
			nbytes += int64(len(b))
		}
		body = body[rec.TotalSize():]
	}
	if n > 0 {
		c.stats.received.Add(n)
		c.stats.bytes.Add(nbytes)
		c.stats.touch(now)
	}
}

// commit stores each queue's offset with UPDATE_CONSUMER_OFFSET (the
// pulls carry it too, but the last one does not see the last batch).
func (c *consumer) commit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	cfg := c.m.cfg
	for _, pq := range c.queues {
		if pq.offset == pq.first {
			continue
		}
		resp, err := c.client.Invoke(ctx, pq.q.addr, &remoting.Command{Code: remoting.ReqUpdateConsumerOffset, Language: "GO",
			ExtFields: map[string]string{"consumerGroup": cfg.Group, "topic": cfg.Topic, "queueId": pq.q.qidStr,
				"commitOffset": strconv.FormatInt(pq.offset, 10), "bname": pq.q.broker}})
		if err == nil && resp.Code != remoting.ResSuccess {
			err = fmt.Errorf("%s %s", remoting.ResponseCodeName(resp.Code), resp.Remark)
		}
		if err != nil {
			c.m.r.note("queue %s: cannot commit offset %d: %v", pq.q, pq.offset, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
