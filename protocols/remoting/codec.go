package remoting

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Frame and header constants of the wire format (protocol reference §1.2-1.4).
const (
	// DefaultMaxFrame bounds a whole frame, the 4-byte length word
	// included, like Java's com.rocketmq.remoting.frameMaxLength (Netty's
	// LengthFieldBasedFrameDecoder counts the length field in the frame).
	DefaultMaxFrame = 16 << 20

	// DefaultLanguage and DefaultVersion are written when a command leaves
	// Language empty or Version zero. 479 is MQVersion V5_3_3.
	DefaultLanguage = "JAVA"
	DefaultVersion  = 479

	frameLengthSize = 4  // the length word
	frameFixedSize  = 8  // length word + header length and type word
	binaryFixedSize = 21 // code 2, language 1, version 2, opaque 4, flag 4, remark length 4, extFields length 4
	maxHeaderLength = 1<<24 - 1
	maxBinaryKeyLen = 1<<15 - 1
)

// DecodeErrorKind says what was wrong with a frame.
type DecodeErrorKind uint8

// Kinds of decoding errors. A server answers none of them: the connection
// has lost its framing, so it logs one line and closes.
const (
	KindFrameTooShort   DecodeErrorKind = iota + 1 // length word below 4
	KindFrameTooLong                               // 4 + length above the frame limit
	KindHeaderLength                               // header length above length - 4
	KindSerializeType                              // type byte neither 0 (JSON) nor 1 (ROCKETMQ)
	KindBadJSON                                    // JSON header malformed or of the wrong shape
	KindBadBinaryHeader                            // ROCKETMQ header shorter than its lengths say
)

var kindNames = [...]string{
	KindFrameTooShort:   "frame too short",
	KindFrameTooLong:    "frame too long",
	KindHeaderLength:    "bad header length",
	KindSerializeType:   "bad serialize type",
	KindBadJSON:         "bad json header",
	KindBadBinaryHeader: "bad binary header",
}

func (k DecodeErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "decode error " + strconv.Itoa(int(k))
}

// DecodeError is the error of DecodeFrame. Compare kinds with errors.Is
// against the Err* values below, or read Kind after errors.As.
type DecodeError struct {
	Kind   DecodeErrorKind
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "remoting: " + e.Kind.String()
	}
	return "remoting: " + e.Kind.String() + ": " + e.Detail
}

// Is makes errors.Is(err, ErrFrameTooLong) true for every DecodeError of
// that kind.
func (e *DecodeError) Is(target error) bool {
	t, ok := target.(*DecodeError)
	return ok && t.Detail == "" && t.Kind == e.Kind
}

// Targets for errors.Is, one per kind.
var (
	ErrFrameTooShort   = &DecodeError{Kind: KindFrameTooShort}
	ErrFrameTooLong    = &DecodeError{Kind: KindFrameTooLong}
	ErrHeaderLength    = &DecodeError{Kind: KindHeaderLength}
	ErrSerializeType   = &DecodeError{Kind: KindSerializeType}
	ErrBadJSON         = &DecodeError{Kind: KindBadJSON}
	ErrBadBinaryHeader = &DecodeError{Kind: KindBadBinaryHeader}
)

func decodeErr(kind DecodeErrorKind, format string, args ...any) error {
	return &DecodeError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// frameSize validates the length word at the start of b (len(b) >= 4) and
// returns the size of the whole frame, the length word included.
func frameSize(b []byte, maxFrame int) (int, error) {
	length := binary.BigEndian.Uint32(b)
	if length < 4 {
		return 0, decodeErr(KindFrameTooShort, "length %d, the header length word alone takes 4", length)
	}
	if uint64(length)+frameLengthSize > uint64(maxFrame) {
		return 0, decodeErr(KindFrameTooLong, "length %d, limit %d", length, maxFrame-frameLengthSize)
	}
	return int(length) + frameLengthSize, nil
}

// DecodeFrame decodes the first frame of b, the bytes read from a
// connection so far. It returns n == 0 and a nil error when b does not yet
// hold a whole frame, and a *DecodeError when the bytes cannot be a frame;
// the connection's framing is then lost. maxFrame bounds the whole frame,
// length word included; 0 means DefaultMaxFrame.
//
// Lifetime: cmd.Body is a sub-slice of b, not a copy, and is valid until
// the caller reuses b (the slice is capped, so appending to it copies).
// The strings of the header are copies and stay valid; they share one
// allocation per frame, so a string kept long-term pins that frame's header
// text (never its body).
func DecodeFrame(b []byte, maxFrame int) (cmd *Command, n int, err error) {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if len(b) < frameLengthSize {
		return nil, 0, nil
	}
	size, err := frameSize(b, maxFrame)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < size {
		return nil, 0, nil
	}
	cmd, err = decodeFrame(b[:size:size])
	if err != nil {
		return nil, 0, err
	}
	return cmd, size, nil
}

// decodeFrame decodes exactly one frame whose length word was validated.
func decodeFrame(f []byte) (*Command, error) {
	word := binary.BigEndian.Uint32(f[frameLengthSize:])
	typ := SerializeType(word >> 24)
	hlen := int(word & maxHeaderLength)
	if hlen > len(f)-frameFixedSize {
		return nil, decodeErr(KindHeaderLength, "header length %d, frame length %d", hlen, len(f)-frameLengthSize)
	}
	h := f[frameFixedSize : frameFixedSize+hlen]
	cmd := &Command{Serialize: typ}
	var err error
	switch typ {
	case SerializeJSON:
		err = decodeJSONHeader(h, cmd)
	case SerializeRocketMQ:
		err = decodeBinaryHeader(h, cmd)
	default:
		err = decodeErr(KindSerializeType, "type %d", typ)
	}
	if err != nil {
		return nil, err
	}
	if body := f[frameFixedSize+hlen:]; len(body) > 0 {
		cmd.Body = body
	}
	return cmd, nil
}

// AppendFrame appends cmd as one frame in cmd.Serialize and returns the
// extended slice. It writes the header and cmd.Body but not cmd.BodyParts;
// the length word counts Body and every part, so the caller writes the
// parts, in order, right after the returned bytes. Language "" and Version
// 0 are written as DefaultLanguage and DefaultVersion. extFields are
// written in map order (sorting cost more than the rest of the header). An
// unknown Serialize is written as JSON.
//
// The ROCKETMQ header has 16-bit code and version fields (Java casts, and
// so does this) and a 16-bit key length: an extFields key longer than 32767
// bytes is left out of a binary header.
func AppendFrame(dst []byte, cmd *Command) []byte {
	return append(appendFrameHeader(dst, cmd), cmd.Body...)
}

// appendFrameHeader appends the two length words and the header of cmd;
// cmd.Body and cmd.BodyParts follow on the wire.
func appendFrameHeader(dst []byte, cmd *Command) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	typ := cmd.Serialize
	if typ == SerializeRocketMQ {
		dst = appendBinaryHeader(dst, cmd)
	} else {
		typ = SerializeJSON
		dst = appendJSONHeader(dst, cmd)
	}
	hlen := len(dst) - start - frameFixedSize
	length := len(dst) - start - frameLengthSize + len(cmd.Body)
	for _, p := range cmd.BodyParts {
		length += len(p)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(length))
	binary.BigEndian.PutUint32(dst[start+frameLengthSize:], uint32(typ)<<24|uint32(hlen)&maxHeaderLength)
	return dst
}

// languageNames are the LanguageCode ordinals (protocol reference §1.3).
var languageNames = [...]string{"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS"}

const languageOther = 7

func languageName(b byte) string {
	if int(b) < len(languageNames) {
		return languageNames[b]
	}
	return languageNames[languageOther]
}

func languageCode(name string) byte {
	if name == "" {
		return 0
	}
	for i, n := range languageNames {
		if n == name {
			return byte(i)
		}
	}
	return languageOther
}

// decodeBinaryHeader decodes the ROCKETMQ header (protocol reference §1.4):
//
//	code int16 | language byte | version int16 | opaque int32 | flag int32 |
//	remarkLen int32 | remark | extLen int32 | extLen bytes of
//	{ keyLen int16 | key | valLen int32 | value }
//
// Every length is checked against what remains of the header; bytes after
// the extFields are ignored, as Java does. A byte outside the language
// table decodes as "OTHER".
func decodeBinaryHeader(h []byte, cmd *Command) error {
	if len(h) < binaryFixedSize {
		return decodeErr(KindBadBinaryHeader, "header is %d bytes, the fixed part is %d", len(h), binaryFixedSize)
	}
	cmd.Code = int32(int16(binary.BigEndian.Uint16(h)))
	cmd.Language = languageName(h[2])
	cmd.Version = int32(int16(binary.BigEndian.Uint16(h[3:])))
	cmd.Opaque = int32(binary.BigEndian.Uint32(h[5:]))
	cmd.Flag = int32(binary.BigEndian.Uint32(h[9:]))
	p := 13
	remarkLen := int32(binary.BigEndian.Uint32(h[p:]))
	p += 4
	// The extFields length word must still fit after the remark.
	if remarkLen < 0 || int(remarkLen) > len(h)-p-4 {
		return decodeErr(KindBadBinaryHeader, "remark length %d, %d bytes left", remarkLen, len(h)-p-4)
	}
	remarkAt := p
	p += int(remarkLen)
	extLen := int32(binary.BigEndian.Uint32(h[p:]))
	p += 4
	if extLen < 0 || int(extLen) > len(h)-p {
		return decodeErr(KindBadBinaryHeader, "extFields length %d, %d bytes left", extLen, len(h)-p)
	}
	ext := h[p : p+int(extLen)]

	// First pass: validate and count the entries.
	n := 0
	for q := 0; q < len(ext); {
		if len(ext)-q < 2 {
			return decodeErr(KindBadBinaryHeader, "extFields entry %d: key length cut", n)
		}
		kl := int(int16(binary.BigEndian.Uint16(ext[q:])))
		q += 2
		if kl < 0 || kl > len(ext)-q-4 {
			return decodeErr(KindBadBinaryHeader, "extFields entry %d: key length %d, %d bytes left", n, kl, len(ext)-q)
		}
		q += kl
		vl := int32(binary.BigEndian.Uint32(ext[q:]))
		q += 4
		if vl < 0 || int(vl) > len(ext)-q {
			return decodeErr(KindBadBinaryHeader, "extFields entry %d: value length %d, %d bytes left", n, vl, len(ext)-q)
		}
		q += int(vl)
		n++
	}
	if remarkLen == 0 && n == 0 {
		return nil
	}
	// One string holds the variable part; remark, keys and values are
	// substrings of it.
	base := remarkAt
	s := string(h[base : p+len(ext)])
	cmd.Remark = s[:remarkLen]
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for q := p - base; q < len(s); {
		kl := int(binary.BigEndian.Uint16(h[base+q:]))
		q += 2
		k := s[q : q+kl]
		q += kl
		vl := int(binary.BigEndian.Uint32(h[base+q:]))
		q += 4
		m[k] = s[q : q+vl]
		q += vl
	}
	cmd.ExtFields = m
	return nil
}

func appendBinaryHeader(dst []byte, cmd *Command) []byte {
	v := cmd.Version
	if v == 0 {
		v = DefaultVersion
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(cmd.Code)))
	dst = append(dst, languageCode(cmd.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(v)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(cmd.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(cmd.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(cmd.Remark)))
	dst = append(dst, cmd.Remark...)
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for k, v := range cmd.ExtFields {
		if len(k) > maxBinaryKeyLen {
			continue
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}
