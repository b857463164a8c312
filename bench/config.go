package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Mode is what a run measures.
type Mode string

const (
	// ModeProduce sends as fast as the window (or --rate) allows; latency
	// is send to acknowledgement.
	ModeProduce Mode = "produce"
	// ModeConsume drains the topic's backlog for the consumer group;
	// latency is one pull's round trip.
	ModeConsume Mode = "consume"
	// ModeE2E produces and consumes together; latency is the message's
	// born time (its scheduled time under --rate) to its receipt.
	ModeE2E Mode = "e2e"
	// ModeCeiling only measures this machine's limits (Ceiling).
	ModeCeiling Mode = "ceiling"
)

// Proto is the protocol the load goes through.
type Proto string

const (
	ProtoRocketMQ Proto = "rocketmq"
	ProtoMQTT     Proto = "mqtt"
)

// Defaults of Config.
const (
	DefaultTopic         = "BenchTopic"
	DefaultQueues        = 8
	DefaultSize          = 1024
	DefaultProducers     = 4
	DefaultConsumers     = 4
	DefaultInflight      = 128
	DefaultDuration      = 10 * time.Second
	DefaultGroup         = "bench_consumer"
	DefaultProducerGroup = "bench_producer"
	DefaultSendTimeout   = 10 * time.Second
	DefaultDrainTimeout  = 10 * time.Second
	DefaultMQTTAddr      = "127.0.0.1:1883"

	// MinSize is the smallest body: it carries the bench header (magic,
	// run id, send time in ns) that end-to-end latency is read from.
	MinSize = headerSize
	// MaxSize is RocketMQ's default maxMessageSize.
	MaxSize = 4 << 20
	// MinSizeMQTT is the smallest MQTT payload: the bench header and the
	// publisher id and sequence the subscriber counts losses and
	// duplicates by (mqtt.go).
	MinSizeMQTT = mqttHeaderSize
)

// Config is one bench run. Zero fields take the defaults (EnsureDefaults);
// the package keeps no mutable globals, so runs with different configs can
// share a process.
type Config struct {
	Mode  Mode  // default ModeProduce
	Proto Proto // default ProtoRocketMQ

	// NameServer is the RocketMQ name server, host:port (several joined
	// by ';' are tried in order). Not needed with Standalone.
	NameServer string

	// MQTT only (Proto ProtoMQTT). MQTTAddr is the broker, host:port
	// (default DefaultMQTTAddr unless Standalone); Topic is then the MQTT
	// topic the producers publish to and the subscriber subscribes to. QoS
	// is the publishes' and the subscription's QoS, 0..2. MQTTInMemory
	// makes a standalone broker bare in-memory MQTT with no storage: the
	// baseline Gannet's persistence is compared with.
	MQTTAddr     string
	QoS          int
	MQTTInMemory bool

	Topic     string // default DefaultTopic
	Queues    int    // queues of the topic when the run creates it
	Size      int    // message body in bytes, MinSize..MaxSize
	Producers int    // producer connections (produce, e2e)
	Consumers int    // consumer connections (consume, e2e)
	// Inflight bounds the sends each producer has outstanding.
	Inflight int

	// Duration bounds the load phase; Messages bounds the messages sent
	// (produce, e2e) or received (consume). With both, the first reached
	// ends the run; with neither, Duration is DefaultDuration. A consume
	// run without Messages also ends when the backlog present at its
	// start is drained.
	Duration time.Duration
	Messages int64

	// Rate, when positive, is an open loop: messages per second over all
	// producers on a fixed schedule, each message's latency measured from
	// its scheduled time, so a stalled broker cannot hide queueing delay.
	// Zero is a closed loop limited by Inflight.
	Rate float64

	Group         string // consumer group (consume, e2e)
	ProducerGroup string

	// Standalone starts a name server and a broker in this process on
	// random loopback ports, with their data in a temporary directory
	// under Dir, and runs against them; for ProtoMQTT, with the MQTT front
	// end on the broker's store (or, with MQTTInMemory, the front end
	// alone, without storage).
	Standalone bool
	// Flush is the standalone broker's flush mode, "async" (default) or
	// "sync"; it may only be set with Standalone.
	Flush string
	// Sets are broker.properties overrides (key=value) for the standalone
	// broker.
	Sets []string
	// Dir is where the standalone data and the ceiling's temporary files
	// go (default: the system temporary directory).
	Dir string

	// Ceiling measures this machine's limits before the load as well; a
	// ModeCeiling run measures only them.
	Ceiling bool

	// SendTimeout bounds one send (default DefaultSendTimeout);
	// DrainTimeout is how long an e2e run waits for the messages still
	// unreceived after the last acknowledgement (default
	// DefaultDrainTimeout).
	SendTimeout  time.Duration
	DrainTimeout time.Duration
	// Deadline is the hard limit of the whole run, setup included
	// (default: Duration plus a minute, or ten minutes with Messages
	// only). The report is still written when it expires.
	Deadline time.Duration

	// Progress receives one line a second while the load runs (nil:
	// none). Logger receives warnings and the standalone broker's logs
	// (nil: nothing is logged).
	Progress io.Writer
	Logger   *slog.Logger
}

// EnsureDefaults fills the zero fields.
func (c *Config) EnsureDefaults() {
	if c.Mode == "" {
		c.Mode = ModeProduce
	}
	if c.Proto == "" {
		c.Proto = ProtoRocketMQ
	}
	if c.Proto == ProtoMQTT && c.MQTTAddr == "" && !c.Standalone {
		c.MQTTAddr = DefaultMQTTAddr
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Queues == 0 {
		c.Queues = DefaultQueues
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Producers == 0 {
		c.Producers = DefaultProducers
	}
	if c.Consumers == 0 {
		c.Consumers = DefaultConsumers
	}
	if c.Inflight == 0 {
		c.Inflight = DefaultInflight
	}
	if c.Duration == 0 && c.Messages == 0 {
		c.Duration = DefaultDuration
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.ProducerGroup == "" {
		c.ProducerGroup = DefaultProducerGroup
	}
	if c.Standalone && c.Flush == "" {
		c.Flush = "async"
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Deadline == 0 {
		if c.Duration > 0 {
			c.Deadline = c.Duration + time.Minute
		} else {
			c.Deadline = 10 * time.Minute
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every bad field at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Mode {
	case ModeProduce, ModeConsume, ModeE2E, ModeCeiling:
	default:
		bad("--mode %q: want produce, consume, e2e or ceiling", c.Mode)
	}
	switch c.Proto {
	case ProtoRocketMQ:
	case ProtoMQTT:
		errs = append(errs, c.validateMQTT()...)
	default:
		bad("--proto %q: want rocketmq or mqtt", c.Proto)
	}
	load := c.Mode != ModeCeiling
	if load && c.Proto == ProtoRocketMQ && c.NameServer == "" && !c.Standalone {
		bad("no name server: give -n host:port or --standalone")
	}
	if c.NameServer != "" && c.Standalone {
		bad("-n and --standalone exclude each other")
	}
	if c.Flush != "" && !c.Standalone {
		bad("--flush is only meaningful with --standalone")
	}
	if c.Flush != "" && c.Flush != "async" && c.Flush != "sync" {
		bad("--flush %q: want async or sync", c.Flush)
	}
	if len(c.Sets) > 0 && !c.Standalone {
		bad("--set is only meaningful with --standalone")
	}
	if c.Queues < 1 || c.Queues > 1024 {
		bad("--queues %d: want 1..1024", c.Queues)
	}
	if c.Proto == ProtoMQTT && c.Size < MinSizeMQTT {
		bad("--size %d: want %d..%d bytes (the payload carries the send time, publisher and sequence)", c.Size, MinSizeMQTT, MaxSize)
	} else if c.Size < MinSize || c.Size > MaxSize {
		bad("--size %d: want %d..%d bytes (the body carries the send time)", c.Size, MinSize, MaxSize)
	}
	if c.Producers < 1 || c.Producers > 4096 {
		bad("--producers %d: want 1..4096", c.Producers)
	}
	if c.Consumers < 1 || c.Consumers > 4096 {
		bad("--consumers %d: want 1..4096", c.Consumers)
	}
	if c.Inflight < 1 || c.Inflight > 65536 {
		bad("--inflight %d: want 1..65536", c.Inflight)
	}
	if c.Duration < 0 {
		bad("--duration %v: must not be negative", c.Duration)
	}
	if c.Messages < 0 {
		bad("--messages %d: must not be negative", c.Messages)
	}
	if c.Rate < 0 || c.Rate > 1e8 {
		bad("--rate %v: want 0 (closed loop) up to 1e8 messages/s", c.Rate)
	}
	if c.Rate > 0 && c.Mode == ModeConsume {
		bad("--rate paces producers; a consume run has none")
	}
	if c.Proto != ProtoMQTT && (c.MQTTAddr != "" || c.QoS != 0 || c.MQTTInMemory) {
		bad("--mqtt-addr, --qos and --mqtt-persist are only meaningful with --proto mqtt")
	}
	if c.SendTimeout < 0 || c.DrainTimeout < 0 || c.Deadline < 0 {
		bad("timeouts must not be negative")
	}
	return errors.Join(errs...)
}

// validateMQTT checks what only an MQTT run needs.
func (c *Config) validateMQTT() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Mode {
	case ModeProduce, ModeE2E, ModeCeiling:
	case ModeConsume:
		bad("--proto mqtt: --mode consume is not supported (an MQTT subscriber has no backlog to drain); use e2e")
	}
	if c.QoS < 0 || c.QoS > 2 {
		bad("--qos %d: want 0, 1 or 2", c.QoS)
	}
	if c.NameServer != "" {
		bad("-n is RocketMQ's name server; give --mqtt-addr host:port or --standalone")
	}
	if c.MQTTAddr != "" && c.Standalone {
		bad("--mqtt-addr and --standalone exclude each other")
	}
	if c.MQTTInMemory && !c.Standalone {
		bad("--mqtt-persist=false is only meaningful with --standalone")
	}
	if c.MQTTInMemory && c.Flush != "" && c.Flush != "async" {
		bad("--flush %s: a broker without persistence has nothing to flush", c.Flush)
	}
	if err := checkPublishTopic(c.Topic); err != nil {
		bad("--topic %q: %v", c.Topic, err)
	}
	if c.Inflight > 65535 {
		bad("--inflight %d: MQTT has 65535 packet ids; want 1..65535", c.Inflight)
	}
	return errs
}
