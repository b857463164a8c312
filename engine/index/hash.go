package index

import (
	"unicode/utf8"
	"unsafe"
)

// javaHashCombine continues Java's String.hashCode over b, read as UTF-8:
// each UTF-16 code unit u folds in as h = 31*h + u with int32 wraparound, a
// rune above U+FFFF counts as its two surrogate units, and every byte that
// does not start a valid sequence counts as one U+FFFD. Starting from h=0
// gives "new String(b, UTF_8).hashCode()" for valid UTF-8; for invalid input
// Java replaces maximal subparts rather than single bytes, so the values may
// differ there, which is harmless because Gannet computes both the stored and
// the queried hash with this function.
//
// Hashing a string piecewise equals hashing the concatenation whenever the
// pieces split at a valid boundary, which "topic" "#" "key" always does: '#'
// is ASCII, so it ends any sequence left open by the topic.
func javaHashCombine(h int32, b []byte) int32 {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:]) // invalid: (U+FFFD, 1)
		i += n
		if r > 0xFFFF {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// keyHash is RocketMQ's IndexFile.indexKeyHashMethod for topic+"#"+key:
// abs(hashCode), and 0 when abs overflows (hashCode = MinInt32).
func keyHash(topic, key []byte) int32 {
	h := javaHashCombine(0, topic)
	h = 31*h + '#'
	h = javaHashCombine(h, key)
	if h < 0 {
		h = -h
	}
	if h < 0 {
		return 0
	}
	return h
}

// stringBytes views s as bytes without copying. The result must not be
// written; it is valid as long as s is.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
