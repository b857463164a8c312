package remoting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBuffer collects a server's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	*Server
	addr string
	logs *logBuffer
}

// startServer serves r on a random loopback port until the test ends.
func startServer(t *testing.T, r *Router, tweak func(*ServerOptions)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	opts := ServerOptions{
		Addr:   "127.0.0.1:0",
		Router: r,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&opts)
	}
	s := NewServer(opts)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := s.Addr()
	if addr == nil {
		t.Fatalf("server did not bind: %v", <-served)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return &testServer{Server: s, addr: addr.String(), logs: logs}
}

func newTestClient(t *testing.T, tweak func(*ClientOptions)) *Client {
	t.Helper()
	opts := ClientOptions{DialTimeout: 2 * time.Second}
	if tweak != nil {
		tweak(&opts)
	}
	c := NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx2s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConn is a plain connection that writes bytes and reads frames.
type rawConn struct {
	t   *testing.T
	c   net.Conn
	buf []byte
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the read error (io.EOF when the server
// closed, a timeout when nothing came within d).
func (r *rawConn) read(d time.Duration) (*Command, error) {
	r.c.SetReadDeadline(time.Now().Add(d))
	for {
		cmd, n, err := DecodeFrame(r.buf, 0)
		if err != nil {
			r.t.Fatalf("server wrote a bad frame: %v", err)
		}
		if n > 0 {
			cmd.Body = bytes.Clone(cmd.Body)
			r.buf = r.buf[n:]
			return cmd, nil
		}
		var chunk [64 << 10]byte
		m, err := r.c.Read(chunk[:])
		r.buf = append(r.buf, chunk[:m]...)
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

func (r *rawConn) mustRead() *Command {
	r.t.Helper()
	cmd, err := r.read(2 * time.Second)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return cmd
}

// echo answers every request with its extFields and body.
func echo(conn Conn, req *Command) {
	resp := NewResponse(req, ResSuccess, "echo")
	resp.ExtFields = req.ExtFields
	resp.Body = req.Body
	conn.Send(resp)
}

// TestServerWireCases sends every request of the shared wire cases, all in
// one write, and checks what the processor received and what came back.
func TestServerWireCases(t *testing.T) {
	var mu sync.Mutex
	var got []*Command
	r := NewRouter()
	cases := requestCases()
	for _, wc := range cases {
		r.Register(wc.cmd.Code, func(conn Conn, req *Command) {
			mu.Lock()
			got = append(got, req)
			mu.Unlock()
			echo(conn, req)
		})
	}
	s := startServer(t, r, nil)
	rc := dialRaw(t, s.addr)
	var all []byte
	for _, wc := range cases {
		all = append(all, wc.frame...)
	}
	rc.write(all)
	for _, wc := range cases {
		if wc.cmd.IsOneway() {
			continue
		}
		resp := rc.mustRead()
		want := &Command{Code: ResSuccess, Language: DefaultLanguage, Version: DefaultVersion, Opaque: wc.cmd.Opaque,
			Flag: FlagResponse, Remark: "echo", ExtFields: wc.cmd.ExtFields, Body: wc.cmd.Body, Serialize: wc.cmd.Serialize}
		if d := diffCmd(resp, want); d != "" {
			t.Errorf("%s: response: %s", wc.name, d)
		}
	}
	// A oneway request's echo was dropped: nothing more arrives.
	if cmd, err := rc.read(100 * time.Millisecond); err == nil {
		t.Fatalf("unexpected frame %+v", cmd)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(cases) {
		t.Fatalf("processors saw %d requests, want %d", len(got), len(cases))
	}
	for i, wc := range cases {
		if d := diffCmd(got[i], wc.cmd); d != "" {
			t.Errorf("%s: processor got: %s", wc.name, d)
		}
	}
}

func TestServerRequestResponse(t *testing.T) {
	r := NewRouter()
	r.Register(ReqHeartBeat, echo)
	r.Register(ReqPullMessage, func(conn Conn, req *Command) {
		go func() {
			time.Sleep(50 * time.Millisecond)
			resp := NewResponse(req, ResPullNotFound, "")
			resp.ExtFields = map[string]string{"nextBeginOffset": req.ExtFields["queueOffset"]}
			conn.Send(resp)
		}()
	})
	s := startServer(t, r, nil)
	for _, typ := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		c := newTestClient(t, func(o *ClientOptions) { o.Serialize = typ })
		resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, map[string]string{"k": "v"}, []byte("hb")))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != ResSuccess || resp.ExtFields["k"] != "v" || string(resp.Body) != "hb" || resp.Serialize != typ {
			t.Fatalf("heartbeat response %+v", resp)
		}
		start := time.Now()
		resp, err = c.Invoke(ctx2s(t), s.addr, NewRequest(ReqPullMessage, map[string]string{"queueOffset": "42"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 50*time.Millisecond {
			t.Fatalf("async answer after %v", el)
		}
		if resp.Code != ResPullNotFound || resp.ExtFields["nextBeginOffset"] != "42" {
			t.Fatalf("pull response %+v", resp)
		}
		// A 4 MiB body arrives in many reads and goes back whole.
		big := pattern(4<<20, 9)
		resp, err = c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, big))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.Body, big) {
			t.Fatal("4 MiB body changed on the way")
		}
	}
}

func TestServerUnknownCode(t *testing.T) {
	s := startServer(t, NewRouter(), nil)
	c := newTestClient(t, nil)
	resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(9999, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != ResRequestCodeNotSupported || resp.Remark != " request type 9999 not supported" {
		t.Fatalf("got code %d remark %q", resp.Code, resp.Remark)
	}
}

func TestServerOnewayGetsNoAnswer(t *testing.T) {
	var released atomic.Int32
	seen := make(chan *Command, 1)
	conns := make(chan Conn, 2)
	r := NewRouter()
	r.Register(ReqUpdateConsumerOffset, func(conn Conn, req *Command) {
		conns <- conn
		resp := NewResponse(req, ResSuccess, "must be dropped")
		resp.Release = func() { released.Add(1) }
		if err := conn.Send(resp); err != nil {
			t.Errorf("Send: %v", err)
		}
		seen <- req
	})
	r.Register(ReqHeartBeat, func(conn Conn, req *Command) {
		conns <- conn
		echo(conn, req)
	})
	s := startServer(t, r, nil)
	rc := dialRaw(t, s.addr)
	rc.write(AppendFrame(nil, &Command{Code: ReqUpdateConsumerOffset, Opaque: 1, Flag: FlagOneway}))
	rc.write(AppendFrame(nil, &Command{Code: 9999, Opaque: 3, Flag: FlagOneway})) // unknown: no answer either
	rc.write(AppendFrame(nil, &Command{Code: ReqHeartBeat, Opaque: 2}))
	resp := rc.mustRead()
	if resp.Opaque != 2 {
		t.Fatalf("first frame answers opaque %d, want 2", resp.Opaque)
	}
	if req := <-seen; !req.IsOneway() {
		t.Fatal("processor did not see the oneway flag")
	}
	if n := released.Load(); n != 1 {
		t.Fatalf("dropped response released %d times", n)
	}
	if a, b := <-conns, <-conns; a != b {
		t.Fatal("one-way and two-way requests of one connection got different Conns")
	}
	if cmd, err := rc.read(100 * time.Millisecond); err == nil {
		t.Fatalf("unexpected frame %+v", cmd)
	}
}

func TestServerBadFrameClosesOnlyThatConnection(t *testing.T) {
	r := NewRouter()
	r.Register(ReqHeartBeat, echo)
	s := startServer(t, r, nil)
	good := dialRaw(t, s.addr)
	good.write(AppendFrame(nil, &Command{Code: ReqHeartBeat, Opaque: 1}))
	good.mustRead()
	for _, bc := range badCases {
		if len(bc.frame) > 1<<16 {
			continue
		}
		t.Run(bc.name, func(t *testing.T) {
			bad := dialRaw(t, s.addr)
			frame := bc.frame
			if bc.kind == KindFrameTooLong {
				frame = frame[:4] // the server decides from the length word
			}
			bad.write(frame)
			if cmd, err := bad.read(3 * time.Second); err != io.EOF && !errors.Is(err, net.ErrClosed) &&
				!strings.Contains(fmt.Sprint(err), "reset") {
				t.Fatalf("bad connection: got %v, %v; want EOF", cmd, err)
			}
			peer := bad.c.LocalAddr().String()
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(s.logs.String(), "peer="+peer) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line names %s:\n%s", peer, s.logs)
				}
				time.Sleep(5 * time.Millisecond)
			}
			good.write(AppendFrame(nil, &Command{Code: ReqHeartBeat, Opaque: 2}))
			if resp := good.mustRead(); resp.Opaque != 2 {
				t.Fatalf("good connection: opaque %d", resp.Opaque)
			}
		})
	}
	if n := strings.Count(s.logs.String(), "malformed frame"); n == 0 {
		t.Fatalf("no malformed-frame log line:\n%s", s.logs)
	}
}

func TestServerPanickingProcessor(t *testing.T) {
	r := NewRouter()
	r.Register(ReqSendMessage, func(conn Conn, req *Command) { panic("disk on fire") })
	r.Register(ReqHeartBeat, echo)
	s := startServer(t, r, nil)
	c := newTestClient(t, nil)
	for range 3 {
		resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqSendMessage, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != ResSystemError || !strings.Contains(resp.Remark, "disk on fire") {
			t.Fatalf("got code %d remark %q", resp.Code, resp.Remark)
		}
		if resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil)); err != nil || resp.Code != ResSuccess {
			t.Fatalf("after panic: %v, %v", resp, err)
		}
	}
	if !strings.Contains(s.logs.String(), "processor panicked") {
		t.Fatalf("panic not logged:\n%s", s.logs)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestServerBodyPartsAndRelease(t *testing.T) {
	parts := [][]byte{pattern(10, 1), pattern(100<<10, 2), nil, pattern(1<<20, 3)}
	want := []byte("head")
	for _, p := range parts {
		want = append(want, p...)
	}
	var released atomic.Int32
	r := NewRouter()
	r.Register(ReqPullMessage, func(conn Conn, req *Command) {
		resp := NewResponse(req, ResSuccess, "")
		resp.Body = []byte("head")
		resp.BodyParts = parts
		resp.Release = func() { released.Add(1) }
		if req.ExtFields["async"] == "true" {
			go conn.Send(resp)
		} else {
			conn.Send(resp)
		}
	})
	s := startServer(t, r, nil)
	c := newTestClient(t, nil)
	for i, async := range []string{"false", "true", "false"} {
		for _, typ := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			released.Store(0)
			req := NewRequest(ReqPullMessage, map[string]string{"async": async}, nil)
			req.Serialize = typ
			resp, err := c.Invoke(ctx2s(t), s.addr, req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.Body, want) {
				t.Fatalf("round %d: body of %d bytes differs from the %d written", i, len(resp.Body), len(want))
			}
			deadline := time.Now().Add(2 * time.Second)
			for released.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(10 * time.Millisecond)
			if n := released.Load(); n != 1 {
				t.Fatalf("Release called %d times", n)
			}
		}
	}
}

// TestServerSlowPeerReleasesEverything fills the queue of a peer that
// does not read: the connection is closed and every command released.
func TestServerSlowPeerReleasesEverything(t *testing.T) {
	const sends = 64
	var released, sent atomic.Int32
	done := make(chan []error, 1)
	r := NewRouter()
	r.Register(ReqPullMessage, func(conn Conn, req *Command) {
		go func() {
			var errs []error
			for range sends {
				resp := NewResponse(req, ResSuccess, "")
				resp.BodyParts = [][]byte{make([]byte, 1<<20)}
				resp.Release = func() { released.Add(1) }
				sent.Add(1)
				errs = append(errs, conn.Send(resp))
			}
			done <- errs
		}()
	})
	s := startServer(t, r, func(o *ServerOptions) {
		o.MaxPendingBytes = 4 << 20
		o.WriteTimeout = 300 * time.Millisecond
	})
	rc := dialRaw(t, s.addr)
	rc.c.(*net.TCPConn).SetReadBuffer(4 << 10)
	rc.write(AppendFrame(nil, &Command{Code: ReqPullMessage, Opaque: 1}))
	var errs []error
	select {
	case errs = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sends did not finish")
	}
	failed := 0
	for _, err := range errs {
		if err != nil {
			if !errors.Is(err, ErrSendQueueFull) && !errors.Is(err, ErrConnClosed) {
				t.Fatalf("Send: %v", err)
			}
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("every Send succeeded on a peer that does not read")
	}
	deadline := time.Now().Add(3 * time.Second)
	for released.Load() != sent.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if released.Load() != sent.Load() {
		t.Fatalf("released %d of %d", released.Load(), sent.Load())
	}
}

func TestServerInitiatedRequests(t *testing.T) {
	conns := make(chan Conn, 1)
	disconnected := make(chan string, 1)
	r := NewRouter()
	r.Register(ReqHeartBeat, echo)
	s := startServer(t, r, func(o *ServerOptions) {
		o.OnConnect = func(c Conn) { conns <- c }
		o.OnDisconnect = func(c Conn) { disconnected <- c.RemoteAddr() }
	})
	notified := make(chan *Command, 1)
	c := newTestClient(t, func(o *ClientOptions) {
		o.OnRequest = func(conn Conn, req *Command) {
			switch req.Code {
			case ReqCheckTransactionState:
				resp := NewResponse(req, ResSuccess, "")
				resp.ExtFields = map[string]string{"msgId": req.ExtFields["msgId"]}
				conn.Send(resp)
			case ReqGetConsumerRunningInfo:
				// Call back into the server from the handler.
				resp, err := conn.Invoke(NewRequest(ReqHeartBeat, nil, []byte("nested")), 2*time.Second)
				if err != nil {
					t.Errorf("nested Invoke: %v", err)
					return
				}
				out := NewResponse(req, ResSuccess, "")
				out.Body = resp.Body
				conn.Send(out)
			case ReqNotifyConsumerIdsChanged:
				notified <- req
			}
		}
	})
	if _, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	var sc Conn
	select {
	case sc = <-conns:
	case <-time.After(2 * time.Second):
		t.Fatal("OnConnect not called")
	}
	for i := range 3 {
		msgID := "id-" + strconv.Itoa(i)
		resp, err := sc.Invoke(NewRequest(ReqCheckTransactionState, map[string]string{"msgId": msgID}, nil), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExtFields["msgId"] != msgID {
			t.Fatalf("response %+v", resp)
		}
	}
	resp, err := sc.Invoke(NewRequest(ReqGetConsumerRunningInfo, nil, nil), 2*time.Second)
	if err != nil || string(resp.Body) != "nested" {
		t.Fatalf("nested: %+v, %v", resp, err)
	}
	// Fire and forget.
	if err := sc.Send(&Command{Code: ReqNotifyConsumerIdsChanged, Opaque: 77, ExtFields: map[string]string{"consumerGroup": "g"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-notified:
		if req.ExtFields["consumerGroup"] != "g" || req.Opaque != 77 {
			t.Fatalf("notify %+v", req)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("notify not delivered")
	}
	// A request nobody answers times out.
	if _, err := sc.Invoke(NewRequest(ReqNotifyConsumerIdsChanged, nil, nil), 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("unanswered Invoke: %v", err)
	}
	<-notified
	c.Close()
	select {
	case addr := <-disconnected:
		if addr != sc.RemoteAddr() {
			t.Fatalf("OnDisconnect for %s, want %s", addr, sc.RemoteAddr())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("OnDisconnect not called")
	}
	if _, err := sc.Invoke(NewRequest(ReqCheckTransactionState, nil, nil), time.Second); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Invoke on a closed connection: %v", err)
	}
	if err := sc.Send(NewRequest(ReqNotifyConsumerIdsChanged, nil, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send on a closed connection: %v", err)
	}
}

// TestServerConcurrentAnswers mixes answers from the read callback and from
// other goroutines on one connection, with many calls in flight.
func TestServerConcurrentAnswers(t *testing.T) {
	r := NewRouter()
	r.Register(ReqSendMessageV2, func(conn Conn, req *Command) {
		n, _ := strconv.Atoi(req.ExtFields["n"])
		// The response carries the request's body, so the body is kept
		// until the response has been written.
		req.Keep()
		answer := func() {
			resp := NewResponse(req, ResSuccess, "")
			resp.ExtFields = map[string]string{"n": req.ExtFields["n"]}
			resp.Body = req.Body
			resp.Release = req.Free
			conn.Send(resp)
		}
		if n%3 == 0 {
			answer()
		} else {
			go answer()
		}
	})
	s := startServer(t, r, nil)
	c := newTestClient(t, func(o *ClientOptions) { o.Window = 64 })
	const calls = 3000
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range calls {
		wg.Add(1)
		n := strconv.Itoa(i)
		err := c.InvokeAsync(s.addr, NewRequest(ReqSendMessageV2, map[string]string{"n": n}, []byte(n)), 5*time.Second,
			func(resp *Command, err error) {
				defer wg.Done()
				if err != nil || resp.ExtFields["n"] != n || string(resp.Body) != n {
					bad.Add(1)
				}
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d mismatched answers", bad.Load())
	}
}

func TestServerCloseFailsCalls(t *testing.T) {
	r := NewRouter()
	r.Register(ReqPullMessage, func(Conn, *Command) {}) // never answers
	r.Register(ReqHeartBeat, echo)
	logs := &logBuffer{}
	s := NewServer(ServerOptions{Addr: "127.0.0.1:0", Router: r, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	c := newTestClient(t, nil)
	addr := s.Addr().String()
	if _, err := c.Invoke(ctx2s(t), addr, NewRequest(ReqHeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx2s(t), addr, NewRequest(ReqPullMessage, nil, nil))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call in flight: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerCloseBeforeServe(t *testing.T) {
	s := NewServer(ServerOptions{Addr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	s2 := NewServer(ServerOptions{Addr: "256.0.0.1:0"})
	if err := s2.Serve(); err == nil {
		t.Fatal("Serve on a bad address succeeded")
	}
	if s2.Addr() != nil {
		t.Fatal("Addr of a server that failed to bind")
	}
}
