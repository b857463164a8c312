package message

import (
	"encoding/binary"
)

// Error is a reason Parse rejects bytes. The values are comparable constants,
// so errors.Is works and returning one allocates nothing; errors.As with an
// *Error tells a damaged record from other failures.
type Error uint8

// Reasons Parse rejects bytes. Recovery treats all of them alike: the valid
// log ends before these bytes.
const (
	// ErrTruncated: fewer bytes than a record header, or than TOTALSIZE says.
	ErrTruncated Error = iota + 1
	// ErrBadMagic: MAGICCODE is none of MagicV1, MagicV2, MagicBlank.
	ErrBadMagic
	// ErrBadLength: a length is negative or out of range, or the fields do
	// not add up to TOTALSIZE.
	ErrBadLength
	// ErrBadCRC: BODYCRC does not match the body.
	ErrBadCRC
)

func (e Error) Error() string {
	switch e {
	case ErrTruncated:
		return "message: truncated record"
	case ErrBadMagic:
		return "message: bad magic code"
	case ErrBadLength:
		return "message: record lengths do not add up"
	case ErrBadCRC:
		return "message: body crc mismatch"
	}
	return "message: bad record"
}

// Record is a view of one stored record. Buf is exactly the record's bytes
// (TOTALSIZE long) and aliases the slice given to Parse; the accessors read
// it in place and the slices they return alias it too, with their capacity
// cut so an append cannot spill into the next field. A Record is valid while
// those bytes are; see the package doc.
//
// The message accessors assume a record Parse accepted and that is not
// blank.
type Record struct {
	Buf []byte

	// Positions of the fields after the variable-length hosts; all zero
	// for a blank record.
	storeTimestamp int // STORETIMESTAMP, after the born host
	reconsumeTimes int // RECONSUMETIMES, after the store host
	body           int // BODY
	bodyEnd        int // the topic length field
	topic          int // TOPIC
	props          int // PROPERTIES; they end at len(Buf)
}

// PeekHeader reads TOTALSIZE and MAGICCODE from the first 8 bytes of b, and
// reports false if b is shorter. It validates nothing.
func PeekHeader(b []byte) (size int32, magic int32, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	return int32(binary.BigEndian.Uint32(b[OffTotalSize:])), int32(binary.BigEndian.Uint32(b[OffMagic:])), true
}

// Parse decodes the record at the start of b, which may continue past it.
// Every length is bounded before it is used, so any input is safe. For a
// blank record only TOTALSIZE is checked and IsBlank reports true. For a
// message the fields must add up exactly to TOTALSIZE (as Java's
// CommitLog.checkMessageAndReturnSize requires) and, if checkCRC is set, the
// body must match BODYCRC.
//
// A V1 topic length above 127 is rejected: Java reads that byte signed and
// never writes such a record. A V2 record with a short topic is accepted,
// since Java reads it, though Encode would lay it out as V1. Parse allocates
// nothing.
func Parse(b []byte, checkCRC bool) (Record, error) {
	size, magic, ok := PeekHeader(b)
	if !ok {
		return Record{}, ErrTruncated
	}
	var topicLenLen int
	switch magic {
	case MagicBlank:
		if size < BlankMinSize {
			return Record{}, ErrBadLength
		}
		if int64(size) > int64(len(b)) {
			return Record{}, ErrTruncated
		}
		return Record{Buf: b[:size:size]}, nil
	case MagicV1:
		topicLenLen = 1
	case MagicV2:
		topicLenLen = 2
	default:
		return Record{}, ErrBadMagic
	}
	// The smallest header comes first, so SYSFLAG can be read before the
	// host lengths are known.
	if size < MinHeaderLen-1+int32(topicLenLen) {
		return Record{}, ErrBadLength
	}
	if int64(size) > int64(len(b)) {
		return Record{}, ErrTruncated
	}
	be := binary.BigEndian
	r := Record{Buf: b[:size:size]}
	buf := r.Buf
	n := int(size)

	sysFlag := int32(be.Uint32(buf[OffSysFlag:]))
	r.storeTimestamp = OffBornHost + hostLen(sysFlag&SysFlagBornHostV6 != 0)
	r.reconsumeTimes = r.storeTimestamp + 8 + hostLen(sysFlag&SysFlagStoreHostV6 != 0)
	r.body = r.reconsumeTimes + 4 + 8 + 4
	// header is every byte but body, topic and properties.
	header := r.body + topicLenLen + 2
	if n < header {
		return Record{}, ErrBadLength
	}
	bodyLen := int32(be.Uint32(buf[r.body-4:]))
	if bodyLen < 0 || int(bodyLen) > n-header {
		return Record{}, ErrBadLength
	}
	r.bodyEnd = r.body + int(bodyLen)
	var topicLen int
	if topicLenLen == 1 {
		topicLen = int(buf[r.bodyEnd])
		if topicLen > MaxTopicLenV1 {
			return Record{}, ErrBadLength
		}
	} else {
		topicLen = int(int16(be.Uint16(buf[r.bodyEnd:])))
	}
	if topicLen < 0 || topicLen > n-header-int(bodyLen) {
		return Record{}, ErrBadLength
	}
	r.topic = r.bodyEnd + topicLenLen
	propsLenAt := r.topic + topicLen
	propsLen := int(int16(be.Uint16(buf[propsLenAt:])))
	r.props = propsLenAt + 2
	if propsLen < 0 || r.props+propsLen != n {
		return Record{}, ErrBadLength
	}
	if checkCRC && BodyCRC(buf[r.body:r.bodyEnd]) != int32(be.Uint32(buf[OffBodyCRC:])) {
		return Record{}, ErrBadCRC
	}
	return r, nil
}

func (r *Record) int32At(p int) int32 { return int32(binary.BigEndian.Uint32(r.Buf[p:])) }
func (r *Record) int64At(p int) int64 { return int64(binary.BigEndian.Uint64(r.Buf[p:])) }

// hostAt reads the host ending at end (its port is the last 4 bytes).
func (r *Record) hostAt(p, end int) Host {
	var h Host
	h.IPv6 = end-p == hostLenV6
	copy(h.IP[:], r.Buf[p:end-4])
	h.Port = r.int32At(end - 4)
	return h
}

// The accessors below read the fields of the layout in the package doc, in
// place; the integer ones cost a bounds check and a load each.

// TotalSize is TOTALSIZE: the record's length, and for a blank record the
// rest of the segment.
func (r *Record) TotalSize() int32 { return r.int32At(OffTotalSize) }
func (r *Record) Magic() int32     { return r.int32At(OffMagic) }

// IsBlank reports an end-of-segment filler, which has no other fields.
func (r *Record) IsBlank() bool  { return r.Magic() == MagicBlank }
func (r *Record) BodyCRC() int32 { return r.int32At(OffBodyCRC) }
func (r *Record) QueueID() int32 { return r.int32At(OffQueueID) }
func (r *Record) Flag() int32    { return r.int32At(OffFlag) }
func (r *Record) SysFlag() int32 { return r.int32At(OffSysFlag) }

func (r *Record) QueueOffset() int64    { return r.int64At(OffQueueOffset) }
func (r *Record) PhysicalOffset() int64 { return r.int64At(OffPhysicalOffset) }
func (r *Record) BornTimestamp() int64  { return r.int64At(OffBornTimestamp) }
func (r *Record) StoreTimestamp() int64 { return r.int64At(r.storeTimestamp) }
func (r *Record) ReconsumeTimes() int32 { return r.int32At(r.reconsumeTimes) }

func (r *Record) PreparedTransactionOffset() int64 { return r.int64At(r.reconsumeTimes + 4) }

// BornHost and StoreHost copy the address out of the record.
func (r *Record) BornHost() Host  { return r.hostAt(OffBornHost, r.storeTimestamp) }
func (r *Record) StoreHost() Host { return r.hostAt(r.storeTimestamp+8, r.reconsumeTimes) }

// Body, Topic and Properties alias Buf. Topic is bytes rather than a string
// so that reading it allocates nothing; string(rec.Topic()) in a map index
// or comparison does not allocate either.
func (r *Record) Body() []byte       { return r.Buf[r.body:r.bodyEnd:r.bodyEnd] }
func (r *Record) Topic() []byte      { return r.Buf[r.topic : r.props-2 : r.props-2] }
func (r *Record) Properties() []byte { return r.Buf[r.props:] }

// SetQueueOffset overwrites QUEUEOFFSET of the record starting at rec, for
// code that rewrites a record in place (replay, tests). BODYCRC does not
// cover it.
func SetQueueOffset(rec []byte, q int64) { putInt64(rec[OffQueueOffset:], q) }

// SetPhysicalOffset overwrites PHYSICALOFFSET of the record starting at rec,
// as when a record is copied to another position of a log.
func SetPhysicalOffset(rec []byte, p int64) { putInt64(rec[OffPhysicalOffset:], p) }
