//go:build unix

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Replication across processes: a name server and brokers run as separate
// `gannet namesrv` / `gannet broker -c` processes of the built binary, so a
// master can be killed with SIGKILL. Sends and reads go through our remoting
// client (and, in the last test, through ali-ons).

const haTopic = "HATopic"

// gannetProc is one gannet process of a replication test.
type gannetProc struct {
	name    string
	addr    string // client address (name server or broker)
	haAddr  string // master's HA address
	conf    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func (p *gannetProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill9 ends the process with SIGKILL: no shutdown code runs.
func (p *gannetProc) kill9(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s not reaped 5s after SIGKILL", p.name)
	}
}

// stop sends SIGTERM and waits, then SIGKILL.
func (p *gannetProc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(brokerStopWait):
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(brokerStopWait):
	}
}

// haGroup is a name server and one broker group: a master and a slave.
type haGroup struct {
	t      *testing.T
	e      *env
	dir    string
	ns     *gannetProc
	master *gannetProc
	slave  *gannetProc
	client *remoting.Client
	given  map[string]bool // addresses freeAddr handed out
}

// startHAGroup starts a name server, a master with role masterRole and one
// slave, with flushDiskType flush on both, and waits until the slave has
// connected to the master's HA port.
func startHAGroup(t *testing.T, masterRole, flush string) *haGroup {
	t.Helper()
	e := setup(t)
	g := &haGroup{t: t, e: e, dir: t.TempDir(), client: remoting.NewClient(remoting.ClientOptions{})}
	t.Cleanup(func() {
		g.client.Close()
		for _, p := range []*gannetProc{g.slave, g.master, g.ns} {
			if p != nil {
				p.stop()
			}
		}
		if t.Failed() {
			for _, p := range []*gannetProc{g.ns, g.master, g.slave} {
				if p != nil {
					t.Logf("%s log (tail of %s):\n%s", p.name, p.logPath, fileTail(p.logPath, maxBrokerLogTail))
				}
			}
		}
	})
	nsAddr := g.freeAddr()
	g.ns = g.startProc("namesrv", "", "namesrv", "--listen", nsAddr)
	g.ns.addr = nsAddr
	g.waitListening(g.ns)
	g.master = g.startBroker("master", 0, masterRole, flush)
	g.slave = g.startBroker("slave", 1, "SLAVE", flush)
	g.waitSlaveConnected()
	return g
}

// freeAddr returns a loopback address that was free a moment ago and that
// the group has not handed out before (a port just closed may come back
// at once, and a broker refuses the same port for listenPort and
// haListenPort).
func (g *haGroup) freeAddr() string {
	for {
		port, err := freePort()
		if err != nil {
			g.t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if !g.given[addr] {
			if g.given == nil {
				g.given = map[string]bool{}
			}
			g.given[addr] = true
			return addr
		}
	}
}

// startBroker writes the broker's properties and starts it.
func (g *haGroup) startBroker(name string, id int, role, flush string) *gannetProc {
	g.t.Helper()
	p := g.startBrokerProc(name, fmt.Sprintf("brokerClusterName=HACluster\nbrokerName=broker-ha\nbrokerId=%d\nbrokerRole=%s\nflushDiskType=%s\n", id, role, flush))
	g.waitListening(p)
	return p
}

// startBrokerProc starts `gannet broker` with the given properties, free
// loopback ports, the group's name server and a small store under the
// test's directory.
func (g *haGroup) startBrokerProc(name, props string) *gannetProc {
	g.t.Helper()
	addr, ha := g.freeAddr(), g.freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	_, haPort, _ := net.SplitHostPort(ha)
	store := filepath.Join(g.dir, name)
	conf := filepath.Join(g.dir, name+".properties")
	props += fmt.Sprintf(`brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
listenPort=%s
haListenPort=%s
namesrvAddr=%s
storePathRootDir=%s
storePathCommitLog=%s
defaultTopicQueueNums=4
syncFlushTimeout=3000
mappedFileSizeCommitLog=16777216
mappedFileSizeConsumeQueue=60000
maxHashSlotNum=4096
maxIndexNum=16384
`, port, haPort, g.ns.addr, store, filepath.Join(store, "commitlog"))
	if err := os.WriteFile(conf, []byte(props), 0o644); err != nil {
		g.t.Fatal(err)
	}
	p := g.startProc(name, conf, "broker", "-c", conf)
	p.addr, p.haAddr = addr, ha
	return p
}

// restart starts p again with the same configuration and data.
func (g *haGroup) restart(p *gannetProc) *gannetProc {
	g.t.Helper()
	np := g.startProc(p.name, p.conf, "broker", "-c", p.conf)
	np.addr, np.haAddr = p.addr, p.haAddr
	g.waitListening(np)
	return np
}

func (g *haGroup) startProc(name, conf string, args ...string) *gannetProc {
	g.t.Helper()
	logPath := filepath.Join(g.dir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		g.t.Fatal(err)
	}
	if args[0] != "controller" {
		args = append(args, "--http-addr", "off")
	}
	cmd := exec.Command(g.e.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		g.t.Fatalf("start %s: %v", name, err)
	}
	p := &gannetProc{name: name, conf: conf, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p
}

func (g *haGroup) waitListening(p *gannetProc) {
	g.t.Helper()
	deadline := time.Now().Add(namesrvWait)
	for {
		if !p.alive() {
			g.t.Fatalf("%s exited before listening; log:\n%s", p.name, fileTail(p.logPath, maxBrokerLogTail))
		}
		if c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s did not listen on %s within %v", p.name, p.addr, namesrvWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSlaveConnected waits for the master's log line about the slave.
func (g *haGroup) waitSlaveConnected() {
	g.t.Helper()
	g.eventually("slave connected to the master", 15*time.Second, func() bool {
		b, _ := os.ReadFile(g.master.logPath)
		return bytes.Count(b, []byte("slave connected")) > 0
	})
}

func (g *haGroup) eventually(what string, d time.Duration, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *haGroup) invoke(addr string, code int32, ext map[string]string, body []byte) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.client.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
}

func sendHeader(qid int, key string) map[string]string {
	return map[string]string{
		"producerGroup": "ha-producer", "topic": haTopic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(qid), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": string(message.AppendProperty(nil, "KEYS", key)), "reconsumeTimes": "0",
		"unitMode": "false", "batch": "false", "maxReconsumeTimes": "0",
	}
}

// sendLoad runs senders against the master until stop is closed or the
// master stops answering; it returns the bodies answered SUCCESS and a
// count of every other answer by code name.
type sendLoad struct {
	mu     sync.Mutex
	acked  map[string]bool
	others map[string]int
	sent   atomic.Int64
	wg     sync.WaitGroup
	stop   chan struct{}
}

func (g *haGroup) startLoad(senders int, pause time.Duration) *sendLoad {
	l := &sendLoad{acked: map[string]bool{}, others: map[string]int{}, stop: make(chan struct{})}
	for w := range senders {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body := fmt.Sprintf("w%d-%d", w, i)
				resp, err := g.invoke(g.master.addr, remoting.ReqSendMessage, sendHeader(i%4, body), []byte(body))
				l.sent.Add(1)
				l.mu.Lock()
				switch {
				case err != nil:
					l.others["error"]++
				case resp.Code == remoting.ResSuccess:
					l.acked[body] = true
				default:
					l.others[remoting.ResponseCodeName(resp.Code)]++
				}
				l.mu.Unlock()
				if err != nil {
					return // the master is gone
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	return l
}

func (l *sendLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *sendLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// readAll pulls every message of haTopic from addr and counts each body.
func (g *haGroup) readAll(addr string) map[string]int {
	g.t.Helper()
	seen := map[string]int{}
	for qid := range 4 {
		for off := int64(0); ; {
			resp, err := g.invoke(addr, remoting.ReqPullMessage, map[string]string{
				"consumerGroup": "ha-reader", "topic": haTopic, "queueId": strconv.Itoa(qid),
				"queueOffset": strconv.FormatInt(off, 10), "maxMsgNums": "32", "sysFlag": "4",
				"commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0", "subscription": "*",
				"expressionType": "TAG"}, nil)
			if err != nil {
				g.t.Fatalf("pull from %s: %v", addr, err)
			}
			if resp.Code != remoting.ResSuccess {
				break
			}
			for rest := resp.Body; len(rest) > 0; {
				r, err := message.Parse(rest, true)
				if err != nil {
					g.t.Fatalf("pulled record: %v", err)
				}
				seen[string(r.Body())]++
				rest = rest[r.TotalSize():]
			}
			next, _ := strconv.ParseInt(resp.ExtFields["nextBeginOffset"], 10, 64)
			if next <= off {
				g.t.Fatalf("pull did not advance at offset %d", off)
			}
			off = next
		}
	}
	return seen
}

// readAllOf reads haTopic from addr until it holds every body of want
// (acknowledged means stored; the broker indexes a moment later) or 10 s
// pass, and returns the last read.
func (g *haGroup) readAllOf(addr string, want map[string]bool) map[string]int {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := g.readAll(addr)
		missing := 0
		for body := range want {
			if seen[body] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return seen
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runtimeInfo reads a broker's GET_BROKER_RUNTIME_INFO table.
func (g *haGroup) runtimeInfo(addr string) map[string]string {
	g.t.Helper()
	resp, err := g.invoke(addr, remoting.ReqGetBrokerRuntimeInfo, nil, nil)
	if err != nil || resp.Code != remoting.ResSuccess {
		g.t.Fatalf("runtime info of %s: %v %v", addr, err, resp)
	}
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		g.t.Fatalf("runtime info: %v: %s", err, resp.Body)
	}
	return kv.Table
}

func (g *haGroup) maxOffset(addr string) int64 {
	g.t.Helper()
	n, err := strconv.ParseInt(g.runtimeInfo(addr)["commitLogMaxOffset"], 10, 64)
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

// commitLogBytes reads the first n bytes of a broker's CommitLog from its
// segment files (20-digit names, in order).
func commitLogBytes(t *testing.T, dir string, n int64) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if len(e.Name()) == 20 {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	out := make([]byte, 0, n)
	for _, name := range names {
		if int64(len(out)) >= n {
			break
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:min(int64(len(b)), n-int64(len(out)))]...)
	}
	if int64(len(out)) < n {
		t.Fatalf("%s holds %d bytes, want %d", dir, len(out), n)
	}
	return out
}

// sameLogPrefix checks the master's and slave's CommitLogs are identical
// up to n bytes.
func (g *haGroup) sameLogPrefix(n int64) {
	g.t.Helper()
	m := commitLogBytes(g.t, filepath.Join(g.dir, "master", "commitlog"), n)
	s := commitLogBytes(g.t, filepath.Join(g.dir, "slave", "commitlog"), n)
	if i := firstDiff(m, s); i >= 0 {
		g.t.Fatalf("CommitLogs differ at byte %d of %d", i, n)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestHASyncMasterKill9 sends under SYNC_MASTER from 8 senders, kills the
// master with SIGKILL mid-load, and reads every acknowledged message back
// from the slave; the two CommitLogs are byte-identical up to the slave's
// end.
func TestHASyncMasterKill9(t *testing.T) {
	g := startHAGroup(t, "SYNC_MASTER", "ASYNC_FLUSH")
	load := g.startLoad(8, 0)
	g.eventually("1,000 acknowledged sends", 30*time.Second, func() bool { return load.ackedCount() >= 1000 })
	g.master.kill9(t)
	load.finish()
	t.Logf("sent %d, acknowledged SUCCESS %d, other answers %v", load.sent.Load(), len(load.acked), load.others)
	if n := load.others["SLAVE_NOT_AVAILABLE"] + load.others["FLUSH_SLAVE_TIMEOUT"]; n > 0 {
		t.Logf("%d sends answered without the slave (not counted as acknowledged)", n)
	}

	slaveEnd := g.maxOffset(g.slave.addr)
	seen := g.readAllOf(g.slave.addr, load.acked)
	var missing []string
	for body := range load.acked {
		if seen[body] == 0 {
			missing = append(missing, body)
		}
	}
	for body, n := range seen {
		if n > 1 {
			t.Errorf("%q stored %d times on the slave", body, n)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%d of %d acknowledged messages missing on the slave, e.g. %v", len(missing), len(load.acked), missing[:min(5, len(missing))])
	}
	t.Logf("slave holds %d messages (%d bytes of CommitLog), every one of the %d acknowledged", len(seen), slaveEnd, len(load.acked))
	g.slave.stop()
	g.sameLogPrefix(slaveEnd)
}

// TestHAAsyncLagAndCatchUp measures an ASYNC_MASTER slave's lag while 8
// senders run, then its full catch-up: same bytes, same messages.
func TestHAAsyncLagAndCatchUp(t *testing.T) {
	g := startHAGroup(t, "ASYNC_MASTER", "ASYNC_FLUSH")
	load := g.startLoad(8, 0)
	var maxLag, samples int64
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		lag := g.maxOffset(g.master.addr) - g.maxOffset(g.slave.addr)
		maxLag = max(maxLag, lag)
		samples++
		time.Sleep(20 * time.Millisecond)
	}
	load.finish()
	if len(load.others) > 0 {
		t.Fatalf("answers other than SUCCESS under ASYNC_MASTER: %v", load.others)
	}
	end := g.maxOffset(g.master.addr)
	start := time.Now()
	g.eventually("slave caught up", 30*time.Second, func() bool { return g.maxOffset(g.slave.addr) == end })
	t.Logf("%d messages acknowledged; slave lag while sending: max %d bytes over %d samples; caught up %v after the last send",
		len(load.acked), maxLag, samples, time.Since(start).Round(time.Millisecond))
	g.eventually("slave dispatched", 10*time.Second, func() bool {
		seen := g.readAll(g.slave.addr)
		return len(seen) == len(load.acked)
	})
	seen := g.readAll(g.slave.addr)
	for body := range load.acked {
		if seen[body] != 1 {
			t.Fatalf("%q seen %d times on the slave", body, seen[body])
		}
	}
	g.master.stop()
	g.slave.stop()
	g.sameLogPrefix(end)
}

// TestHASlaveKill9AndRestart kills the slave with SIGKILL while the master
// takes sends, restarts it, and checks it resumes from its own end: after
// the load, it holds every message exactly once and the same bytes.
func TestHASlaveKill9AndRestart(t *testing.T) {
	g := startHAGroup(t, "ASYNC_MASTER", "ASYNC_FLUSH")
	load := g.startLoad(4, time.Millisecond)
	g.eventually("500 sends", 20*time.Second, func() bool { return load.ackedCount() >= 500 })
	g.slave.kill9(t)
	killedAt := load.ackedCount()
	g.eventually("500 more sends while the slave is down", 20*time.Second, func() bool { return load.ackedCount() >= killedAt+500 })
	g.slave = g.restart(g.slave)
	g.eventually("1,000 more sends after the restart", 30*time.Second, func() bool { return load.ackedCount() >= killedAt+1500 })
	load.finish()
	if len(load.others) > 0 {
		t.Fatalf("answers other than SUCCESS: %v", load.others)
	}
	end := g.maxOffset(g.master.addr)
	g.eventually("slave caught up", 30*time.Second, func() bool { return g.maxOffset(g.slave.addr) == end })
	g.eventually("slave dispatched", 10*time.Second, func() bool { return len(g.readAll(g.slave.addr)) == len(load.acked) })
	seen := g.readAll(g.slave.addr)
	for body := range load.acked {
		if seen[body] != 1 {
			t.Fatalf("%q seen %d times on the restarted slave", body, seen[body])
		}
	}
	b, _ := os.ReadFile(g.slave.logPath)
	if !bytes.Contains(b, []byte("connected to master")) {
		t.Fatalf("restarted slave never logged its connection")
	}
	t.Logf("%d messages: %d before the slave's SIGKILL, all on the restarted slave once", len(load.acked), killedAt)
	g.master.stop()
	g.slave.stop()
	g.sameLogPrefix(end)
}

// TestHAAliOnsConsumesFromSlave: ali-ons produces to a SYNC_MASTER, an
// ali-ons consumer starts, the master is killed with SIGKILL while it
// consumes, and the consumer goes on reading from the slave until it has
// every message.
func TestHAAliOnsConsumesFromSlave(t *testing.T) {
	g := startHAGroup(t, "SYNC_MASTER", "ASYNC_FLUSH")
	ctx := testContext(t, 3*time.Minute)
	const n = 400
	create := g.e.startNode(t, "create_topic", "create_topic.js", "--namesrv", g.ns.addr, "--broker", g.master.addr, "--topic", haTopic, "--queues", "4")
	if code := create.wait(ctx); code != 0 {
		t.Fatalf("create_topic.js exited %d: %s", code, create.describeExit())
	}
	prod := g.e.startNode(t, "produce", "produce.js", "--namesrv", g.ns.addr, "--topic", haTopic, "--count", strconv.Itoa(n), "--body-prefix", "ha")
	if code := prod.wait(ctx); code != 0 {
		t.Fatalf("produce.js exited %d: %s", code, prod.describeExit())
	}
	for _, l := range prod.snapshot() {
		if l.Type == "sent" && !strings.Contains(l.raw, `"sendStatus":"SEND_OK"`) {
			t.Fatalf("not SEND_OK under SYNC_MASTER with its slave: %s", l.raw)
		}
	}
	cons := g.e.startNode(t, "consume", "consume.js", "--namesrv", g.ns.addr, "--topic", haTopic,
		"--group", "HAConsumerGroup", "--idle-ms", "20000", "--timeout-ms", "150000")
	got := 0
	cons.waitFor(ctx, "first 50 messages", func(l line) bool {
		if l.Type == "msg" {
			got++
		}
		return got >= 50
	})
	g.master.kill9(t)
	t.Logf("master killed after the consumer had %d messages", countType(cons.snapshot(), "msg"))
	bodies := map[string]int{}
	cons.waitFor(ctx, "every message, from the slave", func(l line) bool {
		if l.Type == "msg" {
			bodies[l.Body]++
		}
		return len(bodies) == n
	})
	dups := 0
	for _, c := range bodies {
		dups += c - 1
	}
	t.Logf("consumer received all %d messages after the master's SIGKILL (%d redelivered)", n, dups)
	keys := slices.Sorted(maps.Keys(bodies))
	if keys[0] != "ha-0" {
		t.Fatalf("unexpected bodies: %v", keys[:3])
	}
}

func countType(lines []line, typ string) int {
	n := 0
	for _, l := range lines {
		if l.Type == typ {
			n++
		}
	}
	return n
}
