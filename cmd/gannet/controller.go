package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gannetmq/gannet/controller"
)

// controllerFlags are the settings of a controller, standalone
// (gannet controller --id ...) or inside a name server (gannet namesrv
// --controller --controller-id ...): the same flags with a prefix.
type controllerFlags struct {
	prefix                         string
	enable                         *bool // only with a prefix: --controller turns it on
	id, raftAddr, rpcAddr, peers   *string
	dir                            *string
	unclean                        *bool
	heartbeatTimeout, scanInterval *time.Duration
}

func addControllerFlags(fs *flag.FlagSet, prefix string) *controllerFlags {
	f := &controllerFlags{prefix: prefix}
	if prefix != "" {
		f.enable = fs.Bool(strings.TrimSuffix(prefix, "-"), false,
			"also run a controller (master election for brokers in controller mode), configured by the --"+prefix+"* flags")
	}
	f.id = fs.String(prefix+"id", "c1", "this controller's id, as named in --"+prefix+"peers")
	f.raftAddr = fs.String(prefix+"raft-addr", "127.0.0.1:19877", "host:port for raft traffic between controllers (must be reachable by the peers)")
	f.rpcAddr = fs.String(prefix+"rpc-addr", ":19876", "address brokers and admins reach the controller on (RocketMQ's controller port)")
	f.peers = fs.String(prefix+"peers", "",
		"every controller, this one included: id=RAFTADDR/RPCADDR,... (empty: a single controller, development mode)")
	f.dir = fs.String(prefix+"dir", "", "directory of the raft log and snapshots (required)")
	f.unclean = fs.Bool(prefix+"elect-unclean", false,
		"when no SyncStateSet member is alive, elect any live broker (enableElectUncleanMaster; may lose acknowledged messages)")
	f.heartbeatTimeout = fs.Duration(prefix+"broker-timeout", controller.DefaultBrokerHeartbeatTimeout,
		"a broker silent this long is dead (RocketMQ's controllerHeartBeatTimeoutMills)")
	f.scanInterval = fs.Duration(prefix+"scan-interval", controller.DefaultScanInterval, "how often the leader looks for dead masters")
	return f
}

func (f *controllerFlags) config(logger *slog.Logger) (controller.Config, error) {
	if *f.dir == "" {
		return controller.Config{}, fmt.Errorf("--%sdir is required", f.prefix)
	}
	peers, err := parsePeers(*f.peers)
	if err != nil {
		return controller.Config{}, fmt.Errorf("--%speers: %w", f.prefix, err)
	}
	return controller.Config{
		ID: *f.id, RaftAddr: *f.raftAddr, RPCAddr: *f.rpcAddr, Peers: peers, Dir: *f.dir,
		BrokerHeartbeatTimeout:   *f.heartbeatTimeout,
		ScanInterval:             *f.scanInterval,
		EnableElectUncleanMaster: *f.unclean,
		Logger:                   logger,
	}, nil
}

// parsePeers reads id=RAFTADDR/RPCADDR,... ("" is no peers).
func parsePeers(s string) ([]controller.Peer, error) {
	var peers []controller.Peer
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		id, addrs, ok := strings.Cut(strings.TrimSpace(item), "=")
		raftAddr, rpcAddr, ok2 := strings.Cut(addrs, "/")
		if !ok || !ok2 || id == "" || raftAddr == "" || rpcAddr == "" {
			return nil, fmt.Errorf("%q: want id=RAFTADDR/RPCADDR", item)
		}
		peers = append(peers, controller.Peer{ID: id, RaftAddr: raftAddr, RPCAddr: rpcAddr})
	}
	return peers, nil
}

func startController(f *controllerFlags, logger *slog.Logger) (*controller.Controller, error) {
	cfg, err := f.config(logger)
	if err != nil {
		return nil, err
	}
	ctl, err := controller.Start(cfg)
	if err != nil {
		return nil, err
	}
	mode := fmt.Sprintf("%d controllers", max(len(cfg.Peers), 1))
	if len(cfg.Peers) <= 1 {
		mode = "single controller, development mode"
	}
	fmt.Printf("controller %s listening on %s (raft %s, %s, data in %s)\n", cfg.ID, ctl.RPCAddr(), cfg.RaftAddr, mode, cfg.Dir)
	return ctl, nil
}

// startEmbeddedController starts the controller a name server runs with
// --controller (RocketMQ's enableControllerInNamesrv), on its own RPC
// address. It returns the function that stops it (a no-op without
// --controller); false means it failed and the message is printed.
func startEmbeddedController(f *controllerFlags, logger *slog.Logger) (func(), bool) {
	if f.enable == nil || !*f.enable {
		return func() {}, true
	}
	ctl, err := startController(f, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet namesrv: controller:", err)
		return nil, false
	}
	return func() {
		if err := ctl.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "gannet namesrv: controller shutdown:", err)
		}
	}, true
}

// runController: gannet controller --id c1 --raft-addr HOST:PORT --rpc-addr HOST:PORT
// --peers c1=RAFT/RPC,c2=... --dir DIR [--elect-unclean]
func runController(args []string) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	cf := addControllerFlags(fs, "")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := newLogger(*level)
	if err == nil {
		_, err = cf.config(logger)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet controller:", err)
		return 2
	}
	ctl, err := startController(cf, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet controller:", err)
		return 1
	}
	waitForSignal()
	if err := ctl.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet controller: shutdown:", err)
		return 1
	}
	return 0
}
