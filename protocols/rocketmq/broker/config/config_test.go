package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

const license = `# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.  See the NOTICE file distributed with
# this work for additional information regarding copyright ownership.
`

// The seed configs: RocketMQ's distribution/conf/broker.conf and
// 2m-2s-sync/broker-a.properties and broker-a-s.properties, plus the keys
// a local deployment sets.
const (
	singleMaster = license + `
brokerClusterName = DefaultCluster
brokerName = broker-a
brokerId = 0
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH
namesrvAddr = 127.0.0.1:9876
`
	syncMaster = license + `brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
deleteWhen=04
fileReservedTime=48
brokerRole=SYNC_MASTER
flushDiskType=ASYNC_FLUSH
namesrvAddr=10.0.0.1:9876;10.0.0.2:9876
brokerIP1=10.0.0.11
`
	syncSlave = license + `brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=1
deleteWhen=04
fileReservedTime=48
brokerRole=SLAVE
flushDiskType=ASYNC_FLUSH
namesrvAddr=10.0.0.1:9876;10.0.0.2:9876
brokerIP1=10.0.0.12
listenPort=10921
storePathRootDir=/var/gannet/broker-a-s
`
)

// parse parses text and fails the test on an error or a warning.
func parse(t *testing.T, text string) Broker {
	t.Helper()
	b, w, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(w) > 0 {
		t.Fatalf("Parse warnings: %v", w)
	}
	return b
}

func TestSeedConfigs(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")

	b := parse(t, singleMaster)
	want := Default()
	want.BrokerName = "broker-a"
	want.NamesrvAddr = "127.0.0.1:9876"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("single master:\n got %+v\nwant %+v", b, want)
	}

	b = parse(t, syncMaster)
	want.BrokerRole = SyncMaster
	want.NamesrvAddr = "10.0.0.1:9876;10.0.0.2:9876"
	want.BrokerIP1, want.BrokerIP2 = "10.0.0.11", "10.0.0.11"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("sync master:\n got %+v\nwant %+v", b, want)
	}
	if got := b.NamesrvAddrs(); !slices.Equal(got, []string{"10.0.0.1:9876", "10.0.0.2:9876"}) {
		t.Errorf("NamesrvAddrs = %q", got)
	}
	if b.BrokerAddr() != "10.0.0.11:10911" || b.HAServerAddr() != "10.0.0.11:10912" {
		t.Errorf("addresses %s %s", b.BrokerAddr(), b.HAServerAddr())
	}

	b = parse(t, syncSlave)
	want.BrokerID, want.BrokerRole = 1, Slave
	want.BrokerIP1, want.BrokerIP2 = "10.0.0.12", "10.0.0.12"
	want.ListenPort, want.HAListenPort = 10921, 10922
	want.StorePathRootDir, want.StorePathCommitLog = "/var/gannet/broker-a-s", "/var/gannet/broker-a-s/commitlog"
	if !reflect.DeepEqual(b, want) {
		t.Errorf("slave:\n got %+v\nwant %+v", b, want)
	}
	if b.BrokerRole.IsMaster() || !SyncMaster.IsMaster() || !AsyncMaster.IsMaster() {
		t.Error("IsMaster")
	}
}

func TestDefault(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", " 10.9.9.9:9876 ")
	b := Default()
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if b.NamesrvAddr != "10.9.9.9:9876" {
		t.Errorf("NamesrvAddr %q, want NAMESRV_ADDR's value", b.NamesrvAddr)
	}
	host, _ := os.Hostname()
	if host != "" && b.BrokerName != host {
		t.Errorf("BrokerName %q, want the host name %q", b.BrokerName, host)
	}
	f := func(key, want string) {
		t.Helper()
		if got, ok := b.Get(key); !ok || got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	f("brokerClusterName", "DefaultCluster")
	f("brokerId", "0")
	f("brokerRole", "ASYNC_MASTER")
	f("brokerIP1", "127.0.0.1")
	f("listenPort", "10911")
	f("haListenPort", "10912")
	f("storePathRootDir", "./data")
	f("storePathCommitLog", "data/commitlog")
	f("fileReservedTime", "48")
	f("mappedFileSizeCommitLog", "1073741824")
	f("mappedFileSizeConsumeQueue", "6000000")
	f("flushIntervalCommitLog", "500")
	f("registerNameServerPeriod", "30000")
	f("messageDelayLevel", "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
	f("writeMode", "pwrite")
	f("mqttListenAddr", "")
	if _, ok := b.Get("nope"); ok {
		t.Error("Get of an unknown key")
	}
	if l, err := b.DelayLevels(); err != nil || l.Len() != 18 {
		t.Errorf("DelayLevels: %d levels, %v", l.Len(), err)
	}
	if !slices.IsSorted(Keys()) || len(Keys()) != reflect.TypeOf(Broker{}).NumField() {
		t.Errorf("Keys: %d sorted %v, Broker has %d fields", len(Keys()), slices.IsSorted(Keys()), reflect.TypeOf(Broker{}).NumField())
	}
	for _, c := range []struct{ in, want time.Duration }{{time.Second, 10 * time.Second}, {30 * time.Second, 30 * time.Second}, {time.Hour, time.Minute}} {
		b.RegisterNameServerPeriod = c.in
		if got := b.RegisterInterval(); got != c.want {
			t.Errorf("RegisterInterval of %v = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	text := "brokerName=b\nfooBar=1\nbrokername=x\naclEnable=true\nlistenPort=10911\nlistenPort = 10915\n"
	b, w, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Warning{
		{Line: 2, Key: "fooBar", Msg: "unknown key, ignored"},
		{Line: 3, Key: "brokername", Msg: "unknown key, ignored (did you mean brokerName?)"},
		{Line: 4, Key: "aclEnable", Msg: "RocketMQ key that Gannet does not use; ignored"},
		{Line: 6, Key: "listenPort", Msg: "also set on line 5; this value counts"},
	}
	if !slices.Equal(w, want) {
		t.Errorf("warnings\n got %v\nwant %v", w, want)
	}
	if b.BrokerName != "b" || b.ListenPort != 10915 || b.HAListenPort != 10916 {
		t.Errorf("brokerName %q listenPort %d haListenPort %d", b.BrokerName, b.ListenPort, b.HAListenPort)
	}
	if w[1].String() != "line 3: brokername: unknown key, ignored (did you mean brokerName?)" {
		t.Errorf("String: %s", w[1])
	}
}

// TestBadValues puts every kind of bad value in one file and checks each is
// reported, with its line, in one error.
func TestBadValues(t *testing.T) {
	text := strings.Join([]string{
		"# every line below is wrong",     // 1
		"listenPort=abc",                  // 2 not a number
		"brokerRole=MASTER",               // 3 bad enum
		"flushDiskType=sync_flush",        // 4 enums are case-sensitive, as Java's valueOf
		"diskMaxUsedSpaceRatio=150",       // 5 ratio out of range
		"haListenPort=70000",              // 6 port out of range
		"autoCreateTopicEnable=yes",       // 7 not a boolean
		"brokerIP1=localhost",             // 8 not an IP address
		"namesrvAddr=1.2.3.4:9876;nope",   // 9 bad address in a list
		"deleteWhen=04;25",                // 10 not an hour
		"messageDelayLevel=1s 5x",         // 11 bad delay
		"syncFlushTimeout=-5",             // 12 negative duration
		"writeMode=mmapx",                 // 13 bad enum
		"mappedFileSizeCommitLog=4200000", // 14 not a multiple of 4096
		`regionId=\u00g1`,                 // 15 bad escape
		"brokerName=",                     // 16 empty
		"brokerRole=SYNC_MASTER",          // 17 (fine, but see brokerId)
		"brokerId=3",                      // 18 a master with brokerId 3
		"fileReservedTime=0",              // 19 out of range
		"httpAddr=:http",                  // 20 port not a number
		"brokerPermission=8",              // 21 out of range
	}, "\n")
	_, _, err := Parse(strings.NewReader(text))
	var cerr Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse error %v (%T), want an Error", err, err)
	}
	want := map[int]string{2: "listenPort", 3: "brokerRole", 4: "flushDiskType", 5: "diskMaxUsedSpaceRatio",
		6: "haListenPort", 7: "autoCreateTopicEnable", 8: "brokerIP1", 9: "namesrvAddr", 10: "deleteWhen",
		11: "messageDelayLevel", 12: "syncFlushTimeout", 13: "writeMode", 14: "mappedFileSizeCommitLog",
		15: "regionId", 16: "brokerName", 18: "brokerId", 19: "fileReservedTime", 20: "httpAddr", 21: "brokerPermission"}
	got := map[int]string{}
	for _, i := range cerr {
		if i.Line == 0 {
			t.Errorf("issue without a line: %v", i)
		}
		got[i.Line] = i.Key
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("issues by line\n got %v\nwant %v\n%v", got, want, err)
	}
	for _, s := range []string{"config: 19 invalid values:", "line 2: listenPort: \"abc\" is not an integer",
		"line 18: brokerId: 3 with brokerRole SYNC_MASTER", `line 9: namesrvAddr: "nope"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q:\n%v", s, err)
		}
	}
	if !slices.IsSortedFunc(cerr, func(a, b Issue) int { return a.Line - b.Line }) {
		t.Errorf("issues not in line order: %v", cerr)
	}

	// A slave must not be broker 0.
	_, _, err = Parse(strings.NewReader("brokerRole=SLAVE\n"))
	if err == nil || !strings.Contains(err.Error(), "a slave's brokerId must be > 0") {
		t.Errorf("SLAVE with brokerId 0: %v", err)
	}
	// haListenPort may not be listenPort; maxMessageSize must fit a segment.
	_, _, err = Parse(strings.NewReader("listenPort=20000\nhaListenPort=20000\nmappedFileSizeCommitLog=65536\nmaxMessageSize=65536"))
	if !errors.As(err, &cerr) || len(cerr) != 2 || cerr[0].Key != "haListenPort" || cerr[1].Key != "maxMessageSize" || cerr[1].Line != 4 {
		t.Errorf("cross-key checks: %v", err)
	}
}

func TestSet(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	b := Default()
	must := func(key, value string) {
		t.Helper()
		if err := b.Set(key, value); err != nil {
			t.Fatalf("Set(%s, %s): %v", key, value, err)
		}
	}
	must("listenPort", " 20911 ")
	must("brokerIP1", "192.168.1.5")
	must("storePathRootDir", "/srv/gannet")
	if b.ListenPort != 20911 || b.HAListenPort != 20912 || b.BrokerIP2 != "192.168.1.5" || b.StorePathCommitLog != "/srv/gannet/commitlog" {
		t.Errorf("derived keys did not follow: %+v", b)
	}
	// Once set on their own, they stay.
	must("haListenPort", "30000")
	must("brokerIP2", "10.0.0.5")
	must("storePathCommitLog", "/fast/commitlog")
	must("listenPort", "20000")
	must("brokerIP1", "192.168.1.6")
	must("storePathRootDir", "/srv/other")
	if b.HAListenPort != 30000 || b.BrokerIP2 != "10.0.0.5" || b.StorePathCommitLog != "/fast/commitlog" {
		t.Errorf("explicit keys moved: %+v", b)
	}
	must("haListenPort", "0")
	if b.HAListenPort != 20001 {
		t.Errorf("haListenPort=0 gives %d, want listenPort+1", b.HAListenPort)
	}

	// Overrides in any order; Validate judges the result.
	must("brokerRole", "SLAVE")
	if err := b.Validate(); err == nil {
		t.Error("Validate accepts a SLAVE with brokerId 0")
	}
	must("brokerId", "2")
	if err := b.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	before := b
	for _, c := range [][2]string{{"listenPort", "0"}, {"brokerRole", "slave"}, {"nope", "1"}, {"maxMessageSize", "4M"}} {
		err := b.Set(c[0], c[1])
		var cerr Error
		if !errors.As(err, &cerr) || len(cerr) != 1 || cerr[0].Key != c[0] {
			t.Errorf("Set(%s, %s) = %v", c[0], c[1], err)
		}
	}
	if !reflect.DeepEqual(b, before) {
		t.Error("a failed Set changed the Broker")
	}

	// Validate catches values set directly, and lists them all.
	b.ListenPort, b.DiskSpaceWarningLevelRatio, b.BrokerIP1 = -1, 0, "x"
	err := b.Validate()
	var cerr Error
	if !errors.As(err, &cerr) || len(cerr) != 3 {
		t.Errorf("Validate = %v, want 3 issues", err)
	}
}

func TestPrintRoundTrip(t *testing.T) {
	t.Setenv("NAMESRV_ADDR", "")
	odd := Default()
	odd.BrokerName = " broker a\\b\t#1 = x: é😀 "
	odd.RegionID = "\x00\x7f\r\n"
	odd.StorePathRootDir = `C:\data dir\`
	odd.StorePathCommitLog = "!/commitlog"
	odd.MessageDelayLevel = "100ms  2s\t3m"
	odd.NamesrvAddr = ";a:1; b:2 ;"
	odd.MQTTListenAddr = "[::1]:1883"
	odd.HTTPAddr = ":8080"
	odd.FlushDiskType, odd.WriteMode, odd.BrokerRole, odd.BrokerID = SyncFlush, WritePwrite, Slave, 3
	odd.AutoCreateTopicEnable, odd.MessageIndexEnable = false, false
	odd.HAListenPort = 5
	if err := odd.Validate(); err != nil {
		t.Fatal(err)
	}

	for name, b := range map[string]Broker{
		"default": Default(),
		"master":  parse(t, singleMaster),
		"sync":    parse(t, syncMaster),
		"slave":   parse(t, syncSlave),
		"odd":     odd,
	} {
		var out bytes.Buffer
		if err := b.Print(&out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(Keys()) || !slices.IsSorted(lines) {
			t.Errorf("%s: Print wrote %d lines (sorted %v), want %d sorted", name, len(lines), slices.IsSorted(lines), len(Keys()))
		}
		back := parse(t, out.String())
		if !reflect.DeepEqual(back, b) {
			t.Errorf("%s: Print then Parse\n got %+v\nwant %+v\n%s", name, back, b, out.String())
		}
	}
}

func TestEngineOptions(t *testing.T) {
	b := parse(t, `
storePathRootDir=/data/g
mappedFileSizeCommitLog=268435456
mappedFileSizeConsumeQueue=6000010
flushDiskType=SYNC_FLUSH
writeMode=pwrite
flushIntervalCommitLog=250
flushCommitLogLeastPages=8
flushCommitLogThoroughInterval=20000
syncFlushTimeout=3000
waitTimeMillsInSendQueue=400
maxMessageSize=1048576
flushIntervalConsumeQueue=2000
messageIndexEnable=false
maxHashSlotNum=1000
maxIndexNum=4000
fileReservedTime=72
deleteWhen=03;15
diskMaxUsedSpaceRatio=98
diskSpaceCleanForciblyRatio=80
diskSpaceWarningLevelRatio=20
deleteFileBatchMax=3
brokerIP1=192.0.2.7
listenPort=20911
`)
	got := b.EngineOptions()
	want := engine.Options{
		Dir:                   "/data/g",
		CommitLogDir:          "/data/g/commitlog",
		SegmentSize:           256 << 20,
		FlushMode:             engine.SyncFlush,
		WriteMode:             engine.WritePwrite,
		SyncFlushTimeout:      3 * time.Second,
		FlushInterval:         250 * time.Millisecond,
		FlushLeastPages:       8,
		FlushThoroughInterval: 20 * time.Second,
		EnqueueTimeout:        400 * time.Millisecond,
		MaxMessageSize:        1 << 20,
		StoreHost:             message.HostFromAddrPort(netip.MustParseAddrPort("192.0.2.7:20911")),
		ConsumeQueueUnits:     300_001, // 6,000,010 bytes rounded up to whole units
		FlushQueueInterval:    2 * time.Second,
		IndexDisabled:         true,
		IndexHashSlots:        1000,
		IndexMaxItems:         4000,
		FileReservedHours:     72,
		DeleteWhen:            "03;15",
		DiskMaxUsedRatio:      0.95, // clamped to [10, 95]
		DiskForceCleanRatio:   0.80,
		DiskFullRatio:         0.35, // clamped to [35, 90]
		DeleteFilesBatch:      3,
	}
	if !reflect.DeepEqual(got, want) {
		gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
		for i := range gv.NumField() {
			if gv.Field(i).Kind() == reflect.Func {
				continue
			}
			if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
				t.Errorf("%s = %v, want %v", gv.Type().Field(i).Name, g, w)
			}
		}
		t.Errorf("EngineOptions differ (see above)")
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the engine refuses them: %v", err)
	}

	// The defaults are the engine's defaults.
	def := Default()
	o := def.EngineOptions()
	o.EnsureDefaults()
	var e engine.Options
	e.Dir, e.StoreHost = "./data", message.HostFromAddrPort(netip.MustParseAddrPort("127.0.0.1:10911"))
	e.EnsureDefaults()
	e.CommitLogDir = "data/commitlog"
	e.SyncFlushTimeout, e.FlushInterval, e.FlushLeastPages, e.FlushThoroughInterval = 5*time.Second, 500*time.Millisecond, 4, 10*time.Second
	e.EnqueueTimeout, e.MaxMessageSize = 200*time.Millisecond, 4<<20
	o.Logger, o.OnDispatch, o.Now, o.DiskUsage = nil, nil, nil, nil
	e.Logger, e.OnDispatch, e.Now, e.DiskUsage = nil, nil, nil, nil
	if !reflect.DeepEqual(o, e) {
		t.Errorf("default options\n got %+v\nwant %+v", o, e)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broker.properties")
	if err := os.WriteFile(path, []byte(syncSlave), 0o644); err != nil {
		t.Fatal(err)
	}
	b, w, err := Load(path)
	if err != nil || len(w) > 0 || b.BrokerRole != Slave || b.BrokerID != 1 {
		t.Errorf("Load: %+v %v %v", b, w, err)
	}
	if err := os.WriteFile(path, []byte("listenPort=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(path)
	var cerr Error
	if !errors.As(err, &cerr) || !strings.HasPrefix(err.Error(), path+": config: line 1: listenPort") {
		t.Errorf("Load of a bad file: %v", err)
	}
	if _, _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	// Too large a file is refused, not read without bound.
	_, _, err = Parse(strings.NewReader(strings.Repeat("#", maxFileSize+1)))
	if err == nil {
		t.Error("Parse read a file over the limit")
	}
}

func TestApply(t *testing.T) {
	b := Default()
	if err := b.Apply([]string{"listenPort=20911", " brokerName = b1 "}); err != nil {
		t.Fatal(err)
	}
	if b.ListenPort != 20911 || b.BrokerName != "b1" {
		t.Fatalf("applied: port %d name %q", b.ListenPort, b.BrokerName)
	}
	for _, bad := range [][]string{{"listenPort"}, {"listenPort=x"}, {"noSuchKey=1"}} {
		if err := b.Apply(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
