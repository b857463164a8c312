package broker

import (
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Admin codes (AdminBrokerProcessor): UPDATE_AND_CREATE_TOPIC (17),
// DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21),
// GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45),
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), GET_BROKER_RUNTIME_INFO (28),
// GET_CONSUME_STATS (208) and GET_TOPIC_STATS_INFO (202).

// maxQueueNums bounds the queue counts an admin may give a topic (queue
// ids are 0..65535 in the engine).
const maxQueueNums = 65536

func (b *Broker) updateAndCreateTopic(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("UPDATE_AND_CREATE_TOPIC", req)
	topic := h.str("topic")
	readQ := h.int32("readQueueNums")
	writeQ := h.int32("writeQueueNums")
	perm := h.int32("perm")
	filter := h.opt("topicFilterType")
	sysFlag, _ := h.optInt32("topicSysFlag")
	order, _ := h.optBool("order")
	attrs := h.opt("attributes")
	if h.err != nil {
		return fail(req, h.err)
	}
	if err := validateTopic(topic); err != nil {
		return fail(req, err)
	}
	if b.isSystemTopic(topic) {
		return respond(req, remoting.ResSystemError, "the topic["+topic+"] is conflict with system topic")
	}
	if readQ <= 0 || readQ > maxQueueNums || writeQ <= 0 || writeQ > maxQueueNums {
		return respond(req, remoting.ResSystemError, fmt.Sprintf("UPDATE_AND_CREATE_TOPIC: queue numbers read %d write %d must be in 1..%d", readQ, writeQ, maxQueueNums))
	}
	if perm&^(meta.PermRead|meta.PermWrite|meta.PermInherit) != 0 {
		return respond(req, remoting.ResSystemError, "UPDATE_AND_CREATE_TOPIC: perm "+strconv.Itoa(int(perm))+" has unknown bits")
	}
	switch filter {
	case "":
		filter = meta.FilterSingleTag
	case meta.FilterSingleTag, meta.FilterMultiTag:
	default:
		return respond(req, remoting.ResSystemError, "UPDATE_AND_CREATE_TOPIC: topicFilterType "+filter+" is not SINGLE_TAG or MULTI_TAG")
	}
	c := meta.NewTopicConfig(topic, readQ)
	c.WriteQueueNums, c.Perm, c.TopicFilterType, c.TopicSysFlag, c.Order = writeQ, perm, filter, sysFlag, order

	b.topicMu.Lock()
	old, exists := b.meta.Topics.Get(topic)
	if exists {
		c.Attributes = maps.Clone(old.Attributes)
	}
	if err := applyAttributes(c.Attributes, attrs); err != nil {
		b.topicMu.Unlock()
		return fail(req, err)
	}
	unchanged := exists && old.ReadQueueNums == c.ReadQueueNums && old.WriteQueueNums == c.WriteQueueNums &&
		old.Perm == c.Perm && old.TopicFilterType == c.TopicFilterType && old.TopicSysFlag == c.TopicSysFlag &&
		old.Order == c.Order && maps.Equal(old.Attributes, c.Attributes)
	if !unchanged {
		b.meta.Topics.Put(c)
	}
	b.topicMu.Unlock()
	if !unchanged {
		b.log.Info("topic updated", "topic", topic, "read", readQ, "write", writeQ, "perm", perm)
		b.topicsChanged()
	}
	return success(req)
}

// applyAttributes applies "+key=value,-key" (TopicAttributes in 5.x) to m.
func applyAttributes(m map[string]string, attrs string) *codeError {
	for item := range strings.SplitSeq(attrs, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		switch item[0] {
		case '+':
			k, v, ok := strings.Cut(item[1:], "=")
			if !ok || k == "" {
				return errorf(remoting.ResSystemError, "UPDATE_AND_CREATE_TOPIC: attribute %q is not +key=value", item)
			}
			m[k] = v
		case '-':
			delete(m, item[1:])
		default:
			return errorf(remoting.ResSystemError, "UPDATE_AND_CREATE_TOPIC: attribute %q must start with + or -", item)
		}
	}
	return nil
}

// deleteTopic removes a topic's config and the consumer offsets on it.
// Its stored messages stay until retention removes their segments.
func (b *Broker) deleteTopic(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("DELETE_TOPIC_IN_BROKER", req)
	topic := h.str("topic")
	if h.err != nil {
		return fail(req, h.err)
	}
	if b.isSystemTopic(topic) {
		return respond(req, remoting.ResSystemError, "the topic["+topic+"] is a system topic and cannot be deleted")
	}
	b.topicMu.Lock()
	deleted := b.meta.Topics.Delete(topic)
	b.topicMu.Unlock()
	b.meta.Offsets.DeleteTopic(topic)
	b.metrics.forgetTopic(topic)
	// The messages stay in the CommitLog until retention; the queues go now.
	if err := b.store.DeleteTopic(topic); err != nil {
		b.log.Warn("cannot delete the topic's consume queues", "topic", topic, "err", err)
	}
	if deleted {
		b.log.Info("topic deleted", "topic", topic)
		b.topicsChanged()
	}
	return success(req)
}

func encoded(req *remoting.Command, data []byte, err error) *remoting.Command {
	if err != nil {
		return respond(req, remoting.ResSystemError, err.Error())
	}
	resp := success(req)
	resp.Body = data
	return resp
}

func (b *Broker) getAllTopicConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	data, err := b.meta.Topics.Encode()
	return encoded(req, data, err)
}

func (b *Broker) getAllConsumerOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	data, err := b.meta.Offsets.Encode()
	return encoded(req, data, err)
}

func (b *Broker) getAllDelayOffset(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	data, err := b.meta.Delay.Encode()
	return encoded(req, data, err)
}

func (b *Broker) getAllSubscriptionGroupConfig(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	data, err := b.meta.Groups.Encode()
	return encoded(req, data, err)
}

// getBrokerRuntimeInfo answers a KVTable of what the broker knows for
// sure; every value is a string.
func (b *Broker) getBrokerRuntimeInfo(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	now := b.opts.Now()
	m := b.store.Metrics()
	up := now.Sub(b.boot)
	table := map[string]string{
		"brokerVersionDesc":      "V5_3_3",
		"brokerVersion":          strconv.Itoa(serverVersion),
		"brokerActive":           strconv.FormatBool(!b.isSlave()),
		"bootTimestamp":          itoa(b.boot.UnixMilli()),
		"runtime":                formatRuntime(up),
		"msgPutTotalTodayNow":    itoa(b.stats.putMessages.Load()),
		"msgGetTotalTodayNow":    itoa(b.stats.getMessages.Load()),
		"putMessageTimesTotal":   itoa(b.stats.putRequests.Load()),
		"getMessageTimesTotal":   itoa(b.stats.getRequests.Load()),
		"commitLogMinOffset":     itoa(m.MinOffset),
		"commitLogMaxOffset":     itoa(m.WrittenOffset),
		"commitLogFlushedOffset": itoa(m.FlushedOffset),
		"dispatchBehindBytes":    itoa(m.DispatchLag),
		"storeWritable":          strconv.FormatBool(m.Writable),
		"heldPullRequests":       strconv.Itoa(b.holder.held()),
		"topicCount":             strconv.Itoa(b.meta.Topics.Len()),
		"goroutines":             strconv.Itoa(runtime.NumGoroutine()),
	}
	body, err := json.Marshal(struct {
		Table map[string]string `json:"table"`
	}{table})
	return encoded(req, body, err)
}

// formatRuntime is Java's "[ 1 days, 2 hours, 3 minutes, 4 seconds ]".
func formatRuntime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", s/86400, s%86400/3600, s%3600/60, s%60)
}

// appendMQKey appends a MessageQueue as fastjson writes it when it is a
// map key: a bare object, fields in name order (protocol reference §6.2).
func appendMQKey(dst []byte, brokerName, topic string, qid int32) []byte {
	dst = append(dst, `{"brokerName":`...)
	dst = strconv.AppendQuote(dst, brokerName)
	dst = append(dst, `,"queueId":`...)
	dst = strconv.AppendInt(dst, int64(qid), 10)
	dst = append(dst, `,"topic":`...)
	dst = strconv.AppendQuote(dst, topic)
	return append(dst, '}')
}

// getConsumeStats answers ConsumeStats for a group over one topic, or over
// every topic it has offsets on.
func (b *Broker) getConsumeStats(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_CONSUME_STATS", req)
	group := h.str("consumerGroup")
	topic := h.opt("topic")
	if h.err != nil {
		return fail(req, h.err)
	}
	var topics []string
	if topic != "" {
		topics = []string{topic}
	} else {
		topics = b.meta.Offsets.TopicsOf(group)
	}
	body := []byte(`{"consumeTps":0.0,"offsetTable":{`)
	first := true
	for _, t := range topics {
		tc, ok := b.meta.Topics.Get(t)
		if !ok {
			continue
		}
		for qid := int32(0); qid < tc.ReadQueueNums; qid++ {
			brokerOff := b.store.MaxOffset(t, qid)
			consumerOff, ok := b.meta.Offsets.Query(group, t, qid)
			if !ok || consumerOff < 0 {
				consumerOff = 0
			}
			var last int64
			if consumerOff > 0 {
				last, _ = b.store.StoreTimeAt(t, qid, consumerOff-1)
			}
			if !first {
				body = append(body, ',')
			}
			first = false
			body = appendMQKey(body, b.opts.BrokerName, t, qid)
			body = fmt.Appendf(body, `:{"brokerOffset":%d,"consumerOffset":%d,"lastTimestamp":%d,"pullOffset":%d}`,
				brokerOff, consumerOff, last, consumerOff)
		}
	}
	body = append(body, "}}"...)
	resp := success(req)
	resp.Body = body
	return resp
}

// getTopicStatsInfo answers TopicStatsTable: the bounds of every queue.
func (b *Broker) getTopicStatsInfo(_ remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newHeader("GET_TOPIC_STATS_INFO", req)
	topic := h.str("topic")
	if h.err != nil {
		return fail(req, h.err)
	}
	tc, ok := b.meta.Topics.Get(topic)
	if !ok {
		return respond(req, remoting.ResTopicNotExist, "topic["+topic+"] not exist")
	}
	body := []byte(`{"offsetTable":{`)
	for qid := int32(0); qid < tc.WriteQueueNums; qid++ {
		minOff, maxOff := b.store.MinOffset(topic, qid), b.store.MaxOffset(topic, qid)
		var last int64
		if maxOff > 0 {
			last, _ = b.store.StoreTimeAt(topic, qid, maxOff-1)
		}
		if qid > 0 {
			body = append(body, ',')
		}
		body = appendMQKey(body, b.opts.BrokerName, topic, qid)
		body = fmt.Appendf(body, `:{"lastUpdateTimestamp":%d,"maxOffset":%d,"minOffset":%d}`, last, maxOff, minOff)
	}
	body = append(body, `},"topicPutTps":0.0}`...)
	resp := success(req)
	resp.Body = body
	return resp
}

// registeredTopicConfigs returns the topic table for registration, each
// config's perm narrowed by the broker's permission as Java does when the
// broker is not fully readable and writable (BrokerController.registerBrokerAll).
func (b *Broker) registeredTopicConfigs() []meta.TopicConfig {
	all := b.meta.Topics.All()
	if bp := b.opts.BrokerPermission; bp&(meta.PermRead|meta.PermWrite) != meta.PermRead|meta.PermWrite {
		for i := range all {
			all[i].Perm &= bp
		}
	}
	return all
}
