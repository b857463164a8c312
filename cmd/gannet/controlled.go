package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gannetmq/gannet/controller"
	"github.com/gannetmq/gannet/perf"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
)

// controllerLink adapts the controller client to what a controlled broker
// asks: its own heartbeat and its SyncStateSet changes.
type controllerLink struct {
	c   *controller.Client
	cfg config.Broker
}

func view(g controller.GroupState) server.GroupView {
	return server.GroupView{MasterID: g.MasterID, MasterAddr: g.MasterAddr, MasterHAAddr: g.MasterHAAddr,
		Epoch: g.MasterEpoch, SyncStateSet: g.SyncStateSet, Note: g.Note}
}

func (l *controllerLink) Heartbeat(ctx context.Context, maxOffset int64, epoch int32) (server.GroupView, error) {
	g, err := l.c.Heartbeat(ctx, controller.Heartbeat{
		ClusterName: l.cfg.BrokerClusterName, BrokerName: l.cfg.BrokerName, BrokerID: l.cfg.BrokerID,
		Addr: l.cfg.BrokerAddr(), HAAddr: l.cfg.HAServerAddr(), MaxOffset: maxOffset, Epoch: epoch,
	})
	return view(g), err
}

func (l *controllerLink) AlterSyncStateSet(ctx context.Context, epoch int32, set []int64) (server.GroupView, error) {
	g, err := l.c.AlterSyncStateSet(ctx, l.cfg.BrokerName, l.cfg.BrokerID, epoch, set)
	return view(g), err
}

// runControlledBroker runs a broker whose role the controllers decide
// (enableControllerMode=true) until SIGINT or SIGTERM.
func runControlledBroker(cfg config.Broker, p *perf.Perf, logger *slog.Logger) int {
	rc := remoting.NewClient(remoting.ClientOptions{Logger: logger.With("component", "controller-client")})
	defer rc.Close()
	link := &controllerLink{c: controller.NewClient(cfg.ControllerAddrs(), rc), cfg: cfg}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Printf("broker %s id %d in controller mode (controllers %s), serving on %s when it has a role\n",
		cfg.BrokerName, cfg.BrokerID, cfg.ControllerAddr, cfg.BrokerAddr())
	err := server.RunControlled(ctx, cfg, fmt.Sprintf(":%d", cfg.ListenPort), link, logger, server.ControlledOptions{
		Started: func(bs *server.Broker, v server.GroupView) {
			role := "slave"
			if v.MasterID == cfg.BrokerID {
				role = "master"
			}
			fmt.Printf("broker %s id %d running as %s at epoch %d\n", cfg.BrokerName, cfg.BrokerID, role, v.Epoch)
		},
	})
	stopPerf("broker", p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet broker:", err)
		return 1
	}
	return 0
}
