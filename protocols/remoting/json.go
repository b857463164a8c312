package remoting

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON header (protocol reference §1.3) is read and written by hand:
// the writer appends to the caller's buffer, the reader scans one string
// copy of the header and hands out substrings of it. The reader accepts
// what encoding/json would accept when decoding into
//
//	struct {
//		Code, Version, Opaque, Flag int32
//		Language, Remark            string
//		ExtFields                   map[string]string
//	}
//
// and decodes it to the same values (the fuzz test FuzzJSONHeader checks
// this against encoding/json): keys match case-insensitively, unknown keys
// such as serializeTypeCurrentRPC are skipped whatever their value, null
// leaves a field unchanged (and stores "" as an extFields value), a number
// or object where a string belongs is an error, invalid UTF-8 becomes
// U+FFFD, and a repeated extFields object adds to the first.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// Header fields in the order jsonFieldNames lists them.
const (
	fieldCode = iota
	fieldLanguage
	fieldVersion
	fieldOpaque
	fieldFlag
	fieldRemark
	fieldExtFields
)

var jsonFieldNames = [...]string{"code", "language", "version", "opaque", "flag", "remark", "extFields"}

func jsonField(key string) int {
	switch key {
	case "code":
		return fieldCode
	case "language":
		return fieldLanguage
	case "version":
		return fieldVersion
	case "opaque":
		return fieldOpaque
	case "flag":
		return fieldFlag
	case "remark":
		return fieldRemark
	case "extFields":
		return fieldExtFields
	case "serializeTypeCurrentRPC":
		return -1
	}
	for i, n := range jsonFieldNames {
		if strings.EqualFold(key, n) {
			return i
		}
	}
	return -1
}

type jsonDecoder struct {
	s string // the header text; strings without escapes are substrings of it
	i int    // next byte to read
}

func decodeJSONHeader(h []byte, cmd *Command) error {
	d := jsonDecoder{s: string(h)}
	return d.header(cmd)
}

func (d *jsonDecoder) fail(what string) error {
	return decodeErr(KindBadJSON, "%s at offset %d", what, d.i)
}

func (d *jsonDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (d *jsonDecoder) next() byte {
	d.ws()
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *jsonDecoder) header(cmd *Command) error {
	if d.next() != '{' {
		return d.fail("header is not a JSON object")
	}
	d.i++
	if d.next() == '}' {
		d.i++
	} else {
		for {
			if d.next() != '"' {
				return d.fail("expected a key")
			}
			key, err := d.str()
			if err != nil {
				return err
			}
			if d.next() != ':' {
				return d.fail("expected ':'")
			}
			d.i++
			d.ws()
			if err := d.field(jsonField(key), cmd); err != nil {
				return err
			}
			c := d.next()
			d.i++
			if c == ',' {
				continue
			}
			if c == '}' {
				break
			}
			d.i--
			return d.fail("expected ',' or '}'")
		}
	}
	if d.next() != 0 || d.i != len(d.s) {
		return d.fail("data after the header object")
	}
	return nil
}

func (d *jsonDecoder) field(f int, cmd *Command) error {
	var err error
	switch f {
	case fieldCode:
		err = d.int32(&cmd.Code)
	case fieldVersion:
		err = d.int32(&cmd.Version)
	case fieldOpaque:
		err = d.int32(&cmd.Opaque)
	case fieldFlag:
		err = d.int32(&cmd.Flag)
	case fieldLanguage:
		err = d.string(&cmd.Language)
	case fieldRemark:
		err = d.string(&cmd.Remark)
	case fieldExtFields:
		err = d.extFields(cmd)
	default:
		err = d.skip(2)
	}
	return err
}

func (d *jsonDecoder) null() bool {
	if strings.HasPrefix(d.s[d.i:], "null") {
		d.i += 4
		return true
	}
	return false
}

// int32 reads an integer or null (which leaves *v unchanged).
func (d *jsonDecoder) int32(v *int32) error {
	if d.null() {
		return nil
	}
	start := d.i
	isInt, err := d.number()
	if err != nil {
		return err
	}
	if !isInt {
		return decodeErr(KindBadJSON, "number %s at offset %d is not an integer", d.s[start:d.i], start)
	}
	n, err := strconv.ParseInt(d.s[start:d.i], 10, 32)
	if err != nil {
		return decodeErr(KindBadJSON, "number %s at offset %d does not fit int32", d.s[start:d.i], start)
	}
	*v = int32(n)
	return nil
}

// string reads a string or null (which leaves *v unchanged).
func (d *jsonDecoder) string(v *string) error {
	if d.null() {
		return nil
	}
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return d.fail("expected a string")
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*v = s
	return nil
}

// extFields reads null (the map becomes nil) or an object of scalars; a
// null value is stored as "" (encoding/json does the same). Java and Go
// send strings only, but the ali-ons JavaScript client sends numbers and
// booleans as JSON numbers and literals ("e":3,"k":false): those are kept
// as their text, which is what Java's header decoding parses them from.
func (d *jsonDecoder) extFields(cmd *Command) error {
	if d.null() {
		cmd.ExtFields = nil
		return nil
	}
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return d.fail("extFields is not an object")
	}
	d.i++
	var scratch [32]string
	kv := scratch[:0]
	if d.next() == '}' {
		d.i++
	} else {
		for {
			if d.next() != '"' {
				return d.fail("expected an extFields key")
			}
			k, err := d.str()
			if err != nil {
				return err
			}
			if d.next() != ':' {
				return d.fail("expected ':'")
			}
			d.i++
			d.ws()
			var v string
			if !d.null() {
				if v, err = d.scalar(); err != nil {
					return err
				}
			}
			kv = append(kv, k, v)
			c := d.next()
			d.i++
			if c == ',' {
				continue
			}
			if c == '}' {
				break
			}
			d.i--
			return d.fail("expected ',' or '}'")
		}
	}
	m := cmd.ExtFields
	if m == nil {
		m = make(map[string]string, len(kv)/2)
	}
	for j := 0; j < len(kv); j += 2 {
		m[kv[j]] = kv[j+1]
	}
	cmd.ExtFields = m
	return nil
}

// number scans a JSON number and reports whether it has neither a fraction
// nor an exponent.
func (d *jsonDecoder) number() (isInt bool, err error) {
	s, i := d.s, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		d.i = i
		return false, d.fail("invalid number")
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return false, d.fail("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		isInt = false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return false, d.fail("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		isInt = false
	}
	d.i = i
	return isInt, nil
}

// scalar reads a string, number or boolean extFields value as text.
func (d *jsonDecoder) scalar() (string, error) {
	if d.i >= len(d.s) {
		return "", d.fail("extFields value missing")
	}
	switch c := d.s[d.i]; {
	case c == '"':
		return d.str()
	case c == 't':
		return "true", d.literal("true")
	case c == 'f':
		return "false", d.literal("false")
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.i
		if _, err := d.number(); err != nil {
			return "", err
		}
		return d.s[start:d.i], nil
	}
	return "", d.fail("extFields value is not a string, number or boolean")
}

// str reads the string that starts at d.i (a '"'). A string without
// escapes or invalid UTF-8 is a substring of the header.
func (d *jsonDecoder) str() (string, error) {
	s := d.s
	start := d.i + 1
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.strSlow(start)
		case c < 0x20:
			d.i = i
			return "", d.fail("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return d.strSlow(start)
			}
			i += size
		}
	}
	d.i = len(s)
	return "", d.fail("unterminated string")
}

// strSlow decodes escapes and replaces invalid UTF-8 and lone surrogates
// with U+FFFD, as encoding/json does.
func (d *jsonDecoder) strSlow(start int) (string, error) {
	s := d.s
	buf := make([]byte, 0, 64)
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(buf), nil
		case c < 0x20:
			d.i = i
			return "", d.fail("control character in string")
		case c < utf8.RuneSelf && c != '\\':
			buf = append(buf, c)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			buf = utf8.AppendRune(buf, r) // RuneError for an invalid byte
			i += size
		default: // backslash
			if i+1 >= len(s) {
				d.i = len(s)
				return "", d.fail("unterminated string")
			}
			e := s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(s, i)
				if !ok {
					d.i = i
					return "", d.fail("invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					// A valid pair is two escapes; anything else makes the
					// first one U+FFFD and is read on its own.
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r2, ok := hex4(s, i+2); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								buf = utf8.AppendRune(buf, dec)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = i - 1
				return "", d.fail("invalid escape")
			}
		}
	}
	d.i = len(s)
	return "", d.fail("unterminated string")
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skip validates and skips any JSON value; depth counts the enclosing
// containers.
func (d *jsonDecoder) skip(depth int) error {
	if d.i >= len(d.s) {
		return d.fail("expected a value")
	}
	switch c := d.s[d.i]; c {
	case '"':
		_, err := d.str()
		return err
	case '{', '[':
		if depth > maxJSONDepth {
			return d.fail("nesting too deep")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		d.i++
		if d.next() == closer {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.next() != '"' {
					return d.fail("expected a key")
				}
				if _, err := d.str(); err != nil {
					return err
				}
				if d.next() != ':' {
					return d.fail("expected ':'")
				}
				d.i++
			}
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			n := d.next()
			if n == ',' {
				d.i++
				continue
			}
			if n == closer {
				d.i++
				return nil
			}
			return d.fail("expected ',' or a closing bracket")
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, err := d.number()
		return err
	}
}

func (d *jsonDecoder) literal(lit string) error {
	if !strings.HasPrefix(d.s[d.i:], lit) {
		return d.fail("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// appendJSONHeader writes the header as fastjson does: keys in
// alphabetical order, remark and extFields left out when empty. The
// extFields come in map order.
func appendJSONHeader(dst []byte, cmd *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(cmd.Code), 10)
	if len(cmd.ExtFields) > 0 {
		dst = append(dst, `,"extFields":{`...)
		first := true
		for k, v := range cmd.ExtFields {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(cmd.Flag), 10)
	dst = append(dst, `,"language":`...)
	if cmd.Language == "" {
		dst = append(dst, `"`+DefaultLanguage+`"`...)
	} else {
		dst = appendJSONString(dst, cmd.Language)
	}
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(cmd.Opaque), 10)
	if cmd.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = appendJSONString(dst, cmd.Remark)
	}
	dst = append(dst, `,"serializeTypeCurrentRPC":"JSON","version":`...)
	v := cmd.Version
	if v == 0 {
		v = DefaultVersion
	}
	dst = strconv.AppendInt(dst, int64(v), 10)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string: '"', '\\' and control
// characters escaped, U+2028 and U+2029 escaped (as encoding/json does),
// each byte of invalid UTF-8 written as \ufffd. Other bytes are copied.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
