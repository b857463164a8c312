//go:build unix

package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gannetmq/gannet/controller"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Automatic master switch across processes: three `gannet controller`
// processes (Raft), a name server and three `gannet broker` processes in
// controller mode (one group, SYNC_MASTER), all of the built binary.

const failoverGroup = "broker-fo"

type foCluster struct {
	*haGroup
	ctls    []*gannetProc
	brokers map[int64]*gannetProc
	ctl     *controller.Client
}

func startFailoverCluster(t *testing.T) *foCluster {
	t.Helper()
	e := setup(t)
	g := &haGroup{t: t, e: e, dir: t.TempDir(), client: remoting.NewClient(remoting.ClientOptions{})}
	c := &foCluster{haGroup: g, brokers: map[int64]*gannetProc{}}
	t.Cleanup(func() {
		g.client.Close()
		var all []*gannetProc
		for _, p := range c.brokers {
			all = append(all, p)
		}
		all = append(append(all, c.ctls...), g.ns)
		for _, p := range all {
			if p != nil {
				p.stop()
			}
		}
		if t.Failed() {
			for _, p := range all {
				if p != nil {
					t.Logf("%s log (tail of %s):\n%s", p.name, p.logPath, fileTail(p.logPath, 6<<10))
				}
			}
		}
	})
	nsAddr := g.freeAddr()
	g.ns = g.startProc("namesrv", "", "namesrv", "--listen", nsAddr)
	g.ns.addr = nsAddr
	g.waitListening(g.ns)

	var peers, rpcs []string
	raft := make([]string, 3)
	for i := range 3 {
		raft[i] = g.freeAddr()
		rpcs = append(rpcs, g.freeAddr())
		peers = append(peers, fmt.Sprintf("c%d=%s/%s", i+1, raft[i], rpcs[i]))
	}
	for i := range 3 {
		p := g.startProc(fmt.Sprintf("controller-%d", i+1), "", "controller", "--id", fmt.Sprintf("c%d", i+1),
			"--raft-addr", raft[i], "--rpc-addr", rpcs[i], "--peers", strings.Join(peers, ","),
			"--dir", filepath.Join(g.dir, fmt.Sprintf("c%d", i+1)), "--broker-timeout", "2s", "--scan-interval", "200ms")
		p.addr = rpcs[i]
		c.ctls = append(c.ctls, p)
	}
	for _, p := range c.ctls {
		g.waitListening(p)
	}
	c.ctl = controller.NewClient(rpcs, g.client)
	for id := int64(1); id <= 3; id++ {
		c.brokers[id] = c.startControlled(id, strings.Join(rpcs, ";"))
		if id == 1 {
			c.waitGroup("broker 1 master", 20*time.Second, func(s controller.GroupState) bool { return s.MasterID == 1 })
		}
	}
	c.waitGroup("all three in the SyncStateSet", 30*time.Second, func(s controller.GroupState) bool {
		return len(s.SyncStateSet) == 3
	})
	return c
}

func (c *foCluster) startControlled(id int64, controllers string) *gannetProc {
	return c.startBrokerProc(fmt.Sprintf("broker-%d", id), fmt.Sprintf(`brokerClusterName=FOCluster
brokerName=%s
brokerId=%d
brokerRole=SYNC_MASTER
enableControllerMode=true
controllerAddr=%s
flushDiskType=ASYNC_FLUSH
haMaxTimeSlaveNotCatchup=3000
`, failoverGroup, id, controllers))
}

func (c *foCluster) group() (controller.GroupState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.ctl.Group(ctx, failoverGroup)
}

func (c *foCluster) waitGroup(what string, d time.Duration, cond func(controller.GroupState) bool) controller.GroupState {
	c.t.Helper()
	var s controller.GroupState
	c.eventually(what, d, func() bool {
		var err error
		s, err = c.group()
		return err == nil && cond(s)
	})
	return s
}

// failoverLoad sends from several goroutines to whoever the controllers
// name master, recording acknowledged bodies and the first SUCCESS from
// each address.
type failoverLoad struct {
	c       *foCluster
	master  atomic.Pointer[string]
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   map[string]bool
	firstOK map[string]time.Time
	others  map[string]int
}

func (c *foCluster) startFailoverLoad(senders int) *failoverLoad {
	l := &failoverLoad{c: c, stop: make(chan struct{}), acked: map[string]bool{}, firstOK: map[string]time.Time{}, others: map[string]int{}}
	s, err := c.group()
	if err != nil {
		c.t.Fatal(err)
	}
	l.master.Store(&s.MasterAddr)
	l.wg.Go(func() {
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if s, err := c.group(); err == nil && s.MasterID > 0 {
				l.master.Store(&s.MasterAddr)
			}
		}
	})
	var seq atomic.Int64
	for range senders {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				addr := *l.master.Load()
				body := fmt.Sprintf("fo-%d", seq.Add(1))
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				resp, err := c.client.Invoke(ctx, addr, remoting.NewRequest(remoting.ReqSendMessage, sendHeader(int(seq.Load()%4), body), []byte(body)))
				cancel()
				l.mu.Lock()
				switch {
				case err != nil:
					l.others["error"]++
				case resp.Code == remoting.ResSuccess:
					l.acked[body] = true
					if _, ok := l.firstOK[addr]; !ok {
						l.firstOK[addr] = time.Now()
					}
				default:
					l.others[remoting.ResponseCodeName(resp.Code)]++
				}
				l.mu.Unlock()
				if err != nil || resp.Code != remoting.ResSuccess {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return l
}

func (l *failoverLoad) ackedFrom(addr string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.firstOK[addr]
	return t, ok
}

// reset forgets the first SUCCESS times, before a kill.
func (l *failoverLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.firstOK)
}

func (l *failoverLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *failoverLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// TestFailoverKill9 kills the master with SIGKILL under a SYNC_MASTER
// send load, several times in a row: each time a replica from the
// SyncStateSet takes over, and the time from the kill to the first
// acknowledged send on it is measured; the killed broker restarts, cuts
// back what the group never had, and rejoins. At the end every
// acknowledged message is on the last master exactly once and the three
// CommitLogs are byte-identical.
func TestFailoverKill9(t *testing.T) {
	c := startFailoverCluster(t)
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("GANNET_FAILOVER_RUNS")); err == nil && n > 0 {
		runs = n
	}
	load := c.startFailoverLoad(8)
	var took []time.Duration
	for run := range runs {
		before := c.waitGroup("a master", 20*time.Second, func(s controller.GroupState) bool { return s.MasterID > 0 })
		base := load.count()
		c.eventually("sends acknowledged by the master", 20*time.Second, func() bool { return load.count() >= base+300 })
		old := c.brokers[before.MasterID]
		load.reset()
		old.kill9(t)
		killed := time.Now()
		after := c.waitGroup("a new master", 20*time.Second, func(s controller.GroupState) bool {
			return s.MasterID > 0 && s.MasterID != before.MasterID && s.MasterEpoch > before.MasterEpoch
		})
		var first time.Time
		c.eventually("a send acknowledged by the new master", 20*time.Second, func() bool {
			var ok bool
			first, ok = load.ackedFrom(after.MasterAddr)
			return ok && first.After(killed)
		})
		took = append(took, first.Sub(killed))
		t.Logf("run %d: broker %d killed at epoch %d; broker %d master at epoch %d; first acknowledged send %v after the kill",
			run+1, before.MasterID, before.MasterEpoch, after.MasterID, after.MasterEpoch, first.Sub(killed).Round(time.Millisecond))
		// The killed broker comes back as a slave.
		c.brokers[before.MasterID] = c.restart(old)
		c.waitGroup("the restarted broker back in the SyncStateSet", 30*time.Second, func(s controller.GroupState) bool {
			return slices.Contains(s.SyncStateSet, before.MasterID) && len(s.SyncStateSet) == 3
		})
	}
	load.finish()
	t.Logf("sent: %d acknowledged, other answers %v", len(load.acked), load.others)
	sorted := slices.Clone(took)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("kill to first acknowledged send on the new master over %d runs: median %v, max %v",
		runs, sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))

	final := c.waitGroup("a master", 20*time.Second, func(s controller.GroupState) bool { return s.MasterID > 0 })
	master := c.brokers[final.MasterID]
	end := c.maxOffset(master.addr)
	seen := c.readAllOf(master.addr, load.acked)
	lost, dups := 0, 0
	for body := range load.acked {
		if seen[body] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		dups += max(n-1, 0)
	}
	t.Logf("the last master holds %d messages: %d acknowledged lost, %d stored twice", len(seen), lost, dups)
	if lost > 0 || dups > 0 {
		t.Fatalf("%d acknowledged messages lost, %d stored twice", lost, dups)
	}
	cut := 0
	for id, p := range c.brokers {
		c.eventually(fmt.Sprintf("broker %d caught up", id), 20*time.Second, func() bool { return c.maxOffset(p.addr) == end })
		b, _ := os.ReadFile(p.logPath)
		if strings.Contains(string(b), "cut the log back") {
			cut++
		}
	}
	t.Logf("%d of the restarted brokers cut their log back before rejoining", cut)
	for _, p := range c.brokers {
		p.stop()
	}
	ref := commitLogBytes(t, filepath.Join(c.dir, fmt.Sprintf("broker-%d", final.MasterID), "commitlog"), end)
	for id := range c.brokers {
		got := commitLogBytes(t, filepath.Join(c.dir, fmt.Sprintf("broker-%d", id), "commitlog"), end)
		if i := firstDiff(ref, got); i >= 0 {
			t.Fatalf("broker %d's CommitLog differs from the master's at byte %d of %d", id, i, end)
		}
	}
}

// TestFailoverControllerLeaderKill kills the Raft leader among the
// controllers: another takes over with the group's state intact and the
// master keeps acknowledging sends throughout.
func TestFailoverControllerLeaderKill(t *testing.T) {
	c := startFailoverCluster(t)
	before := c.waitGroup("a master", 10*time.Second, func(s controller.GroupState) bool { return s.MasterID > 0 })
	leader := -1
	for i, p := range c.ctls {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := c.client.Invoke(ctx, p.addr, remoting.NewRequest(remoting.ReqControllerGetReplicaInfo, nil,
			[]byte(fmt.Sprintf(`{"brokerName":%q}`, failoverGroup))))
		cancel()
		if err == nil && resp.Code == remoting.ResSuccess {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no controller answered as leader")
	}
	load := c.startFailoverLoad(4)
	c.eventually("sends before", 10*time.Second, func() bool { return load.count() >= 100 })
	c.ctls[leader].kill9(t)
	killed := time.Now()
	base := load.count()
	after := c.waitGroup("the group's state from a new leader", 20*time.Second, func(s controller.GroupState) bool { return true })
	t.Logf("controller %d (leader) killed; a new leader answered after %v", leader+1, time.Since(killed).Round(time.Millisecond))
	if after.MasterID != before.MasterID || after.MasterEpoch != before.MasterEpoch {
		t.Fatalf("group changed with the controller leader: %+v → %+v", before, after)
	}
	c.eventually("sends after", 10*time.Second, func() bool { return load.count() >= base+300 })
	load.finish()
	if n := load.others["error"]; n > 0 {
		t.Fatalf("%d sends failed while the controllers changed leader", n)
	}
	t.Logf("%d sends acknowledged across the controller leader's death (other answers %v)", len(load.acked), load.others)
}

// TestFailoverAliOnsConsumer: an ali-ons consumer reads while the master is
// killed with SIGKILL; after the switch it goes on with the new master and
// receives every message, including those sent to the new master.
func TestFailoverAliOnsConsumer(t *testing.T) {
	c := startFailoverCluster(t)
	ctx := testContext(t, 3*time.Minute)
	before := c.waitGroup("a master", 10*time.Second, func(s controller.GroupState) bool { return s.MasterID > 0 })
	create := c.e.startNode(t, "create_topic", "create_topic.js", "--namesrv", c.ns.addr, "--broker", before.MasterAddr, "--topic", haTopic, "--queues", "4")
	if code := create.wait(ctx); code != 0 {
		t.Fatalf("create_topic.js exited %d: %s", code, create.describeExit())
	}
	const n = 300
	want := map[string]bool{}
	for i := range n {
		body := fmt.Sprintf("before-%d", i)
		resp, err := c.invoke(before.MasterAddr, remoting.ReqSendMessage, sendHeader(i%4, body), []byte(body))
		if err != nil || resp.Code != remoting.ResSuccess {
			t.Fatalf("send %d: %v %v", i, err, resp)
		}
		want[body] = true
	}
	cons := c.e.startNode(t, "consume", "consume.js", "--namesrv", c.ns.addr, "--topic", haTopic,
		"--group", "FOConsumerGroup", "--idle-ms", "30000", "--timeout-ms", "150000")
	got := map[string]int{}
	cons.waitFor(ctx, "first 50 messages", func(l line) bool {
		if l.Type == "msg" {
			got[l.Body]++
		}
		return len(got) >= 50
	})
	c.brokers[before.MasterID].kill9(t)
	after := c.waitGroup("a new master", 20*time.Second, func(s controller.GroupState) bool {
		return s.MasterID > 0 && s.MasterID != before.MasterID
	})
	for i := range 100 {
		body := fmt.Sprintf("after-%d", i)
		c.eventually("a send to the new master", 20*time.Second, func() bool {
			resp, err := c.invoke(after.MasterAddr, remoting.ReqSendMessage, sendHeader(i%4, body), []byte(body))
			return err == nil && resp.Code == remoting.ResSuccess
		})
		want[body] = true
	}
	cons.waitFor(ctx, "every message across the switch", func(l line) bool {
		if l.Type == "msg" {
			got[l.Body]++
		}
		for body := range want {
			if got[body] == 0 {
				return false
			}
		}
		return true
	})
	redelivered := 0
	for _, k := range got {
		redelivered += k - 1
	}
	t.Logf("ali-ons received all %d messages across the switch from broker %d to broker %d (%d redelivered)", len(want), before.MasterID, after.MasterID, redelivered)
}

// TestFailoverFrozenMaster freezes the master with SIGSTOP (cut off from
// controllers, replicas and clients at once, as by a partition or a long
// pause) under a SYNC_MASTER load; the others elect a new master; after
// SIGCONT the old master learns it was replaced, steps down, cuts back and
// rejoins. Nothing acknowledged is lost, nothing is stored twice.
func TestFailoverFrozenMaster(t *testing.T) {
	c := startFailoverCluster(t)
	before := c.waitGroup("a master", 10*time.Second, func(s controller.GroupState) bool { return s.MasterID > 0 })
	load := c.startFailoverLoad(8)
	c.eventually("sends before", 20*time.Second, func() bool { return load.count() >= 300 })
	old := c.brokers[before.MasterID]
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	after := c.waitGroup("a new master while the old one is frozen", 20*time.Second, func(s controller.GroupState) bool {
		return s.MasterID > 0 && s.MasterID != before.MasterID
	})
	base := load.count()
	c.eventually("sends on the new master", 20*time.Second, func() bool { return load.count() >= base+300 })
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.waitGroup("the old master back as a replica", 30*time.Second, func(s controller.GroupState) bool {
		return s.MasterID == after.MasterID && slices.Contains(s.SyncStateSet, before.MasterID)
	})
	base = load.count()
	c.eventually("more sends after the old master rejoined", 20*time.Second, func() bool { return load.count() >= base+200 })
	load.finish()
	t.Logf("broker %d frozen, broker %d master at epoch %d; %d sends acknowledged, other answers %v",
		before.MasterID, after.MasterID, after.MasterEpoch, len(load.acked), load.others)
	end := c.maxOffset(after.MasterAddr)
	seen := c.readAllOf(after.MasterAddr, load.acked)
	for body := range load.acked {
		if seen[body] == 0 {
			t.Fatalf("acknowledged %q is not on the new master", body)
		}
	}
	for body, n := range seen {
		if n > 1 {
			t.Fatalf("%q stored %d times", body, n)
		}
	}
	c.eventually("the old master caught up", 20*time.Second, func() bool { return c.maxOffset(old.addr) == end })
	b, _ := os.ReadFile(old.logPath)
	t.Logf("old master stepped down: %v; cut its log back: %v", strings.Contains(string(b), "stepping down"), strings.Contains(string(b), "cut the log back"))
	for _, p := range c.brokers {
		p.stop()
	}
	ref := commitLogBytes(t, filepath.Join(c.dir, fmt.Sprintf("broker-%d", after.MasterID), "commitlog"), end)
	got := commitLogBytes(t, filepath.Join(c.dir, fmt.Sprintf("broker-%d", before.MasterID), "commitlog"), end)
	if i := firstDiff(ref, got); i >= 0 {
		t.Fatalf("the old master's CommitLog differs at byte %d of %d", i, end)
	}
}
