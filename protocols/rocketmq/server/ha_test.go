package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// haBroker starts a broker of group "broker-ha" with the given role on
// free loopback ports, registered with nsAddr.
func haBroker(t *testing.T, logs *servertest.LogBuffer, nsAddr, dir, role string, id int, sets ...string) (*server.Broker, string) {
	t.Helper()
	ports := servertest.FreePorts(t, 2)
	port := ports[0]
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := config.Default()
	base := []string{
		"brokerClusterName=HACluster", "brokerName=broker-ha", fmt.Sprintf("brokerId=%d", id), "brokerRole=" + role,
		"brokerIP1=127.0.0.1", "brokerIP2=127.0.0.1", fmt.Sprintf("listenPort=%d", port),
		fmt.Sprintf("haListenPort=%d", ports[1]), "namesrvAddr=" + nsAddr,
		"storePathRootDir=" + dir, "storePathCommitLog=" + dir + "/commitlog", "syncFlushTimeout=2000",
	}
	if err := cfg.Apply(append(append(base, servertest.SmallStore...), sets...)); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("broker", role)
	bs, err := server.StartBroker(&cfg, addr, log)
	if err != nil {
		t.Fatal(err)
	}
	return bs, addr
}

func haSend(t *testing.T, cl *remoting.Client, addr, topic, body string) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ext := map[string]string{
		"producerGroup": "ha-producer", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": "0", "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": string(message.AppendProperty(nil, "KEYS", body)), "reconsumeTimes": "0",
		"unitMode": "false", "batch": "false", "maxReconsumeTimes": "0",
	}
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(remoting.ReqSendMessage, ext, []byte(body)))
	if err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	return resp
}

func haCall(t *testing.T, cl *remoting.Client, addr string, code int32, ext map[string]string) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(code, ext, nil))
	if err != nil {
		t.Fatalf("%s to %s: %v", remoting.CodeName(code), addr, err)
	}
	return resp
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyncMasterAndSlave runs a SYNC_MASTER and its slave in process: with
// no slave a send is stored but answered SLAVE_NOT_AVAILABLE; once the
// slave (which learns the master's HA address from the name server) is
// in sync, sends answer SUCCESS and are on the slave when answered; the
// slave refuses sends, serves pulls, and copies the master's topics and
// consumer offsets.
func TestSyncMasterAndSlave(t *testing.T) {
	logs := new(servertest.LogBuffer)
	log := slog.New(slog.NewTextHandler(logs, nil))
	ns, err := server.StartNameServer("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	nsAddr := ns.Addr().String()
	cl := remoting.NewClient(remoting.ClientOptions{Logger: log})
	defer cl.Close()

	master, masterAddr := haBroker(t, logs, nsAddr, t.TempDir(), "SYNC_MASTER", 0)
	defer master.Close()
	resp := haSend(t, cl, masterAddr, "HA", "before-slave")
	if resp.Code != remoting.ResSlaveNotAvailable || resp.ExtFields["msgId"] == "" {
		t.Fatalf("send without a slave: %s %q (msgId %q); want SLAVE_NOT_AVAILABLE with the stored message's id",
			remoting.ResponseCodeName(resp.Code), resp.Remark, resp.ExtFields["msgId"])
	}
	if err := master.AwaitReplicas(context.Background(), master.Store().MaxPhysicalOffset()); !errors.Is(err, server.ErrSlaveNotAvailable) {
		t.Fatalf("AwaitReplicas without a slave: %v", err)
	}
	// A consumer offset committed on the master reaches the slave.
	resp = haCall(t, cl, masterAddr, remoting.ReqUpdateConsumerOffset, map[string]string{
		"consumerGroup": "ha-group", "topic": "HA", "queueId": "0", "commitOffset": "1"})
	if resp.Code != remoting.ResSuccess {
		t.Fatalf("offset commit: %s", remoting.ResponseCodeName(resp.Code))
	}

	slave, slaveAddr := haBroker(t, logs, nsAddr, t.TempDir(), "SLAVE", 1)
	defer slave.Close()
	eventually(t, "slave in sync", 10*time.Second, func() bool {
		return len(master.SlaveOffsets()) == 1 && slave.Store().MaxPhysicalOffset() == master.Store().MaxPhysicalOffset()
	})
	for i := range 20 {
		body := fmt.Sprintf("synced-%d", i)
		resp := haSend(t, cl, masterAddr, "HA", body)
		if resp.Code != remoting.ResSuccess {
			t.Fatalf("send %d with the slave in sync: %s %q", i, remoting.ResponseCodeName(resp.Code), resp.Remark)
		}
		// Answered SUCCESS means the slave has acknowledged the bytes.
		if got, want := slave.Store().CommitLog().Written(), master.Store().CommitLog().Written(); got < want {
			t.Fatalf("send %d answered with the slave at %d of %d", i, got, want)
		}
	}

	if err := master.AwaitReplicas(context.Background(), master.Store().MaxPhysicalOffset()); err != nil {
		t.Fatalf("AwaitReplicas with the slave in sync: %v", err)
	}
	if !slave.IsSlave() || master.IsSlave() {
		t.Fatal("IsSlave wrong")
	}
	resp = haSend(t, cl, slaveAddr, "HA", "to-slave")
	if resp.Code != remoting.ResServiceNotAvailable {
		t.Fatalf("send to a slave: %s %q", remoting.ResponseCodeName(resp.Code), resp.Remark)
	}

	eventually(t, "metadata copied", 10*time.Second, func() bool {
		r := haCall(t, cl, slaveAddr, remoting.ReqQueryConsumerOffset, map[string]string{
			"consumerGroup": "ha-group", "topic": "HA", "queueId": "0"})
		return r.Code == remoting.ResSuccess && r.ExtFields["offset"] == "1"
	})
	topics := haCall(t, cl, slaveAddr, remoting.ReqGetAllTopicConfig, nil)
	if !bytes.Contains(topics.Body, []byte(`"HA"`)) {
		t.Fatalf("slave's topics lack HA: %s", topics.Body)
	}

	// The slave serves pulls of everything the master acknowledged.
	eventually(t, "slave dispatched", 5*time.Second, func() bool { return slave.Store().MaxOffset("HA", 0) == 21 })
	pull := haCall(t, cl, slaveAddr, remoting.ReqPullMessage, map[string]string{
		"consumerGroup": "ha-group", "topic": "HA", "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
		"sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0", "subscription": "*",
		"expressionType": "TAG"})
	if pull.Code != remoting.ResSuccess {
		t.Fatalf("pull from slave: %s %q", remoting.ResponseCodeName(pull.Code), pull.Remark)
	}
	n := 0
	for rest := pull.Body; len(rest) > 0; n++ {
		r, err := message.Parse(rest, true)
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[r.TotalSize():]
	}
	if n != 21 {
		t.Fatalf("pulled %d messages from the slave, want 21", n)
	}
}
