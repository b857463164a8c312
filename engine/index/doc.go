// Package index owns the message index: RocketMQ's IndexFile, which finds
// the CommitLog offsets of messages by key (each KEYS entry and the UNIQ_KEY,
// under topic+"#"+key) and store time, for QUERY_MESSAGE by key and by
// unique key. It imports only engine/internal.
//
// The dispatcher calls Put for every key of every message it reads from the
// CommitLog; queries call Lookup and check each candidate offset against the
// stored message; retention calls DeleteFilesBefore with the CommitLog's
// lowest offset:
//
//	x, err := index.Open(index.Options{Dir: dir})
//	for each dispatched message m, for each key k of m {
//		err = x.Put(m.Topic, k, m.PhyOffset, m.StoreTimestamp)
//	}
//	offs := x.Lookup(topic, key, beginMs, endMs, 32, nil) // newest first
//	x.Flush()                                           // periodically
//	x.DeleteFilesBefore(commitLogMinOffset)
//
// # File layout
//
// Files are named by their creation time, yyyyMMddHHmmssSSS in local time
// like Java's, made unique and ascending. Each is created at its full size,
// sparse, and mapped; all integers are big-endian (docs/rocketmq-protocol.md
// §5.4):
//
//	0        8        16       24       32   36   40
//	+--------+--------+--------+--------+----+----+
//	|beginTs |endTs   |beginPhy|endPhy  |puts|cnt |  header, 40 bytes
//	+--------+--------+--------+--------+----+----+
//	| slot 0 | slot 1 | ...  | slot S-1 |              S × int32: newest item
//	+--------+--------+------+----------+              number of the bucket, 0 = none
//	| item 0 (unused) | item 1 | ... | item N-1 |      N × 20 bytes
//	+-----------------+--------+-----+----------+
//
//	item: keyHash int32 | phyOffset int64 | timeDiff int32 | prevIndex int32
//
// keyHash is abs(Java String.hashCode(topic+"#"+key)) (0 for MinInt32), the
// bucket is keyHash % S, timeDiff is the store time in seconds after beginTs
// (clamped to [0, MaxInt32]), and prevIndex links to the bucket's previous
// head, so each bucket is a chain from newest to oldest item. cnt (Java's
// indexCount) is the next item number, 1 in an empty file; puts (Java's
// hashSlotCount, a misnomer) counts the items. A file takes N-1 items; the
// next Put then starts a new file. endTs and endPhy are the highest store
// time and offset in the file.
//
// Files are read as untrusted: Open checks each file's size and header (and
// drops a newest file left short and empty by a crash while it was being
// created), and chain walks stop at any link out of range or not strictly backwards, so a
// corrupt file yields wrong candidates at worst, never a loop or a panic.
// Stores and loads through the mapping run with debug.SetPanicOnFault, so
// SIGBUS (a full disk under a sparse file, a file truncated by someone else)
// becomes an error instead of a crash.
//
// # Concurrency
//
// One sync.RWMutex guards the file list and every file's header and bytes:
// Put (a single writer, the dispatcher), DeleteFilesBefore and Close take it
// for writing, Lookup, EndPhyOffset and Files for reading. Flush takes it only
// to collect the files written since the last Flush and syncs them outside it,
// so neither writer nor readers wait for the disk; a second mutex, taken
// first, keeps DeleteFilesBefore and Close from unmapping a file while Flush
// syncs it.
package index
