package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"testing"
)

func TestQuoteKeys(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(quoteKeys([]byte(in))); got != want {
			t.Errorf("quoteKeys(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	// fastjson's bare keys.
	f(`{"offsetTable":{"t@g":{0:12,1:40}}}`, `{"offsetTable":{"t@g":{"0":12,"1":40}}}`)
	f(`{"offsetTable":{1:100}}`, `{"offsetTable":{"1":100}}`)
	f(`{-1:2}`, `{"-1":2}`)
	f("{\n\t\"t@g\":{0:250,1:250\n\t}\n}", "{\n\t\"t@g\":{\"0\":250,\"1\":250\n\t}\n}")
	f("{ 12 : 3 ,\t7\n:4}", "{ \"12\" : 3 ,\t\"7\"\n:4}")
	// Strings are left alone, whatever they hold.
	f(`{"a":"{0:1,2:3}",4:5}`, `{"a":"{0:1,2:3}","4":5}`)
	f(`{"a\"{1:":"\\",2:"x\"y,3:"}`, `{"a\"{1:":"\\","2":"x\"y,3:"}`)
	f(`{"k":"\\\"{9:9}"}`, `{"k":"\\\"{9:9}"}`)
	// Values and array elements are not keys.
	f(`{"a":[1,2,3],"b":-4}`, `{"a":[1,2,3],"b":-4}`)
	f(`[1,2]`, `[1,2]`)
	f(`{1.5:2}`, `{1.5:2}`) // not an integer: left for json.Unmarshal to reject
	// Broken input does not panic and stays broken.
	f(`{`, `{`)
	f(`{-`, `{-`)
	f(`{-:1}`, `{-:1}`)
	f(`{12`, `{12`)
	f(`"\`, `"\`)
	f(``, ``)
}

func TestQuoteKeysValidJSONUnchangedWithoutCopy(t *testing.T) {
	in := []byte(`{"offsetTable":{"t@g":{"0":12}},"s":"{1:2}"}`)
	out := quoteKeys(in)
	if &out[0] != &in[0] {
		t.Fatal("valid JSON was copied")
	}
}

// intKey matches the keys fastjson writes without quotes.
var intKey = regexp.MustCompile(`^-?[0-9]+$`)

// fastjsonify strips the quotes from every object key of valid JSON that
// is an integer written without escapes, which is what fastjson does with
// a Map whose keys are numbers.
func fastjsonify(t testing.TB, data []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct{ object, wantKey bool }
	var stack []frame
	var strip []int // positions of quote bytes to drop
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("fastjsonify: %v on valid JSON %q", err, data)
		}
		end := dec.InputOffset()
		isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
				prev = end
				continue
			case '[':
				stack = append(stack, frame{})
				prev = end
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if isKey {
				raw := bytes.TrimLeft(data[prev:end], " \t\r\n,")
				if string(raw) == `"`+v+`"` && intKey.MatchString(v) {
					strip = append(strip, int(end)-len(raw), int(end)-1)
				}
				stack[len(stack)-1].wantKey = false
				prev = end
				continue
			}
		}
		// A whole value ended: its object now waits for a key again.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
		prev = end
	}
	out := make([]byte, 0, len(data))
	last := 0
	for _, p := range strip {
		out = append(out, data[last:p]...)
		last = p + 1
	}
	return append(out, data[last:]...)
}

func TestFastjsonify(t *testing.T) {
	in := `{"a":{"0":1, "-12" :{"3":[{"4":5}]}},"6":"7","\u0038":9}`
	want := `{"a":{0:1, -12 :{3:[{4:5}]}},6:"7","\u0038":9}`
	if got := string(fastjsonify(t, []byte(in))); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func quoteKeysSeeds() []string {
	return []string{
		`{"offsetTable":{"t@g":{0:12,1:40}}}`,
		`{"offsetTable":{1:100}}`,
		`{"offsetTable":{"t@g":{"0":12,"1":40}},"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000}}`,
		"{\n\t\"offsetTable\":{\n\t\t\"TopicTest@g\":{0:250,1:250,2:250,3:250\n\t\t}\n\t}\n}",
		`{"a":"{0:1,2:3}",4:5}`,
		`{"a\"{1:":"\\",2:"x\"y,3:"}`,
		`{"k":"\\\"{9:9}","l":[1,2,{3:4}]}`,
		`{-1:2, 3 : -4}`,
		`{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}}`,
		`{"0":1,"-12":{"3":[{"4":5}]},"\u0038":9}`,
		`{1.5:2}`,
		`{-`,
		`"\`,
	}
}

// FuzzQuoteKeys checks that the pre-pass never panics, leaves valid JSON
// byte for byte as it is, is idempotent, and turns the fastjson form of
// any valid JSON back into that JSON.
func FuzzQuoteKeys(f *testing.F) {
	for _, s := range quoteKeysSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := quoteKeys(in)
		if again := quoteKeys(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		if !json.Valid(in) {
			return
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("valid JSON changed: %q -> %q", in, out)
		}
		fj := fastjsonify(t, in)
		back := quoteKeys(fj)
		if !bytes.Equal(back, in) {
			t.Fatalf("fastjson form not restored:\n in  %q\n fj  %q\n got %q", in, fj, back)
		}
		if !json.Valid(back) {
			t.Fatalf("output of fastjson form does not parse: %q", back)
		}
	})
}
