package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// This file is the harness: a name server and a broker per test, a client
// to call them, raw connections, and the request shapes the tests share.

const (
	callTimeout = 5 * time.Second  // one request and its response
	waitLimit   = 10 * time.Second // anything the tests poll for
)

// testSets keep the store small.
var testSets = servertest.SmallStore

// cluster is one name server and one broker, both in this process.
type cluster struct {
	t          *testing.T
	dir        string
	logs       *servertest.LogBuffer
	log        *slog.Logger
	sets       []string
	ns         *server.NameServer
	nsAddr     string
	brokerAddr string
	bs         *server.Broker
	client     *remoting.Client // the default client; tests may make more
}

// startCluster starts a name server on a port it picks and a broker on a
// free port, with the broker.properties overrides in sets after testSets.
// Both stop when the test ends.
func startCluster(t *testing.T, sets ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), logs: new(servertest.LogBuffer), sets: append(append([]string(nil), testSets...), sets...)}
	c.log = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ns, err := server.StartNameServer("127.0.0.1:0", c.log)
	if err != nil {
		t.Fatal(err)
	}
	c.ns, c.nsAddr = ns, ns.Addr().String()
	c.brokerAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(servertest.FreePort(t)))
	c.client = c.newClient(remoting.ClientOptions{})
	t.Cleanup(func() {
		if c.bs != nil {
			if err := c.bs.Close(); err != nil {
				t.Errorf("broker close: %v", err)
			}
		}
		if err := c.ns.Close(); err != nil {
			t.Errorf("name server close: %v", err)
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", c.logs.String())
		}
	})
	c.startBroker()
	return c
}

func (c *cluster) startBroker() {
	c.t.Helper()
	cfg, err := server.StandaloneConfig(c.dir, c.nsAddr, c.brokerAddr, "ASYNC_FLUSH", c.sets)
	if err != nil {
		c.t.Fatal(err)
	}
	bs, err := server.StartBroker(&cfg, c.brokerAddr, c.log)
	if err != nil {
		c.t.Fatal(err)
	}
	c.bs = bs
}

// restartBroker closes the broker cleanly and starts it again on the same
// data directory and port.
func (c *cluster) restartBroker() {
	c.t.Helper()
	bs := c.bs
	c.bs = nil
	if err := bs.Close(); err != nil {
		c.t.Fatalf("broker close: %v", err)
	}
	c.startBroker()
}

// newClient returns a remoting client closed at the end of the test.
func (c *cluster) newClient(opts remoting.ClientOptions) *remoting.Client {
	if opts.Logger == nil {
		opts.Logger = c.log
	}
	cl := remoting.NewClient(opts)
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// invoke sends one request with cl to addr and returns its response.
func invoke(t *testing.T, cl *remoting.Client, addr string, code int32, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		t.Fatalf("%s to %s: %v", remoting.CodeName(code), addr, err)
	}
	return resp
}

// call sends a request to the broker with the default client.
func (c *cluster) call(code int32, ext map[string]string, body []byte) *remoting.Command {
	c.t.Helper()
	return invoke(c.t, c.client, c.brokerAddr, code, ext, body)
}

// callNS sends a request to the name server.
func (c *cluster) callNS(code int32, ext map[string]string) *remoting.Command {
	c.t.Helper()
	return invoke(c.t, c.client, c.nsAddr, code, ext, nil)
}

// expect checks a response code.
func expect(t *testing.T, resp *remoting.Command, code int32) {
	t.Helper()
	if resp.Code != code {
		t.Fatalf("answered %s (%d) %q, want %s (%d)", remoting.ResponseCodeName(resp.Code), resp.Code, resp.Remark,
			remoting.ResponseCodeName(code), code)
	}
}

// eventually polls cond every 10 ms until it holds, failing after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// props builds a properties string from name, value pairs.
func props(kv ...string) string {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = message.AppendProperty(b, kv[i], kv[i+1])
	}
	return string(b)
}

// sendExt is a SEND_MESSAGE header with the long names, as the Go client
// writes it.
func sendExt(topic string, qid int, properties string) map[string]string {
	return map[string]string{
		"producerGroup": "e2e-producer", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(qid), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": properties, "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
		"maxReconsumeTimes": "0",
	}
}

// sendExtV2 is the same header with SEND_MESSAGE_V2's one-letter names,
// as a Java producer writes it.
func sendExtV2(topic string, qid int, properties string, batch bool) map[string]string {
	return map[string]string{
		"a": "e2e-producer", "b": topic, "c": "TBW102", "d": "4", "e": strconv.Itoa(qid), "f": "0",
		"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0", "i": properties, "j": "0", "k": "false",
		"m": strconv.FormatBool(batch), "n": "broker-a",
	}
}

// send stores one message with SEND_MESSAGE and checks SUCCESS.
func (c *cluster) send(topic string, qid int, body string, kv ...string) *remoting.Command {
	c.t.Helper()
	resp := c.call(remoting.ReqSendMessage, sendExt(topic, qid, props(kv...)), []byte(body))
	expect(c.t, resp, remoting.ResSuccess)
	return resp
}

// Pull sysFlag bits (PullSysFlag.java).
const (
	pullCommitOffset = 0x1
	pullSuspend      = 0x2
	pullSubscription = 0x4
)

func pullExt(group, topic string, qid int, offset int64, sysFlag int, suspend time.Duration, sub string) map[string]string {
	return map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(qid),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag),
		"commitOffset": "0", "suspendTimeoutMillis": strconv.FormatInt(suspend.Milliseconds(), 10),
		"subVersion": "0", "subscription": sub, "expressionType": "TAG",
	}
}

// pull reads a queue from offset with its own subscription and no
// suspension, and returns the response and its records.
func (c *cluster) pull(group, topic string, qid int, offset int64, sub string) (*remoting.Command, []message.Record) {
	c.t.Helper()
	resp := c.call(remoting.ReqPullMessage, pullExt(group, topic, qid, offset, pullSubscription, 0, sub), nil)
	checkPullFields(c.t, resp)
	var recs []message.Record
	if resp.Code == remoting.ResSuccess {
		recs = records(c.t, resp.Body)
	}
	return resp, recs
}

// checkPullFields checks that a pull answer the clients act on carries
// the four fields they read (protocol reference §9.4).
func checkPullFields(t *testing.T, resp *remoting.Command) {
	t.Helper()
	switch resp.Code {
	case remoting.ResSuccess, remoting.ResPullNotFound, remoting.ResPullRetryImmediately, remoting.ResPullOffsetMoved:
	default:
		return
	}
	for _, k := range []string{"suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"} {
		if _, ok := resp.ExtFields[k]; !ok {
			t.Fatalf("pull response %s has no %s: %v", remoting.ResponseCodeName(resp.Code), k, resp.ExtFields)
		}
	}
}

// waitDispatched waits until a queue's max offset reaches n. A send is
// answered once its message is in the CommitLog; the ConsumeQueue unit
// that makes it pullable follows a moment later, as in Java, where
// ReputMessageService dispatches behind the append.
func (c *cluster) waitDispatched(topic string, qid int, n int64) {
	c.t.Helper()
	ext := map[string]string{"topic": topic, "queueId": strconv.Itoa(qid)}
	eventually(c.t, fmt.Sprintf("%s/%d to reach offset %d", topic, qid, n), func() bool {
		return extInt(c.t, c.call(remoting.ReqGetMaxOffset, ext, nil), "offset") >= n
	})
}

// records splits a body of stored records, checking each one's CRC.
func records(t *testing.T, body []byte) []message.Record {
	t.Helper()
	var out []message.Record
	for len(body) > 0 {
		r, err := message.Parse(body, true)
		if err != nil {
			t.Fatalf("bad record in body: %v", err)
		}
		out = append(out, r)
		body = body[r.TotalSize():]
	}
	return out
}

func prop(r message.Record, name string) string {
	v, _ := message.Property(r.Properties(), name)
	return string(v)
}

func bodies(recs []message.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Body())
	}
	return out
}

func extInt(t *testing.T, resp *remoting.Command, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(resp.ExtFields[key], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q in %v: %v", key, resp.ExtFields[key], resp.ExtFields, err)
	}
	return v
}

// physOffset decodes the CommitLog offset of an offsetMsgId and checks
// that its store host is the broker's address.
func (c *cluster) physOffset(msgID string) int64 {
	c.t.Helper()
	host, off, err := message.ParseOffsetMsgID(msgID)
	if err != nil {
		c.t.Fatalf("msgId %q: %v", msgID, err)
	}
	if got := host.AddrPort().String(); got != c.brokerAddr {
		c.t.Fatalf("msgId %q names store host %s, want the broker's %s", msgID, got, c.brokerAddr)
	}
	return off
}

// encodeBatch builds a SEND_BATCH_MESSAGE body (MessageDecoder.encodeMessage,
// protocol reference §3.2.3): per entry TOTALSIZE, MAGICCODE 0, BODYCRC 0,
// FLAG, BODYLEN, BODY, PROPLEN (int16), PROPERTIES.
func encodeBatch(entries ...[2]string) []byte {
	var out []byte
	be := binary.BigEndian
	for _, e := range entries {
		body, properties := e[0], e[1]
		out = be.AppendUint32(out, uint32(4+4+4+4+4+len(body)+2+len(properties)))
		out = be.AppendUint32(out, 0)
		out = be.AppendUint32(out, 0)
		out = be.AppendUint32(out, 7) // flag
		out = be.AppendUint32(out, uint32(len(body)))
		out = append(out, body...)
		out = be.AppendUint16(out, uint16(len(properties)))
		out = append(out, properties...)
	}
	return out
}

// rawConn is a plain TCP connection for writing exact bytes.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	in []byte
}

func (c *cluster) dialRaw() *rawConn {
	c.t.Helper()
	nc, err := net.DialTimeout("tcp", c.brokerAddr, callTimeout)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: c.t, nc: nc}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(callTimeout))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// roundTrip writes a request frame and reads the response with its opaque.
func (r *rawConn) roundTrip(req *remoting.Command) *remoting.Command {
	r.t.Helper()
	r.write(remoting.AppendFrame(nil, req))
	deadline := time.Now().Add(callTimeout)
	buf := make([]byte, 64<<10)
	for {
		cmd, n, err := remoting.DecodeFrame(r.in, 0)
		if err != nil {
			r.t.Fatalf("raw read: bad frame from the broker: %v", err)
		}
		if n > 0 {
			r.in = r.in[n:]
			if cmd.IsResponse() && cmd.Opaque == req.Opaque {
				return cmd
			}
			continue
		}
		r.nc.SetReadDeadline(deadline)
		m, err := r.nc.Read(buf)
		if err != nil {
			r.t.Fatalf("raw read: %v", err)
		}
		r.in = append(r.in, buf[:m]...)
	}
}

// closedByPeer waits for the broker to close the connection and reports
// what it read before (nothing is expected) and whether it closed.
func (r *rawConn) closedByPeer(d time.Duration) (got []byte, closed bool, err error) {
	r.nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		n, err := r.nc.Read(buf)
		got = append(got, buf[:n]...)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return got, false, err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return got, true, err
		}
		return got, true, fmt.Errorf("unexpected read error: %w", err)
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
