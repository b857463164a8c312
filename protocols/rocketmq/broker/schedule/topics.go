package schedule

import (
	"strconv"
	"strings"

	"github.com/gannetmq/gannet/engine/message"
)

// Topic is the system topic that holds delayed messages until they are due;
// queue id level-1 holds the messages of delay level level
// (TopicValidator.RMQ_SYS_SCHEDULE_TOPIC). The broker creates it at start
// with one queue per level (18 by default).
const Topic = "SCHEDULE_TOPIC_XXXX"

// Topic prefixes of a consumer group's retry and dead-letter topics
// (MixAll.RETRY_GROUP_TOPIC_PREFIX, MixAll.DLQ_GROUP_TOPIC_PREFIX).
const (
	RetryPrefix = "%RETRY%"
	DLQPrefix   = "%DLQ%"
)

// transHalfTopic holds transactional half messages; a scheduled message
// whose real topic is this one is dropped, as RocketMQ does.
const transHalfTopic = "RMQ_SYS_TRANS_HALF_TOPIC"

// Property names this package reads and writes (MessageConst.java).
const (
	PropertyDelay       = message.PropertyDelay // DELAY: delay level, 1-based
	PropertyRealTopic   = "REAL_TOPIC"          // destination of a parked message
	PropertyRealQueueID = "REAL_QID"            // its queue id, decimal

	// 5.x timer properties: dropped when a message also has DELAY
	// (HookUtils.checkIfTimerMessage) and when a delayed message is
	// delivered (ScheduleMessageService.messageTimeUp).
	propertyTimerDeliverMs = "TIMER_DELIVER_MS"
	propertyTimerDelaySec  = "TIMER_DELAY_SEC"
	propertyTimerDelayMs   = "TIMER_DELAY_MS"
)

// RetryTopic is the retry topic of a consumer group: "%RETRY%"+group.
func RetryTopic(group string) string { return RetryPrefix + group }

// DLQTopic is the dead-letter topic of a consumer group: "%DLQ%"+group.
func DLQTopic(group string) string { return DLQPrefix + group }

// IsRetryTopic reports whether topic is a retry topic.
func IsRetryTopic(topic string) bool { return strings.HasPrefix(topic, RetryPrefix) }

// IsDLQTopic reports whether topic is a dead-letter topic.
func IsDLQTopic(topic string) bool { return strings.HasPrefix(topic, DLQPrefix) }

// PropertyLevel is the delay level a message's DELAY property asks for, 0
// when it has none or it is not a number (Java's getDelayTimeLevel would
// throw; a message that cannot be delayed is stored as it is).
func PropertyLevel(props []byte) int {
	v, ok := message.Property(props, PropertyDelay)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0
	}
	return n
}

// RetryLevel applies RocketMQ's CONSUMER_SEND_MSG_BACK rule
// (AbstractSendMessageProcessor.consumerSendMsgBack, protocol doc §3.3.6):
// a message that has been reconsumed maxReconsumeTimes times already, or
// whose requested delayLevel is negative, goes to the group's DLQ
// (dlq true, level 0); otherwise it goes to the group's retry topic with
// delayLevel, or 3+reconsumeTimes when delayLevel is 0. Delay clamps a level
// beyond the last.
func RetryLevel(delayLevel, reconsumeTimes, maxReconsumeTimes int) (level int, dlq bool) {
	if reconsumeTimes >= maxReconsumeTimes || delayLevel < 0 {
		return 0, true
	}
	if delayLevel == 0 {
		delayLevel = 3 + reconsumeTimes
	}
	return delayLevel, false
}

// appendWithout appends the pairs of props to dst, leaving out every pair
// whose name is in names. It keeps the other pieces byte for byte, drops
// empty pieces and ends every piece with \x02, as message.DeleteProperty
// does for one name. dst must not overlap props.
func appendWithout(dst, props []byte, names ...string) []byte {
	for len(props) > 0 {
		piece := props
		props = nil
		for i, c := range piece {
			if c == message.PropertySeparator {
				piece, props = piece[:i], piece[i+1:]
				break
			}
		}
		if len(piece) == 0 || hasName(piece, names) {
			continue
		}
		dst = append(dst, piece...)
		dst = append(dst, message.PropertySeparator)
	}
	return dst
}

// hasName reports whether piece is a well-formed pair (as Java reads them:
// a non-empty name and value) named one of names.
func hasName(piece []byte, names []string) bool {
	k := -1
	for i, c := range piece {
		if c == message.NameValueSeparator {
			k = i
			break
		}
	}
	if k <= 0 || k == len(piece)-1 {
		return false
	}
	for _, n := range names {
		if string(piece[:k]) == n {
			return true
		}
	}
	return false
}
