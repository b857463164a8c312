package config

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A property is one key=value entry of a properties file, with the line
// its logical line starts on (1-based).
type property struct {
	line       int
	key, value string
}

// readProperties splits text into entries by java.util.Properties.load's
// rules (LineReader and loadConvert):
//
//   - lines end at \n, \r or \r\n; white space is space, \t and \f;
//   - a line whose first non-white character is # or ! is a comment, and so
//     is never continued;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading white space is dropped (a backslash ending the
//     input is dropped);
//   - the key ends at the first unescaped '=', ':' or white space; white
//     space, one '=' or ':' and white space again separate it from the
//     value;
//   - \t \n \r \f and \uXXXX are escapes, and a backslash before any other
//     character stands for that character.
//
// Two differences from Java: the text is UTF-8 (Java reads ISO-8859-1), and
// the value's trailing white space is dropped unless escaped (Java keeps
// it, and then fails to parse "8 " as a number). A malformed \uXXXX is
// reported as an issue (Java throws); the entry is skipped.
func readProperties(text string) ([]property, []Issue) {
	var props []property
	var issues []Issue
	lineNo := 0
	for len(text) > 0 {
		var line string
		line, text = cutLine(text)
		lineNo++
		start := lineNo
		line = trimLeftWS(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// Join continuation lines.
		if endsContinued(line) {
			var b strings.Builder
			for endsContinued(line) {
				b.WriteString(line[:len(line)-1])
				if len(text) == 0 {
					line = ""
					break
				}
				line, text = cutLine(text)
				lineNo++
				line = trimLeftWS(line)
			}
			b.WriteString(line)
			line = b.String()
		}
		key, value, err := splitEntry(line)
		if err != "" {
			issues = append(issues, Issue{Line: start, Key: key, Msg: err})
			continue
		}
		props = append(props, property{line: start, key: key, value: value})
	}
	return props, issues
}

// cutLine returns the first line of text and the rest after its end of line.
func cutLine(text string) (line, rest string) {
	i := strings.IndexAny(text, "\r\n")
	if i < 0 {
		return text, ""
	}
	if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
		return text[:i], text[i+2:]
	}
	return text[:i], text[i+1:]
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimLeftWS(s string) string {
	for len(s) > 0 && isWS(s[0]) {
		s = s[1:]
	}
	return s
}

// endsContinued reports whether line ends in an odd number of backslashes.
func endsContinued(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitEntry cuts a logical line into its unescaped key and value.
func splitEntry(line string) (key, value, err string) {
	keyEnd, valueStart := len(line), len(line)
	hasSep := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // the escaped character belongs to the key
			continue
		}
		if c == '=' || c == ':' {
			keyEnd, valueStart, hasSep = i, i+1, true
			break
		}
		if isWS(c) {
			keyEnd, valueStart = i, i+1
			break
		}
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isWS(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valueStart++
	}
	key, _, err = unescape(line[:keyEnd])
	if err != "" {
		return key, "", err
	}
	value, sig, err := unescape(line[valueStart:])
	if err != "" {
		return key, "", err
	}
	return key, value[:sig], ""
}

// unescape decodes the escapes of s. sig is the length of value up to its
// last character that is not unescaped white space, so a caller can drop
// trailing white space but keep "\ ".
func unescape(s string) (value string, sig int, err string) {
	if !strings.ContainsRune(s, '\\') {
		t := s
		for len(t) > 0 && isWS(t[len(t)-1]) {
			t = t[:len(t)-1]
		}
		return s, len(t), ""
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			if !isWS(c) {
				sig = len(b)
			}
			continue
		}
		i++
		if i == len(s) {
			break // a lone backslash at the end stands for nothing
		}
		switch c = s[i]; c {
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return "", 0, `malformed \uXXXX escape`
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A surrogate pair is two escapes; anything else is not a
				// character.
				if r2, ok := lowSurrogate(s[i+1:]); ok && r < 0xDC00 {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			b = append(b, c)
		}
		sig = len(b)
	}
	return string(b), sig, ""
}

// hex4 reads four hex digits.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// lowSurrogate reads a \uXXXX escape of a low surrogate at the start of s.
func lowSurrogate(s string) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	r, ok := hex4(s[2:])
	return r, ok && r >= 0xDC00 && r <= 0xDFFF
}

// escapeValue writes v so that readProperties reads it back unchanged:
// backslashes and control characters are escaped, and so is white space at
// either end (which would be trimmed). Other bytes, non-ASCII ones included,
// are written as they are.
func escapeValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == ' ' && (i == 0 || i == len(v)-1):
			b.WriteString(`\ `)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
}
