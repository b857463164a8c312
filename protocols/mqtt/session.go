package mqtt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gannetmq/gannet/engine/atomicfile"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A session is the server's state for one client id: its subscriptions,
// its feed, and, for a persistent session (clean session off on 3.1.1, a
// session expiry interval on 5), a file under <dir>/sessions that a
// restart, kill -9 included, reloads. The file is replaced atomically
// (temp file, fsync, rename, directory fsync) before a SUBACK or UNSUBACK
// is sent, and at most once a second while deliveries move its positions:
// after a crash a session resumes from positions at most a second old, so
// QoS 1 messages may come again (at least once), and none is skipped.
type session struct {
	s  *Server
	id string

	mu         sync.Mutex // guards the fields down to groups
	persistent bool
	info       storage.Client
	subs       map[string]*subscription // by the filter as subscribed
	cl         *mochi.Client            // the connected client, nil while offline
	feed       *feed                    // ordinary subscriptions; nil until the client connects
	groups     map[string]*feed         // shared subscriptions joined while connected, by share name
	restored   map[srcKey]position      // positions from the file, handed to the feed

	saveMu sync.Mutex // one writer of the file at a time

	window   atomic.Int32 // un-acknowledged QoS 1/2 deliveries allowed
	inflight atomic.Int32
	pid      atomic.Uint32 // last packet id given to a delivery
}

// Packet ids of deliveries come from the upper half of the id space.
// mochi keeps the ids of both directions in one table: a client's
// SUBSCRIBE that reuses an id in flight there is refused, and its PUBLISH
// deletes the entry. Clients count their ids up from 1, and mochi's own
// sends (retained messages) take ids from the bottom, so the halves rarely
// meet. Acknowledgements are taken in OnPacketRead, so a deleted entry
// costs at most a resend on reconnect.
const (
	firstPID = 1 << 15
	pidRange = 1 << 15
)

// nextPID returns a packet id for a delivery that is not in flight.
func (ss *session) nextPID(cl *mochi.Client) (uint16, bool) {
	for i := 0; i < pidRange; i++ {
		id := uint16(firstPID + ss.pid.Add(1)%pidRange)
		if _, used := cl.State.Inflight.Get(id); !used {
			return id, true
		}
	}
	return 0, false
}

// subscription is one granted filter.
type subscription struct {
	key     string // the filter as subscribed ($share/... included)
	filter  string // without the share prefix
	share   string // share name, "" if not shared
	qos     byte
	noLocal bool
	rap     bool // retain as published
	rh      byte // retain handling
	id      int  // subscription identifier
	since   int64
}

func (ss *session) acquire() bool {
	for {
		n := ss.inflight.Load()
		if n >= ss.window.Load() {
			return false
		}
		if ss.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (ss *session) release() {
	if ss.inflight.Add(-1) < 0 {
		ss.inflight.Store(0)
	}
}

func persistentClient(cl *mochi.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// attach binds a connected client to its session, creating it, and
// starts delivering.
func (s *Server) attach(cl *mochi.Client) {
	s.mu.Lock()
	ss := s.sessions[cl.ID]
	if ss == nil {
		ss = &session{s: s, id: cl.ID, subs: map[string]*subscription{}, groups: map[string]*feed{}}
		s.sessions[cl.ID] = ss
	}
	s.mu.Unlock()

	window := int32(s.opts.ReceiveMaximum)
	if rm := cl.Properties.Props.ReceiveMaximum; cl.Properties.ProtocolVersion == 5 && rm > 0 {
		window = min(window, int32(rm)) // [MQTT-3.3.4-9]
	}
	window = min(window, pidRange/2)
	ss.mu.Lock()
	ss.cl = cl
	wasPersistent := ss.persistent
	ss.persistent = persistentClient(cl)
	ss.window.Store(window)
	ss.info = storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     cl.Properties.Props.SessionExpiryInterval,
			SessionExpiryIntervalFlag: cl.Properties.Props.SessionExpiryIntervalFlag,
			ReceiveMaximum:            cl.Properties.Props.ReceiveMaximum,
			MaximumPacketSize:         cl.Properties.Props.MaximumPacketSize,
			TopicAliasMaximum:         cl.Properties.Props.TopicAliasMaximum,
		},
	}
	if ss.feed == nil {
		ss.feed = newFeedFor(s, ss)
	}
	ss.feed.setMember(ss, cl, ss.ownSubsLocked(), false)
	for _, sub := range ss.subs {
		if sub.share != "" {
			s.joinLocked(ss, sub.share)
		}
	}
	persistent := ss.persistent
	ss.mu.Unlock()
	if persistent {
		if err := ss.save(); err != nil {
			s.log.Error("cannot save mqtt session", "client", ss.id, "err", err)
		}
	} else if wasPersistent {
		ss.remove()
	}
}

func newFeedFor(s *Server, ss *session) *feed {
	f := newFeed(s, ss.id, "", ss)
	f.mu.Lock()
	for k, p := range ss.restored {
		f.restored[k] = p
	}
	f.mu.Unlock()
	ss.restored = nil
	return f
}

// ownSubsLocked are the session's ordinary (not shared) subscriptions.
func (ss *session) ownSubsLocked() []*subscription {
	var out []*subscription
	for _, sub := range ss.subs {
		if sub.share == "" {
			out = append(out, sub)
		}
	}
	return out
}

// sharedSubsLocked are the session's subscriptions under one share name.
func (ss *session) sharedSubsLocked(share string) []*subscription {
	var out []*subscription
	for _, sub := range ss.subs {
		if sub.share == share {
			out = append(out, sub)
		}
	}
	return out
}

// joinLocked makes the connected session a member of a shared
// subscription's feed, creating the feed (a RocketMQ consumer group) for
// its first member. ss.mu is held.
func (s *Server) joinLocked(ss *session, share string) {
	// Under s.mu, so the last member leaving cannot close the feed between
	// finding it and joining it.
	s.mu.Lock()
	g := s.groups[share]
	created := g == nil
	if created {
		g = newFeed(s, "$share/"+share, groupName(share), nil)
		s.groups[share] = g
	}
	g.setMember(ss, ss.cl, ss.sharedSubsLocked(share), created)
	s.mu.Unlock()
	ss.groups[share] = g
	if created {
		s.log.Info("mqtt shared subscription started", "share", share, "group", g.group)
	}
}

// leaveGroup removes a session from a shared subscription and stops the
// feed when its last member left (its positions stay in the consumer
// offsets). ss.mu is held.
func (s *Server) leaveGroupLocked(ss *session, share string) {
	g := ss.groups[share]
	if g == nil {
		return
	}
	delete(ss.groups, share)
	if g.leave(ss.id) {
		return
	}
	s.mu.Lock()
	if s.groups[share] == g && !g.hasMembers() {
		delete(s.groups, share)
	} else {
		g = nil
	}
	s.mu.Unlock()
	if g != nil {
		go g.close() // not under ss.mu: the feed may be writing
	}
}

func (f *feed) hasMembers() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.members) > 0
}

// detach handles the end of a connection: the session goes offline, or is
// discarded when it expires now.
func (s *Server) detach(cl *mochi.Client, expire bool) {
	s.mu.Lock()
	ss := s.sessions[cl.ID]
	s.mu.Unlock()
	if ss == nil {
		return
	}
	ss.mu.Lock()
	if ss.cl != cl {
		ss.mu.Unlock()
		return // taken over by a newer connection, or a restored session
	}
	ss.cl = nil
	if ss.feed != nil {
		ss.feed.setOffline(ss.id)
	}
	for share := range ss.groups {
		s.leaveGroupLocked(ss, share)
	}
	persistent := ss.persistent
	ss.mu.Unlock()
	switch {
	case expire || !persistent:
		s.dropSession(cl.ID, ss)
	default:
		if err := ss.save(); err != nil {
			s.log.Error("cannot save mqtt session", "client", ss.id, "err", err)
		}
	}
}

// dropSession discards a session's state and file; with only set, only
// if it is still that session.
func (s *Server) dropSession(id string, only *session) {
	s.mu.Lock()
	ss := s.sessions[id]
	if ss == nil || only != nil && ss != only {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, id)
	s.mu.Unlock()
	ss.mu.Lock()
	if ss.cl != nil {
		// A clean start of the same client id: mochi disconnects the old
		// connection right after this hook; doing it first keeps the feed,
		// which may be writing to it, from holding up its own close.
		ss.cl.Stop(packets.ErrSessionTakenOver)
		ss.cl = nil
	}
	f := ss.feed
	ss.feed = nil
	for share := range ss.groups {
		s.leaveGroupLocked(ss, share)
	}
	ss.subs = map[string]*subscription{}
	ss.mu.Unlock()
	if f != nil {
		f.close()
	}
	ss.remove()
}

func (s *Server) sessionOf(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// subscribe records granted filters and places their sources before mochi
// sends the SUBACK, then saves a persistent session.
func (s *Server) subscribe(cl *mochi.Client, filters packets.Subscriptions, codes []byte) {
	ss := s.sessionOf(cl.ID)
	if ss == nil {
		return
	}
	since := s.store.MaxPhysicalOffset()
	ss.mu.Lock()
	if ss.cl != cl {
		ss.mu.Unlock()
		return
	}
	shares := map[string]bool{}
	own := false
	for i, f := range filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		share, inner, shared := splitShared(f.Filter)
		sub := &subscription{
			key: f.Filter, filter: inner, share: share, qos: codes[i], noLocal: f.NoLocal,
			rap: f.RetainAsPublished, rh: f.RetainHandling, id: f.Identifier, since: since,
		}
		if old := ss.subs[f.Filter]; old != nil {
			sub.since = old.since // a repeated SUBSCRIBE replaces it without a gap [MQTT-3.8.4-3]
		}
		if shared {
			sub.since = 0 // a group resumes from its committed offsets
			shares[share] = true
		} else {
			own = true
		}
		ss.subs[f.Filter] = sub
	}
	if own && ss.feed != nil {
		ss.feed.setMember(ss, cl, ss.ownSubsLocked(), true)
	}
	for share := range shares {
		if g := ss.groups[share]; g != nil {
			g.setMember(ss, cl, ss.sharedSubsLocked(share), true)
		} else {
			s.joinLocked(ss, share)
		}
	}
	persistent := ss.persistent
	ss.mu.Unlock()
	if persistent {
		if err := ss.save(); err != nil {
			s.log.Error("cannot save mqtt session", "client", ss.id, "err", err)
		}
	}
}

func (s *Server) unsubscribe(cl *mochi.Client, filters packets.Subscriptions) {
	ss := s.sessionOf(cl.ID)
	if ss == nil {
		return
	}
	ss.mu.Lock()
	if ss.cl != cl {
		ss.mu.Unlock()
		return
	}
	shares := map[string]bool{}
	for _, f := range filters {
		sub := ss.subs[f.Filter]
		if sub == nil {
			continue
		}
		delete(ss.subs, f.Filter)
		if sub.share != "" {
			shares[sub.share] = true
		}
	}
	if ss.feed != nil {
		ss.feed.setMember(ss, cl, ss.ownSubsLocked(), false)
	}
	for share := range shares {
		if rest := ss.sharedSubsLocked(share); len(rest) > 0 {
			if g := ss.groups[share]; g != nil {
				g.setMember(ss, cl, rest, false)
			}
		} else {
			s.leaveGroupLocked(ss, share)
		}
	}
	persistent := ss.persistent
	ss.mu.Unlock()
	if persistent {
		if err := ss.save(); err != nil {
			s.log.Error("cannot save mqtt session", "client", ss.id, "err", err)
		}
	}
}

// acked completes a delivery of the session's feed or of one of its
// groups.
func (s *Server) acked(id string, pid uint16) {
	ss := s.sessionOf(id)
	if ss == nil {
		return
	}
	ss.mu.Lock()
	f := ss.feed
	var groups []*feed
	for _, g := range ss.groups {
		groups = append(groups, g)
	}
	ss.mu.Unlock()
	if f != nil && f.ack(id, pid) {
		return
	}
	for _, g := range groups {
		if g.ack(id, pid) {
			return
		}
	}
}

// The session file, JSON:
//
//	{"version":1, "client": {mochi's storage.Client},
//	 "subscriptions": [{"filter":"a/#","qos":1,"since":1234,...}],
//	 "positions": [{"topic":"a","queue":0,"committed":10,"sent":12}]}
//
// since is the CommitLog end when the filter was subscribed (older
// messages are not for it); committed is where delivery resumes, sent how
// far it had gone (those get DUP).
type sessionFile struct {
	Version   int            `json:"version"`
	Client    storage.Client `json:"client"`
	Subs      []subFile      `json:"subscriptions"`
	Positions []posFile      `json:"positions"`
}

type subFile struct {
	Filter         string `json:"filter"`
	QoS            byte   `json:"qos"`
	NoLocal        bool   `json:"noLocal,omitempty"`
	RetainAsPub    bool   `json:"retainAsPublished,omitempty"`
	RetainHandling byte   `json:"retainHandling,omitempty"`
	Identifier     int    `json:"identifier,omitempty"`
	Since          int64  `json:"since"`
}

type posFile struct {
	Topic     string `json:"topic"`
	Queue     int32  `json:"queue"`
	Committed int64  `json:"committed"`
	Sent      int64  `json:"sent"`
}

const sessionFileVersion = 1

// decodeSession parses and checks a session file.
func decodeSession(data []byte) (*sessionFile, error) {
	var sf sessionFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, err
	}
	if sf.Version != sessionFileVersion {
		return nil, fmt.Errorf("session file version %d, want %d", sf.Version, sessionFileVersion)
	}
	if sf.Client.ID == "" {
		return nil, errors.New("session file without a client id")
	}
	if v := sf.Client.ProtocolVersion; v < 3 || v > 5 {
		return nil, fmt.Errorf("session file: protocol version %d", v)
	}
	for _, sub := range sf.Subs {
		if !mochi.IsValidFilter(sub.Filter, false) || sub.QoS > 2 || sub.RetainHandling > 2 || sub.Since < 0 || sub.Identifier < 0 {
			return nil, fmt.Errorf("session file: bad subscription %q", sub.Filter)
		}
		if _, inner, shared := splitShared(sub.Filter); shared && inner == "" {
			return nil, fmt.Errorf("session file: bad subscription %q", sub.Filter)
		}
	}
	for _, p := range sf.Positions {
		if !validRocketTopic(p.Topic) || p.Queue < 0 || p.Committed < 0 || p.Sent < p.Committed {
			return nil, fmt.Errorf("session file: bad position %s/%d", p.Topic, p.Queue)
		}
	}
	return &sf, nil
}

func (s *Server) sessionPath(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(s.dir, "sessions", hex.EncodeToString(sum[:16])+".json")
}

// save writes a persistent session's file.
func (ss *session) save() error {
	ss.mu.Lock()
	if !ss.persistent {
		ss.mu.Unlock()
		return nil
	}
	sf := sessionFile{Version: sessionFileVersion, Client: ss.info}
	for _, sub := range ss.subs {
		sf.Subs = append(sf.Subs, subFile{Filter: sub.key, QoS: sub.qos, NoLocal: sub.noLocal, RetainAsPub: sub.rap,
			RetainHandling: sub.rh, Identifier: sub.id, Since: sub.since})
	}
	f := ss.feed
	restored := ss.restored
	ss.mu.Unlock()
	var pos map[srcKey]position
	if f != nil {
		pos = f.positions()
	} else {
		pos = restored
	}
	for k, p := range pos {
		sf.Positions = append(sf.Positions, posFile{Topic: k.topic, Queue: k.qid, Committed: p.committed, Sent: max(p.sent, p.committed)})
	}
	slices.SortFunc(sf.Subs, func(a, b subFile) int { return strings.Compare(a.Filter, b.Filter) })
	slices.SortFunc(sf.Positions, func(a, b posFile) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Queue - b.Queue)
	})
	data, err := json.Marshal(&sf)
	if err != nil {
		return err
	}
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	return atomicfile.Write(ss.s.sessionPath(ss.id), data)
}

func (ss *session) remove() {
	ss.saveMu.Lock()
	defer ss.saveMu.Unlock()
	if err := os.Remove(ss.s.sessionPath(ss.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		ss.s.log.Error("cannot remove mqtt session file", "client", ss.id, "err", err)
	}
}

// loadSessions reads the session files; mochi learns the clients and
// their subscriptions through StoredClients and StoredSubscriptions, so a
// returning client gets "session present". A file that does not parse is
// moved aside and reported, not fatal: one bad file must not keep the
// broker down.
func (s *Server) loadSessions() error {
	dir := filepath.Join(s.dir, "sessions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.Contains(name, ".json.tmp") {
			os.Remove(path) // a write that did not finish (atomicfile's temporary)
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		sf, err := decodeSession(data)
		if err != nil {
			s.log.Error("unreadable mqtt session file moved aside", "file", path, "err", err)
			os.Rename(path, path+".bad")
			continue
		}
		ss := &session{s: s, id: sf.Client.ID, persistent: true, info: sf.Client,
			subs: map[string]*subscription{}, groups: map[string]*feed{}, restored: map[srcKey]position{}}
		for _, sub := range sf.Subs {
			share, inner, _ := splitShared(sub.Filter)
			ss.subs[sub.Filter] = &subscription{key: sub.Filter, filter: inner, share: share, qos: sub.QoS,
				noLocal: sub.NoLocal, rap: sub.RetainAsPub, rh: sub.RetainHandling, id: sub.Identifier, since: sub.Since}
		}
		for _, p := range sf.Positions {
			ss.restored[srcKey{p.Topic, p.Queue}] = position{committed: p.Committed, sent: p.Sent}
		}
		s.sessions[ss.id] = ss
	}
	if len(s.sessions) > 0 {
		s.log.Info("mqtt sessions restored", "sessions", len(s.sessions))
	}
	return nil
}

func (s *Server) storedClients() []storage.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Client
	for _, ss := range s.sessions {
		out = append(out, ss.info)
	}
	return out
}

func (s *Server) storedSubscriptions() []storage.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Subscription
	for _, ss := range s.sessions {
		for _, sub := range ss.subs {
			out = append(out, storage.Subscription{
				Client: ss.id, T: storage.SubscriptionKey, Filter: sub.key, Qos: sub.qos,
				NoLocal: sub.noLocal, RetainAsPublished: sub.rap, RetainHandling: sub.rh, Identifier: sub.id,
			})
		}
	}
	return out
}
