package broker

import (
	"strings"

	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
	"github.com/gannetmq/gannet/protocols/rocketmq/broker/schedule"
)

// System topics and prefixes (TopicValidator.java, MixAll.java).
const (
	TopicAutoCreate    = "TBW102" // template topic for auto-creation (AUTO_CREATE_TOPIC_KEY_TOPIC)
	TopicSchedule      = schedule.Topic
	topicSelfTest      = "SELF_TEST_TOPIC"
	topicBenchmark     = "BenchmarkTest"
	topicOffsetMoved   = "OFFSET_MOVED_EVENT"
	topicTransHalf     = "RMQ_SYS_TRANS_HALF_TOPIC"
	topicTransOpHalf   = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	topicTransCheckMax = "TRANS_CHECK_MAX_TIME_TOPIC"

	RetryPrefix = schedule.RetryPrefix
	DLQPrefix   = schedule.DLQPrefix
)

// Topic name limits (TopicValidator.java): 127 bytes keeps the stored
// record in the V1 layout every client decodes; group names are at most
// 120 so that %RETRY%group fits.
const (
	maxTopicLen = 127
	maxGroupLen = 120
)

// Properties the broker reads or writes (MessageConst.java).
const (
	propWait            = "WAIT"
	propDelay           = "DELAY"
	propRetryTopic      = "RETRY_TOPIC"
	propOriginMessageID = "ORIGIN_MESSAGE_ID"
	propTranMsg         = "TRAN_MSG"
	propCluster         = "CLUSTER"
	propRealTopic       = "REAL_TOPIC"
	propRealQueueID     = "REAL_QID"
)

func retryTopic(group string) string { return schedule.RetryTopic(group) }
func dlqTopic(group string) string   { return schedule.DLQTopic(group) }

// validateTopic applies TopicValidator.validateTopic; the failures are
// SYSTEM_ERROR as in 4.x (5.x answers INVALID_PARAMETER, which the Go
// client does not retry).
func validateTopic(topic string) *codeError {
	switch {
	case strings.TrimSpace(topic) == "":
		return errorf(remoting.ResSystemError, "The specified topic is blank.")
	case len(topic) > maxTopicLen:
		return errorf(remoting.ResSystemError, "The specified topic is longer than topic max length %d.", maxTopicLen)
	case !meta.ValidName(topic):
		return errorf(remoting.ResSystemError, "The specified topic[%s] contains illegal characters, allowing only ^[%%|a-zA-Z0-9_-]+$", topic)
	}
	return nil
}

// validateGroup checks a consumer group name: the topic rules, at most
// 120 characters, so that its retry topic is a valid topic.
func validateGroup(group string) *codeError {
	switch {
	case group == "":
		return errorf(remoting.ResSystemError, "the consumer group is blank")
	case len(group) > maxGroupLen:
		return errorf(remoting.ResSystemError, "the consumer group %q is longer than %d characters", group, maxGroupLen)
	case !meta.ValidName(group):
		return errorf(remoting.ResSystemError, "the consumer group %q contains illegal characters, allowing only ^[%%|a-zA-Z0-9_-]+$", group)
	}
	return nil
}

// notAllowedSend lists the topics producers may not write
// (TopicValidator.isNotAllowedSendTopic).
func notAllowedSend(topic string) bool {
	switch topic {
	case TopicSchedule, topicTransHalf, topicTransOpHalf, topicTransCheckMax, topicSelfTest, topicOffsetMoved:
		return true
	}
	return false
}

// isSystemTopic reports topics that admin requests must not delete.
func (b *Broker) isSystemTopic(topic string) bool {
	switch topic {
	case TopicAutoCreate, TopicSchedule, topicSelfTest, topicBenchmark, topicOffsetMoved,
		topicTransHalf, topicTransOpHalf, topicTransCheckMax, b.opts.ClusterName, b.opts.BrokerName:
		return true
	}
	return false
}

// createStartupTopics adds the topics a Java broker creates at start
// (TopicConfigManager's constructor) where the table has no entry yet; an
// entry loaded from topics.json wins, as in Java.
func (b *Broker) createStartupTopics() {
	perm := func(enabled bool) int32 {
		if enabled {
			return meta.PermInherit | meta.PermRead | meta.PermWrite
		}
		return meta.PermInherit
	}
	type startup struct {
		name   string
		queues int32
		perm   int32
	}
	list := []startup{
		{topicSelfTest, 1, meta.PermRead | meta.PermWrite},
		{topicBenchmark, 1024, meta.PermRead | meta.PermWrite},
		{b.opts.ClusterName, 16, perm(b.opts.ClusterTopicEnable)},
		{b.opts.BrokerName, 1, perm(b.opts.BrokerTopicEnable)},
		{topicOffsetMoved, 1, meta.PermRead | meta.PermWrite},
		{TopicSchedule, int32(max(18, b.sched.Levels().Len())), meta.PermRead | meta.PermWrite},
		{b.opts.ClusterName + "_REPLY_TOPIC", 1, meta.PermRead | meta.PermWrite},
	}
	if b.opts.AutoCreateTopicEnable {
		list = append(list, startup{TopicAutoCreate, b.opts.DefaultTopicQueueNums, meta.PermInherit | meta.PermRead | meta.PermWrite})
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	for _, s := range list {
		if _, ok := b.meta.Topics.Get(s.name); ok || validateTopic(s.name) != nil {
			continue
		}
		c := meta.NewTopicConfig(s.name, s.queues)
		c.Perm = s.perm
		b.meta.Topics.Put(c)
	}
}

// topicForSend returns the config of topic, creating it from defaultTopic
// when that topic exists and may be inherited
// (TopicConfigManager.createTopicInSendMessageMethod); ok is false when the
// topic does not exist and cannot be created.
func (b *Broker) topicForSend(topic, defaultTopic string, defaultQueueNums int32) (meta.TopicConfig, bool) {
	if c, ok := b.meta.Topics.Get(topic); ok {
		return c, true
	}
	b.topicMu.Lock()
	if c, ok := b.meta.Topics.Get(topic); ok {
		b.topicMu.Unlock()
		return c, true
	}
	def, ok := b.meta.Topics.Get(defaultTopic)
	if !ok || defaultTopic == "" {
		b.topicMu.Unlock()
		b.log.Warn("cannot auto-create topic: the default topic does not exist", "topic", topic, "default_topic", defaultTopic)
		return meta.TopicConfig{}, false
	}
	if defaultTopic == TopicAutoCreate && !b.opts.AutoCreateTopicEnable {
		def.Perm = meta.PermRead | meta.PermWrite // a TBW102 left from a run with auto-creation on
	}
	if def.Perm&meta.PermInherit == 0 {
		b.topicMu.Unlock()
		b.log.Warn("cannot auto-create topic: the default topic may not be inherited", "topic", topic, "default_topic", defaultTopic, "perm", def.Perm)
		return meta.TopicConfig{}, false
	}
	queues := max(min(defaultQueueNums, def.WriteQueueNums), 1)
	c := meta.NewTopicConfig(topic, queues)
	c.Perm = def.Perm &^ meta.PermInherit
	c.TopicFilterType = def.TopicFilterType
	b.meta.Topics.Put(c)
	b.topicMu.Unlock()
	b.log.Info("topic auto-created", "topic", topic, "default_topic", defaultTopic, "queues", queues)
	b.topicsChanged()
	return c, true
}

// topicForSendBack returns the config of a retry or dead-letter topic,
// creating it with queues queues and perm when missing
// (TopicConfigManager.createTopicInSendMessageBackMethod).
func (b *Broker) topicForSendBack(topic string, queues, perm int32) meta.TopicConfig {
	if c, ok := b.meta.Topics.Get(topic); ok {
		return c
	}
	b.topicMu.Lock()
	if c, ok := b.meta.Topics.Get(topic); ok {
		b.topicMu.Unlock()
		return c
	}
	c := meta.NewTopicConfig(topic, max(queues, 1))
	c.Perm = perm
	b.meta.Topics.Put(c)
	b.topicMu.Unlock()
	b.log.Info("topic created", "topic", topic, "queues", c.WriteQueueNums, "perm", perm)
	b.topicsChanged()
	return c
}

// groupConfig returns the subscription group config of group, creating it
// when auto-creation is on (SubscriptionGroupManager.findSubscriptionGroupConfig).
func (b *Broker) groupConfig(group string) (meta.SubscriptionGroupConfig, bool) {
	if c, ok := b.meta.Groups.Get(group); ok {
		return c, true
	}
	if !b.opts.AutoCreateSubscriptionGroup || validateGroup(group) != nil {
		return meta.SubscriptionGroupConfig{}, false
	}
	c, created := b.meta.Groups.GetOrCreate(group)
	if created {
		b.log.Info("subscription group auto-created", "group", group)
	}
	return c, true
}

// TopicsChanged tells the broker that another front end changed the
// topic table (the MQTT front end creating a topic): the name servers
// learn it now rather than at the next periodic registration.
func (b *Broker) TopicsChanged() { b.topicsChanged() }

// topicsChanged asks RegisterLoop to register with the name servers now.
func (b *Broker) topicsChanged() {
	select {
	case b.registerNow <- struct{}{}:
	default:
	}
}
