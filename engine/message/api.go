package message

// This file fixes the package's API; the bodies live in encode.go, decode.go,
// properties.go, hash.go and msgid.go.

// Magic codes of the stored-message layout (RocketMQ MessageDecoder.java).
const (
	MagicV1    = int32(-626843481) // 0xDAA320A7: 1-byte topic length
	MagicV2    = int32(-626843477) // 0xDAA320AB: 2-byte topic length
	MagicBlank = int32(-875286124) // 0xCBD43194: end-of-segment filler
)

// BlankMinSize is the smallest blank record: TOTALSIZE and MAGICCODE
// (CommitLog.java END_FILE_MIN_BLANK_LENGTH).
const BlankMinSize = 8

// SysFlag bits that change the layout (MessageSysFlag.java).
const (
	SysFlagCompressed  = int32(0x1)
	SysFlagMultiTags   = int32(0x2)
	SysFlagTxMask      = int32(0xC)
	SysFlagTxPrepared  = int32(0x4)
	SysFlagTxCommit    = int32(0x8)
	SysFlagTxRollback  = int32(0xC)
	SysFlagBornHostV6  = int32(0x10)
	SysFlagStoreHostV6 = int32(0x20)
)

// Fixed field offsets of a stored message; valid for every record since the
// variable-length hosts come after them.
const (
	OffTotalSize      = 0
	OffMagic          = 4
	OffBodyCRC        = 8
	OffQueueID        = 12
	OffFlag           = 16
	OffQueueOffset    = 20
	OffPhysicalOffset = 28
	OffSysFlag        = 36
	OffBornTimestamp  = 40
	OffBornHost       = 48
)

// Property names the engine reads (MessageConst.java).
const (
	PropertyKeys   = "KEYS"
	PropertyTags   = "TAGS"
	PropertyUniqID = "UNIQ_KEY"
	PropertyDelay  = "DELAY"
)

// Property separators (MessageDecoder.java).
const (
	NameValueSeparator = 1
	PropertySeparator  = 2
)

// Limits of the layout.
const (
	MaxTopicLenV1    = 127   // longer topics need MagicV2
	MaxTopicLen      = 32767 // 2-byte topic length
	MaxPropertiesLen = 32767 // int16 properties length
)

// Host is a socket address as stored in a message: 4 or 16 address bytes and
// a port. The zero Host encodes as 0.0.0.0:0.
type Host struct {
	IP   [16]byte
	IPv6 bool // IP[:16] is used; otherwise IP[:4]
	Port int32
}

// Message is what a producer asks to store. Body and Properties are only read
// during Encode; the caller may reuse them once the append has completed.
type Message struct {
	Topic                     string
	QueueID                   int32
	Flag                      int32
	SysFlag                   int32 // host V6 bits are set by Encode from the hosts
	BornTimestamp             int64 // ms
	BornHost                  Host
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Properties                []byte // "name\x01value\x02" repeated, as on the wire
}

// Stamp is what the store assigns to a message when it is appended.
type Stamp struct {
	QueueOffset    int64
	PhysicalOffset int64
	StoreTimestamp int64 // ms
	StoreHost      Host
}
