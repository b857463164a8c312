package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gannetmq/gannet/engine/atomicfile"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/config"
)

// gannet cluster starts a name server and the brokers of one of the
// deployments of docs/deploy.md on this machine, each as a child process of
// this binary (gannet namesrv, gannet broker -c), and stops them on SIGINT
// or SIGTERM:
//
//	write DIR/conf/<broker>.properties
//	start namesrv; wait for its port
//	start the masters, then the slaves; wait for their ports and routes
//	write DIR/cluster.json; wait for a signal
//	SIGTERM the brokers, then the name server; SIGKILL what outlives stopLimit
//
// Port layout from --base-port N (default 9876, RocketMQ's ports):
//
//	name server   N          9876
//	broker-a      N+1035     10911 (HA N+1036, 10912)
//	broker-a-s    N+1045     10921
//	broker-b      N+1055     10931 (HA N+1056, 10932)
//	broker-b-s    N+1065     10941
//
// Every broker's haListenPort is its listenPort+1; only masters listen on it.

// clusterModes lists the deployments, in usage order.
var clusterModes = []string{"single", "2m", "2m-2s-async", "2m-2s-sync"}

// Offsets of the ports from --base-port.
const (
	offsetBrokerA  = 1035
	offsetBrokerAS = 1045
	offsetBrokerB  = 1055
	offsetBrokerBS = 1065
	// highestOffset is the largest port offset in use (broker-b-s's
	// unused haListenPort).
	highestOffset = offsetBrokerBS + 1
)

// brokerSpec is one broker of a deployment.
type brokerSpec struct {
	Name   string      // process and file name: broker-a, broker-a-s
	Group  string      // brokerName, shared by a master and its slaves
	ID     int64       // brokerId: 0 master, 1 slave
	Role   config.Role // brokerRole
	Offset int         // listenPort - base port
}

// masterOffset is the listenPort offset of each group's master.
var masterOffset = map[string]int{"broker-a": offsetBrokerA, "broker-b": offsetBrokerB}

// clusterLayout returns the brokers of mode, masters first.
func clusterLayout(mode string) ([]brokerSpec, error) {
	master := func(name string, role config.Role, off int) brokerSpec {
		return brokerSpec{Name: name, Group: name, Role: role, Offset: off}
	}
	slave := func(group string, off int) brokerSpec {
		return brokerSpec{Name: group + "-s", Group: group, ID: 1, Role: config.Slave, Offset: off}
	}
	switch mode {
	case "single":
		return []brokerSpec{master("broker-a", config.AsyncMaster, offsetBrokerA)}, nil
	case "2m":
		return []brokerSpec{
			master("broker-a", config.AsyncMaster, offsetBrokerA),
			master("broker-b", config.AsyncMaster, offsetBrokerB),
		}, nil
	case "2m-2s-async", "2m-2s-sync":
		role := config.AsyncMaster
		if mode == "2m-2s-sync" {
			role = config.SyncMaster
		}
		return []brokerSpec{
			master("broker-a", role, offsetBrokerA),
			master("broker-b", role, offsetBrokerB),
			slave("broker-a", offsetBrokerAS),
			slave("broker-b", offsetBrokerBS),
		}, nil
	}
	return nil, fmt.Errorf("--mode %q: want one of %s", mode, strings.Join(clusterModes, ", "))
}

// clusterParams fill the broker.properties of a deployment.
type clusterParams struct {
	Mode     string
	BasePort int
	Host     string // brokerIP1, brokerIP2 and the name server's host
	Root     string // a broker's store is Root/<broker>/store
	Flush    config.FlushDiskType
}

func (p clusterParams) namesrvAddr() string {
	return net.JoinHostPort(p.Host, strconv.Itoa(p.BasePort))
}

func (p clusterParams) listenPort(b brokerSpec) int { return p.BasePort + b.Offset }

func (p clusterParams) storeDir(b brokerSpec) string {
	return filepath.Join(p.Root, b.Name, "store")
}

// roleNotes explain brokerRole in the files.
var roleNotes = map[config.Role]string{
	config.AsyncMaster: "# ASYNC_MASTER answers SEND_OK once the message is stored here; a slave copies it\n" +
		"# afterwards, so what the slave had not received is lost with this disk.\n",
	config.SyncMaster: "# SYNC_MASTER answers SEND_OK once a slave has the message too. It answers\n" +
		"# FLUSH_SLAVE_TIMEOUT when no slave confirms within syncFlushTimeout, and\n" +
		"# SLAVE_NOT_AVAILABLE at once when no slave is in sync (both: stored here only).\n",
	config.Slave: "# SLAVE copies its master's CommitLog and metadata and serves reads; it\n" +
		"# refuses sends. It finds its master's HA address through the name server,\n" +
		"# or at haMasterAddress when that is set.\n",
}

// brokerProperties writes the broker.properties of b: the files under
// docs/deploy/ are this function's output for the default base port and
// Root /var/lib/gannet (deploy_test.go keeps them equal).
func brokerProperties(p clusterParams, b brokerSpec) string {
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	port := p.listenPort(b)
	kind := "master"
	if b.Role == config.Slave {
		kind = "slave"
	}
	w("# %s: the %s of broker group %s (%s deployment, docs/deploy.md).\n", b.Name, kind, b.Group, p.Mode)
	w("# Start the name server first, then: gannet broker -c %s.properties\n", b.Name)
	w("# The ports let every broker of the deployment share one machine; across\n")
	w("# machines, set namesrvAddr, brokerIP1 and brokerIP2 to the real addresses.\n")
	w("\n")
	w("brokerClusterName=DefaultCluster\n")
	w("# A master and its slaves share brokerName; brokerId 0 is the master, > 0 a slave.\n")
	w("brokerName=%s\n", b.Group)
	w("brokerId=%d\n", b.ID)
	s.WriteString(roleNotes[b.Role])
	w("brokerRole=%s\n", b.Role)
	w("# ASYNC_FLUSH acknowledges from the page cache; SYNC_FLUSH after fdatasync.\n")
	w("flushDiskType=%s\n", p.Flush)
	w("\n")
	w("namesrvAddr=%s\n", p.namesrvAddr())
	w("# brokerIP1:listenPort is the address clients use; brokerIP2:haListenPort the\n")
	w("# one slaves replicate from (a master only listens on it).\n")
	w("brokerIP1=%s\n", p.Host)
	w("brokerIP2=%s\n", p.Host)
	w("listenPort=%d\n", port)
	w("haListenPort=%d\n", port+1)
	if b.Role == config.Slave {
		w("# Optional: the master's brokerIP2:haListenPort, instead of the name server's.\n")
		w("#haMasterAddress=%s\n", net.JoinHostPort(p.Host, strconv.Itoa(p.BasePort+masterOffset[b.Group]+1)))
	}
	w("\n")
	w("storePathRootDir=%s\n", p.storeDir(b))
	w("storePathCommitLog=%s\n", filepath.Join(p.storeDir(b), "commitlog"))
	w("deleteWhen=04\n")
	w("fileReservedTime=48\n")
	w("\n")
	w("# Replication (the defaults). A slave more than haMaxGapNotInSync bytes behind\n")
	w("# is not in sync; a slave reports its offset every haSendHeartbeatInterval ms;\n")
	w("# a replication connection silent for haHousekeepingInterval ms is dropped; a\n")
	w("# master sends at most haTransferBatchSize bytes per frame. syncFlushTimeout (ms)\n")
	w("# also bounds how long a SYNC_MASTER waits for its slave.\n")
	w("haMaxGapNotInSync=268435456\n")
	w("haSendHeartbeatInterval=5000\n")
	w("haHousekeepingInterval=20000\n")
	w("haTransferBatchSize=32768\n")
	w("syncFlushTimeout=5000\n")
	w("# true: a master sends consumers that fall far behind to read from a slave.\n")
	w("slaveReadEnable=false\n")
	return s.String()
}

// clusterProc is one child process of gannet cluster.
type clusterProc struct {
	Name   string `json:"name"`
	Role   string `json:"role"`                  // NAMESRV, ASYNC_MASTER, SYNC_MASTER or SLAVE
	Group  string `json:"broker_name,omitempty"` // brokerName
	ID     int64  `json:"broker_id"`
	Pid    int    `json:"pid"`
	Addr   string `json:"addr"`              // clients connect here
	HAAddr string `json:"ha_addr,omitempty"` // masters: slaves connect here
	Conf   string `json:"conf,omitempty"`
	Log    string `json:"log"`
	Store  string `json:"store,omitempty"`

	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, once done is closed
	logF   *os.File
	stopMu sync.Mutex
	stop   bool // stopping on purpose: its exit is not news
}

// clusterFile is DIR/cluster.json.
type clusterFile struct {
	Mode      string         `json:"mode"`
	Dir       string         `json:"dir"`
	Pid       int            `json:"pid"` // gannet cluster itself: SIGTERM it to stop everything
	Namesrv   string         `json:"namesrv"`
	Processes []*clusterProc `json:"processes"`
}

const (
	clusterStartLimit = 60 * time.Second
	clusterStopLimit  = 15 * time.Second
)

// runCluster: gannet cluster --mode MODE --dir DIR [--base-port N] [--flush async|sync]
func runCluster(args []string) int {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	mode := fs.String("mode", "2m-2s-sync", "deployment: "+strings.Join(clusterModes, ", "))
	dir := fs.String("dir", "", "directory for conf/, logs/, each broker's store and cluster.json (required)")
	basePort := fs.Int("base-port", 9876, "the name server's port; the brokers' ports follow it (broker-a at +1035)")
	host := fs.String("host", "127.0.0.1", "IP address the name server listens on and the brokers advertise")
	flush := fs.String("flush", "async", "flushDiskType of every broker: async or sync")
	confOnly := fs.Bool("conf-only", false, "write DIR/conf/*.properties and exit")
	startLimit := fs.Duration("start-timeout", clusterStartLimit, "how long every process may take to listen and register")
	stopLimit := fs.Duration("stop-timeout", clusterStopLimit, "how long the processes may take to stop before SIGKILL")
	logLevel := fs.String("log-level", "info", "log level of every process")
	var sets overrides
	fs.Var(&sets, "set", "add key=value to every broker.properties (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: gannet cluster --mode MODE --dir DIR [flags]

Writes DIR/conf/<broker>.properties, starts a name server and every broker
of MODE as child processes (logs in DIR/logs/, stores in DIR/<broker>/store),
writes DIR/cluster.json once all listen and are registered, and stops them
on SIGINT or SIGTERM. Modes (docs/deploy.md):
  single       broker-a (ASYNC_MASTER)
  2m           broker-a, broker-b (ASYNC_MASTER)
  2m-2s-async  broker-a, broker-b (ASYNC_MASTER), slaves broker-a-s, broker-b-s
  2m-2s-sync   broker-a, broker-b (SYNC_MASTER), slaves broker-a-s, broker-b-s
Ports from --base-port N: name server N, broker-a N+1035 (HA N+1036),
broker-a-s N+1045, broker-b N+1055 (HA N+1056), broker-b-s N+1065.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "gannet cluster: "+format+"\n", args...)
		return 2
	}
	specs, err := clusterLayout(*mode)
	if err != nil {
		return fail("%v", err)
	}
	if *dir == "" {
		return fail("--dir is required")
	}
	if *basePort < 1 || *basePort+highestOffset > 65535 {
		return fail("--base-port %d: want 1..%d", *basePort, 65535-highestOffset)
	}
	if _, err := newLogger(*logLevel); err != nil {
		return fail("%v", err)
	}
	fm, ok := parseFlush(*flush)
	if !ok {
		return fail("--flush %q: want sync or async", *flush)
	}
	if net.ParseIP(*host) == nil {
		return fail("--host %q: want an IP address", *host)
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		return fail("--dir: %v", err)
	}
	p := clusterParams{Mode: *mode, BasePort: *basePort, Host: *host, Root: root, Flush: config.FlushDiskType(fm.String())}
	confs, err := writeClusterConf(p, specs, sets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		return 1
	}
	if *confOnly {
		for _, c := range confs {
			fmt.Println(c)
		}
		return 0
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c := &clusterRun{self: self, p: p, specs: specs, confs: confs, level: *logLevel, stopLimit: *stopLimit}
	return c.run(ctx, *startLimit)
}

// writeClusterConf writes DIR/conf/<broker>.properties (with the --set
// lines at the end), checks each with config.Load, and returns their paths.
func writeClusterConf(p clusterParams, specs []brokerSpec, sets []string) ([]string, error) {
	confDir := filepath.Join(p.Root, "conf")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, b := range specs {
		text := brokerProperties(p, b)
		if len(sets) > 0 {
			text += "\n# gannet cluster --set\n"
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("--set %q: want key=value", kv)
				}
				text += strings.TrimSpace(k) + "=" + strings.TrimSpace(v) + "\n"
			}
		}
		path := filepath.Join(confDir, b.Name+".properties")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, err
		}
		_, warnings, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			fmt.Fprintf(os.Stderr, "gannet cluster: %s: %s\n", path, w)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// clusterRun is one run of gannet cluster.
type clusterRun struct {
	self      string
	p         clusterParams
	specs     []brokerSpec
	confs     []string
	level     string
	stopLimit time.Duration

	ns      *clusterProc
	brokers []*clusterProc
	exited  chan *clusterProc // a process exited on its own
}

func (c *clusterRun) run(ctx context.Context, startLimit time.Duration) int {
	t0 := time.Now()
	root := c.p.Root
	jsonPath := filepath.Join(root, "cluster.json")
	if err := os.Remove(jsonPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		return 1
	}
	if err := os.MkdirAll(filepath.Join(root, "logs"), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		return 1
	}
	if err := c.checkPorts(); err != nil {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		return 1
	}
	c.exited = make(chan *clusterProc, 1+len(c.specs))
	client := remoting.NewClient(remoting.ClientOptions{DialTimeout: time.Second})
	defer client.Close()

	sctx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	err := c.start(sctx, client)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted while starting")
		} else if sctx.Err() != nil && !errors.As(err, new(*procError)) {
			err = fmt.Errorf("%w (--start-timeout %v)", err, startLimit)
		}
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		c.shutdown()
		return 1
	}
	cf := clusterFile{Mode: c.p.Mode, Dir: root, Pid: os.Getpid(), Namesrv: c.ns.Addr, Processes: append([]*clusterProc{c.ns}, c.brokers...)}
	if err := writeJSONFile(jsonPath, cf); err != nil {
		fmt.Fprintln(os.Stderr, "gannet cluster:", err)
		c.shutdown()
		return 1
	}
	c.printReady(time.Since(t0), jsonPath)

	for {
		select {
		case <-ctx.Done():
			fmt.Println("gannet cluster: stopping the brokers, then the name server")
			if !c.shutdown() {
				return 1
			}
			fmt.Println("gannet cluster: stopped")
			return 0
		case pr := <-c.exited:
			fmt.Printf("gannet cluster: %s (pid %d) exited: %v; see %s\n", pr.Name, pr.Pid, exitText(pr.err), pr.Log)
		}
	}
}

// checkPorts fails early, naming the process, when a port of the layout
// is taken.
func (c *clusterRun) checkPorts() error {
	check := func(port int, what string) error {
		ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("port %d (%s) is not free: %w; pick another --base-port", port, what, err)
		}
		return ln.Close()
	}
	if err := check(c.p.BasePort, "name server"); err != nil {
		return err
	}
	for _, b := range c.specs {
		port := c.p.listenPort(b)
		if err := check(port, b.Name+" listenPort"); err != nil {
			return err
		}
		if b.Role.IsMaster() {
			if err := check(port+1, b.Name+" haListenPort"); err != nil {
				return err
			}
		}
	}
	return nil
}

// start starts the name server, then the masters, then the slaves (a
// slave learns its master's HA address when it registers, so the master
// registers first), each group waited for before the next.
func (c *clusterRun) start(ctx context.Context, client *remoting.Client) error {
	nsAddr := c.p.namesrvAddr()
	ns, err := c.spawn("namesrv", []string{"namesrv", "--listen", nsAddr, "--http-addr", "off", "--log-level", c.level})
	if err != nil {
		return err
	}
	ns.Role, ns.Addr = "NAMESRV", nsAddr
	c.ns = ns
	if err := c.waitListen(ctx, ns, nsAddr); err != nil {
		return err
	}
	for _, slaves := range []bool{false, true} {
		var group []*clusterProc
		for i, b := range c.specs {
			if (b.Role == config.Slave) != slaves {
				continue
			}
			pr, err := c.spawn(b.Name, []string{"broker", "-c", c.confs[i], "--http-addr", "off", "--log-level", c.level})
			if err != nil {
				return err
			}
			port := c.p.listenPort(b)
			pr.Role, pr.Group, pr.ID = string(b.Role), b.Group, b.ID
			pr.Addr = net.JoinHostPort(c.p.Host, strconv.Itoa(port))
			if b.Role.IsMaster() {
				pr.HAAddr = net.JoinHostPort(c.p.Host, strconv.Itoa(port+1))
			}
			pr.Conf, pr.Store = c.confs[i], c.p.storeDir(b)
			c.brokers = append(c.brokers, pr)
			group = append(group, pr)
		}
		for _, pr := range group {
			if err := c.waitListen(ctx, pr, pr.Addr); err != nil {
				return err
			}
			if pr.HAAddr != "" {
				if err := c.waitListen(ctx, pr, pr.HAAddr); err != nil {
					return err
				}
			}
		}
		if err := c.waitRegistered(ctx, client, group); err != nil {
			return err
		}
	}
	return nil
}

// spawn starts `gannet args...` with its output in DIR/logs/<name>.log.
// The child has its own process group, so a terminal's Ctrl-C reaches only
// gannet cluster, which stops the children in order; and it gets SIGTERM
// if gannet cluster dies without stopping it.
func (c *clusterRun) spawn(name string, args []string) (*clusterProc, error) {
	logPath := filepath.Join(c.p.Root, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "==== %s gannet %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(c.self, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.p.Root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &clusterProc{Name: name, Pid: cmd.Process.Pid, Log: logPath, cmd: cmd, done: make(chan struct{}), logF: f}
	go func() {
		pr.err = cmd.Wait()
		f.Close()
		close(pr.done)
		pr.stopMu.Lock()
		quiet := pr.stop
		pr.stopMu.Unlock()
		if !quiet {
			c.exited <- pr
		}
	}()
	return pr, nil
}

// procError is a child that exited while starting.
type procError struct{ pr *clusterProc }

func (e *procError) Error() string {
	return fmt.Sprintf("%s exited while starting (%v); its log %s ends with:\n%s", e.pr.Name, exitText(e.pr.err), e.pr.Log, logTail(e.pr.Log, 20))
}

// waitListen polls addr until it accepts a connection, pr exits, or ctx
// ends.
func (c *clusterRun) waitListen(ctx context.Context, pr *clusterProc, addr string) error {
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-pr.done:
			return &procError{pr}
		case <-ctx.Done():
			return fmt.Errorf("%s is not listening on %s; see %s:\n%s", pr.Name, addr, pr.Log, logTail(pr.Log, 20))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitRegistered polls the name server until it lists each broker of group
// at its address, under its brokerName and brokerId.
func (c *clusterRun) waitRegistered(ctx context.Context, client *remoting.Client, group []*clusterProc) error {
	for {
		info, err := clusterInfo(ctx, client, c.ns.Addr)
		missing := group[:0:0]
		for _, pr := range group {
			if err != nil || info[pr.Group][pr.ID] != pr.Addr {
				missing = append(missing, pr)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		for _, pr := range missing {
			select {
			case <-pr.done:
				return &procError{pr}
			default:
			}
		}
		select {
		case <-ctx.Done():
			pr := missing[0]
			return fmt.Errorf("the name server does not list %s (%s, brokerId %d at %s); see %s:\n%s", pr.Name, pr.Group, pr.ID, pr.Addr, pr.Log, logTail(pr.Log, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clusterInfo asks a name server for GET_BROKER_CLUSTER_INFO and returns
// brokerName -> brokerId -> address.
func clusterInfo(ctx context.Context, client *remoting.Client, nsAddr string) (map[string]map[int64]string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := client.Invoke(cctx, nsAddr, remoting.NewRequest(remoting.ReqGetBrokerClusterInfo,
		map[string]string{"acceptStandardJsonOnly": "true"}, nil))
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.ResSuccess {
		return nil, fmt.Errorf("GET_BROKER_CLUSTER_INFO: %s %s", remoting.ResponseCodeName(resp.Code), resp.Remark)
	}
	var body struct {
		BrokerAddrTable map[string]struct {
			BrokerAddrs map[int64]string `json:"brokerAddrs"`
		} `json:"brokerAddrTable"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return nil, fmt.Errorf("GET_BROKER_CLUSTER_INFO body: %w", err)
	}
	out := make(map[string]map[int64]string, len(body.BrokerAddrTable))
	for name, bd := range body.BrokerAddrTable {
		out[name] = bd.BrokerAddrs
	}
	return out, nil
}

// shutdown sends SIGTERM to the brokers, waits for them, then does the
// same to the name server; a process still there after stopLimit gets
// SIGKILL. It reports whether every process stopped cleanly.
func (c *clusterRun) shutdown() bool {
	ok := c.stopAll(c.brokers)
	if c.ns != nil {
		ok = c.stopAll([]*clusterProc{c.ns}) && ok
	}
	return ok
}

func (c *clusterRun) stopAll(procs []*clusterProc) bool {
	var running []*clusterProc
	for _, pr := range procs {
		pr.stopMu.Lock()
		pr.stop = true
		pr.stopMu.Unlock()
		select {
		case <-pr.done: // exited earlier (killed on purpose, or crashed)
			continue
		default:
		}
		if err := pr.cmd.Process.Signal(syscall.SIGTERM); err == nil {
			running = append(running, pr)
		}
	}
	ok := true
	deadline := time.Now().Add(c.stopLimit)
	for _, pr := range running {
		select {
		case <-pr.done:
			switch {
			case pr.err == nil:
			case killedBefore(pr):
				fmt.Printf("gannet cluster: %s (pid %d) had been killed; see %s\n", pr.Name, pr.Pid, pr.Log)
			default:
				fmt.Fprintf(os.Stderr, "gannet cluster: %s (pid %d) stopped with %v; see %s\n", pr.Name, pr.Pid, exitText(pr.err), pr.Log)
				ok = false
			}
			continue
		case <-time.After(time.Until(deadline)):
		}
		fmt.Fprintf(os.Stderr, "gannet cluster: %s (pid %d) did not stop within %v; killing it (see %s)\n", pr.Name, pr.Pid, c.stopLimit, pr.Log)
		pr.cmd.Process.Kill()
		<-pr.done
		ok = false
	}
	return ok
}

// killedBefore reports whether pr ended by SIGKILL, which stopAll sends
// only after it has given up waiting: someone killed it just before the
// shutdown (a test, an operator), and its exit is not a failed stop.
func killedBefore(pr *clusterProc) bool {
	ws, ok := pr.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (c *clusterRun) printReady(took time.Duration, jsonPath string) {
	fmt.Printf("gannet cluster %s ready in %v, in %s\n", c.p.Mode, took.Round(time.Millisecond), c.p.Root)
	fmt.Printf("  %-11s %-13s %-17s %-17s pid\n", "name", "role", "address", "HA")
	row := func(pr *clusterProc) {
		ha := pr.HAAddr
		if ha == "" {
			ha = "-"
		}
		fmt.Printf("  %-11s %-13s %-17s %-17s %d\n", pr.Name, pr.Role, pr.Addr, ha, pr.Pid)
	}
	row(c.ns)
	for _, pr := range c.brokers {
		row(pr)
	}
	fmt.Printf("name server %s (NAMESRV_ADDR); logs in %s; processes in %s\n", c.ns.Addr, filepath.Join(c.p.Root, "logs"), jsonPath)
	fmt.Printf("stop with Ctrl-C or kill -TERM %d\n", os.Getpid())
}

// writeJSONFile replaces path with v as indented JSON, atomically: a
// reader never sees half a file.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'))
}

// exitText describes how a process ended.
func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logTail returns the last n lines of a log file, indented.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	defer f.Close()
	const maxTail = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		f.Seek(st.Size()-maxTail, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
