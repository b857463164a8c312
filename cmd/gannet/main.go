// Command gannet is Gannet's one binary; each mode is a subcommand.
package main

import (
	"fmt"
	"os"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: gannet <command> [flags]

commands:
  standalone  name server and broker in one process (what make run starts)
  namesrv     the name server
  broker      a broker: -n NAMESRV -c broker.properties [-p] [--set key=value]
  cluster     name server and brokers as child processes: --mode single|2m|2m-2s-async|2m-2s-sync --dir DIR
  mqtt-passwd print an MQTT auth file line for a user: gannet mqtt-passwd NAME (password from the terminal or stdin)
  selfcheck   open the storage engine, append, flush, read back and restart
  bench       load generator: --mode produce|consume|e2e|ceiling, -n NAMESRV or --standalone
  controller  master election for controller-mode brokers, on raft: --id ID --raft-addr ADDR --rpc-addr ADDR --peers id=RAFT/RPC,... --dir DIR [--elect-unclean]
  admin       controller admin: groups | elect --broker-name NAME --broker-id N, with --controller ADDR[,ADDR]
  version     print the version

server commands (standalone, namesrv, broker) also take
  --http-addr ADDR   /metrics and /debug/pprof/ (default 127.0.0.1:8080, namesrv 8081; off to disable)
  --profile KIND     cpu, mem, alloc, mutex, block, trace or goroutine, written on clean shutdown
  --profile-dir DIR  where profiles go (default .)
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version":
		fmt.Println("gannet (development)")
	case "standalone":
		os.Exit(runStandalone(os.Args[2:]))
	case "namesrv":
		os.Exit(runNamesrv(os.Args[2:]))
	case "broker":
		os.Exit(runBroker(os.Args[2:]))
	case "cluster":
		os.Exit(runCluster(os.Args[2:]))
	case "mqtt-passwd":
		os.Exit(runMQTTPasswd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "selfcheck":
		os.Exit(runSelfCheck(os.Args[2:]))
	case "bench":
		os.Exit(runBench(os.Args[2:]))
	case "controller":
		os.Exit(runController(os.Args[2:]))
	case "admin":
		os.Exit(runAdmin(os.Args[2:], os.Stdout, os.Stderr))
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gannet: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}
