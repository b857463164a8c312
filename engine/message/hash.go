package message

// Java hashes strings, not bytes: the ConsumeQueue stores the TAGS value's
// String.hashCode() and clients compare it with the hash of their
// subscription, and the index files place keys by the hash of
// "topic#key". So the UTF-8 bytes are decoded the way Java's
// new String(bytes, UTF_8) decodes them (JDK 17+ String.decodeUTF8_UTF16),
// malformed input included, and hashed as UTF-16 units:
//
//	h = 31*h + unit   (int32 arithmetic, wrapping)
//
// A code point above U+FFFF is two units (a surrogate pair), and each
// malformed sequence, as Java delimits it, is one U+FFFD.

const replacementChar = 0xFFFD

// JavaHash returns Java's String.hashCode() of the string whose UTF-8 bytes
// are b. It allocates nothing.
func JavaHash(b []byte) int32 { return JavaHashCombine(0, b) }

// JavaHashString is JavaHash of a string.
func JavaHashString(s string) int32 { return javaHashCombine(0, s) }

// JavaHashCombine continues h, the hash of a prefix, over b: hashing
// "topic#key" piecewise gives JavaHash of the concatenation. That holds
// whenever the byte on either side of each split is ASCII, or each piece is
// valid UTF-8; a malformed sequence cut in two may be replaced differently.
func JavaHashCombine(h int32, b []byte) int32 { return javaHashCombine(h, b) }

func javaHashCombine[T string | []byte](h int32, b T) int32 {
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x80 {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := decodeJava(b[i:])
		i += n
		if r > 0xFFFF {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
		} else {
			h = 31*h + int32(r)
		}
	}
	return h
}

// TagsCode is the tags hash a ConsumeQueue unit stores for a message with
// these TAGS (0 when it has none), as Java's MessageExtBrokerInner
// tagsString2tagsCode computes it. Units of SCHEDULE_TOPIC_XXXX hold the
// delivery time there instead; that choice is the caller's.
func TagsCode(tags []byte) int64 {
	if len(tags) == 0 {
		return 0
	}
	return int64(JavaHash(tags))
}

func isCont(b byte) bool { return b&0xC0 == 0x80 }

// decodeJava decodes the non-ASCII sequence starting b and returns the code
// point (U+FFFD when malformed, never a surrogate) and how many bytes Java
// consumes for it. Each branch mirrors a branch of
// String.decodeUTF8_UTF16; at the end of the input a malformed tail is one
// U+FFFD, as the loop there breaks out.
func decodeJava[T string | []byte](b T) (rune, int) {
	b1 := b[0]
	switch {
	case b1 >= 0xC2 && b1 <= 0xDF: // 2 bytes
		if len(b) < 2 || !isCont(b[1]) {
			return replacementChar, 1
		}
		return rune(b1&0x1F)<<6 | rune(b[1]&0x3F), 2

	case b1 >= 0xE0 && b1 <= 0xEF: // 3 bytes
		if len(b) < 3 {
			if len(b) == 2 && malformed3x2(b1, b[1]) {
				return replacementChar, 1
			}
			return replacementChar, len(b)
		}
		b2, b3 := b[1], b[2]
		if malformed3x2(b1, b2) {
			return replacementChar, 1
		}
		if !isCont(b3) {
			return replacementChar, 2
		}
		r := rune(b1&0x0F)<<12 | rune(b2&0x3F)<<6 | rune(b3&0x3F)
		if r >= 0xD800 && r <= 0xDFFF {
			// An encoded surrogate is one malformed unit of 3 bytes.
			return replacementChar, 3
		}
		return r, 3

	case b1 >= 0xF0 && b1 <= 0xF7: // 4 bytes
		if len(b) < 4 {
			if b1 > 0xF4 || len(b) >= 2 && malformed4x2(b1, b[1]) {
				return replacementChar, 1
			}
			if len(b) == 3 && !isCont(b[2]) {
				return replacementChar, 2
			}
			return replacementChar, len(b)
		}
		b2, b3, b4 := b[1], b[2], b[3]
		if b1 > 0xF4 || malformed4x2(b1, b2) {
			return replacementChar, 1
		}
		if !isCont(b3) {
			return replacementChar, 2
		}
		if !isCont(b4) {
			return replacementChar, 3
		}
		return rune(b1&0x07)<<18 | rune(b2&0x3F)<<12 | rune(b3&0x3F)<<6 | rune(b4&0x3F), 4
	}
	// A continuation byte, C0, C1 or F8..FF.
	return replacementChar, 1
}

// malformed3x2 is Java's isMalformed3_2: b2 cannot follow b1 in a 3-byte
// sequence (not a continuation, or an overlong E0 form).
func malformed3x2(b1, b2 byte) bool {
	return b1 == 0xE0 && b2&0xE0 == 0x80 || !isCont(b2)
}

// malformed4x2 is Java's isMalformed4_2: b2 cannot follow b1 in a 4-byte
// sequence (not a continuation, overlong F0, or beyond U+10FFFF after F4).
func malformed4x2(b1, b2 byte) bool {
	return b1 == 0xF0 && (b2 < 0x90 || b2 > 0xBF) || b1 == 0xF4 && b2&0xF0 != 0x80 || !isCont(b2)
}
