// Package schedule owns RocketMQ's delayed delivery by delay level
// (ScheduleMessageService) on Gannet's engine, and the names of the topics
// it involves: SCHEDULE_TOPIC_XXXX and a consumer group's %RETRY% and %DLQ%
// topics.
//
// A message sent with DELAY=L (or sent back by a consumer for retry) is not
// stored on its topic. The send processor rewrites it with Delay before the
// append: it goes to queue L-1 of SCHEDULE_TOPIC_XXXX, its destination kept
// in the REAL_TOPIC and REAL_QID properties. Run follows every level's
// queue and, when a message is due (store timestamp + the level's delay <=
// now), appends it again to REAL_TOPIC/REAL_QID with the same body, flag,
// sysflag, born timestamp and host and reconsume times, without DELAY and
// the 5.x timer properties. As in Java, REAL_TOPIC and REAL_QID stay on the
// delivered message.
//
//	levels, err := schedule.ParseLevels(cfg.MessageDelayLevel)
//	svc := schedule.New(store, levels, logger)
//	go svc.Run(stop)                       // master only
//
//	// in the send processor, for a plain or commit message:
//	if level := schedule.PropertyLevel(m.Properties); level > 0 {
//		svc.Delay(&m, level)
//	}
//	store.Submit(&engine.Request{Msgs: []message.Message{m}, Done: done})
//
// Each level is one goroutine:
//
//	offset := delayOffset.json[level]
//	loop:
//		read up to 32 messages of SCHEDULE_TOPIC_XXXX/level-1 from offset
//		for each: not due → sleep until it is (at most 100 ms); due → Append
//		    to its real topic; failed → retry the same message in 100 ms
//		offset = past what was delivered
//		save offset once the CommitLog is flushed past those deliveries
//
// Messages of one level leave in the order they were parked; a message of
// a shorter level may overtake one of a longer level.
//
// Durability: a level's offset is saved (store.Meta().Delay, written to
// delayOffset.json by the engine every flushIntervalConsumeQueue and at
// close) only after the messages delivered before it are in the flushed
// CommitLog, so no message is lost across a crash. A crash after a
// delivery and before its offset is saved delivers that message again
// after the restart: delivery is at least once, not exactly once. A clean
// stop (close stop, wait for Run, then Store.Close) saves every offset and
// delivers nothing twice.
//
// Delays are measured from the message's store timestamp, so a message
// parked before a restart keeps its due time. If the clock goes back, a
// message is not held longer than its delay (ScheduleMessageService's
// correctDeliverTimestamp). Unlike Java, the ConsumeQueue unit's tags code
// holds the tag hash, not the delivery time: the service reads the store
// timestamp from the message itself.
package schedule
