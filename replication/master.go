package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine"
)

// RocketMQ's defaults (MessageStoreConfig).
const (
	// DefaultBatchSize is haTransferBatchSize. RocketMQ's is 32 KiB; a
	// slave catching up over loopback stored 360-375 MB/s with 32 KiB
	// frames and 670-820 MB/s with 1 MiB frames (BenchmarkCatchUp), and a
	// frame never waits to fill: new bytes go out at once.
	DefaultBatchSize            = 1 << 20
	DefaultHeartbeatInterval    = 5 * time.Second  // haSendHeartbeatInterval
	DefaultHousekeepingInterval = 20 * time.Second // haHousekeepingInterval
	headerSize                  = 12
)

// ErrClosed is returned by WaitForSlave when the master shuts down.
var ErrClosed = errors.New("replication: master closed")

// ErrTimeout is what Await reports when no slave acknowledged in time.
var ErrTimeout = errors.New("replication: no slave acknowledged in time")

// MasterOptions tune a Master; zero values take the defaults.
type MasterOptions struct {
	BatchSize            int           // max body bytes per frame, 1 MiB
	HeartbeatInterval    time.Duration // empty frame after this much idle time, 5 s
	HousekeepingInterval time.Duration // close a slave silent this long, 20 s
	PollInterval         time.Duration // how often an idle stream looks for new bytes, 1 ms
	Logger               *slog.Logger
}

func (o *MasterOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HousekeepingInterval <= 0 {
		o.HousekeepingInterval = DefaultHousekeepingInterval
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Master serves the CommitLog of store to slaves.
type Master struct {
	store *engine.Store
	opts  MasterOptions
	log   *slog.Logger

	mu        sync.Mutex // serializes Step and guards the maps below
	sm        *Machine
	conns     map[uint64]*slaveConn
	waiters   map[uint64]func(error)
	acks      map[int64]int64 // broker id → last reported offset, slaves that said hello
	setWaits  map[uint64]*setWaiter
	listeners map[net.Listener]struct{}
	nextID    uint64
	closed    bool
	wg        sync.WaitGroup
}

type slaveConn struct {
	id      uint64
	conn    net.Conn
	start   chan int64
	done    chan struct{}
	started bool  // a stream goroutine writes to conn; guarded by Master.mu
	broker  int64 // the slave's broker id from its hello, 0 if it sent none; guarded by Master.mu
}

// helloMarker, where a slave's first offset report would be, announces a
// Gannet slave's broker id (the next 8 bytes): a controller-mode master
// tracks which replica acknowledged what, for its SyncStateSet. Offsets
// are never negative, so a classic slave is never mistaken for one.
const helloMarker = -2

// setWaiter waits until every broker of ids has acknowledged offset.
type setWaiter struct {
	offset int64
	ids    []int64
	fn     func(error)
}

// NewMaster returns a master for store; call Serve to accept slaves.
func NewMaster(store *engine.Store, opts MasterOptions) *Master {
	opts.defaults()
	return &Master{
		store:     store,
		opts:      opts,
		log:       opts.Logger.With("component", "replication-master"),
		sm:        NewMachine(),
		conns:     map[uint64]*slaveConn{},
		waiters:   map[uint64]func(error){},
		acks:      map[int64]int64{},
		setWaits:  map[uint64]*setWaiter{},
		listeners: map[net.Listener]struct{}{},
	}
}

// step applies ev and performs the resulting actions. Called without m.mu.
func (m *Master) step(ev Event) {
	m.mu.Lock()
	wake := m.stepLocked(ev, nil)
	if ev.Kind == EventReport {
		if c := m.conns[ev.Slave]; c != nil && c.broker != 0 {
			if _, accepted := m.sm.slaves[ev.Slave]; accepted {
				m.acks[c.broker] = ev.Offset
				wake = m.wakeSetsLocked(wake)
			}
		}
	}
	m.mu.Unlock()
	wake.run()
}

// wakeSetsLocked completes the set waiters every member of which has
// acknowledged their offset.
func (m *Master) wakeSetsLocked(wake wakeups) wakeups {
	for id, w := range m.setWaits {
		if m.allAckedLocked(w.ids, w.offset) {
			delete(m.setWaits, id)
			wake = append(wake, wakeup{w.fn, nil})
		}
	}
	return wake
}

func (m *Master) allAckedLocked(ids []int64, offset int64) bool {
	for _, id := range ids {
		if off, ok := m.acks[id]; !ok || off < offset {
			return false
		}
	}
	return true
}

// AwaitAll is Await for a set of replicas: done(nil) once every broker of
// ids (slaves that announced their id) has acknowledged offset. Under
// SYNC_MASTER in controller mode a send waits for the whole SyncStateSet,
// so a master cut off from its replicas cannot acknowledge what the group
// would lose.
func (m *Master) AwaitAll(ids []int64, offset int64, timeout time.Duration, done func(error)) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		done(ErrClosed)
		return
	}
	if m.allAckedLocked(ids, offset) {
		m.mu.Unlock()
		done(nil)
		return
	}
	m.nextID++
	id := m.nextID
	m.setWaits[id] = &setWaiter{offset: offset, ids: ids, fn: done}
	m.mu.Unlock()
	time.AfterFunc(timeout, func() {
		m.mu.Lock()
		_, pending := m.setWaits[id]
		delete(m.setWaits, id)
		m.mu.Unlock()
		if pending {
			done(ErrTimeout)
		}
	})
}

// Acks returns, per slave broker id that announced itself and is
// connected, its last acknowledged CommitLog offset.
func (m *Master) Acks() map[int64]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int64]int64, len(m.acks))
	for id, off := range m.acks {
		out[id] = off
	}
	return out
}

// wakeups are waiter callbacks collected under m.mu and run after it is
// released: a callback answers a client and must not hold up the master.
type wakeups []wakeup

type wakeup struct {
	fn  func(error)
	err error
}

func (w wakeups) run() {
	for _, x := range w {
		x.fn(x.err)
	}
}

func (m *Master) stepLocked(ev Event, wake wakeups) wakeups {
	for _, a := range m.sm.Step(ev) {
		switch a.Kind {
		case ActionStart:
			if c := m.conns[a.Slave]; c != nil {
				c.start <- a.Offset // buffered; only the first report starts a stream
				c.started = true
				m.log.Info("slave connected", "slave", c.conn.RemoteAddr().String(), "reported", ev.Offset, "start", a.Offset)
			}
		case ActionRefuse:
			if c := m.conns[a.Slave]; c != nil {
				if a.Reason != "master closing" {
					m.log.Error("refusing slave", "slave", c.conn.RemoteAddr().String(), "reason", a.Reason)
					if !c.started {
						// Nothing else writes to the connection yet: tell
						// the slave why, so it stops instead of retrying.
						c.conn.SetWriteDeadline(time.Now().Add(time.Second))
						c.conn.Write(refusalFrame(a.Reason))
					}
				}
				c.conn.Close()
			}
		case ActionWake, ActionFail:
			if fn := m.waiters[a.Waiter]; fn != nil {
				delete(m.waiters, a.Waiter)
				var err error
				if a.Kind == ActionFail {
					err = ErrClosed
				}
				wake = append(wake, wakeup{fn, err})
			}
		}
	}
	return wake
}

// Serve accepts slave connections on ln until Close; it returns nil after
// Close and the accept error otherwise.
func (m *Master) Serve(ln net.Listener) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ln.Close()
		return nil
	}
	m.listeners[ln] = struct{}{}
	m.mu.Unlock()
	for {
		conn, err := ln.Accept()
		if err != nil {
			m.mu.Lock()
			closed := m.closed
			delete(m.listeners, ln)
			m.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			conn.Close()
			continue
		}
		m.nextID++
		c := &slaveConn{id: m.nextID, conn: conn, start: make(chan int64, 1), done: make(chan struct{})}
		m.conns[c.id] = c
		m.wg.Add(2)
		m.mu.Unlock()
		go m.readReports(c)
		go m.stream(c)
	}
}

// readReports reads the slave's 8-byte offset reports until the connection
// ends.
func (m *Master) readReports(c *slaveConn) {
	defer m.wg.Done()
	var buf [8]byte
	var err error
	first := true
	for {
		c.conn.SetReadDeadline(time.Now().Add(m.opts.HousekeepingInterval))
		if _, err = io.ReadFull(c.conn, buf[:]); err != nil {
			break
		}
		off := int64(binary.BigEndian.Uint64(buf[:]))
		if first && off == helloMarker {
			if _, err = io.ReadFull(c.conn, buf[:]); err != nil {
				break
			}
			m.mu.Lock()
			c.broker = int64(binary.BigEndian.Uint64(buf[:]))
			m.mu.Unlock()
			continue
		}
		first = false
		cl := m.store.CommitLog()
		m.step(Event{Kind: EventReport, Slave: c.id, Offset: off, MasterMin: cl.MinOffset(), MasterMax: cl.Written()})
	}
	c.conn.Close()
	close(c.done)
	m.mu.Lock()
	delete(m.conns, c.id)
	if c.broker != 0 {
		delete(m.acks, c.broker)
	}
	wake := m.stepLocked(Event{Kind: EventDisconnect, Slave: c.id}, nil)
	m.mu.Unlock()
	wake.run()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		m.log.Warn("slave connection ended", "slave", c.conn.RemoteAddr().String(), "err", err)
	} else if !m.isClosed() {
		m.log.Info("slave disconnected", "slave", c.conn.RemoteAddr().String())
	}
}

// stream sends CommitLog bytes from the start offset the machine chose,
// never past the readable end and never across a segment end in one frame.
// Only readable bytes go out, so under SYNC_FLUSH a slave never holds bytes
// that a master crash could take back (it would then be "ahead" and refused).
func (m *Master) stream(c *slaveConn) {
	defer m.wg.Done()
	defer c.conn.Close()
	var next int64
	select {
	case next = <-c.start:
	case <-c.done:
		return
	}
	cl := m.store.CommitLog()
	var hdr [headerSize]byte
	lastSend := time.Now()
	idle := time.NewTimer(m.opts.PollInterval)
	defer idle.Stop()
	for {
		select {
		case <-c.done:
			return
		default:
		}
		readable := cl.Readable()
		if next >= readable {
			if time.Since(lastSend) >= m.opts.HeartbeatInterval {
				if !m.send(c, &hdr, next, nil) {
					return
				}
				lastSend = time.Now()
			}
			idle.Reset(m.opts.PollInterval)
			select {
			case <-c.done:
				return
			case <-idle.C:
			}
			continue
		}
		seg, err := cl.Pin(next)
		if err != nil {
			m.log.Error("cannot read CommitLog for slave; closing", "slave", c.conn.RemoteAddr().String(), "offset", next, "min", cl.MinOffset(), "err", err)
			return
		}
		end := min(next+int64(m.opts.BatchSize), readable, seg.End())
		ok := m.send(c, &hdr, next, seg.Bytes()[next-seg.Base():end-seg.Base()])
		seg.Release()
		if !ok {
			return
		}
		next, lastSend = end, time.Now()
	}
}

// refusalFrame is the header of a frame at offset -1 followed by the
// reason: a Gannet slave stops replicating and logs it. (The classic
// protocol has no way to say no; its master just closes the connection.)
func refusalFrame(reason string) []byte {
	if len(reason) > maxRefusal {
		reason = reason[:maxRefusal]
	}
	b := make([]byte, headerSize, headerSize+len(reason))
	binary.BigEndian.PutUint64(b[0:8], math.MaxUint64) // -1
	binary.BigEndian.PutUint32(b[8:12], uint32(len(reason)))
	return append(b, reason...)
}

const (
	refusalOffset = -1
	maxRefusal    = 1024
)

func (m *Master) send(c *slaveConn, hdr *[headerSize]byte, off int64, body []byte) bool {
	binary.BigEndian.PutUint64(hdr[0:8], uint64(off))
	binary.BigEndian.PutUint32(hdr[8:12], uint32(len(body)))
	c.conn.SetWriteDeadline(time.Now().Add(m.opts.HousekeepingInterval))
	bufs := net.Buffers{hdr[:], body}
	_, err := bufs.WriteTo(c.conn)
	return err == nil
}

// SlaveOffsets returns each connected slave's address and last reported
// (acknowledged) CommitLog offset.
func (m *Master) SlaveOffsets() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for id, off := range m.sm.Slaves() {
		if c := m.conns[id]; c != nil {
			out[c.conn.RemoteAddr().String()] = off
		}
	}
	return out
}

// WaitForSlave returns nil once some slave has reported an offset ≥ offset,
// ctx.Err() if ctx ends first, ErrClosed if the master closes.
func (m *Master) WaitForSlave(ctx context.Context, offset int64) error {
	ch := make(chan error, 1)
	id := m.register(offset, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		if m.cancel(id) {
			return ctx.Err()
		}
		return <-ch // answered meanwhile
	}
}

// Await calls done once, without blocking the caller: with nil when some
// slave has reported an offset ≥ offset, ErrTimeout after timeout,
// ErrClosed if the master closes. SYNC_MASTER sends complete through it:
// one slave report completes every waiter it covers, a whole group commit.
func (m *Master) Await(offset int64, timeout time.Duration, done func(error)) {
	// A waiter leaves the table under m.mu exactly once, by a report, by
	// Close or by this timer: done runs once.
	id := m.register(offset, done)
	time.AfterFunc(timeout, func() {
		if m.cancel(id) {
			done(ErrTimeout)
		}
	})
}

// register adds a waiter for offset; fn may already have run when it
// returns.
func (m *Master) register(offset int64, fn func(error)) uint64 {
	m.mu.Lock()
	m.nextID++
	id := m.nextID
	m.waiters[id] = fn
	wake := m.stepLocked(Event{Kind: EventWait, Waiter: id, Offset: offset}, nil)
	m.mu.Unlock()
	wake.run()
	return id
}

// cancel removes a pending waiter; false if it was already answered.
func (m *Master) cancel(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, pending := m.waiters[id]; !pending {
		return false
	}
	delete(m.waiters, id)
	m.sm.Step(Event{Kind: EventCancel, Waiter: id})
	return true
}

// InSync reports whether some connected slave has acknowledged up to
// within gap bytes of the master's CommitLog end (RocketMQ's isSlaveOK
// with haMaxGapNotInSync). A SYNC_MASTER send with no slave in sync is
// refused at once rather than left to time out.
func (m *Master) InSync(gap int64) bool {
	end := m.store.CommitLog().Written()
	m.mu.Lock()
	defer m.mu.Unlock()
	best := m.sm.maxAcked()
	return best >= 0 && end-best < gap
}

func (m *Master) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Close stops accepting, closes every slave connection, fails pending
// waiters and waits for the connection goroutines.
func (m *Master) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for ln := range m.listeners {
		ln.Close()
	}
	wake := m.stepLocked(Event{Kind: EventClose}, nil)
	for id, w := range m.setWaits {
		delete(m.setWaits, id)
		wake = append(wake, wakeup{w.fn, ErrClosed})
	}
	for _, c := range m.conns {
		c.conn.Close()
	}
	m.mu.Unlock()
	wake.run()
	m.wg.Wait()
}
