package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/rocketmq/server/servertest"
)

// The kill -9 test runs the broker in a child process (this test binary,
// running TestPersistChild), SIGKILLs it and starts it again on the same
// store.

const persistChildEnv = "GANNET_MQTT_CHILD_DIR"

func TestPersistChild(t *testing.T) {
	dir := os.Getenv(persistChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestPersistentSessionKill9")
	}
	var notify atomic.Pointer[func()]
	st := testStore(t, dir, engine.SyncFlush, &notify, os.Stderr)
	o := DefaultOptions()
	o.Addr = os.Getenv(persistChildEnv + "_ADDR")
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := Start(o, st)
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(3)
	}
	fn := srv.Notify
	notify.Store(&fn)
	fmt.Println("ready")
	time.Sleep(2 * time.Minute) // the parent kills it long before
	os.Exit(4)
}

type child struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startChild(t *testing.T, dir, addr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), persistChildEnv+"="+dir, persistChildEnv+"_ADDR="+addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- ""
			} else {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			cmd.Process.Kill()
			t.Fatalf("child: %s\n%s", msg, c.stderr.String())
		}
	case <-time.After(waitFor):
		cmd.Process.Kill()
		t.Fatalf("child did not start\n%s", c.stderr.String())
	}
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// TestPersistentSessionKill9: a persistent subscriber receives messages
// without acknowledging them and goes offline; more QoS 1 messages are
// acknowledged to a publisher; a retained message is set; the broker is
// killed with SIGKILL (SYNC_FLUSH). After a restart the subscriber
// reconnects with clean session off, without subscribing again, and
// receives every acknowledged message, the unacknowledged ones marked DUP;
// a new subscriber gets the retained message.
func TestPersistentSessionKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", servertest.FreePort(t))
	ch := startChild(t, dir, addr)
	defer func() {
		if t.Failed() {
			t.Logf("child logs:\n%s", ch.stderr.String())
		}
	}()

	noAck := newInbox()
	sub := client(t, addr, "durable-sub", false, func(o *paho.ClientOptions) { o.SetAutoAckDisabled(true) })
	await(t, sub.Subscribe("dur/#", 1, noAck.handler), "subscribe")
	pub := client(t, addr, "pub", true, nil)
	const first, second = 50, 150
	var acked []string
	for i := 0; i < first; i++ {
		await(t, pub.Publish("dur/a", 1, false, payloadOf(i)), "publish")
		acked = append(acked, payloadOf(i))
	}
	noAck.waitN(t, first) // delivered, never acknowledged
	sub.Disconnect(100)
	for i := first; i < first+second; i++ {
		await(t, pub.Publish(fmt.Sprintf("dur/%c", 'a'+i%3), 1, false, payloadOf(i)), "publish")
		acked = append(acked, payloadOf(i))
	}
	await(t, pub.Publish("dur/ret", 1, true, "retained across kill"), "publish retained")
	pub.Disconnect(0)
	ch.kill()

	ch = startChild(t, dir, addr)
	in := newInbox()
	// No SUBSCRIBE: the session brings its subscription back.
	sub2 := client(t, addr, "durable-sub", false, func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(in.handler)
	})
	msgs := in.waitN(t, len(acked)+1)
	seen := map[string]got{}
	for _, m := range msgs {
		seen[m.payload] = m
	}
	for i, p := range acked {
		m, ok := seen[p]
		if !ok {
			t.Fatalf("acknowledged message %s was not delivered after kill -9 (got %d messages)", p, len(msgs))
		}
		if i < first && !m.dup {
			t.Errorf("redelivery of unacknowledged %s lacks DUP", p)
		}
	}
	if _, ok := seen["retained across kill"]; !ok {
		t.Error("the retained publish was not delivered to the persistent subscriber")
	}
	// Delivery goes on after the restart.
	pub2 := client(t, addr, "pub2", true, nil)
	await(t, pub2.Publish("dur/after", 1, false, "after restart"), "publish")
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(fmt.Sprint(in.snapshot()), "after restart") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(fmt.Sprint(in.snapshot()), "after restart") {
		t.Error("a message published after the restart did not arrive")
	}
	sub2.Disconnect(100)

	fresh := newInbox()
	c := client(t, addr, "fresh", true, nil)
	await(t, c.Subscribe("dur/ret", 1, fresh.handler), "subscribe retained")
	if m := fresh.waitN(t, 1)[0]; !m.retained || m.payload != "retained across kill" {
		t.Errorf("retained after kill -9: %+v", m)
	}
	t.Logf("%d acknowledged messages, %d delivered after kill -9 (duplicates allowed)", len(acked), len(msgs))
}
