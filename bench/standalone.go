package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
)

// StandaloneOptions configure StartStandalone.
type StandaloneOptions struct {
	Dir    string   // parent of the temporary data directory (default: the system one)
	Flush  string   // "async" (default) or "sync"
	Sets   []string // broker.properties overrides
	Logger *slog.Logger
}

// Standalone is a name server and a broker running in this process on
// loopback ports, with their store in a temporary directory that Close
// removes.
type Standalone struct {
	NameServer string // host:port
	Broker     string // host:port
	DataDir    string
	// Startup is the time from the start until the broker answered a
	// request; Registered until the name server listed it.
	Startup    time.Duration
	Registered time.Duration

	ns *server.NameServer
	bs *server.Broker
}

// standaloneWait bounds how long StartStandalone waits for the broker to
// serve and to register.
const standaloneWait = 30 * time.Second

// StartStandalone starts a name server on 127.0.0.1, a broker on a free
// loopback port registered with it, and waits until the broker serves and
// the name server lists it.
func StartStandalone(o StandaloneOptions) (*Standalone, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	flushType := "ASYNC_FLUSH"
	switch o.Flush {
	case "", "async":
	case "sync":
		flushType = "SYNC_FLUSH"
	default:
		return nil, fmt.Errorf("%w: flush %q: want async or sync", errSetup, o.Flush)
	}
	data, err := os.MkdirTemp(o.Dir, "gannet-bench-")
	if err != nil {
		return nil, fmt.Errorf("%w: standalone data directory: %w", errSetup, err)
	}
	start := time.Now()
	s := &Standalone{DataDir: data}
	fail := func(err error) (*Standalone, error) {
		s.Close()
		return nil, fmt.Errorf("%w: standalone: %w", errSetup, err)
	}
	s.ns, err = server.StartNameServer("127.0.0.1:0", logger)
	if err != nil {
		return fail(err)
	}
	s.NameServer = s.ns.Addr().String()
	// The broker needs its port before it starts (it goes into message
	// ids), so it takes one that was free a moment ago, and another if
	// that one was taken meanwhile.
	for attempt := 0; ; attempt++ {
		port, perr := freePort()
		if perr != nil {
			return fail(perr)
		}
		s.Broker = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cfg, cerr := server.StandaloneConfig(data, s.NameServer, s.Broker, flushType, o.Sets)
		if cerr != nil {
			return fail(cerr)
		}
		s.bs, err = server.StartBroker(&cfg, s.Broker, logger)
		if err == nil {
			break
		}
		if attempt == 2 || !strings.Contains(err.Error(), "listen") {
			return fail(err)
		}
	}
	cl := remoting.NewClient(remoting.ClientOptions{Logger: logger})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), standaloneWait)
	defer cancel()
	if err := waitFor(ctx, func(ctx context.Context) bool {
		resp, err := cl.Invoke(ctx, s.Broker, remoting.NewRequest(remoting.ReqGetBrokerRuntimeInfo, nil, nil))
		return err == nil && resp.Code == remoting.ResSuccess
	}); err != nil {
		return fail(fmt.Errorf("broker %s does not answer: %w", s.Broker, err))
	}
	s.Startup = time.Since(start)
	if err := waitFor(ctx, func(ctx context.Context) bool {
		ci, err := clusterInfo(ctx, cl, s.NameServer)
		return err == nil && len(ci) > 0
	}); err != nil {
		return fail(fmt.Errorf("broker %s never registered with the name server: %w", s.Broker, err))
	}
	s.Registered = time.Since(start)
	return s, nil
}

// waitFor polls cond every 5 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func(context.Context) bool) error {
	for {
		if cond(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// Close stops the broker and the name server and removes the data.
func (s *Standalone) Close() error {
	var errs []error
	if s.bs != nil {
		errs = append(errs, s.bs.Close())
		s.bs = nil
	}
	if s.ns != nil {
		errs = append(errs, s.ns.Close())
		s.ns = nil
	}
	if s.DataDir != "" {
		errs = append(errs, os.RemoveAll(s.DataDir))
		s.DataDir = ""
	}
	return errors.Join(errs...)
}
