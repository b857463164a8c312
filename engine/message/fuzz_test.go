package message

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"
)

// parseSeeds are the FuzzParse seeds, also committed under
// testdata/fuzz/FuzzParse.
func parseSeeds(t testing.TB) map[string][]byte {
	props := "KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x017F0000010001\x02"
	v1 := encode(t, ptr(sample("TopicTest", hostV4, "hello", props)), ptr(sampleStamp(storeV4)))
	v2 := encode(t, ptr(sample(strings.Repeat("T", 130), hostV6, "hello", props)), ptr(sampleStamp(storeV6)))
	blank := make([]byte, 24)
	EncodeBlank(blank)
	badCRC := bytes.Clone(v1)
	badCRC[88] ^= 1
	badMagic := bytes.Clone(v1)
	badMagic[7] ^= 1
	negBody := bytes.Clone(v1)
	binary.BigEndian.PutUint32(negBody[84:], 0xFFFFFFFF)
	return map[string][]byte{
		"v1-ipv4":         v1,
		"v2-ipv6":         v2,
		"v2-short-topic":  shortV2(v1),
		"blank":           blank,
		"v1-then-blank":   append(bytes.Clone(v1), blank...),
		"truncated":       v1[:len(v1)-1],
		"bad-crc":         badCRC,
		"bad-magic":       badMagic,
		"negative-body":   negBody,
		"header-only":     v1[:8],
		"empty-v1-fields": encode(t, &Message{}, &Stamp{}),
	}
}

// shortV2 rewrites a V1 record with the 2-byte topic length of MagicV2,
// which Java reads but Encode never writes for a short topic.
func shortV2(v1 []byte) []byte {
	r, err := Parse(v1, true)
	if err != nil {
		panic(err)
	}
	at := r.topic - 1 // the 1-byte topic length
	out := append(bytes.Clone(v1[:at]), 0)
	out = append(out, v1[at:]...)
	putInt32(out[OffTotalSize:], int32(len(out)))
	putInt32(out[OffMagic:], MagicV2)
	return out
}

// FuzzParse: Parse never panics, fails only with an Error, rejects every
// prefix of what it accepts, and what it accepts re-encodes to itself.
func FuzzParse(f *testing.F) {
	for _, seed := range parseSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse(data, false)
		_, errCRC := Parse(data, true)
		if err != nil {
			if _, ok := err.(Error); !ok || errCRC != err {
				t.Fatalf("Parse failed with %v, with crc check %v", err, errCRC)
			}
			return
		}
		if errCRC != nil && errCRC != ErrBadCRC {
			t.Fatalf("only the crc check failed, yet with %v", errCRC)
		}
		if int(rec.TotalSize()) != len(rec.Buf) || !bytes.Equal(rec.Buf, data[:len(rec.Buf)]) {
			t.Fatalf("Buf is %d bytes, TOTALSIZE %d", len(rec.Buf), rec.TotalSize())
		}
		for k := range rec.Buf {
			if _, err := Parse(data[:k], false); err != ErrTruncated {
				t.Fatalf("prefix of %d bytes: %v", k, err)
			}
		}
		if rec.IsBlank() {
			return
		}
		if (errCRC == nil) != (rec.BodyCRC() == BodyCRC(rec.Body())) {
			t.Fatalf("crc check %v, stored %d, computed %d", errCRC, rec.BodyCRC(), BodyCRC(rec.Body()))
		}

		m, s := recordMessage(&rec)
		re := encode(t, &m, &s)
		copy(re[OffBodyCRC:], rec.Buf[OffBodyCRC:OffBodyCRC+4]) // Encode computes it
		if rec.Magic() == MagicV2 && len(m.Topic) <= MaxTopicLenV1 {
			// Not Encode's choice of layout: the fields must survive.
			r2, err := Parse(re, false)
			if err != nil {
				t.Fatal(err)
			}
			if m2, s2 := recordMessage(&r2); !sameMessage(m, m2) || s != s2 {
				t.Fatalf("re-encoded V2 record reads back differently\n got %+v %+v\nwant %+v %+v", m2, s2, m, s)
			}
			return
		}
		if !bytes.Equal(re, rec.Buf) {
			t.Fatalf("re-encoded record differs\n got % x\nwant % x", re, rec.Buf)
		}
	})
}

func sameMessage(a, b Message) bool {
	return a.Topic == b.Topic && bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Properties, b.Properties) &&
		a.QueueID == b.QueueID && a.Flag == b.Flag && a.SysFlag == b.SysFlag &&
		a.BornTimestamp == b.BornTimestamp && a.BornHost == b.BornHost &&
		a.ReconsumeTimes == b.ReconsumeTimes && a.PreparedTransactionOffset == b.PreparedTransactionOffset
}

// propertySeeds are the FuzzProperties seeds, also committed under
// testdata/fuzz/FuzzProperties.
var propertySeeds = map[string]string{
	"typical":      "KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x017F0000010001\x02WAIT\x01true\x02",
	"no-trailing":  "TAGS\x01TagA",
	"ignored":      "\x01v\x02n\x01\x02\x02junk\x02",
	"repeated":     "A\x011\x02A\x012\x02",
	"value-sep":    "A\x01x\x01y\x02",
	"keys-spacing": "KEYS\x01  a  b   c \x02",
	"non-utf8":     "TAGS\x01\xe4\xb8\xf0\x9f\x02KEYS\x01\xed\xa0\x80 \xc0\x02",
}

// FuzzProperties: the property readers never panic and agree with each
// other; the Java hash of any bytes can be computed piecewise.
func FuzzProperties(f *testing.F) {
	for _, seed := range propertySeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, props []byte) {
		m := ParseProperties(props)
		for _, name := range append(slices.Collect(maps.Keys(m)), "", "KEYS", "TAGS", "A") {
			v, ok := Property(props, name)
			if want, wantOK := m[name]; ok != wantOK || string(v) != want {
				t.Fatalf("Property(%q) = %q, %v; map has %q, %v", name, v, ok, want, wantOK)
			}
			rest := ParseProperties(DeleteProperty(nil, props, name))
			want := maps.Clone(m)
			delete(want, name)
			if !maps.Equal(rest, want) {
				t.Fatalf("after DeleteProperty(%q): %v, want %v", name, rest, want)
			}
		}
		if again := ParseProperties(AppendProperties(nil, m)); !maps.Equal(again, m) {
			t.Fatalf("AppendProperties does not round-trip: %v, want %v", again, m)
		}

		var keys []string
		for k, rest := NextKey(props); k != nil; k, rest = NextKey(rest) {
			if len(k) == 0 || bytes.IndexByte(k, ' ') >= 0 {
				t.Fatalf("NextKey returned %q", k)
			}
			keys = append(keys, string(k))
		}
		var want []string
		for _, k := range strings.Split(string(props), " ") {
			if k != "" {
				want = append(want, k)
			}
		}
		if strings.Join(keys, " ") != strings.Join(want, " ") || len(keys) != len(want) {
			t.Fatalf("NextKey split %q into %q, want %q", props, keys, want)
		}

		h := JavaHash(props)
		if JavaHashString(string(props)) != h {
			t.Fatal("JavaHash and JavaHashString differ")
		}
		for i := 1; i < min(len(props), 512); i++ { // quadratic: keep it short
			if props[i-1] < 0x80 || props[i] < 0x80 {
				if got := JavaHashCombine(JavaHash(props[:i]), props[i:]); got != h {
					t.Fatalf("JavaHashCombine split at %d: %d, want %d", i, got, h)
				}
			}
		}
	})
}
