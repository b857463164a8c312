// Package controller is Gannet's RocketMQ-5-style controller: it decides,
// for every broker group (brokerName), which broker is master, and keeps
// the group's SyncStateSet, the replicas in sync with that master.
// Several controllers replicate that state with github.com/hashicorp/raft
// (a maintained Raft: consensus is not written here), with the log and
// stable store in raft-boltdb and snapshots in a FileSnapshotStore under
// Config.Dir. It imports protocols/remoting only.
//
// # State
//
// Replicated, per group, changed only by raft log entries applied in order
// on every controller:
//
//	brokers            id → client addr, HA addr
//	masterId           -1: none
//	masterEpoch        int32, +1 on every master change (elected or removed)
//	syncStateSet       sorted ids; holds the master when there is one
//	syncStateSetEpoch  +1 on every change of the set
//	note               why there is no master
//
// A log entry is one kind byte (1 register, 2 elect, 3 alter the set)
// and the command's JSON. Liveness is not replicated: only the leader
// knows when each broker last heartbeated, with its MaxOffset and epoch,
// and a new leader gives every broker a fresh grace period of one
// BrokerHeartbeatTimeout. So the leader decides an election from its
// liveness and the log records the decision with the epoch it was taken
// at; an entry whose epoch is no longer current changes nothing.
//
// # Leader loop
//
//	every ScanInterval, on the leader only:
//	    for each group:
//	        if its master is alive: nothing
//	        elect the alive SyncStateSet member (not the old master) with
//	            the largest MaxOffset: masterEpoch+1, set = {it}, setEpoch+1
//	        else if EnableElectUncleanMaster: the alive broker with the
//	            largest MaxOffset, logged as an unclean election
//	        else masterId = -1 with a note, and keep looking
//
// A heartbeat registers its broker, elects it when the group never had a
// master, and elects a set member come back alive when the group has
// none. An AlterSyncStateSet is accepted only from the master at the
// current masterEpoch, naming registered, alive brokers and keeping the
// master.
//
// # RPC
//
// The remoting protocol, JSON bodies and answers, RocketMQ's codes:
//
//	904  BROKER_HEARTBEAT                  Heartbeat                       → GroupState
//	1001 CONTROLLER_ALTER_SYNC_STATE_SET   {brokerName, masterId,          → GroupState
//	                                        masterEpoch, syncStateSet}
//	1002 CONTROLLER_ELECT_MASTER           {brokerName, brokerId}          → GroupState
//	1004 CONTROLLER_GET_REPLICA_INFO       {brokerName}                    → GroupState
//	1006 CONTROLLER_GET_SYNC_STATE_DATA    {brokerNames?}                  → [GroupState]
//
// Refusals use the CONTROLLER_* response codes (2000 fenced master epoch,
// 2002 invalid master, 2003 invalid replicas, 2006 broker not alive,
// 2008 group unknown, 2012 elect failed, ...) and still carry the group's
// state. A follower answers 2007 CONTROLLER_NOT_LEADER with the leader's
// RPC address in extField "leaderAddr"; Client follows it.
package controller
