package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gannetmq/gannet/controller"
	"github.com/gannetmq/gannet/protocols/remoting"
)

const adminUsage = `usage: gannet admin <command> --controller ADDR[,ADDR...] [flags]

commands:
  groups  each broker group: master, master epoch, SyncStateSet, brokers (alive, offsets)
  elect   hand mastership over: --broker-name NAME --broker-id N (-1: the controller picks)
`

// runAdmin: gannet admin groups|elect --controller ADDR[,ADDR] ...
func runAdmin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := fs.String("controller", "", "controller RPC addresses, comma separated (any of them: the leader is found)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	var name *string
	var id *int64
	switch sub {
	case "groups":
	case "elect":
		name = fs.String("broker-name", "", "the broker group")
		id = fs.Int64("broker-id", -1, "the new master; it must be alive and in the SyncStateSet (-1: the controller picks)")
	default:
		fmt.Fprintf(stderr, "gannet admin: unknown command %q\n%s", sub, adminUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *addrs == "" {
		fmt.Fprintln(stderr, "gannet admin: --controller is required")
		return 2
	}
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	cl := controller.NewClient(strings.Split(*addrs, ","), rc)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	switch sub {
	case "groups":
		groups, err := cl.Groups(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "gannet admin groups:", err)
			return 1
		}
		if len(groups) == 0 {
			fmt.Fprintln(stdout, "no broker group registered")
		}
		for i, g := range groups {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			printGroup(stdout, g)
		}
	case "elect":
		if *name == "" {
			fmt.Fprintln(stderr, "gannet admin elect: --broker-name is required")
			return 2
		}
		before, err := cl.Group(ctx, *name)
		if err != nil {
			fmt.Fprintln(stderr, "gannet admin elect:", err)
			return 1
		}
		g, err := cl.ElectMaster(ctx, *name, *id)
		if err != nil {
			fmt.Fprintln(stderr, "gannet admin elect:", err)
			return 1
		}
		if g.MasterEpoch == before.MasterEpoch {
			fmt.Fprintf(stdout, "broker %d is already the master of %s\n", g.MasterID, g.BrokerName)
		} else {
			fmt.Fprintf(stdout, "master of %s: broker %d → broker %d, epoch %d\n", g.BrokerName, before.MasterID, g.MasterID, g.MasterEpoch)
		}
		printGroup(stdout, g)
	}
	return 0
}

func printGroup(w io.Writer, g controller.GroupState) {
	master := "none"
	if g.MasterID >= 0 {
		master = fmt.Sprintf("%d %s (HA %s)", g.MasterID, g.MasterAddr, g.MasterHAAddr)
	}
	fmt.Fprintf(w, "%s (cluster %s)  master %s  epoch %d  syncStateSet %v (epoch %d)\n",
		g.BrokerName, g.ClusterName, master, g.MasterEpoch, g.SyncStateSet, g.SyncStateSetEpoch)
	if g.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", g.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  id\trole\taddr\thaAddr\talive\tmaxOffset\tepoch")
	for _, b := range g.Brokers {
		role := "slave"
		switch {
		case b.ID == g.MasterID:
			role = "master"
		case !slices.Contains(g.SyncStateSet, b.ID):
			role = "slave (out of sync)"
		}
		alive := "no"
		if b.Alive {
			alive = "yes"
		}
		off := fmt.Sprint(b.MaxOffset)
		if b.MaxOffset < 0 {
			off = "-"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%d\n", b.ID, role, b.Addr, b.HAAddr, alive, off, b.Epoch)
	}
	tw.Flush()
}
