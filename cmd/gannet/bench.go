package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gannetmq/gannet/bench"
)

const benchUsage = `usage: gannet bench [flags]
       gannet bench compare A.json B.json
       gannet bench suite-report DIR   (DIR/summary.md of a bench/suite.sh run)

Modes (--mode): produce, consume, e2e, ceiling. Against a running name
server (-n host:port) or an in-process broker (--standalone). Progress goes
to stderr once a second; the summary to stdout; Ctrl-C ends the run and
still writes the report.

--proto mqtt: MQTT 3.1.1 publishers (--producers) on --topic at --qos,
against --mqtt-addr; modes produce and e2e (one subscriber of the topic,
latency from the send time in the payload, lost and duplicated messages
counted by publisher and sequence).

Examples:
  gannet bench --standalone --mode e2e --messages 20000 --size 1024
  gannet bench -n 127.0.0.1:9876 --mode produce --duration 30s --rate 50000 --out results/
  gannet bench --mode ceiling --json ceiling.json
  gannet bench --proto mqtt --mqtt-addr 127.0.0.1:1883 --mode e2e --qos 1 --topic bench/t1 --size 128 --duration 10s

Flags:
`

// benchSets collects repeated --set key=value flags.
type benchSets []string

func (s *benchSets) String() string     { return strings.Join(*s, ",") }
func (s *benchSets) Set(v string) error { *s = append(*s, v); return nil }

// runBench: gannet bench [flags] | gannet bench compare A.json B.json
func runBench(args []string) int {
	if len(args) > 0 && args[0] == "compare" {
		return runBenchCompare(args[1:])
	}
	if len(args) > 0 && args[0] == "suite-report" {
		return runBenchSuiteReport(args[1:])
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	var cfg bench.Config
	mode := fs.String("mode", string(bench.ModeProduce), "produce, consume, e2e or ceiling")
	proto := fs.String("proto", string(bench.ProtoRocketMQ), "rocketmq or mqtt")
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", "", "mqtt: broker address host:port (default "+bench.DefaultMQTTAddr+" unless --standalone)")
	fs.IntVar(&cfg.QoS, "qos", 0, "mqtt: QoS of the publishes and of the subscription, 0, 1 or 2")
	mqttPersist := fs.Bool("mqtt-persist", true, "mqtt --standalone: false starts bare in-memory MQTT with no storage (the baseline)")
	fs.StringVar(&cfg.NameServer, "n", "", "name server address host:port (several joined by ';')")
	fs.StringVar(&cfg.Topic, "topic", bench.DefaultTopic, "topic; created with --queues when missing")
	fs.IntVar(&cfg.Queues, "queues", bench.DefaultQueues, "queues of the topic when the bench creates it")
	fs.IntVar(&cfg.Size, "size", bench.DefaultSize, "message body in bytes")
	fs.IntVar(&cfg.Producers, "producers", bench.DefaultProducers, "producer connections")
	fs.IntVar(&cfg.Consumers, "consumers", bench.DefaultConsumers, "consumer connections")
	fs.IntVar(&cfg.Inflight, "inflight", bench.DefaultInflight, "sends outstanding per producer")
	fs.DurationVar(&cfg.Duration, "duration", 0, "length of the load (default 10s unless --messages)")
	fs.Int64Var(&cfg.Messages, "messages", 0, "messages to send (produce, e2e) or receive (consume)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: messages per second over all producers, latency from the schedule (0: closed loop)")
	fs.StringVar(&cfg.Group, "group", bench.DefaultGroup, "consumer group")
	fs.BoolVar(&cfg.Standalone, "standalone", false, "start a name server and a broker in this process on random loopback ports, data in a temporary directory")
	fs.StringVar(&cfg.Flush, "flush", "", "standalone broker flush mode: async (default) or sync")
	var sets benchSets
	fs.Var(&sets, "set", "standalone broker.properties override key=value (repeatable)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the standalone data and the ceiling's temporary files (default: system temp)")
	fs.BoolVar(&cfg.Ceiling, "ceiling", false, "measure this machine's ceilings before the load too, and report the ratios")
	fs.DurationVar(&cfg.SendTimeout, "send-timeout", bench.DefaultSendTimeout, "timeout of one send")
	fs.DurationVar(&cfg.Deadline, "timeout", 0, "hard limit of the whole run (default: --duration + 1m, or 10m)")
	jsonFile := fs.String("json", "", "write the JSON report to this file (- for stdout)")
	outDir := fs.String("out", "", "write report.json, report.md and report.html into this directory")
	quiet := fs.Bool("quiet", false, "no progress lines")
	level := fs.String("log-level", "warn", "log level of the standalone broker and the bench: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gannet bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Mode, cfg.Proto, cfg.Sets = bench.Mode(*mode), bench.Proto(*proto), sets
	cfg.MQTTInMemory = !*mqttPersist
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "gannet bench: --log-level %q: want debug, info, warn or error\n", *level)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench:", strings.ReplaceAll(err.Error(), "\n", "\ngannet bench: "))
		return 2
	}

	// The first SIGINT or SIGTERM ends the load and the report is still
	// written; a second one kills the process the default way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	start := time.Now()
	run := bench.Run
	if cfg.Proto == bench.ProtoMQTT {
		run = bench.RunMQTT
	}
	rep, err := run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(os.Stderr, "gannet bench:", err)
		return 1
	}
	code := 0
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench:", err)
		code = 1
	}
	if rep.Interrupted {
		fmt.Fprintf(os.Stderr, "gannet bench: interrupted after %v; writing the report\n", time.Since(start).Round(time.Millisecond))
	}
	if err := rep.WriteSummary(summaryWriter(os.Stdout, *jsonFile == "-")); err != nil {
		code = 1
	}
	if *jsonFile != "" {
		if err := writeJSONReport(rep, *jsonFile); err != nil {
			fmt.Fprintln(os.Stderr, "gannet bench:", err)
			code = 1
		}
	}
	if *outDir != "" {
		if err := rep.WriteFiles(*outDir); err != nil {
			fmt.Fprintln(os.Stderr, "gannet bench:", err)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "gannet bench: wrote %s/report.{json,md,html}\n", *outDir)
		}
	}
	return code
}

// summaryWriter is where the Markdown summary goes: stdout, or stderr when
// stdout carries the JSON.
func summaryWriter(stdout io.Writer, jsonOnStdout bool) io.Writer {
	if jsonOnStdout {
		return os.Stderr
	}
	return stdout
}

func writeJSONReport(rep *bench.Report, path string) error {
	if path == "-" {
		return rep.WriteJSON(os.Stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return f.Close()
}

// runBenchCompare: gannet bench compare A.json B.json
func runBenchCompare(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gannet bench compare A.json B.json")
		return 2
	}
	a, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench compare:", err)
		return 1
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench compare:", err)
		return 1
	}
	figs, err := bench.Compare(a, b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench compare:", err)
		return 1
	}
	if err := bench.WriteComparison(os.Stdout, figs, args[0], args[1]); err != nil {
		return 1
	}
	return 0
}

// runBenchSuiteReport: gannet bench suite-report DIR
func runBenchSuiteReport(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: gannet bench suite-report DIR")
		return 2
	}
	if err := bench.WriteSuiteSummary(args[0], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gannet bench suite-report:", err)
		return 1
	}
	return 0
}
