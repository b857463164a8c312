package namesrv

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Route JSON. Every body this package writes is compact JSON (no
// whitespace at all) with the fields of each object in alphabetical order,
// as fastjson writes them, and the ids of brokerAddrs in ascending order:
//
//	{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},
//	  "brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],
//	 "filterServerTable":{},
//	 "queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,
//	  "topicSysFlag":0,"writeQueueNums":4}]}
//
// (shown wrapped). The ids come in one of two forms, chosen per request
// exactly as the Java name server chooses (ClientRequestProcessor, since
// 4.9.4):
//
//	StandardJSON  {"0":"10.0.0.1:10911"}  request version >= 401 (V4_9_4),
//	                                      or acceptStandardJsonOnly=true
//	LegacyJSON    {0:"10.0.0.1:10911"}    every other request
//
// The legacy form is fastjson's default output for a Map<Long,String>; it is
// not JSON, but it is the only form every old client parses:
//   - the Go client sends version 317 whatever its release. Up to v2.1.0 it
//     cuts the raw brokerAddrs text at ',' and the first ':' and parses the
//     id with strconv.ParseInt without removing quotes, so {"0":…,"1":…}
//     turns every id into 0 and the last address (a slave) becomes the
//     master; quotes are stripped only since rocketmq-client-go#846
//     (apache/rocketmq#4471 is why the Java name server keys the form on
//     the version). Whitespace breaks every release (" 1" parses as 0).
//   - ali-ons sends version 121 and parses with the JSON2 package, whose
//     CommonJS build always uses json2.js's regexp check plus eval: both
//     forms pass, and the ids become the object keys "0", "1".
//   - Java clients decode both forms with fastjson; 4.9.4 and later send
//     version >= 401 and get the standard form.
// ClusterInfo and the broker member group carry the same Long-keyed map
// and follow the same rule (the Java name server writes those two in the
// legacy form to everyone; its readers all use fastjson, which reads both).

// JSONForm selects how the numeric keys of brokerAddrs are written.
type JSONForm bool

const (
	LegacyJSON   JSONForm = false // {0:"addr"}: fastjson's default
	StandardJSON JSONForm = true  // {"0":"addr"}
)

// versionStandardJSON is MQVersion V4_9_4, the first client version the
// Java name server sends standard JSON to.
const versionStandardJSON = 401

// FormFor returns the form the Java name server would use for a request
// from a client of the given version.
func FormFor(version int32, acceptStandardJSONOnly bool) JSONForm {
	return JSONForm(version >= versionStandardJSON || acceptStandardJSONOnly)
}

// appendJSONString appends s as a JSON string. Control characters, '"',
// '\\' and U+2028/U+2029 are escaped; other text is written as UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', c)
			start = i + 1
		case c < 0x20:
			dst = append(dst, s[start:i]...)
			switch c {
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			start = i + 1
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			// U+2028 and U+2029 end a line in JavaScript sources; ali-ons
			// evals the body.
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[s[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendKey(dst []byte, k string) []byte {
	dst = appendJSONString(dst, k)
	return append(dst, ':')
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// appendBrokerAddrs writes {"0":"addr","1":"addr"} (or {0:"addr",1:"addr"})
// in ascending id order, without whitespace.
func appendBrokerAddrs(dst []byte, addrs map[int64]string, form JSONForm) []byte {
	ids := make([]int64, 0, len(addrs))
	for id := range addrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	dst = append(dst, '{')
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		if form == StandardJSON {
			dst = append(dst, '"')
			dst = appendInt(dst, id)
			dst = append(dst, '"')
		} else {
			dst = appendInt(dst, id)
		}
		dst = append(dst, ':')
		dst = appendJSONString(dst, addrs[id])
	}
	return append(dst, '}')
}

// appendBrokerData writes one BrokerData object. brokerAddrs is always
// present: the Go client panics on a BrokerData without it.
func appendBrokerData(dst []byte, bd BrokerData, form JSONForm) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerAddrs")
	dst = appendBrokerAddrs(dst, bd.BrokerAddrs, form)
	dst = append(dst, ',')
	dst = appendKey(dst, "brokerName")
	dst = appendJSONString(dst, bd.BrokerName)
	dst = append(dst, ',')
	dst = appendKey(dst, "cluster")
	dst = appendJSONString(dst, bd.Cluster)
	dst = append(dst, ',')
	dst = appendKey(dst, "enableActingMaster")
	dst = strconv.AppendBool(dst, bd.EnableActingMaster)
	if bd.ZoneName != "" {
		dst = append(dst, ',')
		dst = appendKey(dst, "zoneName")
		dst = appendJSONString(dst, bd.ZoneName)
	}
	return append(dst, '}')
}

func appendQueueData(dst []byte, qd QueueData) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerName")
	dst = appendJSONString(dst, qd.BrokerName)
	dst = append(dst, ',')
	dst = appendKey(dst, "perm")
	dst = appendInt(dst, int64(qd.Perm))
	dst = append(dst, ',')
	dst = appendKey(dst, "readQueueNums")
	dst = appendInt(dst, int64(qd.ReadQueueNums))
	dst = append(dst, ',')
	dst = appendKey(dst, "topicSysFlag")
	dst = appendInt(dst, int64(qd.TopicSysFlag))
	dst = append(dst, ',')
	dst = appendKey(dst, "writeQueueNums")
	dst = appendInt(dst, int64(qd.WriteQueueNums))
	return append(dst, '}')
}

func appendStringList(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendTopicRouteData appends the GET_ROUTEINFO_BY_TOPIC body of rd.
// queueDatas and brokerDatas are always arrays (ali-ons sorts both without
// a nil check); filterServerTable is always an object.
func AppendTopicRouteData(dst []byte, rd TopicRouteData, form JSONForm) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerDatas")
	dst = append(dst, '[')
	for i, bd := range rd.BrokerDatas {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendBrokerData(dst, bd, form)
	}
	dst = append(dst, ']', ',')
	dst = appendKey(dst, "filterServerTable")
	dst = append(dst, '{')
	addrs := make([]string, 0, len(rd.FilterServerTable))
	for a := range rd.FilterServerTable {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for i, a := range addrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, a)
		dst = appendStringList(dst, rd.FilterServerTable[a])
	}
	dst = append(dst, '}')
	if rd.OrderTopicConf != "" {
		dst = append(dst, ',')
		dst = appendKey(dst, "orderTopicConf")
		dst = appendJSONString(dst, rd.OrderTopicConf)
	}
	dst = append(dst, ',')
	dst = appendKey(dst, "queueDatas")
	dst = append(dst, '[')
	for i, qd := range rd.QueueDatas {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQueueData(dst, qd)
	}
	dst = append(dst, ']')
	return append(dst, '}')
}

// AppendClusterInfo appends the GET_BROKER_CLUSTER_INFO body:
// {"brokerAddrTable":{name:BrokerData,…},"clusterAddrTable":{cluster:[names],…}}.
func AppendClusterInfo(dst []byte, ci ClusterInfo, form JSONForm) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerAddrTable")
	dst = append(dst, '{')
	for i, name := range sortedKeys(ci.BrokerAddrTable) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, name)
		dst = appendBrokerData(dst, ci.BrokerAddrTable[name], form)
	}
	dst = append(dst, '}', ',')
	dst = appendKey(dst, "clusterAddrTable")
	dst = append(dst, '{')
	for i, cluster := range sortedKeys(ci.ClusterAddrTable) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, cluster)
		dst = appendStringList(dst, ci.ClusterAddrTable[cluster])
	}
	dst = append(dst, '}')
	return append(dst, '}')
}

// AppendTopicList appends a TopicList body {"topicList":[…]}, with
// "brokerAddr" when brokerAddr is not empty.
func AppendTopicList(dst []byte, topics []string, brokerAddr string) []byte {
	dst = append(dst, '{')
	if brokerAddr != "" {
		dst = appendKey(dst, "brokerAddr")
		dst = appendJSONString(dst, brokerAddr)
		dst = append(dst, ',')
	}
	dst = appendKey(dst, "topicList")
	dst = appendStringList(dst, topics)
	return append(dst, '}')
}

// appendKVTable appends a KVTable body {"table":{k:v,…}}.
func appendKVTable(dst []byte, table map[string]string) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "table")
	dst = append(dst, '{')
	for i, k := range sortedKeys(table) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, k)
		dst = appendJSONString(dst, table[k])
	}
	dst = append(dst, '}')
	return append(dst, '}')
}

// appendDataVersion appends a DataVersion object.
func appendDataVersion(dst []byte, dv DataVersion) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "counter")
	dst = appendInt(dst, dv.Counter)
	dst = append(dst, ',')
	dst = appendKey(dst, "stateVersion")
	dst = appendInt(dst, dv.StateVersion)
	dst = append(dst, ',')
	dst = appendKey(dst, "timestamp")
	dst = appendInt(dst, dv.Timestamp)
	return append(dst, '}')
}

// appendBrokerMemberGroup appends the GET_BROKER_MEMBER_GROUP body
// (GetBrokerMemberGroupResponseBody):
// {"brokerMemberGroup":{"brokerAddrs":{…},"brokerName":…,"cluster":…}}.
func appendBrokerMemberGroup(dst []byte, cluster, brokerName string, addrs map[int64]string, form JSONForm) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerMemberGroup")
	dst = append(dst, '{')
	dst = appendKey(dst, "brokerAddrs")
	dst = appendBrokerAddrs(dst, addrs, form)
	dst = append(dst, ',')
	dst = appendKey(dst, "brokerName")
	dst = appendJSONString(dst, brokerName)
	dst = append(dst, ',')
	dst = appendKey(dst, "cluster")
	dst = appendJSONString(dst, cluster)
	return append(dst, '}', '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ---- decoding ----

// quoteBareKeys rewrites the object keys fastjson writes without quotes
// (the keys of maps whose key type is not String: {0:"a",-1:"b"}, and
// true/false) into quoted keys, so encoding/json accepts the text. It
// touches nothing inside strings and leaves other invalid input for the
// JSON decoder to reject. Input without bare keys is returned as is.
func quoteBareKeys(in []byte) []byte {
	var out []byte
	last := 0
	inObj := make([]bool, 0, 16) // one entry per open container: true for '{'
	inStr, esc, expectKey := false, false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr, expectKey = true, false
		case '{':
			inObj = append(inObj, true)
			expectKey = true
		case '[':
			inObj = append(inObj, false)
			expectKey = false
		case '}', ']':
			if len(inObj) > 0 {
				inObj = inObj[:len(inObj)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(inObj) > 0 && inObj[len(inObj)-1]
		case ' ', '\t', '\n', '\r':
		default:
			if !expectKey {
				continue
			}
			expectKey = false
			j := i
			for j < len(in) && isBareKeyByte(in[j]) {
				j++
			}
			if j == i {
				continue
			}
			out = append(out, in[last:i]...)
			out = append(out, '"')
			out = append(out, in[i:j]...)
			out = append(out, '"')
			last = j
			i = j - 1
		}
	}
	if out == nil {
		return in
	}
	return append(out, in[last:]...)
}

func isBareKeyByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == '-' || c == '+' || c == '.' || c == '_' || c == '$'
}

// decodeJSON decodes fastjson output into v: bare keys are quoted first.
func decodeJSON(data []byte, v any) error {
	return json.Unmarshal(quoteBareKeys(data), v)
}

type dataVersionJSON struct {
	StateVersion int64 `json:"stateVersion"`
	Timestamp    int64 `json:"timestamp"`
	Counter      int64 `json:"counter"`
}

func (d dataVersionJSON) value() DataVersion {
	return DataVersion{StateVersion: d.StateVersion, Timestamp: d.Timestamp, Counter: d.Counter}
}

type topicConfigJSON struct {
	TopicName      string `json:"topicName"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	WriteQueueNums int32  `json:"writeQueueNums"`
	Perm           int32  `json:"perm"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
}

// topicConfigWrapperJSON is TopicConfigSerializeWrapper (and the 5.x
// TopicConfigAndMappingSerializeWrapper; the mapping fields are ignored).
type topicConfigWrapperJSON struct {
	TopicConfigTable map[string]topicConfigJSON `json:"topicConfigTable"`
	DataVersion      *dataVersionJSON           `json:"dataVersion"`
}

// registerBodyJSON is RegisterBrokerBody, and also the bare
// TopicConfigSerializeWrapper brokers older than V3_0_11 send: whichever
// shape the body has fills its fields.
type registerBodyJSON struct {
	TopicConfigSerializeWrapper *topicConfigWrapperJSON `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string                `json:"filterServerList"`
	topicConfigWrapperJSON                              // the bare wrapper's fields
}

// registerBody is the decoded body of a REGISTER_BROKER request.
type registerBody struct {
	dataVersion   DataVersion
	topics        []TopicConfig
	filterServers []string // nil when the body has no list
}

func (w *topicConfigWrapperJSON) into(b *registerBody) {
	if w == nil {
		return
	}
	if w.DataVersion != nil {
		b.dataVersion = w.DataVersion.value()
	}
	for _, key := range sortedKeys(w.TopicConfigTable) {
		tc := w.TopicConfigTable[key]
		name := tc.TopicName
		if name == "" {
			name = key
		}
		b.topics = append(b.topics, TopicConfig{
			TopicName:      name,
			ReadQueueNums:  tc.ReadQueueNums,
			WriteQueueNums: tc.WriteQueueNums,
			Perm:           tc.Perm,
			TopicSysFlag:   tc.TopicSysFlag,
		})
	}
}

// decodeRegisterBody decodes a REGISTER_BROKER body: RegisterBrokerBody
// JSON, or its compressed form when compressed is set. An empty body is a
// registration without topics and with a zero data version.
//
// The Java name server reads a bare TopicConfigSerializeWrapper instead
// when the request's version is below 37 (V3_0_11). The shape of the JSON
// decides here, not the version: a broker that sends a RegisterBrokerBody
// with a small or zero version still registers its topics.
func decodeRegisterBody(body []byte, compressed bool) (registerBody, error) {
	var b registerBody
	if len(body) == 0 {
		return b, nil
	}
	if compressed {
		return decodeCompressedRegisterBody(body)
	}
	var rb registerBodyJSON
	if err := decodeJSON(body, &rb); err != nil {
		return b, fmt.Errorf("cannot decode RegisterBrokerBody: %w", err)
	}
	if rb.TopicConfigSerializeWrapper == nil {
		rb.topicConfigWrapperJSON.into(&b) // the pre-V3_0_11 shape
		return b, nil
	}
	rb.TopicConfigSerializeWrapper.into(&b)
	// RegisterBrokerBody's list is never null in Java: absent means empty.
	b.filterServers = rb.FilterServerList
	if b.filterServers == nil {
		b.filterServers = []string{}
	}
	return b, nil
}

// maxInflatedRegisterBody bounds what a compressed REGISTER_BROKER body may
// inflate to.
const maxInflatedRegisterBody = 64 << 20

// decodeCompressedRegisterBody decodes RegisterBrokerBody.encode(true): a
// zlib stream (java.util.zip.DeflaterOutputStream) of
//
//	int32 len | DataVersion JSON
//	int32 topicCount
//	topicCount × (int32 len | TopicConfig.encode())
//	int32 len | filterServerList JSON
//	[int32 mappingCount | mappingCount × (int32 len | TopicQueueMappingInfo JSON)]   5.x only
//
// with big-endian lengths. TopicConfig.encode() is not JSON but the text
// "topicName readQueueNums writeQueueNums perm topicFilterType[ attributesJSON]"
// separated by single spaces; it carries no topicSysFlag (decoded as 0, as
// the Java name server does). The mapping section is skipped.
func decodeCompressedRegisterBody(body []byte) (registerBody, error) {
	var b registerBody
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return b, fmt.Errorf("cannot inflate compressed RegisterBrokerBody: %w", err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, maxInflatedRegisterBody+1))
	if err != nil {
		return b, fmt.Errorf("cannot inflate compressed RegisterBrokerBody: %w", err)
	}
	if len(raw) > maxInflatedRegisterBody {
		return b, fmt.Errorf("compressed RegisterBrokerBody inflates beyond %d bytes", maxInflatedRegisterBody)
	}
	r := lenReader{buf: raw}

	dvText, err := r.chunk("data version")
	if err != nil {
		return b, err
	}
	var dv dataVersionJSON
	if err := decodeJSON(dvText, &dv); err != nil {
		return b, fmt.Errorf("cannot decode compressed RegisterBrokerBody data version: %w", err)
	}
	b.dataVersion = dv.value()

	n, err := r.int32("topic count")
	if err != nil {
		return b, err
	}
	if n < 0 || int(n) > len(r.buf)/4 {
		return b, fmt.Errorf("compressed RegisterBrokerBody: bad topic count %d", n)
	}
	for i := 0; i < int(n); i++ {
		text, err := r.chunk("topic config")
		if err != nil {
			return b, err
		}
		tc, err := parseTopicConfigText(string(text))
		if err != nil {
			return b, err
		}
		b.topics = append(b.topics, tc)
	}

	fsText, err := r.chunk("filter server list")
	if err != nil {
		return b, err
	}
	if err := decodeJSON(fsText, &b.filterServers); err != nil {
		return b, fmt.Errorf("cannot decode compressed RegisterBrokerBody filter server list: %w", err)
	}
	// The 5.x mapping section follows; the route table does not use it.
	return b, nil
}

// parseTopicConfigText parses TopicConfig.encode() (TopicConfig.decode).
func parseTopicConfigText(s string) (TopicConfig, error) {
	f := strings.SplitN(s, " ", 6)
	if len(f) < 5 {
		return TopicConfig{}, fmt.Errorf("compressed RegisterBrokerBody: bad topic config %q", s)
	}
	var nums [3]int32
	for i := range nums {
		v, err := strconv.ParseInt(f[i+1], 10, 32)
		if err != nil {
			return TopicConfig{}, fmt.Errorf("compressed RegisterBrokerBody: bad topic config %q", s)
		}
		nums[i] = int32(v)
	}
	return TopicConfig{TopicName: f[0], ReadQueueNums: nums[0], WriteQueueNums: nums[1], Perm: nums[2]}, nil
}

// lenReader reads big-endian int32 lengths and length-prefixed chunks,
// checking what is left before each slice.
type lenReader struct{ buf []byte }

func (r *lenReader) int32(what string) (int32, error) {
	if len(r.buf) < 4 {
		return 0, fmt.Errorf("compressed RegisterBrokerBody: truncated before %s", what)
	}
	v := int32(binary.BigEndian.Uint32(r.buf))
	r.buf = r.buf[4:]
	return v, nil
}

func (r *lenReader) chunk(what string) ([]byte, error) {
	n, err := r.int32(what)
	if err != nil {
		return nil, err
	}
	if n < 0 || int(n) > len(r.buf) {
		return nil, fmt.Errorf("compressed RegisterBrokerBody: %s length %d exceeds the %d bytes left", what, n, len(r.buf))
	}
	c := r.buf[:n]
	r.buf = r.buf[n:]
	return c, nil
}

// errEmptyBody is returned for a request that needs a body and has none.
var errEmptyBody = errors.New("empty body")

// decodeDataVersion decodes a DataVersion JSON body (QUERY_DATA_VERSION).
func decodeDataVersion(body []byte) (DataVersion, error) {
	if len(body) == 0 {
		return DataVersion{}, errEmptyBody
	}
	var dv dataVersionJSON
	if err := decodeJSON(body, &dv); err != nil {
		return DataVersion{}, err
	}
	return dv.value(), nil
}
