package remoting

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// silentRouter never answers PULL_MESSAGE, echoes HEART_BEAT and closes
// the connection on UNREGISTER_CLIENT.
func silentRouter(oneway chan<- *Command) *Router {
	r := NewRouter()
	r.Register(ReqPullMessage, func(Conn, *Command) {})
	r.Register(ReqHeartBeat, echo)
	r.Register(ReqUnregisterClient, func(conn Conn, req *Command) { conn.Close() })
	r.Register(ReqUpdateConsumerOffset, func(conn Conn, req *Command) {
		echo(conn, req) // dropped: the request is one-way
		if oneway != nil {
			oneway <- req
		}
	})
	return r
}

func TestClientInvokeAsyncTimeout(t *testing.T) {
	s := startServer(t, silentRouter(nil), nil)
	c := newTestClient(t, nil)
	done := make(chan error, 1)
	start := time.Now()
	err := c.InvokeAsync(s.addr, NewRequest(ReqPullMessage, nil, nil), 100*time.Millisecond, func(resp *Command, err error) {
		done <- err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("callback error %v", err)
		}
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Fatalf("timed out after %v", el)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("callback not called")
	}
}

func TestClientWindowFull(t *testing.T) {
	s := startServer(t, silentRouter(nil), nil)
	c := newTestClient(t, func(o *ClientOptions) { o.Window = 2 })
	var calls atomic.Int32
	cb := func(*Command, error) { calls.Add(1) }
	for range 2 {
		if err := c.InvokeAsync(s.addr, NewRequest(ReqPullMessage, nil, nil), time.Second, cb); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := c.InvokeAsync(s.addr, NewRequest(ReqPullMessage, nil, nil), 100*time.Millisecond, cb)
	if !errors.Is(err, ErrWindowFull) {
		t.Fatalf("third call: %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("gave up after %v", el)
	}
	// The first two time out and free the window.
	if err := c.InvokeAsync(s.addr, NewRequest(ReqHeartBeat, nil, nil), 3*time.Second, cb); err != nil {
		t.Fatalf("after the timeouts: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for calls.Load() != 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d callbacks, want 3 (a failed InvokeAsync must not call back)", calls.Load())
	}
}

func TestClientRedialsBrokenConnection(t *testing.T) {
	s := startServer(t, silentRouter(nil), nil)
	c := newTestClient(t, nil)
	if _, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	async := make(chan error, 1)
	if err := c.InvokeAsync(s.addr, NewRequest(ReqPullMessage, nil, nil), 5*time.Second, func(_ *Command, err error) {
		async <- err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqUnregisterClient, nil, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on a connection the server closed: %v", err)
	}
	select {
	case err := <-async:
		if !errors.Is(err, ErrConnClosed) {
			t.Fatalf("async call: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("async call not failed")
	}
	resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil))
	if err != nil || resp.Code != ResSuccess {
		t.Fatalf("after re-dial: %v, %v", resp, err)
	}
}

func TestClientContextDeadline(t *testing.T) {
	s := startServer(t, silentRouter(nil), nil)
	c := newTestClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Invoke(ctx, s.addr, NewRequest(ReqPullMessage, nil, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	// The connection is still good.
	if _, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestClientOneway(t *testing.T) {
	oneway := make(chan *Command, 1)
	s := startServer(t, silentRouter(oneway), nil)
	c := newTestClient(t, nil)
	if err := c.InvokeOneway(s.addr, NewRequest(ReqUpdateConsumerOffset, map[string]string{"commitOffset": "5"}, nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-oneway:
		if !req.IsOneway() || req.ExtFields["commitOffset"] != "5" {
			t.Fatalf("server got %+v", req)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("oneway request not delivered")
	}
	// The next call gets its own answer, not a leftover one.
	resp, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, []byte("x")))
	if err != nil || string(resp.Body) != "x" {
		t.Fatalf("%+v, %v", resp, err)
	}
}

func TestClientCloseFailsCalls(t *testing.T) {
	s := startServer(t, silentRouter(nil), nil)
	c := NewClient(ClientOptions{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), s.addr, NewRequest(ReqPullMessage, nil, nil))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClientClosed) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("call not failed by Close")
	}
	if _, err := c.Invoke(ctx2s(t), s.addr, NewRequest(ReqHeartBeat, nil, nil)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestClientDialError(t *testing.T) {
	c := newTestClient(t, func(o *ClientOptions) { o.DialTimeout = 200 * time.Millisecond })
	// A port nobody listens on: bind one, note it, close it.
	s := NewServer(ServerOptions{Addr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.Close()
	var released atomic.Int32
	req := NewRequest(ReqHeartBeat, nil, nil)
	req.Release = func() { released.Add(1) }
	if _, err := c.Invoke(ctx2s(t), addr, req); err == nil {
		t.Fatal("Invoke to a closed port succeeded")
	}
	if released.Load() != 1 {
		t.Fatalf("request released %d times", released.Load())
	}
}
