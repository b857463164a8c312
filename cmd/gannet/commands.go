package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gannetmq/gannet/engine"

	"github.com/gannetmq/gannet/perf"
	"github.com/gannetmq/gannet/protocols/mqtt"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
)

// commonFlags are the flags every server command takes: the log level and
// the perf layer's (--http-addr, --profile, --profile-dir).
type commonFlags struct {
	level *string
	perf  perf.Config
}

func addCommonFlags(fs *flag.FlagSet, httpDefault string) *commonFlags {
	c := &commonFlags{level: fs.String("log-level", "info", "debug, info, warn or error")}
	c.perf.AddFlags(fs, httpDefault)
	return c
}

// parse parses args and builds the logger. A non-zero exit status means
// the flags were bad and the message is printed.
func (c *commonFlags) parse(fs *flag.FlagSet, args []string) (*slog.Logger, int) {
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	logger, err := newLogger(*c.level)
	if err == nil {
		err = c.perf.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gannet %s: %v\n", fs.Name(), err)
		return nil, 2
	}
	return logger, 0
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// startPerf starts the profile and the /metrics and /debug/pprof/
// listener of a server command whose flags were already validated. The
// caller defers p.Close and also calls it right after the shutdown signal:
// the profile is written before the servers close, and Close is
// idempotent.
func startPerf(name string, pc perf.Config, logger *slog.Logger) (*perf.Perf, bool) {
	p, err := perf.Start(pc, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gannet %s: %v\n", name, err)
		return nil, false
	}
	if a := p.HTTPAddr(); a != nil {
		fmt.Printf("metrics on http://%s/metrics, profiles on http://%s/debug/pprof/\n", a, a)
	}
	if prof := p.Profile(); prof != nil {
		fmt.Printf("%s profile goes to %s on shutdown\n", prof.Kind(), prof.Path())
	}
	return p, true
}

// stopPerf writes the profile and closes the listener; a failure there is
// reported but does not change the exit status of a clean shutdown.
func stopPerf(name string, p *perf.Perf) {
	if err := p.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "gannet %s: %v\n", name, err)
	}
	if prof := p.Profile(); prof != nil {
		fmt.Printf("%s profile written to %s\n", prof.Kind(), prof.Path())
	}
}

// waitForSignal blocks until SIGINT or SIGTERM.
func waitForSignal() os.Signal {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return syscall.SIGTERM
}

// runNamesrv: gannet namesrv [--listen ADDR] [--http-addr ADDR] [--profile KIND]
func runNamesrv(args []string) int {
	fs := flag.NewFlagSet("namesrv", flag.ContinueOnError)
	listen := fs.String("listen", ":9876", "address to serve the name server on")
	common := addCommonFlags(fs, perf.DefaultNamesrvHTTPAddr)
	ctlFlags := addControllerFlags(fs, "controller-") // --controller: embedded controller (controller.go)
	logger, rc := common.parse(fs, args)
	if rc != 0 {
		return rc
	}
	pc := common.perf
	p, ok := startPerf("namesrv", pc, logger)
	if !ok {
		return 1
	}
	defer p.Close()
	ns, err := server.StartNameServer(*listen, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet namesrv:", err)
		return 1
	}
	if err := p.Register(perf.NewRemotingCollector("namesrv", ns.RemotingMetrics)); err != nil {
		ns.Close()
		fmt.Fprintln(os.Stderr, "gannet namesrv:", err)
		return 1
	}
	fmt.Printf("name server listening on %s\n", ns.Addr())
	stopController, ok := startEmbeddedController(ctlFlags, logger)
	if !ok {
		ns.Close()
		return 1
	}
	defer stopController()
	waitForSignal()
	stopPerf("namesrv", p)
	if err := ns.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet namesrv: shutdown:", err)
		return 1
	}
	return 0
}

// parseFlush reads a --flush value: sync or async (or RocketMQ's
// SYNC_FLUSH / ASYNC_FLUSH, any case).
func parseFlush(v string) (engine.Flush, bool) {
	switch strings.ToLower(v) {
	case "sync", "sync_flush":
		return engine.SyncFlush, true
	case "async", "async_flush":
		return engine.AsyncFlush, true
	}
	return engine.AsyncFlush, false
}

// overrides collects repeated --set key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

// runBroker: gannet broker [-n NAMESRV] [-c broker.properties] [-p] [--set key=value]...
func runBroker(args []string) int {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	namesrvAddr := fs.String("n", "", "name server addresses, host:port;host:port (overrides namesrvAddr)")
	confFile := fs.String("c", "", "broker.properties file")
	printConf := fs.Bool("p", false, "print the effective configuration and exit")
	var sets overrides
	fs.Var(&sets, "set", "override a broker.properties key: --set key=value (repeatable)")
	mf := addMQTTFlags(fs, false)
	common := addCommonFlags(fs, perf.DefaultBrokerHTTPAddr)
	logger, rc := common.parse(fs, args)
	if rc != 0 {
		return rc
	}
	pc := common.perf
	var err error
	cfg := config.Default()
	if *confFile != "" {
		var warnings []config.Warning
		cfg, warnings, err = config.Load(*confFile)
		for _, w := range warnings {
			logger.Warn("broker.properties", "warning", w.String())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gannet broker:", err) // the error names the file
			return 1
		}
	}
	if *namesrvAddr != "" {
		sets = append(sets, "namesrvAddr="+*namesrvAddr)
	}
	if err := cfg.Apply(sets); err != nil {
		fmt.Fprintln(os.Stderr, "gannet broker:", err)
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet broker: invalid configuration:", err)
		return 1
	}
	if *printConf {
		if err := cfg.Print(os.Stdout); err != nil {
			return 1
		}
		return 0
	}
	p, ok := startPerf("broker", pc, logger)
	if !ok {
		return 1
	}
	defer p.Close()
	if cfg.EnableControllerMode {
		return runControlledBroker(cfg, p, logger)
	}
	start := time.Now()
	bs, err := server.StartBroker(&cfg, fmt.Sprintf(":%d", cfg.ListenPort), logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet broker:", err)
		return 1
	}
	if err := registerBroker(p, bs); err != nil {
		bs.Close()
		fmt.Fprintln(os.Stderr, "gannet broker:", err)
		return 1
	}
	ms, err := startMQTT(mf, bs, &cfg, logger)
	if err != nil {
		bs.Close()
		fmt.Fprintln(os.Stderr, "gannet broker:", err)
		return 1
	}
	fmt.Printf("broker %s (%s) serving on %s, store %s, started in %v\n", cfg.BrokerName, cfg.BrokerRole, cfg.BrokerAddr(), cfg.StorePathRootDir, time.Since(start).Round(time.Millisecond))
	waitForSignal()
	stopPerf("broker", p)
	closeMQTT(ms, "broker")
	if err := bs.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet broker: shutdown:", err)
		return 1
	}
	return 0
}

// runStandalone: name server and broker in one process with embedded
// defaults, what `make run` starts.
func runStandalone(args []string) int {
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	data := fs.String("data", "./data", "store directory")
	nsAddr := fs.String("namesrv-addr", "127.0.0.1:9876", "name server address")
	brokerAddr := fs.String("broker-addr", "127.0.0.1:10911", "broker address (its port goes into message ids)")
	flush := fs.String("flush", "async", "flush mode: sync or async")
	var sets overrides
	fs.Var(&sets, "set", "override a broker.properties key: --set key=value (repeatable)")
	mf := addMQTTFlags(fs, true)
	common := addCommonFlags(fs, perf.DefaultBrokerHTTPAddr)
	logger, rc := common.parse(fs, args)
	if rc != 0 {
		return rc
	}
	pc := common.perf
	mode, ok := parseFlush(*flush)
	if !ok {
		fmt.Fprintf(os.Stderr, "gannet standalone: --flush %q: want sync or async\n", *flush)
		return 2
	}
	cfg, err := server.StandaloneConfig(*data, *nsAddr, *brokerAddr, mode.String(), sets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet standalone:", err)
		return 2
	}
	p, ok := startPerf("standalone", pc, logger)
	if !ok {
		return 1
	}
	defer p.Close()
	start := time.Now()
	ns, err := server.StartNameServer(*nsAddr, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet standalone:", err)
		return 1
	}
	bs, err := server.StartBroker(&cfg, *brokerAddr, logger)
	if err != nil {
		ns.Close()
		fmt.Fprintln(os.Stderr, "gannet standalone:", err)
		return 1
	}
	err = registerBroker(p, bs)
	if err == nil {
		err = p.Register(perf.NewRemotingCollector("namesrv", ns.RemotingMetrics))
	}
	var ms *mqtt.Server
	if err == nil {
		ms, err = startMQTT(mf, bs, &cfg, logger)
	}
	if err != nil {
		bs.Close()
		ns.Close()
		fmt.Fprintln(os.Stderr, "gannet standalone:", err)
		return 1
	}
	fmt.Printf("gannet standalone ready in %v: name server %s, broker %s (%s), data in %s\n",
		time.Since(start).Round(time.Millisecond), ns.Addr(), bs.Addr(), cfg.FlushDiskType, cfg.StorePathRootDir)
	fmt.Printf("RocketMQ clients: nameSrv / NAMESRV_ADDR = %s\n", *nsAddr)
	waitForSignal()
	fmt.Println("shutting down")
	stopPerf("standalone", p)
	closeMQTT(ms, "standalone")
	err = bs.Close()
	if nerr := ns.Close(); err == nil {
		err = nerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet standalone: shutdown:", err)
		return 1
	}
	return 0
}

// registerBroker exports a running broker's store, request processors
// and remoting server.
func registerBroker(p *perf.Perf, bs *server.Broker) error {
	return p.Register(
		perf.NewEngineCollector(bs.Store().Metrics),
		perf.NewBrokerCollector(bs.Broker().Metrics, bs.Broker().ConsumerLag),
		perf.NewRemotingCollector("broker", bs.RemotingMetrics),
		perf.NewReplicationCollector(func() (int, int64) { m := bs.ReplicationMetrics(); return m.Slaves, m.LagBytes }),
	)
}
