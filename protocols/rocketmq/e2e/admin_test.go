package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// UPDATE_AND_CREATE_TOPIC (17) and the route the name server then gives
// out (GET_ROUTEINFO_BY_TOPIC, 105), and the other admin codes: 21, 28,
// 43, 45, 201, 202, 208, 215.

// topicRoute is TopicRouteData in the standard JSON the name server sends
// to clients of version >= V4_9_4.
type topicRoute struct {
	QueueDatas []struct {
		BrokerName     string `json:"brokerName"`
		ReadQueueNums  int    `json:"readQueueNums"`
		WriteQueueNums int    `json:"writeQueueNums"`
		Perm           int    `json:"perm"`
	} `json:"queueDatas"`
	BrokerDatas []struct {
		Cluster     string            `json:"cluster"`
		BrokerName  string            `json:"brokerName"`
		BrokerAddrs map[string]string `json:"brokerAddrs"`
	} `json:"brokerDatas"`
}

func runtimeTable(t *testing.T, resp *remoting.Command) map[string]string {
	t.Helper()
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		t.Fatalf("KVTable %q: %v", resp.Body, err)
	}
	return kv.Table
}

func createTopicExt(topic, queues, perm string) map[string]string {
	return map[string]string{
		"topic": topic, "defaultTopic": "defaultTopic", "readQueueNums": queues, "writeQueueNums": queues,
		"perm": perm, "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false",
	}
}

func TestCreateTopicThenRoute(t *testing.T) {
	c := startCluster(t)
	const topic = "e2e-created"
	expect(t, c.callNS(remoting.ReqGetRouteinfoByTopic, map[string]string{"topic": topic}), remoting.ResTopicNotExist)

	start := time.Now()
	expect(t, c.call(remoting.ReqUpdateAndCreateTopic, createTopicExt(topic, "4", "6"), nil), remoting.ResSuccess)
	var resp *remoting.Command
	eventually(t, "the name server to route "+topic, func() bool {
		resp = c.callNS(remoting.ReqGetRouteinfoByTopic, map[string]string{"topic": topic})
		return resp.Code == remoting.ResSuccess
	})
	t.Logf("the route of a new topic reached the name server %v after UPDATE_AND_CREATE_TOPIC", time.Since(start).Round(time.Millisecond))

	var route topicRoute
	if err := json.Unmarshal(resp.Body, &route); err != nil {
		t.Fatalf("route %q: %v", resp.Body, err)
	}
	if len(route.QueueDatas) != 1 || len(route.BrokerDatas) != 1 {
		t.Fatalf("route %s", resp.Body)
	}
	qd, bd := route.QueueDatas[0], route.BrokerDatas[0]
	if qd.BrokerName != "broker-a" || qd.ReadQueueNums != 4 || qd.WriteQueueNums != 4 || qd.Perm != 6 {
		t.Fatalf("queue data %+v", qd)
	}
	if bd.BrokerName != "broker-a" || bd.Cluster != "DefaultCluster" || bd.BrokerAddrs["0"] != c.brokerAddr {
		t.Fatalf("broker data %+v, want address %s", bd, c.brokerAddr)
	}

	// A change reaches the name server too.
	expect(t, c.call(remoting.ReqUpdateAndCreateTopic, createTopicExt(topic, "2", "4"), nil), remoting.ResSuccess)
	eventually(t, "the changed route", func() bool {
		resp = c.callNS(remoting.ReqGetRouteinfoByTopic, map[string]string{"topic": topic})
		var r topicRoute
		return resp.Code == remoting.ResSuccess && json.Unmarshal(resp.Body, &r) == nil && len(r.QueueDatas) == 1 &&
			r.QueueDatas[0].ReadQueueNums == 2 && r.QueueDatas[0].Perm == 4
	})

	// Unknown topics, and names the broker refuses.
	expect(t, c.callNS(remoting.ReqGetRouteinfoByTopic, map[string]string{"topic": "e2e-never-created"}), remoting.ResTopicNotExist)
	if resp := c.call(remoting.ReqUpdateAndCreateTopic, createTopicExt("bad topic", "4", "6"), nil); resp.Code == remoting.ResSuccess {
		t.Fatal("a topic with a space in its name was created")
	}
	if resp := c.call(remoting.ReqUpdateAndCreateTopic, createTopicExt("TBW102", "4", "6"), nil); resp.Code == remoting.ResSuccess {
		t.Fatal("a system topic was replaced")
	}
}

func TestAdminCodes(t *testing.T) {
	c := startCluster(t)
	const topic, group = "e2e-admin", "e2e-admin-g"
	expect(t, c.call(remoting.ReqUpdateAndCreateTopic, createTopicExt(topic, "2", "6"), nil), remoting.ResSuccess)
	c.send(topic, 0, "a")
	c.send(topic, 1, "b")
	c.waitDispatched(topic, 0, 1)
	c.waitDispatched(topic, 1, 1)
	update := map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "1"}
	expect(t, c.call(remoting.ReqUpdateConsumerOffset, update, nil), remoting.ResSuccess)
	c.pull(group, topic, 0, 0, "*") // auto-creates the subscription group

	contains := func(code int32, ext map[string]string, want ...string) {
		t.Helper()
		resp := c.call(code, ext, nil)
		expect(t, resp, remoting.ResSuccess)
		for _, w := range want {
			if !strings.Contains(string(resp.Body), w) {
				t.Fatalf("%s body lacks %q: %.400s", remoting.CodeName(code), w, resp.Body)
			}
		}
	}
	contains(remoting.ReqGetAllTopicConfig, nil, `"topicConfigTable"`, `"`+topic+`"`, `"dataVersion"`)
	contains(remoting.ReqGetAllConsumerOffset, nil, `"offsetTable"`, topic+"@"+group)
	contains(remoting.ReqGetAllDelayOffset, nil, `"offsetTable"`)
	contains(remoting.ReqGetAllSubscriptiongroupConfig, nil, `"subscriptionGroupTable"`, `"`+group+`"`)
	contains(remoting.ReqGetTopicStatsInfo, map[string]string{"topic": topic}, `"offsetTable"`, `"maxOffset":1`, `"topicPutTps"`)
	contains(remoting.ReqGetConsumeStats, map[string]string{"consumerGroup": group, "topic": topic},
		`"consumerOffset":1`, `"brokerOffset":1`, `"consumeTps"`)

	resp := c.call(remoting.ReqGetBrokerRuntimeInfo, nil, nil)
	expect(t, resp, remoting.ResSuccess)
	table := runtimeTable(t, resp)
	if table["brokerVersionDesc"] == "" || table["msgPutTotalTodayNow"] != "2" {
		t.Fatalf("runtime info %v", table)
	}

	expect(t, c.call(remoting.ReqDeleteTopicInBroker, map[string]string{"topic": topic}, nil), remoting.ResSuccess)
	expect(t, c.call(remoting.ReqGetTopicStatsInfo, map[string]string{"topic": topic}, nil), remoting.ResTopicNotExist)
	expect(t, c.call(remoting.ReqDeleteTopicInBroker, map[string]string{"topic": "SCHEDULE_TOPIC_XXXX"}, nil), remoting.ResSystemError)
}
