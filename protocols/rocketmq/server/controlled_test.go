package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// fakeControllers decides a group's master the way the controllers do:
// the first broker to heartbeat becomes master; when the master has been
// silent for expiry, the live member of the SyncStateSet with the largest
// offset takes over at the next epoch.
type fakeControllers struct {
	mu     sync.Mutex
	expiry time.Duration
	view   server.GroupView
	seen   map[int64]time.Time
	offset map[int64]int64
	addrs  map[int64][2]string
}

func (f *fakeControllers) forBroker(id int64, addr, haAddr string) server.Controller {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[id] = [2]string{addr, haAddr}
	return &fakeLink{f: f, id: id}
}

func (f *fakeControllers) electLocked() {
	now := time.Now()
	if f.view.MasterID >= 0 && now.Sub(f.seen[f.view.MasterID]) < f.expiry {
		return
	}
	best := int64(-1)
	for _, id := range f.view.SyncStateSet {
		if id != f.view.MasterID && now.Sub(f.seen[id]) < f.expiry && (best < 0 || f.offset[id] > f.offset[best]) {
			best = id
		}
	}
	if f.view.MasterID < 0 && f.view.Epoch == 0 {
		// The group's first heartbeat decides.
		for id, t := range f.seen {
			if now.Sub(t) < f.expiry {
				best = id
			}
		}
	}
	if best < 0 {
		f.view.MasterID, f.view.Note = -1, "no in-sync replica alive"
		return
	}
	f.view = server.GroupView{MasterID: best, MasterAddr: f.addrs[best][0], MasterHAAddr: f.addrs[best][1],
		Epoch: f.view.Epoch + 1, SyncStateSet: []int64{best}}
}

func (f *fakeControllers) current() server.GroupView {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.electLocked()
	v := f.view
	v.SyncStateSet = slices.Clone(v.SyncStateSet)
	return v
}

type fakeLink struct {
	f  *fakeControllers
	id int64
}

func (l *fakeLink) Heartbeat(_ context.Context, maxOffset int64, _ int32) (server.GroupView, error) {
	l.f.mu.Lock()
	l.f.seen[l.id] = time.Now()
	l.f.offset[l.id] = maxOffset
	l.f.mu.Unlock()
	return l.f.current(), nil
}

func (l *fakeLink) AlterSyncStateSet(_ context.Context, epoch int32, set []int64) (server.GroupView, error) {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	if l.f.view.MasterID != l.id || l.f.view.Epoch != epoch {
		return server.GroupView{}, fmt.Errorf("fenced: broker %d at epoch %d is not the master", l.id, epoch)
	}
	l.f.view.SyncStateSet = slices.Clone(set)
	return l.f.view, nil
}

type controlledBroker struct {
	id     int64
	cfg    config.Broker
	addr   string
	cancel context.CancelFunc
	done   chan error
	err    error
}

// stop ends the broker's RunControlled and waits for it, once.
func (b *controlledBroker) stop() error {
	if b.done != nil {
		b.cancel()
		b.err = <-b.done
		b.done = nil
	}
	return b.err
}

// trySend sends one message; nil when the broker cannot be reached (it
// may be restarting in a new role).
func trySend(cl *remoting.Client, addr, body string) *remoting.Command {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ext := map[string]string{
		"producerGroup": "ha-producer", "topic": "Ctl", "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": "0", "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": "", "reconsumeTimes": "0", "unitMode": "false", "batch": "false", "maxReconsumeTimes": "0",
	}
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(remoting.ReqSendMessage, ext, []byte(body)))
	if err != nil {
		return nil
	}
	return resp
}

// TestControlledFailover runs three brokers under (fake) controllers:
// one becomes master and the others join its SyncStateSet; SYNC_MASTER
// sends succeed; the master stops, the most advanced replica takes over at
// the next epoch and has every acknowledged message; the old master, given
// bytes its group never had, comes back as a slave, cuts them off and
// converges to the new master's log byte for byte.
func TestControlledFailover(t *testing.T) {
	logs := new(servertest.LogBuffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	ns, err := server.StartNameServer("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ctl := &fakeControllers{expiry: 600 * time.Millisecond, view: server.GroupView{MasterID: -1},
		seen: map[int64]time.Time{}, offset: map[int64]int64{}, addrs: map[int64][2]string{}}
	started := make(chan server.GroupView, 16)
	run := func(b *controlledBroker, link server.Controller) {
		ctx, cancel := context.WithCancel(context.Background())
		b.cancel, b.done = cancel, make(chan error, 1)
		go func() {
			b.done <- server.RunControlled(ctx, b.cfg, b.addr, link, log.With("id", b.id), server.ControlledOptions{
				HeartbeatInterval: 100 * time.Millisecond,
				Started:           func(_ *server.Broker, v server.GroupView) { started <- v },
			})
		}()
	}
	brokers := map[int64]*controlledBroker{}
	ports := servertest.FreePorts(t, 6) // a client and an HA port per broker
	for id := int64(1); id <= 3; id++ {
		port, haPort := ports[2*(id-1)], ports[2*(id-1)+1]
		dir := t.TempDir()
		cfg := config.Default()
		sets := append([]string{
			"brokerClusterName=Ctl", "brokerName=broker-ctl", fmt.Sprintf("brokerId=%d", id), "brokerRole=SYNC_MASTER",
			"enableControllerMode=true", "controllerAddr=127.0.0.1:1", "brokerIP1=127.0.0.1", "brokerIP2=127.0.0.1",
			fmt.Sprintf("listenPort=%d", port), fmt.Sprintf("haListenPort=%d", haPort), "namesrvAddr=" + ns.Addr().String(),
			"storePathRootDir=" + dir, "storePathCommitLog=" + filepath.Join(dir, "commitlog"), "syncFlushTimeout=2000",
			"haMaxTimeSlaveNotCatchup=1000",
		}, servertest.SmallStore...)
		if err := cfg.Apply(sets); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		b := &controlledBroker{id: id, cfg: cfg, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		brokers[id] = b
		run(b, ctl.forBroker(id, b.addr, net.JoinHostPort("127.0.0.1", strconv.Itoa(haPort))))
		if id == 1 {
			eventually(t, "broker 1 to become master", 5*time.Second, func() bool { return ctl.current().MasterID == 1 })
		}
	}
	defer func() {
		for _, b := range brokers {
			b.stop()
		}
	}()
	eventually(t, "both replicas in the SyncStateSet", 15*time.Second, func() bool {
		return slices.Equal(ctl.current().SyncStateSet, []int64{1, 2, 3})
	})

	cl := remoting.NewClient(remoting.ClientOptions{Logger: log})
	defer cl.Close()
	master := brokers[1]
	acked := map[string]bool{}
	for i := range 100 {
		body := fmt.Sprintf("m-%d", i)
		if resp := haSend(t, cl, master.addr, "Ctl", body); resp.Code == remoting.ResSuccess {
			acked[body] = true
		}
	}
	if len(acked) < 100 {
		t.Fatalf("only %d of 100 sends acknowledged with every replica in sync", len(acked))
	}

	// The master stops; a replica takes over at epoch 2.
	if err := master.stop(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	var v server.GroupView
	eventually(t, "a new master", 10*time.Second, func() bool { v = ctl.current(); return v.MasterID > 1 && v.Epoch == 2 })
	newMaster := brokers[v.MasterID]
	var resp *remoting.Command
	eventually(t, "the new master to accept a send", 10*time.Second, func() bool {
		resp = trySend(cl, newMaster.addr, "after-switch")
		return resp != nil && resp.Code == remoting.ResSuccess
	})
	t.Logf("broker %d master at epoch %d; first send acknowledged %v after the old master stopped", v.MasterID, v.Epoch, time.Since(stoppedAt).Round(time.Millisecond))
	var seen map[string]bool
	eventually(t, "the new master to hold every acknowledged message", 10*time.Second, func() bool {
		seen = readTopic(t, cl, newMaster.addr, "Ctl")
		for body := range acked {
			if !seen[body] {
				return false
			}
		}
		return true
	})
	for body := range acked {
		if !seen[body] {
			t.Fatalf("acknowledged %q missing on the new master", body)
		}
	}

	// The old master gets bytes nobody else has, then comes back.
	eo := master.cfg.EngineOptions()
	eo.Logger = log
	s, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r := &engine.Request{Msgs: []message.Message{{Topic: "Ctl", QueueID: 0, Body: fmt.Appendf(nil, "lost-%d", i)}}}
		if st := s.Append(r); st != engine.StatusOK {
			t.Fatal(st, r.Err)
		}
	}
	s.Close()
	run(master, ctl.forBroker(1, master.addr, master.cfg.HAServerAddr()))
	eventually(t, "the old master back in the SyncStateSet", 15*time.Second, func() bool {
		return slices.Contains(ctl.current().SyncStateSet, 1)
	})
	for i := range 20 {
		trySend(cl, newMaster.addr, fmt.Sprintf("later-%d", i))
	}
	if !bytes.Contains([]byte(logs.String()), []byte("cut the log back")) {
		t.Fatal("the old master did not cut its log back")
	}
	end := probeMaxOffset(t, cl, newMaster.addr)
	eventually(t, "the old master caught up", 10*time.Second, func() bool { return probeMaxOffset(t, cl, master.addr) == end })
	a := commitLogPrefix(t, filepath.Join(newMaster.cfg.StorePathRootDir, "commitlog"), end)
	b := commitLogPrefix(t, filepath.Join(master.cfg.StorePathRootDir, "commitlog"), end)
	if !bytes.Equal(a, b) {
		t.Fatal("the old master's CommitLog differs from the new master's")
	}
	if bytes.Contains(b, []byte("lost-0")) {
		t.Fatal("the old master kept bytes its group never had")
	}
}

func readTopic(t *testing.T, cl *remoting.Client, addr, topic string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for qid := range 4 {
		for off := int64(0); ; {
			pull := haCall(t, cl, addr, remoting.ReqPullMessage, map[string]string{
				"consumerGroup": "reader", "topic": topic, "queueId": strconv.Itoa(qid), "queueOffset": strconv.FormatInt(off, 10),
				"maxMsgNums": "32", "sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0",
				"subscription": "*", "expressionType": "TAG"})
			if pull.Code != remoting.ResSuccess {
				break
			}
			for rest := pull.Body; len(rest) > 0; {
				r, err := message.Parse(rest, true)
				if err != nil {
					t.Fatal(err)
				}
				seen[string(r.Body())] = true
				rest = rest[r.TotalSize():]
			}
			off, _ = strconv.ParseInt(pull.ExtFields["nextBeginOffset"], 10, 64)
		}
	}
	return seen
}

func commitLogPrefix(t *testing.T, dir string, n int64) []byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, e := range entries {
		if int64(len(out)) >= n {
			break
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:min(int64(len(b)), n-int64(len(out)))]...)
	}
	return out
}

func probeMaxOffset(t *testing.T, cl *remoting.Client, addr string) int64 {
	t.Helper()
	resp := haCall(t, cl, addr, remoting.ReqGetBrokerRuntimeInfo, nil)
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(kv.Table["commitLogMaxOffset"], 10, 64)
	return n
}
