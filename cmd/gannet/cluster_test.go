package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
)

func TestClusterLayout(t *testing.T) {
	want := map[string][]string{
		"single":      {"broker-a ASYNC_MASTER 0 +1035"},
		"2m":          {"broker-a ASYNC_MASTER 0 +1035", "broker-b ASYNC_MASTER 0 +1055"},
		"2m-2s-async": {"broker-a ASYNC_MASTER 0 +1035", "broker-b ASYNC_MASTER 0 +1055", "broker-a SLAVE 1 +1045", "broker-b SLAVE 1 +1065"},
		"2m-2s-sync":  {"broker-a SYNC_MASTER 0 +1035", "broker-b SYNC_MASTER 0 +1055", "broker-a SLAVE 1 +1045", "broker-b SLAVE 1 +1065"},
	}
	for _, mode := range clusterModes {
		specs, err := clusterLayout(mode)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		ports := map[int]string{0: "namesrv"}
		for _, b := range specs {
			got = append(got, b.Group+" "+string(b.Role)+" "+strconv.FormatInt(b.ID, 10)+" +"+strconv.Itoa(b.Offset))
			for _, port := range []int{b.Offset, b.Offset + 1} {
				if other, dup := ports[port]; dup {
					t.Errorf("%s: %s and %s share port offset %d", mode, b.Name, other, port)
				}
				ports[port] = b.Name
			}
			if b.Offset+1 > highestOffset {
				t.Errorf("%s: %s uses offset %d above highestOffset %d", mode, b.Name, b.Offset+1, highestOffset)
			}
		}
		if strings.Join(got, ", ") != strings.Join(want[mode], ", ") {
			t.Errorf("%s: layout %q, want %q", mode, got, want[mode])
		}
	}
	if _, err := clusterLayout("3m"); err == nil {
		t.Error("mode 3m accepted")
	}
}

// TestClusterConfLoads checks that every file gannet cluster writes loads
// without a warning and says what the layout says.
func TestClusterConfLoads(t *testing.T) {
	for _, mode := range clusterModes {
		specs, _ := clusterLayout(mode)
		p := clusterParams{Mode: mode, BasePort: 20000, Host: "127.0.0.1", Root: t.TempDir(), Flush: config.SyncFlush}
		paths, err := writeClusterConf(p, specs, []string{"mappedFileSizeCommitLog=65536", "maxMessageSize=1024"})
		if err != nil {
			t.Fatal(err)
		}
		for i, path := range paths {
			b, warnings, err := config.Load(path)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("%s: %v %v", path, err, warnings)
			}
			s := specs[i]
			if b.BrokerName != s.Group || b.BrokerID != s.ID || b.BrokerRole != s.Role || b.ListenPort != 20000+s.Offset ||
				b.HAListenPort != b.ListenPort+1 || b.NamesrvAddr != "127.0.0.1:20000" || b.FlushDiskType != config.SyncFlush ||
				b.StorePathRootDir != filepath.Join(p.Root, s.Name, "store") || b.MappedFileSizeCommitLog != 65536 {
				t.Errorf("%s: loaded %+v", path, b)
			}
		}
	}
}

// freeBasePort picks a base port whose whole layout is free on loopback
// now (the cluster checks again and the test retries if it lost a race).
func freeBasePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(30000)
		free := true
		for _, off := range append([]int{0}, offsetBrokerA, offsetBrokerA+1, offsetBrokerAS, offsetBrokerB, offsetBrokerB+1, offsetBrokerBS) {
			ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(base+off)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// buildGannet builds the gannet binary into a temporary directory.
func buildGannet(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "gannet")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a child's output for the failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestCluster2m2sSync runs `gannet cluster --mode 2m-2s-sync`: the name
// server lists both groups with a master and a slave, a SYNC_MASTER
// answers SUCCESS once its slave is connected, the slave serves the
// message after its master is SIGKILLed, and SIGTERM stops everything.
func TestCluster2m2sSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts five processes")
	}
	bin := buildGannet(t)
	dir := t.TempDir()
	var (
		cmd  *exec.Cmd
		out  *lockedBuffer
		done chan error
		cf   clusterFile
	)
	for attempt := 1; ; attempt++ {
		base := freeBasePort(t)
		out = new(lockedBuffer)
		cmd = exec.Command(bin, "cluster", "--mode", "2m-2s-sync", "--dir", dir, "--base-port", strconv.Itoa(base),
			"--log-level", "warn", "--set", "mappedFileSizeCommitLog=8388608", "--stop-timeout", "10s")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done = make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		p := cmd.Process
		t.Cleanup(func() { p.Kill() }) // after a failure; an error once it has exited
		err := waitClusterFile(filepath.Join(dir, "cluster.json"), done, &cf)
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(out.String(), "is not free") {
			continue // lost the port range to someone else
		}
		t.Fatalf("cluster did not start: %v\n%s", err, out.String())
	}
	t.Logf("cluster up:\n%s", out.String())
	procs := map[string]*clusterProc{}
	for _, pr := range cf.Processes {
		procs[pr.Name] = pr
	}
	if len(procs) != 5 || cf.Pid != cmd.Process.Pid {
		t.Fatalf("cluster.json: %+v", cf)
	}

	client := remoting.NewClient(remoting.ClientOptions{DialTimeout: time.Second})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	info, err := clusterInfo(ctx, client, cf.Namesrv)
	if err != nil {
		t.Fatal(err)
	}
	for _, group := range []string{"broker-a", "broker-b"} {
		if info[group][0] != procs[group].Addr || info[group][1] != procs[group+"-s"].Addr {
			t.Errorf("name server lists %s as %v, want master %s and slave %s", group, info[group], procs[group].Addr, procs[group+"-s"].Addr)
		}
	}

	// A SYNC_MASTER answers SLAVE_NOT_AVAILABLE until its slave is in sync.
	const topic, body = "ClusterTest", "replicated"
	master, slave := procs["broker-a"], procs["broker-a-s"]
	var resp *remoting.Command
	for {
		resp, err = client.Invoke(ctx, master.Addr, remoting.NewRequest(remoting.ReqSendMessage, clusterSendExt(topic), []byte(body)))
		if err != nil {
			t.Fatalf("SEND_MESSAGE to %s: %v", master.Addr, err)
		}
		if resp.Code != remoting.ResSlaveNotAvailable || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.Code != remoting.ResSuccess {
		t.Fatalf("SEND_MESSAGE answered %s %q\n%s", remoting.ResponseCodeName(resp.Code), resp.Remark, logTail(master.Log, 20))
	}

	// The master dies; the acknowledged message is read from the slave.
	if err := syscall.Kill(master.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The slave acknowledged the bytes; its dispatcher indexes them a
	// moment later, so the first pulls may find no queue yet.
	for {
		resp, err = client.Invoke(ctx, slave.Addr, remoting.NewRequest(remoting.ReqPullMessage, map[string]string{
			"consumerGroup": "cluster-test", "topic": topic, "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
			"sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0", "subscription": "*",
			"expressionType": "TAG",
		}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code == remoting.ResSuccess || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.Code != remoting.ResSuccess {
		t.Fatalf("PULL_MESSAGE from the slave answered %s %q", remoting.ResponseCodeName(resp.Code), resp.Remark)
	}
	r, err := message.Parse(resp.Body, true)
	if err != nil || string(r.Body()) != body || string(r.Topic()) != topic {
		t.Fatalf("slave returned %q on %q (%v), want %q", r.Body(), r.Topic(), err, body)
	}

	killed := "broker-a (pid " + strconv.Itoa(master.Pid) + ") exited"
	for !strings.Contains(out.String(), killed) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Errorf("the killed master was not reported:\n%s", out.String())
	}

	// SIGTERM stops the rest and leaves no process behind.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gannet cluster exited with %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("gannet cluster still running 20 s after SIGTERM\n%s", out.String())
	}
	for _, pr := range cf.Processes {
		if alive(pr.Pid) {
			t.Errorf("%s (pid %d) is still running", pr.Name, pr.Pid)
			syscall.Kill(pr.Pid, syscall.SIGKILL)
		}
	}
}

// waitClusterFile waits for cluster.json, or for gannet cluster to exit.
func waitClusterFile(path string, done <-chan error, cf *clusterFile) error {
	deadline := time.After(90 * time.Second)
	for {
		if data, err := os.ReadFile(path); err == nil {
			return json.Unmarshal(data, cf)
		}
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return err
		case <-deadline:
			return errors.New("no cluster.json after 90 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clusterSendExt is a SEND_MESSAGE header for queue 0 of topic.
func clusterSendExt(topic string) map[string]string {
	return map[string]string{
		"producerGroup": "cluster-test", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": "0", "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": "", "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
		"maxReconsumeTimes": "0",
	}
}
