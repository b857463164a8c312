package index

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestJavaHashCombine(t *testing.T) {
	// Values of Java's String.hashCode.
	f := func(s string, want int32) {
		t.Helper()
		if got := javaHashCombine(0, []byte(s)); got != want {
			t.Errorf("javaHash(%q) = %d, want %d", s, got, want)
		}
	}
	f("", 0)
	f("a", 97)
	f("hello", 99162322)
	f("TagA", 2598919)
	f("Aa", 2112)
	f("BB", 2112)
	f("TopicTest#ORDER_1", -1111208162)
	f("polygenelubricants", math.MinInt32)
	f("é", 233)
	f("日本語", 25921943)
	f("😀", 1772899)    // U+1F600 as the surrogates D83D DE00
	f("a😀b", 57849694) // surrogates inside
	f("\ufffd", 65533)
	// Invalid bytes count as one U+FFFD each.
	f("\xff", 65533)
	f("a\x80b", (97*31+65533)*31+98)
	f("\xe2\x82", 65533*31+65533)
}

func TestKeyHash(t *testing.T) {
	if got, want := keyHash([]byte("TopicTest"), []byte("ORDER_1")), int32(1111208162); got != want {
		t.Errorf("keyHash = %d, want %d", got, want)
	}
	// "t108770#\u9646." hashes to MinInt32, whose abs overflows: Java's
	// indexKeyHashMethod gives 0.
	if got := keyHash([]byte("t108770"), []byte("\u9646.")); got != 0 {
		t.Errorf("keyHash of a MinInt32 hash = %d, want 0", got)
	}
	// Piecewise hashing equals hashing the concatenation, even for
	// invalid UTF-8 on either side of the '#'.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab#\x80\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff")
	gen := func() []byte {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	for range 10000 {
		topic, key := gen(), gen()
		whole := javaHashCombine(0, append(append(append([]byte{}, topic...), '#'), key...))
		want := whole
		if want < 0 {
			want = -want
		}
		if want < 0 {
			want = 0
		}
		if got := keyHash(topic, key); got != want {
			t.Fatalf("keyHash(%q, %q) = %d, want %d", topic, key, got, want)
		}
	}
}
