package remoting

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client defaults.
const (
	DefaultDialTimeout        = 3 * time.Second
	DefaultClientWriteTimeout = 10 * time.Second
	DefaultWindow             = 1024
)

// Errors of the client.
var (
	ErrClientClosed = errors.New("remoting: client closed")
	ErrWindowFull   = errors.New("remoting: in-flight window full")
)

// ClientOptions configure a Client. Zero fields take the defaults.
type ClientOptions struct {
	DialTimeout time.Duration // default 3 s
	// WriteTimeout bounds one write; a connection whose write times out
	// is closed (default 10 s).
	WriteTimeout time.Duration
	MaxFrame     int           // default DefaultMaxFrame
	Serialize    SerializeType // header type of the requests the client sends
	// Window bounds the InvokeAsync calls in flight per address (default
	// 1024); a full window makes InvokeAsync wait, up to its timeout.
	Window int
	Logger *slog.Logger
	// OnRequest handles the requests a server sends on a client's
	// connection (CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED,
	// ...), each on its own goroutine; it answers with conn.Send. Without
	// it such requests are answered REQUEST_CODE_NOT_SUPPORTED.
	OnRequest func(conn Conn, req *Command)
}

// Client is the remoting client of the bench tools, replication and tests:
// one connection per address, dialled on first use and again after it
// broke, shared by every call to that address. Its methods are safe for
// concurrent use.
type Client struct {
	opts   ClientOptions
	log    *slog.Logger
	opaque atomic.Int32

	mu        sync.Mutex
	closed    bool
	endpoints map[string]*endpoint
	readers   sync.WaitGroup
}

// endpoint is what a client keeps per address across reconnections.
type endpoint struct {
	addr   string
	window chan struct{} // one token per InvokeAsync in flight
	dialMu sync.Mutex
	conn   atomic.Pointer[clientConn]
}

// NewClient returns a client; it dials nothing until the first call.
func NewClient(opts ClientOptions) *Client {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultClientWriteTimeout
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{opts: opts, log: log, endpoints: make(map[string]*endpoint)}
}

func (c *Client) endpoint(addr string) (*endpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	ep := c.endpoints[addr]
	if ep == nil {
		ep = &endpoint{addr: addr, window: make(chan struct{}, c.opts.Window)}
		c.endpoints[addr] = ep
	}
	return ep, nil
}

// conn returns the endpoint's live connection, dialling one when needed.
func (c *Client) conn(ctx context.Context, ep *endpoint) (*clientConn, error) {
	if cc := ep.conn.Load(); cc != nil && !cc.isClosed() {
		return cc, nil
	}
	ep.dialMu.Lock()
	defer ep.dialMu.Unlock()
	if cc := ep.conn.Load(); cc != nil && !cc.isClosed() {
		return cc, nil
	}
	d := net.Dialer{Timeout: c.opts.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", ep.addr)
	if err != nil {
		return nil, fmt.Errorf("remoting: cannot dial %s: %w", ep.addr, err)
	}
	cc := &clientConn{cl: c, ep: ep, nc: nc, addr: ep.addr, calls: make(map[int32]*call)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClientClosed
	}
	c.readers.Add(1)
	c.mu.Unlock()
	ep.conn.Store(cc)
	go cc.readLoop()
	return cc, nil
}

func (c *Client) prepare(req *Command) {
	req.Opaque = c.opaque.Add(1)
	req.Flag &^= FlagResponse | FlagOneway
	req.Serialize = c.opts.Serialize
}

// Invoke sends req to addr and waits for its response until ctx is done.
// It sets req's opaque, flag and header type.
func (c *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	ep, err := c.endpoint(addr)
	if err != nil {
		req.release()
		return nil, err
	}
	cc, err := c.conn(ctx, ep)
	if err != nil {
		req.release()
		return nil, err
	}
	return cc.invoke(ctx, req)
}

// InvokeOneway sends req to addr with the one-way flag; no response comes.
func (c *Client) InvokeOneway(addr string, req *Command) error {
	ep, err := c.endpoint(addr)
	if err != nil {
		req.release()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.DialTimeout)
	defer cancel()
	cc, err := c.conn(ctx, ep)
	if err != nil {
		req.release()
		return err
	}
	c.prepare(req)
	req.Flag |= FlagOneway
	return cc.write(req)
}

// InvokeAsync sends req to addr and calls cb with the response, or with
// an error when none came within timeout or the connection broke. It first
// takes a slot of the address's window, waiting up to timeout for one
// (ErrWindowFull). cb is called exactly once when InvokeAsync returns nil,
// never when it returns an error; it runs on the connection's reading
// goroutine or a timer's, so it must not block.
func (c *Client) InvokeAsync(addr string, req *Command, timeout time.Duration, cb func(*Command, error)) error {
	deadline := time.Now().Add(timeout)
	ep, err := c.endpoint(addr)
	if err != nil {
		req.release()
		return err
	}
	select {
	case ep.window <- struct{}{}:
	default:
		t := time.NewTimer(timeout)
		select {
		case ep.window <- struct{}{}:
			t.Stop()
		case <-t.C:
			req.release()
			return ErrWindowFull
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	cc, err := c.conn(ctx, ep)
	cancel()
	if err != nil {
		<-ep.window
		req.release()
		return err
	}
	c.prepare(req)
	ca := &call{cb: cb, slot: true}
	if err := cc.register(req.Opaque, ca, time.Until(deadline)); err != nil {
		<-ep.window
		req.release()
		return err
	}
	if err := cc.write(req); err != nil {
		if cc.take(req.Opaque) == ca {
			ca.stop()
			<-ep.window
			return err
		}
		// The connection's failure already completed the call.
	}
	return nil
}

// Close closes every connection; calls in flight fail with
// ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	eps := c.endpoints
	c.mu.Unlock()
	for _, ep := range eps {
		if cc := ep.conn.Load(); cc != nil {
			cc.fail(ErrClientClosed)
		}
	}
	c.readers.Wait()
	return nil
}

// call is a request waiting for its response.
type call struct {
	ch    chan result           // Invoke
	cb    func(*Command, error) // InvokeAsync
	timer *time.Timer           // InvokeAsync timeout; set under clientConn.mu
	slot  bool                  // holds a window token
}

type result struct {
	cmd *Command
	err error
}

func (ca *call) stop() {
	if ca.timer != nil {
		ca.timer.Stop()
	}
}

// clientConn is one connection of a Client, also the Conn that OnRequest
// handlers answer on.
type clientConn struct {
	cl   *Client
	ep   *endpoint
	nc   net.Conn
	addr string

	wmu      sync.Mutex
	out      []byte // frames waiting for the flusher; guarded by wmu
	flushing bool   // a writer is flushing out; guarded by wmu
	wclosed  bool   // guarded by wmu
	spare    []byte // owned by the flusher

	mu     sync.Mutex
	closed bool
	err    error
	calls  map[int32]*call
}

func (cc *clientConn) isClosed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.closed
}

func (cc *clientConn) register(opaque int32, ca *call, timeout time.Duration) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return fmt.Errorf("%w: %s: %v", ErrConnClosed, cc.addr, cc.err)
	}
	cc.calls[opaque] = ca
	if ca.cb != nil {
		ca.timer = time.AfterFunc(timeout, func() {
			if cc.take(opaque) == ca {
				cc.finish(ca, nil, ErrTimeout)
			}
		})
	}
	return nil
}

// take removes and returns the call of an opaque, if still waiting.
func (cc *clientConn) take(opaque int32) *call {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	ca := cc.calls[opaque]
	if ca != nil {
		delete(cc.calls, opaque)
	}
	return ca
}

// finish completes a call that the caller took.
func (cc *clientConn) finish(ca *call, resp *Command, err error) {
	ca.stop()
	if ca.slot {
		<-cc.ep.window
	}
	if ca.ch != nil {
		ca.ch <- result{resp, err}
		return
	}
	ca.cb(resp, err)
}

func (cc *clientConn) invoke(ctx context.Context, req *Command) (*Command, error) {
	cc.cl.prepare(req)
	ca := &call{ch: make(chan result, 1)}
	if err := cc.register(req.Opaque, ca, 0); err != nil {
		req.release()
		return nil, err
	}
	opaque := req.Opaque
	if err := cc.write(req); err != nil {
		if cc.take(opaque) == ca {
			return nil, err
		}
	}
	select {
	case r := <-ca.ch:
		return r.cmd, r.err
	case <-ctx.Done():
		if cc.take(opaque) == ca {
			return nil, ctx.Err()
		}
		r := <-ca.ch
		return r.cmd, r.err
	}
}

// write queues one frame, BodyParts included, and releases cmd once the
// frame is written. Concurrent writers are combined: the first becomes
// the flusher and writes everything queued, in one system call per round,
// while the others return at once. A write error closes the connection,
// which fails every call waiting on it.
func (cc *clientConn) write(cmd *Command) error {
	cc.wmu.Lock()
	if cc.wclosed {
		cc.wmu.Unlock()
		cmd.release()
		return fmt.Errorf("%w: %s", ErrConnClosed, cc.addr)
	}
	cc.out = AppendFrame(cc.out, cmd)
	for _, p := range cmd.BodyParts {
		cc.out = append(cc.out, p...)
	}
	flush := !cc.flushing
	cc.flushing = true
	cc.wmu.Unlock()
	cmd.release()
	if flush {
		cc.flush()
	}
	return nil
}

// flush writes the queued bytes until none are left; the caller set
// flushing.
func (cc *clientConn) flush() {
	for {
		cc.wmu.Lock()
		buf := cc.out
		if len(buf) == 0 || cc.wclosed {
			cc.out = buf[:0]
			cc.flushing = false
			cc.wmu.Unlock()
			return
		}
		cc.out = cc.spare[:0]
		cc.wmu.Unlock()

		cc.nc.SetWriteDeadline(time.Now().Add(cc.cl.opts.WriteTimeout))
		_, err := cc.nc.Write(buf)
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large message's buffer
		}
		cc.spare = buf[:0]
		if err != nil {
			cc.wmu.Lock()
			cc.wclosed = true
			cc.flushing = false
			cc.out = nil
			cc.wmu.Unlock()
			cc.fail(fmt.Errorf("cannot write: %w", err))
			return
		}
	}
}

// fail closes the connection once and completes every waiting call.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		return
	}
	cc.closed = true
	cc.err = err
	calls := cc.calls
	cc.calls = nil
	cc.mu.Unlock()
	cc.wmu.Lock()
	cc.wclosed = true
	cc.out = nil
	cc.wmu.Unlock()
	cc.nc.Close()
	cc.ep.conn.CompareAndSwap(cc, nil)
	if !errors.Is(err, ErrClientClosed) {
		err = fmt.Errorf("%w: %s: %v", ErrConnClosed, cc.addr, err)
	}
	for _, ca := range calls {
		cc.finish(ca, nil, err)
	}
}

func (cc *clientConn) readLoop() {
	defer cc.cl.readers.Done()
	br := bufio.NewReaderSize(cc.nc, 64<<10)
	var head [frameLengthSize]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			cc.fail(err)
			return
		}
		size, err := frameSize(head[:], cc.cl.opts.MaxFrame)
		if err != nil {
			cc.cl.log.Warn("remoting: malformed frame, closing connection", "peer", cc.addr, "err", err)
			cc.fail(err)
			return
		}
		frame := make([]byte, size)
		copy(frame, head[:])
		if _, err := io.ReadFull(br, frame[frameLengthSize:]); err != nil {
			cc.fail(err)
			return
		}
		cmd, err := decodeFrame(frame)
		if err != nil {
			cc.cl.log.Warn("remoting: malformed frame, closing connection", "peer", cc.addr, "err", err)
			cc.fail(err)
			return
		}
		if cmd.IsResponse() {
			if ca := cc.take(cmd.Opaque); ca != nil {
				cc.finish(ca, cmd, nil)
			} else {
				cc.cl.log.Debug("remoting: response matches no request", "peer", cc.addr, "opaque", cmd.Opaque)
			}
			continue
		}
		cc.serve(cmd)
	}
}

// serve handles a request from the server on its own goroutine, so that a
// handler may Invoke back on this connection.
func (cc *clientConn) serve(req *Command) {
	var conn Conn = cc
	h := cc.cl.opts.OnRequest
	if h == nil {
		conn.Send(NewResponse(req, ResRequestCodeNotSupported, " request type "+strconv.Itoa(int(req.Code))+" not supported"))
		return
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				cc.cl.log.Error("remoting: OnRequest panicked", "peer", cc.addr, "code", CodeName(req.Code),
					"panic", r, "stack", string(debug.Stack()))
				conn.Send(NewResponse(req, ResSystemError, fmt.Sprint(r)))
			}
		}()
		h(conn, req)
	}()
}

// RemoteAddr implements Conn.
func (cc *clientConn) RemoteAddr() string { return cc.addr }

// Send implements Conn: it writes cmd as is (a response keeps the opaque
// NewResponse copied) and releases it. A response to a one-way request is
// dropped.
func (cc *clientConn) Send(cmd *Command) error {
	if isOnewayResponse(cmd) {
		cmd.release()
		return nil
	}
	return cc.write(cmd)
}

// Invoke implements Conn.
func (cc *clientConn) Invoke(req *Command, timeout time.Duration) (*Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cc.invoke(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) {
		err = ErrTimeout
	}
	return resp, err
}

// Close implements Conn.
func (cc *clientConn) Close() error {
	cc.fail(ErrConnClosed)
	return nil
}
