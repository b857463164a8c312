package message

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Sizes of the layout's fixed parts.
const (
	hostLenV4 = 4 + 4  // address, port
	hostLenV6 = 16 + 4 // address, port

	// fixedLen is every field except the hosts, the topic length and the
	// variable parts: TOTALSIZE .. BORNTIMESTAMP, STORETIMESTAMP,
	// RECONSUMETIMES, PREPAREDTRANSACTIONOFFSET, BODYLENGTH, PROPERTIESLENGTH.
	fixedLen = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 4 + 8 + 4 + 2

	// MinHeaderLen is the smallest message record: IPv4 hosts, a V1 topic
	// length and empty body, topic and properties.
	MinHeaderLen = fixedLen + 2*hostLenV4 + 1
)

func hostLen(v6 bool) int {
	if v6 {
		return hostLenV6
	}
	return hostLenV4
}

// topicLenSize is 1 byte for topics that fit a signed byte (MagicV1) and 2
// otherwise (MagicV2), as Java does with autoMessageVersionOnTopicLen.
func topicLenSize(topicLen int) int {
	if topicLen <= MaxTopicLenV1 {
		return 1
	}
	return 2
}

// EncodedSize returns the stored size of m, whose store host is IPv6 when
// storeHostV6 is set. It does not check the limits Encode enforces.
func EncodedSize(m *Message, storeHostV6 bool) int {
	return fixedLen + hostLen(m.BornHost.IPv6) + hostLen(storeHostV6) +
		len(m.Body) + topicLenSize(len(m.Topic)) + len(m.Topic) + len(m.Properties)
}

// BodyCRC is the BODYCRC of body: Java's UtilAll.crc32, which masks the sign
// bit so the value stays a non-negative int.
func BodyCRC(body []byte) int32 {
	return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
}

// Encode writes m, stamped with s, as one record at the start of dst and
// returns its size, EncodedSize(m, s.StoreHost.IPv6). The SYSFLAG host bits
// come from the hosts, whatever m.SysFlag says about them; BODYCRC is
// computed here.
//
// The caller validates m first: a topic over MaxTopicLen bytes, properties
// over MaxPropertiesLen bytes, a record over 2 GiB or a dst shorter than the
// record is a bug in the caller and panics.
func Encode(dst []byte, m *Message, s *Stamp) int {
	size := EncodedSize(m, s.StoreHost.IPv6)
	if len(m.Topic) > MaxTopicLen || len(m.Properties) > MaxPropertiesLen || size > math.MaxInt32 {
		panicTooLarge(len(m.Topic), len(m.Properties), size)
	}
	if len(dst) < size {
		panicShort(len(dst), size)
	}
	b := dst[:size]

	magic := MagicV1
	if topicLenSize(len(m.Topic)) == 2 {
		magic = MagicV2
	}
	sysFlag := m.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if m.BornHost.IPv6 {
		sysFlag |= SysFlagBornHostV6
	}
	if s.StoreHost.IPv6 {
		sysFlag |= SysFlagStoreHostV6
	}

	putInt32(b[OffTotalSize:], int32(size))
	putInt32(b[OffMagic:], magic)
	putInt32(b[OffBodyCRC:], BodyCRC(m.Body))
	putInt32(b[OffQueueID:], m.QueueID)
	putInt32(b[OffFlag:], m.Flag)
	putInt64(b[OffQueueOffset:], s.QueueOffset)
	putInt64(b[OffPhysicalOffset:], s.PhysicalOffset)
	putInt32(b[OffSysFlag:], sysFlag)
	putInt64(b[OffBornTimestamp:], m.BornTimestamp)
	p := putHost(b, OffBornHost, &m.BornHost)
	putInt64(b[p:], s.StoreTimestamp)
	p = putHost(b, p+8, &s.StoreHost)
	putInt32(b[p:], m.ReconsumeTimes)
	putInt64(b[p+4:], m.PreparedTransactionOffset)
	putInt32(b[p+12:], int32(len(m.Body)))
	p += 16
	p += copy(b[p:], m.Body)
	if magic == MagicV1 {
		b[p] = byte(len(m.Topic))
		p++
	} else {
		binary.BigEndian.PutUint16(b[p:], uint16(len(m.Topic)))
		p += 2
	}
	p += copy(b[p:], m.Topic)
	binary.BigEndian.PutUint16(b[p:], uint16(len(m.Properties)))
	copy(b[p+2:], m.Properties)
	return size
}

// putHost writes h at b[p:] and returns the offset after it.
func putHost(b []byte, p int, h *Host) int {
	n := copy(b[p:], h.IP[:hostLen(h.IPv6)-4])
	putInt32(b[p+n:], h.Port)
	return p + n + 4
}

func putInt32(b []byte, v int32) { binary.BigEndian.PutUint32(b, uint32(v)) }
func putInt64(b []byte, v int64) { binary.BigEndian.PutUint64(b, uint64(v)) }

// EncodeBlank fills dst with a blank record: TOTALSIZE = len(dst) and
// MAGICCODE = MagicBlank. Only those 8 bytes are written; readers skip the
// rest, so it need not be zeroed.
func EncodeBlank(dst []byte) {
	if len(dst) < BlankMinSize || len(dst) > math.MaxInt32 {
		panic(fmt.Sprintf("BUG: message: blank record of %d bytes, want %d to 2 GiB", len(dst), BlankMinSize))
	}
	putInt32(dst[OffTotalSize:], int32(len(dst)))
	putInt32(dst[OffMagic:], MagicBlank)
}

// The panics live out of line to keep fmt off Encode's path.

//go:noinline
func panicShort(have, need int) {
	panic(fmt.Sprintf("BUG: message: encode into %d bytes, record needs %d", have, need))
}

//go:noinline
func panicTooLarge(topic, props, size int) {
	panic(fmt.Sprintf("BUG: message: cannot encode topic of %d bytes (max %d), properties of %d bytes (max %d), record of %d bytes",
		topic, MaxTopicLen, props, MaxPropertiesLen, size))
}
