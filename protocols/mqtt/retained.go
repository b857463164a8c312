package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine/atomicfile"
	"github.com/gannetmq/gannet/engine/message"
)

// Retained messages. A retained publish is stored in the CommitLog like
// any other (with MQTT_RETAIN=true); mochi keeps the current retained set
// in memory and sends it to new subscribers. The set is saved to
// <dir>/retained.json with the CommitLog offset it reflects (mark). At
// start the file is loaded and the log from mark to its end is scanned for
// retained publishes, so one acknowledged after the last save (kill -9)
// is not lost. Keeping the payloads in the file, not only offsets, lets a
// retained message outlive the retention of its CommitLog segment.
//
// Retained publishes hold Server.retMu across their append, and a save
// reads the log end under the same lock: every retained append below the
// mark is then in the saved set, and every later one lands above it.

type retainedState struct {
	mark      int64 // the log end when the set was last saved
	dirty     bool
	lastSaved time.Time
}

// retainedFile is the JSON of retained.json.
type retainedFile struct {
	Version  int           `json:"version"`
	Mark     int64         `json:"mark"`
	Messages []retainedMsg `json:"messages"`
}

type retainedMsg struct {
	Topic         string                 `json:"topic"`
	Payload       []byte                 `json:"payload"`
	QoS           byte                   `json:"qos"`
	Created       int64                  `json:"created"`          // unix seconds
	Expiry        int64                  `json:"expiry,omitempty"` // unix seconds
	ContentType   string                 `json:"contentType,omitempty"`
	ResponseTopic string                 `json:"responseTopic,omitempty"`
	Correlation   []byte                 `json:"correlation,omitempty"`
	PayloadFormat *byte                  `json:"payloadFormat,omitempty"`
	User          []packets.UserProperty `json:"user,omitempty"`
}

const (
	retainedFileVersion = 1
	// retainedRescan bounds the log a start has to scan: the file is saved
	// again once the log grew this much, even if the set did not change.
	retainedRescan = 64 << 20
)

func (s *Server) retainedPath() string { return filepath.Join(s.dir, "retained.json") }

// decodeRetained parses and checks retained.json.
func decodeRetained(data []byte) (*retainedFile, error) {
	var rf retainedFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return nil, err
	}
	if rf.Version != retainedFileVersion {
		return nil, fmt.Errorf("retained file version %d, want %d", rf.Version, retainedFileVersion)
	}
	if rf.Mark < 0 {
		return nil, fmt.Errorf("retained file: mark %d", rf.Mark)
	}
	for _, m := range rf.Messages {
		if !validTopicName([]byte(m.Topic)) || m.QoS > 2 || len(m.Payload) == 0 {
			return nil, fmt.Errorf("retained file: bad message on %q", m.Topic)
		}
	}
	return &rf, nil
}

func (m *retainedMsg) packet() packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: m.QoS, Retain: true},
		TopicName:       m.Topic,
		Payload:         m.Payload,
		Created:         m.Created,
		Expiry:          m.Expiry,
		ProtocolVersion: 5, // mochi expires a retained message only when this is 5
		Properties: packets.Properties{
			ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.Correlation, User: m.User,
		},
	}
	if m.PayloadFormat != nil {
		pk.Properties.PayloadFormat, pk.Properties.PayloadFormatFlag = *m.PayloadFormat, true
	}
	return pk
}

func retainedFromPacket(pk *packets.Packet) retainedMsg {
	m := retainedMsg{
		Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Created: pk.Created, Expiry: pk.Expiry,
		ContentType: pk.Properties.ContentType, ResponseTopic: pk.Properties.ResponseTopic,
		Correlation: pk.Properties.CorrelationData, User: pk.Properties.User,
	}
	if pk.Properties.PayloadFormatFlag {
		pf := pk.Properties.PayloadFormat
		m.PayloadFormat = &pf
	}
	return m
}

// loadRetained fills mochi's retained set from the file and the log tail.
func (s *Server) loadRetained() error {
	set := map[string]packets.Packet{}
	var mark int64
	switch data, err := os.ReadFile(s.retainedPath()); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("mqtt: %w", err)
	default:
		rf, err := decodeRetained(data)
		if err != nil {
			// Without the file only the log tail can be trusted; rescan all of it.
			s.log.Error("unreadable mqtt retained file moved aside; rescanning the log", "err", err)
			os.Rename(s.retainedPath(), s.retainedPath()+".bad")
			break
		}
		mark = rf.Mark
		for i := range rf.Messages {
			set[rf.Messages[i].Topic] = rf.Messages[i].packet()
		}
	}
	scanned, found, err := s.scanRetained(mark, set)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	for _, pk := range set {
		if pk.Expiry > 0 && pk.Expiry < now {
			continue
		}
		s.mq.Topics.RetainMessage(pk)
	}
	s.ret.mark = scanned
	s.ret.dirty = found > 0
	if len(set) > 0 || found > 0 {
		s.log.Info("mqtt retained messages restored", "messages", len(set), "from_log_tail", found)
	}
	return nil
}

// scanRetained applies the retained publishes stored in the log from
// `from` to its readable end to set, and returns that end.
func (s *Server) scanRetained(from int64, set map[string]packets.Packet) (int64, int, error) {
	cl := s.store.CommitLog()
	end := cl.Readable()
	// A mark past the end is a tail an ASYNC_FLUSH crash lost: later
	// appends reuse those offsets, so the mark moves back.
	pos := min(max(from, cl.MinOffset()), end)
	found := 0
	var st stored
	for pos < end {
		seg, err := cl.Pin(pos)
		if err != nil {
			return pos, found, fmt.Errorf("mqtt: scanning the log for retained messages at %d: %w", pos, err)
		}
		data := seg.Bytes()
		for pos < end && pos < seg.End() {
			rec, err := message.Parse(data[pos-seg.Base():], false)
			if err != nil || rec.IsBlank() {
				pos = seg.End() // the segment's padding; the next record starts the next segment
				break
			}
			pos += int64(rec.TotalSize())
			props := rec.Properties()
			if v, ok := message.Property(props, PropRetain); !ok || string(v) != "true" {
				continue
			}
			if _, ok := message.Property(props, PropTopic); !ok || !parseStored(&st, rec.Topic(), props) {
				continue
			}
			found++
			topic := string(st.topic)
			if len(rec.Body()) == 0 {
				delete(set, topic) // [MQTT-3.3.1-6]
				continue
			}
			m := retainedMsg{Topic: topic, Payload: append([]byte(nil), rec.Body()...), QoS: st.qos,
				Created: rec.StoreTimestamp() / 1000, ContentType: string(st.contentType), ResponseTopic: string(st.responseTopic)}
			if st.expireAt > 0 {
				m.Expiry = st.expireAt / 1000
			}
			if len(st.correlation) > 0 {
				m.Correlation = correlationData(st.correlation)
			}
			if st.payloadFormat >= 0 {
				pf := byte(st.payloadFormat)
				m.PayloadFormat = &pf
			}
			for _, u := range st.user {
				m.User = append(m.User, packets.UserProperty{Key: string(u[0]), Val: string(u[1])})
			}
			set[topic] = m.packet()
		}
		seg.Release()
	}
	return pos, found, nil
}

// retainedStored updates mochi's retained set after a retained publish was
// stored. s.retMu is held.
func (s *Server) retainedStored(pk *packets.Packet) {
	out := pk.Copy(false)
	out.FixedHeader.Retain = true
	out.ProtocolVersion = 5
	if pk.Properties.MessageExpiryInterval > 0 {
		out.Expiry = time.Now().Unix() + int64(pk.Properties.MessageExpiryInterval)
	}
	if out.Created == 0 {
		out.Created = time.Now().Unix()
	}
	s.mq.Topics.RetainMessage(out) // an empty payload removes [MQTT-3.3.1-6]
	s.ret.dirty = true
}

// saveRetained writes retained.json when the set changed or the log grew
// by retainedRescan since the last save (always with force).
func (s *Server) saveRetained(force bool) error {
	s.retMu.Lock()
	mark := s.store.MaxPhysicalOffset()
	if !force && !s.ret.dirty && mark-s.ret.mark < retainedRescan {
		s.retMu.Unlock()
		return nil
	}
	all := s.mq.Topics.Retained.GetAll()
	s.ret.dirty = false
	s.retMu.Unlock()
	rf := retainedFile{Version: retainedFileVersion, Mark: mark}
	for topic, pk := range all {
		if strings.HasPrefix(topic, mochi.SysPrefix) || len(pk.Payload) == 0 {
			continue // mochi's own $SYS values are not ours to keep
		}
		rf.Messages = append(rf.Messages, retainedFromPacket(&pk))
	}
	data, err := json.Marshal(&rf)
	if err == nil {
		err = atomicfile.Write(s.retainedPath(), data)
	}
	s.retMu.Lock()
	if err != nil {
		s.ret.dirty = true
	} else {
		s.ret.mark, s.ret.lastSaved = mark, time.Now()
	}
	s.retMu.Unlock()
	return err
}
