package consumequeue

import (
	"encoding/binary"
	"errors"
	"math"
)

// UnitSize is the length of one unit on disk (ConsumeQueue.java
// CQ_STORE_UNIT_SIZE); part of the file format.
const UnitSize = 20

// DefaultUnitsPerFile is RocketMQ's mappedFileSizeConsumeQueue (6 000 000
// bytes) in units; part of the file naming, since a file is named by the byte
// offset of its first unit.
const DefaultUnitsPerFile = 300000

// maxUnitsPerFile keeps one file's mapping well inside an int and a sane
// size (1.28 GB).
const maxUnitsPerFile = 1 << 26

// Errors callers test with errors.Is.
var (
	// ErrShortUnit: fewer than UnitSize bytes to decode.
	ErrShortUnit = errors.New("consume queue unit shorter than 20 bytes")
	// ErrGap: Put past MaxOffset of a queue that has units.
	ErrGap = errors.New("gap in consume queue")
	// ErrBelowMin: the queue offset was removed by retention.
	ErrBelowMin = errors.New("queue offset below min offset")
	// ErrClosed: the queue or set was closed (or its topic deleted).
	ErrClosed = errors.New("consume queue closed")
)

// Unit is one ConsumeQueue entry: where a message sits in the CommitLog and
// the hash of its tags.
type Unit struct {
	PhysicalOffset int64 // global CommitLog byte offset of the message
	Size           int32 // stored size of the message; 0 means an empty unit
	TagsCode       int64 // String.hashCode of TAGS, or a delivery time in ms
}

// Empty reports whether u is a hole rather than a message.
func (u Unit) Empty() bool { return u.Size == 0 }

// End is the CommitLog offset just past the message. Corrupt units may
// overflow; the sum saturates so that comparisons stay meaningful.
func (u Unit) End() int64 {
	e := u.PhysicalOffset + int64(u.Size)
	if u.Size > 0 && e < u.PhysicalOffset {
		return math.MaxInt64
	}
	if u.Size < 0 && e > u.PhysicalOffset {
		return math.MinInt64
	}
	return e
}

// DecodeUnit reads a unit from the first UnitSize bytes of b.
func DecodeUnit(b []byte) (Unit, error) {
	if len(b) < UnitSize {
		return Unit{}, ErrShortUnit
	}
	return decodeUnit(b), nil
}

// EncodeUnit writes u into the first UnitSize bytes of dst; it panics if dst
// is shorter, like binary.BigEndian.PutUint64.
func EncodeUnit(dst []byte, u Unit) {
	_ = dst[UnitSize-1] // one bounds check for the three stores
	binary.BigEndian.PutUint64(dst[0:8], uint64(u.PhysicalOffset))
	binary.BigEndian.PutUint32(dst[8:12], uint32(u.Size))
	binary.BigEndian.PutUint64(dst[12:20], uint64(u.TagsCode))
}

// decodeUnit is DecodeUnit for callers that have checked the length.
func decodeUnit(b []byte) Unit {
	_ = b[UnitSize-1]
	return Unit{
		PhysicalOffset: int64(binary.BigEndian.Uint64(b[0:8])),
		Size:           int32(binary.BigEndian.Uint32(b[8:12])),
		TagsCode:       int64(binary.BigEndian.Uint64(b[12:20])),
	}
}
