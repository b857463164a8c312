package engine

import (
	"errors"
	"slices"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/consumequeue"
	"github.com/gannetmq/gannet/engine/message"
)

// GetStatus is the outcome of a read, with RocketMQ's GetMessageStatus
// meanings (the front end maps them onto pull response codes).
type GetStatus int

const (
	GetFound               GetStatus = iota // FOUND
	GetNoMatchedMessage                     // NO_MATCHED_MESSAGE: units read, none passed the filter
	GetMessageWasRemoving                   // MESSAGE_WAS_REMOVING: units point into deleted segments
	GetOffsetOverflowOne                    // OFFSET_OVERFLOW_ONE: offset == max, nothing new yet
	GetOffsetOverflowBadly                  // OFFSET_OVERFLOW_BADLY: offset > max
	GetOffsetTooSmall                       // OFFSET_TOO_SMALL: offset < min
	GetNoMatchedLogicQueue                  // NO_MATCHED_LOGIC_QUEUE: no such topic-queue
	GetNoMessageInQueue                     // NO_MESSAGE_IN_QUEUE: the queue is empty
)

var getStatusNames = [...]string{"FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_OVERFLOW_ONE", "OFFSET_OVERFLOW_BADLY", "OFFSET_TOO_SMALL", "NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE"}

func (g GetStatus) String() string { return getStatusNames[g] }

// GetRequest says what to read. TagCodes, when not empty, keeps only
// messages whose tag hash code is in it (RocketMQ's tag filtering).
type GetRequest struct {
	Topic       string
	QueueID     int32
	Offset      int64
	MaxMessages int
	MaxBytes    int // 0: no byte limit
	TagCodes    []int64
}

// maxFilterScan bounds how many units one filtered read looks at
// (RocketMQ maxFilterMessageCount).
const maxFilterScan = 16000

// GetResult holds a read's messages as views into the mapped CommitLog.
// The views stay valid until Release, even if retention deletes their
// segment meanwhile; reuse one GetResult per connection to read without
// allocating.
type GetResult struct {
	Status     GetStatus
	Messages   [][]byte // each a whole stored record, in queue order
	Offsets    []int64  // queue offset of each message
	NextOffset int64    // where the next read should start
	MinOffset  int64
	MaxOffset  int64
	Bytes      int
	// LastPhysical is the CommitLog offset of the last queue unit scanned
	// (-1 if none): how far behind the log's end this reader is, which
	// decides whether a master suggests reading from a slave.
	LastPhysical int64

	units [64]consumequeue.Unit
	pins  []*commitlog.Segment
}

// Release unpins the segments behind the views and empties the result.
func (r *GetResult) Release() {
	for i, p := range r.pins {
		p.Release()
		r.pins[i] = nil
	}
	r.pins = r.pins[:0]
	clear(r.Messages)
	r.Messages = r.Messages[:0]
	r.Offsets = r.Offsets[:0]
	r.Bytes = 0
}

// GetMessages reads up to req.MaxMessages messages of a topic-queue from
// req.Offset. r must be released (or fresh) before the call.
func (s *Store) GetMessages(req *GetRequest, r *GetResult) {
	r.Release()
	r.LastPhysical = -1
	q := s.cqs.LookupString(req.Topic, req.QueueID)
	if q == nil {
		r.Status, r.NextOffset, r.MinOffset, r.MaxOffset = GetNoMatchedLogicQueue, 0, 0, 0
		return
	}
	minOff, maxOff := q.MinOffset(), q.MaxOffset()
	r.MinOffset, r.MaxOffset = minOff, maxOff
	switch {
	case maxOff == 0:
		r.Status, r.NextOffset = GetNoMessageInQueue, 0
		return
	case req.Offset < minOff:
		r.Status, r.NextOffset = GetOffsetTooSmall, minOff
		return
	case req.Offset == maxOff:
		r.Status, r.NextOffset = GetOffsetOverflowOne, req.Offset
		return
	case req.Offset > maxOff:
		r.Status, r.NextOffset = GetOffsetOverflowBadly, maxOff
		return
	}
	maxMsgs := req.MaxMessages
	if maxMsgs <= 0 {
		maxMsgs = 32
	}
	logMin := s.cl.MinOffset()
	next := req.Offset
	scanned := 0
	removed := false
	var seg *commitlog.Segment
scan:
	for len(r.Messages) < maxMsgs && scanned < maxFilterScan {
		units, err := q.Get(next, r.units[:0])
		if err != nil || len(units) == 0 {
			break
		}
		for _, u := range units {
			if len(r.Messages) >= maxMsgs {
				break scan
			}
			if req.MaxBytes > 0 && len(r.Messages) > 0 && r.Bytes+int(u.Size) > req.MaxBytes {
				break scan
			}
			next++
			scanned++
			r.LastPhysical = u.PhysicalOffset
			if u.PhysicalOffset < logMin {
				removed = true
				continue
			}
			if len(req.TagCodes) > 0 && !slices.Contains(req.TagCodes, u.TagsCode) {
				continue
			}
			if seg == nil || u.PhysicalOffset < seg.Base() || u.PhysicalOffset >= seg.End() {
				if seg, err = s.cl.Pin(u.PhysicalOffset); err != nil {
					seg = nil
					removed = true
					continue
				}
				r.pins = append(r.pins, seg)
			}
			off := u.PhysicalOffset - seg.Base()
			if off+int64(u.Size) > int64(len(seg.Bytes())) {
				continue // a unit that does not fit its segment: corrupt, skip it
			}
			r.Messages = append(r.Messages, seg.Bytes()[off:off+int64(u.Size)])
			r.Offsets = append(r.Offsets, next-1)
			r.Bytes += int(u.Size)
		}
	}
	r.NextOffset = next
	switch {
	case len(r.Messages) > 0:
		r.Status = GetFound
	case removed:
		r.Status = GetMessageWasRemoving
	default:
		r.Status = GetNoMatchedMessage
	}
}

// MinOffset is the first queue offset still readable (0 if no queue).
func (s *Store) MinOffset(topic string, qid int32) int64 {
	if q := s.cqs.LookupString(topic, qid); q != nil {
		return q.MinOffset()
	}
	return 0
}

// MaxOffset is the queue offset the next message will get (0 if no queue).
func (s *Store) MaxOffset(topic string, qid int32) int64 {
	if q := s.cqs.LookupString(topic, qid); q != nil {
		return q.MaxOffset()
	}
	return 0
}

// storeTime reads the store timestamp of the message at phys.
func (s *Store) storeTime(phys int64) (int64, bool) {
	rec, seg, err := s.cl.Read(phys)
	if err != nil {
		return 0, false
	}
	ts := rec.StoreTimestamp()
	seg.Release()
	return ts, true
}

// OffsetByTime is the queue offset of the first message stored at or after
// ms (the max offset if there is none), RocketMQ's SEARCH_OFFSET_BY_TIMESTAMP.
func (s *Store) OffsetByTime(topic string, qid int32, ms int64) int64 {
	q := s.cqs.LookupString(topic, qid)
	if q == nil {
		return 0
	}
	return q.SearchOffset(q.MinOffset(), q.MaxOffset(), func(u consumequeue.Unit) bool {
		ts, ok := s.storeTime(u.PhysicalOffset)
		return !ok || ts >= ms
	})
}

// EarliestStoreTime is the store time of the first readable message of a
// queue.
func (s *Store) EarliestStoreTime(topic string, qid int32) (int64, bool) {
	q := s.cqs.LookupString(topic, qid)
	if q == nil {
		return 0, false
	}
	u, ok := q.Unit(q.MinOffset())
	if !ok {
		return 0, false
	}
	return s.storeTime(u.PhysicalOffset)
}

// StoreTimeAt is the store time of the message at a queue offset.
func (s *Store) StoreTimeAt(topic string, qid int32, offset int64) (int64, bool) {
	q := s.cqs.LookupString(topic, qid)
	if q == nil {
		return 0, false
	}
	u, ok := q.Unit(offset)
	if !ok {
		return 0, false
	}
	return s.storeTime(u.PhysicalOffset)
}

// Pinned is one message view with its segment pinned.
type Pinned struct {
	Record message.Record
	seg    *commitlog.Segment
}

// Release unpins the view; the Record must not be used afterwards.
func (p *Pinned) Release() {
	if p.seg != nil {
		p.seg.Release()
		p.seg = nil
	}
	p.Record = message.Record{}
}

// ErrNotFound says no readable message is at that offset.
var ErrNotFound = errors.New("engine: no message at that offset")

// ReadMessage reads the message at a physical offset (an offsetMsgId's
// offset). Only readable messages are visible: durable ones under
// SYNC_FLUSH. The limit is the log's readable end rather than the
// dispatched offset, because a message is pullable as soon as its
// ConsumeQueue unit exists, a moment before the dispatcher moves its
// offset past it.
func (s *Store) ReadMessage(phys int64, p *Pinned) error {
	p.Release()
	if phys >= s.cl.Readable() {
		return ErrNotFound
	}
	rec, seg, err := s.cl.Read(phys)
	if err != nil {
		return ErrNotFound
	}
	p.Record, p.seg = rec, seg
	return nil
}

// QueryByKey finds messages of topic whose KEYS or UNIQ_KEY holds key,
// stored between beginMs and endMs (0, 0: any time), newest first, at most
// max. The caller releases each result.
func (s *Store) QueryByKey(topic, key string, max int, beginMs, endMs int64) []Pinned {
	if s.idx == nil || max <= 0 {
		return nil
	}
	cands := s.idx.Lookup(topic, key, beginMs, endMs, max*4, nil)
	var out []Pinned
	for _, phys := range cands {
		if len(out) >= max {
			break
		}
		var p Pinned
		if s.ReadMessage(phys, &p) != nil {
			continue
		}
		if string(p.Record.Topic()) != topic || !hasKey(p.Record.Properties(), key) {
			p.Release()
			continue
		}
		out = append(out, p)
	}
	return out
}

func hasKey(props []byte, key string) bool {
	if v, ok := message.Property(props, message.PropertyUniqID); ok && string(v) == key {
		return true
	}
	keys, ok := message.Property(props, message.PropertyKeys)
	if !ok {
		return false
	}
	for k, rest := message.NextKey(keys); k != nil; k, rest = message.NextKey(rest) {
		if string(k) == key {
			return true
		}
	}
	return false
}

// DeleteTopic removes a topic's ConsumeQueues (its messages stay in the
// CommitLog until retention takes their segments). Reads of the topic then
// find no queue. Messages appended to the topic later get queue offsets
// after the old ones, and their queues start there.
func (s *Store) DeleteTopic(topic string) error {
	return s.cqs.DeleteTopic(topic)
}
