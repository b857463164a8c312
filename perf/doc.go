// Package perf is Gannet's profiling and metrics layer: the --profile,
// --profile-dir and --http-addr flags of the server commands, a profile
// written on clean shutdown (github.com/pkg/profile), one HTTP listener
// serving /debug/pprof/ and /metrics on a private mux, and Prometheus
// collectors that read the Metrics structs of the engine and the remoting
// server and the broker's counters at scrape time. Only cmd/ imports it;
// nothing here polls, and no other package depends on Prometheus.
//
// A server command uses it like this:
//
//	var pc perf.Config
//	pc.AddFlags(fs, "127.0.0.1:8080")
//	fs.Parse(args)
//	if err := pc.Validate(); err != nil { ... exit 2 }
//	p, err := perf.Start(pc, logger) // binds the listener, starts the profile
//	if err != nil { ... exit 1 }
//	defer p.Close()
//	bs, err := server.StartBroker(...)
//	p.Register(perf.NewEngineCollector(bs.Store().Metrics),
//		perf.NewBrokerCollector(bs.Broker().Metrics, bs.Broker().ConsumerLag),
//		perf.NewRemotingCollector("broker", bs.RemotingMetrics))
//	waitForSignal()
//	p.Close() // profile written, listener closed, before the servers stop
//	bs.Close()
//
// A scrape calls each collector's Collect, which takes one snapshot
// (engine.Store.Metrics reads atomics only; broker.Broker.Metrics reads
// atomics under the topic table's read lock) and turns it into constant
// metrics, so the values of one scrape are consistent with each other and
// cost nothing between scrapes.
//
// The profile files are pkg/profile's names inside --profile-dir:
//
//	cpu        cpu.pprof        (go tool pprof -top bin/gannet DIR/cpu.pprof)
//	mem        mem.pprof        in-use heap, sampled every 4 KiB
//	alloc      mem.pprof        allocations, sampled every 4 KiB
//	mutex      mutex.pprof      every contention event
//	block      block.pprof      every blocking event
//	trace      trace.out        (go tool trace DIR/trace.out)
//	goroutine  goroutine.pprof  the goroutines alive at shutdown
//
// perf/profile.sh runs a standalone server under --profile cpu with
// `gannet bench` as load and writes the pprof top list and call graph.
package perf
