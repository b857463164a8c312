// Package replication streams CommitLog byte ranges from a master to its
// slaves and tracks which slaves are in sync.
//
// Not built yet.
package replication
