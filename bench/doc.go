// Package bench is the load generator behind `gannet bench`: workloads as
// a Config plus Run, latency in HdrHistogram, and reports as JSON,
// Markdown and a self-contained HTML page. It owns no flags and no
// process-wide state; cmd/gannet parses the flags, installs the Ctrl-C
// handler and writes the files, and nothing else imports this package.
//
// A run:
//
//	cfg := bench.Config{Mode: bench.ModeE2E, Standalone: true, Messages: 20000, Size: 1024}
//	rep, err := bench.Run(ctx, cfg) // ctx cancelled: the load stops, rep is still filled
//	rep.WriteJSON(w); rep.WriteFiles(dir)
//
// Modes: produce (send as fast as the window allows, or on a fixed
// schedule under Rate), consume (drain the group's backlog), e2e (both at
// once; latency from the born time to receipt) and ceiling (this machine's
// sequential write MB/s, 4 KiB append+fdatasync per second and loopback
// round trips per second, measured now: the baselines reports divide by).
// Only the RocketMQ protocol exists so far; MQTT waits for its front end.
//
// The standard suite (bench/suite.sh, run by `make bench`) starts one
// broker process per case and leaves a directory of reports; LoadSuite and
// WriteSuiteSummary (suite.go, `gannet bench suite-report DIR`) turn it
// into summary.md.
//
// The RocketMQ driver (rocketmq.go) is built on the remoting client:
//
//	route  GET_ROUTEINFO_BY_TOPIC (105) at the name server; when the topic
//	       is missing, UPDATE_AND_CREATE_TOPIC (17) on every master from
//	       GET_BROKER_CLUSTER_INFO (106), then the route again
//	send   SEND_MESSAGE_V2 (310) via InvokeAsync, each producer holding at
//	       most Inflight sends; a send slot (command, extFields, body) is
//	       reused once the client has encoded it
//	pull   PULL_MESSAGE (11) per queue, long polling, its own subscription,
//	       commitOffset piggy-backed; UPDATE_CONSUMER_OFFSET (15) at the end
//
// Every message body starts with a 16-byte header (bench.go: "GNB1", the
// run id, the intended send time in ns) so that a consumer can measure end
// to end in ns and ignore older runs' messages.
//
// Threads: each producer runs a sendLoop (pace.go) on its goroutine; its
// responses complete on the connection's reading goroutine and return the
// slot. Each queue has a pull goroutine. Counters are per worker; a meter
// goroutine drains the workers' histograms once a second into the run's
// totals, appends the time series and prints progress. Every loop ends at
// Duration, Messages, ctx or the Deadline, whichever comes first.
package bench
