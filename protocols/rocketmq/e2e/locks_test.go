package e2e

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42) between two clients. Lock
// expiry (60 s without renewal) is tested in the broker package with a
// fake clock.

// mqJSON is the Go client's primitive.MessageQueue.
type mqJSON struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int    `json:"queueId"`
}

// goLockBody is the Go client's lockBatchRequestBody (no onlyThisBroker).
func goLockBody(group, clientID string, qids ...int) []byte {
	body := struct {
		ConsumerGroup string   `json:"consumerGroup"`
		ClientID      string   `json:"clientId"`
		MQs           []mqJSON `json:"mqSet"`
	}{group, clientID, nil}
	for _, q := range qids {
		body.MQs = append(body.MQs, mqJSON{"e2e-orderly", "broker-a", q})
	}
	b, _ := json.Marshal(body)
	return b
}

func TestLockBatchMQ(t *testing.T) {
	c := startCluster(t)
	const group = "e2e-orderly-g"
	a := c.newClient(remoting.ClientOptions{})
	b := c.newClient(remoting.ClientOptions{})
	lock := func(cl *remoting.Client, body []byte) []int {
		t.Helper()
		resp := invoke(t, cl, c.brokerAddr, remoting.ReqLockBatchMQ, nil, body)
		expect(t, resp, remoting.ResSuccess)
		// Decoded as the Go client does (consumer.go doLock).
		var got struct {
			MQs []mqJSON `json:"lockOKMQSet"`
		}
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatalf("lock response %q: %v", resp.Body, err)
		}
		qids := []int{}
		for _, mq := range got.MQs {
			if mq.Topic != "e2e-orderly" || mq.BrokerName != "broker-a" {
				t.Fatalf("locked %+v", mq)
			}
			qids = append(qids, mq.QueueID)
		}
		slices.Sort(qids)
		return qids
	}
	unlock := func(cl *remoting.Client, body []byte) {
		t.Helper()
		expect(t, invoke(t, cl, c.brokerAddr, remoting.ReqUnlockBatchMQ, nil, body), remoting.ResSuccess)
	}

	if got := lock(a, goLockBody(group, "10.0.0.1@A", 0, 1)); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A locked %v", got)
	}
	if got := lock(b, goLockBody(group, "10.0.0.2@B", 1, 2)); !slices.Equal(got, []int{2}) {
		t.Fatalf("B locked %v, want [2]: queue 1 is A's", got)
	}
	// Renewal (Go renews every queue it owns every 20 s).
	if got := lock(a, goLockBody(group, "10.0.0.1@A", 0, 1, 2)); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A renewed %v", got)
	}
	// Another group has its own locks.
	if got := lock(b, goLockBody("e2e-other-g", "10.0.0.2@B", 0, 1)); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("B locked %v in another group", got)
	}

	// A releases queue 1 and B gets it; B's unlock of A's queue 0 does nothing.
	unlock(a, goLockBody(group, "10.0.0.1@A", 1))
	unlock(b, goLockBody(group, "10.0.0.2@B", 0))
	if got := lock(b, goLockBody(group, "10.0.0.2@B", 0, 1, 2)); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("B locked %v, want [1 2]", got)
	}

	// Java's body: fastjson order, onlyThisBroker.
	java := []byte(`{"clientId":"10.0.0.1@A","consumerGroup":"` + group + `","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"e2e-orderly"}],"onlyThisBroker":false}`)
	if got := lock(a, java); !slices.Equal(got, []int{0}) {
		t.Fatalf("A renewed %v with a Java body", got)
	}

	// Bodies the broker cannot read are SYSTEM_ERROR, and the connection
	// carries on.
	for _, body := range [][]byte{nil, []byte("{"), []byte(`{"clientId":"x","mqSet":[]}`)} {
		expect(t, invoke(t, a, c.brokerAddr, remoting.ReqLockBatchMQ, nil, body), remoting.ResSystemError)
		expect(t, invoke(t, a, c.brokerAddr, remoting.ReqUnlockBatchMQ, nil, body), remoting.ResSystemError)
	}
	if got := lock(a, goLockBody(group, "10.0.0.1@A", 0)); !slices.Equal(got, []int{0}) {
		t.Fatalf("A renewed %v after bad requests", got)
	}
}
