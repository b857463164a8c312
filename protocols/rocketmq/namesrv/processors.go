package namesrv

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// Request codes this package answers (RequestCode.java). They stay
// unexported and local so the package builds without the shared code
// table of protocols/remoting.
const (
	codePutKVConfig                   = 100
	codeGetKVConfig                   = 101
	codeDeleteKVConfig                = 102
	codeRegisterBroker                = 103
	codeUnregisterBroker              = 104
	codeGetRouteInfoByTopic           = 105
	codeGetBrokerClusterInfo          = 106
	codeWipeWritePermOfBroker         = 205
	codeGetAllTopicListFromNameserver = 206
	codeDeleteTopicInNamesrv          = 216
	codeGetKVListByNamespace          = 219
	codeGetTopicsByCluster            = 224
	codeGetSystemTopicListFromNS      = 304
	codeQueryDataVersion              = 322
	codeAddWritePermOfBroker          = 327
	codeGetBrokerMemberGroup          = 901
	codeBrokerHeartbeat               = 904
)

// Response codes (ResponseCode.java, RemotingSysResponseCode.java).
const (
	codeSuccess       = 0
	codeSystemError   = 1
	codeTopicNotExist = 17
	codeQueryNotFound = 22
)

// serverVersion is the MQVersion ordinal the name server puts in its
// responses: 479 = V5_3_3.
const serverVersion = 479

// DefaultScanInterval is how often Run looks for silent brokers (the 4.x
// name server's period; 5.x scans every 5 s).
const DefaultScanInterval = 10 * time.Second

// Options configure a NameServer. The zero value is usable.
type Options struct {
	// Logger receives registrations (debug) and removals (info); nil means
	// slog.Default().
	Logger *slog.Logger
	// BrokerTimeout is how long a broker that stated no
	// heartbeatTimeoutMillis may stay silent; 0 means DefaultBrokerTimeout.
	BrokerTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ScanInterval is the period of Run's expiry scan; 0 means
	// DefaultScanInterval.
	ScanInterval time.Duration
}

// NameServer answers the name-server request codes from a RouteTable.
type NameServer struct {
	log          *slog.Logger
	now          func() time.Time
	timeout      time.Duration
	scanInterval time.Duration
	routes       *RouteTable
	kv           *kvConfig
	procs        map[int32]remoting.Processor // filled once by New, read only after
}

// New returns a name server with an empty route table.
func New(opts Options) *NameServer {
	ns := &NameServer{
		log:          opts.Logger,
		now:          opts.Now,
		timeout:      opts.BrokerTimeout,
		scanInterval: opts.ScanInterval,
		routes:       NewRouteTable(),
		kv:           newKVConfig(),
	}
	if ns.log == nil {
		ns.log = slog.Default()
	}
	if ns.now == nil {
		ns.now = time.Now
	}
	if ns.timeout <= 0 {
		ns.timeout = DefaultBrokerTimeout
	}
	if ns.scanInterval <= 0 {
		ns.scanInterval = DefaultScanInterval
	}
	handlers := map[int32]handler{
		codePutKVConfig:                   ns.putKVConfig,
		codeGetKVConfig:                   ns.getKVConfig,
		codeDeleteKVConfig:                ns.deleteKVConfig,
		codeGetKVListByNamespace:          ns.getKVListByNamespace,
		codeRegisterBroker:                ns.registerBroker,
		codeUnregisterBroker:              ns.unregisterBroker,
		codeBrokerHeartbeat:               ns.brokerHeartbeat,
		codeQueryDataVersion:              ns.queryDataVersion,
		codeGetBrokerMemberGroup:          ns.getBrokerMemberGroup,
		codeGetRouteInfoByTopic:           ns.getRouteInfoByTopic,
		codeGetBrokerClusterInfo:          ns.getBrokerClusterInfo,
		codeGetAllTopicListFromNameserver: ns.getAllTopicList,
		codeGetTopicsByCluster:            ns.getTopicsByCluster,
		codeGetSystemTopicListFromNS:      ns.getSystemTopicList,
		codeDeleteTopicInNamesrv:          ns.deleteTopic,
		codeWipeWritePermOfBroker:         ns.wipeWritePerm,
		codeAddWritePermOfBroker:          ns.addWritePerm,
	}
	ns.procs = make(map[int32]remoting.Processor, len(handlers))
	for code, h := range handlers {
		ns.procs[code] = ns.processor(h)
	}
	return ns
}

// Routes returns the name server's route table.
func (ns *NameServer) Routes() *RouteTable { return ns.routes }

// Processors returns the processor of every request code the name server
// answers, for the remoting router. Other codes are the router's to
// answer with REQUEST_CODE_NOT_SUPPORTED.
func (ns *NameServer) Processors() map[int32]remoting.Processor {
	out := make(map[int32]remoting.Processor, len(ns.procs))
	for code, p := range ns.procs {
		out[code] = p
	}
	return out
}

// Run scans for silent brokers every scan interval until stop is closed,
// removing them and closing their connections.
func (ns *NameServer) Run(stop <-chan struct{}) {
	tick := time.NewTicker(ns.scanInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			ns.ScanExpired()
		}
	}
}

// ScanExpired runs one expiry scan now and returns the removed brokers.
func (ns *NameServer) ScanExpired() []RemovedBroker {
	expired := ns.routes.ScanExpired(ns.now(), ns.timeout)
	for _, e := range expired {
		ns.log.Info("namesrv: broker expired", "cluster", e.ClusterName, "broker", e.BrokerName,
			"id", e.BrokerID, "addr", e.BrokerAddr)
		if e.Conn != nil {
			_ = e.Conn.Close()
		}
	}
	return expired
}

// OnDisconnect removes at once every broker registered over conn; the
// remoting server calls it when a connection closes.
func (ns *NameServer) OnDisconnect(conn remoting.Conn) {
	for _, e := range ns.routes.RemoveConn(conn) {
		ns.log.Info("namesrv: broker connection closed", "cluster", e.ClusterName, "broker", e.BrokerName,
			"id", e.BrokerID, "addr", e.BrokerAddr)
	}
}

// handler answers one request; a nil response means no answer.
type handler func(conn remoting.Conn, req *remoting.Command) *remoting.Command

// processor adapts a handler: it sends the response unless the request is
// one-way.
func (ns *NameServer) processor(h handler) remoting.Processor {
	return func(conn remoting.Conn, req *remoting.Command) {
		resp := h(conn, req)
		if resp == nil || req.IsOneway() {
			return
		}
		if err := conn.Send(resp); err != nil {
			ns.log.Debug("namesrv: cannot send response", "code", req.Code, "peer", conn.RemoteAddr(), "err", err)
		}
	}
}

// respond builds a response to req: same opaque and header type, response
// flag, JAVA language and serverVersion.
func respond(req *remoting.Command, code int32, remark string) *remoting.Command {
	return &remoting.Command{
		Code:      code,
		Language:  "JAVA",
		Version:   serverVersion,
		Opaque:    req.Opaque,
		Flag:      remoting.FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

func success(req *remoting.Command) *remoting.Command { return respond(req, codeSuccess, "") }

// codeError is a failure that becomes a response code and remark.
type codeError struct {
	code   int32
	remark string
}

func (e *codeError) Error() string { return fmt.Sprintf("code %d: %s", e.code, e.remark) }

func systemError(format string, args ...any) *codeError {
	return &codeError{code: codeSystemError, remark: fmt.Sprintf(format, args...)}
}

func fail(req *remoting.Command, err error) *remoting.Command {
	var ce *codeError
	if errors.As(err, &ce) {
		return respond(req, ce.code, ce.remark)
	}
	return respond(req, codeSystemError, err.Error())
}

// header reads request extFields, keeping the first error. Numbers parse
// like Java's Integer/Long.parseLong, booleans like Boolean.parseBoolean.
type header struct {
	op  string // request name, for remarks
	ext map[string]string
	err *codeError
}

func newHeader(op string, req *remoting.Command) *header {
	return &header{op: op, ext: req.ExtFields}
}

func (h *header) missing(name string) {
	if h.err == nil {
		h.err = systemError("%s: missing header field %s", h.op, name)
	}
}

// str returns a required, non-empty field.
func (h *header) str(name string) string {
	v := h.ext[name]
	if v == "" {
		h.missing(name)
	}
	return v
}

// present returns a field that must be present but may be empty.
func (h *header) present(name string) string {
	v, ok := h.ext[name]
	if !ok {
		h.missing(name)
	}
	return v
}

func (h *header) opt(name string) string { return h.ext[name] }

func (h *header) parseInt(name, v string, bits int) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
	if err != nil && h.err == nil {
		h.err = systemError("%s: header field %s is not a valid int%d: %q", h.op, name, bits, v)
	}
	return n
}

// integer returns a required int64 field.
func (h *header) integer(name string) int64 {
	v, ok := h.ext[name]
	if !ok || v == "" {
		h.missing(name)
		return 0
	}
	return h.parseInt(name, v, 64)
}

// optInt returns an optional integer field of the given width; ok is false
// when absent or empty.
func (h *header) optInt(name string, bits int) (n int64, ok bool) {
	v := h.ext[name]
	if v == "" {
		return 0, false
	}
	return h.parseInt(name, v, bits), true
}

// optBool returns an optional boolean; ok is false when absent or empty.
func (h *header) optBool(name string) (v, ok bool) {
	s := h.ext[name]
	if s == "" {
		return false, false
	}
	return strings.EqualFold(strings.TrimSpace(s), "true"), true
}

// form is the brokerAddrs form for the request (FormFor).
func (h *header) form(req *remoting.Command) JSONForm {
	std, _ := h.optBool("acceptStandardJsonOnly")
	return FormFor(req.Version, std)
}

// ---- brokers ----

// registerBroker handles REGISTER_BROKER (103).
func (ns *NameServer) registerBroker(conn remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("REGISTER_BROKER", req)
	reg := Registration{
		BrokerName:   h.str("brokerName"),
		BrokerAddr:   h.str("brokerAddr"),
		ClusterName:  h.str("clusterName"),
		HAServerAddr: h.present("haServerAddr"),
		BrokerID:     h.integer("brokerId"),
		ZoneName:     h.opt("__ZONE_NAME"),
		Conn:         conn,
	}
	if ms, ok := h.optInt("heartbeatTimeoutMillis", 64); ok && ms > 0 {
		reg.HeartbeatTimeout = time.Duration(ms) * time.Millisecond
	}
	if v, ok := h.optBool("enableActingMaster"); ok {
		reg.EnableActingMaster = &v
	}
	compressed, _ := h.optBool("compressed")
	crc, _ := h.optInt("bodyCrc32", 32)
	if h.err != nil {
		return fail(req, h.err)
	}
	if crc != 0 && int64(crc32.ChecksumIEEE(req.Body)&0x7FFFFFFF) != crc {
		return respond(req, codeSystemError, "crc32 not match")
	}
	body, err := decodeRegisterBody(req.Body, compressed)
	if err != nil {
		return fail(req, systemError("REGISTER_BROKER from %s: %v", reg.BrokerAddr, err))
	}
	reg.DataVersion = body.dataVersion
	reg.Topics = body.topics
	reg.FilterServers = body.filterServers

	result, err := ns.routes.RegisterBroker(reg, ns.now())
	if err != nil {
		return fail(req, systemError("%v", err))
	}
	ns.log.Debug("namesrv: broker registered", "cluster", reg.ClusterName, "broker", reg.BrokerName,
		"id", reg.BrokerID, "addr", reg.BrokerAddr, "topics", len(reg.Topics))

	resp := success(req)
	if result.MasterAddr != "" || result.HAServerAddr != "" {
		resp.ExtFields = map[string]string{}
		if result.MasterAddr != "" {
			resp.ExtFields["masterAddr"] = result.MasterAddr
		}
		if result.HAServerAddr != "" {
			resp.ExtFields["haServerAddr"] = result.HAServerAddr
		}
	}
	// returnOrderTopicConfigToBroker (default true).
	if table, ok := ns.kv.list(namespaceOrderTopicConfig); ok {
		resp.Body = appendKVTable(nil, table)
	}
	return resp
}

// unregisterBroker handles UNREGISTER_BROKER (104).
func (ns *NameServer) unregisterBroker(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("UNREGISTER_BROKER", req)
	name, addr, cluster := h.str("brokerName"), h.str("brokerAddr"), h.str("clusterName")
	id := h.integer("brokerId")
	if h.err != nil {
		return fail(req, h.err)
	}
	ns.routes.UnregisterBroker(cluster, addr, name, id)
	ns.log.Info("namesrv: broker unregistered", "cluster", cluster, "broker", name, "id", id, "addr", addr)
	return success(req)
}

// brokerHeartbeat handles BROKER_HEARTBEAT (904): a liveness refresh.
func (ns *NameServer) brokerHeartbeat(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("BROKER_HEARTBEAT", req)
	h.str("clusterName")
	addr := h.str("brokerAddr")
	h.str("brokerName")
	if h.err != nil {
		return fail(req, h.err)
	}
	ns.routes.Heartbeat(addr, ns.now())
	return success(req)
}

// queryDataVersion handles QUERY_DATA_VERSION (322), which brokers with
// forceRegister=false send before registering.
func (ns *NameServer) queryDataVersion(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("QUERY_DATA_VERSION", req)
	h.str("brokerName")
	addr := h.str("brokerAddr")
	h.str("clusterName")
	h.integer("brokerId")
	if h.err != nil {
		return fail(req, h.err)
	}
	dv, err := decodeDataVersion(req.Body)
	if err != nil {
		return fail(req, systemError("QUERY_DATA_VERSION: cannot decode DataVersion: %v", err))
	}
	changed, cur := ns.routes.QueryDataVersion(addr, dv, ns.now())
	resp := success(req)
	resp.ExtFields = map[string]string{"changed": strconv.FormatBool(changed)}
	if cur != nil {
		resp.Body = appendDataVersion(nil, *cur)
	}
	return resp
}

// getBrokerMemberGroup handles GET_BROKER_MEMBER_GROUP (901).
func (ns *NameServer) getBrokerMemberGroup(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_BROKER_MEMBER_GROUP", req)
	cluster, name := h.str("clusterName"), h.str("brokerName")
	if h.err != nil {
		return fail(req, h.err)
	}
	bd, _ := ns.routes.BrokerMember(name)
	resp := success(req)
	resp.Body = appendBrokerMemberGroup(nil, cluster, name, bd.BrokerAddrs, h.form(req))
	return resp
}

// ---- routes and topics ----

// getRouteInfoByTopic handles GET_ROUTEINFO_BY_TOPIC (105). The request's
// version and acceptStandardJsonOnly choose the brokerAddrs form (see
// routejson.go).
func (ns *NameServer) getRouteInfoByTopic(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_ROUTEINFO_BY_TOPIC", req)
	topic := h.str("topic")
	form := h.form(req)
	if h.err != nil {
		return fail(req, h.err)
	}
	rd, ok := ns.routes.Route(topic)
	if !ok {
		return respond(req, codeTopicNotExist, "No topic route info in name server for the topic: "+topic)
	}
	resp := success(req)
	resp.Body = AppendTopicRouteData(nil, rd, form)
	return resp
}

// getBrokerClusterInfo handles GET_BROKER_CLUSTER_INFO (106).
func (ns *NameServer) getBrokerClusterInfo(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := success(req)
	resp.Body = AppendClusterInfo(nil, ns.routes.ClusterInfo(), newHeader("GET_BROKER_CLUSTER_INFO", req).form(req))
	return resp
}

// getAllTopicList handles GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206).
func (ns *NameServer) getAllTopicList(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := success(req)
	resp.Body = AppendTopicList(nil, ns.routes.AllTopics(), "")
	return resp
}

// getTopicsByCluster handles GET_TOPICS_BY_CLUSTER (224).
func (ns *NameServer) getTopicsByCluster(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_TOPICS_BY_CLUSTER", req)
	cluster := h.str("cluster")
	if h.err != nil {
		return fail(req, h.err)
	}
	resp := success(req)
	resp.Body = AppendTopicList(nil, ns.routes.TopicsByCluster(cluster), "")
	return resp
}

// getSystemTopicList handles GET_SYSTEM_TOPIC_LIST_FROM_NS (304): the
// cluster and broker names, which brokers create as topics, plus one
// broker address.
func (ns *NameServer) getSystemTopicList(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	names, addr := ns.routes.ClusterAndBrokerNames()
	resp := success(req)
	resp.Body = AppendTopicList(nil, names, addr)
	return resp
}

// deleteTopic handles DELETE_TOPIC_IN_NAMESRV (216).
func (ns *NameServer) deleteTopic(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("DELETE_TOPIC_IN_NAMESRV", req)
	topic := h.str("topic")
	cluster := h.opt("clusterName")
	if h.err != nil {
		return fail(req, h.err)
	}
	if ns.routes.DeleteTopic(topic, cluster) {
		ns.log.Info("namesrv: topic deleted", "topic", topic, "cluster", cluster)
	}
	return success(req)
}

// wipeWritePerm handles WIPE_WRITE_PERM_OF_BROKER (205).
func (ns *NameServer) wipeWritePerm(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	return ns.setWritePerm(req, "WIPE_WRITE_PERM_OF_BROKER", false, "wipeTopicCount")
}

// addWritePerm handles ADD_WRITE_PERM_OF_BROKER (327).
func (ns *NameServer) addWritePerm(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	return ns.setWritePerm(req, "ADD_WRITE_PERM_OF_BROKER", true, "addTopicCount")
}

func (ns *NameServer) setWritePerm(req *remoting.Command, op string, writable bool, countField string) *remoting.Command {
	h := newHeader(op, req)
	name := h.str("brokerName")
	if h.err != nil {
		return fail(req, h.err)
	}
	n := ns.routes.SetWritePerm(name, writable)
	ns.log.Info("namesrv: write permission changed", "broker", name, "writable", writable, "topics", n)
	resp := success(req)
	resp.ExtFields = map[string]string{countField: strconv.Itoa(n)}
	return resp
}

// ---- KV config ----

// putKVConfig handles PUT_KV_CONFIG (100).
func (ns *NameServer) putKVConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("PUT_KV_CONFIG", req)
	namespace, key := h.str("namespace"), h.str("key")
	value := h.present("value")
	if h.err != nil {
		return fail(req, h.err)
	}
	ns.kv.put(namespace, key, value)
	return success(req)
}

// getKVConfig handles GET_KV_CONFIG (101); an unknown key answers
// QUERY_NOT_FOUND, as clients expect.
func (ns *NameServer) getKVConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_KV_CONFIG", req)
	namespace, key := h.str("namespace"), h.str("key")
	if h.err != nil {
		return fail(req, h.err)
	}
	v, ok := ns.kv.get(namespace, key)
	if !ok {
		return respond(req, codeQueryNotFound, "No config item, Namespace: "+namespace+" Key: "+key)
	}
	resp := success(req)
	resp.ExtFields = map[string]string{"value": v}
	return resp
}

// deleteKVConfig handles DELETE_KV_CONFIG (102).
func (ns *NameServer) deleteKVConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("DELETE_KV_CONFIG", req)
	namespace, key := h.str("namespace"), h.str("key")
	if h.err != nil {
		return fail(req, h.err)
	}
	ns.kv.delete(namespace, key)
	return success(req)
}

// getKVListByNamespace handles GET_KVLIST_BY_NAMESPACE (219).
func (ns *NameServer) getKVListByNamespace(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_KVLIST_BY_NAMESPACE", req)
	namespace := h.str("namespace")
	if h.err != nil {
		return fail(req, h.err)
	}
	table, ok := ns.kv.list(namespace)
	if !ok {
		return respond(req, codeQueryNotFound, "No config item, Namespace: "+namespace)
	}
	resp := success(req)
	resp.Body = appendKVTable(nil, table)
	return resp
}
