package remoting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
)

// Errors of Send and Invoke.
var (
	ErrConnClosed    = errors.New("remoting: connection closed")
	ErrSendQueueFull = errors.New("remoting: send queue full, peer does not read; connection closed")
	ErrTimeout       = errors.New("remoting: timed out waiting for the response")
	ErrServerClosed  = errors.New("remoting: server closed")
)

// Server defaults.
const (
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultMaxPendingWrites = 4096
	DefaultMaxPendingBytes  = 64 << 20

	// dispatchBatch is how many requests the read callback runs before it
	// writes the responses they queued.
	dispatchBatch = 64
)

// ServerOptions configure a Server. Zero fields take the defaults above.
type ServerOptions struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a port,
	// which Addr reports.
	Addr string
	// MaxFrame bounds a whole frame, length word included (default
	// DefaultMaxFrame, 16 MiB, as Java's frameMaxLength).
	MaxFrame int
	Logger   *slog.Logger
	// Router chooses the processor of each request; codes it does not know
	// are answered REQUEST_CODE_NOT_SUPPORTED.
	Router *Router
	// OnConnect is called once per accepted connection before its first
	// request; OnDisconnect once when it closes, for the connections
	// OnConnect saw. Neither may block.
	OnConnect, OnDisconnect func(Conn)

	// ReadTimeout bounds the wait for the rest of a frame whose first
	// bytes arrived; the connection is closed when it expires.
	ReadTimeout time.Duration
	// WriteTimeout bounds one flush to a peer that does not read; the
	// connection is closed when it expires.
	WriteTimeout time.Duration
	// MaxPendingWrites and MaxPendingBytes bound the commands queued for
	// one connection and not yet written. A Send that would exceed them
	// finds a peer that stopped reading: it drops the command, closes the
	// connection and returns ErrSendQueueFull (a single command larger
	// than MaxPendingBytes is accepted into an empty queue).
	MaxPendingWrites int
	MaxPendingBytes  int
}

// Server serves the remoting protocol on netpoll. See the package
// documentation for the threading model.
type Server struct {
	opts   ServerOptions
	log    *slog.Logger
	router *Router
	opaque atomic.Int32 // opaques of server-initiated requests

	ready     chan struct{} // closed once Listen bound or failed, or Close ran
	readyOnce sync.Once
	serveDone chan struct{} // closed when Serve returns

	mu        sync.Mutex
	ln        netpoll.Listener // guarded by mu
	listenErr error            // guarded by mu
	evl       netpoll.EventLoop
	closed    bool
	conns     map[*serverConn]struct{}
}

// NewServer returns a server; nothing listens before Listen or Serve.
func NewServer(opts ServerOptions) *Server {
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxPendingWrites <= 0 {
		opts.MaxPendingWrites = DefaultMaxPendingWrites
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	router := opts.Router
	if router == nil {
		router = NewRouter()
	}
	return &Server{
		opts:      opts,
		log:       log,
		router:    router,
		ready:     make(chan struct{}),
		serveDone: make(chan struct{}),
		conns:     make(map[*serverConn]struct{}),
	}
}

// Listen binds the address. Serve calls it when it was not called before;
// calling it first lets a caller learn the port before serving.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil || s.listenErr != nil {
		return s.listenErr
	}
	ln, err := netpoll.CreateListener("tcp", s.opts.Addr)
	if err != nil {
		s.listenErr = fmt.Errorf("remoting: cannot listen on %q: %w", s.opts.Addr, err)
	} else {
		s.ln = ln
	}
	s.readyOnce.Do(func() { close(s.ready) })
	return s.listenErr
}

// Addr returns the bound address. It waits until Listen or Serve has
// bound (or failed, or Close ran; the result is then nil).
func (s *Server) Addr() net.Addr {
	<-s.ready
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until Close; it returns nil after Close and
// the listen or poller error otherwise.
func (s *Server) Serve() error {
	defer close(s.serveDone)
	if err := s.Listen(); err != nil {
		if errors.Is(err, ErrServerClosed) {
			return nil
		}
		return err
	}
	evl, err := netpoll.NewEventLoop(s.onRequest,
		netpoll.WithOnPrepare(s.onPrepare),
		netpoll.WithOnConnect(s.onConnect),
		netpoll.WithReadTimeout(s.opts.ReadTimeout),
		netpoll.WithWriteTimeout(s.opts.WriteTimeout),
	)
	if err != nil {
		return fmt.Errorf("remoting: cannot create the event loop: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if s.evl != nil {
		s.mu.Unlock()
		return errors.New("remoting: Serve called twice")
	}
	s.evl = evl
	ln := s.ln
	s.mu.Unlock()

	err = evl.Serve(ln)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// Close stops accepting, closes every connection (queued commands are
// released unwritten, waiting Invokes fail) and makes Serve return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	evl, ln := s.evl, s.ln
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })

	for _, c := range conns {
		c.nc.Close()
	}
	if evl == nil {
		// Serve never started the event loop, which would own the
		// listener; netpoll's listener must be closed exactly once.
		if ln != nil {
			ln.Close()
		}
		return nil
	}
	// Shutdown is a no-op until evl.Serve has registered its server, so
	// repeat it until Serve returns.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		err := evl.Shutdown(ctx)
		select {
		case <-s.serveDone:
			return err
		case <-ctx.Done():
			return fmt.Errorf("remoting: server did not stop: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type connKey struct{}

func (s *Server) onPrepare(nc netpoll.Connection) context.Context {
	c := &serverConn{srv: s, nc: nc, addr: nc.RemoteAddr().String()}
	c.cond.L = &c.mu
	nc.AddCloseCallback(c.onClose)
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		nc.Close()
	}
	return context.WithValue(context.Background(), connKey{}, c)
}

func (s *Server) onConnect(ctx context.Context, nc netpoll.Connection) context.Context {
	c, _ := ctx.Value(connKey{}).(*serverConn)
	if c == nil {
		return ctx
	}
	c.mu.Lock()
	closed := c.closed
	c.connected = !closed
	c.mu.Unlock()
	if !closed && s.opts.OnConnect != nil {
		s.callHook("OnConnect", s.opts.OnConnect, c)
	}
	return ctx
}

func (s *Server) callHook(name string, f func(Conn), c *serverConn) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("remoting: "+name+" panicked", "peer", c.addr, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f(c)
}

// onRequest is netpoll's read callback: it cuts every complete frame,
// runs the processors of requests and completes Invokes with responses.
// netpoll calls it again while unread bytes remain, so it must consume a
// started frame, blocking up to ReadTimeout for its rest, or close.
//
// A request's Body is not copied: it points into netpoll's read buffer,
// which goes back when the processor returns, or, if the processor called
// Keep, when it calls Free.
func (s *Server) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, _ := ctx.Value(connKey{}).(*serverConn)
	if c == nil {
		return nc.Close()
	}
	r := nc.Reader()
	c.beginDispatch()
	dispatching := true
	defer func() {
		if dispatching {
			c.endDispatch()
		}
	}()
	// ensure makes n bytes readable, first writing the queued responses
	// when it has to wait for the peer.
	ensure := func(n int) {
		if r.Len() >= n {
			if !dispatching {
				c.beginDispatch()
				dispatching = true
			}
			return
		}
		if dispatching {
			c.endDispatch()
			dispatching = false
		}
	}
	for handled := 0; r.Len() > 0; handled++ {
		if handled > 0 && handled%dispatchBatch == 0 && dispatching {
			c.endDispatch()
			c.beginDispatch()
		}
		ensure(frameLengthSize)
		head, err := r.Peek(frameLengthSize)
		if err != nil {
			return s.readFailed(c, err)
		}
		size, err := frameSize(head, s.opts.MaxFrame)
		if err != nil {
			return s.badFrame(c, err)
		}
		ensure(size)
		// Slice shares the read buffer's nodes (no copy), and Next on the
		// slice copies only a frame that straddles two nodes. The header
		// strings are copied by the decoder; the body stays in the buffer
		// until the command is freed.
		sub, err := r.Slice(size)
		if err != nil {
			return s.readFailed(c, err)
		}
		r.Release()
		frame, err := sub.Next(size)
		if err != nil {
			sub.Release()
			return s.readFailed(c, err)
		}
		if !dispatching {
			c.beginDispatch()
			dispatching = true
		}
		cmd, err := decodeFrame(frame)
		if err != nil {
			sub.Release()
			return s.badFrame(c, err)
		}
		if cmd.IsResponse() {
			// An Invoke caller may keep the response as long as it likes.
			if cmd.Body != nil {
				cmd.Body = append([]byte(nil), cmd.Body...)
			}
			sub.Release()
			c.complete(cmd)
			continue
		}
		cmd.free = func() { sub.Release() }
		s.dispatch(c, cmd)
		if !cmd.kept {
			cmd.Free()
		}
	}
	return nil
}

func (s *Server) badFrame(c *serverConn, err error) error {
	s.log.Warn("remoting: malformed frame, closing connection", "peer", c.addr, "err", err)
	c.nc.Close()
	return err
}

func (s *Server) readFailed(c *serverConn, err error) error {
	if c.nc.IsActive() {
		s.log.Warn("remoting: incomplete frame, closing connection", "peer", c.addr, "err", err)
	}
	c.nc.Close()
	return err
}

// dispatch runs the processor of a request in the read callback.
func (s *Server) dispatch(c *serverConn, req *Command) {
	p := s.router.Processor(req.Code)
	if p == nil {
		s.log.Debug("remoting: request code not supported", "peer", c.addr, "code", req.Code)
		c.Send(NewResponse(req, ResRequestCodeNotSupported, " request type "+strconv.Itoa(int(req.Code))+" not supported"))
		return
	}
	s.run(p, c, req)
}

// run calls a processor; a panic is logged and answered SYSTEM_ERROR, as
// Java answers a processor's exception.
func (s *Server) run(p Processor, c *serverConn, req *Command) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("remoting: processor panicked", "peer", c.addr, "code", CodeName(req.Code),
				"panic", r, "stack", string(debug.Stack()))
			c.Send(NewResponse(req, ResSystemError, fmt.Sprint(r)))
		}
	}()
	p(c, req)
}

// serverConn is one accepted connection.
//
// Writes: Send queues the command. When no one is writing, the command is
// written either by the read callback when it finishes its batch of
// requests (dispatching), or by a writer goroutine started by Send. The
// writer encodes the whole queue, flushes once, then releases every
// command. Only one goroutine writes at a time (writing); netpoll's Writer
// is not safe for concurrent use.
type serverConn struct {
	srv  *Server
	nc   netpoll.Connection
	addr string

	mu          sync.Mutex
	cond        sync.Cond  // on mu; signalled when writing turns false
	queue       []*Command // written by the next batch
	queueBytes  int
	writing     bool // a goroutine owns the writer and drains queue
	dispatching bool // the read callback drains queue when its batch ends
	closed      bool
	connected   bool                    // OnConnect ran
	pending     map[int32]chan *Command // Invokes waiting for a response
	unflushed   []*Command              // batch of a failed flush, released by onClose

	// Owned by the goroutine that set writing.
	spare   []*Command
	scratch []byte
}

// RemoteAddr implements Conn.
func (c *serverConn) RemoteAddr() string { return c.addr }

// Close implements Conn.
func (c *serverConn) Close() error { return c.nc.Close() }

// Send implements Conn. It never waits for the network: the command is
// queued and written by the read callback or a writer goroutine, and
// released after the flush. A response to a one-way request (NewResponse
// keeps the request's one-way bit) is dropped. Send takes ownership of cmd
// in every case, error or not.
func (c *serverConn) Send(cmd *Command) error {
	if isOnewayResponse(cmd) {
		cmd.release()
		return nil
	}
	size := len(cmd.Body) + 64 + len(cmd.Remark)
	for _, p := range cmd.BodyParts {
		size += len(p)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cmd.release()
		return ErrConnClosed
	}
	if len(c.queue) >= c.srv.opts.MaxPendingWrites ||
		len(c.queue) > 0 && c.queueBytes+size > c.srv.opts.MaxPendingBytes {
		n, b := len(c.queue), c.queueBytes
		c.mu.Unlock()
		cmd.release()
		c.srv.log.Warn("remoting: peer does not read, closing connection", "peer", c.addr,
			"queued", n, "queuedBytes", b)
		c.nc.Close()
		return ErrSendQueueFull
	}
	c.queue = append(c.queue, cmd)
	c.queueBytes += size
	start := !c.writing && !c.dispatching
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		go c.drain()
	}
	return nil
}

func (c *serverConn) beginDispatch() {
	c.mu.Lock()
	c.dispatching = true
	c.mu.Unlock()
}

// endDispatch writes what the processors queued, unless a writer
// goroutine is already at it.
func (c *serverConn) endDispatch() {
	c.mu.Lock()
	c.dispatching = false
	start := !c.writing && len(c.queue) > 0
	if start {
		c.writing = true
	}
	c.mu.Unlock()
	if start {
		c.drain()
	}
}

// drain writes batches until the queue is empty; the caller set writing.
func (c *serverConn) drain() {
	for {
		c.mu.Lock()
		batch := c.queue
		if len(batch) == 0 || c.closed {
			c.queue = nil
			c.queueBytes = 0
			c.writing = false
			c.cond.Broadcast()
			c.mu.Unlock()
			releaseAll(batch)
			return
		}
		c.queue = c.spare[:0]
		c.queueBytes = 0
		c.mu.Unlock()

		err := c.writeBatch(batch)
		if err != nil {
			// After a failed flush netpoll's poller may still hold the
			// batch's slices, so the batch is released by onClose, which
			// runs once the connection is off the poller. Give up the
			// writer before closing: netpoll may run the close callbacks,
			// which wait for the writer, on this goroutine.
			c.mu.Lock()
			c.unflushed = append(c.unflushed, batch...)
			rest := c.queue
			c.queue = nil
			c.queueBytes = 0
			c.writing = false
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
			releaseAll(rest)
			if c.nc.IsActive() {
				c.srv.log.Warn("remoting: write failed, closing connection", "peer", c.addr, "err", err)
			}
			c.nc.Close()
			return
		}
		releaseAll(batch)
		c.spare = batch[:0]
	}
}

// writeBatch encodes each header into the connection's scratch and copies
// it into netpoll's buffer; bodies and parts are handed over with
// WriteBinary, which references slices above 4 KiB instead of copying, so
// they must stay untouched until Flush returns. One Flush per batch.
func (c *serverConn) writeBatch(batch []*Command) error {
	w := c.nc.Writer()
	for _, cmd := range batch {
		c.scratch = appendFrameHeader(c.scratch[:0], cmd)
		buf, err := w.Malloc(len(c.scratch))
		if err != nil {
			return err
		}
		copy(buf, c.scratch)
		if len(cmd.Body) > 0 {
			if _, err := w.WriteBinary(cmd.Body); err != nil {
				return err
			}
		}
		for _, p := range cmd.BodyParts {
			if len(p) > 0 {
				if _, err := w.WriteBinary(p); err != nil {
					return err
				}
			}
		}
	}
	if cap(c.scratch) > 64<<10 {
		c.scratch = nil
	}
	return w.Flush()
}

func releaseAll(cmds []*Command) {
	for i, cmd := range cmds {
		cmd.release()
		cmds[i] = nil
	}
}

// onClose runs once when netpoll closes the connection, before netpoll
// frees its buffers: it waits for the writer to stop, then drops the
// queue and fails the waiting Invokes.
func (c *serverConn) onClose(netpoll.Connection) error {
	c.mu.Lock()
	c.closed = true
	for c.writing {
		c.cond.Wait()
	}
	queue := append(c.queue, c.unflushed...)
	c.queue, c.unflushed = nil, nil
	pending := c.pending
	c.pending = nil
	connected := c.connected
	c.mu.Unlock()
	releaseAll(queue)
	for _, ch := range pending {
		close(ch)
	}
	s := c.srv
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if connected && s.opts.OnDisconnect != nil {
		s.callHook("OnDisconnect", s.opts.OnDisconnect, c)
	}
	return nil
}

// Invoke implements Conn: it sends req with an opaque from the server's
// sequence and waits up to timeout for the response. It must not be
// called from a processor's own goroutine while the processor runs: the
// response is read by the same callback.
func (c *serverConn) Invoke(req *Command, timeout time.Duration) (*Command, error) {
	opaque := c.srv.opaque.Add(1)
	req.Opaque = opaque
	req.Flag &^= FlagResponse | FlagOneway
	ch := make(chan *Command, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		req.release()
		return nil, ErrConnClosed
	}
	if c.pending == nil {
		c.pending = make(map[int32]chan *Command)
	}
	c.pending[opaque] = ch
	c.mu.Unlock()
	if err := c.Send(req); err != nil {
		c.forget(opaque)
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrConnClosed
		}
		return resp, nil
	case <-t.C:
		c.forget(opaque)
		return nil, ErrTimeout
	}
}

func (c *serverConn) forget(opaque int32) {
	c.mu.Lock()
	delete(c.pending, opaque)
	c.mu.Unlock()
}

// complete hands a response to the Invoke waiting for it.
func (c *serverConn) complete(resp *Command) {
	c.mu.Lock()
	ch := c.pending[resp.Opaque]
	delete(c.pending, resp.Opaque)
	c.mu.Unlock()
	if ch == nil {
		c.srv.log.Debug("remoting: response matches no request", "peer", c.addr, "opaque", resp.Opaque)
		return
	}
	ch <- resp
}
