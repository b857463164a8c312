package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	mqttfe "github.com/gannetmq/gannet/protocols/mqtt"
)

// The MQTT driver: Producers paho clients (MQTT 3.1.1) publishing to one
// topic at one QoS, each with at most Inflight publishes outstanding, and
// for e2e one subscriber of that topic at the same QoS.
//
// The payload starts with the bench header (bench.go) and carries the
// publisher and its sequence number after it, so the subscriber can tell
// every message apart:
//
//	 0        4        8                16       20               28
//	+--------+--------+----------------+--------+----------------+---- -
//	| "GNB1" | run id | intended time  | pub id | sequence       | filler
//	+--------+--------+----------------+--------+----------------+---- -
//	                                     uint32   uint64, big endian
//
// What "acked" means depends on the QoS: PUBACK (1), PUBCOMP (2), or for
// QoS 0 the publish written to the connection, which is all a QoS 0
// publisher ever learns. In e2e, missing is acked minus the distinct
// messages received (lost), and a message received a second time is
// counted as an error of kind errDuplicate (duplicated).

const (
	mqttHeaderSize = headerSize + 12

	mqttConnectTimeout = 10 * time.Second
	mqttQuiesce        = 250 // ms a Disconnect waits for work in progress
	mqttKeepAlive      = 30 * time.Second

	// errDuplicate is the errors_by_kind key of a message the subscriber
	// had already received.
	errDuplicate = "receive: duplicate (same publisher and sequence)"
)

// mqttStandalone is a broker with its MQTT front end running in this
// process.
type mqttStandalone struct {
	MQTT    string // host:port
	Startup time.Duration
	close   func() error
}

func (s *mqttStandalone) Close() error { return s.close() }

// startMQTTStandalone starts Gannet's MQTT front end on a random loopback
// port: on a standalone broker's store (StartStandalone), woken by its
// dispatches as `gannet standalone` runs it, or with MQTTInMemory bare
// in-memory MQTT with no store and no broker.
func startMQTTStandalone(cfg *Config) (*mqttStandalone, error) {
	start := time.Now()
	opts := mqttfe.DefaultOptions()
	opts.Addr = "127.0.0.1:0"
	opts.Logger = cfg.Logger
	if cfg.MQTTInMemory {
		opts.Persist = false
		ms, err := mqttfe.Start(opts, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: standalone mqtt: %w", errSetup, err)
		}
		return &mqttStandalone{MQTT: ms.Addr().String(), Startup: time.Since(start), close: ms.Close}, nil
	}
	sa, err := StartStandalone(StandaloneOptions{Dir: cfg.Dir, Flush: cfg.Flush, Sets: cfg.Sets, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ms, err := mqttfe.Start(opts, sa.bs.Store())
	if err != nil {
		sa.Close()
		return nil, fmt.Errorf("%w: standalone mqtt: %w", errSetup, err)
	}
	sa.bs.OnDispatch(ms.Notify)
	return &mqttStandalone{MQTT: ms.Addr().String(), Startup: time.Since(start), close: func() error {
		return errors.Join(ms.Close(), sa.Close())
	}}, nil
}

func putMQTTHeader(b []byte, runID uint32, intended int64, pub uint32, seq uint64) {
	putHeader(b, runID, intended)
	binary.BigEndian.PutUint32(b[headerSize:], pub)
	binary.BigEndian.PutUint64(b[headerSize+4:], seq)
}

// readMQTTHeader returns what putMQTTHeader wrote.
func readMQTTHeader(b []byte) (runID uint32, intended int64, pub uint32, seq uint64, ok bool) {
	runID, intended, ok = readHeader(b)
	if !ok || len(b) < mqttHeaderSize {
		return 0, 0, 0, 0, false
	}
	return runID, intended, binary.BigEndian.Uint32(b[headerSize:]), binary.BigEndian.Uint64(b[headerSize+4:]), true
}

// checkPublishTopic rejects what cannot be published to (MQTT 3.1.1
// §4.7): an empty topic, wildcards, NUL.
func checkPublishTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty")
	case strings.ContainsAny(t, "+#"):
		return errors.New("wildcards cannot be published to")
	case strings.ContainsRune(t, 0):
		return errors.New("contains NUL")
	case len(t) > 65535:
		return errors.New("longer than 65535 bytes")
	}
	return nil
}

// RunMQTT performs one bench run over MQTT (Proto ProtoMQTT); it is Run's
// counterpart and returns the same way.
func RunMQTT(ctx context.Context, cfg Config) (*Report, error) {
	s, err := begin(ctx, &cfg, func(cfg *Config) error {
		if cfg.Proto != ProtoMQTT {
			return fmt.Errorf("RunMQTT: --proto %s", cfg.Proto)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer s.cancel()
	if s.r == nil {
		return s.rep, nil
	}

	rep, r := s.rep, s.r
	addr := cfg.MQTTAddr
	if cfg.Standalone {
		sa, err := startMQTTStandalone(&cfg)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := sa.Close(); err != nil {
				cfg.Logger.Warn("bench: standalone shutdown", "err", err)
			}
		}()
		addr = sa.MQTT
		rep.StartupMs = msOf(sa.Startup)
		s.watchMemory("this process: the broker and the load generator")
		if cfg.MQTTInMemory {
			rep.Flush = "none (in-memory MQTT, no storage)"
		}
	}
	rep.Broker = addr

	return s.end(runMQTT(s.hctx, r, addr), func(rep *Report) {
		rep.Queues = 0
		rep.Consumers = len(r.consumers)
		acked := "PUBACK"
		switch cfg.QoS {
		case 0:
			acked = "written to the connection (QoS 0 has no acknowledgement)"
		case 2:
			acked = "PUBCOMP"
		}
		rep.Notes = append([]string{fmt.Sprintf("MQTT 3.1.1 at %s, topic %q, QoS %d; acked = %s", addr, cfg.Topic, cfg.QoS, acked)}, rep.Notes...)
		if cfg.Mode == ModeE2E {
			rep.Notes = append(rep.Notes, fmt.Sprintf("subscriber: %d distinct messages of this run received, %d lost (acked, never received), %d duplicated",
				rep.Received, rep.Missing, rep.ErrorsByKind[errDuplicate]))
		}
	})
}

// mqttClientOptions are the options every bench client shares.
func mqttClientOptions(cfg *Config, addr, id string) *paho.ClientOptions {
	o := paho.NewClientOptions()
	o.AddBroker("tcp://" + addr)
	o.SetClientID(id)
	o.SetProtocolVersion(4)
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetConnectTimeout(mqttConnectTimeout)
	o.SetKeepAlive(mqttKeepAlive)
	o.SetWriteTimeout(cfg.SendTimeout)
	o.SetOrderMatters(true)
	return o
}

// connect connects c within mqttConnectTimeout.
func connect(ctx context.Context, c paho.Client, what string) error {
	tok := c.Connect()
	if err := waitToken(ctx, tok, mqttConnectTimeout); err != nil {
		return fmt.Errorf("%s: connect: %w", what, err)
	}
	return nil
}

var errTokenTimeout = errors.New("timed out")

// waitToken waits for a paho token, bounded by d and ctx.
func waitToken(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errTokenTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mqttRun is one run's MQTT side.
type mqttRun struct {
	r    *run
	cfg  *Config
	addr string
	qos  byte
	sub  *subscriber
}

// runMQTT connects the clients, runs the load and disconnects them before
// it returns. A setup failure wraps errSetup.
func runMQTT(ctx context.Context, r *run, addr string) error {
	cfg := r.cfg
	m := &mqttRun{r: r, cfg: cfg, addr: addr, qos: byte(cfg.QoS)}
	idBase := fmt.Sprintf("gannet-bench-%08x", r.runID)

	var prods []*publisher
	defer func() {
		for _, p := range prods {
			p.client.Disconnect(mqttQuiesce)
		}
		if m.sub != nil {
			m.sub.client.Disconnect(mqttQuiesce)
		}
	}()
	if cfg.Mode == ModeE2E {
		s := &subscriber{m: m, stats: newWorkerStats(), seen: make([]bitset, cfg.Producers)}
		o := mqttClientOptions(cfg, addr, idBase+"-sub")
		o.SetConnectionLostHandler(func(_ paho.Client, err error) {
			m.r.errs.add("subscriber: connection lost")
			m.r.note("subscriber lost its connection: %v", err)
		})
		s.client = paho.NewClient(o)
		if err := connect(ctx, s.client, "subscriber"); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		m.sub = s
		tok := s.client.Subscribe(cfg.Topic, m.qos, s.onMessage)
		if err := waitToken(ctx, tok, mqttConnectTimeout); err != nil {
			return fmt.Errorf("%w: subscribe %q: %w", errSetup, cfg.Topic, err)
		}
		if st, ok := tok.(*paho.SubscribeToken); ok {
			if granted := st.Result()[cfg.Topic]; granted != m.qos {
				if granted >= 0x80 {
					return fmt.Errorf("%w: subscribe %q: refused (return code 0x%02x)", errSetup, cfg.Topic, granted)
				}
				m.r.note("subscription granted QoS %d, asked for %d", granted, m.qos)
			}
		}
		r.consumers = append(r.consumers, s.stats)
	}
	for i := range cfg.Producers {
		p := &publisher{m: m, id: uint32(i), stats: newWorkerStats(),
			free:    make(chan *pubSlot, cfg.Inflight),
			pending: make(chan pending, cfg.Inflight)}
		for range cfg.Inflight {
			p.free <- p.newSlot()
		}
		o := mqttClientOptions(cfg, addr, fmt.Sprintf("%s-p%d", idBase, i))
		o.SetConnectionLostHandler(func(_ paho.Client, err error) {
			m.r.errs.add("publisher: connection lost")
			m.r.note("publisher %d lost its connection: %v", i, err)
		})
		p.client = paho.NewClient(o)
		if err := connect(ctx, p.client, fmt.Sprintf("publisher %d", i)); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		prods = append(prods, p)
		r.producers = append(r.producers, p.stats)
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	stopAt, stopMeter := r.startLoad()

	var prodWG sync.WaitGroup
	for i, p := range prods {
		loop := schedule[*pubSlot](r, len(prods), i, stopAt)
		loop.acquire = p.acquire
		loop.release = func(s *pubSlot) { p.free <- s }
		loop.send = p.send
		var compWG sync.WaitGroup
		compWG.Go(func() { p.complete(ctx) })
		prodWG.Go(func() {
			loop.run(loadCtx)
			close(p.pending) // the completer returns once every publish is settled
			compWG.Wait()
		})
	}
	prodDone := make(chan struct{})
	go func() { prodWG.Wait(); close(prodDone) }()

	m.supervise(ctx, prodDone)
	r.end = time.Now()
	stopLoad()
	<-prodDone
	stopMeter()
	return nil
}

// supervise waits for the publishers to settle every publish and, in e2e,
// for the subscriber to receive everything acknowledged, at most
// DrainTimeout longer.
func (m *mqttRun) supervise(ctx context.Context, prodDone <-chan struct{}) {
	select {
	case <-prodDone:
	case <-ctx.Done():
		return
	}
	if m.sub == nil {
		return
	}
	drainBy := time.Now().Add(m.cfg.DrainTimeout)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		p, c := sum(m.r.producers), sum(m.r.consumers)
		if c.received >= p.acked {
			return
		}
		if time.Now().After(drainBy) {
			m.r.note("%d acknowledged messages not received %v after the last publish settled", p.acked-c.received, m.cfg.DrainTimeout)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ---- publishers ----

// publisher is one MQTT connection publishing with at most Inflight
// publishes outstanding. A slot is one payload buffer; paho keeps a
// reference to it until the publish is settled, so a slot is reused only
// after that, and a slot whose publish timed out gets a new buffer.
type publisher struct {
	m       *mqttRun
	id      uint32
	client  paho.Client
	stats   *workerStats
	free    chan *pubSlot
	pending chan pending // publishes in flight, in order; capacity Inflight
}

type pubSlot struct {
	payload  []byte
	intended time.Time
}

type pending struct {
	slot *pubSlot
	tok  paho.Token
	at   time.Time // when the publish was handed to paho
}

func (p *publisher) newSlot() *pubSlot {
	s := &pubSlot{payload: make([]byte, p.m.cfg.Size)}
	for i := mqttHeaderSize; i < len(s.payload); i++ {
		s.payload[i] = byte('a' + i%26)
	}
	return s
}

func (p *publisher) acquire(ctx context.Context) (*pubSlot, bool) { return acquireSlot(ctx, p.free) }

// send publishes message seq. paho's Publish returns once the packet is
// queued for the connection's writer; the completer waits for its token.
func (p *publisher) send(s *pubSlot, seq int64, intended time.Time) {
	putMQTTHeader(s.payload, p.m.r.runID, intended.UnixNano(), p.id, uint64(seq))
	s.intended = intended
	p.stats.sent.Add(1)
	tok := p.client.Publish(p.m.cfg.Topic, p.m.qos, false, s.payload)
	p.pending <- pending{slot: s, tok: tok, at: time.Now()} // never blocks: one entry per slot
}

// complete settles the publishes in the order they were made, until
// pending is closed and drained. A publish not settled SendTimeout after
// it was made counts as a timeout; once ctx ends, each waits at most
// inflightGrace more.
func (p *publisher) complete(ctx context.Context) {
	cfg := p.m.cfg
	for pd := range p.pending {
		err := settle(ctx, pd.tok, pd.at.Add(cfg.SendTimeout))
		if err != nil {
			p.stats.errors.Add(1)
			p.m.r.errs.add("publish: " + mqttErrKind(err))
			if errors.Is(err, errTokenTimeout) {
				pd.slot = p.newSlot() // paho may still hold the old buffer
			}
		} else {
			now := time.Now()
			p.stats.acked.Add(1)
			p.stats.bytes.Add(int64(len(pd.slot.payload)))
			p.stats.lat.record(now.Sub(pd.slot.intended))
			p.stats.touch(now)
		}
		p.free <- pd.slot
	}
}

// settle waits for tok until deadline, or inflightGrace once ctx has
// ended, whichever is sooner.
func settle(ctx context.Context, tok paho.Token, deadline time.Time) error {
	if ctx.Err() != nil {
		deadline = minTime(deadline, time.Now().Add(inflightGrace))
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	done := ctx.Done()
	for {
		select {
		case <-tok.Done():
			return tok.Error()
		case <-t.C:
			return errTokenTimeout
		case <-done:
			done = nil
			if g := time.Now().Add(inflightGrace); g.Before(deadline) {
				t.Reset(inflightGrace)
			}
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func mqttErrKind(err error) string {
	switch {
	case errors.Is(err, errTokenTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, paho.ErrNotConnected):
		return "not connected"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// ---- subscriber ----

// subscriber counts what the subscription delivers. paho calls onMessage
// on one goroutine (order matters), but the lock keeps that an
// implementation detail.
type subscriber struct {
	m      *mqttRun
	client paho.Client
	stats  *workerStats

	mu   sync.Mutex
	seen []bitset // per publisher, by sequence; guarded by mu
}

func (s *subscriber) onMessage(_ paho.Client, msg paho.Message) {
	now := time.Now()
	b := msg.Payload()
	runID, intended, pub, seq, ok := readMQTTHeader(b)
	if !ok || runID != s.m.r.runID || int(pub) >= len(s.seen) {
		s.stats.foreign.Add(1)
		return
	}
	s.mu.Lock()
	dup := s.seen[pub].set(seq)
	s.mu.Unlock()
	if dup {
		s.stats.errors.Add(1)
		s.m.r.errs.add(errDuplicate)
		return
	}
	s.stats.received.Add(1)
	s.stats.bytes.Add(int64(len(b)))
	s.stats.lat.record(now.Sub(time.Unix(0, intended)))
	s.stats.touch(now)
}

// bitset is a growable set of sequence numbers.
type bitset []uint64

// set adds n and reports whether it was there already.
func (b *bitset) set(n uint64) bool {
	w := n / 64
	if w >= uint64(len(*b)) {
		grown := make([]uint64, max(w+1, uint64(2*len(*b))))
		copy(grown, *b)
		*b = grown
	}
	bit := uint64(1) << (n % 64)
	was := (*b)[w]&bit != 0
	(*b)[w] |= bit
	return was
}
