package broker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// fakeReplicas stands in for replication.Master: in sync or not, and an
// Await answered by the test.
type fakeReplicas struct {
	mu      sync.Mutex
	inSync  bool
	waits   []int64
	answers []func(error)
}

func (f *fakeReplicas) InSync(int64) bool { f.mu.Lock(); defer f.mu.Unlock(); return f.inSync }

func (f *fakeReplicas) Await(offset int64, _ time.Duration, done func(error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, offset)
	f.answers = append(f.answers, done)
}

func (f *fakeReplicas) pending() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.answers) }

func (f *fakeReplicas) answer(i int, err error) {
	f.mu.Lock()
	fn := f.answers[i]
	f.mu.Unlock()
	fn(err)
}

// TestSyncMasterSendWaitsForSlave: SLAVE_NOT_AVAILABLE at once with no
// slave in sync; otherwise no answer until the slave acknowledges the
// message's end offset, then SUCCESS, or FLUSH_SLAVE_TIMEOUT when the wait
// fails. Every answer carries the stored message's id.
func TestSyncMasterSendWaitsForSlave(t *testing.T) {
	reps := &fakeReplicas{}
	e := newEnv(t, func(o *Options, _ *engine.Options) {
		o.BrokerRole = RoleSyncMaster
		o.Replicas = reps
	})
	conn := newConn("127.0.0.1:5000")

	s := e.do(conn, remoting.ReqSendMessage, sendExt("Sync", 0, ""), []byte("alone"))
	expect(t, s, remoting.ResSlaveNotAvailable)
	if s.cmd.ExtFields["msgId"] == "" {
		t.Fatal("SLAVE_NOT_AVAILABLE without the stored message's id")
	}

	reps.mu.Lock()
	reps.inSync = true
	reps.mu.Unlock()
	req := request(remoting.ReqSendMessage, sendExt("Sync", 0, ""), []byte("replicated"))
	e.invoke(conn, req)
	eventually(t, "the send to wait for the slave", func() bool { return reps.pending() == 1 })
	if got := conn.response(req.Opaque, 50*time.Millisecond); got != nil {
		t.Fatalf("answered %s before the slave acknowledged", remoting.ResponseCodeName(got.cmd.Code))
	}
	if end := e.store.MaxPhysicalOffset(); reps.waits[0] != end {
		t.Fatalf("waits for offset %d, the message ends at %d", reps.waits[0], end)
	}
	reps.answer(0, nil)
	expect(t, conn.response(req.Opaque, time.Second), remoting.ResSuccess)

	req = request(remoting.ReqSendMessage, sendExt("Sync", 0, ""), []byte("timed out"))
	e.invoke(conn, req)
	eventually(t, "the second wait", func() bool { return reps.pending() == 2 })
	reps.answer(1, errTest)
	got := conn.response(req.Opaque, time.Second)
	expect(t, got, remoting.ResFlushSlaveTimeout)
	if !strings.Contains(got.cmd.Remark, "stored on the master") || got.cmd.ExtFields["msgId"] == "" {
		t.Fatalf("FLUSH_SLAVE_TIMEOUT remark %q, msgId %q", got.cmd.Remark, got.cmd.ExtFields["msgId"])
	}
}

var errTest = &codeError{code: 0, remark: "test"}

// TestSuggestSlaveWhenFarBehind: with slaveReadEnable a pull far from the
// log's end (beyond accessMessageInMemoryMaxRatio of memory) suggests
// broker 1; near the end, or without slaveReadEnable, broker 0.
func TestSuggestSlaveWhenFarBehind(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		e := newEnv(t, func(o *Options, _ *engine.Options) {
			o.SlaveReadEnable = enabled
			o.TotalMemory = 100 << 10 // 40% = 40 KiB counts as in memory
		})
		conn := newConn("127.0.0.1:5001")
		body := strings.Repeat("x", 1024)
		for range 200 {
			e.send(conn, "Far", 0, body)
		}
		e.settle()
		suggest := func(offset int64) string {
			s := e.do(conn, remoting.ReqPullMessage, pullExt("g", "Far", 0, offset, 4, 0, "*"), nil)
			expect(t, s, remoting.ResSuccess)
			return s.cmd.ExtFields["suggestWhichBrokerId"]
		}
		far, near := suggest(0), suggest(190)
		want := "1"
		if !enabled {
			want = "0"
		}
		if far != want || near != "0" {
			t.Fatalf("slaveReadEnable=%v: far behind suggests %q (want %q), near the end %q (want \"0\")", enabled, far, want, near)
		}
	}
}
