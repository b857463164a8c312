package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func queryExt(group, topic string, qid int) map[string]string {
	return map[string]string{"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(qid)}
}

func TestConsumerOffsets(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.7:4000")
	e.fill("o", 0, 3)

	// No offset, young queue whose first message is in memory: 0.
	s := e.do(conn, remoting.ReqQueryConsumerOffset, queryExt("g", "o", 0), nil)
	expect(t, s, remoting.ResSuccess)
	if s.cmd.ExtFields["offset"] != "0" {
		t.Fatalf("offset %q", s.cmd.ExtFields["offset"])
	}
	noZero := queryExt("g", "o", 0)
	noZero["setZeroIfNotFound"] = "false"
	expect(t, e.do(conn, remoting.ReqQueryConsumerOffset, noZero, nil), remoting.ResQueryNotFound)

	upd := queryExt("g", "o", 0)
	upd["commitOffset"] = "2"
	expect(t, e.do(conn, remoting.ReqUpdateConsumerOffset, upd, nil), remoting.ResSuccess)
	s = e.do(conn, remoting.ReqQueryConsumerOffset, queryExt("g", "o", 0), nil)
	expect(t, s, remoting.ResSuccess)
	if s.cmd.ExtFields["offset"] != "2" {
		t.Fatalf("offset %q after commit", s.cmd.ExtFields["offset"])
	}

	// Offsets survive a restart.
	e.reopen()
	s = e.do(conn, remoting.ReqQueryConsumerOffset, queryExt("g", "o", 0), nil)
	expect(t, s, remoting.ResSuccess)
	if s.cmd.ExtFields["offset"] != "2" {
		t.Fatalf("offset %q after reopen", s.cmd.ExtFields["offset"])
	}

	bad := queryExt("g", "o", 0)
	expect(t, e.do(conn, remoting.ReqUpdateConsumerOffset, bad, nil), remoting.ResSystemError) // no commitOffset
	delete(bad, "topic")
	expect(t, e.do(conn, remoting.ReqQueryConsumerOffset, bad, nil), remoting.ResSystemError)
}

func TestConsumerOffsetOnDisk(t *testing.T) {
	// With no memory window every message counts as on disk: a group
	// without an offset gets QUERY_NOT_FOUND, as on a Java broker whose
	// queue has aged out of the page cache.
	e := newEnv(t, func(o *Options, _ *engine.Options) { o.TotalMemory = 1 })
	e.fill("o", 0, 3)
	expect(t, e.do(newConn("10.0.0.7:4000"), remoting.ReqQueryConsumerOffset, queryExt("g", "o", 0), nil), remoting.ResQueryNotFound)
	// An empty queue has no first message: 0.
	s := e.do(newConn("10.0.0.7:4000"), remoting.ReqQueryConsumerOffset, queryExt("g", "o", 1), nil)
	expect(t, s, remoting.ResSuccess)
}

func TestQueueOffsets(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.7:4000")
	before := time.Now().UnixMilli()
	e.fill("o", 0, 3)
	get := func(code int32, ext map[string]string, key string) string {
		t.Helper()
		s := e.do(conn, code, ext, nil)
		expect(t, s, remoting.ResSuccess)
		return s.cmd.ExtFields[key]
	}
	q := map[string]string{"topic": "o", "queueId": "0"}
	if v := get(remoting.ReqGetMaxOffset, q, "offset"); v != "3" {
		t.Fatalf("max offset %s", v)
	}
	if v := get(remoting.ReqGetMinOffset, q, "offset"); v != "0" {
		t.Fatalf("min offset %s", v)
	}
	ts, _ := strconv.ParseInt(get(remoting.ReqGetEarliestMsgStoretime, q, "timestamp"), 10, 64)
	if ts < before-1000 || ts > time.Now().UnixMilli() {
		t.Fatalf("earliest store time %d", ts)
	}
	empty := map[string]string{"topic": "o", "queueId": "2"}
	if v := get(remoting.ReqGetEarliestMsgStoretime, empty, "timestamp"); v != "-1" {
		t.Fatalf("earliest store time of an empty queue %s", v)
	}
	search := map[string]string{"topic": "o", "queueId": "0", "timestamp": "0"}
	if v := get(remoting.ReqSearchOffsetByTimestamp, search, "offset"); v != "0" {
		t.Fatalf("offset by time 0: %s", v)
	}
	search["timestamp"] = strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	if v := get(remoting.ReqSearchOffsetByTimestamp, search, "offset"); v != "3" {
		t.Fatalf("offset by a future time: %s", v)
	}
	search["boundaryType"] = "UPPER"
	if v := get(remoting.ReqSearchOffsetByTimestamp, search, "offset"); v != "2" {
		t.Fatalf("upper offset by a future time: %s", v)
	}
	expect(t, e.do(conn, remoting.ReqGetMaxOffset, map[string]string{"topic": "o"}, nil), remoting.ResSystemError)
}

// A negative commit (ali-ons sends -1 for "nothing consumed") keeps the
// stored offset.
func TestNegativeCommitIsIgnored(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("127.0.0.1:5000")
	commit := func(off string) {
		t.Helper()
		upd := queryExt("g", "n", 0)
		upd["commitOffset"] = off
		expect(t, e.do(conn, remoting.ReqUpdateConsumerOffset, upd, nil), remoting.ResSuccess)
	}
	commit("7")
	commit("-1")
	s := e.do(conn, remoting.ReqQueryConsumerOffset, queryExt("g", "n", 0), nil)
	expect(t, s, remoting.ResSuccess)
	if s.cmd.ExtFields["offset"] != "7" {
		t.Fatalf("offset %q after a -1 commit, want 7", s.cmd.ExtFields["offset"])
	}
}
