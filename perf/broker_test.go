package perf

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker"
	"github.com/gannetmq/gannet/protocols/rocketmq/server"
)

// startBroker runs a name server and a broker on loopback ports, with a
// small store in a temporary directory, until the test ends.
func startBroker(t *testing.T) *server.Broker {
	t.Helper()
	ns, err := server.StartNameServer("127.0.0.1:0", quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // the broker needs its port up front: it goes into message ids
	ln.Close()
	cfg, err := server.StandaloneConfig(t.TempDir(), ns.Addr().String(), addr, "ASYNC_FLUSH", []string{
		"mappedFileSizeCommitLog=1048576", "maxMessageSize=65536", "mappedFileSizeConsumeQueue=60000", "maxHashSlotNum=4096", "maxIndexNum=16384",
	})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := server.StartBroker(&cfg, addr, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bs.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})
	return bs
}

func call(t *testing.T, cl *remoting.Client, addr string, code int32, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		t.Fatalf("%s: %v", remoting.CodeName(code), err)
	}
	return resp
}

func TestBrokerMetricsAfterSendsAndPulls(t *testing.T) {
	bs := startBroker(t)
	p, err := Start(Config{HTTPAddr: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := bs.Broker()
	err = p.Register(
		NewEngineCollector(bs.Store().Metrics),
		NewBrokerCollector(b.Metrics, b.ConsumerLag),
		NewRemotingCollector("broker", bs.RemotingMetrics),
	)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.HTTPAddr().String()

	cl := remoting.NewClient(remoting.ClientOptions{Logger: quiet})
	defer cl.Close()
	addr := bs.Addr().String()
	const topic, group, n = "PerfTopic", "perf-group", 3
	for i := range n {
		resp := call(t, cl, addr, remoting.ReqSendMessage, map[string]string{
			"producerGroup": "perf-producer", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
			"queueId": "0", "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10), "flag": "0",
			"properties": "", "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
		}, []byte("message "+strconv.Itoa(i)))
		if resp.Code != remoting.ResSuccess {
			t.Fatalf("send %d: %s %s", i, remoting.ResponseCodeName(resp.Code), resp.Remark)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for bs.Store().MaxOffset(topic, 0) < n {
		if time.Now().After(deadline) {
			t.Fatal("the messages never became visible")
		}
		time.Sleep(time.Millisecond)
	}
	pull := call(t, cl, addr, remoting.ReqPullMessage, map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": "0", "queueOffset": "0", "maxMsgNums": "32",
		"sysFlag": "4", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0",
		"subscription": "*", "expressionType": "TAG",
	}, nil)
	if pull.Code != remoting.ResSuccess {
		t.Fatalf("pull: %s %s", remoting.ResponseCodeName(pull.Code), pull.Remark)
	}
	pulled := 0
	for rest := pull.Body; len(rest) > 0; pulled++ {
		r, err := message.Parse(rest, true)
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[r.TotalSize():]
	}
	if pulled != n {
		t.Fatalf("pulled %d messages, want %d", pulled, n)
	}
	commit := call(t, cl, addr, remoting.ReqUpdateConsumerOffset, map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "1",
	}, nil)
	if commit.Code != remoting.ResSuccess {
		t.Fatalf("commit: %s", remoting.ResponseCodeName(commit.Code))
	}

	got := scrape(t, base)
	for series, want := range map[string]float64{
		`gannet_broker_messages_in_total{topic="PerfTopic"}`:                           n,
		`gannet_broker_messages_out_total{topic="PerfTopic"}`:                          n,
		`gannet_broker_bytes_out_total{topic="PerfTopic"}`:                             float64(len(pull.Body)),
		`gannet_broker_bytes_in_total{topic="PerfTopic"}`:                              float64(len(pull.Body)),
		`gannet_broker_send_results_total{code="SUCCESS"}`:                             n,
		`gannet_broker_send_duration_seconds_count`:                                    n,
		`gannet_broker_send_duration_seconds_bucket{le="+Inf"}`:                        n,
		`gannet_broker_pull_duration_seconds_count{held="false"}`:                      1,
		`gannet_broker_pull_duration_seconds_count{held="true"}`:                       0,
		`gannet_consumer_lag_messages{group="perf-group",queue="0",topic="PerfTopic"}`: n - 1,
		`gannet_remoting_connections{server="broker"}`:                                 1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	for _, series := range []string{
		`gannet_broker_send_duration_seconds_sum`,
		`gannet_broker_pull_duration_seconds_sum{held="false"}`,
	} {
		if got[series] <= 0 {
			t.Errorf("%s = %v, want > 0", series, got[series])
		}
	}
	if v := got[`gannet_broker_send_duration_seconds_bucket{le="60"}`]; v != n {
		t.Errorf(`send duration bucket le="60" = %v, want %d`, v, n)
	}

	problems, err := testutil.CollectAndLint(NewBrokerCollector(b.Metrics, b.ConsumerLag))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestBrokerCollectorOther exports send results outside the counted codes
// under code="other" and lints an empty broker.
func TestBrokerCollectorOther(t *testing.T) {
	c := NewBrokerCollector(func() broker.Metrics {
		return broker.Metrics{SendResultsOther: 2, SendResults: []broker.ResultCount{{Code: remoting.ResSystemBusy, Count: 1}}}
	}, func() []broker.Lag { return nil })
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c, "gannet_broker_send_results_total"); n != 2 {
		t.Errorf("%d send result series, want 2", n)
	}
}
