// Package replication streams CommitLog byte ranges from a master to its
// slaves with RocketMQ's classic HA protocol (docs: rocketmq-protocol.md §7.1)
// and tracks how far each slave has acknowledged.
//
// Wire format, on a TCP connection (the master's haListenPort):
//
//	slave → master: int64 big-endian, the slave's max CommitLog offset
//	                (at connect, after every stored chunk, and every 5 s)
//	master → slave: int64 phyOffset ‖ int32 bodySize, then bodySize raw
//	                CommitLog bytes (≤ haTransferBatchSize, 1 MiB); bodySize 0
//	                is a heartbeat; phyOffset -1 is a refusal whose body
//	                says why (Gannet's addition: the slave stops)
//
// The connections use Go's net package, not netpoll: a slave is one
// long-lived bulk stream, read straight into the buffer it is stored from
// and written from the mapped segment with writev. Dialled through netpoll
// (one more copy through its buffers), a slave's catch-up measured
// 157-421 MB/s against 429-517 MB/s on the same machine.
//
// The bookkeeping — which slaves are connected, their acknowledged offsets,
// where streaming to a new slave starts, which slaves are refused, and which
// SYNC_MASTER waiters are satisfied — lives in Machine, a deterministic state
// machine driven by Step. Master and Slave do the I/O around it.
package replication
