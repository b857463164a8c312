package meta

// quoteKeys turns fastjson's unquoted integer map keys into JSON strings,
// so that encoding/json can read the files and bodies a Java broker
// writes: fastjson prints a Map whose keys are not Strings with bare keys,
// e.g. {"offsetTable":{"t@g":{0:12,1:40}}} (rocketmq-protocol.md §6.2).
//
// A bare key is an optional '-' and digits that follow '{' or ',' and are
// followed by ':', with only whitespace in between, outside any string.
// Valid JSON never has that shape (a key position always starts with '"',
// and a value is never followed by ':'), so valid JSON is returned
// unchanged; it is also returned without a copy. Anything else, valid or
// not, is left for json.Unmarshal to judge.
func quoteKeys(in []byte) []byte {
	var out []byte // nil until the first key is quoted
	copied := 0    // in[:copied] is already in out
	inString := false
	afterOpen := false // the last byte outside whitespace was '{' or ','
	for i := 0; i < len(in); i++ {
		c := in[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
			afterOpen = false
		case c == '{' || c == ',':
			afterOpen = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case afterOpen && (c == '-' || isDigit(c)):
			end := i
			if c == '-' {
				end++
			}
			digits := end
			for end < len(in) && isDigit(in[end]) {
				end++
			}
			if end > digits && colonFollows(in, end) {
				if out == nil {
					out = make([]byte, 0, len(in)+32)
				}
				out = append(out, in[copied:i]...)
				out = append(out, '"')
				out = append(out, in[i:end]...)
				out = append(out, '"')
				copied = end
			}
			i = end - 1
			afterOpen = false
		default:
			afterOpen = false
		}
	}
	if out == nil {
		return in
	}
	return append(out, in[copied:]...)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// colonFollows reports whether in[i:] starts with optional whitespace and ':'.
func colonFollows(in []byte, i int) bool {
	for ; i < len(in); i++ {
		switch in[i] {
		case ' ', '\t', '\n', '\r':
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}
