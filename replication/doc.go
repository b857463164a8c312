// Package replication streams CommitLog byte ranges from a master to its
// slaves with RocketMQ's classic HA protocol (docs: rocketmq-protocol.md §7.1)
// and tracks how far each slave has acknowledged.
//
// Wire format, on a plain TCP connection (the master's haListenPort):
//
//	slave → master: int64 big-endian, the slave's max CommitLog offset
//	                (at connect, after every stored chunk, and every 5 s)
//	master → slave: int64 phyOffset ‖ int32 bodySize, then bodySize raw
//	                CommitLog bytes (≤ 32 KiB); bodySize 0 is a heartbeat
//
// The bookkeeping — which slaves are connected, their acknowledged offsets,
// where streaming to a new slave starts, which slaves are refused, and which
// SYNC_MASTER waiters are satisfied — lives in Machine, a deterministic state
// machine driven by Step. Master and Slave do the I/O around it.
package replication
