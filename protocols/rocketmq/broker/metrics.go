package broker

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// What the broker counts for the metrics exporter (perf reads Metrics and
// ConsumerLag at scrape time; nothing here knows about Prometheus):
//
//	per topic      messages and bytes stored by sends (in) and returned
//	               by pulls that found messages (out)
//	send latency   request arrival to the response handed to conn.Send
//	pull latency   the same, apart for pulls answered at once and pulls
//	               parked by long polling (whose time includes the hold)
//	send results   sends answered, by response code
//
// The hot path takes no lock but a read lock on the topic table and
// allocates nothing once a topic has its counters: a histogram is a fixed
// array of atomic bucket counts, a topic's counters are atomics reached
// through a map lookup by the topic string.
//
// Bytes are stored record bytes (the engine's encoded size, headers and
// properties included) both ways, so in and out compare. In counts
// SEND_MESSAGE, SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE under the topic the
// producer named (a delayed message counts when it is sent, not again when
// it becomes due; a retry sent to the dead-letter queue counts under its
// %RETRY% topic); consumers' send-backs are not counted.

// latencyBounds are the upper bounds of the latency buckets: 100 µs to
// 60 s, the longest a pull may be held by default. A last bucket counts
// what is slower.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second,
}

// Metrics is a snapshot of the broker's counters. Each value is read
// atomically, not the whole snapshot at once: a scrape during traffic may
// see a topic's message count and byte count a request apart.
type Metrics struct {
	Topics []TopicMetrics // every topic that stored or delivered a message, by name

	Send     Histogram // SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE
	Pull     Histogram // PULL_MESSAGE answered without being held
	PullHeld Histogram // PULL_MESSAGE parked by long polling, the hold included

	// SendResults counts the sends answered with each response code (only
	// codes with a count, in code order); SendResultsOther counts codes
	// outside 0..maxCountedCode, which the broker does not answer sends
	// with today.
	SendResults      []ResultCount
	SendResultsOther uint64
}

// TopicMetrics is the traffic of one topic since the broker started (or
// since the topic was last deleted).
type TopicMetrics struct {
	Topic       string
	MessagesIn  uint64 // messages stored by sends
	BytesIn     uint64 // their stored size
	MessagesOut uint64 // messages in pull responses that found messages
	BytesOut    uint64 // their stored size
}

// ResultCount is how many requests were answered with Code.
type ResultCount struct {
	Code  int32
	Count uint64
}

// Histogram is a latency distribution with fixed buckets: Counts[i] is the
// number of observations in (Bounds[i-1], Bounds[i]] and the last count,
// Counts[len(Bounds)], those above every bound. Counts are per bucket, not
// cumulative; Count is their sum.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// histogram is the live form of a Histogram; observe is lock-free and
// allocates nothing.
type histogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	_      cpu.CacheLinePad
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Bounds: slices.Clone(latencyBounds[:]), Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// topicCounters are one topic's traffic. In is added on the engine's
// goroutine, out on the connections' goroutines: the pad keeps them on
// separate cache lines.
type topicCounters struct {
	messagesIn, bytesIn atomic.Uint64
	_                   cpu.CacheLinePad
	messagesOut         atomic.Uint64
	bytesOut            atomic.Uint64
}

// maxCountedCode is the largest response code counted by its own slot;
// send answers are all below it.
const maxCountedCode = 63

type brokerMetrics struct {
	send        histogram
	pull        [2]histogram // [0] answered at once, [1] held
	sendResults [maxCountedCode + 2]atomic.Uint64
	_           cpu.CacheLinePad

	// topicsMu guards topics; the counters inside are atomics, so the
	// hot path holds the read lock only for the lookup.
	topicsMu sync.RWMutex
	topics   map[string]*topicCounters
}

func newBrokerMetrics() *brokerMetrics {
	return &brokerMetrics{topics: map[string]*topicCounters{}}
}

// topic returns topic's counters, creating them on its first message (the
// only allocation).
func (m *brokerMetrics) topic(topic string) *topicCounters {
	m.topicsMu.RLock()
	c := m.topics[topic]
	m.topicsMu.RUnlock()
	if c != nil {
		return c
	}
	m.topicsMu.Lock()
	defer m.topicsMu.Unlock()
	if c = m.topics[topic]; c == nil {
		c = new(topicCounters)
		// The header string may share memory with a request; the table
		// keeps its own copy.
		m.topics[strings.Clone(topic)] = c
	}
	return c
}

// forgetTopic drops a deleted topic's counters; if it comes back, they
// start from zero (a counter reset to Prometheus).
func (m *brokerMetrics) forgetTopic(topic string) {
	m.topicsMu.Lock()
	delete(m.topics, topic)
	m.topicsMu.Unlock()
}

// stored counts messages a send stored in topic.
func (m *brokerMetrics) stored(topic string, msgs, bytes int) {
	c := m.topic(topic)
	c.messagesIn.Add(uint64(msgs))
	c.bytesIn.Add(uint64(bytes))
}

// delivered counts messages a pull response carries.
func (m *brokerMetrics) delivered(topic string, msgs, bytes int) {
	c := m.topic(topic)
	c.messagesOut.Add(uint64(msgs))
	c.bytesOut.Add(uint64(bytes))
}

// sendAnswered records a send's response code and its time since start.
func (m *brokerMetrics) sendAnswered(code int32, start time.Time) {
	m.send.observe(time.Since(start))
	slot := maxCountedCode + 1
	if code >= 0 && code <= maxCountedCode {
		slot = int(code)
	}
	m.sendResults[slot].Add(1)
}

// pullAnswered records a pull's time since start.
func (m *brokerMetrics) pullAnswered(start time.Time, held bool) {
	i := 0
	if held {
		i = 1
	}
	m.pull[i].observe(time.Since(start))
}

// Metrics returns a snapshot of the broker's traffic counters and latency
// histograms. It allocates; call it at scrape time, not per request.
func (b *Broker) Metrics() Metrics {
	m := b.metrics
	out := Metrics{
		Send:     m.send.snapshot(),
		Pull:     m.pull[0].snapshot(),
		PullHeld: m.pull[1].snapshot(),
	}
	for code := range maxCountedCode + 1 {
		if n := m.sendResults[code].Load(); n > 0 {
			out.SendResults = append(out.SendResults, ResultCount{Code: int32(code), Count: n})
		}
	}
	out.SendResultsOther = m.sendResults[maxCountedCode+1].Load()

	m.topicsMu.RLock()
	out.Topics = make([]TopicMetrics, 0, len(m.topics))
	for name, c := range m.topics {
		out.Topics = append(out.Topics, TopicMetrics{
			Topic:       name,
			MessagesIn:  c.messagesIn.Load(),
			BytesIn:     c.bytesIn.Load(),
			MessagesOut: c.messagesOut.Load(),
			BytesOut:    c.bytesOut.Load(),
		})
	}
	m.topicsMu.RUnlock()
	slices.SortFunc(out.Topics, func(a, b TopicMetrics) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Lag is how far a consumer group is behind on one queue.
type Lag struct {
	Group     string
	Topic     string
	QueueID   int32
	Committed int64 // the group's committed offset: the next message it will consume
	Max       int64 // the queue's max offset: one past its last message
	Messages  int64 // Max - Committed, or 0 when the commit is ahead (a truncated queue)
}

// ConsumerLag returns the lag of every group on every queue where it has
// committed an offset, ordered by group, topic and queue. It reads the
// offset table once and the store's max offset per queue; call it at
// scrape time.
func (b *Broker) ConsumerLag() []Lag {
	all := b.meta.Offsets.All() // keyed "topic@group"; '@' is in neither name
	var out []Lag
	for key, queues := range all {
		topic, group, ok := strings.Cut(key, "@")
		if !ok {
			continue
		}
		for qid, committed := range queues {
			if committed < 0 {
				continue // "no offset" to the clients
			}
			maxOff := b.store.MaxOffset(topic, qid)
			out = append(out, Lag{
				Group: group, Topic: topic, QueueID: qid,
				Committed: committed, Max: maxOff, Messages: max(maxOff-committed, 0),
			})
		}
	}
	slices.SortFunc(out, func(a, b Lag) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Topic, b.Topic), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out
}
