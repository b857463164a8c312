package broker

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// The tests run the processors against a real store in a temporary
// directory, through fake connections that record what the broker sends.

const waitLimit = 5 * time.Second

// testLevels are short delay levels so retries come back in milliseconds.
const testLevels = "100ms 150ms 200ms 250ms 300ms 350ms 400ms 450ms 500ms 550ms 600ms 650ms 700ms 750ms 800ms 850ms 900ms 950ms"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sent is one command the broker sent on a fake connection, with its body
// parts flattened into body. parts keeps the part slices as they were sent
// (before Release cleared them); release is set when the connection holds
// the release back.
type sent struct {
	cmd     *remoting.Command
	body    []byte
	parts   [][]byte
	release func()
}

type fakeConn struct {
	addr        string
	holdRelease bool

	mu     sync.Mutex
	out    []*sent
	signal chan struct{}
	closed atomic.Bool
}

func newConn(addr string) *fakeConn {
	return &fakeConn{addr: addr, signal: make(chan struct{})}
}

func (c *fakeConn) RemoteAddr() string { return c.addr }

func (c *fakeConn) Send(cmd *remoting.Command) error {
	s := &sent{cmd: cmd, parts: slices.Clone(cmd.BodyParts)}
	s.body = append(s.body, cmd.Body...)
	for _, p := range cmd.BodyParts {
		s.body = append(s.body, p...)
	}
	if cmd.Release != nil {
		if c.holdRelease {
			s.release = cmd.Release
		} else {
			cmd.Release()
		}
	}
	c.mu.Lock()
	c.out = append(c.out, s)
	ch := c.signal
	c.signal = make(chan struct{})
	c.mu.Unlock()
	close(ch)
	return nil
}

func (c *fakeConn) Invoke(*remoting.Command, time.Duration) (*remoting.Command, error) {
	panic("not used")
}

func (c *fakeConn) Close() error { c.closed.Store(true); return nil }

// wait returns the first command sent that satisfies pred, waiting up to
// d; nil when none came.
func (c *fakeConn) wait(d time.Duration, pred func(*sent) bool) *sent {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		for _, s := range c.out {
			if pred(s) {
				c.mu.Unlock()
				return s
			}
		}
		ch := c.signal
		c.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

func (c *fakeConn) response(opaque int32, d time.Duration) *sent {
	return c.wait(d, func(s *sent) bool { return s.cmd.IsResponse() && s.cmd.Opaque == opaque })
}

// waitRequests waits until at least n requests with code were sent.
func (c *fakeConn) waitRequests(code int32, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		have := 0
		for _, s := range c.out {
			if !s.cmd.IsResponse() && s.cmd.Code == code {
				have++
			}
		}
		ch := c.signal
		c.mu.Unlock()
		if have >= n {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

// requests returns the requests (not responses) with code sent so far.
func (c *fakeConn) requests(code int32) []*sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*sent
	for _, s := range c.out {
		if !s.cmd.IsResponse() && s.cmd.Code == code {
			out = append(out, s)
		}
	}
	return out
}

type env struct {
	t     *testing.T
	dir   string
	eopts engine.Options
	opts  Options
	hook  *DispatchHook
	store *engine.Store
	b     *Broker
	procs map[int32]remoting.Processor
	stop  chan struct{}
	done  chan struct{}
}

var opaques atomic.Int32

func engineOptions(dir string) engine.Options {
	return engine.Options{
		Dir:                dir,
		SegmentSize:        256 << 10,
		MaxMessageSize:     64 << 10,
		FlushInterval:      5 * time.Millisecond,
		ZeroFillAhead:      -1,
		ConsumeQueueUnits:  64,
		FlushQueueInterval: 20 * time.Millisecond,
		IndexHashSlots:     256,
		IndexMaxItems:      1024,
		CleanInterval:      time.Hour,
		Logger:             quiet,
		DiskUsage:          func(string) (float64, error) { return 0.1, nil },
		StoreHost:          message.HostFromAddrPort(netip.MustParseAddrPort("127.0.0.1:10911")),
	}
}

func testOptions() Options {
	o := DefaultOptions()
	o.MessageDelayLevel = testLevels
	o.Logger = quiet
	o.MaxMessageSize = 32 << 10
	return o
}

// newEnv opens a store and a running broker; mod adjusts the options.
func newEnv(t *testing.T, mod func(*Options, *engine.Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), opts: testOptions()}
	e.eopts = engineOptions(e.dir)
	if mod != nil {
		mod(&e.opts, &e.eopts)
	}
	e.start()
	t.Cleanup(e.shutdown)
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.hook = new(DispatchHook)
	eo := e.eopts
	eo.OnDispatch = e.hook.OnDispatch
	s, err := engine.Open(eo)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store = s
	o := e.opts
	o.Hook = e.hook
	b, err := New(o, s)
	if err != nil {
		s.Close()
		e.t.Fatal(err)
	}
	e.b, e.procs = b, b.Processors()
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go func() { defer close(e.done); b.Run(e.stop) }()
}

// shutdown stops the broker and closes the store, once.
func (e *env) shutdown() {
	if e.store == nil {
		return
	}
	close(e.stop)
	select {
	case <-e.done:
	case <-time.After(waitLimit):
		e.t.Error("Broker.Run did not return")
	}
	if err := e.store.Close(); err != nil {
		e.t.Error(err)
	}
	e.store = nil
}

func (e *env) reopen() {
	e.shutdown()
	e.start()
}

// request builds a request command.
func request(code int32, ext map[string]string, body []byte) *remoting.Command {
	return &remoting.Command{Code: code, Language: "GO", Version: 317, Opaque: opaques.Add(1), ExtFields: ext, Body: body}
}

// invoke runs a request and returns nothing; the caller waits.
func (e *env) invoke(conn *fakeConn, req *remoting.Command) {
	p, ok := e.procs[req.Code]
	if !ok {
		e.t.Fatalf("no processor for %s", remoting.CodeName(req.Code))
	}
	p(conn, req)
}

// do runs a request and waits for its response.
func (e *env) do(conn *fakeConn, code int32, ext map[string]string, body []byte) *sent {
	e.t.Helper()
	req := request(code, ext, body)
	e.invoke(conn, req)
	s := conn.response(req.Opaque, waitLimit)
	if s == nil {
		e.t.Fatalf("%s: no response", remoting.CodeName(code))
	}
	return s
}

// expect checks a response code.
func expect(t *testing.T, s *sent, code int32) {
	t.Helper()
	if s.cmd.Code != code {
		t.Fatalf("response %s (%s), want %s", remoting.ResponseCodeName(s.cmd.Code), s.cmd.Remark, remoting.ResponseCodeName(code))
	}
}

func sendExt(topic string, qid int, props string) map[string]string {
	return map[string]string{
		"producerGroup": "pg", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(qid), "sysFlag": "0", "bornTimestamp": "1700000000000", "flag": "0",
		"properties": props, "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
	}
}

func props(kv ...string) string {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = message.AppendProperty(b, kv[i], kv[i+1])
	}
	return string(b)
}

// send stores one message with SEND_MESSAGE and checks SUCCESS.
func (e *env) send(conn *fakeConn, topic string, qid int, body string, kv ...string) *sent {
	e.t.Helper()
	s := e.do(conn, remoting.ReqSendMessage, sendExt(topic, qid, props(kv...)), []byte(body))
	expect(e.t, s, remoting.ResSuccess)
	return s
}

func pullExt(group, topic string, qid int, offset int64, sysFlag int, suspendMs int, sub string) map[string]string {
	return map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(qid), "queueOffset": strconv.FormatInt(offset, 10),
		"maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag), "commitOffset": "0",
		"suspendTimeoutMillis": strconv.Itoa(suspendMs), "subVersion": "0", "subscription": sub, "expressionType": "TAG",
	}
}

// records splits a body of stored records.
func records(t *testing.T, body []byte) []message.Record {
	t.Helper()
	var out []message.Record
	for len(body) > 0 {
		r, err := message.Parse(body, true)
		if err != nil {
			t.Fatalf("bad record in body: %v", err)
		}
		out = append(out, r)
		body = body[r.TotalSize():]
	}
	return out
}

func prop(r message.Record, name string) string {
	v, _ := message.Property(r.Properties(), name)
	return string(v)
}

func bodies(recs []message.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Body())
	}
	return out
}

// encodeBatch builds a SEND_BATCH_MESSAGE body (MessageDecoder.encodeMessage).
func encodeBatch(entries ...[2]string) []byte {
	var out []byte
	for _, e := range entries {
		body, props := e[0], e[1]
		size := 4 + 4 + 4 + 4 + 4 + len(body) + 2 + len(props)
		out = binary.BigEndian.AppendUint32(out, uint32(size))
		out = binary.BigEndian.AppendUint32(out, 0)
		out = binary.BigEndian.AppendUint32(out, 0)
		out = binary.BigEndian.AppendUint32(out, 7) // flag
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		out = append(out, body...)
		out = binary.BigEndian.AppendUint16(out, uint16(len(props)))
		out = append(out, props...)
	}
	return out
}

// eventually polls cond until it holds or the wait limit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readQueue returns the records of a queue from offset 0 (copied out).
func (e *env) readQueue(topic string, qid int32) []message.Record {
	var res engine.GetResult
	defer res.Release()
	e.store.GetMessages(&engine.GetRequest{Topic: topic, QueueID: qid, Offset: e.store.MinOffset(topic, qid), MaxMessages: 1000}, &res)
	var out []message.Record
	for _, m := range res.Messages {
		r, err := message.Parse(slices.Clone(m), false)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// settle waits until everything stored is dispatched, so ReadMessage and
// the index see it (a ConsumeQueue unit appears a moment before the
// dispatched offset passes its message).
func (e *env) settle() {
	e.t.Helper()
	eventually(e.t, "dispatch", func() bool {
		return e.store.DispatchedPhysicalOffset() >= e.store.MaxPhysicalOffset()
	})
}
