package broker

import (
	"strconv"
	"testing"

	"github.com/gannetmq/gannet/engine/message"
	"github.com/gannetmq/gannet/protocols/remoting"
)

func TestViewMessageByID(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	s := e.send(conn, "v", 0, "look at me", "UNIQ_KEY", "U1")
	_, off, err := message.ParseOffsetMsgID(s.cmd.ExtFields["msgId"])
	if err != nil {
		t.Fatal(err)
	}
	e.settle()
	conn.holdRelease = true
	v := e.do(conn, remoting.ReqViewMessageByID, map[string]string{"offset": strconv.FormatInt(off, 10)}, nil)
	expect(t, v, remoting.ResSuccess)
	if v.release == nil {
		t.Fatal("view response has no Release")
	}
	recs := records(t, v.body)
	v.release()
	if len(recs) != 1 || string(recs[0].Body()) != "look at me" || recs[0].PhysicalOffset() != off {
		t.Fatalf("viewed %v", bodies(recs))
	}
	conn.holdRelease = false
	expect(t, e.do(conn, remoting.ReqViewMessageByID, map[string]string{"offset": "999999"}, nil), remoting.ResSystemError)
	expect(t, e.do(conn, remoting.ReqViewMessageByID, map[string]string{"offset": "x"}, nil), remoting.ResSystemError)
}

func TestQueryMessageByKey(t *testing.T) {
	e := newEnv(t, nil)
	conn := newConn("10.0.0.1:1000")
	e.send(conn, "k", 0, "first", "KEYS", "order-1 order-2", "UNIQ_KEY", "UQ1")
	e.send(conn, "k", 1, "second", "KEYS", "order-2")
	e.send(conn, "other", 0, "elsewhere", "KEYS", "order-2")
	e.settle()

	q := func(key string, max int) *sent {
		return e.do(conn, remoting.ReqQueryMessage, map[string]string{
			"topic": "k", "key": key, "maxNum": strconv.Itoa(max), "beginTimestamp": "0", "endTimestamp": "9223372036854775807",
		}, nil)
	}
	s := q("order-2", 32)
	expect(t, s, remoting.ResSuccess)
	got := bodies(records(t, s.body))
	if len(got) != 2 || s.cmd.ExtFields["indexLastUpdatePhyoffset"] == "" || s.cmd.ExtFields["indexLastUpdateTimestamp"] == "" {
		t.Fatalf("query order-2: %v %v", got, s.cmd.ExtFields)
	}
	if got := bodies(records(t, q("order-2", 1).body)); len(got) != 1 {
		t.Fatalf("maxNum 1 gave %v", got)
	}
	if got := bodies(records(t, q("UQ1", 32).body)); len(got) != 1 || got[0] != "first" {
		t.Fatalf("by unique key: %v", got)
	}
	expect(t, q("nothing", 32), remoting.ResQueryNotFound)
	expect(t, e.do(conn, remoting.ReqQueryMessage, map[string]string{"topic": "k"}, nil), remoting.ResSystemError)
}
