package namesrv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// ---- harness ----

// fakeConn records what a processor sends.
type fakeConn struct {
	addr   string
	mu     sync.Mutex
	sent   []*remoting.Command
	closed bool
}

func newConn(addr string) *fakeConn { return &fakeConn{addr: addr} }

func (c *fakeConn) RemoteAddr() string { return c.addr }

func (c *fakeConn) Send(cmd *remoting.Command) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, cmd)
	return nil
}

func (c *fakeConn) Invoke(*remoting.Command, time.Duration) (*remoting.Command, error) {
	return nil, errors.New("fakeConn: Invoke not supported")
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *fakeConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var opaqueSeq atomic.Int32

func request(code int32, ext map[string]string, body []byte) *remoting.Command {
	return &remoting.Command{
		Code:      code,
		Language:  "GO",
		Version:   317,
		Opaque:    opaqueSeq.Add(1),
		ExtFields: ext,
		Body:      body,
		Serialize: remoting.SerializeRocketMQ, // a response must echo it
	}
}

// invoke runs the processor of req.Code and returns its one response,
// checking the response header invariants.
func invoke(ns *NameServer, conn *fakeConn, req *remoting.Command) (*remoting.Command, error) {
	p, ok := ns.Processors()[req.Code]
	if !ok {
		return nil, fmt.Errorf("no processor for code %d", req.Code)
	}
	n := conn.count()
	p(conn, req)
	conn.mu.Lock()
	sent := conn.sent[n:]
	conn.mu.Unlock()
	if len(sent) != 1 {
		return nil, fmt.Errorf("code %d: %d responses, want 1", req.Code, len(sent))
	}
	resp := sent[0]
	if resp.Flag&remoting.FlagResponse == 0 || resp.Opaque != req.Opaque || resp.Serialize != req.Serialize ||
		resp.Language != "JAVA" || resp.Version != 479 {
		return nil, fmt.Errorf("code %d: bad response header %+v", req.Code, resp)
	}
	for k, v := range resp.ExtFields {
		if k == "" || (v == "" && k != "value") {
			return nil, fmt.Errorf("code %d: empty extField %q=%q", req.Code, k, v)
		}
	}
	return resp, nil
}

func call(t testing.TB, ns *NameServer, conn *fakeConn, req *remoting.Command) *remoting.Command {
	t.Helper()
	resp, err := invoke(ns, conn, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func wantCode(t testing.TB, resp *remoting.Command, code int32) {
	t.Helper()
	if resp.Code != code {
		t.Fatalf("response code %d (remark %q), want %d", resp.Code, resp.Remark, code)
	}
}

type topicSpec struct {
	name                 string
	read, write, perm    int
	sysFlag              int
	withAttributesAndMap bool
}

// javaRegisterBody renders a RegisterBrokerBody as the Java broker's fastjson
// writes it (fields sorted, no spaces).
func javaRegisterBody(dv DataVersion, topics ...topicSpec) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":%d,"stateVersion":%d,"timestamp":%d},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":%d},"topicConfigTable":{`,
		dv.Counter, dv.StateVersion, dv.Timestamp, dv.Timestamp)
	for i, tc := range topics {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%q:{"attributes":{},"order":false,"perm":%d,"readQueueNums":%d,"topicFilterType":"SINGLE_TAG","topicName":%q,"topicSysFlag":%d,"writeQueueNums":%d}`,
			tc.name, tc.perm, tc.read, tc.name, tc.sysFlag, tc.write)
	}
	b.WriteString(`},"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}`)
	return []byte(b.String())
}

type brokerSpec struct {
	cluster, name, addr, ha string
	id                      int64
}

var (
	masterA = brokerSpec{"DefaultCluster", "broker-a", "10.0.0.1:10911", "10.0.0.1:10912", 0}
	slaveA  = brokerSpec{"DefaultCluster", "broker-a", "10.0.0.2:10911", "10.0.0.2:10912", 1}
	masterB = brokerSpec{"DefaultCluster", "broker-b", "10.0.0.3:10911", "10.0.0.3:10912", 0}
)

var (
	topicsA = []topicSpec{{name: "TBW102", read: 8, write: 8, perm: 7}, {name: "test", read: 4, write: 4, perm: 6}, {name: "%RETRY%g", read: 1, write: 1, perm: 6}}
	topicsB = []topicSpec{{name: "test", read: 8, write: 8, perm: 6, sysFlag: 1}, {name: "only-b", read: 2, write: 2, perm: 6}}
)

func registerReq(b brokerSpec, body []byte, extra ...string) *remoting.Command {
	ext := map[string]string{
		"brokerName":   b.name,
		"brokerAddr":   b.addr,
		"clusterName":  b.cluster,
		"haServerAddr": b.ha,
		"brokerId":     strconv.FormatInt(b.id, 10),
		"compressed":   "false",
		"bodyCrc32":    strconv.FormatInt(int64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		ext[extra[i]] = extra[i+1]
	}
	req := request(codeRegisterBroker, ext, body)
	req.Language, req.Version = "JAVA", 479
	return req
}

func register(t testing.TB, ns *NameServer, conn *fakeConn, b brokerSpec, dv DataVersion, topics []topicSpec) *remoting.Command {
	t.Helper()
	resp := call(t, ns, conn, registerReq(b, javaRegisterBody(dv, topics...)))
	wantCode(t, resp, codeSuccess)
	return resp
}

// routeReq is a Java 5.3.3 client's route request (standard JSON answer).
func routeReq(topic string) *remoting.Command {
	req := request(codeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	req.Language, req.Version = "JAVA", 479
	return req
}

// clientRouteReq is a route request from a client of the given version
// (317: the Go client, 121: ali-ons), with extra extFields.
func clientRouteReq(topic string, version int32, extra ...string) *remoting.Command {
	ext := map[string]string{"topic": topic}
	for i := 0; i+1 < len(extra); i += 2 {
		ext[extra[i]] = extra[i+1]
	}
	req := request(codeGetRouteInfoByTopic, ext, nil)
	req.Version = version
	return req
}

// setup registers master and slave of broker-a and master of broker-b.
func setup(t testing.TB) (*NameServer, *fakeClock, map[brokerSpec]*fakeConn) {
	t.Helper()
	clk := newClock()
	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	conns := map[brokerSpec]*fakeConn{}
	for _, b := range []brokerSpec{masterA, slaveA, masterB} {
		conns[b] = newConn(b.addr)
		topics := topicsA
		if b.name == "broker-b" {
			topics = topicsB
		}
		register(t, ns, conns[b], b, DataVersion{Timestamp: 1700000000000, Counter: 3}, topics)
	}
	return ns, clk, conns
}

// ---- client-shaped decoders ----

// javaRoute mirrors every field of TopicRouteData; decoded strictly.
type javaRoute struct {
	OrderTopicConf    string              `json:"orderTopicConf"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
	QueueDatas        []struct {
		BrokerName     string `json:"brokerName"`
		ReadQueueNums  int    `json:"readQueueNums"`
		WriteQueueNums int    `json:"writeQueueNums"`
		Perm           int    `json:"perm"`
		TopicSysFlag   int    `json:"topicSysFlag"`
	} `json:"queueDatas"`
	BrokerDatas []struct {
		Cluster            string            `json:"cluster"`
		BrokerName         string            `json:"brokerName"`
		BrokerAddrs        map[string]string `json:"brokerAddrs"`
		ZoneName           string            `json:"zoneName"`
		EnableActingMaster bool              `json:"enableActingMaster"`
	} `json:"brokerDatas"`
}

func decodeStrict(t testing.TB, body []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("strict decode of %s: %v", body, err)
	}
	if d.More() {
		t.Fatalf("trailing data after %s", body)
	}
}

// goClientDecode parses a route as rocketmq-client-go v2 does
// (internal/route.go TopicRouteData.decode): queueDatas with encoding/json
// into its QueueData (tag topicSynFlag), and each brokerAddrs from its raw
// text, cut at ',' and the first ':', with '"' removed from the address,
// and from the id only when stripIDQuotes (releases after
// rocketmq-client-go#846; v2.1.0 and older parse the id as is).
type goClientQueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int    `json:"readQueueNums"`
	WriteQueueNums int    `json:"writeQueueNums"`
	Perm           int    `json:"perm"`
	TopicSynFlag   int    `json:"topicSynFlag"`
}

type goClientBrokerData struct {
	Cluster, BrokerName string
	BrokerAddresses     map[int64]string
}

func goClientDecode(t testing.TB, body []byte, stripIDQuotes bool) ([]goClientQueueData, []goClientBrokerData) {
	t.Helper()
	// gjson reads the legacy form too; encoding/json needs the bare keys
	// quoted to find the raw brokerAddrs text, which keeps its own form.
	var raw struct {
		QueueDatas  json.RawMessage `json:"queueDatas"`
		BrokerDatas []struct {
			Cluster     string          `json:"cluster"`
			BrokerName  string          `json:"brokerName"`
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(quoteBareKeys(body), &raw); err != nil {
		t.Fatal(err)
	}
	var qds []goClientQueueData
	if err := json.Unmarshal(raw.QueueDatas, &qds); err != nil {
		t.Fatal(err)
	}
	var bds []goClientBrokerData
	for _, v := range raw.BrokerDatas {
		bd := goClientBrokerData{Cluster: v.Cluster, BrokerName: v.BrokerName, BrokerAddresses: map[int64]string{}}
		addrs := string(v.BrokerAddrs)
		if i := bytes.Index(body, []byte(`"brokerName":`+strconv.Quote(v.BrokerName))); i >= 0 {
			// The raw text as sent: the brokerAddrs object right before.
			j := bytes.LastIndex(body[:i], []byte(`"brokerAddrs":`))
			addrs = string(body[j+len(`"brokerAddrs":`) : i-1])
		}
		if len(addrs) < 2 {
			t.Fatalf("brokerAddrs %q: the Go client would panic", addrs)
		}
		for _, str := range strings.Split(addrs[1:len(addrs)-1], ",") {
			i := strings.Index(str, ":")
			if i < 0 {
				continue
			}
			idText := str[0:i]
			if stripIDQuotes {
				idText = strings.ReplaceAll(idText, `"`, "")
			}
			id, _ := strconv.ParseInt(idText, 10, 64)
			bd.BrokerAddresses[id] = strings.ReplaceAll(str[i+1:], `"`, "")
		}
		bds = append(bds, bd)
	}
	return qds, bds
}

// json2Accepts replays the validity check of json2.js (the JSON2 package
// ali-ons parses routes with) before it evals the text.
var (
	json2Escapes = regexp.MustCompile(`\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})`)
	json2Tokens  = regexp.MustCompile(`"[^"\\\n\r]*"|true|false|null|-?\d+(?:\.\d*)?(?:[eE][+\-]?\d+)?`)
	json2Opens   = regexp.MustCompile(`(?:^|:|,)(?:\s*\[)+`)
	json2Rest    = regexp.MustCompile(`^[\],:{}\s]*$`)
)

func json2Accepts(body []byte) bool {
	s := json2Escapes.ReplaceAllString(string(body), "@")
	s = json2Tokens.ReplaceAllString(s, "]")
	s = json2Opens.ReplaceAllString(s, "")
	return json2Rest.MatchString(s)
}

// aliOnsRoute is what ali-ons reads from a route: brokerAddrs indexed by
// the string "0" (JavaScript object keys), queueDatas and brokerDatas
// sorted by brokerName (so both must be arrays).
type aliOnsRoute struct {
	QueueDatas []struct {
		BrokerName     string `json:"brokerName"`
		Perm           int    `json:"perm"`
		ReadQueueNums  int    `json:"readQueueNums"`
		WriteQueueNums int    `json:"writeQueueNums"`
	} `json:"queueDatas"`
	BrokerDatas []struct {
		BrokerName  string            `json:"brokerName"`
		BrokerAddrs map[string]string `json:"brokerAddrs"`
	} `json:"brokerDatas"`
	OrderTopicConf string `json:"orderTopicConf"`
}

// ---- tests ----

func TestRegisterAndRoute(t *testing.T) {
	clk := newClock()
	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	dv := DataVersion{Timestamp: 1700000000000, Counter: 3}

	resp := register(t, ns, newConn(masterA.addr), masterA, dv, topicsA)
	if len(resp.ExtFields) != 0 || len(resp.Body) != 0 {
		t.Fatalf("master registration answered extFields %v body %q", resp.ExtFields, resp.Body)
	}
	resp = register(t, ns, newConn(slaveA.addr), slaveA, dv, []topicSpec{{name: "test", read: 99, write: 99, perm: 2}, {name: "slave-only", read: 1, write: 1, perm: 6}})
	if resp.ExtFields["masterAddr"] != masterA.addr || resp.ExtFields["haServerAddr"] != masterA.ha {
		t.Fatalf("slave registration answered %v, want masterAddr %s haServerAddr %s", resp.ExtFields, masterA.addr, masterA.ha)
	}
	register(t, ns, newConn(masterB.addr), masterB, dv, topicsB)

	client := newConn("10.9.9.9:50000")
	// Exact bytes: compact, sorted fields, ascending ids. The slave's own
	// topic config (99 queues) is ignored: queue data come from masters.
	const (
		brokerDatas = `"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false},` +
			`{"brokerAddrs":%s,"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false}],` +
			`"filterServerTable":{},"queueDatas":[` +
			`{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4},` +
			`{"brokerName":"broker-b","perm":6,"readQueueNums":8,"topicSysFlag":1,"writeQueueNums":8}]}`
	)
	standard := `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},` + fmt.Sprintf(brokerDatas, `{"0":"10.0.0.3:10911"}`)
	legacy := `{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},` + fmt.Sprintf(brokerDatas, `{0:"10.0.0.3:10911"}`)
	for _, tc := range []struct {
		req  *remoting.Command
		want string
	}{
		{routeReq("test"), standard},                                              // Java 5.3.3
		{clientRouteReq("test", 401), standard},                                   // Java 4.9.4
		{clientRouteReq("test", 317, "acceptStandardJsonOnly", "true"), standard}, // asks for it
		{clientRouteReq("test", 317), legacy},                                     // Go client
		{clientRouteReq("test", 121), legacy},                                     // ali-ons
		{clientRouteReq("test", 400, "acceptStandardJsonOnly", "false"), legacy},
	} {
		resp = call(t, ns, client, tc.req)
		wantCode(t, resp, codeSuccess)
		if string(resp.Body) != tc.want {
			t.Fatalf("route body for version %d %v\n got %s\nwant %s", tc.req.Version, tc.req.ExtFields, resp.Body, tc.want)
		}
	}

	// Standard form, field by field through a strict decoder (string keys).
	var jr javaRoute
	decodeStrict(t, []byte(standard), &jr)
	// Legacy form, as fastjson reads it: the same values.
	var jl javaRoute
	decodeStrict(t, quoteBareKeys([]byte(legacy)), &jl)
	for _, r := range []javaRoute{jr, jl} {
		if len(r.BrokerDatas) != 2 || len(r.QueueDatas) != 2 {
			t.Fatalf("decoded %+v", r)
		}
		a, b := r.BrokerDatas[0], r.BrokerDatas[1]
		if a.BrokerName != "broker-a" || a.Cluster != "DefaultCluster" || a.BrokerAddrs["0"] != masterA.addr ||
			a.BrokerAddrs["1"] != slaveA.addr || len(a.BrokerAddrs) != 2 || a.EnableActingMaster {
			t.Fatalf("broker-a data %+v", a)
		}
		if b.BrokerName != "broker-b" || b.BrokerAddrs["0"] != masterB.addr || len(b.BrokerAddrs) != 1 {
			t.Fatalf("broker-b data %+v", b)
		}
		qa, qb := r.QueueDatas[0], r.QueueDatas[1]
		if qa.BrokerName != "broker-a" || qa.ReadQueueNums != 4 || qa.WriteQueueNums != 4 || qa.Perm != 6 || qa.TopicSysFlag != 0 {
			t.Fatalf("broker-a queue data %+v", qa)
		}
		if qb.BrokerName != "broker-b" || qb.ReadQueueNums != 8 || qb.WriteQueueNums != 8 || qb.Perm != 6 || qb.TopicSysFlag != 1 {
			t.Fatalf("broker-b queue data %+v", qb)
		}
		if r.FilterServerTable == nil || len(r.FilterServerTable) != 0 || r.OrderTopicConf != "" {
			t.Fatalf("filterServerTable %v orderTopicConf %q", r.FilterServerTable, r.OrderTopicConf)
		}
	}

	// As the Go client parses what it gets (legacy), old and new releases;
	// and why it must not get the standard form: releases up to v2.1.0 read
	// every quoted id as 0, and the slave overwrites the master.
	goOK := func(body string, strip bool) bool {
		qds, bds := goClientDecode(t, []byte(body), strip)
		if len(qds) != 2 || qds[0].Perm != 6 || qds[0].WriteQueueNums != 4 || qds[1].ReadQueueNums != 8 {
			t.Fatalf("Go client queue data %+v", qds)
		}
		return len(bds) == 2 && bds[0].BrokerAddresses[0] == masterA.addr && bds[0].BrokerAddresses[1] == slaveA.addr &&
			len(bds[0].BrokerAddresses) == 2 && bds[1].BrokerAddresses[0] == masterB.addr && bds[0].Cluster == "DefaultCluster"
	}
	if !goOK(legacy, false) || !goOK(legacy, true) || !goOK(standard, true) {
		t.Fatal("the Go client misreads the route it gets")
	}
	if goOK(standard, false) {
		t.Fatal("expected the pre-#846 Go client to misread the standard form")
	}

	// As ali-ons parses what it gets (legacy): json2.js checks the text,
	// then evals it (quoting the bare keys and decoding is the same).
	for _, body := range []string{legacy, standard} {
		if !json2Accepts([]byte(body)) {
			t.Fatalf("json2.js would reject %s", body)
		}
		var ar aliOnsRoute
		if err := json.Unmarshal(quoteBareKeys([]byte(body)), &ar); err != nil {
			t.Fatal(err)
		}
		if ar.QueueDatas == nil || ar.BrokerDatas == nil || ar.BrokerDatas[0].BrokerAddrs["0"] != masterA.addr ||
			ar.BrokerDatas[0].BrokerAddrs["1"] != slaveA.addr || ar.QueueDatas[1].BrokerName != "broker-b" ||
			ar.QueueDatas[1].WriteQueueNums != 8 {
			t.Fatalf("ali-ons view %+v", ar)
		}
	}

	// A topic only broker-b hosts lists broker-b only.
	resp = call(t, ns, client, routeReq("only-b"))
	wantCode(t, resp, codeSuccess)
	decodeStrict(t, resp.Body, &jr)
	if len(jr.BrokerDatas) != 1 || jr.BrokerDatas[0].BrokerName != "broker-b" {
		t.Fatalf("only-b route %s", resp.Body)
	}
}

func TestRouteNotFound(t *testing.T) {
	ns, _, _ := setup(t)
	resp := call(t, ns, newConn("c"), routeReq("nope"))
	wantCode(t, resp, codeTopicNotExist)
	if resp.Remark != "No topic route info in name server for the topic: nope" || len(resp.Body) != 0 {
		t.Fatalf("remark %q body %q", resp.Remark, resp.Body)
	}
}

func TestJSON2AcceptsBothForms(t *testing.T) {
	// The check itself: the legacy fastjson form passes too, garbage does not.
	for _, s := range []string{
		`{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}],"queueDatas":[]}`,
		`{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"}}],"queueDatas":[]}`,
	} {
		if !json2Accepts([]byte(s)) {
			t.Errorf("json2 rejects %s", s)
		}
	}
	if json2Accepts([]byte(`{"a":alert(1)}`)) {
		t.Error("json2 accepts a call")
	}
}

func TestClusterInfo(t *testing.T) {
	ns, _, _ := setup(t)
	tail := `,"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false},` +
		`"broker-b":{"brokerAddrs":%s,"brokerName":"broker-b","cluster":"DefaultCluster","enableActingMaster":false}},` +
		`"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}`
	legacy := `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}` + fmt.Sprintf(tail, `{0:"10.0.0.3:10911"}`)
	standard := `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}` + fmt.Sprintf(tail, `{"0":"10.0.0.3:10911"}`)
	req := request(codeGetBrokerClusterInfo, nil, nil) // version 317
	resp := call(t, ns, newConn("admin"), req)
	wantCode(t, resp, codeSuccess)
	if string(resp.Body) != legacy {
		t.Fatalf("cluster info\n got %s\nwant %s", resp.Body, legacy)
	}
	req = request(codeGetBrokerClusterInfo, nil, nil)
	req.Version = 479
	resp = call(t, ns, newConn("admin"), req)
	if string(resp.Body) != standard {
		t.Fatalf("cluster info\n got %s\nwant %s", resp.Body, standard)
	}
	var ci struct {
		BrokerAddrTable map[string]struct {
			Cluster            string           `json:"cluster"`
			BrokerName         string           `json:"brokerName"`
			BrokerAddrs        map[int64]string `json:"brokerAddrs"`
			EnableActingMaster bool             `json:"enableActingMaster"`
		} `json:"brokerAddrTable"`
		ClusterAddrTable map[string][]string `json:"clusterAddrTable"`
	}
	decodeStrict(t, resp.Body, &ci)
	if ci.BrokerAddrTable["broker-a"].BrokerAddrs[1] != slaveA.addr || len(ci.ClusterAddrTable["DefaultCluster"]) != 2 {
		t.Fatalf("decoded %+v", ci)
	}
}

func TestTopicLists(t *testing.T) {
	ns, _, _ := setup(t)
	c := newConn("admin")
	resp := call(t, ns, c, request(codeGetAllTopicListFromNameserver, nil, nil))
	wantCode(t, resp, codeSuccess)
	var tl struct {
		TopicList []string `json:"topicList"`
	}
	decodeStrict(t, resp.Body, &tl)
	if got := strings.Join(tl.TopicList, ","); got != "%RETRY%g,TBW102,only-b,test" {
		t.Fatalf("topic list %s", resp.Body)
	}

	// A second cluster with its own topic.
	other := brokerSpec{"Other", "broker-c", "10.0.1.1:10911", "10.0.1.1:10912", 0}
	register(t, ns, newConn(other.addr), other, DataVersion{Counter: 1}, []topicSpec{{name: "c-only", read: 1, write: 1, perm: 6}, {name: "test", read: 1, write: 1, perm: 6}})
	resp = call(t, ns, c, request(codeGetTopicsByCluster, map[string]string{"cluster": "Other"}, nil))
	wantCode(t, resp, codeSuccess)
	decodeStrict(t, resp.Body, &tl)
	if got := strings.Join(tl.TopicList, ","); got != "c-only,test" {
		t.Fatalf("topics of Other: %s", resp.Body)
	}
	resp = call(t, ns, c, request(codeGetTopicsByCluster, map[string]string{"cluster": "Nope"}, nil))
	if string(resp.Body) != `{"topicList":[]}` {
		t.Fatalf("topics of an unknown cluster: %s", resp.Body)
	}

	resp = call(t, ns, c, request(codeGetSystemTopicListFromNS, nil, nil))
	var sl struct {
		TopicList  []string `json:"topicList"`
		BrokerAddr string   `json:"brokerAddr"`
	}
	decodeStrict(t, resp.Body, &sl)
	if got := strings.Join(sl.TopicList, ","); got != "DefaultCluster,Other,broker-a,broker-b,broker-c" || sl.BrokerAddr != masterA.addr {
		t.Fatalf("system topic list %s", resp.Body)
	}
}

func TestExpiry(t *testing.T) {
	ns, clk, conns := setup(t)
	// broker-b keeps registering; broker-a falls silent.
	clk.Advance(100 * time.Second)
	register(t, ns, conns[masterB], masterB, DataVersion{Timestamp: 1700000000000, Counter: 3}, topicsB)

	clk.Advance(20 * time.Second) // broker-a silent exactly 120 s: still alive
	if got := ns.ScanExpired(); len(got) != 0 {
		t.Fatalf("expired at the limit: %+v", got)
	}
	clk.Advance(time.Millisecond)
	got := ns.ScanExpired()
	if len(got) != 2 || got[0].BrokerAddr != masterA.addr || got[1].BrokerAddr != slaveA.addr ||
		got[0].BrokerName != "broker-a" || got[1].BrokerID != 1 {
		t.Fatalf("expired %+v", got)
	}
	if !conns[masterA].isClosed() || !conns[slaveA].isClosed() || conns[masterB].isClosed() {
		t.Fatal("expired connections must be closed, live ones not")
	}

	c := newConn("client")
	wantCode(t, call(t, ns, c, routeReq("TBW102")), codeTopicNotExist)
	resp := call(t, ns, c, routeReq("test"))
	wantCode(t, resp, codeSuccess)
	var jr javaRoute
	decodeStrict(t, resp.Body, &jr)
	if len(jr.BrokerDatas) != 1 || jr.BrokerDatas[0].BrokerName != "broker-b" || len(jr.QueueDatas) != 1 {
		t.Fatalf("route after expiry %s", resp.Body)
	}

	// A broker's own heartbeatTimeoutMillis wins over the default.
	fast := brokerSpec{"DefaultCluster", "broker-f", "10.0.0.9:10911", "10.0.0.9:10912", 0}
	req := registerReq(fast, javaRegisterBody(DataVersion{Counter: 1}, topicsB...), "heartbeatTimeoutMillis", "5000")
	wantCode(t, call(t, ns, newConn(fast.addr), req), codeSuccess)
	clk.Advance(5001 * time.Millisecond)
	if got := ns.ScanExpired(); len(got) != 1 || got[0].BrokerAddr != fast.addr {
		t.Fatalf("expired %+v, want only %s", got, fast.addr)
	}
}

func TestRunExpiresSilentBrokers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ns := New(Options{Logger: slog.New(slog.DiscardHandler)}) // real clock, faked by the bubble
		conn := newConn(masterA.addr)
		register(t, ns, conn, masterA, DataVersion{Counter: 1}, topicsA)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			ns.Run(stop)
			close(done)
		}()
		time.Sleep(125 * time.Second) // scans at 10, 20, …, 120 s: not yet
		synctest.Wait()
		if conn.isClosed() {
			t.Fatal("broker removed before its 120 s were up")
		}
		time.Sleep(10 * time.Second) // scan at 130 s
		synctest.Wait()
		if !conn.isClosed() {
			t.Fatal("silent broker not removed")
		}
		if _, ok := ns.Routes().Route("test"); ok {
			t.Fatal("route of an expired broker still served")
		}
		close(stop)
		<-done
	})
}

func TestUnregister(t *testing.T) {
	ns, _, _ := setup(t)
	c := newConn("admin")
	unreg := func(b brokerSpec) {
		t.Helper()
		wantCode(t, call(t, ns, c, request(codeUnregisterBroker, map[string]string{
			"brokerName": b.name, "brokerAddr": b.addr, "clusterName": b.cluster, "brokerId": strconv.FormatInt(b.id, 10),
		}, nil)), codeSuccess)
	}
	brokerAddrs := func(topic string) map[string]string {
		t.Helper()
		resp := call(t, ns, c, routeReq(topic))
		wantCode(t, resp, codeSuccess)
		var jr javaRoute
		decodeStrict(t, resp.Body, &jr)
		return jr.BrokerDatas[0].BrokerAddrs
	}

	unreg(slaveA)
	if got := brokerAddrs("TBW102"); len(got) != 1 || got["0"] != masterA.addr {
		t.Fatalf("after slave left: %v", got)
	}

	// The master leaves while the slave (re-registered) stays: the queue
	// data stay, the route has no master address.
	register(t, ns, newConn(slaveA.addr), slaveA, DataVersion{Counter: 3}, topicsA)
	unreg(masterA)
	if got := brokerAddrs("TBW102"); len(got) != 1 || got["1"] != slaveA.addr {
		t.Fatalf("after master left: %v", got)
	}

	unreg(slaveA)
	wantCode(t, call(t, ns, c, routeReq("TBW102")), codeTopicNotExist)
	ci := ns.Routes().ClusterInfo()
	if _, ok := ci.BrokerAddrTable["broker-a"]; ok || len(ci.ClusterAddrTable["DefaultCluster"]) != 1 {
		t.Fatalf("cluster info after broker-a left: %+v", ci)
	}
	if rd, ok := ns.Routes().Route("test"); !ok || len(rd.QueueDatas) != 1 || rd.QueueDatas[0].BrokerName != "broker-b" {
		t.Fatalf("test route %+v", rd)
	}

	unreg(masterB)
	if got := ns.Routes().AllTopics(); len(got) != 0 {
		t.Fatalf("topics left: %v", got)
	}
	if ci := ns.Routes().ClusterInfo(); len(ci.ClusterAddrTable) != 0 || len(ci.BrokerAddrTable) != 0 {
		t.Fatalf("cluster info left: %+v", ci)
	}
}

func TestOnDisconnect(t *testing.T) {
	ns, _, conns := setup(t)
	ns.OnDisconnect(conns[slaveA])
	if bd, _ := ns.Routes().BrokerMember("broker-a"); len(bd.BrokerAddrs) != 1 {
		t.Fatalf("slave still registered: %v", bd.BrokerAddrs)
	}

	// broker-b reconnects and registers again before the old connection's
	// close is seen: the late close must not remove it.
	fresh := newConn(masterB.addr)
	register(t, ns, fresh, masterB, DataVersion{Counter: 3}, topicsB)
	ns.OnDisconnect(conns[masterB])
	if _, ok := ns.Routes().Route("only-b"); !ok {
		t.Fatal("a stale connection's close removed the re-registered broker")
	}
	ns.OnDisconnect(fresh)
	if _, ok := ns.Routes().Route("only-b"); ok {
		t.Fatal("closing the broker's connection did not remove it")
	}
	ns.OnDisconnect(newConn("client")) // a client's connection: nothing to do
}

func TestDeleteTopic(t *testing.T) {
	ns, _, _ := setup(t)
	other := brokerSpec{"Other", "broker-c", "10.0.1.1:10911", "10.0.1.1:10912", 0}
	register(t, ns, newConn(other.addr), other, DataVersion{Counter: 1}, []topicSpec{{name: "test", read: 1, write: 1, perm: 6}, {name: "c-only", read: 1, write: 1, perm: 6}})
	c := newConn("admin")

	wantCode(t, call(t, ns, c, request(codeDeleteTopicInNamesrv, map[string]string{"topic": "test", "clusterName": "Other"}, nil)), codeSuccess)
	rd, ok := ns.Routes().Route("test")
	if !ok || len(rd.QueueDatas) != 2 || rd.QueueDatas[0].BrokerName != "broker-a" || rd.QueueDatas[1].BrokerName != "broker-b" {
		t.Fatalf("after deleting test in Other: %+v", rd)
	}
	wantCode(t, call(t, ns, c, request(codeDeleteTopicInNamesrv, map[string]string{"topic": "test"}, nil)), codeSuccess)
	wantCode(t, call(t, ns, c, routeReq("test")), codeTopicNotExist)
	wantCode(t, call(t, ns, c, routeReq("c-only")), codeSuccess)
	// Unknown topic or cluster: still SUCCESS.
	wantCode(t, call(t, ns, c, request(codeDeleteTopicInNamesrv, map[string]string{"topic": "c-only", "clusterName": "Nope"}, nil)), codeSuccess)
	wantCode(t, call(t, ns, c, routeReq("c-only")), codeSuccess)
}

func TestRegistrationRules(t *testing.T) {
	clk := newClock()
	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	c := newConn(masterA.addr)
	dv := DataVersion{Timestamp: 1, Counter: 1}

	// A single-topic (incremental) registration before a full one is refused.
	resp := call(t, ns, c, registerReq(masterA, javaRegisterBody(dv, topicsA[0])))
	wantCode(t, resp, codeSystemError)
	if resp.Remark != "register broker failed" {
		t.Fatalf("remark %q", resp.Remark)
	}
	register(t, ns, c, masterA, dv, topicsA)
	register(t, ns, c, masterA, DataVersion{Timestamp: 1, Counter: 2}, []topicSpec{{name: "new-topic", read: 2, write: 2, perm: 6}})
	if _, ok := ns.Routes().Route("new-topic"); !ok {
		t.Fatal("incremental registration of a registered broker not applied")
	}

	// Wiping write permission lasts until the broker's data version changes.
	resp = call(t, ns, c, request(codeWipeWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	wantCode(t, resp, codeSuccess)
	if resp.ExtFields["wipeTopicCount"] != "4" {
		t.Fatalf("wipeTopicCount %q", resp.ExtFields["wipeTopicCount"])
	}
	perm := func() int32 {
		rd, _ := ns.Routes().Route("test")
		return rd.QueueDatas[0].Perm
	}
	register(t, ns, c, masterA, DataVersion{Timestamp: 1, Counter: 2}, topicsA)
	if perm() != PermRead {
		t.Fatalf("perm %d after a same-version registration, want %d", perm(), PermRead)
	}
	register(t, ns, c, masterA, DataVersion{Timestamp: 1, Counter: 3}, topicsA)
	if perm() != PermRead|PermWrite {
		t.Fatalf("perm %d after a new version, want 6", perm())
	}
	resp = call(t, ns, c, request(codeAddWritePermOfBroker, map[string]string{"brokerName": "broker-a"}, nil))
	if resp.ExtFields["addTopicCount"] != "4" {
		t.Fatalf("addTopicCount %q", resp.ExtFields["addTopicCount"])
	}

	// A slave promoted to master under the same address leaves id 1.
	register(t, ns, newConn(slaveA.addr), slaveA, dv, topicsA)
	promoted := slaveA
	promoted.id = 0
	register(t, ns, newConn(slaveA.addr), promoted, DataVersion{Counter: 9}, topicsA)
	bd, _ := ns.Routes().BrokerMember("broker-a")
	if len(bd.BrokerAddrs) != 1 || bd.BrokerAddrs[0] != slaveA.addr {
		t.Fatalf("after promotion: %v", bd.BrokerAddrs)
	}

	// 5.x acting master: the lowest slave's topics, without write, while no
	// master is registered.
	ns2 := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	req := registerReq(slaveA, javaRegisterBody(dv, topicsA...), "enableActingMaster", "true", "__ZONE_NAME", "zone-1")
	wantCode(t, call(t, ns2, newConn(slaveA.addr), req), codeSuccess)
	rd, ok := ns2.Routes().Route("test")
	if !ok || rd.QueueDatas[0].Perm != PermRead || !rd.BrokerDatas[0].EnableActingMaster || rd.BrokerDatas[0].ZoneName != "zone-1" {
		t.Fatalf("acting-master route %+v", rd)
	}
	if body := AppendTopicRouteData(nil, rd, StandardJSON); !bytes.Contains(body, []byte(`"enableActingMaster":true,"zoneName":"zone-1"`)) {
		t.Fatalf("route body %s", body)
	}
}

func TestBrokerMemberGroupAndHeartbeat(t *testing.T) {
	ns, clk, _ := setup(t)
	c := newConn(masterA.addr)
	resp := call(t, ns, c, request(codeGetBrokerMemberGroup, map[string]string{"clusterName": "DefaultCluster", "brokerName": "broker-a"}, nil))
	wantCode(t, resp, codeSuccess)
	if want := `{"brokerMemberGroup":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}}`; string(resp.Body) != want {
		t.Fatalf("member group %s", resp.Body)
	}

	clk.Advance(100 * time.Second)
	wantCode(t, call(t, ns, c, request(codeBrokerHeartbeat, map[string]string{"clusterName": "DefaultCluster", "brokerAddr": masterA.addr, "brokerName": "broker-a"}, nil)), codeSuccess)
	clk.Advance(30 * time.Second)
	got := ns.ScanExpired()
	if len(got) != 2 || got[0].BrokerAddr != slaveA.addr || got[1].BrokerAddr != masterB.addr {
		t.Fatalf("expired %+v: the heartbeat must keep %s alive", got, masterA.addr)
	}
}

func TestQueryDataVersion(t *testing.T) {
	ns, clk, _ := setup(t)
	c := newConn(masterA.addr)
	q := func(body string) *remoting.Command {
		return call(t, ns, c, request(codeQueryDataVersion, map[string]string{
			"brokerName": "broker-a", "brokerAddr": masterA.addr, "clusterName": "DefaultCluster", "brokerId": "0",
		}, []byte(body)))
	}
	resp := q(`{"counter":3,"stateVersion":0,"timestamp":1700000000000}`)
	wantCode(t, resp, codeSuccess)
	if resp.ExtFields["changed"] != "false" || string(resp.Body) != `{"counter":3,"stateVersion":0,"timestamp":1700000000000}` {
		t.Fatalf("unchanged: %v %s", resp.ExtFields, resp.Body)
	}
	resp = q(`{"counter":4,"stateVersion":0,"timestamp":1700000000000}`)
	if resp.ExtFields["changed"] != "true" {
		t.Fatalf("changed: %v", resp.ExtFields)
	}
	// The unchanged query counted as a heartbeat for broker-a's master only.
	clk.Advance(121 * time.Second)
	_ = q(`{"counter":3,"stateVersion":0,"timestamp":1700000000000}`)
	if got := ns.ScanExpired(); len(got) != 2 {
		t.Fatalf("expired %+v", got)
	}
}

func TestKVConfig(t *testing.T) {
	ns, _, _ := setup(t)
	c := newConn("admin")
	get := request(codeGetKVConfig, map[string]string{"namespace": "PROJECT_CONFIG", "key": "10.0.0.5"}, nil)
	resp := call(t, ns, c, get)
	wantCode(t, resp, codeQueryNotFound)
	if resp.Remark != "No config item, Namespace: PROJECT_CONFIG Key: 10.0.0.5" {
		t.Fatalf("remark %q", resp.Remark)
	}
	wantCode(t, call(t, ns, c, request(codePutKVConfig, map[string]string{"namespace": "PROJECT_CONFIG", "key": "10.0.0.5", "value": "p1"}, nil)), codeSuccess)
	resp = call(t, ns, c, request(codeGetKVConfig, get.ExtFields, nil))
	wantCode(t, resp, codeSuccess)
	if resp.ExtFields["value"] != "p1" {
		t.Fatalf("value %v", resp.ExtFields)
	}
	resp = call(t, ns, c, request(codeGetKVListByNamespace, map[string]string{"namespace": "PROJECT_CONFIG"}, nil))
	if string(resp.Body) != `{"table":{"10.0.0.5":"p1"}}` {
		t.Fatalf("kv list %s", resp.Body)
	}
	wantCode(t, call(t, ns, c, request(codeDeleteKVConfig, get.ExtFields, nil)), codeSuccess)
	wantCode(t, call(t, ns, c, request(codeGetKVListByNamespace, map[string]string{"namespace": "PROJECT_CONFIG"}, nil)), codeQueryNotFound)

	// The order-topic namespace goes back to registering brokers.
	wantCode(t, call(t, ns, c, request(codePutKVConfig, map[string]string{"namespace": "ORDER_TOPIC_CONFIG", "key": "test", "value": "broker-a:4"}, nil)), codeSuccess)
	resp = register(t, ns, newConn(masterB.addr), masterB, DataVersion{Counter: 3}, topicsB)
	if string(resp.Body) != `{"table":{"test":"broker-a:4"}}` {
		t.Fatalf("register response body %s", resp.Body)
	}
}

func TestOneway(t *testing.T) {
	ns, _, _ := setup(t)
	c := newConn("c")
	req := routeReq("test")
	req.Flag = remoting.FlagOneway
	ns.Processors()[req.Code](c, req)
	if c.count() != 0 {
		t.Fatal("answered a one-way request")
	}
}

func TestBadInputs(t *testing.T) {
	ns, _, _ := setup(t)
	good := registerReq(masterB, javaRegisterBody(DataVersion{Counter: 5}, topicsB...))
	without := func(req *remoting.Command, key string) *remoting.Command {
		ext := map[string]string{}
		for k, v := range req.ExtFields {
			if k != key {
				ext[k] = v
			}
		}
		return request(req.Code, ext, req.Body)
	}
	with := func(req *remoting.Command, key, value string) *remoting.Command {
		ext := map[string]string{}
		for k, v := range req.ExtFields {
			ext[k] = v
		}
		ext[key] = value
		return request(req.Code, ext, req.Body)
	}
	withBody := func(req *remoting.Command, body string) *remoting.Command {
		r := with(without(req, "bodyCrc32"), "compressed", "false")
		r.Body = []byte(body)
		return r
	}
	unreg := request(codeUnregisterBroker, map[string]string{"brokerName": "b", "brokerAddr": "a:1", "clusterName": "c", "brokerId": "0"}, nil)
	qdv := request(codeQueryDataVersion, map[string]string{"brokerName": "b", "brokerAddr": "a:1", "clusterName": "c", "brokerId": "0"}, []byte(`{"counter":1}`))

	cases := []struct {
		name string
		req  *remoting.Command
		want string // substring of the remark
	}{
		{"register without brokerName", without(good, "brokerName"), "missing header field brokerName"},
		{"register without brokerAddr", without(good, "brokerAddr"), "brokerAddr"},
		{"register without clusterName", without(good, "clusterName"), "clusterName"},
		{"register without haServerAddr", without(good, "haServerAddr"), "haServerAddr"},
		{"register without brokerId", without(good, "brokerId"), "brokerId"},
		{"register with bad brokerId", with(good, "brokerId", "x1"), `brokerId is not a valid int64: "x1"`},
		{"register with bad heartbeat timeout", with(good, "heartbeatTimeoutMillis", "soon"), "heartbeatTimeoutMillis"},
		{"register with bad crc", with(good, "bodyCrc32", "12345"), "crc32 not match"},
		{"register with non-number crc", with(good, "bodyCrc32", "abc"), "bodyCrc32"},
		{"register with nil extFields", request(codeRegisterBroker, nil, good.Body), "missing header field"},
		{"register with bad body JSON", withBody(good, `{"topicConfigSerializeWrapper":{`), "RegisterBrokerBody"},
		{"register with body of wrong types", withBody(good, `{"topicConfigSerializeWrapper":{"topicConfigTable":{"t":{"perm":"six"}}}}`), "RegisterBrokerBody"},
		{"register with body not an object", withBody(good, `[1,2]`), "RegisterBrokerBody"},
		{"register with garbage compressed body", with(withBody(good, "not zlib"), "compressed", "true"), "inflate"},
		{"route without topic", request(codeGetRouteInfoByTopic, nil, nil), "missing header field topic"},
		{"route with empty topic", request(codeGetRouteInfoByTopic, map[string]string{"topic": ""}, nil), "topic"},
		{"unregister without brokerId", without(unreg, "brokerId"), "brokerId"},
		{"unregister with bad brokerId", with(unreg, "brokerId", "-"), "brokerId"},
		{"delete topic without topic", request(codeDeleteTopicInNamesrv, nil, nil), "topic"},
		{"data version without body", func() *remoting.Command { r := with(qdv, "x", "y"); r.Body = nil; return r }(), "DataVersion"},
		{"data version with bad body", func() *remoting.Command { r := with(qdv, "x", "y"); r.Body = []byte("{"); return r }(), "DataVersion"},
		{"data version without brokerAddr", without(qdv, "brokerAddr"), "brokerAddr"},
		{"put kv without key", request(codePutKVConfig, map[string]string{"namespace": "n", "value": "v"}, nil), "key"},
		{"put kv without value", request(codePutKVConfig, map[string]string{"namespace": "n", "key": "k"}, nil), "value"},
		{"get kv without namespace", request(codeGetKVConfig, map[string]string{"key": "k"}, nil), "namespace"},
		{"topics by cluster without cluster", request(codeGetTopicsByCluster, nil, nil), "cluster"},
		{"wipe without brokerName", request(codeWipeWritePermOfBroker, nil, nil), "brokerName"},
		{"heartbeat without brokerAddr", request(codeBrokerHeartbeat, map[string]string{"clusterName": "c", "brokerName": "b"}, nil), "brokerAddr"},
		{"member group without brokerName", request(codeGetBrokerMemberGroup, map[string]string{"clusterName": "c"}, nil), "brokerName"},
	}
	c := newConn("bad")
	for _, tc := range cases {
		resp := call(t, ns, c, tc.req)
		if resp.Code != codeSystemError || !strings.Contains(resp.Remark, tc.want) {
			t.Errorf("%s: code %d remark %q, want %d containing %q", tc.name, resp.Code, resp.Remark, codeSystemError, tc.want)
		}
	}
	// Nothing above changed the table.
	if got := strings.Join(ns.Routes().AllTopics(), ","); got != "%RETRY%g,TBW102,only-b,test" {
		t.Fatalf("topics after bad inputs: %s", got)
	}
	// The good request still works.
	wantCode(t, call(t, ns, c, good), codeSuccess)
}

func TestFastjsonBareKeysInRegisterBody(t *testing.T) {
	clk := newClock()
	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	// What a 5.x Java broker with a static topic sends: fastjson writes the
	// Integer-keyed maps of the mapping section without quotes.
	body := `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":7,"stateVersion":0,"timestamp":1700000000000},` +
		`"topicConfigTable":{"TBW102":{"attributes":{},"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8},` +
		`"static":{"attributes":{"+message.type":"NORMAL"},"order":false,"perm":6,"readQueueNums":2,"topicFilterType":"SINGLE_TAG","topicName":"static","topicSysFlag":0,"writeQueueNums":2}},` +
		`"topicQueueMappingDetailMap":{"static":{"bname":"broker-a","currIdMap":{0:0,1:1},"epoch":1,"hostedQueues":{0:[{"bname":"broker-a","gen":0,"logicOffset":0,"queueId":0}],1:[]},"scope":"__global__","topic":"static","totalQueues":2}},` +
		`"topicQueueMappingInfoMap":{"static":{"bname":"broker-a","currIdMap":{0:0,-1:1},"epoch":1,"scope":"__global__","topic":"static","totalQueues":2}}}}`
	req := registerReq(masterA, []byte(body))
	wantCode(t, call(t, ns, newConn(masterA.addr), req), codeSuccess)
	rd, ok := ns.Routes().Route("static")
	if !ok || rd.QueueDatas[0].WriteQueueNums != 2 || rd.QueueDatas[0].Perm != 6 {
		t.Fatalf("static route %+v", rd)
	}
	if _, ok := ns.Routes().Route("TBW102"); !ok {
		t.Fatal("TBW102 missing")
	}

	// The bare wrapper of brokers older than V3_0_11 (version < 37).
	old := `{"dataVersion":{"counter":1,"timestamp":5},"topicConfigTable":{"old":{"perm":6,"readQueueNums":1,"topicName":"old","writeQueueNums":1},"x":{"perm":6,"readQueueNums":1,"writeQueueNums":1}}}`
	req = registerReq(masterB, []byte(old))
	req.Version = 36
	wantCode(t, call(t, ns, newConn(masterB.addr), req), codeSuccess)
	if _, ok := ns.Routes().Route("old"); !ok {
		t.Fatal("old-format registration not applied")
	}
	if _, ok := ns.Routes().Route("x"); !ok {
		t.Fatal("topic named by its table key only not applied")
	}

	// A RegisterBrokerBody from a broker that sends version 0: the shape of
	// the body, not the version, decides.
	zero := brokerSpec{"DefaultCluster", "broker-z", "10.0.0.8:10911", "10.0.0.8:10912", 0}
	req = registerReq(zero, javaRegisterBody(DataVersion{Counter: 1}, topicSpec{name: "zero", read: 3, write: 3, perm: 6}, topicSpec{name: "TBW102", read: 8, write: 8, perm: 7}))
	req.Version = 0
	wantCode(t, call(t, ns, newConn(zero.addr), req), codeSuccess)
	if rd, ok := ns.Routes().Route("zero"); !ok || rd.QueueDatas[0].ReadQueueNums != 3 {
		t.Fatalf("version-0 registration: %+v", rd)
	}
}

func TestQuoteBareKeys(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(quoteBareKeys([]byte(in))); got != want {
			t.Errorf("quoteBareKeys(%s) = %s, want %s", in, got, want)
		}
	}
	f(`{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}`, `{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"}`)
	f(`{"0":"a"}`, `{"0":"a"}`)
	f(`{ -1 : "a" , 2:{3:[{4:true}]}}`, `{ "-1" : "a" , "2":{"3":[{"4":true}]}}`)
	f(`[1,2,{5:6},7]`, `[1,2,{"5":6},7]`)
	f(`{"k":"{0:1,\"x\":[{2:3}]}"}`, `{"k":"{0:1,\"x\":[{2:3}]}"}`) // inside a string: untouched
	f(`{"a\\":{1:2}}`, `{"a\\":{"1":2}}`)
	f(`{true:1,null:2}`, `{"true":1,"null":2}`)
	f(``, ``)
	f(`}}]]{`, `}}]]{`)
}

func TestCompressedRegisterBody(t *testing.T) {
	// RegisterBrokerBody.encode(true) of a 5.x broker.
	var raw bytes.Buffer
	chunk := func(s string) {
		binary.Write(&raw, binary.BigEndian, int32(len(s)))
		raw.WriteString(s)
	}
	chunk(`{"counter":4,"stateVersion":0,"timestamp":1700000000000}`)
	binary.Write(&raw, binary.BigEndian, int32(2))
	chunk(`TBW102 8 8 7 SINGLE_TAG {}`)
	chunk(`test 4 4 6 SINGLE_TAG`)
	chunk(`[]`)
	binary.Write(&raw, binary.BigEndian, int32(1))
	chunk(`{"bname":"broker-a","currIdMap":{0:0},"epoch":1,"scope":"__global__","topic":"x","totalQueues":1}`)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(raw.Bytes())
	zw.Close()

	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: newClock().Now})
	req := registerReq(masterA, z.Bytes(), "compressed", "true")
	wantCode(t, call(t, ns, newConn(masterA.addr), req), codeSuccess)
	rd, ok := ns.Routes().Route("test")
	if !ok || rd.QueueDatas[0].ReadQueueNums != 4 || rd.QueueDatas[0].Perm != 6 {
		t.Fatalf("route %+v", rd)
	}
	if rd, ok := ns.Routes().Route("TBW102"); !ok || rd.QueueDatas[0].Perm != 7 {
		t.Fatalf("TBW102 route %+v", rd)
	}

	// Every truncation of the inflated stream fails cleanly.
	for n := 0; n < raw.Len(); n++ {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(raw.Bytes()[:n])
		zw.Close()
		_, err := decodeCompressedRegisterBody(z.Bytes())
		// Only the optional 5.x mapping section may be cut off.
		if err == nil && n < raw.Len()-4-len(`{"bname":"broker-a","currIdMap":{0:0},"epoch":1,"scope":"__global__","topic":"x","totalQueues":1}`)-4 {
			t.Fatalf("truncated at %d: no error", n)
		}
	}
}

// TestConcurrentRegistrationsAndQueries runs registrations, routes,
// cluster info, disconnects and scans at once; run it with -race.
func TestConcurrentRegistrationsAndQueries(t *testing.T) {
	clk := newClock()
	ns := New(Options{Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	const writers, readers, rounds = 4, 4, 200
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers+1)
	for w := range writers {
		wg.Go(func() {
			b := brokerSpec{"DefaultCluster", fmt.Sprintf("broker-%d", w), fmt.Sprintf("10.1.0.%d:10911", w), fmt.Sprintf("10.1.0.%d:10912", w), 0}
			for i := 0; i < rounds && time.Now().Before(deadline); i++ {
				conn := newConn(b.addr)
				resp, err := invoke(ns, conn, registerReq(b, javaRegisterBody(DataVersion{Counter: int64(i)}, topicsA...)))
				if err != nil {
					errs <- err
					return
				}
				if resp.Code != codeSuccess {
					errs <- fmt.Errorf("register %s: %d %s", b.name, resp.Code, resp.Remark)
					return
				}
				if i%10 == 9 {
					ns.OnDisconnect(conn)
				}
				clk.Advance(time.Second)
			}
		})
	}
	for range readers {
		wg.Go(func() {
			c := newConn("client")
			for i := 0; i < rounds && time.Now().Before(deadline); i++ {
				resp, err := invoke(ns, c, routeReq("test"))
				if err != nil {
					errs <- err
					return
				}
				switch resp.Code {
				case codeSuccess:
					var jr javaRoute
					if err := json.Unmarshal(resp.Body, &jr); err != nil || len(jr.BrokerDatas) != len(jr.QueueDatas) {
						errs <- fmt.Errorf("route %s: %v", resp.Body, err)
						return
					}
				case codeTopicNotExist:
				default:
					errs <- fmt.Errorf("route: %d %s", resp.Code, resp.Remark)
					return
				}
				for _, code := range []int32{codeGetBrokerClusterInfo, codeGetAllTopicListFromNameserver} {
					if _, err := invoke(ns, c, request(code, nil, nil)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < rounds && time.Now().Before(deadline); i++ {
			ns.ScanExpired()
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("concurrent test did not finish")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func FuzzDecodeRegisterBody(f *testing.F) {
	f.Add(javaRegisterBody(DataVersion{Counter: 1}, topicsA...), false)
	f.Add([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{0:{"perm":6}}}}`), false)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte{0, 0, 0, 2, '{', '}', 0, 0, 0, 1, 0, 0, 0, 9, 't', ' ', '1', ' ', '1', ' ', '6', ' ', 'S', 0, 0, 0, 2, '[', ']'})
	zw.Close()
	f.Add(z.Bytes(), true)
	f.Fuzz(func(t *testing.T, body []byte, compressed bool) {
		b, err := decodeRegisterBody(bytes.Clone(body), compressed)
		if err != nil {
			return
		}
		for _, tc := range b.topics {
			_ = tc.TopicName
		}
		if json.Valid(body) && !bytes.Equal(quoteBareKeys(body), body) {
			t.Fatalf("quoteBareKeys changed valid JSON %q", body)
		}
	})
}

func FuzzQuoteBareKeys(f *testing.F) {
	for _, s := range []string{`{0:"a"}`, `{"a":[1,{2:3}]}`, `"\"{1:2}"`, `{"x":"y"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := quoteBareKeys(in)
		if json.Valid(in) && !bytes.Equal(out, in) {
			t.Fatalf("changed valid JSON %q into %q", in, out)
		}
		if len(out) < len(in) {
			t.Fatalf("quoteBareKeys dropped bytes: %q -> %q", in, out)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	f := func(in string) {
		t.Helper()
		out := appendJSONString(nil, in)
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != in {
			t.Errorf("appendJSONString(%q) = %s: %v, back %q", in, out, err, back)
		}
		if !json2Accepts(out) {
			t.Errorf("json2.js rejects %s", out)
		}
		if bytes.ContainsAny(out, "\u2028\u2029\n") {
			t.Errorf("line terminator left in %s", out)
		}
	}
	f("")
	f("plain")
	f(`q"b\s`)
	f("ctl\x00\x01\x1f\n\r\t")
	f("line\u2028sep\u2029end")
	f("héllo 世界 <&>")
}
