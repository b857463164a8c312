// Command gannet is Gannet's one binary; each mode is a subcommand.
package main

import (
	"fmt"
	"os"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: gannet <command> [flags]

commands:
  selfcheck   open the storage engine, append, flush, read back and restart
  version     print the version
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
	case "selfcheck":
		os.Exit(runSelfCheck(os.Args[2:]))
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gannet: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}
