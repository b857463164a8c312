// Package namesrv is Gannet's RocketMQ name server: the route table that
// brokers register into and clients read routes from, broker liveness, and
// the route JSON the Java client, the Go client (rocketmq-client-go v2) and
// ali-ons all parse. It has no store: the table lives in memory and is
// rebuilt from broker registrations (every 30 s from each broker) after a
// restart. It imports protocols/remoting only.
//
// Usage (the lead wires it into the remoting server):
//
//	ns := namesrv.New(namesrv.Options{Logger: log})
//	router := remoting.NewRouter()
//	for code, p := range ns.Processors() {
//		router.Register(code, p) // 103 REGISTER_BROKER, 105 GET_ROUTEINFO_BY_TOPIC, …
//	}
//	srv := remoting.NewServer(remoting.ServerOptions{Addr: ":9876", Router: router,
//		OnDisconnect: ns.OnDisconnect}) // a broker's closed connection unregisters it
//	go ns.Run(stop) // every 10 s: forget brokers silent for more than 120 s
//
// # Route data
//
// The RouteTable keeps, under one RWMutex:
//
//	brokers   brokerName  → BrokerData{cluster, brokerName, brokerAddrs{id → "ip:port"}}
//	clusters  clusterName → {brokerName}
//	topics    topic       → brokerName → QueueData{readQueueNums, writeQueueNums, perm, topicSysFlag}
//	live      brokerAddr  → {lastUpdate, timeout, dataVersion, haServerAddr, conn}
//
// A topic's queue data come from the registrations of master brokers (id
// 0): each master sends its whole topic config table. A route is the queue
// data of the topic plus, for every broker name in them, all its live
// addresses (master and slaves), and is the body of GET_ROUTEINFO_BY_TOPIC:
//
//	{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},
//	                 "brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],
//	 "filterServerTable":{},
//	 "queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}
//
// shown wrapped: the wire form is compact, because the Go client cuts the
// raw brokerAddrs text apart and breaks on whitespace. The ids are quoted as
// above for clients of version >= 401 or sending acceptStandardJsonOnly=true,
// and bare ({0:"…"}, fastjson's legacy form) for older ones, as the Java
// name server does: the Go client (version 317) up to v2.1.0 misreads
// quoted ids, ali-ons (version 121) parses both; routejson.go has the
// details. Clients publish to queues 0..writeQueueNums-1 of broker names
// with PermWrite and a master address, and consume queues
// 0..readQueueNums-1 of those with PermRead.
//
// # Liveness
//
// A broker address disappears when it sends UNREGISTER_BROKER, when its
// connection closes (OnDisconnect), or when it has not registered for its
// heartbeatTimeoutMillis (default 120 s; Run checks every 10 s). When the
// last address of a broker name goes, the name leaves its cluster and its
// queue data leave every topic; topics left without queue data are gone.
//
// Bodies from Java brokers are fastjson output, which writes the keys of
// non-String maps without quotes ({0:"…"}); decoding quotes such keys
// first (quoteBareKeys). The compressed REGISTER_BROKER body
// (compressed=true) is decoded too.
package namesrv
