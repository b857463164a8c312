package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// Server is a running MQTT front end.
type Server struct {
	opts  Options
	log   *slog.Logger
	store *engine.Store // nil when !opts.Persist
	mq    *mochi.Server
	auth  *AuthHook
	acl   bool // an auth file is loaded: deliveries are checked against it too
	dir   string

	tcp    *listeners.TCP
	wsAddr net.Addr

	uniq    message.UniqKeys
	topicMu sync.Mutex // serialises topic creation
	pubs    sync.Pool  // *pubOp

	// retMu serialises retained publishes with snapshots of the retained
	// set (retained.go).
	retMu sync.Mutex
	ret   retainedState

	mu       sync.Mutex
	sessions map[string]*session        // by client id: connected clients and persistent sessions
	groups   map[string]*feed           // shared subscriptions by share name
	wills    map[*mochi.Client]willInfo // wills taken over from mochi, by connection
	delayed  map[string]*time.Timer     // wills waiting for their delay, by client id
	feedsMu  sync.Mutex                 // guards feedSet; taken last
	feedSet  map[*feed]bool             // every running feed
	feeds    atomic.Pointer[[]*feed]    // feedSet as a list, for Notify

	ackers sync.Map // *mochi.Client → *acker: QoS 1 PUBACK writers (acker.go)

	closing atomic.Bool
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Start serves MQTT on the configured listeners. With opts.Persist, store
// holds every message and the session state lives in opts.Dir; without it
// store may be nil.
func Start(opts Options, store *engine.Store) (*Server, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Persist && store == nil {
		return nil, errors.New("mqtt: Persist needs a store")
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("component", "mqtt"),
		sessions: map[string]*session{},
		groups:   map[string]*feed{},
		wills:    map[*mochi.Client]willInfo{},
		delayed:  map[string]*time.Timer{},
		feedSet:  map[*feed]bool{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	if opts.Persist {
		s.store = store
		s.dir = opts.Dir
		if s.dir == "" {
			// The metadata lives in <root>/config; MQTT state goes beside it.
			s.dir = filepath.Join(filepath.Dir(store.Meta().Dir()), "mqtt")
		}
		if err := os.MkdirAll(filepath.Join(s.dir, "sessions"), 0o755); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	}
	s.uniq.Init(hostIP())

	var a *Auth
	if opts.AuthFile != "" {
		var err error
		if a, err = LoadAuth(opts.AuthFile); err != nil {
			return nil, err
		}
		s.acl = true
	}
	var addrs []string
	for _, addr := range []string{opts.Addr, opts.WSAddr} {
		if addr != "" {
			addrs = append(addrs, addr)
		}
	}
	auth, err := ChooseAuthHook(a, addrs, opts.AllowAnonymous)
	if err != nil {
		return nil, err
	}
	s.auth = auth

	caps := mochi.NewDefaultServerCapabilities()
	// mochi reads a packet whole before any hook sees it: this bound keeps
	// a hostile length from allocating much more than MaxPayload.
	caps.MaximumPacketSize = uint32(opts.MaxPayload + packetHeadroom)
	// By default mochi copies a publish's properties into its PUBACK, and
	// a PUBACK with properties then carries reason code 0x01 (the QoS),
	// which is no PUBACK code: mqtt.js rejects it and the publish of any
	// message with user properties times out.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	if opts.Persist {
		// Without a forced expiry, mochi neither forgets retained messages
		// after a day nor drops in-flight deliveries of a long-offline
		// session; MQTT 5 message expiry still applies.
		caps.MaximumMessageExpiryInterval = 0
	}
	s.mq = mochi.New(&mochi.Options{Capabilities: caps, Logger: s.log, InlineClient: false})
	if err := s.mq.AddHook(auth, nil); err != nil {
		return nil, err
	}
	if err := s.mq.AddHook(&hook{s: s}, nil); err != nil {
		return nil, err
	}
	if opts.Persist {
		if err := s.loadSessions(); err != nil {
			return nil, err
		}
		if err := s.loadRetained(); err != nil {
			return nil, err
		}
	}

	var tlsConf *tls.Config
	if opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("mqtt: TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if opts.Addr != "" {
		s.tcp = listeners.NewTCP(listeners.Config{Type: "tcp", ID: "tcp", Address: opts.Addr, TLSConfig: tlsConf})
		if err := s.mq.AddListener(s.tcp); err != nil {
			return nil, fmt.Errorf("mqtt: cannot listen on %s: %w", opts.Addr, err)
		}
	}
	if opts.WSAddr != "" {
		// mochi's WebSocket listener binds in the background and only logs
		// a failure; trying the address first turns "in use" into an error.
		ln, err := net.Listen("tcp", opts.WSAddr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("mqtt: cannot listen on %s: %w", opts.WSAddr, err)
		}
		s.wsAddr = ln.Addr()
		ln.Close()
		ws := listeners.NewWebsocket(listeners.Config{Type: "ws", ID: "ws", Address: s.wsAddr.String(), TLSConfig: tlsConf})
		if err := s.mq.AddListener(ws); err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("mqtt: cannot listen on %s: %w", opts.WSAddr, err)
		}
	}
	if err := s.mq.Serve(); err != nil {
		s.closeListeners()
		return nil, err
	}
	if s.wsAddr != nil {
		// mochi binds the WebSocket port on a goroutine of its own: Start
		// returns once it accepts, so a client started right after can
		// connect.
		if err := waitAccepting(s.wsAddr.String(), 2*time.Second); err != nil {
			s.mq.Close()
			return nil, fmt.Errorf("mqtt: WebSocket listener %s: %w", s.wsAddr, err)
		}
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.loop() }()
	s.log.Info("mqtt listening", "tcp", s.Addr(), "ws", s.wsAddr, "tls", tlsConf != nil, "persist", opts.Persist,
		"max_payload", opts.MaxPayload, "auth_file", opts.AuthFile, "read_only", opts.ReadOnly)
	return s, nil
}

func (s *Server) closeListeners() {
	s.mq.Listeners.CloseAll(func(string) {})
}

// Addr is the TCP listener's bound address (nil without one).
func (s *Server) Addr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", s.tcp.Address())
	if err != nil {
		return nil
	}
	return addr
}

// WSAddr is the WebSocket listener's address (nil without one).
func (s *Server) WSAddr() net.Addr { return s.wsAddr }

// Notify tells the subscribers' feeds that new messages are readable. The
// engine's dispatcher calls it (Broker.OnDispatch); it never blocks.
func (s *Server) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop fans Notify out to the feeds, so the dispatcher does O(1) work, and
// once a second wakes every feed (topic discovery, saving positions) and
// saves the retained set if it changed.
func (s *Server) loop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
			s.kickAll()
		case <-t.C:
			s.kickAll()
			if s.store != nil {
				if err := s.saveRetained(false); err != nil {
					s.log.Error("cannot save retained messages", "err", err)
				}
			}
		}
	}
}

func (s *Server) kickAll() {
	if p := s.feeds.Load(); p != nil {
		for _, f := range *p {
			f.kick()
		}
	}
}

// addFeed and removeFeed maintain the list Notify walks.
func (s *Server) addFeed(f *feed) {
	s.feedsMu.Lock()
	defer s.feedsMu.Unlock()
	s.feedSet[f] = true
	s.publishFeedsLocked()
}

func (s *Server) removeFeed(f *feed) {
	s.feedsMu.Lock()
	defer s.feedsMu.Unlock()
	delete(s.feedSet, f)
	s.publishFeedsLocked()
}

func (s *Server) publishFeedsLocked() {
	list := make([]*feed, 0, len(s.feedSet))
	for f := range s.feedSet {
		list = append(list, f)
	}
	s.feeds.Store(&list)
}

// allFeeds lists the running feeds.
func (s *Server) allFeeds() []*feed {
	if p := s.feeds.Load(); p != nil {
		return *p
	}
	return nil
}

// Close disconnects every client, stops the feeds after they saved their
// positions, and saves the retained set. The store stays open; the caller
// closes it afterwards.
func (s *Server) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	// mochi disconnects every client and waits for their goroutines, so
	// no hook runs after this.
	err := s.mq.Close()
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	for _, t := range s.delayed {
		t.Stop()
	}
	s.mu.Unlock()
	for _, f := range s.allFeeds() {
		f.close()
	}
	if s.store != nil {
		s.mu.Lock()
		sessions := make([]*session, 0, len(s.sessions))
		for _, ss := range s.sessions {
			sessions = append(sessions, ss)
		}
		s.mu.Unlock()
		for _, ss := range sessions {
			if serr := ss.save(); serr != nil && err == nil {
				err = serr
			}
		}
		if rerr := s.saveRetained(true); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// waitAccepting dials addr until a connection succeeds or d passes.
func waitAccepting(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
