package message

import "testing"

// Java's String.hashCode() over UTF-16 units: h = 31*h + unit, int32
// wrapping. Worked examples for the table:
//
//	"TagA": ((84*31 + 97)*31 + 103)*31 + 65 = 2598919
//	"中文": U+4E2D = 20013, U+6587 = 25991; 20013*31 + 25991 = 646394
//	"😀":   U+1F600 is the pair D83D DE00; 55357*31 + 56832 = 1772899
//	"\xe4\xb8A": one U+FFFD for the cut 3-byte sequence; 65533*31 + 65 = 2031588
//
// Every value was also checked against new String(b, UTF_8).hashCode() on
// JDK 17 and 25, the malformed ones included.
var javaHashCases = []struct {
	in   string
	want int32
}{
	{"", 0},
	{"a", 97},
	{"TagA", 2598919},
	{"hello", 99162322},
	{"中文", 646394},
	{"😀", 1772899},
	{"hello world", 1794106052},     // wraps past 2^31 on the way
	{"TopicTest#KEY1", -1656969516}, // ends negative
	{"\xe4\xb8A", 2031588},          // truncated 3-byte sequence, then 'A'
	{"\xed\xa0\x80", 65533},         // encoded surrogate: one U+FFFD for 3 bytes
	{"\xed\xa0A", 2031588},          // cut surrogate: one U+FFFD for 2 bytes
	{"\xf0\x9f\x98", 65533},         // truncated 4-byte sequence at the end
	{"\xf0\x9f\x98A", 2031588},      // truncated 4-byte sequence, then 'A'
	{"\xc0", 65533},
	{"\xed", 65533},
	{"a\xe4", 68540},
}

func TestJavaHash(t *testing.T) {
	for _, c := range javaHashCases {
		if got := JavaHash([]byte(c.in)); got != c.want {
			t.Errorf("JavaHash(%q) = %d, want %d", c.in, got, c.want)
		}
		if got := JavaHashString(c.in); got != c.want {
			t.Errorf("JavaHashString(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestJavaHashCombine(t *testing.T) {
	f := func(topic, key string) {
		t.Helper()
		h := JavaHashCombine(JavaHashCombine(JavaHash([]byte(topic)), []byte("#")), []byte(key))
		if want := JavaHashString(topic + "#" + key); h != want {
			t.Errorf("combine(%q, %q) = %d, want %d", topic, key, h, want)
		}
	}
	f("TopicTest", "order-1")
	f("", "")
	f("中文", "😀")
	f("bad\xf0\x9f", "\x98key") // malformed either side of '#'
}

func TestTagsCode(t *testing.T) {
	if got := TagsCode(nil); got != 0 {
		t.Errorf("TagsCode(nil) = %d", got)
	}
	if got := TagsCode([]byte("TagA")); got != 2598919 {
		t.Errorf("TagsCode(TagA) = %d", got)
	}
	// A negative hash stays negative: Java widens the int.
	if got := TagsCode([]byte("TopicTest#KEY1")); got != -1656969516 {
		t.Errorf("TagsCode(TopicTest#KEY1) = %d", got)
	}
}

func BenchmarkJavaHash(b *testing.B) {
	key := []byte("TopicTest#ORDER-20240101-000042")
	b.SetBytes(int64(len(key)))
	b.ReportAllocs()
	var h int32
	for b.Loop() {
		h += JavaHash(key)
	}
	_ = h
}
