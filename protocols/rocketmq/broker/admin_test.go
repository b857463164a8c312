package broker

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func topicExt(topic string, read, write, perm int) map[string]string {
	return map[string]string{
		"topic": topic, "defaultTopic": "defaultTopic", "readQueueNums": strconv.Itoa(read), "writeQueueNums": strconv.Itoa(write),
		"perm": strconv.Itoa(perm), "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false",
	}
}

func TestTopicCreateAndDelete(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	expect(t, e.do(conn, remoting.ReqUpdateAndCreateTopic, topicExt("made", 8, 8, 6), nil), remoting.ResSuccess)
	tc, ok := e.b.meta.Topics.Get("made")
	if !ok || tc.ReadQueueNums != 8 || tc.Perm != 6 {
		t.Fatalf("created %+v %v", tc, ok)
	}
	v := e.b.meta.Topics.DataVersion()
	expect(t, e.do(conn, remoting.ReqUpdateAndCreateTopic, topicExt("made", 8, 8, 6), nil), remoting.ResSuccess)
	if e.b.meta.Topics.DataVersion() != v {
		t.Fatal("an unchanged topic bumped the data version")
	}
	ext := topicExt("made", 4, 2, 4)
	ext["attributes"] = "+queue.type=BatchCQ"
	expect(t, e.do(conn, remoting.ReqUpdateAndCreateTopic, ext, nil), remoting.ResSuccess)
	if tc, _ := e.b.meta.Topics.Get("made"); tc.WriteQueueNums != 2 || tc.Perm != 4 || tc.Attributes["queue.type"] != "BatchCQ" {
		t.Fatalf("updated %+v", tc)
	}

	s := e.do(conn, remoting.ReqGetAllTopicConfig, nil, nil)
	expect(t, s, remoting.ResSuccess)
	var all struct {
		TopicConfigTable map[string]meta.TopicConfig `json:"topicConfigTable"`
	}
	if err := json.Unmarshal(s.body, &all); err != nil || all.TopicConfigTable["made"].ReadQueueNums != 4 {
		t.Fatalf("GET_ALL_TOPIC_CONFIG: %v %s", err, s.body)
	}

	e.b.meta.Offsets.Commit("g", "made", 0, 5)
	e.fill("made", 0, 3)
	expect(t, e.do(conn, remoting.ReqDeleteTopicInBroker, map[string]string{"topic": "made"}, nil), remoting.ResSuccess)
	if e.store.MaxOffset("made", 0) != 0 {
		t.Fatal("consume queues of a deleted topic kept")
	}
	if _, ok := e.b.meta.Topics.Get("made"); ok {
		t.Fatal("topic still there")
	}
	if _, ok := e.b.meta.Offsets.Query("g", "made", 0); ok {
		t.Fatal("offsets of a deleted topic kept")
	}

	bad := func(name string, code int32, ext map[string]string) {
		t.Run(name, func(t *testing.T) { expect(t, e.do(conn, code, ext, nil), remoting.ResSystemError) })
	}
	bad("bad name", remoting.ReqUpdateAndCreateTopic, topicExt("a b", 1, 1, 6))
	bad("zero queues", remoting.ReqUpdateAndCreateTopic, topicExt("z", 0, 1, 6))
	bad("bad perm", remoting.ReqUpdateAndCreateTopic, topicExt("z", 1, 1, 9))
	bad("system topic", remoting.ReqUpdateAndCreateTopic, topicExt("SCHEDULE_TOPIC_XXXX", 1, 1, 6))
	bad("missing queues", remoting.ReqUpdateAndCreateTopic, map[string]string{"topic": "z"})
	bad("delete system topic", remoting.ReqDeleteTopicInBroker, map[string]string{"topic": "TBW102"})
	bad("delete without topic", remoting.ReqDeleteTopicInBroker, nil)
	badFilter := topicExt("z", 1, 1, 6)
	badFilter["topicFilterType"] = "SQL"
	bad("bad filter", remoting.ReqUpdateAndCreateTopic, badFilter)
}

func TestStats(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	e.fill("s", 1, 3)
	e.b.meta.Offsets.Commit("g", "s", 1, 2)

	s := e.do(conn, remoting.ReqGetTopicStatsInfo, map[string]string{"topic": "s"}, nil)
	expect(t, s, remoting.ResSuccess)
	want := `{"brokerName":"broker-a","queueId":1,"topic":"s"}:{"lastUpdateTimestamp":`
	if !strings.Contains(string(s.body), want) || !strings.Contains(string(s.body), `"maxOffset":3,"minOffset":0}`) {
		t.Fatalf("topic stats %s", s.body)
	}
	expect(t, e.do(conn, remoting.ReqGetTopicStatsInfo, map[string]string{"topic": "nope"}, nil), remoting.ResTopicNotExist)

	s = e.do(conn, remoting.ReqGetConsumeStats, map[string]string{"consumerGroup": "g"}, nil)
	expect(t, s, remoting.ResSuccess)
	want = `{"brokerName":"broker-a","queueId":1,"topic":"s"}:{"brokerOffset":3,"consumerOffset":2,"lastTimestamp":`
	if !strings.Contains(string(s.body), want) || !strings.HasPrefix(string(s.body), `{"consumeTps":0.0,"offsetTable":{`) {
		t.Fatalf("consume stats %s", s.body)
	}

	s = e.do(conn, remoting.ReqGetBrokerRuntimeInfo, nil, nil)
	expect(t, s, remoting.ResSuccess)
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(s.body, &kv); err != nil || kv.Table["msgPutTotalTodayNow"] != "3" || kv.Table["brokerVersionDesc"] == "" {
		t.Fatalf("runtime info %v %s", err, s.body)
	}

	for _, code := range []int32{remoting.ReqGetAllConsumerOffset, remoting.ReqGetAllDelayOffset, remoting.ReqGetAllSubscriptiongroupConfig} {
		s := e.do(conn, code, nil, nil)
		expect(t, s, remoting.ResSuccess)
		if !json.Valid(s.body) {
			t.Fatalf("%s body %s", remoting.CodeName(code), s.body)
		}
	}
}

// fakeNamesrv records what the broker sends to name servers.
type fakeNamesrv struct {
	mu   sync.Mutex
	reqs map[string][]*remoting.Command
	fail map[string]bool
}

func (n *fakeNamesrv) Invoke(_ context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail[addr] {
		return nil, errors.New("connection refused")
	}
	if n.reqs == nil {
		n.reqs = map[string][]*remoting.Command{}
	}
	n.reqs[addr] = append(n.reqs[addr], req)
	return &remoting.Command{Code: remoting.ResSuccess, Flag: remoting.FlagResponse, Opaque: req.Opaque}, nil
}

func (n *fakeNamesrv) count(addr string, code int32) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, r := range n.reqs[addr] {
		if r.Code == code {
			c++
		}
	}
	return c
}

func TestRegister(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *engine.Options) {
		o.NamesrvAddr = []string{"ns1:9876", "ns2:9876", "dead:9876"}
	})
	ns := &fakeNamesrv{fail: map[string]bool{"dead:9876": true}}
	err := e.b.RegisterOnce(context.Background(), ns)
	if err == nil || !strings.Contains(err.Error(), "dead:9876") {
		t.Fatalf("RegisterOnce error %v, want the dead name server named", err)
	}
	for _, addr := range []string{"ns1:9876", "ns2:9876"} {
		if ns.count(addr, remoting.ReqRegisterBroker) != 1 {
			t.Fatalf("%s got %d registrations", addr, ns.count(addr, remoting.ReqRegisterBroker))
		}
	}
	req := ns.reqs["ns1:9876"][0]
	x := req.ExtFields
	if x["brokerName"] != "broker-a" || x["brokerAddr"] != "127.0.0.1:10911" || x["clusterName"] != "DefaultCluster" ||
		x["brokerId"] != "0" || x["haServerAddr"] != "127.0.0.1:10912" || x["compressed"] != "false" {
		t.Fatalf("REGISTER_BROKER header %v", x)
	}
	if crc, _ := strconv.ParseInt(x["bodyCrc32"], 10, 64); crc != int64(crc32.ChecksumIEEE(req.Body)&0x7FFFFFFF) {
		t.Fatalf("bodyCrc32 %s", x["bodyCrc32"])
	}
	var body struct {
		FilterServerList []string `json:"filterServerList"`
		Wrapper          struct {
			DataVersion      meta.DataVersion            `json:"dataVersion"`
			TopicConfigTable map[string]meta.TopicConfig `json:"topicConfigTable"`
		} `json:"topicConfigSerializeWrapper"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Wrapper.TopicConfigTable["TBW102"].Perm != 7 || body.FilterServerList == nil || body.Wrapper.DataVersion.Timestamp == 0 {
		t.Fatalf("RegisterBrokerBody %s", req.Body)
	}

	// The loop registers at once, again when a topic appears, and
	// unregisters on stop.
	stop := make(chan struct{})
	done := make(chan struct{})
	ns2 := &fakeNamesrv{}
	e.b.opts.NamesrvAddr = []string{"ns1:9876"}
	go func() { defer close(done); e.b.RegisterLoop(stop, ns2) }()
	eventually(t, "first registration", func() bool { return ns2.count("ns1:9876", remoting.ReqRegisterBroker) >= 1 })
	n := ns2.count("ns1:9876", remoting.ReqRegisterBroker)
	expect(t, e.do(newConn("10.0.0.1:1"), remoting.ReqUpdateAndCreateTopic, topicExt("brand-new", 2, 2, 6), nil), remoting.ResSuccess)
	eventually(t, "registration after a topic change", func() bool { return ns2.count("ns1:9876", remoting.ReqRegisterBroker) > n })
	close(stop)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("RegisterLoop did not return")
	}
	if ns2.count("ns1:9876", remoting.ReqUnregisterBroker) != 1 {
		t.Fatal("no UNREGISTER_BROKER on stop")
	}
}

// TestBadInputs sends every code an empty header and a garbage body: each
// must answer an error, never panic or stay silent.
func TestBadInputs(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	emptyOK := map[int32]bool{ // codes that need no header field
		remoting.ReqGetAllTopicConfig: true, remoting.ReqGetBrokerRuntimeInfo: true, remoting.ReqGetAllConsumerOffset: true,
		remoting.ReqGetAllDelayOffset: true, remoting.ReqGetAllSubscriptiongroupConfig: true,
	}
	for code := range e.procs {
		t.Run(remoting.CodeName(code), func(t *testing.T) {
			s := e.do(conn, code, nil, []byte{0xff, 0x00, 0x01})
			if s.cmd.Code == remoting.ResSuccess && !emptyOK[code] {
				t.Fatalf("empty request answered SUCCESS")
			}
			if s.cmd.Code != remoting.ResSuccess && s.cmd.Remark == "" {
				t.Fatalf("error %s without a remark", remoting.ResponseCodeName(s.cmd.Code))
			}
		})
	}
}
