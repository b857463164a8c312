package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// A key is one broker.properties key: how to read its value into a Broker
// and how to write it back. set checks the value alone; checks between keys
// are in Validate.
type key struct {
	name string
	get  func(*Broker) string
	set  func(*Broker, string) error
}

// keys lists every key Gannet reads, sorted by name (Print's order).
var keys = sortKeys([]key{
	str("brokerClusterName", func(b *Broker) *string { return &b.BrokerClusterName }, nonEmpty),
	str("brokerName", func(b *Broker) *string { return &b.BrokerName }, nonEmpty),
	integer("brokerId", func(b *Broker) *int64 { return &b.BrokerID }, 0, math.MaxInt64),
	enum("brokerRole", func(b *Broker) *Role { return &b.BrokerRole }, AsyncMaster, SyncMaster, Slave),

	str("brokerIP1", func(b *Broker) *string { return &b.BrokerIP1 }, ipAddr),
	str("brokerIP2", func(b *Broker) *string { return &b.BrokerIP2 }, ipAddr),
	integer("listenPort", func(b *Broker) *int { return &b.ListenPort }, 1, 65535),
	integer("haListenPort", func(b *Broker) *int { return &b.HAListenPort }, 0, 65535),
	str("namesrvAddr", func(b *Broker) *string { return &b.NamesrvAddr }, namesrvList),

	boolean("enableControllerMode", func(b *Broker) *bool { return &b.EnableControllerMode }),
	str("controllerAddr", func(b *Broker) *string { return &b.ControllerAddr }, namesrvList),
	integer("minInSyncReplicas", func(b *Broker) *int { return &b.MinInSyncReplicas }, 1, 16),
	millis("haMaxTimeSlaveNotCatchup", func(b *Broker) *time.Duration { return &b.HAMaxTimeSlaveNotCatchup }, 1),
	str("haMasterAddress", func(b *Broker) *string { return &b.HAMasterAddress }, optionalAddr),
	integer("haMaxGapNotInSync", func(b *Broker) *int64 { return &b.HAMaxGapNotInSync }, 1, math.MaxInt64),
	millis("haSendHeartbeatInterval", func(b *Broker) *time.Duration { return &b.HASendHeartbeatInterval }, 1),
	millis("haHousekeepingInterval", func(b *Broker) *time.Duration { return &b.HAHousekeepingInterval }, 1),
	integer("haTransferBatchSize", func(b *Broker) *int { return &b.HATransferBatchSize }, 1, 4<<20),

	integer("brokerPermission", func(b *Broker) *int { return &b.BrokerPermission }, 0, 7),
	millis("registerNameServerPeriod", func(b *Broker) *time.Duration { return &b.RegisterNameServerPeriod }, 1),

	boolean("autoCreateTopicEnable", func(b *Broker) *bool { return &b.AutoCreateTopicEnable }),
	boolean("autoCreateSubscriptionGroup", func(b *Broker) *bool { return &b.AutoCreateSubscriptionGroup }),
	integer("defaultTopicQueueNums", func(b *Broker) *int { return &b.DefaultTopicQueueNums }, 1, 65536),

	boolean("slaveReadEnable", func(b *Broker) *bool { return &b.SlaveReadEnable }),
	boolean("longPollingEnable", func(b *Broker) *bool { return &b.LongPollingEnable }),
	millis("shortPollingTimeMills", func(b *Broker) *time.Duration { return &b.ShortPollingTimeMills }, 1),

	boolean("traceOn", func(b *Broker) *bool { return &b.TraceOn }),
	str("regionId", func(b *Broker) *string { return &b.RegionID }, nonEmpty),
	millis("transactionTimeOut", func(b *Broker) *time.Duration { return &b.TransactionTimeOut }, 1),
	integer("transactionCheckMax", func(b *Broker) *int { return &b.TransactionCheckMax }, 1, math.MaxInt32),
	millis("transactionCheckInterval", func(b *Broker) *time.Duration { return &b.TransactionCheckInterval }, 1),

	str("storePathRootDir", func(b *Broker) *string { return &b.StorePathRootDir }, nonEmpty),
	str("storePathCommitLog", func(b *Broker) *string { return &b.StorePathCommitLog }, nonEmpty),
	integer("mappedFileSizeCommitLog", func(b *Broker) *int64 { return &b.MappedFileSizeCommitLog }, 64<<10, 1<<40),
	integer("mappedFileSizeConsumeQueue", func(b *Broker) *int64 { return &b.MappedFileSizeConsumeQueue }, cqUnitSize, math.MaxInt32),
	enum("flushDiskType", func(b *Broker) *FlushDiskType { return &b.FlushDiskType }, AsyncFlush, SyncFlush),
	millis("flushIntervalCommitLog", func(b *Broker) *time.Duration { return &b.FlushIntervalCommitLog }, 1),
	integer("flushCommitLogLeastPages", func(b *Broker) *int { return &b.FlushCommitLogLeastPages }, 1, math.MaxInt32),
	millis("flushCommitLogThoroughInterval", func(b *Broker) *time.Duration { return &b.FlushCommitLogThoroughInterval }, 1),
	millis("syncFlushTimeout", func(b *Broker) *time.Duration { return &b.SyncFlushTimeout }, 1),
	millis("flushIntervalConsumeQueue", func(b *Broker) *time.Duration { return &b.FlushIntervalConsumeQueue }, 1),
	millis("waitTimeMillsInSendQueue", func(b *Broker) *time.Duration { return &b.WaitTimeMillsInSendQueue }, 1),
	integer("maxMessageSize", func(b *Broker) *int { return &b.MaxMessageSize }, 1, math.MaxInt32),
	boolean("messageIndexEnable", func(b *Broker) *bool { return &b.MessageIndexEnable }),
	integer("maxHashSlotNum", func(b *Broker) *int { return &b.MaxHashSlotNum }, 1, math.MaxInt32),
	integer("maxIndexNum", func(b *Broker) *int { return &b.MaxIndexNum }, 1, math.MaxInt32),
	str("deleteWhen", func(b *Broker) *string { return &b.DeleteWhen }, hours),
	integer("fileReservedTime", func(b *Broker) *int { return &b.FileReservedTime }, 1, math.MaxInt32),
	integer("diskMaxUsedSpaceRatio", func(b *Broker) *int { return &b.DiskMaxUsedSpaceRatio }, 1, 100),
	integer("diskSpaceCleanForciblyRatio", func(b *Broker) *int { return &b.DiskSpaceCleanForciblyRatio }, 1, 100),
	integer("diskSpaceWarningLevelRatio", func(b *Broker) *int { return &b.DiskSpaceWarningLevelRatio }, 1, 100),
	integer("deleteFileBatchMax", func(b *Broker) *int { return &b.DeleteFileBatchMax }, 1, math.MaxInt32),
	str("messageDelayLevel", func(b *Broker) *string { return &b.MessageDelayLevel }, delayLevels),

	boolean("haEnable", func(b *Broker) *bool { return &b.HAEnable }),
	str("mqttListenAddr", func(b *Broker) *string { return &b.MQTTListenAddr }, optionalAddr),
	str("httpAddr", func(b *Broker) *string { return &b.HTTPAddr }, optionalAddr),
	enum("writeMode", func(b *Broker) *WriteMode { return &b.WriteMode }, WriteMmap, WritePwrite),
})

func sortKeys(ks []key) []key {
	slices.SortFunc(ks, func(a, b key) int { return strings.Compare(a.name, b.name) })
	return ks
}

// lookup finds a key by name (case-sensitive, as Java's setters are).
func lookup(name string) (*key, bool) {
	i, ok := slices.BinarySearchFunc(keys, name, func(k key, name string) int { return strings.Compare(k.name, name) })
	if !ok {
		return nil, false
	}
	return &keys[i], true
}

// unusedJavaKeys are RocketMQ keys that Gannet reads without using: they
// draw a warning that says so rather than "unknown key".
var unusedJavaKeys = []string{
	"accessMessageInMemoryMaxRatio", "aclEnable", "adminBrokerThreadPoolNums", "brokerFastFailureEnable",
	"brokerTopicEnable", "checkCRCOnRecover", "cleanFileForciblyEnable", "cleanResourceInterval",
	"clientManageThreadPoolNums", "clusterTopicEnable", "commitCommitLogLeastPages", "commitIntervalCommitLog",
	"consumerManageThreadPoolNums", "deleteCommitLogFilesInterval",
	"deleteConsumeQueueFilesInterval", "destroyMapedFileIntervalForcibly", "duplicationEnable",
	"enableDLegerCommitLog", "enablePropertyFilter", "fetchNamesrvAddrByAddressServer",
	"filterSupportRetry", "flushCommitLogTimed", "flushConsumeQueueLeastPages", "flushConsumeQueueThoroughInterval",
	"flushConsumerOffsetInterval", "flushDelayOffsetInterval",
	"heartbeatThreadPoolNums", "isolateLogEnable",
	"maxTransferBytesOnMessageInDisk", "maxTransferBytesOnMessageInMemory", "maxTransferCountOnMessageInDisk",
	"maxTransferCountOnMessageInMemory", "msgTraceTopicName", "pullMessageThreadPoolNums",
	"queryMessageThreadPoolNums", "redeleteHangedFileInterval", "rejectTransactionMessage", "rocketmqHome",
	"sendMessageThreadPoolNums", "serverSelectorThreads", "serverWorkerThreads", "slaveTimeout",
	"timerWheelEnable", "traceTopicEnable", "transientStorePoolEnable", "useReentrantLockWhenPutMessage",
	"waitTimeMillsInPullQueue", "warmMapedFileEnable",
}

// Value kinds. Each set parses, checks and assigns; each get formats the
// value the way set reads it.

func str(name string, p func(*Broker) *string, check func(string) error) key {
	return key{
		name: name,
		get:  func(b *Broker) string { return *p(b) },
		set: func(b *Broker, v string) error {
			if err := check(v); err != nil {
				return err
			}
			*p(b) = v
			return nil
		},
	}
}

func integer[T int | int64](name string, p func(*Broker) *T, lo, hi T) key {
	return key{
		name: name,
		get:  func(b *Broker) string { return strconv.FormatInt(int64(*p(b)), 10) },
		set: func(b *Broker, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			if n < int64(lo) || n > int64(hi) {
				return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
			}
			*p(b) = T(n)
			return nil
		},
	}
}

// millis is a duration written in milliseconds, at least lo ms.
func millis(name string, p func(*Broker) *time.Duration, lo int64) key {
	const hi = math.MaxInt64 / int64(time.Millisecond)
	return key{
		name: name,
		get:  func(b *Broker) string { return strconv.FormatInt(p(b).Milliseconds(), 10) },
		set: func(b *Broker, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer number of milliseconds", v)
			}
			if n < lo || n > hi {
				return fmt.Errorf("%d ms is out of range [%d, %d]", n, lo, hi)
			}
			*p(b) = time.Duration(n) * time.Millisecond
			return nil
		},
	}
}

// boolean takes true or false in any case. Java's Boolean.parseBoolean
// takes anything else for false; here it is an error.
func boolean(name string, p func(*Broker) *bool) key {
	return key{
		name: name,
		get:  func(b *Broker) string { return strconv.FormatBool(*p(b)) },
		set: func(b *Broker, v string) error {
			switch {
			case strings.EqualFold(v, "true"):
				*p(b) = true
			case strings.EqualFold(v, "false"):
				*p(b) = false
			default:
				return fmt.Errorf("%q is not true or false", v)
			}
			return nil
		},
	}
}

// enum takes one of values, spelled exactly (Java's Enum.valueOf).
func enum[T ~string](name string, p func(*Broker) *T, values ...T) key {
	return key{
		name: name,
		get:  func(b *Broker) string { return string(*p(b)) },
		set: func(b *Broker, v string) error {
			if !slices.Contains(values, T(v)) {
				return fmt.Errorf("%q is not one of %v", v, values)
			}
			*p(b) = T(v)
			return nil
		},
	}
}

// Checks of string values.

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func ipAddr(v string) error {
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	return nil
}

// hostPort checks "host:port" with a numeric port.
func hostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

func optionalAddr(v string) error {
	if v == "" {
		return nil
	}
	return hostPort(v)
}

// namesrvList checks "host:port;host:port" (empty entries are ignored, an
// empty list means no name server).
func namesrvList(v string) error {
	var bad []string
	for _, a := range strings.Split(v, ";") {
		if a = strings.TrimSpace(a); a != "" && hostPort(a) != nil {
			bad = append(bad, strconv.Quote(a))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: want host:port entries separated by ';'", strings.Join(bad, ", "))
	}
	return nil
}

// hours checks deleteWhen: hours of day 0..23 separated by ';', as the
// engine reads them.
func hours(v string) error {
	n := 0
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		h, err := strconv.Atoi(part)
		if err != nil || h < 0 || h > 23 {
			return fmt.Errorf("%q is not an hour 00..23", part)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%q names no hour", v)
	}
	return nil
}

func delayLevels(v string) error {
	_, err := schedule.ParseLevels(v)
	return err
}
