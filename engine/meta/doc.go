// Package meta owns the broker metadata RocketMQ keeps as JSON files in
// <storePathRootDir>/config/: topic configs, consumer offsets,
// subscription groups and delay-level offsets. File names and JSON shapes
// are RocketMQ's (rocketmq-protocol.md §5.6), so an operator can carry the
// files between a Java broker and Gannet, and a slave can copy a master's
// tables with the same bodies (§7.3).
//
// Usage:
//
//	s, err := meta.Open(meta.Options{Dir: filepath.Join(root, "config"), Logger: log})
//	s.Topics.Put(meta.NewTopicConfig("orders", 8))
//	s.Offsets.Commit("billing", "orders", 3, 1200) // hot path: no allocation
//	for range ticker.C {                            // flushConsumerOffsetInterval
//		err = s.Persist()                           // writes only what changed
//	}
//	err = s.Close()
//
// Files (keys shown quoted as Gannet writes them; every table also has a
// "dataVersion":{"counter":N,"stateVersion":0,"timestamp":ms}):
//
//	topics.json            {"dataVersion":{…},
//	                        "topicConfigTable":{"<topic>":{"topicName":"<topic>",
//	                          "readQueueNums":4,"writeQueueNums":4,"perm":6,
//	                          "topicFilterType":"SINGLE_TAG","topicSysFlag":0,
//	                          "order":false,"attributes":{}}}}
//	consumerOffset.json    {"offsetTable":{"<topic>@<group>":{"<queueId>":<offset>}},
//	                        "dataVersion":{…}}
//	subscriptionGroup.json {"subscriptionGroupTable":{"<group>":{"groupName":"<group>",
//	                          "consumeEnable":true,…,"consumeTimeoutMinute":15,
//	                          "attributes":{}}},
//	                        "forbiddenTable":{},"dataVersion":{…}}
//	delayOffset.json       {"offsetTable":{"<delayLevel>":<offset>},"dataVersion":{…}}
//
// Writing. Files are indented with tabs like fastjson's pretty format but
// always quote their keys, so they are valid JSON. Before each replace the
// previous content is copied to <file>.bak, as RocketMQ does; the file
// itself is replaced through a temporary file, fsync, rename and directory
// fsync, so a crash leaves the old version or the new one, never a mix.
// Each table counts its mutations; Persist writes a table only when the
// count moved since its last write, and a change made while the file is
// being written keeps the table dirty for the next Persist.
//
// Reading. fastjson writes maps with non-string keys with bare keys
// ({0:12,1:40}); a pre-pass quotes them before encoding/json sees the text
// (quoteKeys). Unknown fields are ignored. A missing or broken main file
// falls back to <file>.bak with a warning (RocketMQ's ConfigManager does
// the same); neither present gives an empty table; a broken file without
// a good backup is an error naming both.
//
// Locking. Each table has one sync.RWMutex guarding its map, data
// version and change count; the four tables are independent. Persisting a
// file also takes that file's writeMu, always before the table's mutex.
package meta
