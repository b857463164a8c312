package schedule

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

const (
	// pollInterval is how often a level with nothing due looks at its queue
	// again, and the longest a level sleeps before looking
	// (ScheduleMessageService.DELAY_FOR_A_WHILE).
	pollInterval = 100 * time.Millisecond
	// readBatch is how many messages one read of a level's queue takes.
	readBatch = 32
	// roundMax bounds the messages one round of a level reads before it
	// saves its offset and starts a new round.
	roundMax = 1024
)

// Service moves delayed messages from SCHEDULE_TOPIC_XXXX to their real
// topic when they are due. Delay may be called from any goroutine; Run
// runs the delivery loops. See the package documentation.
type Service struct {
	store  *engine.Store
	levels Levels
	log    *slog.Logger
	now    func() time.Time // the clock compared with store timestamps; tests replace it

	// Per level, index level-1.
	stats []levelStats

	appendFailures atomic.Int64
	running        atomic.Bool
}

// levelStats are a level's counters, read by Metrics while Run updates them.
type levelStats struct {
	offset    atomic.Int64 // next queue offset to look at
	delivered atomic.Int64
	skipped   atomic.Int64
}

// New returns a Service that parks messages on store and delivers them by
// levels. A nil logger takes slog.Default.
func New(store *engine.Store, levels Levels, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{
		store:  store,
		levels: levels,
		log:    logger.With("component", "schedule"),
		now:    time.Now,
		stats:  make([]levelStats, levels.Len()),
	}
	for i := range s.stats {
		s.stats[i].offset.Store(store.Meta().Delay.Get(int32(i + 1)))
	}
	return s
}

// Levels returns the service's delay levels.
func (s *Service) Levels() Levels { return s.levels }

// Delay rewrites m, a message about to be appended, so that it is parked
// in SCHEDULE_TOPIC_XXXX for level (HookUtils.transformDelayLevelMessage):
// a level beyond the last is clamped to it; the properties DELAY (the
// level used), REAL_TOPIC and REAL_QID (m's topic and queue id) are set
// and the others kept, except the 5.x timer properties, which DELAY
// overrides (HookUtils.checkIfTimerMessage); m's topic becomes Topic and
// its queue id level-1. It returns the level used, or 0 with m unchanged
// when level <= 0, when there are no levels, or when m is a transactional
// half or rollback message (only plain and commit messages are delayed).
//
// m.Properties is replaced by a new slice; the old one is not modified.
func (s *Service) Delay(m *message.Message, level int) int {
	level = s.levels.Clamp(level)
	if level == 0 {
		return 0
	}
	if tx := m.SysFlag & message.SysFlagTxMask; tx == message.SysFlagTxPrepared || tx == message.SysFlagTxRollback {
		return 0
	}
	qid := strconv.Itoa(int(m.QueueID))
	lv := strconv.Itoa(level)
	props := make([]byte, 0, len(m.Properties)+len(PropertyDelay)+len(lv)+len(PropertyRealTopic)+len(m.Topic)+len(PropertyRealQueueID)+len(qid)+6)
	props = appendWithout(props, m.Properties, PropertyDelay, PropertyRealTopic, PropertyRealQueueID,
		propertyTimerDeliverMs, propertyTimerDelaySec, propertyTimerDelayMs)
	props = message.AppendProperty(props, PropertyDelay, lv)
	props = message.AppendProperty(props, PropertyRealTopic, m.Topic)
	props = message.AppendProperty(props, PropertyRealQueueID, qid)
	m.Properties = props
	m.Topic = Topic
	m.QueueID = int32(level - 1)
	return level
}

// Run delivers due messages until stop is closed, one goroutine per level,
// and returns once they have all stopped. Each level starts at the offset
// saved for it in the store's delayOffset.json. Run at most once at a time,
// on a master only (a slave's store is written by replication).
//
// When Run returns, each level's offset has been saved in memory; close
// the store afterwards, which makes the CommitLog durable before it writes
// delayOffset.json.
func (s *Service) Run(stop <-chan struct{}) {
	if !s.running.CompareAndSwap(false, true) {
		panic("BUG: schedule.Service.Run called while it is running")
	}
	defer s.running.Store(false)
	var wg sync.WaitGroup
	for level := 1; level <= s.levels.Len(); level++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runLevel(level, stop)
		}()
	}
	wg.Wait()
}

// cursor is the delivery state of one level, owned by its goroutine.
type cursor struct {
	level int
	qid   int32
	delay time.Duration
	stats *levelStats

	next    int64 // next queue offset to look at
	lastEnd int64 // CommitLog end of the last message this level delivered

	// Offsets whose deliveries are not yet known durable: saved once the
	// CommitLog's flushed offset reaches end. Two slots keep progress going
	// under a steady stream: pending waits for one flush while latest
	// follows the newest delivery.
	pending, latest mark

	failing bool // the last append failed; logged once per streak

	res   engine.GetResult
	req   engine.Request
	props []byte // scratch for the delivered message's properties
}

type mark struct {
	set       bool
	end, next int64
}

func (s *Service) runLevel(level int, stop <-chan struct{}) {
	c := &cursor{
		level: level,
		qid:   int32(level - 1),
		delay: s.levels.Delay(level),
		stats: &s.stats[level-1],
		next:  s.store.Meta().Delay.Get(int32(level)),
	}
	c.req.Msgs = make([]message.Message, 1)
	c.stats.offset.Store(c.next)
	defer c.res.Release()

	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			// Store.Close flushes the CommitLog before it writes the delay
			// offsets, so the newest offset may be saved now.
			s.store.Meta().Delay.Set(int32(level), c.next)
			return
		case <-t.C:
		}
		wait := s.deliverDue(c, stop)
		s.save(c)
		t.Reset(wait)
	}
}

// deliverDue delivers the due messages at the head of c's queue and returns
// how long to wait before looking again.
func (s *Service) deliverDue(c *cursor, stop <-chan struct{}) time.Duration {
	req := engine.GetRequest{Topic: Topic, QueueID: c.qid, MaxMessages: readBatch}
	for handled := 0; handled < roundMax; {
		select {
		case <-stop:
			return 0
		default:
		}
		req.Offset = c.next
		s.store.GetMessages(&req, &c.res)
		switch c.res.Status {
		case engine.GetFound:
		case engine.GetOffsetTooSmall, engine.GetOffsetOverflowBadly, engine.GetMessageWasRemoving, engine.GetNoMatchedMessage:
			// Retention removed messages the level had not delivered yet,
			// or the saved offset is past the queue's end (its files were
			// lost): carry on from where the queue is, as
			// ScheduleMessageService.correctDelayOffset does.
			if c.res.NextOffset != c.next {
				s.log.Error("delay offset corrected", "level", c.level, "status", c.res.Status,
					"from", c.next, "to", c.res.NextOffset, "min", c.res.MinOffset, "max", c.res.MaxOffset)
				c.advance(c.res.NextOffset)
				continue
			}
			return pollInterval
		default: // nothing new, or no queue yet
			return pollInterval
		}
		for i, raw := range c.res.Messages {
			off := c.res.Offsets[i]
			rec, err := message.Parse(raw, false)
			if err != nil {
				s.log.Error("unreadable scheduled message skipped", "level", c.level, "offset", off, "err", err)
				c.stats.skipped.Add(1)
				c.advance(off + 1)
				continue
			}
			now := s.now().UnixMilli()
			due := rec.StoreTimestamp() + c.delay.Milliseconds()
			if due > now+c.delay.Milliseconds() {
				// The clock went back: deliver now rather than wait longer
				// than the delay (correctDeliverTimestamp).
				due = now
			}
			if due > now {
				c.res.Release()
				return min(time.Duration(due-now)*time.Millisecond, pollInterval)
			}
			if !s.deliver(c, &rec, off) {
				c.res.Release()
				return pollInterval // the same message is tried again
			}
		}
		handled += len(c.res.Messages)
		// Units the read passed over (holes) are behind NextOffset too.
		c.advance(c.res.NextOffset)
		c.res.Release()
	}
	return 0
}

// deliver appends rec to its real topic and queue. It returns false when
// the append failed and must be retried; a message that can never be
// delivered is skipped (logged, counted) and true returned.
func (s *Service) deliver(c *cursor, rec *message.Record, off int64) bool {
	props := rec.Properties()
	topic, ok1 := message.Property(props, PropertyRealTopic)
	qidStr, ok2 := message.Property(props, PropertyRealQueueID)
	qid, err := strconv.ParseInt(string(qidStr), 10, 32)
	if !ok1 || !ok2 || err != nil || qid < 0 {
		s.log.Error("scheduled message without a valid REAL_TOPIC and REAL_QID skipped",
			"level", c.level, "offset", off, "real_topic", string(topic), "real_qid", string(qidStr))
		c.stats.skipped.Add(1)
		c.advance(off + 1)
		return true
	}
	if string(topic) == transHalfTopic {
		s.log.Error("scheduled message for the transaction half topic dropped", "level", c.level, "offset", off)
		c.stats.skipped.Add(1)
		c.advance(off + 1)
		return true
	}
	// ScheduleMessageService.messageTimeUp: the delay and timer properties
	// go, REAL_TOPIC and REAL_QID stay (Java leaves them too).
	c.props = appendWithout(c.props[:0], props, PropertyDelay, propertyTimerDeliverMs, propertyTimerDelaySec)
	m := &c.req.Msgs[0]
	*m = message.Message{
		Topic:          string(topic),
		QueueID:        int32(qid),
		Flag:           rec.Flag(),
		SysFlag:        rec.SysFlag(),
		BornTimestamp:  rec.BornTimestamp(),
		BornHost:       rec.BornHost(),
		ReconsumeTimes: rec.ReconsumeTimes(),
		Body:           rec.Body(), // a view into the log, pinned by c.res until Release
		Properties:     c.props,
	}
	st := s.store.Append(&c.req)
	*m = message.Message{} // drop the views
	switch st {
	case engine.StatusOK, engine.StatusFlushDiskTimeout:
		// FLUSH_DISK_TIMEOUT: the bytes are in the log; the offset is saved
		// once they are flushed (save), so retrying would only duplicate.
	case engine.StatusMessageIllegal:
		s.log.Error("scheduled message cannot be stored on its real topic; skipped", "level", c.level, "offset", off,
			"real_topic", string(topic), "real_qid", qid, "err", c.req.Err)
		c.stats.skipped.Add(1)
		c.advance(off + 1)
		return true
	default:
		s.appendFailures.Add(1)
		if !c.failing {
			s.log.Warn("cannot deliver scheduled messages; retrying", "level", c.level, "offset", off, "status", st, "err", c.req.Err)
			c.failing = true
		}
		return false
	}
	if c.failing {
		s.log.Info("delivering scheduled messages again", "level", c.level, "offset", off)
		c.failing = false
	}
	c.lastEnd = c.req.PhysicalOffset + int64(c.req.Size)
	c.stats.delivered.Add(1)
	c.advance(off + 1)
	return true
}

// advance moves c past everything before next and remembers to save next
// once the messages delivered so far are durable.
func (c *cursor) advance(next int64) {
	if next == c.next {
		return
	}
	c.next = next
	c.stats.offset.Store(next)
	m := mark{set: true, end: c.lastEnd, next: next}
	if !c.pending.set {
		c.pending = m
	} else {
		c.latest = m
	}
}

// save records in the delay offset table the offsets whose deliveries the
// CommitLog has flushed, so a crash never loses a delivered message (it may
// deliver one twice).
func (s *Service) save(c *cursor) {
	if next, ok := c.durable(s.store.FlushedPhysicalOffset()); ok {
		s.store.Meta().Delay.Set(int32(c.level), next)
	}
}

// durable returns the newest offset of c whose deliveries end at or before
// flushed, and forgets the marks it covers.
func (c *cursor) durable(flushed int64) (next int64, ok bool) {
	switch {
	case c.latest.set && c.latest.end <= flushed:
		next = c.latest.next
		c.pending, c.latest = mark{}, mark{}
		return next, true
	case c.pending.set && c.pending.end <= flushed:
		next = c.pending.next
		c.pending, c.latest = c.latest, mark{}
		return next, true
	}
	return 0, false
}

// LevelMetrics describe one delay level.
type LevelMetrics struct {
	Level     int
	Delay     time.Duration
	Offset    int64 // next queue offset of the level to deliver
	MaxOffset int64 // end of the level's queue: MaxOffset-Offset messages wait
	Delivered int64 // messages delivered since New
	Skipped   int64 // messages dropped because they could never be delivered
}

// Metrics is a snapshot of the service's counters.
type Metrics struct {
	Levels         []LevelMetrics
	AppendFailures int64 // appends that failed and were retried
}

// Metrics returns the counters of every level.
func (s *Service) Metrics() Metrics {
	m := Metrics{Levels: make([]LevelMetrics, len(s.stats)), AppendFailures: s.appendFailures.Load()}
	for i := range s.stats {
		st := &s.stats[i]
		m.Levels[i] = LevelMetrics{
			Level:     i + 1,
			Delay:     s.levels.Delay(i + 1),
			Offset:    st.offset.Load(),
			MaxOffset: s.store.MaxOffset(Topic, int32(i)),
			Delivered: st.delivered.Load(),
			Skipped:   st.skipped.Load(),
		}
	}
	return m
}

// Delivered is the number of messages level has delivered since New.
func (s *Service) Delivered(level int) int64 {
	if level < 1 || level > len(s.stats) {
		return 0
	}
	return s.stats[level-1].delivered.Load()
}
