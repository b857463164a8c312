// Package message owns RocketMQ's stored-message layout: the record a
// CommitLog segment holds and a PULL response carries unchanged. It encodes a
// Message into a buffer the caller sizes and owns, decodes records as views
// into the caller's bytes, and reads the properties string, the Java string
// hashes and the offset message ids derived from a record. It does no I/O and
// imports nothing of Gannet.
//
// A record, all integers big-endian (offsets for IPv4 hosts; an IPv6 host is
// 16+4 bytes instead of 4+4 and shifts every later field by 12):
//
//	 0 +----------------------------+
//	   | TOTALSIZE           int32  |  whole record, this field included
//	 4 | MAGICCODE           int32  |  MagicV1, MagicV2 or MagicBlank
//	 8 | BODYCRC             int32  |  crc32.ChecksumIEEE(BODY) & 0x7FFFFFFF
//	12 | QUEUEID             int32  |
//	16 | FLAG                int32  |  user flag
//	20 | QUEUEOFFSET         int64  |  index of the unit in the ConsumeQueue
//	28 | PHYSICALOFFSET      int64  |  CommitLog offset of this record
//	36 | SYSFLAG             int32  |  0x10 born host IPv6, 0x20 store host IPv6
//	40 | BORNTIMESTAMP       int64  |  ms
//	48 | BORNHOST    4|16 + 4 bytes |  address, int32 port
//	56 | STORETIMESTAMP      int64  |  ms
//	64 | STOREHOST   4|16 + 4 bytes |
//	72 | RECONSUMETIMES      int32  |
//	76 | PREPAREDTRANSACTIONOFFSET  |  int64
//	84 | BODYLENGTH          int32  |
//	88 | BODY                       |  BODYLENGTH bytes
//	   | TOPICLENGTH  1 (V1) | 2 (V2)|  V2 only for topics over 127 bytes
//	   | TOPIC                      |
//	   | PROPERTIESLENGTH    int16  |
//	   | PROPERTIES                 |  "name\x01value\x02" repeated
//	   +----------------------------+
//
// With IPv4 hosts and a V1 topic length the fixed part is 91 bytes. A blank
// record (MagicBlank) is only TOTALSIZE and MAGICCODE: it pads the tail of a
// segment that the next record does not fit, and TOTALSIZE covers the padding.
//
// The write and read loops of a CommitLog look like this:
//
//	n := message.EncodedSize(&m, storeHost.IPv6)
//	message.Encode(seg[pos:pos+n], &m, &stamp) // stamp fixes offsets and times
//
//	for {
//		rec, err := message.Parse(seg[pos:], checkCRC)
//		if err != nil {
//			break // the tail: truncated, torn or corrupt
//		}
//		if rec.IsBlank() {
//			break // continue in the next segment
//		}
//		dispatch(rec.Topic(), rec.QueueID(), rec.QueueOffset())
//		pos += int(rec.TotalSize())
//	}
//
// Lifetimes: a Record and every slice its accessors return point into the
// bytes given to Parse, and stay valid exactly as long as those bytes do (for
// a mapped segment, while the caller holds its pin). Nothing here copies or
// retains them.
//
// The layout follows Apache RocketMQ: MessageExtEncoder.java (encode,
// calMsgLength), CommitLog.java (checkMessageAndReturnSize) and
// MessageDecoder.java (decode, createMessageId).
package message
