package message

import (
	"bytes"
	"maps"
	"slices"
)

// The properties string is "name\x01value\x02" repeated (protocol doc §4.1).
// Reading follows Java's MessageDecoder.string2messageProperties, the parser
// whose view of a message the broker must share: pieces are split on \x02
// (the last may lack it), the first \x01 of a piece ends the name, a piece
// with an empty name or an empty value is ignored, and when a name repeats
// the last value wins, as it does in Java's HashMap.

// cutPiece splits props at its first \x02.
func cutPiece(props []byte) (piece, rest []byte) {
	if i := bytes.IndexByte(props, PropertySeparator); i >= 0 {
		return props[:i:i], props[i+1:]
	}
	return props, nil
}

// splitPair splits a piece at its first \x01; ok is false for a piece Java
// ignores.
func splitPair(piece []byte) (name, value []byte, ok bool) {
	k := bytes.IndexByte(piece, NameValueSeparator)
	if k <= 0 || k == len(piece)-1 {
		return nil, nil, false
	}
	return piece[:k:k], piece[k+1:], true
}

// Property returns the value of the property name, a view into props.
// It allocates nothing.
func Property(props []byte, name string) ([]byte, bool) {
	var value []byte
	found := false
	for len(props) > 0 {
		var piece []byte
		piece, props = cutPiece(props)
		if k, v, ok := splitPair(piece); ok && string(k) == name {
			value, found = v, true
		}
	}
	return value, found
}

// AppendProperty appends one "name\x01value\x02" pair to dst. Neither name
// nor value may contain \x01 or \x02; that is not checked.
func AppendProperty(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, NameValueSeparator)
	dst = append(dst, value...)
	return append(dst, PropertySeparator)
}

// DeleteProperty appends props to dst without any pair named name. The other
// pieces are kept byte for byte, malformed ones included, except that empty
// pieces are dropped and every piece ends with \x02. dst must not overlap
// props.
func DeleteProperty(dst, props []byte, name string) []byte {
	for len(props) > 0 {
		var piece []byte
		piece, props = cutPiece(props)
		if k, _, ok := splitPair(piece); len(piece) == 0 || ok && string(k) == name {
			continue
		}
		dst = append(dst, piece...)
		dst = append(dst, PropertySeparator)
	}
	return dst
}

// NextKey returns the first key of a KEYS value and the rest after it. Keys
// are separated by single spaces and empty keys are skipped, as Java's
// IndexService does with keys.split(" "); key is nil when none is left.
//
//	for k, rest := message.NextKey(keys); k != nil; k, rest = message.NextKey(rest) { ... }
func NextKey(keys []byte) (key, rest []byte) {
	for len(keys) > 0 && keys[0] == ' ' {
		keys = keys[1:]
	}
	if len(keys) == 0 {
		return nil, nil
	}
	if i := bytes.IndexByte(keys, ' '); i >= 0 {
		return keys[:i:i], keys[i+1:]
	}
	return keys, nil
}

// AppendProperties appends every pair of m to dst, sorted by name so the
// output is stable. Java writes empty values too (and skips them on reading),
// so this does the same. It allocates; keep it off hot paths.
func AppendProperties(dst []byte, m map[string]string) []byte {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		dst = AppendProperty(dst, k, m[k])
	}
	return dst
}

// ParseProperties returns every pair of props in a new map, by the rules
// Property applies. It allocates; keep it off hot paths.
func ParseProperties(props []byte) map[string]string {
	m := make(map[string]string)
	for len(props) > 0 {
		var piece []byte
		piece, props = cutPiece(props)
		if k, v, ok := splitPair(piece); ok {
			m[string(k)] = string(v)
		}
	}
	return m
}
