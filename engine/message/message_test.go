package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var (
	hostV4  = HostFromAddrPort(netip.MustParseAddrPort("192.168.0.7:51234"))
	hostV6  = HostFromAddrPort(netip.MustParseAddrPort("[2001:db8::7]:51234"))
	storeV4 = HostFromAddrPort(netip.MustParseAddrPort("10.1.2.3:10911"))
	storeV6 = HostFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:10911"))
)

// sample returns a message with every field set to something distinct.
func sample(topic string, born Host, body, props string) Message {
	return Message{
		Topic:                     topic,
		QueueID:                   3,
		Flag:                      -7,
		SysFlag:                   SysFlagCompressed | SysFlagTxCommit,
		BornTimestamp:             1_700_000_000_123,
		BornHost:                  born,
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 0x0102_0304_0506,
		Body:                      []byte(body),
		Properties:                []byte(props),
	}
}

func sampleStamp(store Host) Stamp {
	return Stamp{QueueOffset: 41, PhysicalOffset: 1 << 40, StoreTimestamp: 1_700_000_000_456, StoreHost: store}
}

// recordMessage reads a parsed record back into the values Encode takes;
// the byte fields are copied and empty ones are nil, for comparisons.
func recordMessage(r *Record) (Message, Stamp) {
	clone := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return bytes.Clone(b)
	}
	m := Message{
		Topic:                     string(r.Topic()),
		QueueID:                   r.QueueID(),
		Flag:                      r.Flag(),
		SysFlag:                   r.SysFlag(),
		BornTimestamp:             r.BornTimestamp(),
		BornHost:                  r.BornHost(),
		ReconsumeTimes:            r.ReconsumeTimes(),
		PreparedTransactionOffset: r.PreparedTransactionOffset(),
		Body:                      clone(r.Body()),
		Properties:                clone(r.Properties()),
	}
	s := Stamp{
		QueueOffset:    r.QueueOffset(),
		PhysicalOffset: r.PhysicalOffset(),
		StoreTimestamp: r.StoreTimestamp(),
		StoreHost:      r.StoreHost(),
	}
	return m, s
}

// encode returns the record of m and s in a buffer of exactly its size.
func encode(t testing.TB, m *Message, s *Stamp) []byte {
	buf := make([]byte, EncodedSize(m, s.StoreHost.IPv6))
	if n := Encode(buf, m, s); n != len(buf) {
		t.Fatalf("Encode returned %d, EncodedSize %d", n, len(buf))
	}
	return buf
}

func TestRoundTrip(t *testing.T) {
	props := string(AppendProperty(AppendProperty(nil, PropertyTags, "TagA"), PropertyKeys, "k1 k2"))
	f := func(name string, m Message, s Stamp) {
		t.Run(name, func(t *testing.T) {
			size := EncodedSize(&m, s.StoreHost.IPv6)
			// Bytes after the record must not be touched nor read.
			buf := bytes.Repeat([]byte{0xEE}, size+16)
			if n := Encode(buf, &m, &s); n != size {
				t.Fatalf("Encode returned %d, EncodedSize %d", n, size)
			}
			if !bytes.Equal(buf[size:], bytes.Repeat([]byte{0xEE}, 16)) {
				t.Fatal("Encode wrote past the record")
			}
			checkLayout(t, buf[:size], &m, &s)

			rec, err := Parse(buf, true)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(rec.Buf) != size || rec.IsBlank() {
				t.Fatalf("Parse: %d bytes, blank %v; want %d, false", len(rec.Buf), rec.IsBlank(), size)
			}
			want := m
			want.SysFlag &^= SysFlagBornHostV6 | SysFlagStoreHostV6
			if m.BornHost.IPv6 {
				want.SysFlag |= SysFlagBornHostV6
			}
			if s.StoreHost.IPv6 {
				want.SysFlag |= SysFlagStoreHostV6
			}
			if len(want.Body) == 0 {
				want.Body = nil
			}
			if len(want.Properties) == 0 {
				want.Properties = nil
			}
			gotM, gotS := recordMessage(&rec)
			if !reflect.DeepEqual(gotM, want) {
				t.Errorf("message read back\n got %+v\nwant %+v", gotM, want)
			}
			if gotS != s {
				t.Errorf("stamp read back\n got %+v\nwant %+v", gotS, s)
			}
			wantMagic := MagicV1
			if len(m.Topic) > MaxTopicLenV1 {
				wantMagic = MagicV2
			}
			if rec.Magic() != wantMagic || rec.TotalSize() != int32(size) || rec.BodyCRC() != BodyCRC(m.Body) {
				t.Errorf("magic %#x size %d crc %d", rec.Magic(), rec.TotalSize(), rec.BodyCRC())
			}
		})
	}
	body := "hello, gannet"
	f("v1/ipv4", sample("TopicTest", hostV4, body, props), sampleStamp(storeV4))
	f("v1/born=ipv6", sample("TopicTest", hostV6, body, props), sampleStamp(storeV4))
	f("v1/store=ipv6", sample("TopicTest", hostV4, body, props), sampleStamp(storeV6))
	f("v1/ipv6", sample("TopicTest", hostV6, body, props), sampleStamp(storeV6))
	f("v1/topic=127", sample(strings.Repeat("t", 127), hostV4, body, props), sampleStamp(storeV4))
	f("v2/topic=128", sample(strings.Repeat("t", 128), hostV4, body, props), sampleStamp(storeV4))
	f("v2/ipv6", sample("%RETRY%"+strings.Repeat("g", 200), hostV6, body, props), sampleStamp(storeV6))
	f("empty-body", sample("TopicTest", hostV4, "", props), sampleStamp(storeV4))
	f("empty-props", sample("TopicTest", hostV4, body, ""), sampleStamp(storeV4))
	f("empty-all", sample("", hostV4, "", ""), sampleStamp(storeV4))
	f("zero", Message{}, Stamp{})
	stale := sample("TopicTest", hostV4, body, props)
	stale.SysFlag |= SysFlagBornHostV6 | SysFlagStoreHostV6 // cleared: the hosts are IPv4
	f("stale-v6-bits", stale, sampleStamp(storeV4))
	f("max-props", sample("TopicTest", hostV4, body, strings.Repeat("p", MaxPropertiesLen)), sampleStamp(storeV4))
}

// checkLayout reads rec with encoding/binary at the offsets of the table in
// the protocol doc §4.3, independently of Parse.
func checkLayout(t *testing.T, rec []byte, m *Message, s *Stamp) {
	t.Helper()
	be := binary.BigEndian
	i32 := func(off int) int32 { return int32(be.Uint32(rec[off:])) }
	i64 := func(off int) int64 { return int64(be.Uint64(rec[off:])) }
	shift := 0 // 12 bytes per IPv6 host
	if m.BornHost.IPv6 {
		shift += 12
	}
	storeShift := shift
	if s.StoreHost.IPv6 {
		shift += 12
	}
	v2 := len(m.Topic) > 127
	fixed := 91 + shift
	if v2 {
		fixed++
	}
	if want := fixed + len(m.Body) + len(m.Topic) + len(m.Properties); len(rec) != want {
		t.Errorf("size %d, want %d", len(rec), want)
	}
	magic := MagicV1
	if v2 {
		magic = MagicV2
	}
	checks := []struct {
		field     string
		got, want int64
	}{
		{"TOTALSIZE@0", int64(i32(0)), int64(len(rec))},
		{"MAGICCODE@4", int64(i32(4)), int64(magic)},
		{"BODYCRC@8", int64(i32(8)), int64(BodyCRC(m.Body))},
		{"QUEUEID@12", int64(i32(12)), int64(m.QueueID)},
		{"FLAG@16", int64(i32(16)), int64(m.Flag)},
		{"QUEUEOFFSET@20", i64(20), s.QueueOffset},
		{"PHYSICALOFFSET@28", i64(28), s.PhysicalOffset},
		{"SYSFLAG@36 v6 bits", int64(i32(36) & 0x30), int64(b2i(m.BornHost.IPv6)*0x10 + b2i(s.StoreHost.IPv6)*0x20)},
		{"BORNTIMESTAMP@40", i64(40), m.BornTimestamp},
		{"BORNHOST port", int64(i32(52 + storeShift)), int64(m.BornHost.Port)},
		{"STORETIMESTAMP@56", i64(56 + storeShift), s.StoreTimestamp},
		{"STOREHOST port", int64(i32(68 + shift)), int64(s.StoreHost.Port)},
		{"RECONSUMETIMES@72", int64(i32(72 + shift)), int64(m.ReconsumeTimes)},
		{"PREPAREDTRANSACTIONOFFSET@76", i64(76 + shift), m.PreparedTransactionOffset},
		{"BODYLENGTH@84", int64(i32(84 + shift)), int64(len(m.Body))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.field, c.got, c.want)
		}
	}
	if !bytes.Equal(rec[48:48+4+12*b2i(m.BornHost.IPv6)], m.BornHost.IP[:4+12*b2i(m.BornHost.IPv6)]) {
		t.Errorf("BORNHOST address % x", rec[48:56])
	}
	p := 64 + storeShift
	if !bytes.Equal(rec[p:p+4+12*b2i(s.StoreHost.IPv6)], s.StoreHost.IP[:4+12*b2i(s.StoreHost.IPv6)]) {
		t.Errorf("STOREHOST address % x", rec[p:p+8])
	}
	p = 88 + shift
	if !bytes.Equal(rec[p:p+len(m.Body)], m.Body) {
		t.Error("BODY@88 differs")
	}
	p += len(m.Body)
	topicLen := int(rec[p])
	if v2 {
		topicLen = int(be.Uint16(rec[p:]))
		p++
	}
	p++
	if topicLen != len(m.Topic) || string(rec[p:p+topicLen]) != m.Topic {
		t.Errorf("TOPIC %q (length %d), want %q", rec[p:p+topicLen], topicLen, m.Topic)
	}
	p += topicLen
	if n := int(be.Uint16(rec[p:])); n != len(m.Properties) || !bytes.Equal(rec[p+2:], m.Properties) {
		t.Errorf("PROPERTIES length %d, want %d", n, len(m.Properties))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestParseRejectsTruncation(t *testing.T) {
	for _, rec := range [][]byte{
		encode(t, ptr(sample("TopicTest", hostV4, "body", "A\x01b\x02")), ptr(sampleStamp(storeV4))),
		encode(t, ptr(sample(strings.Repeat("t", 130), hostV6, "body", "A\x01b\x02")), ptr(sampleStamp(storeV6))),
	} {
		for k := range len(rec) {
			// A prefix: the bytes are cut short of TOTALSIZE.
			if _, err := Parse(rec[:k], false); err != ErrTruncated {
				t.Errorf("prefix %d of %d: err %v, want ErrTruncated", k, len(rec), err)
			}
			// A torn record that claims to end early: lengths cannot add up.
			if k >= 8 {
				torn := bytes.Clone(rec[:k])
				binary.BigEndian.PutUint32(torn, uint32(k))
				if _, err := Parse(torn, false); err != ErrBadLength {
					t.Errorf("torn at %d of %d: err %v, want ErrBadLength", k, len(rec), err)
				}
			}
		}
		// Every byte replaced with every value: never a panic.
		buf := bytes.Clone(rec)
		for i := range rec {
			for v := range 256 {
				buf[i] = byte(v)
				Parse(buf, true)
			}
			buf[i] = rec[i]
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseRejectsCorruption(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 8)
	rec := encode(t, ptr(sample("TopicTest", hostV4, body, "")), ptr(sampleStamp(storeV4)))
	start := 88
	for i := start; i < start+len(body); i++ {
		for _, x := range []byte{0x01, 0x80, 0xFF, 0x5A} {
			rec[i] ^= x
			if _, err := Parse(rec, true); err != ErrBadCRC {
				t.Fatalf("body byte %d ^ %#x: err %v, want ErrBadCRC", i-start, x, err)
			}
			if _, err := Parse(rec, false); err != nil {
				t.Fatalf("body byte %d ^ %#x without crc check: %v", i-start, x, err)
			}
			rec[i] ^= x
		}
	}

	f := func(name string, edit func(b []byte), want error) {
		t.Helper()
		b := bytes.Clone(rec)
		edit(b)
		if _, err := Parse(b, false); !errors.Is(err, want) {
			t.Errorf("%s: err %v, want %v", name, err, want)
		}
	}
	be := binary.BigEndian
	bodyLenAt, topicLenAt := 84, 88+len(body)
	f("magic", func(b []byte) { b[4] ^= 1 }, ErrBadMagic)
	f("size below header", func(b []byte) { be.PutUint32(b, 90) }, ErrBadLength)
	f("negative size", func(b []byte) { be.PutUint32(b, 0xFFFFFFF0) }, ErrBadLength)
	f("negative body", func(b []byte) { be.PutUint32(b[bodyLenAt:], 0xFFFFFFFF) }, ErrBadLength)
	f("body past end", func(b []byte) { be.PutUint32(b[bodyLenAt:], uint32(len(b))) }, ErrBadLength)
	f("short body", func(b []byte) { be.PutUint32(b[bodyLenAt:], uint32(len(body)-1)) }, ErrBadLength)
	f("v1 topic over 127", func(b []byte) { b[topicLenAt] = 0x80 }, ErrBadLength)
	f("topic past end", func(b []byte) { b[topicLenAt] = 100 }, ErrBadLength)
	f("negative props", func(b []byte) { be.PutUint16(b[len(b)-2:], 0x8000) }, ErrBadLength)
	f("props past end", func(b []byte) { be.PutUint16(b[len(b)-2:], 1) }, ErrBadLength)
	f("v6 flag on v4 hosts", func(b []byte) { b[39] |= 0x10 }, ErrBadLength)
	f("unchanged", func(b []byte) {}, nil)

	_, err := Parse(append(bytes.Clone(rec[:4]), 1, 2, 3, 4), false)
	var e Error
	if !errors.As(err, &e) || e != ErrBadMagic || err.Error() != "message: bad magic code" {
		t.Errorf("errors.As(%v) = %v", err, e)
	}
}

func TestBlank(t *testing.T) {
	seg := bytes.Repeat([]byte{0xEE}, 64)
	EncodeBlank(seg[:40])
	if !bytes.Equal(seg[8:], bytes.Repeat([]byte{0xEE}, 56)) {
		t.Error("EncodeBlank wrote past 8 bytes")
	}
	rec, err := Parse(seg, true)
	if err != nil || !rec.IsBlank() || rec.TotalSize() != 40 || len(rec.Buf) != 40 {
		t.Fatalf("Parse(blank) = blank %v size %d, %v", rec.IsBlank(), rec.TotalSize(), err)
	}
	if size, magic, ok := PeekHeader(seg); !ok || size != 40 || magic != MagicBlank {
		t.Errorf("PeekHeader = %d, %#x, %v", size, magic, ok)
	}
	if _, _, ok := PeekHeader(seg[:7]); ok {
		t.Error("PeekHeader accepted 7 bytes")
	}
	if _, err := Parse(seg[:39], true); err != ErrTruncated {
		t.Errorf("blank cut short: %v", err)
	}
	EncodeBlank(seg[:BlankMinSize])
	if rec, err := Parse(seg, false); err != nil || rec.TotalSize() != BlankMinSize {
		t.Errorf("smallest blank: %v", err)
	}
	binary.BigEndian.PutUint32(seg, 7)
	if _, err := Parse(seg, false); err != ErrBadLength {
		t.Errorf("blank of 7 bytes: %v", err)
	}
	mustPanicBUG(t, func() { EncodeBlank(make([]byte, 7)) })
}

func TestEncodePanics(t *testing.T) {
	m, s := sample("TopicTest", hostV4, "body", ""), sampleStamp(storeV4)
	size := EncodedSize(&m, false)
	mustPanicBUG(t, func() { Encode(make([]byte, size-1), &m, &s) })
	long := sample(strings.Repeat("t", MaxTopicLen+1), hostV4, "", "")
	mustPanicBUG(t, func() { Encode(make([]byte, 1<<16), &long, &s) })
	big := sample("t", hostV4, "", strings.Repeat("p", MaxPropertiesLen+1))
	mustPanicBUG(t, func() { Encode(make([]byte, 1<<16), &big, &s) })
}

func mustPanicBUG(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if msg, _ := recover().(string); !strings.HasPrefix(msg, "BUG: ") {
			t.Errorf("want a BUG panic, got %q", msg)
		}
	}()
	f()
}

func TestSetOffsets(t *testing.T) {
	rec := encode(t, ptr(sample("TopicTest", hostV4, "body", "")), ptr(sampleStamp(storeV4)))
	SetQueueOffset(rec, 777)
	SetPhysicalOffset(rec, 1<<50)
	r, err := Parse(rec, true) // neither field is under BODYCRC
	if err != nil || r.QueueOffset() != 777 || r.PhysicalOffset() != 1<<50 {
		t.Errorf("after Set: %d, %d, %v", r.QueueOffset(), r.PhysicalOffset(), err)
	}
}

// TestRecordViews checks that the slices alias the record and cannot be
// appended into the next field.
func TestRecordViews(t *testing.T) {
	rec := encode(t, ptr(sample("TopicTest", hostV4, "body", "A\x01b\x02")), ptr(sampleStamp(storeV4)))
	r, _ := Parse(rec, true)
	r.Body()[0] = 'B'
	if string(r.Body()) != "Body" {
		t.Error("Body is not a view")
	}
	before := bytes.Clone(rec)
	_ = append(r.Body(), 'x')
	_ = append(r.Topic(), 'x')
	if !bytes.Equal(rec, before) {
		t.Error("append to a view overwrote the record")
	}
}

func TestZeroAllocs(t *testing.T) {
	m, s := sample("TopicTest", hostV6, strings.Repeat("b", 1024), "KEYS\x01k1 k2\x02TAGS\x01TagA\x02"), sampleStamp(storeV4)
	buf := make([]byte, EncodedSize(&m, false))
	ids := make([]byte, 0, 64)
	var rec Record
	var err error
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
	f("Encode", func() { Encode(buf, &m, &s) })
	f("Parse", func() { rec, err = Parse(buf, true) })
	f("Parse/error", func() { _, err = Parse(buf[:len(buf)-1], true) })
	f("accessors", func() { _, _, _ = rec.BornHost(), rec.Topic(), rec.StoreTimestamp() })
	f("Property", func() { _, _ = Property(m.Properties, PropertyTags) })
	f("JavaHash", func() { _ = JavaHash(m.Body) + JavaHashString(m.Topic) })
	f("TagsCode", func() { _ = TagsCode([]byte("TagA")) })
	f("NextKey", func() {
		for k, rest := NextKey([]byte(" k1 k2 ")); k != nil; k, rest = NextKey(rest) {
		}
	})
	f("AppendOffsetMsgID", func() { ids = AppendOffsetMsgID(ids[:0], s.StoreHost, 42) })
	f("DeleteProperty", func() { ids = DeleteProperty(ids[:0], m.Properties, PropertyKeys) })
	_ = err
}

var benchSizes = []int{128, 1024, 16384}

func benchName(size int) string { return "size=" + strconv.Itoa(size) }

func BenchmarkEncode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(benchName(size), func(b *testing.B) {
			m, s := sample("TopicTest", hostV4, strings.Repeat("b", size), "KEYS\x01k1\x02TAGS\x01TagA\x02"), sampleStamp(storeV4)
			buf := make([]byte, EncodedSize(&m, false))
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				Encode(buf, &m, &s)
			}
		})
	}
}

// BenchmarkParse checks the CRC, as recovery does; BenchmarkParseNoCRC is
// the read path.
func BenchmarkParse(b *testing.B)      { benchParse(b, true) }
func BenchmarkParseNoCRC(b *testing.B) { benchParse(b, false) }

func benchParse(b *testing.B, checkCRC bool) {
	for _, size := range benchSizes {
		b.Run(benchName(size), func(b *testing.B) {
			rec := encode(b, ptr(sample("TopicTest", hostV4, strings.Repeat("b", size), "KEYS\x01k1\x02TAGS\x01TagA\x02")), ptr(sampleStamp(storeV4)))
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(rec, checkCRC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
