// Package broker answers the RocketMQ broker request codes over the
// storage engine: sends, pulls with long polling, consumer offsets, client
// heartbeats and group membership, retries and dead letters, lookups by id
// and key, the admin basics, and registration with the name servers. It
// imports engine, protocols/remoting and broker/schedule (delayed delivery,
// which the Broker runs); the broker.properties model (broker/config) lives
// beside it and the lead maps it onto Options.
//
// Usage (the lead wires it into the remoting server):
//
//	var hook broker.DispatchHook
//	engOpts.OnDispatch = hook.OnDispatch // wakes long-polling pulls
//	store, _ := engine.Open(engOpts)
//	b, _ := broker.New(broker.Options{..., Hook: &hook}, store)
//	for code, p := range b.Processors() {
//		router.Register(code, p) // 10/310/320 send, 11 pull, 14/15 offsets, 34 heartbeat, …
//	}
//	server.OnClose(b.OnDisconnect)     // forget the connection's clients and held pulls
//	go b.Run(stop)                     // held pulls, client expiry, delayed delivery
//	                                   // (wait for Run to return before store.Close)
//	go b.RegisterLoop(stop, nsClient)  // REGISTER_BROKER every 30 s, UNREGISTER_BROKER on stop
//
// One file per family of codes, dispatched from a table filled once by
// New: send.go (10, 310, 320), pull.go and longpoll.go (11), offsets.go
// (14, 15, 29, 30, 31, 32), clients.go (34, 35, 38, 46, and 40 sent to
// clients), sendback.go (36), query.go (12, 33), locks.go (41, 42),
// admin.go (17, 21, 28, 43, 45, 201, 202, 208, 215), register.go (103, 104
// sent to name servers). metrics.go counts traffic per topic, send and pull
// latencies and send results for Broker.Metrics, and computes
// Broker.ConsumerLag; perf exports both, the broker knows nothing of
// Prometheus.
//
// # Never waiting for the disk
//
// A send is validated and encoded into an engine.Request on the
// connection's goroutine and submitted; the engine completes it on its own
// goroutine, where Done builds the response and writes it with conn.Send.
// A pull reads views into the mapped CommitLog; the response carries them
// as BodyParts and its Release unpins the segments once the server has
// written them. A pull that finds nothing is parked (longpoll.go) and
// answered from the holder's goroutine when the engine's dispatcher
// reports new messages (OnDispatch) or its suspend time is over.
//
// # Lifetimes
//
// Request bodies are copied once by a send unless
// Options.RequestBodyRetained says the server hands out bodies that
// outlive the processor call; header strings are kept as they are. The
// views of a pull, VIEW_MESSAGE_BY_ID or QUERY_MESSAGE response are valid
// until its Release, which the server calls exactly once.
//
// # Locks
//
// topicMu (topic creation), clients.mu (groups and members),
// pullHolder.mu (parked pulls) and lockTable.mu (orderly-consumption queue
// locks) are never held together; requests to clients and responses are
// sent after they are released. Store calls made under them do not call
// back into the broker except OnDispatch, which only signals a channel.
package broker
