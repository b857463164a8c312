package remoting

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
)

// wireCase is one frame as raw bytes and as the Command it decodes to.
// The codec tests decode and encode them; the server tests send the
// requests among them over loopback and compare what the processor got.
type wireCase struct {
	name  string
	frame []byte
	cmd   *Command
	// exact: AppendFrame(cmd) reproduces frame byte for byte (possible
	// with at most one extFields entry: maps are written in map order).
	exact bool
}

// jsonFrame builds a JSON frame around a header text.
func jsonFrame(header, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	return append(append(b, header...), body...)
}

// rawFrame builds a frame with an arbitrary type byte and header.
func rawFrame(typ byte, header []byte, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(typ)<<24|uint32(len(header)))
	return append(append(b, header...), body...)
}

// Java 5.3.3 producer, SEND_MESSAGE_V2 (protocol reference §1.3, first example).
const docJavaSendV2 = `{"code":310,"extFields":{"a":"pg","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"TAGS\u0001TagA\u0002UNIQ_KEY\u00017F000001...\u0002WAIT\u0001true\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":479}`

// The Java broker's response to it (second example).
const docJavaSendResponse = `{"code":0,"extFields":{"msgId":"7F00000100002A9F00000000000A1B2C","queueId":"1","queueOffset":"17","transactionId":"7F000001...","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":479}`

// The Go client's request (third example): remark always present, no
// serializeTypeCurrentRPC, a space after a comma.
const docGoSend = `{"code":10,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"producerGroup":"DEFAULT_PRODUCER","topic":"test", "...":"..."}}`

// binarySendFrame is a ROCKETMQ-header SEND_MESSAGE written out field by
// field from the table of §1.4.
var binarySendFrame = []byte{
	0, 0, 0, 0x2c, // length: 4 + 38 header + 2 body = 44
	1, 0, 0, 38, // type 1 (ROCKETMQ), header length 38
	0, 10, // code 10 SEND_MESSAGE
	9,       // language GO
	1, 0x3d, // version 317
	0, 0, 0, 7, // opaque 7
	0, 0, 0, 0, // flag 0
	0, 0, 0, 0, // remark length 0
	0, 0, 0, 17, // extFields length 17
	0, 5, 't', 'o', 'p', 'i', 'c', // key length 5, "topic"
	0, 0, 0, 6, 'T', 'o', 'p', 'i', 'c', 'A', // value length 6, "TopicA"
	'h', 'i', // body
}

// binaryResponseFrame is a ROCKETMQ-header response with a remark and two
// extFields, one of them empty.
var binaryResponseFrame = []byte{
	0, 0, 0, 0x3a, // length: 4 + 54 header = 58, no body
	1, 0, 0, 54, // type 1, header length 54
	0, 17, // code 17 TOPIC_NOT_EXIST
	0,       // language JAVA
	1, 0xdf, // version 479
	0x80, 0, 0, 1, // opaque -2147483647
	0, 0, 0, 1, // flag: response
	0, 0, 0, 9, 'n', 'o', ' ', 'r', 'o', 'u', 't', 'e', '!', // remark
	0, 0, 0, 24, // extFields length
	0, 3, 'k', 'e', 'y', 0, 0, 0, 0, // "key" = ""
	0, 6, 'o', 'f', 'f', 's', 'e', 't', 0, 0, 0, 3, '1', '2', '3', // "offset" = "123"
}

var wireCases = []wireCase{
	{
		name:  "json/doc-java-send-v2",
		frame: jsonFrame(docJavaSendV2, "hello"),
		cmd: &Command{Code: ReqSendMessageV2, Language: "JAVA", Version: 479, Opaque: 42, Flag: 0,
			ExtFields: map[string]string{"a": "pg", "b": "TopicTest", "c": "TBW102", "d": "4", "e": "1", "f": "0",
				"g": "1700000000000", "h": "0", "i": "TAGS\x01TagA\x02UNIQ_KEY\x017F000001...\x02WAIT\x01true\x02",
				"j": "0", "k": "false", "m": "false", "n": "broker-a"},
			Body: []byte("hello")},
	},
	{
		name:  "json/doc-java-send-response",
		frame: jsonFrame(docJavaSendResponse, ""),
		cmd: &Command{Code: ResSuccess, Language: "JAVA", Version: 479, Opaque: 42, Flag: FlagResponse,
			ExtFields: map[string]string{"msgId": "7F00000100002A9F00000000000A1B2C", "queueId": "1", "queueOffset": "17",
				"transactionId": "7F000001...", "MSG_REGION": "DefaultRegion", "TRACE_ON": "true"}},
	},
	{
		name:  "json/doc-go-send",
		frame: jsonFrame(docGoSend, "body"),
		cmd: &Command{Code: ReqSendMessage, Language: "GO", Version: 317, Opaque: 7,
			ExtFields: map[string]string{"producerGroup": "DEFAULT_PRODUCER", "topic": "test", "...": "..."},
			Body:      []byte("body")},
	},
	{
		// ali-ons writes numbers and booleans as JSON values.
		name:  "json/ali-ons-send-v2",
		frame: jsonFrame(`{"code":310,"language":"JAVA","opaque":3,"flag":0,"version":121,"extFields":{"a":"pg","b":"T","e":3,"f":0,"g":1700000000000,"k":false,"j":-1.5e0}}`, "x"),
		cmd: &Command{Code: ReqSendMessageV2, Language: "JAVA", Version: 121, Opaque: 3,
			ExtFields: map[string]string{"a": "pg", "b": "T", "e": "3", "f": "0", "g": "1700000000000", "k": "false", "j": "-1.5e0"},
			Body:      []byte("x")},
	},
	{
		name:  "json/minimal-response",
		frame: jsonFrame(`{"code":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}`, ""),
		cmd:   &Command{Code: 0, Language: "JAVA", Version: 479, Opaque: 1, Flag: FlagResponse},
		exact: true,
	},
	{
		name:  "json/escaped-remark",
		frame: jsonFrame(`{"code":1,"flag":1,"language":"JAVA","opaque":-5,"remark":"a\"b\\c\n\t\u001f\u2028é中","serializeTypeCurrentRPC":"JSON","version":409}`, ""),
		cmd:   &Command{Code: ResSystemError, Language: "JAVA", Version: 409, Opaque: -5, Flag: FlagResponse, Remark: "a\"b\\c\n\t\x1f\u2028é中"},
		exact: true,
	},
	{
		name:  "json/oneway-heartbeat",
		frame: jsonFrame(`{"code":34,"flag":2,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":479}`, `{"clientID":"c1"}`),
		cmd:   &Command{Code: ReqHeartBeat, Language: "JAVA", Version: 479, Opaque: 9, Flag: FlagOneway, Body: []byte(`{"clientID":"c1"}`)},
		exact: true,
	},
	{
		name: "json/unknown-keys-nulls-whitespace",
		frame: jsonFrame(" {\n\t\"code\" : 11 , \"remark\":null,\"extra\":{\"x\":[1,2.5e3,true,false,null,\"s\"]},"+
			"\"serializeTypeCurrentRPC\":\"ROCKETMQ\",\"language\":\"NODE_JS\",\"extFields\":{\"topic\":\"t\",\"nullable\":null},"+
			"\"opaque\":2147483647,\"flag\":0,\"version\":-1} \r\n", ""),
		cmd: &Command{Code: ReqPullMessage, Language: "NODE_JS", Version: -1, Opaque: 2147483647,
			ExtFields: map[string]string{"topic": "t", "nullable": ""}},
	},
	{
		name: "json/escapes-and-surrogates",
		frame: jsonFrame(`{"code":12,"extFields":{"k\/ey":"\ud83d\ude00 \b\f\r","lone":"\ud800x"},"flag":0,`+
			`"language":"GO","opaque":3,"version":317}`, ""),
		cmd: &Command{Code: ReqQueryMessage, Language: "GO", Version: 317, Opaque: 3,
			ExtFields: map[string]string{"k/ey": "😀 \b\f\r", "lone": "\uFFFDx"}},
	},
	{
		name:  "binary/hand-built-send",
		frame: binarySendFrame,
		cmd: &Command{Code: ReqSendMessage, Language: "GO", Version: 317, Opaque: 7,
			ExtFields: map[string]string{"topic": "TopicA"}, Body: []byte("hi"), Serialize: SerializeRocketMQ},
		exact: true,
	},
	{
		name:  "binary/hand-built-response",
		frame: binaryResponseFrame,
		cmd: &Command{Code: ResTopicNotExist, Language: "JAVA", Version: 479, Opaque: -2147483647, Flag: FlagResponse,
			Remark: "no route!", ExtFields: map[string]string{"key": "", "offset": "123"}, Serialize: SerializeRocketMQ},
	},
	{
		name: "binary/empty-oneway",
		frame: rawFrame(1, []byte{
			0, 15, 13, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
		}, ""),
		cmd:   &Command{Code: ReqUpdateConsumerOffset, Language: "NODE_JS", Version: 0, Opaque: 1, Flag: FlagOneway, Serialize: SerializeRocketMQ},
		exact: false, // version 0 is written as DefaultVersion
	},
	{
		name: "binary/unknown-language-trailing-bytes",
		frame: rawFrame(1, []byte{
			0xff, 0xff, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad,
		}, "x"),
		cmd: &Command{Code: -1, Language: "OTHER", Version: 1, Serialize: SerializeRocketMQ, Body: []byte("x")},
	},
}

// badCase is a frame DecodeFrame must refuse with the given kind.
type badCase struct {
	name  string
	frame []byte
	kind  DecodeErrorKind
}

// binHeader builds a ROCKETMQ header with the given remark and extFields
// bytes and the given length fields.
func binHeader(remarkLen int32, remark []byte, extLen int32, ext []byte) []byte {
	h := []byte{0, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}
	h = binary.BigEndian.AppendUint32(h, uint32(remarkLen))
	h = append(h, remark...)
	h = binary.BigEndian.AppendUint32(h, uint32(extLen))
	return append(h, ext...)
}

func lengthWord(n uint32, rest ...byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), rest...)
}

var badCases = []badCase{
	{"length-0", lengthWord(0, 0, 0, 0, 0), KindFrameTooShort},
	{"length-3", lengthWord(3, 0, 0, 0), KindFrameTooShort},
	{"length-negative", lengthWord(0x80000000), KindFrameTooLong},
	{"length-above-limit", lengthWord(DefaultMaxFrame - 3), KindFrameTooLong},
	{"header-longer-than-frame", lengthWord(10, 0, 0, 0, 7, '{', '}', 0, 0, 0, 0), KindHeaderLength},
	{"header-length-max", lengthWord(4, 0, 0xff, 0xff, 0xff), KindHeaderLength},
	{"serialize-type-2", rawFrame(2, []byte("{}"), ""), KindSerializeType},
	{"serialize-type-255", rawFrame(255, nil, ""), KindSerializeType},
	{"json-empty", jsonFrame("", "body"), KindBadJSON},
	{"json-not-object", jsonFrame(`[1]`, ""), KindBadJSON},
	{"json-unclosed", jsonFrame(`{"code":1`, ""), KindBadJSON},
	{"json-trailing", jsonFrame(`{"code":1}x`, ""), KindBadJSON},
	{"json-two-objects", jsonFrame(`{}{}`, ""), KindBadJSON},
	{"json-bad-token", jsonFrame(`{"code":1,"x":tru}`, ""), KindBadJSON},
	{"json-unterminated-string", jsonFrame(`{"remark":"abc}`, ""), KindBadJSON},
	{"json-control-char", jsonFrame("{\"remark\":\"a\x01b\"}", ""), KindBadJSON},
	{"json-bad-escape", jsonFrame(`{"remark":"\x"}`, ""), KindBadJSON},
	{"json-bad-unicode-escape", jsonFrame(`{"remark":"\u12g4"}`, ""), KindBadJSON},
	{"json-code-string", jsonFrame(`{"code":"10"}`, ""), KindBadJSON},
	{"json-code-float", jsonFrame(`{"code":1.5}`, ""), KindBadJSON},
	{"json-code-exponent", jsonFrame(`{"code":1e2}`, ""), KindBadJSON},
	{"json-code-overflow", jsonFrame(`{"code":2147483648}`, ""), KindBadJSON},
	{"json-code-leading-zero", jsonFrame(`{"code":01}`, ""), KindBadJSON},
	{"json-language-number", jsonFrame(`{"language":9}`, ""), KindBadJSON},
	{"json-ext-object", jsonFrame(`{"code":1,"extFields":{"queueId":{}}}`, ""), KindBadJSON},
	{"json-ext-array", jsonFrame(`{"extFields":{"k":[1]}}`, ""), KindBadJSON},
	{"json-ext-object", jsonFrame(`{"extFields":{"k":{}}}`, ""), KindBadJSON},
	{"json-ext-array", jsonFrame(`{"extFields":["k"]}`, ""), KindBadJSON},
	{"json-ext-missing-colon", jsonFrame(`{"extFields":{"k" "v"}}`, ""), KindBadJSON},
	{"json-too-deep", jsonFrame(`{"x":`+strings.Repeat("[", maxJSONDepth+1)+strings.Repeat("]", maxJSONDepth+1)+`}`, ""), KindBadJSON},
	{"binary-short", rawFrame(1, make([]byte, 20), ""), KindBadBinaryHeader},
	{"binary-remark-negative", rawFrame(1, binHeader(-1, nil, 0, nil), ""), KindBadBinaryHeader},
	{"binary-remark-too-long", rawFrame(1, binHeader(5, []byte("abc"), 0, nil), ""), KindBadBinaryHeader},
	{"binary-ext-negative", rawFrame(1, binHeader(0, nil, -4, nil), ""), KindBadBinaryHeader},
	{"binary-ext-too-long", rawFrame(1, binHeader(0, nil, 9, []byte{0, 1, 'k'}), "body bytes are not header"), KindBadBinaryHeader},
	{"binary-key-cut", rawFrame(1, binHeader(0, nil, 1, []byte{0}), ""), KindBadBinaryHeader},
	{"binary-key-negative", rawFrame(1, binHeader(0, nil, 6, []byte{0xff, 0xff, 0, 0, 0, 0}), ""), KindBadBinaryHeader},
	{"binary-key-too-long", rawFrame(1, binHeader(0, nil, 7, []byte{0, 2, 'k', 0, 0, 0, 0}), ""), KindBadBinaryHeader},
	{"binary-value-negative", rawFrame(1, binHeader(0, nil, 7, []byte{0, 1, 'k', 0xff, 0xff, 0xff, 0xff}), ""), KindBadBinaryHeader},
	{"binary-value-too-long", rawFrame(1, binHeader(0, nil, 8, []byte{0, 1, 'k', 0, 0, 0, 2, 'v'}), ""), KindBadBinaryHeader},
}

// diffCmd describes how got differs from want in the fields that travel
// on the wire; "" when they agree. Nil and empty bodies and maps are equal.
func diffCmd(got, want *Command) string {
	var d []string
	if got == nil || want == nil {
		if got != want {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	if got.Code != want.Code {
		d = append(d, fmt.Sprintf("code %d, want %d", got.Code, want.Code))
	}
	if got.Language != want.Language {
		d = append(d, fmt.Sprintf("language %q, want %q", got.Language, want.Language))
	}
	if got.Version != want.Version {
		d = append(d, fmt.Sprintf("version %d, want %d", got.Version, want.Version))
	}
	if got.Opaque != want.Opaque {
		d = append(d, fmt.Sprintf("opaque %d, want %d", got.Opaque, want.Opaque))
	}
	if got.Flag != want.Flag {
		d = append(d, fmt.Sprintf("flag %d, want %d", got.Flag, want.Flag))
	}
	if got.Remark != want.Remark {
		d = append(d, fmt.Sprintf("remark %q, want %q", got.Remark, want.Remark))
	}
	if !maps.Equal(got.ExtFields, want.ExtFields) {
		d = append(d, fmt.Sprintf("extFields %q, want %q", got.ExtFields, want.ExtFields))
	}
	if !bytes.Equal(got.Body, want.Body) {
		d = append(d, fmt.Sprintf("body %q, want %q", trunc(got.Body), trunc(want.Body)))
	}
	if got.Serialize != want.Serialize {
		d = append(d, fmt.Sprintf("serialize %d, want %d", got.Serialize, want.Serialize))
	}
	return strings.Join(d, "; ")
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// withDefaults returns a copy of cmd as AppendFrame writes it: empty
// language and zero version replaced by the defaults.
func withDefaults(cmd *Command) *Command {
	c := *cmd
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if c.Version == 0 {
		c.Version = DefaultVersion
	}
	if c.Serialize == SerializeRocketMQ && c.Language != "" && languageCode(c.Language) == languageOther {
		c.Language = "OTHER"
	}
	return &c
}

func requestCases() []wireCase {
	var out []wireCase
	for _, wc := range wireCases {
		if !wc.cmd.IsResponse() {
			out = append(out, wc)
		}
	}
	return out
}
