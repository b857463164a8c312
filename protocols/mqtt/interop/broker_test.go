//go:build unix

package interop

import (
	"log/slog"
	"net"
	"strconv"
	"testing"

	"github.com/gannetmq/gannet/protocols/mqtt"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// brokerOpts configure one test's servers.
type brokerOpts struct {
	authFile string // the MQTT front end's auth file; "" for none
}

// servers are one test's name server, broker and MQTT front end (on the
// broker's store, woken by its dispatches, as `gannet standalone` runs
// them), all on 127.0.0.1 random ports, stopped when the test ends.
type servers struct {
	mqttURL string // mqtt://127.0.0.1:port
	namesrv string // host:port
	broker  string // host:port
	logs    *servertest.LogBuffer
}

func startServers(t *testing.T, o brokerOpts) *servers {
	t.Helper()
	logs := new(servertest.LogBuffer)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	s := &servers{logs: logs}

	ns, err := server.StartNameServer("127.0.0.1:0", logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("name server close: %v", err)
		}
	})
	s.namesrv = ns.Addr().String()
	var bs *server.Broker
	for attempt := 0; ; attempt++ {
		s.broker = net.JoinHostPort("127.0.0.1", strconv.Itoa(servertest.FreePort(t)))
		cfg, err := server.StandaloneConfig(t.TempDir(), s.namesrv, s.broker, "ASYNC_FLUSH", servertest.SmallStore)
		if err != nil {
			t.Fatal(err)
		}
		if bs, err = server.StartBroker(&cfg, s.broker, logger); err == nil {
			break
		}
		if attempt == 2 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := bs.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})

	opts := mqtt.DefaultOptions()
	opts.Addr = "127.0.0.1:0"
	opts.AuthFile = o.authFile
	opts.Logger = logger
	ms, err := mqtt.Start(opts, bs.Store())
	if err != nil {
		t.Fatal(err)
	}
	bs.OnDispatch(ms.Notify)
	t.Cleanup(func() {
		if err := ms.Close(); err != nil {
			t.Errorf("mqtt close: %v", err)
		}
	})
	s.mqttURL = "mqtt://" + ms.Addr().String()
	return s
}
