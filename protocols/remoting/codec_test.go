package remoting

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDecodeWireCases(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			cmd, n, err := DecodeFrame(wc.frame, 0)
			if err != nil {
				t.Fatalf("DecodeFrame: %v", err)
			}
			if n != len(wc.frame) {
				t.Fatalf("n = %d, want %d", n, len(wc.frame))
			}
			if d := diffCmd(cmd, wc.cmd); d != "" {
				t.Fatal(d)
			}
			// Every proper prefix asks for more bytes.
			for i := 0; i < len(wc.frame); i++ {
				cmd, n, err := DecodeFrame(wc.frame[:i], 0)
				if cmd != nil || n != 0 || err != nil {
					t.Fatalf("prefix %d: got %v, %d, %v; want more bytes", i, cmd, n, err)
				}
			}
			// A following frame is left alone.
			two := append(append([]byte(nil), wc.frame...), wc.frame...)
			cmd, n, err = DecodeFrame(two, 0)
			if err != nil || n != len(wc.frame) {
				t.Fatalf("two frames: n = %d, err %v", n, err)
			}
			if d := diffCmd(cmd, wc.cmd); d != "" {
				t.Fatal(d)
			}
			if len(cmd.Body) > 0 && cap(cmd.Body) != len(cmd.Body) {
				t.Fatalf("body capacity %d runs into the next frame", cap(cmd.Body))
			}
		})
	}
}

func TestAppendWireCases(t *testing.T) {
	for _, wc := range wireCases {
		t.Run(wc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := AppendFrame(append([]byte(nil), prefix...), wc.cmd)
			if !bytes.HasPrefix(b, prefix) {
				t.Fatal("AppendFrame overwrote dst")
			}
			b = b[len(prefix):]
			if wc.exact && !bytes.Equal(b, wc.frame) {
				t.Fatalf("AppendFrame:\n got %q\nwant %q", b, wc.frame)
			}
			cmd, n, err := DecodeFrame(b, 0)
			if err != nil || n != len(b) {
				t.Fatalf("DecodeFrame(AppendFrame): n = %d of %d, err %v", n, len(b), err)
			}
			if d := diffCmd(cmd, withDefaults(wc.cmd)); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// TestRoundTripBothTypes writes every wire case in both header types.
func TestRoundTripBothTypes(t *testing.T) {
	for _, wc := range wireCases {
		for _, typ := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
			c := *wc.cmd
			c.Serialize = typ
			b := AppendFrame(nil, &c)
			got, _, err := DecodeFrame(b, 0)
			if err != nil {
				t.Fatalf("%s/%d: %v", wc.name, typ, err)
			}
			if d := diffCmd(got, withDefaults(&c)); d != "" {
				t.Fatalf("%s/%d: %s", wc.name, typ, d)
			}
		}
	}
}

func TestDecodeBadFrames(t *testing.T) {
	for _, bc := range badCases {
		t.Run(bc.name, func(t *testing.T) {
			cmd, n, err := DecodeFrame(bc.frame, 0)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, %d, %v; want a DecodeError", cmd, n, err)
			}
			if de.Kind != bc.kind {
				t.Fatalf("kind %v (%v), want %v", de.Kind, err, bc.kind)
			}
			if cmd != nil || n != 0 {
				t.Fatalf("got cmd %v, n %d with the error", cmd, n)
			}
			want := []*DecodeError{nil, ErrFrameTooShort, ErrFrameTooLong, ErrHeaderLength, ErrSerializeType, ErrBadJSON, ErrBadBinaryHeader}[bc.kind]
			if !errors.Is(err, want) {
				t.Fatalf("errors.Is(%v, %v) is false", err, want)
			}
			if !strings.HasPrefix(err.Error(), "remoting: ") {
				t.Fatalf("error text %q", err)
			}
		})
	}
}

func TestDecodeFrameLimit(t *testing.T) {
	f := jsonFrame(`{"code":1}`, strings.Repeat("x", 100))
	if _, _, err := DecodeFrame(f, len(f)); err != nil {
		t.Fatalf("frame of exactly the limit: %v", err)
	}
	if _, _, err := DecodeFrame(f, len(f)-1); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("frame one byte over the limit: %v", err)
	}
	// The limit is checked from the length word alone.
	if _, _, err := DecodeFrame(f[:4], len(f)-1); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("length word over the limit: %v", err)
	}
}

func TestAppendFrameBodyParts(t *testing.T) {
	parts := [][]byte{[]byte("ab"), nil, []byte("cde")}
	for _, typ := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		cmd := &Command{Code: 0, Flag: FlagResponse, Body: []byte("xy"), BodyParts: parts, Serialize: typ}
		b := AppendFrame(nil, cmd)
		for _, p := range parts {
			b = append(b, p...)
		}
		got, n, err := DecodeFrame(b, 0)
		if err != nil || n != len(b) {
			t.Fatalf("n = %d of %d, err %v", n, len(b), err)
		}
		if string(got.Body) != "xyabcde" {
			t.Fatalf("body %q", got.Body)
		}
	}
}

func TestBinaryLimits(t *testing.T) {
	long := strings.Repeat("k", maxBinaryKeyLen+1)
	cmd := &Command{Code: 70000, Version: 40000, Serialize: SerializeRocketMQ, Language: "PERL",
		ExtFields: map[string]string{long: "dropped", "kept": "v"}}
	got, _, err := DecodeFrame(AppendFrame(nil, cmd), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Code != int32(int16(70000&0xffff)) || got.Version != int32(int16(40000-65536)) {
		t.Fatalf("code %d version %d: want the 16-bit casts", got.Code, got.Version)
	}
	if got.Language != "OTHER" {
		t.Fatalf("language %q, want OTHER", got.Language)
	}
	if len(got.ExtFields) != 1 || got.ExtFields["kept"] != "v" {
		t.Fatalf("extFields %q", got.ExtFields)
	}
}

func TestJSONStringEscaping(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(appendJSONString(nil, in)); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f("plain", `"plain"`)
	f("q\"b\\", `"q\"b\\"`)
	f("\x00\x01\x1f\x7f", `"\u0000\u0001\u001f`+"\x7f"+`"`)
	f("\n\r\t", `"\n\r\t"`)
	f("<&>", `"<&>"`)
	f("\u2028\u2029", `"\u2028\u2029"`)
	f("a\xffb", `"a\ufffdb"`)
	f("中文", `"中文"`)
}

func TestCodeNames(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f(CodeName(ReqSendMessageV2), "SEND_MESSAGE_V2")
	f(CodeName(ReqPullMessage), "PULL_MESSAGE")
	f(CodeName(ReqPopMessage), "POP_MESSAGE")
	f(CodeName(99999), "99999")
	f(ResponseCodeName(ResPullNotFound), "PULL_NOT_FOUND")
	f(ResponseCodeName(ResRequestCodeNotSupported), "REQUEST_CODE_NOT_SUPPORTED")
	f((&Command{Code: 17, Flag: FlagResponse}).CodeName(), "TOPIC_NOT_EXIST")
	f((&Command{Code: 17}).CodeName(), "UPDATE_AND_CREATE_TOPIC")
	// Every table entry is unique in its table.
	for _, m := range []map[int32]string{requestCodeNames, responseCodeNames} {
		seen := map[string]bool{}
		for _, n := range m {
			if seen[n] {
				t.Errorf("name %s twice", n)
			}
			seen[n] = true
		}
	}
}

func TestRouter(t *testing.T) {
	r := NewRouter()
	called := ""
	mk := func(name string) Processor { return func(Conn, *Command) { called = name } }
	r.Register(ReqSendMessage, mk("send"))
	r.Register(ReqPopMessage, mk("pop"))
	r.Register(-1, mk("neg"))
	r.Register(routerDirect-1, mk("last"))
	for code, want := range map[int32]string{ReqSendMessage: "send", ReqPopMessage: "pop", -1: "neg", routerDirect - 1: "last"} {
		p := r.Processor(code)
		if p == nil {
			t.Fatalf("no processor for %d", code)
		}
		p(nil, nil)
		if called != want {
			t.Fatalf("code %d called %q", code, called)
		}
	}
	for _, code := range []int32{0, ReqPullMessage, routerDirect, 1 << 30, -2} {
		if r.Processor(code) != nil {
			t.Fatalf("processor for unregistered %d", code)
		}
	}
	r.Register(ReqPopMessage, nil)
	r.Register(ReqSendMessage, nil)
	if r.Processor(ReqPopMessage) != nil || r.Processor(ReqSendMessage) != nil {
		t.Fatal("Register(nil) did not remove")
	}
	var nilRouter *Router
	if nilRouter.Processor(1) != nil {
		t.Fatal("nil router")
	}
}

func TestDecodeAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race")
	}
	f := func(name string, frame []byte, max float64) {
		n := testing.AllocsPerRun(100, func() {
			if _, _, err := DecodeFrame(frame, 0); err != nil {
				t.Fatal(err)
			}
		})
		if n > max {
			t.Errorf("%s: %v allocations per decode, want at most %v", name, n, max)
		}
	}
	// Command, header string, the map (a 13-entry map is 4 allocations,
	// a small one 2), and the escaped properties string once more.
	f("json", wireCases[0].frame, 7)
	f("binary", binarySendFrame, 4)
	cmd := wireCases[0].cmd
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], cmd) })
	if n != 0 {
		t.Errorf("AppendFrame: %v allocations, want 0", n)
	}
}
