package perf

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// metric is one exported value of a Metrics struct: its description, its
// type and how to read it from a snapshot.
type metric[M any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*M) float64
}

func counter[M any](name, help string, labels prometheus.Labels, value func(*M) float64) metric[M] {
	return metric[M]{prometheus.NewDesc(name, help, nil, labels), prometheus.CounterValue, value}
}

func gauge[M any](name, help string, labels prometheus.Labels, value func(*M) float64) metric[M] {
	return metric[M]{prometheus.NewDesc(name, help, nil, labels), prometheus.GaugeValue, value}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// snapshotCollector exports a Metrics struct: each scrape calls read once
// and turns every field into a constant metric, so the values of a scrape
// come from one snapshot and nothing runs between scrapes.
type snapshotCollector[M any] struct {
	read    func() M
	metrics []metric[M]
}

// Describe implements prometheus.Collector.
func (c *snapshotCollector[M]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *snapshotCollector[M]) Collect(ch chan<- prometheus.Metric) {
	snap := c.read()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&snap))
	}
}

// NewEngineCollector exports the storage engine's counters and positions;
// read is normally (*engine.Store).Metrics, which loads atomics only.
// The average group-commit size is not exported: it is
// rate(gannet_commitlog_append_requests_total) /
// rate(gannet_commitlog_groups_total).
func NewEngineCollector(read func() engine.Metrics) prometheus.Collector {
	type M = engine.Metrics
	return &snapshotCollector[M]{read: read, metrics: []metric[M]{
		counter("gannet_commitlog_append_requests_total", "Append requests stored in the CommitLog.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Requests) }),
		counter("gannet_commitlog_messages_total", "Messages stored in the CommitLog.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Messages) }),
		counter("gannet_commitlog_bytes_total", "Bytes stored in the CommitLog.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Bytes) }),
		counter("gannet_commitlog_groups_total", "Group commits: writer rounds that stored at least one request.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Groups) }),
		counter("gannet_commitlog_syncs_total", "fdatasync or msync rounds of the CommitLog.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Syncs) }),
		counter("gannet_commitlog_synced_requests_total", "SYNC_FLUSH append requests completed by a sync.", nil,
			func(m *M) float64 { return float64(m.CommitLog.SyncedGroups) }),
		counter("gannet_commitlog_sync_seconds_total", "Time spent syncing the CommitLog to disk.", nil,
			func(m *M) float64 { return m.CommitLog.SyncTime.Seconds() }),
		counter("gannet_commitlog_busy_total", "Append requests refused with SYSTEM_BUSY because the append queue stayed full.", nil,
			func(m *M) float64 { return float64(m.CommitLog.Busy) }),
		counter("gannet_commitlog_flush_timeouts_total", "SYNC_FLUSH append requests answered FLUSH_DISK_TIMEOUT.", nil,
			func(m *M) float64 { return float64(m.CommitLog.FlushTimeouts) }),
		gauge("gannet_commitlog_min_offset_bytes", "First CommitLog offset still on disk.", nil,
			func(m *M) float64 { return float64(m.MinOffset) }),
		gauge("gannet_commitlog_written_offset_bytes", "End of the written CommitLog.", nil,
			func(m *M) float64 { return float64(m.WrittenOffset) }),
		gauge("gannet_commitlog_flushed_offset_bytes", "End of the CommitLog known to be on disk.", nil,
			func(m *M) float64 { return float64(m.FlushedOffset) }),
		gauge("gannet_dispatch_offset_bytes", "End of the CommitLog dispatched to the ConsumeQueues and the index (visible to consumers).", nil,
			func(m *M) float64 { return float64(m.DispatchedOffset) }),
		gauge("gannet_dispatch_lag_bytes", "CommitLog bytes readable but not yet dispatched.", nil,
			func(m *M) float64 { return float64(m.DispatchLag) }),
		gauge("gannet_store_writable", "1 while the store accepts appends, 0 while it refuses them for lack of disk.", nil,
			func(m *M) float64 { return boolValue(m.Writable) }),
		gauge("gannet_dispatch_failed", "1 when the dispatcher is stuck on an error (see the log), else 0.", nil,
			func(m *M) float64 { return boolValue(m.DispatchFailed) }),
	}}
}

// NewRemotingCollector exports a remoting server's state under the label
// server="<server>" (broker or namesrv), so one registry can hold both
// servers of `gannet standalone`. read is normally
// (*server.Broker).RemotingMetrics or (*server.NameServer).RemotingMetrics.
func NewRemotingCollector(server string, read func() remoting.ServerMetrics) prometheus.Collector {
	type M = remoting.ServerMetrics
	labels := prometheus.Labels{"server": server}
	return &snapshotCollector[M]{read: read, metrics: []metric[M]{
		gauge("gannet_remoting_connections", "Remoting (RocketMQ protocol) connections open now.", labels,
			func(m *M) float64 { return float64(m.Connections) }),
	}}
}

// NewReplicationCollector exports a master broker's replication state.
// read is normally (*server.Broker).ReplicationMetrics.
func NewReplicationCollector(read func() (slaves int, lagBytes int64)) prometheus.Collector {
	type M = struct {
		slaves int
		lag    int64
	}
	return &snapshotCollector[M]{read: func() M { s, l := read(); return M{s, l} }, metrics: []metric[M]{
		gauge("gannet_replication_slaves", "Slaves connected to this master's HA port now.", nil,
			func(m *M) float64 { return float64(m.slaves) }),
		gauge("gannet_replication_lag_bytes", "CommitLog bytes the furthest-behind connected slave has not acknowledged.", nil,
			func(m *M) float64 { return float64(m.lag) }),
	}}
}
