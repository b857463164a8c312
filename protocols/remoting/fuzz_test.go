package remoting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzMaxFrame keeps fuzzed frames small enough to fill.
const fuzzMaxFrame = 1 << 20

// streamDecode decodes every frame of the stream fed in the given chunks,
// the way a connection reader would: append what arrived, cut frames until
// more bytes are needed or an error ends the stream.
func streamDecode(t *testing.T, chunks ...[]byte) (cmds []*Command, err error) {
	var buf []byte
	for _, chunk := range chunks {
		buf = append(buf, chunk...)
		for {
			cmd, n, err := DecodeFrame(buf, fuzzMaxFrame)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Kind == 0 {
					t.Fatalf("untyped error %v", err)
				}
				return cmds, err
			}
			if n == 0 {
				if cmd != nil {
					t.Fatal("command without bytes")
				}
				break
			}
			if n > len(buf) || n < frameFixedSize {
				t.Fatalf("n = %d of %d", n, len(buf))
			}
			// Copy the body out: buf is about to be reused.
			cmd.Body = bytes.Clone(cmd.Body)
			cmds = append(cmds, cmd)
			buf = buf[n:]
		}
	}
	return cmds, nil
}

func checkRoundTrip(t *testing.T, cmd *Command) {
	t.Helper()
	b := AppendFrame(nil, cmd)
	again, n, err := DecodeFrame(b, 0)
	if err != nil || n != len(b) {
		t.Fatalf("re-encoded frame: n = %d of %d, err %v\nframe %q", n, len(b), err, b)
	}
	if d := diffCmd(again, withDefaults(cmd)); d != "" {
		t.Fatalf("round trip: %s\nframe %q", d, b)
	}
}

func addFrameSeeds(f *testing.F) {
	for _, wc := range wireCases {
		f.Add(append([]byte{byte(len(wc.frame) / 2)}, wc.frame...))
	}
	for _, bc := range badCases {
		if len(bc.frame) < 4096 {
			f.Add(append([]byte{3}, bc.frame...))
		}
	}
	two := append(append([]byte{200}, wireCases[0].frame...), binarySendFrame...)
	f.Add(two)
}

// FuzzDecodeFrame feeds input[1:] whole and split in two at a position
// taken from input[0]; both must decode the same frames, never panic, and
// every decoded command must survive AppendFrame and DecodeFrame again.
func FuzzDecodeFrame(f *testing.F) {
	addFrameSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		data := in[1:]
		split := int(in[0]) * (len(data) + 1) / 256
		whole, wholeErr := streamDecode(t, data)
		parts, partsErr := streamDecode(t, data[:split], data[split:])
		if (wholeErr == nil) != (partsErr == nil) || wholeErr != nil && wholeErr.Error() != partsErr.Error() {
			t.Fatalf("whole: %v, split at %d: %v", wholeErr, split, partsErr)
		}
		if len(whole) != len(parts) {
			t.Fatalf("whole: %d frames, split at %d: %d", len(whole), split, len(parts))
		}
		for i := range whole {
			if d := diffCmd(parts[i], whole[i]); d != "" {
				t.Fatalf("frame %d split differs: %s", i, d)
			}
			checkRoundTrip(t, whole[i])
		}
	})
}

// refHeader is what encoding/json makes of a JSON header; the hand-written
// decoder must agree with it.
type refHeader struct {
	Code      int32
	Language  string
	Version   int32
	Opaque    int32
	Flag      int32
	Remark    string
	ExtFields map[string]refScalar
}

// refScalar is an extFields value: a string, or a number or boolean kept as
// its JSON text (ali-ons sends those).
type refScalar string

func (v *refScalar) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = refScalar(s)
		return nil
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch x.(type) {
	case float64, bool:
		*v = refScalar(bytes.TrimSpace(b))
		return nil
	case nil:
		*v = ""
		return nil
	}
	return errors.New("extFields value is not a scalar")
}

func refStrings(m map[string]refScalar) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// FuzzJSONHeader checks the JSON header decoder against encoding/json and
// the encoder against the decoder.
func FuzzJSONHeader(f *testing.F) {
	for _, wc := range wireCases {
		if wc.cmd.Serialize == SerializeJSON {
			hlen := binary.BigEndian.Uint32(wc.frame[4:]) & maxHeaderLength
			f.Add(wc.frame[8 : 8+hlen])
		}
	}
	for _, bc := range badCases {
		if len(bc.frame) > 8 && bc.frame[4] == 0 && len(bc.frame) < 4096 {
			f.Add(bc.frame[8:])
		}
	}
	f.Add([]byte(`{"CODE":1,"Language":"GO","extfields":{"a":"b"},"extFields":{"c":"d"}}`))
	f.Add([]byte(`{"code":null,"remark":"\ud83d\ude00\udc00\u0000","extFields":null}`))
	f.Add([]byte("{\"remark\":\"\xff\xfe\xc3\"}"))
	// Keys that fold to known ones only under Unicode case folding: the
	// Kelvin sign folds to k, the long s to s.
	f.Add([]byte("{\"remar\\u212a\":\"x\",\"extField\\u017f\":{\"a\":\"b\"}}"))
	f.Add([]byte("{\"remar\xe2\x84\xaa\":\"x\",\"extField\xc5\xbf\":{\"a\":\"b\"}}"))
	f.Fuzz(func(t *testing.T, h []byte) {
		var cmd Command
		err := decodeJSONHeader(h, &cmd)
		var ref refHeader
		refErr := json.Unmarshal(h, &ref)
		if refErr == nil && string(bytes.Trim(h, " \t\r\n")) == "null" {
			// encoding/json takes a top-level null as "no change"; a
			// header must be an object (fastjson would give Java a null
			// command).
			refErr = errors.New("null header")
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("decoder: %v; encoding/json: %v\nheader %q", err, refErr, h)
		}
		if err != nil {
			if !errors.Is(err, ErrBadJSON) {
				t.Fatalf("error %v is not ErrBadJSON", err)
			}
			return
		}
		refExt := refStrings(ref.ExtFields)
		if !maps.Equal(cmd.ExtFields, refExt) || (cmd.ExtFields == nil) != (refExt == nil) {
			t.Fatalf("extFields %q, encoding/json %q\nheader %q", cmd.ExtFields, refExt, h)
		}
		got := refHeader{cmd.Code, cmd.Language, cmd.Version, cmd.Opaque, cmd.Flag, cmd.Remark, nil}
		ref.ExtFields = nil
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("decoded %+v, encoding/json %+v\nheader %q", got, ref, h)
		}
		// What the encoder writes is valid JSON that both decoders read back.
		enc := appendJSONHeader(nil, &cmd)
		if !json.Valid(enc) {
			t.Fatalf("encoder wrote invalid JSON %q", enc)
		}
		checkRoundTrip(t, &cmd)
	})
}

// refBinaryHeader is a plain reading of the §1.4 table with a bounds
// check before every read: the model the real decoder is checked against.
func refBinaryHeader(h []byte) (*Command, bool) {
	p := 0
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(h)-p {
			return nil, false
		}
		b := h[p : p+n]
		p += n
		return b, true
	}
	u16 := func() (int, bool) {
		b, ok := take(2)
		if !ok {
			return 0, false
		}
		return int(int16(binary.BigEndian.Uint16(b))), true
	}
	u32 := func() (int, bool) {
		b, ok := take(4)
		if !ok {
			return 0, false
		}
		return int(int32(binary.BigEndian.Uint32(b))), true
	}
	if len(h) < binaryFixedSize {
		return nil, false
	}
	cmd := &Command{Serialize: SerializeRocketMQ}
	code, _ := u16()
	lang, _ := take(1)
	version, _ := u16()
	opaque, _ := u32()
	flag, _ := u32()
	cmd.Code, cmd.Language, cmd.Version, cmd.Opaque, cmd.Flag = int32(code), languageName(lang[0]), int32(version), int32(opaque), int32(flag)
	rl, _ := u32()
	remark, ok := take(rl)
	if !ok {
		return nil, false
	}
	cmd.Remark = string(remark)
	el, ok := u32()
	if !ok {
		return nil, false
	}
	ext, ok := take(el)
	if !ok {
		return nil, false
	}
	h, p = ext, 0
	for p < len(h) {
		kl, ok := u16()
		if !ok {
			return nil, false
		}
		k, ok := take(kl)
		if !ok {
			return nil, false
		}
		vl, ok := u32()
		if !ok {
			return nil, false
		}
		v, ok := take(vl)
		if !ok {
			return nil, false
		}
		if cmd.ExtFields == nil {
			cmd.ExtFields = map[string]string{}
		}
		cmd.ExtFields[string(k)] = string(v)
	}
	return cmd, true
}

// FuzzBinaryHeader checks the binary header decoder against the plain
// model above and the encoder against the decoder.
func FuzzBinaryHeader(f *testing.F) {
	for _, wc := range wireCases {
		if wc.cmd.Serialize == SerializeRocketMQ {
			hlen := binary.BigEndian.Uint32(wc.frame[4:]) & maxHeaderLength
			f.Add(wc.frame[8 : 8+hlen])
		}
	}
	for _, bc := range badCases {
		if len(bc.frame) > 8 && bc.frame[4] == 1 {
			f.Add(bc.frame[8:])
		}
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		var cmd Command
		err := decodeBinaryHeader(h, &cmd)
		want, ok := refBinaryHeader(h)
		if (err == nil) != ok {
			t.Fatalf("decoder: %v; model ok %v\nheader %q", err, ok, h)
		}
		if err != nil {
			if !errors.Is(err, ErrBadBinaryHeader) {
				t.Fatalf("error %v is not ErrBadBinaryHeader", err)
			}
			return
		}
		cmd.Serialize = SerializeRocketMQ
		if d := diffCmd(&cmd, want); d != "" {
			t.Fatalf("decoder differs from the model: %s\nheader %q", d, h)
		}
		checkRoundTrip(t, &cmd)
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz/*/seed-* from the wire
// cases when GANNET_WRITE_CORPUS=1; the files are committed.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("GANNET_WRITE_CORPUS") != "1" {
		t.Skip("set GANNET_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clean := func(s string) string {
		return string(bytes.Map(func(r rune) rune {
			if r == '/' {
				return '-'
			}
			return r
		}, []byte(s)))
	}
	for _, wc := range wireCases {
		write("FuzzDecodeFrame", clean(wc.name), append([]byte{byte(len(wc.frame) / 2)}, wc.frame...))
		hlen := binary.BigEndian.Uint32(wc.frame[4:]) & maxHeaderLength
		if wc.cmd.Serialize == SerializeJSON {
			write("FuzzJSONHeader", clean(wc.name), wc.frame[8:8+hlen])
		} else {
			write("FuzzBinaryHeader", clean(wc.name), wc.frame[8:8+hlen])
		}
	}
	for _, bc := range badCases {
		if len(bc.frame) < 4096 {
			write("FuzzDecodeFrame", "bad-"+bc.name, append([]byte{3}, bc.frame...))
		}
	}
}
