// Package consumequeue owns RocketMQ's ConsumeQueue: for each (topic,
// queueId) a logical array of fixed-size units that point into the CommitLog,
// so that a consumer can read a queue by its logical offset without scanning
// the log (protocol reference §5.2, RocketMQ store/ConsumeQueue.java).
//
// One unit, 20 bytes, big-endian (CQ_STORE_UNIT_SIZE):
//
//	0                   8            12                  20
//	+-------------------+------------+-------------------+
//	| commitLogOffset   | size       | tagsCode          |
//	| int64             | int32      | int64             |
//	+-------------------+------------+-------------------+
//
// tagsCode is the Java String.hashCode of the TAGS property (0 without tags),
// or the delivery time in ms for SCHEDULE_TOPIC_XXXX. A unit whose size is 0
// is empty: real messages are never 0 bytes, so a zero unit is a hole that a
// crash left between units written out of order by the page cache.
//
// Queue offset N lives at byte N*20 of the queue's stream, which is cut into
// files of unitsPerFile units (300 000 by default, 6 000 000 bytes), each
// named by the 20-digit byte offset of its first unit in the stream:
//
//	<root>/<topic>/<queueId>/00000000000000000000   queue offsets      0 .. 299 999
//	<root>/<topic>/<queueId>/00000000000006000000   queue offsets 300 000 .. 599 999
//	<root>/<topic>/<queueId>/00000000000012000000   ...
//
// The files of a queue are contiguous. Retention removes whole files from the
// front (DeleteFilesBefore), recovery removes them from the back
// (TruncatePhysical); MinOffset and MaxOffset bound what readers may ask for.
//
// Concurrency. One writer goroutine (the engine's dispatcher) calls Put,
// TruncatePhysical and Set.GetOrCreate; any goroutine calls Get, Unit,
// LastUnit, MaxOffset, MinOffset, SearchOffset, Set.Lookup and Set.ForEach; a
// retention goroutine calls DeleteFilesBefore and Set.DeleteTopic; Flush may
// run anywhere. Put stores a unit's bytes before it publishes the new
// MaxOffset with an atomic store, so a reader that loads MaxOffset sees every
// unit below it. Readers copy units out under the queue's read lock, and
// files are unmapped only under its write lock, so no caller ever holds a
// view into a mapping. The dispatcher loop is:
//
//	q, err := set.GetOrCreate(topic, queueID)
//	err = q.Put(queueOffset, consumequeue.Unit{PhysicalOffset: off, Size: size, TagsCode: tags})
//	...
//	err = set.Flush() // from the flusher, every flushIntervalConsumeQueue
//
// and a pull is:
//
//	var buf [32]consumequeue.Unit
//	units, err := set.Lookup(topic, queueID).Get(offset, buf[:0])
//
// Lock order, outermost first: Set.createMu, Set.mu, Queue.flushMu, Queue.mu.
package consumequeue
