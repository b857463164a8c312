package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// HEART_BEAT (34), GET_CONSUMER_LIST_BY_GROUP (38), UNREGISTER_CLIENT (35),
// CHECK_CLIENT_CONFIG (46), and the NOTIFY_CONSUMER_IDS_CHANGED (40) the
// broker sends to the members of a group.

// goHeartbeat is a HEART_BEAT body as the Go push consumer writes it
// (protocol reference §3.3.4): codeSet as strings, a 19-digit subVersion.
func goHeartbeat(clientID, group, topic, expr string) []byte {
	return fmt.Appendf(nil, `{"clientID":%q,"producerDataSet":[],"consumerDataSet":[{"groupName":%q,`+
		`"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",`+
		`"subscriptionDataSet":[{"classFilterMode":false,"topic":"%%RETRY%%%s","subString":"*","tagsSet":[],"codeSet":[],`+
		`"subVersion":1700000000123456789,"expressionType":"TAG"},{"classFilterMode":false,"topic":%q,"subString":%q,`+
		`"tagsSet":[%q],"codeSet":["65"],"subVersion":1700000000123456790,"expressionType":"TAG"}],"unitMode":false}]}`,
		clientID, group, group, topic, expr, expr)
}

// notifications collects the NOTIFY_CONSUMER_IDS_CHANGED a client gets.
type notifications chan string

func (n notifications) onRequest(conn remoting.Conn, req *remoting.Command) {
	if req.Code != remoting.ReqNotifyConsumerIdsChanged {
		conn.Send(remoting.NewResponse(req, remoting.ResRequestCodeNotSupported, "not a consumer"))
		return
	}
	if !req.IsOneway() {
		conn.Send(remoting.NewResponse(req, remoting.ResSuccess, ""))
	}
	select {
	case n <- req.ExtFields["consumerGroup"]:
	default:
	}
}

// expectNotice waits for one notification for group.
func (n notifications) expectNotice(t *testing.T, who, group string) {
	t.Helper()
	select {
	case g := <-n:
		if g != group {
			t.Fatalf("%s notified for group %q, want %q", who, g, group)
		}
	case <-time.After(callTimeout):
		t.Fatalf("%s was not notified that the consumers of %s changed", who, group)
	}
}

// expectQuiet checks that no notification arrives for a while.
func (n notifications) expectQuiet(t *testing.T, who string) {
	t.Helper()
	select {
	case g := <-n:
		t.Fatalf("%s notified for %q with nothing changed", who, g)
	case <-time.After(100 * time.Millisecond):
	}
}

func (c *cluster) consumerIDs(group string) (int32, []string) {
	c.t.Helper()
	resp := c.call(remoting.ReqGetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil)
	if resp.Code != remoting.ResSuccess {
		return resp.Code, nil
	}
	var body struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		c.t.Fatalf("consumer list %q: %v", resp.Body, err)
	}
	return resp.Code, body.ConsumerIDList
}

func TestHeartbeatAndConsumerList(t *testing.T) {
	c := startCluster(t)
	const group, topic = "e2e-hb", "e2e-hb-topic"
	c.send(topic, 0, "tagged", "TAGS", "A")
	c.send(topic, 0, "other", "TAGS", "B")
	c.waitDispatched(topic, 0, 2)

	if code, _ := c.consumerIDs(group); code != remoting.ResSystemError {
		t.Fatalf("no consumer yet: answered %s, want SYSTEM_ERROR", remoting.ResponseCodeName(code))
	}

	notesA, notesB := make(notifications, 16), make(notifications, 16)
	a := c.newClient(remoting.ClientOptions{OnRequest: notesA.onRequest})
	b := c.newClient(remoting.ClientOptions{OnRequest: notesB.onRequest})
	heartbeat := func(cl *remoting.Client, id string) {
		t.Helper()
		resp := invoke(t, cl, c.brokerAddr, remoting.ReqHeartBeat, nil, goHeartbeat(id, group, topic, "A"))
		expect(t, resp, remoting.ResSuccess)
		if resp.Version == 0 {
			t.Fatal("the heartbeat response carries no broker version")
		}
	}

	heartbeat(a, "127.0.0.1@A")
	notesA.expectNotice(t, "A", group) // its own join
	if _, ids := c.consumerIDs(group); !slices.Equal(ids, []string{"127.0.0.1@A"}) {
		t.Fatalf("consumers %v", ids)
	}
	heartbeat(a, "127.0.0.1@A")
	notesA.expectQuiet(t, "A")

	// The broker made the group's retry topic.
	expect(t, c.call(remoting.ReqPullMessage, pullExt(group, "%RETRY%"+group, 0, 0, pullSubscription, 0, "*"), nil), remoting.ResPullNotFound)
	// A pull without its own subscription uses the heartbeat's: TAG A.
	resp := c.call(remoting.ReqPullMessage, pullExt(group, topic, 0, 0, 0, 0, ""), nil)
	expect(t, resp, remoting.ResSuccess)
	if got := bodies(records(t, resp.Body)); !slices.Equal(got, []string{"tagged"}) {
		t.Fatalf("pull with the heartbeat's subscription got %q", got)
	}

	// B joins: A (and B) are told.
	heartbeat(b, "127.0.0.1@B")
	notesA.expectNotice(t, "A", group)
	notesB.expectNotice(t, "B", group)
	if _, ids := c.consumerIDs(group); !slices.Equal(ids, []string{"127.0.0.1@A", "127.0.0.1@B"}) {
		t.Fatalf("consumers %v", ids)
	}

	// B unregisters: A is told.
	unreg := map[string]string{"clientID": "127.0.0.1@B", "consumerGroup": group}
	expect(t, invoke(t, b, c.brokerAddr, remoting.ReqUnregisterClient, unreg, nil), remoting.ResSuccess)
	notesA.expectNotice(t, "A", group)
	if _, ids := c.consumerIDs(group); !slices.Equal(ids, []string{"127.0.0.1@A"}) {
		t.Fatalf("consumers after B unregistered: %v", ids)
	}

	// B comes back, then its connection closes: A is told again.
	heartbeat(b, "127.0.0.1@B")
	notesA.expectNotice(t, "A", group)
	b.Close()
	notesA.expectNotice(t, "A", group)
	if _, ids := c.consumerIDs(group); !slices.Equal(ids, []string{"127.0.0.1@A"}) {
		t.Fatalf("consumers after B's connection closed: %v", ids)
	}

	// CHECK_CLIENT_CONFIG accepts TAG and refuses SQL92.
	check := func(exprType string) *remoting.Command {
		body := fmt.Appendf(nil, `{"clientId":"127.0.0.1@A","group":%q,"subscriptionData":{"topic":%q,"subString":"a > 1","expressionType":%q}}`,
			group, topic, exprType)
		return c.call(remoting.ReqCheckClientConfig, nil, body)
	}
	expect(t, check("TAG"), remoting.ResSuccess)
	expect(t, check("SQL92"), remoting.ResSystemError)

	// A body that is not HeartbeatData.
	expect(t, c.call(remoting.ReqHeartBeat, nil, []byte("{not json")), remoting.ResSystemError)
}
