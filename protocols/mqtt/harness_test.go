package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

// testStore opens a small engine store whose dispatcher wakes *notify.
func testStore(t testing.TB, dir string, flush engine.Flush, notify *atomic.Pointer[func()], logs io.Writer) *engine.Store {
	t.Helper()
	o := engine.Options{
		Dir:               dir,
		SegmentSize:       16 << 20,
		FlushMode:         flush,
		ConsumeQueueUnits: 60000,
		IndexHashSlots:    4096,
		IndexMaxItems:     16384,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnDispatch: func() {
			if f := notify.Load(); f != nil {
				(*f)()
			}
		},
	}
	st, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// env is one engine store with an MQTT server in front of it.
type env struct {
	t     testing.TB
	dir   string
	store *engine.Store
	srv   *Server
	addr  string
	logs  *servertest.LogBuffer
}

// startEnv starts a persistent server on a random loopback port; tweak
// adjusts its options.
func startEnv(t testing.TB, flush engine.Flush, tweak func(*Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &servertest.LogBuffer{}}
	var notify atomic.Pointer[func()]
	e.store = testStore(t, e.dir, flush, &notify, e.logs)
	o := DefaultOptions()
	o.Addr = "127.0.0.1:0"
	o.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if tweak != nil {
		tweak(&o)
	}
	srv, err := Start(o, e.store)
	if err != nil {
		e.store.Close()
		t.Fatal(err)
	}
	fn := srv.Notify
	notify.Store(&fn)
	e.srv, e.addr = srv, srv.Addr().String()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", e.logs.String())
		}
		e.close()
	})
	return e
}

func (e *env) close() {
	if e.srv != nil {
		if err := e.srv.Close(); err != nil {
			e.t.Errorf("mqtt close: %v", err)
		}
		e.srv = nil
	}
	if e.store != nil {
		if err := e.store.Close(); err != nil {
			e.t.Errorf("store close: %v", err)
		}
		e.store = nil
	}
}

// client connects a paho (MQTT 3.1.1) client.
func client(t testing.TB, addr, id string, clean bool, tweak func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true)
	if tweak != nil {
		tweak(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func await(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// inbox collects received messages.
type inbox struct {
	mu   sync.Mutex
	msgs []got
	ch   chan struct{}
}

type got struct {
	topic    string
	payload  string
	qos      byte
	retained bool
	dup      bool
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (b *inbox) handler(_ paho.Client, m paho.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, got{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()})
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

// waitN waits until at least n messages arrived and returns them.
func (b *inbox) waitN(t testing.TB, n int) []got {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		b.mu.Lock()
		if len(b.msgs) >= n {
			out := append([]got(nil), b.msgs...)
			b.mu.Unlock()
			return out
		}
		have := len(b.msgs)
		b.mu.Unlock()
		select {
		case <-b.ch:
		case <-deadline:
			t.Fatalf("received %d messages, want %d", have, n)
		}
	}
}

func (b *inbox) snapshot() []got {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]got(nil), b.msgs...)
}

// raw is a bare MQTT connection for what paho cannot send: garbage, MQTT 5
// packets, an abrupt close.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	v    byte
}

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, r: bufio.NewReader(c), v: 4}
}

func (r *raw) write(pk packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1 // the fixed header flags SUBSCRIBE requires
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		r.t.Fatalf("raw: cannot encode packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := r.conn.Write(buf.Bytes()); err != nil {
		r.t.Fatal(err)
	}
}

// read reads one packet; err is io.EOF (or a reset) when the server closed.
func (r *raw) read() (packets.Packet, error) {
	r.conn.SetReadDeadline(time.Now().Add(waitFor))
	var fh packets.FixedHeader
	b, err := r.r.ReadByte()
	if err != nil {
		return packets.Packet{}, err
	}
	if err := fh.Decode(b); err != nil {
		return packets.Packet{}, err
	}
	n, _, err := packets.DecodeLength(r.r)
	if err != nil {
		return packets.Packet{}, err
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r.r, body); err != nil {
		return packets.Packet{}, err
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: r.v}
	switch fh.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

// connect sends CONNECT (v 4 or 5) and checks the CONNACK.
func (r *raw) connect(id string, v byte, will *packets.Packet) {
	r.t.Helper()
	r.v = v
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
		},
	}
	if v == 5 {
		pk.Properties.ReceiveMaximum = 16
	}
	if will != nil {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = will.TopicName
		pk.Connect.WillPayload = will.Payload
		pk.Connect.WillQos = will.FixedHeader.Qos
		pk.Connect.WillRetain = will.FixedHeader.Retain
	}
	r.write(pk)
	ack, err := r.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		r.t.Fatalf("raw connect %s: %+v %v", id, ack.FixedHeader, err)
	}
}

// expectClosed reads until the server closes the connection and returns
// the packets it sent before.
func (r *raw) expectClosed() []packets.Packet {
	r.t.Helper()
	var out []packets.Packet
	for {
		pk, err := r.read()
		if err != nil {
			var ne net.Error
			if errorsAs(err, &ne) && ne.Timeout() {
				r.t.Fatalf("the server did not close the connection; got %d packets", len(out))
			}
			return out
		}
		out = append(out, pk)
	}
}

func payloadOf(i int) string { return fmt.Sprintf("m%06d", i) }
