package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/controller"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func TestParsePeers(t *testing.T) {
	got, err := parsePeers("c1=127.0.0.1:9878/127.0.0.1:9879, c2=h2:1/h2:2")
	want := []controller.Peer{{ID: "c1", RaftAddr: "127.0.0.1:9878", RPCAddr: "127.0.0.1:9879"}, {ID: "c2", RaftAddr: "h2:1", RPCAddr: "h2:2"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v", got, err)
	}
	if p, err := parsePeers(""); p != nil || err != nil {
		t.Fatalf("empty: %+v %v", p, err)
	}
	for _, bad := range []string{"c1", "c1=a", "=a/b", "c1=a/", "c1=a/b,"} {
		if _, err := parsePeers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func freeTCPAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAdminCommands runs gannet admin against a single controller with
// two brokers heartbeating.
func TestAdminCommands(t *testing.T) {
	rpc := freeTCPAddr(t)
	ctl, err := controller.Start(controller.Config{
		ID: "c1", RaftAddr: freeTCPAddr(t), RPCAddr: rpc, Dir: t.TempDir(),
		RaftHeartbeatTimeout: 500 * time.Millisecond, RaftElectionTimeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	cl := controller.NewClient([]string{rpc}, rc)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	beat := func(id int64) error {
		_, err := cl.Heartbeat(ctx, controller.Heartbeat{ClusterName: "DefaultCluster", BrokerName: "broker-a", BrokerID: id,
			Addr: "10.0.0." + string(rune('1'+id)) + ":10911", HAAddr: "10.0.0.9:10912", MaxOffset: 100 * (id + 1)})
		return err
	}
	if err := beat(0); err != nil { // the first becomes master
		t.Fatal(err)
	}
	if err := beat(1); err != nil {
		t.Fatal(err)
	}
	go func() { // keep both alive while the commands run
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				beat(0)
				beat(1)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	if _, err := cl.AlterSyncStateSet(ctx, "broker-a", 0, 1, []int64{0, 1}); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		rc := runAdmin(args, &out, &errb)
		return out.String(), errb.String(), rc
	}
	out, errs, code := run("groups", "--controller", "127.0.0.1:1,"+rpc) // a dead address first: skipped
	if code != 0 {
		t.Fatalf("groups: %d %s", code, errs)
	}
	for _, want := range []string{"broker-a (cluster DefaultCluster)  master 0 10.0.0.1:10911", "epoch 1", "syncStateSet [0 1] (epoch 2)", "master", "yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("groups output lacks %q:\n%s", want, out)
		}
	}

	out, errs, code = run("elect", "--controller", rpc, "--broker-name", "broker-a", "--broker-id", "1")
	if code != 0 || !strings.Contains(out, "master of broker-a: broker 0 → broker 1, epoch 2") {
		t.Fatalf("elect: %d %s %s", code, out, errs)
	}
	if gs, err := cl.Group(ctx, "broker-a"); err != nil || gs.MasterID != 1 {
		t.Fatalf("after elect: %+v %v", gs, err)
	}
	// 0 left the set when 1 took over: refused.
	_, errs, code = run("elect", "--controller", rpc, "--broker-name", "broker-a", "--broker-id", "0")
	if code != 1 || !strings.Contains(errs, "not in the sync state set") {
		t.Fatalf("elect outside the set: %d %s", code, errs)
	}
	if _, _, code = run("nope"); code != 2 {
		t.Fatalf("unknown subcommand: %d", code)
	}
	if _, _, code = run("groups"); code != 2 {
		t.Fatalf("no --controller: %d", code)
	}
}
