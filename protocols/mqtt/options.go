package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults of Options.
const (
	DefaultAddr           = "127.0.0.1:1883"
	DefaultMaxPayload     = 1 << 20 // 1 MiB: below the engine's 4 MiB maxMessageSize with room for properties
	DefaultReceiveMaximum = 64      // un-acknowledged QoS 1/2 deliveries per client
	DefaultTopicQueues    = 8       // queues of an auto-created topic without a TBW102 template
	DefaultDurableTimeout = 5 * time.Second
)

// packetHeadroom is how far past MaxPayload a packet may go before mochi
// drops the connection while reading its header: room for the topic and
// MQTT 5 properties. Payloads between MaxPayload and this bound get the
// proper reason code (0x95) instead.
const packetHeadroom = 64 << 10

// Options configure the MQTT front end.
type Options struct {
	Addr    string // TCP listener host:port; "" disables it
	WSAddr  string // WebSocket listener host:port; "" disables it
	TLSCert string // PEM certificate file; with TLSKey, both listeners use TLS
	TLSKey  string // PEM key file

	// MaxPayload bounds a PUBLISH payload in bytes. A larger one gets a
	// DISCONNECT with 0x95 (Packet too large) on MQTT 5 and a closed
	// connection on 3.1.1.
	MaxPayload int

	// AuthFile holds users and topic ACLs (see auth.go). Without it every
	// client is anonymous and may do everything, which Start allows only
	// when every listener is on a loopback address or AllowAnonymous is set.
	AuthFile       string
	AllowAnonymous bool

	// Persist stores every publish in the engine and feeds subscribers
	// from it. false runs bare in-memory mochi (no engine; its own fan-out,
	// which drops messages for slow subscribers): the benchmark baseline.
	Persist bool

	// ReceiveMaximum bounds un-acknowledged QoS 1/2 deliveries per client;
	// a client's own MQTT 5 receive maximum lowers it.
	ReceiveMaximum int

	// Dir holds sessions and retained messages; default <store dir>/mqtt.
	Dir string

	// FallbackTopic stores MQTT topics whose first level is not a usable
	// RocketMQ topic name; default DefaultFallbackTopic.
	FallbackTopic string

	// AutoCreateTopics creates the RocketMQ topic of an MQTT topic on its
	// first publish (autoCreateTopicEnable); when false, publishing to a
	// topic that does not exist is refused.
	AutoCreateTopics bool
	// TopicQueues is the queue count of an auto-created topic when the
	// TBW102 template topic does not say; default DefaultTopicQueues.
	TopicQueues int

	// Durable, if set, is called after the engine acknowledged an append
	// and before the PUBACK/PUBREC is sent, with the end offset of the
	// message in the CommitLog (a SYNC_MASTER broker waits for its slave
	// here). An error refuses the publish as a failed store.
	Durable        func(ctx context.Context, endOffset int64) error
	DurableTimeout time.Duration // bound of a Durable call; default 5 s

	// ReadOnly refuses every PUBLISH (a slave broker): 0x87 on MQTT 5, a
	// closed connection on 3.1.1. Subscribers are still served.
	ReadOnly bool

	// OnTopicCreated, if set, is called after an MQTT publish created a
	// RocketMQ topic, so the broker can register the new route at once.
	OnTopicCreated func(topic string)

	Logger *slog.Logger
}

// DefaultOptions are the options of `gannet standalone`.
func DefaultOptions() Options {
	return Options{Addr: DefaultAddr, MaxPayload: DefaultMaxPayload, Persist: true, AutoCreateTopics: true}
}

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.MaxPayload == 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = DefaultReceiveMaximum
	}
	if o.FallbackTopic == "" {
		o.FallbackTopic = DefaultFallbackTopic
	}
	if o.TopicQueues == 0 {
		o.TopicQueues = DefaultTopicQueues
	}
	if o.DurableTimeout == 0 {
		o.DurableTimeout = DefaultDurableTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every bad field at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Addr == "" && o.WSAddr == "" {
		errs = append(errs, errors.New("mqtt: no listener: set Addr or WSAddr"))
	}
	for _, a := range []struct{ name, v string }{{"Addr", o.Addr}, {"WSAddr", o.WSAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("mqtt: %s %q: %w", a.name, a.v, err))
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("mqtt: TLS needs both a certificate and a key"))
	}
	if o.MaxPayload < 0 || o.MaxPayload > 256<<20 {
		errs = append(errs, fmt.Errorf("mqtt: MaxPayload %d outside 0..256 MiB", o.MaxPayload))
	}
	if o.ReceiveMaximum < 0 || o.ReceiveMaximum > 65535 {
		errs = append(errs, fmt.Errorf("mqtt: ReceiveMaximum %d outside 1..65535", o.ReceiveMaximum))
	}
	if o.FallbackTopic != "" && !validRocketTopic(o.FallbackTopic) {
		errs = append(errs, fmt.Errorf("mqtt: FallbackTopic %q is not a valid RocketMQ topic", o.FallbackTopic))
	}
	if o.TopicQueues < 0 || o.TopicQueues > 1024 {
		errs = append(errs, fmt.Errorf("mqtt: TopicQueues %d outside 1..1024", o.TopicQueues))
	}
	return errors.Join(errs...)
}

// loopbackOnly reports whether every configured listener binds a loopback
// address ("localhost" counts; an empty host means every interface).
func (o *Options) loopbackOnly() bool {
	for _, a := range []string{o.Addr, o.WSAddr} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		if host == "localhost" {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}
