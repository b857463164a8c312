package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// ErrOffsetMismatch means the master sent bytes that do not continue the
// slave's log (a gap or an overlap); replication stops rather than store them.
var ErrOffsetMismatch = errors.New("replication: master frame does not continue the local CommitLog")

// ErrStore means the local store refused the master's bytes.
var ErrStore = errors.New("replication: storing the master's bytes failed")

// ErrRefused means the master refused this slave (its log is ahead of the
// master's, or behind the master's oldest segment) and said why.
var ErrRefused = errors.New("replication: the master refused this slave")

// ErrProtocol means the master sent a malformed frame.
var ErrProtocol = errors.New("replication: malformed frame from master")

// SlaveOptions tune a Slave; zero values take the defaults.
type SlaveOptions struct {
	HeartbeatInterval    time.Duration // report at least this often, 5 s
	HousekeepingInterval time.Duration // drop a master silent this long, 20 s
	DialTimeout          time.Duration // 3 s
	MinBackoff           time.Duration // first retry delay, 100 ms
	MaxBackoff           time.Duration // retry delay cap, 5 s (RocketMQ retries every 5 s)
	MaxFrame             int           // largest body accepted, 4 MiB (the Java slave's read buffer)
	// MasterAddr, if set, gives the master's HA address at each connection
	// attempt (a slave learns it from the name servers' answer to its
	// registration when haMasterAddress is not configured); "" means not
	// known yet, and the attempt waits for the next retry.
	MasterAddr func() string
	// BrokerID, if > 0, is announced to the master when connecting, so a
	// controller-mode master knows which replica acknowledges what.
	BrokerID int64
	Logger   *slog.Logger
}

func (o *SlaveOptions) defaults() {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HousekeepingInterval <= 0 {
		o.HousekeepingInterval = DefaultHousekeepingInterval
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 3 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Slave copies a master's CommitLog into store.
type Slave struct {
	store *engine.Store
	addr  string
	opts  SlaveOptions
	log   *slog.Logger
}

// NewSlave returns a slave of the master at masterAddr (its HA port).
func NewSlave(store *engine.Store, masterAddr string, opts SlaveOptions) *Slave {
	opts.defaults()
	return &Slave{store: store, addr: masterAddr, opts: opts,
		log: opts.Logger.With("component", "replication-slave")}
}

// Run replicates until ctx ends (returning nil) or the stream cannot be
// stored safely (returning an error wrapping ErrOffsetMismatch, ErrProtocol
// ErrStore or ErrRefused). Lost connections are retried with a backoff doubling from
// MinBackoff up to MaxBackoff, resuming from the local end.
func (s *Slave) Run(ctx context.Context) error {
	backoff := s.opts.MinBackoff
	d := net.Dialer{Timeout: s.opts.DialTimeout}
	for {
		if ctx.Err() != nil {
			return nil
		}
		addr := s.addr
		if s.opts.MasterAddr != nil {
			addr = s.opts.MasterAddr()
		}
		var conn net.Conn
		var err error
		if addr == "" {
			err = errors.New("master HA address not known yet")
		} else {
			conn, err = d.DialContext(ctx, "tcp", addr)
		}
		if err == nil {
			backoff = s.opts.MinBackoff
			s.log.Info("connected to master", "master", addr, "local end", s.store.MaxPhysicalOffset())
			err = s.session(ctx, conn)
			if errors.Is(err, ErrOffsetMismatch) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrStore) || errors.Is(err, ErrRefused) {
				s.log.Error("replication stopped", "err", err)
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if addr == "" {
			s.log.Debug("waiting for the master's HA address", "in", backoff)
		} else {
			s.log.Warn("replication connection lost; retrying", "master", addr, "err", err, "in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// session runs one connection: a reporter goroutine writes the local end at
// connect, after each stored chunk and every HeartbeatInterval; this
// goroutine reads and stores frames.
func (s *Slave) session(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	kick := make(chan struct{}, 1)
	done := make(chan struct{})
	reporterDone := make(chan struct{})
	defer func() { close(done); <-reporterDone }()
	go func() {
		defer close(reporterDone)
		var buf [8]byte
		t := time.NewTicker(s.opts.HeartbeatInterval)
		defer t.Stop()
		if s.opts.BrokerID > 0 {
			var hello [16]byte
			binary.BigEndian.PutUint64(hello[0:8], math.MaxUint64-1) // helloMarker, -2
			binary.BigEndian.PutUint64(hello[8:16], uint64(s.opts.BrokerID))
			conn.SetWriteDeadline(time.Now().Add(s.opts.HousekeepingInterval))
			if _, err := conn.Write(hello[:]); err != nil {
				conn.Close()
				return
			}
		}
		for {
			binary.BigEndian.PutUint64(buf[:], uint64(s.store.MaxPhysicalOffset()))
			conn.SetWriteDeadline(time.Now().Add(s.opts.HousekeepingInterval))
			if _, err := conn.Write(buf[:]); err != nil {
				conn.Close()
				return
			}
			select {
			case <-done:
				return
			case <-kick:
			case <-t.C:
			}
		}
	}()

	var hdr [headerSize]byte
	maxRecord := s.store.CommitLog().Options().SegmentSize
	// The master cuts frames anywhere inside records; the slave stores only
	// whole records (a blank filler counts as one), keeping the partial tail
	// in pending, so its log always ends on a record boundary like a
	// master's. pending starts at the local end; on reconnect it is dropped
	// and the master resends from the local end.
	var pending []byte
	for {
		conn.SetReadDeadline(time.Now().Add(s.opts.HousekeepingInterval))
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		off := int64(binary.BigEndian.Uint64(hdr[0:8]))
		n := int(int32(binary.BigEndian.Uint32(hdr[8:12])))
		if off == refusalOffset && n >= 0 && n <= maxRefusal {
			reason := make([]byte, n)
			if _, err := io.ReadFull(conn, reason); err != nil {
				return err
			}
			return fmt.Errorf("%w: %s", ErrRefused, reason)
		}
		if n < 0 || n > s.opts.MaxFrame || off < 0 {
			return fmt.Errorf("%w: offset %d, body of %d bytes (max %d)", ErrProtocol, off, n, s.opts.MaxFrame)
		}
		local := s.store.MaxPhysicalOffset()
		// An empty slave takes the master's starting point (a segment base;
		// AppendRaw refuses anything else); otherwise frames must continue
		// exactly what the slave holds.
		if want := local + int64(len(pending)); (local != 0 || len(pending) != 0) && off != want {
			kind := "gap"
			if off < want {
				kind = "overlap"
			}
			return fmt.Errorf("%w: %s: frame at %d, local CommitLog ends at %d (+%d bytes of a partial record)", ErrOffsetMismatch, kind, off, local, len(pending))
		}
		if n == 0 {
			continue // heartbeat
		}
		start := off - int64(len(pending)) // where pending begins in the log
		mark := len(pending)
		pending = slices.Grow(pending, n)[:mark+n]
		if _, err := io.ReadFull(conn, pending[mark:]); err != nil {
			return err
		}
		whole := 0
		for {
			size, _, ok := message.PeekHeader(pending[whole:])
			if !ok {
				break
			}
			if size < message.BlankMinSize || int64(size) > maxRecord {
				return fmt.Errorf("%w: record of %d bytes at %d", ErrProtocol, size, start+int64(whole))
			}
			if int(size) > len(pending)-whole {
				break
			}
			whole += int(size)
		}
		if whole == 0 {
			continue
		}
		if err := s.store.AppendRaw(start, pending[:whole]); err != nil {
			return fmt.Errorf("%w: %d bytes at %d: %w", ErrStore, whole, start, err)
		}
		pending = pending[:copy(pending, pending[whole:])]
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}
