package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/gannetmq/gannet/protocols/mqtt"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
)

// mqttFlags are the MQTT front end's flags. `gannet standalone` has them
// all; `gannet broker` takes its TCP address from mqttListenAddr in
// broker.properties and always stores messages, so it has no --mqtt-addr
// or --mqtt-persist.
type mqttFlags struct {
	addr, wsAddr, tlsCert, tlsKey, auth *string
	maxPayload                          *int
	allowAnonymous, persist             *bool
}

func addMQTTFlags(fs *flag.FlagSet, standalone bool) *mqttFlags {
	f := &mqttFlags{
		wsAddr:         fs.String("mqtt-ws-addr", "", "MQTT over WebSocket address host:port (off when empty)"),
		tlsCert:        fs.String("mqtt-tls-cert", "", "PEM certificate: the MQTT listeners use TLS (with --mqtt-tls-key)"),
		tlsKey:         fs.String("mqtt-tls-key", "", "PEM private key of --mqtt-tls-cert"),
		maxPayload:     fs.Int("mqtt-max-payload", mqtt.DefaultMaxPayload, "largest MQTT PUBLISH payload in bytes"),
		auth:           fs.String("mqtt-auth", "", "MQTT users and topic ACLs file (see docs/mqtt.md)"),
		allowAnonymous: fs.Bool("mqtt-allow-anonymous", false, "without --mqtt-auth, allow anonymous MQTT clients on a non-loopback address"),
	}
	if standalone {
		f.addr = fs.String("mqtt-addr", mqtt.DefaultAddr, "MQTT TCP address host:port (off when empty)")
		f.persist = fs.Bool("mqtt-persist", true, "store MQTT messages in the engine; false runs bare in-memory MQTT (no durability, slow subscribers lose messages)")
	}
	return f
}

// startMQTT starts the MQTT front end on a running broker's store and
// wakes its subscribers after every dispatch. It returns nil when no MQTT
// listener is configured. A slave broker's front end refuses publishes.
func startMQTT(f *mqttFlags, bs *server.Broker, cfg *config.Broker, logger *slog.Logger) (*mqtt.Server, error) {
	o := mqtt.DefaultOptions()
	o.Addr = cfg.MQTTListenAddr
	if f.addr != nil {
		o.Addr = *f.addr
	}
	if f.persist != nil {
		o.Persist = *f.persist
	}
	o.WSAddr, o.TLSCert, o.TLSKey = *f.wsAddr, *f.tlsCert, *f.tlsKey
	o.MaxPayload, o.AuthFile, o.AllowAnonymous = *f.maxPayload, *f.auth, *f.allowAnonymous
	if o.Addr == "" && o.WSAddr == "" {
		return nil, nil
	}
	o.ReadOnly = bs.IsSlave()
	// On a SYNC_MASTER a QoS 1/2 publish is acknowledged once a slave has
	// it, like a RocketMQ send.
	o.Durable = bs.AwaitReplicas
	o.OnTopicCreated = func(string) { bs.Broker().TopicsChanged() }
	o.AutoCreateTopics = cfg.AutoCreateTopicEnable
	o.TopicQueues = cfg.DefaultTopicQueueNums
	o.Logger = logger
	if !o.Persist {
		srv, err := mqtt.Start(o, nil)
		if err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		fmt.Printf("MQTT clients (in memory, nothing stored): tcp://%s\n", srv.Addr())
		return srv, nil
	}
	srv, err := mqtt.Start(o, bs.Store())
	if err != nil {
		return nil, err
	}
	bs.OnDispatch(srv.Notify)
	if a := srv.Addr(); a != nil {
		fmt.Printf("MQTT clients: tcp://%s\n", a)
	}
	if a := srv.WSAddr(); a != nil {
		fmt.Printf("MQTT clients: ws://%s\n", a)
	}
	return srv, nil
}

// closeMQTT stops the front end before the broker closes the store.
func closeMQTT(srv *mqtt.Server, name string) {
	if srv == nil {
		return
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "gannet %s: mqtt shutdown: %v\n", name, err)
	}
}
