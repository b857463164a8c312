package consumequeue

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// maxTopicLen is the longest directory name common filesystems accept.
const maxTopicLen = 255

// Set holds every queue under one root directory, laid out as
// <root>/<topic>/<queueId>/.
type Set struct {
	root         string
	unitsPerFile int

	// createMu serialises creating and deleting queues, which do file I/O
	// (directory syncs) that must not run under mu, where it would stall
	// every Lookup.
	createMu sync.Mutex

	// mu guards the map. Lookup takes the read side on every pull.
	mu struct {
		sync.RWMutex
		topics map[string]map[int32]*Queue // topic → queueId → queue
		closed bool
	}
}

// OpenSet opens every queue present under root, creating root if it is
// missing. unitsPerFile <= 0 means DefaultUnitsPerFile. Directories whose
// names are not topics or queue ids are ignored.
func OpenSet(root string, unitsPerFile int) (*Set, error) {
	if err := mkdirAllSynced(root); err != nil {
		return nil, err
	}
	s := &Set{root: root, unitsPerFile: unitsPerFile}
	s.mu.topics = make(map[string]map[int32]*Queue)
	topics, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cannot read consume queue root %q: %w", root, err)
	}
	for _, t := range topics {
		if !t.IsDir() || checkTopic(t.Name()) != nil {
			continue
		}
		topicDir := filepath.Join(root, t.Name())
		queues, err := os.ReadDir(topicDir)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cannot read consume queue topic directory %q: %w", topicDir, err)
		}
		for _, e := range queues {
			id, ok := parseQueueID(e.Name())
			if !e.IsDir() || !ok {
				continue
			}
			q, err := OpenQueue(filepath.Join(topicDir, e.Name()), unitsPerFile)
			if err != nil {
				s.Close()
				return nil, err
			}
			s.insertLocked(t.Name(), id, q)
		}
	}
	return s, nil
}

// parseQueueID accepts only the canonical decimal form, so that "07" and
// "7" cannot both name queue 7.
func parseQueueID(name string) (int32, bool) {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != name {
		return 0, false
	}
	return int32(id), true
}

// checkTopic rejects topic names that are unsafe as a directory name. The
// engine checks RocketMQ's character set earlier; this is defense in depth.
func checkTopic(topic string) error {
	switch {
	case topic == "", topic == ".", topic == "..":
		return fmt.Errorf("topic %q cannot name a directory", topic)
	case len(topic) > maxTopicLen:
		return fmt.Errorf("topic of %d bytes is longer than %d", len(topic), maxTopicLen)
	case strings.ContainsAny(topic, "/\x00"):
		return fmt.Errorf("topic %q contains '/' or NUL", topic)
	}
	return nil
}

// insertLocked adds q to the map. Needs mu held for writing (or s unshared).
func (s *Set) insertLocked(topic string, id int32, q *Queue) {
	m := s.mu.topics[topic]
	if m == nil {
		m = make(map[int32]*Queue)
		s.mu.topics[topic] = m
	}
	m[id] = q
}

// Lookup returns the queue, or nil if it does not exist. It does not
// allocate: m[string(b)] does not copy b.
func (s *Set) Lookup(topic []byte, queueID int32) *Queue {
	s.mu.RLock()
	q := s.mu.topics[string(topic)][queueID]
	s.mu.RUnlock()
	return q
}

// LookupString is Lookup for a topic held as a string.
func (s *Set) LookupString(topic string, queueID int32) *Queue {
	s.mu.RLock()
	q := s.mu.topics[topic][queueID]
	s.mu.RUnlock()
	return q
}

// GetOrCreate returns the queue, creating its directory if needed. Only the
// writer calls it.
func (s *Set) GetOrCreate(topic []byte, queueID int32) (*Queue, error) {
	if q := s.Lookup(topic, queueID); q != nil {
		return q, nil
	}
	return s.create(string(topic), queueID)
}

func (s *Set) create(topic string, queueID int32) (*Queue, error) {
	if err := checkTopic(topic); err != nil {
		return nil, fmt.Errorf("cannot create consume queue: %w", err)
	}
	if queueID < 0 {
		return nil, fmt.Errorf("cannot create consume queue %d of topic %q: negative queue id", queueID, topic)
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	s.mu.RLock()
	q, closed := s.mu.topics[topic][queueID], s.mu.closed
	s.mu.RUnlock()
	if closed {
		return nil, fmt.Errorf("cannot create consume queue %d of topic %q: %w", queueID, topic, ErrClosed)
	}
	if q != nil {
		return q, nil
	}
	q, err := OpenQueue(filepath.Join(s.root, topic, strconv.Itoa(int(queueID))), s.unitsPerFile)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.insertLocked(topic, queueID, q)
	s.mu.Unlock()
	return q, nil
}

// entry is one queue in a snapshot of the set.
type entry struct {
	topic string
	id    int32
	q     *Queue
}

// snapshot lists the queues sorted by topic and queue id, so that callers
// run without mu (fn may call back into the set).
func (s *Set) snapshot() []entry {
	s.mu.RLock()
	var all []entry
	for topic, m := range s.mu.topics {
		for id, q := range m {
			all = append(all, entry{topic, id, q})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b entry) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return all
}

// ForEach calls fn for every queue, sorted by topic and queue id, until fn
// returns false. Queues created or deleted meanwhile may be missed or seen.
func (s *Set) ForEach(fn func(topic string, queueID int32, q *Queue) bool) {
	for _, e := range s.snapshot() {
		if !fn(e.topic, e.id, e.q) {
			return
		}
	}
}

// Topics lists the topics that have queues, sorted.
func (s *Set) Topics() []string {
	s.mu.RLock()
	topics := make([]string, 0, len(s.mu.topics))
	for t := range s.mu.topics {
		topics = append(topics, t)
	}
	s.mu.RUnlock()
	slices.Sort(topics)
	return topics
}

// DeleteTopic closes the topic's queues and removes its directory. Readers
// that looked a queue up before get ErrClosed from it.
func (s *Set) DeleteTopic(topic string) error {
	if err := checkTopic(topic); err != nil {
		return fmt.Errorf("cannot delete consume queues: %w", err)
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("cannot delete consume queues of topic %q: %w", topic, ErrClosed)
	}
	m := s.mu.topics[topic]
	delete(s.mu.topics, topic)
	s.mu.Unlock()
	var err error
	for _, q := range m {
		err = errors.Join(err, q.close())
	}
	dir := filepath.Join(s.root, topic)
	if rerr := os.RemoveAll(dir); rerr != nil {
		return errors.Join(err, fmt.Errorf("cannot remove consume queue directory %q: %w", dir, rerr))
	}
	return errors.Join(err, mapped.SyncDir(s.root))
}

// Flush flushes every queue; see Queue.Flush.
func (s *Set) Flush() error {
	var err error
	for _, e := range s.snapshot() {
		err = errors.Join(err, e.q.Flush())
	}
	return err
}

// Close flushes and closes every queue. Lookup then finds nothing.
func (s *Set) Close() error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	all := s.snapshot()
	s.mu.Lock()
	s.mu.closed = true
	s.mu.topics = nil
	s.mu.Unlock()
	var err error
	for _, e := range all {
		err = errors.Join(err, e.q.Close())
	}
	return err
}
