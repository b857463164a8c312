package broker

import (
	"fmt"
	"strconv"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// serverVersion is the MQVersion ordinal the broker puts in what it sends:
// 479 = V5_3_3 (protocol reference §1.9). Clients record it from the
// HEART_BEAT response as the broker's version.
const serverVersion = 479

// versionV3_4_9 is the first client version whose maxReconsumeTimes the
// broker honours (MQVersion.V3_4_9).
const versionV3_4_9 = 121

// respond builds a response to req: same opaque and header type, response
// flag, JAVA language and serverVersion.
func respond(req *remoting.Command, code int32, remark string) *remoting.Command {
	return &remoting.Command{
		Code:      code,
		Language:  "JAVA",
		Version:   serverVersion,
		Opaque:    req.Opaque,
		Flag:      remoting.FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

func success(req *remoting.Command) *remoting.Command {
	return respond(req, remoting.ResSuccess, "")
}

// codeError is a failure that becomes a response code and a remark.
type codeError struct {
	code   int32
	remark string
}

func (e *codeError) Error() string {
	return fmt.Sprintf("%s: %s", remoting.ResponseCodeName(e.code), e.remark)
}

func errorf(code int32, format string, args ...any) *codeError {
	return &codeError{code: code, remark: fmt.Sprintf(format, args...)}
}

// fail answers req with err's code and remark.
func fail(req *remoting.Command, err *codeError) *remoting.Command {
	return respond(req, err.code, err.remark)
}

// header reads the extFields of a request and keeps the first error, so a
// handler reads every field and checks once. Numbers parse as Java's
// Integer.parseInt/Long.parseLong do (no spaces, optional sign); booleans
// as Boolean.parseBoolean ("true" in any case is true, anything else false).
type header struct {
	op  string // request name, for remarks
	ext map[string]string
	err *codeError
}

func newHeader(op string, req *remoting.Command) header {
	return header{op: op, ext: req.ExtFields}
}

func (h *header) setErr(format string, args ...any) {
	if h.err == nil {
		h.err = errorf(remoting.ResSystemError, "%s: "+format, append([]any{h.op}, args...)...)
	}
}

// str returns a required, non-empty field.
func (h *header) str(name string) string {
	v := h.ext[name]
	if v == "" {
		h.setErr("missing header field %s", name)
	}
	return v
}

// opt returns an optional field, "" when absent.
func (h *header) opt(name string) string { return h.ext[name] }

// has reports whether a field is present and not empty.
func (h *header) has(name string) bool { return h.ext[name] != "" }

func (h *header) parse(name, v string, bits int) int64 {
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		h.setErr("header field %s is not a valid int%d: %q", name, bits, v)
	}
	return n
}

// int32 returns a required 32-bit integer field.
func (h *header) int32(name string) int32 {
	v := h.ext[name]
	if v == "" {
		h.setErr("missing header field %s", name)
		return 0
	}
	return int32(h.parse(name, v, 32))
}

// int64 returns a required 64-bit integer field.
func (h *header) int64(name string) int64 {
	v := h.ext[name]
	if v == "" {
		h.setErr("missing header field %s", name)
		return 0
	}
	return h.parse(name, v, 64)
}

// optInt32 returns an optional 32-bit integer field; ok is false when it
// is absent or empty.
func (h *header) optInt32(name string) (n int32, ok bool) {
	v := h.ext[name]
	if v == "" {
		return 0, false
	}
	return int32(h.parse(name, v, 32)), true
}

// optInt64 returns an optional 64-bit integer field; ok is false when it
// is absent or empty.
func (h *header) optInt64(name string) (n int64, ok bool) {
	v := h.ext[name]
	if v == "" {
		return 0, false
	}
	return h.parse(name, v, 64), true
}

// optBool returns an optional boolean field; ok is false when it is absent
// or empty.
func (h *header) optBool(name string) (v, ok bool) {
	s := h.ext[name]
	if s == "" {
		return false, false
	}
	return len(s) == 4 && (s[0]|0x20) == 't' && (s[1]|0x20) == 'r' && (s[2]|0x20) == 'u' && (s[3]|0x20) == 'e', true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
