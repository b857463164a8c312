package engine

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/gannetmq/gannet/engine/commitlog"
	"github.com/gannetmq/gannet/engine/consumequeue"
	"github.com/gannetmq/gannet/engine/message"
)

// The dispatcher follows the CommitLog up to its readable end and builds,
// for every message, its ConsumeQueue unit and its Index entries. Readers
// see a message only once its unit exists. It runs on one goroutine; at
// Open and Close the same code runs inline.

func (s *Store) wakeDispatcher() {
	select {
	case s.dispatchWake <- struct{}{}:
	default:
	}
}

// DispatchError is the error that stopped the dispatcher, if any; it
// retries on its own and clears it once it gets past.
func (s *Store) DispatchError() error {
	if p := s.dispatchErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) dispatchLoop() {
	// A fault on a mapped file (a page that cannot be backed) becomes a
	// panic that dispatchSafely turns into an error, instead of killing
	// the process.
	debug.SetPanicOnFault(true)
	// The ticker is a safety net only; the writer and flusher wake us.
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.dispatchWake:
		case <-t.C:
		}
		before := s.dispatched.Load()
		if err := s.dispatchSafely(); err != nil {
			stuck := err // a copy, so err itself does not escape on the good path
			if s.dispatchErr.CompareAndSwap(nil, &stuck) {
				s.log.Error("dispatch stopped; new messages are not visible to consumers until it gets past", "err", err)
			}
			continue
		}
		if s.dispatchErr.Swap(nil) != nil {
			s.log.Info("dispatch resumed")
		}
		if s.dispatched.Load() != before {
			s.opts.OnDispatch()
		}
	}
}

func (s *Store) dispatchSafely() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("engine: fault while dispatching: %v", r)
		}
	}()
	return s.dispatch()
}

// dispatch indexes every complete record between the dispatched offset and
// the readable end of the log.
func (s *Store) dispatch() error {
	limit := s.cl.Readable()
	pos := s.dispatched.Load()
	if first := s.cl.MinOffset(); pos < first {
		// An empty slave restarted its log at its master's first segment,
		// or retention removed what was never dispatched.
		pos = first
		s.dispatched.Store(pos)
	}
	var seg *commitlog.Segment
	defer func() {
		if seg != nil {
			seg.Release()
		}
	}()
	for pos < limit {
		if seg == nil || pos >= seg.End() {
			if seg != nil {
				seg.Release()
				seg = nil
			}
			var err error
			if seg, err = s.cl.Pin(pos); err != nil {
				return fmt.Errorf("engine: dispatch at %d: %w", pos, err)
			}
		}
		buf := seg.Bytes()[pos-seg.Base():]
		if avail := limit - pos; int64(len(buf)) > avail {
			buf = buf[:avail]
		}
		size, _, ok := message.PeekHeader(buf)
		if !ok || int64(size) > int64(len(buf)) {
			// A slave may hold part of a record; the rest comes later.
			return nil
		}
		rec, err := message.Parse(buf, false)
		if err != nil {
			return fmt.Errorf("engine: dispatch at %d: %w", pos, err)
		}
		if rec.IsBlank() {
			pos = seg.End()
			s.dispatched.Store(pos)
			continue
		}
		if err := s.dispatchRecord(pos, rec); err != nil {
			return err
		}
		pos += int64(size)
		s.dispatched.Store(pos)
	}
	return nil
}

func (s *Store) dispatchRecord(pos int64, rec message.Record) error {
	tx := rec.SysFlag() & message.SysFlagTxMask
	if tx == message.SysFlagTxPrepared || tx == message.SysFlagTxRollback {
		// Half and rolled-back transactional messages are not consumable
		// (RocketMQ gives them no unit and no index entry).
		return nil
	}
	topic := rec.Topic()
	props := rec.Properties()
	q, err := s.cqs.GetOrCreate(topic, rec.QueueID())
	if err != nil {
		return fmt.Errorf("engine: dispatch at %d: %w", pos, err)
	}
	var tagsCode int64
	if tags, ok := message.Property(props, message.PropertyTags); ok {
		tagsCode = message.TagsCode(tags)
	}
	unit := consumequeue.Unit{PhysicalOffset: pos, Size: rec.TotalSize(), TagsCode: tagsCode}
	if err := q.Put(rec.QueueOffset(), unit); err != nil {
		return fmt.Errorf("engine: dispatch at %d into %s/%d: %w", pos, topic, rec.QueueID(), err)
	}
	if s.idx == nil {
		return nil
	}
	ts := rec.StoreTimestamp()
	if uniq, ok := message.Property(props, message.PropertyUniqID); ok && len(uniq) > 0 {
		if err := s.idx.Put(topic, uniq, pos, ts); err != nil {
			return fmt.Errorf("engine: indexing %d: %w", pos, err)
		}
	}
	if keys, ok := message.Property(props, message.PropertyKeys); ok {
		for key, rest := message.NextKey(keys); key != nil; key, rest = message.NextKey(rest) {
			if err := s.idx.Put(topic, key, pos, ts); err != nil {
				return fmt.Errorf("engine: indexing %d: %w", pos, err)
			}
		}
	}
	return nil
}
