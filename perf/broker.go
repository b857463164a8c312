package perf

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker"
)

// brokerCollector exports a broker's traffic per topic, its send and pull
// latencies, its send results and the consumer groups' lag. Its label
// sets vary (one series per topic, code, group and queue), so it builds
// the constant metrics itself rather than through snapshotCollector.
type brokerCollector struct {
	read func() broker.Metrics
	lag  func() []broker.Lag

	messagesIn, bytesIn, messagesOut, bytesOut *prometheus.Desc
	sendDuration, pullDuration                 *prometheus.Desc
	sendResults                                *prometheus.Desc
	consumerLag                                *prometheus.Desc
}

// NewBrokerCollector exports the broker's request-level metrics; read is
// normally (*broker.Broker).Metrics (atomics and one read-locked walk of
// the topic table) and lag (*broker.Broker).ConsumerLag (the offset table
// and one max-offset lookup per committed queue). Open connections are
// NewRemotingCollector's.
//
//	gannet_broker_messages_in_total{topic}     messages stored by sends
//	gannet_broker_bytes_in_total{topic}        their stored size
//	gannet_broker_messages_out_total{topic}    messages returned by pulls
//	gannet_broker_bytes_out_total{topic}       their stored size
//	gannet_broker_send_duration_seconds        arrival to response, histogram
//	gannet_broker_pull_duration_seconds{held}  the same for pulls; held="true"
//	                                           for long-polled ones, hold included
//	gannet_broker_send_results_total{code}     sends by response code name
//	gannet_consumer_lag_messages{group,topic,queue}
//	                                           max offset minus committed offset
func NewBrokerCollector(read func() broker.Metrics, lag func() []broker.Lag) prometheus.Collector {
	topic := []string{"topic"}
	return &brokerCollector{
		read: read,
		lag:  lag,
		messagesIn: prometheus.NewDesc("gannet_broker_messages_in_total",
			"Messages stored by send requests, by the topic the producer named.", topic, nil),
		bytesIn: prometheus.NewDesc("gannet_broker_bytes_in_total",
			"Stored size (whole records) of the messages stored by send requests.", topic, nil),
		messagesOut: prometheus.NewDesc("gannet_broker_messages_out_total",
			"Messages returned by pull requests.", topic, nil),
		bytesOut: prometheus.NewDesc("gannet_broker_bytes_out_total",
			"Stored size (whole records) of the messages returned by pull requests.", topic, nil),
		sendDuration: prometheus.NewDesc("gannet_broker_send_duration_seconds",
			"Time from a send request's arrival to its response, the store's append included.", nil, nil),
		pullDuration: prometheus.NewDesc("gannet_broker_pull_duration_seconds",
			`Time from a pull request's arrival to its response; held="true" for pulls parked by long polling, the hold included.`,
			[]string{"held"}, nil),
		sendResults: prometheus.NewDesc("gannet_broker_send_results_total",
			`Send requests answered, by response code ("other" for codes outside the usual range).`, []string{"code"}, nil),
		consumerLag: prometheus.NewDesc("gannet_consumer_lag_messages",
			"Messages a consumer group has not committed on a queue: the queue's max offset minus the committed offset.",
			[]string{"group", "topic", "queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.messagesIn, c.bytesIn, c.messagesOut, c.bytesOut,
		c.sendDuration, c.pullDuration, c.sendResults, c.consumerLag,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.read()
	for _, t := range m.Topics {
		ch <- prometheus.MustNewConstMetric(c.messagesIn, prometheus.CounterValue, float64(t.MessagesIn), t.Topic)
		ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.CounterValue, float64(t.BytesIn), t.Topic)
		ch <- prometheus.MustNewConstMetric(c.messagesOut, prometheus.CounterValue, float64(t.MessagesOut), t.Topic)
		ch <- prometheus.MustNewConstMetric(c.bytesOut, prometheus.CounterValue, float64(t.BytesOut), t.Topic)
	}
	ch <- constHistogram(c.sendDuration, m.Send)
	ch <- constHistogram(c.pullDuration, m.Pull, "false")
	ch <- constHistogram(c.pullDuration, m.PullHeld, "true")
	for _, r := range m.SendResults {
		ch <- prometheus.MustNewConstMetric(c.sendResults, prometheus.CounterValue, float64(r.Count), remoting.ResponseCodeName(r.Code))
	}
	if m.SendResultsOther > 0 {
		ch <- prometheus.MustNewConstMetric(c.sendResults, prometheus.CounterValue, float64(m.SendResultsOther), "other")
	}
	for _, l := range c.lag() {
		ch <- prometheus.MustNewConstMetric(c.consumerLag, prometheus.GaugeValue, float64(l.Messages),
			l.Group, l.Topic, strconv.Itoa(int(l.QueueID)))
	}
}

// constHistogram turns a broker.Histogram (counts per bucket) into
// Prometheus' cumulative buckets in seconds.
func constHistogram(desc *prometheus.Desc, h broker.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, le := range h.Bounds {
		cum += h.Counts[i]
		buckets[le.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, h.Sum.Seconds(), buckets, labels...)
}
