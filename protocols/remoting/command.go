package remoting

import "time"

// SerializeType is the header encoding of a frame (high byte of the header
// length word).
type SerializeType byte

const (
	SerializeJSON     SerializeType = 0
	SerializeRocketMQ SerializeType = 1
)

// Flag bits of a command.
const (
	FlagResponse = int32(1) // the command answers the request with the same opaque
	FlagOneway   = int32(2) // the sender expects no response
)

// Command is one RemotingCommand: a request or a response.
type Command struct {
	Code      int32
	Language  string // "JAVA", "GO", "NODE_JS", ...
	Version   int32
	Opaque    int32
	Flag      int32
	Remark    string
	ExtFields map[string]string
	Body      []byte

	// BodyParts are written after Body without being copied (a pull
	// response carries views into the mapped CommitLog). Release, if set,
	// is called exactly once when the parts are no longer needed: after
	// they were written to the connection, or when the command is dropped.
	BodyParts [][]byte
	Release   func()

	// Serialize is the header type the command arrived in; a response is
	// written in the type of its request.
	Serialize SerializeType

	// A request's Body points into the connection's read buffer: free
	// gives that memory back, kept says the processor holds on to it.
	free func()
	kept bool
}

// Keep says the processor still uses the request's Body after it returns
// (a send's body stays in use until the store has encoded it); it must then
// call Free once it no longer does. Without Keep the body's memory goes
// back to the connection when the processor returns.
func (c *Command) Keep() { c.kept = true }

// Free gives a kept request's body back to the connection. It is safe to
// call more than once and on commands that own their body.
func (c *Command) Free() {
	if f := c.free; f != nil {
		c.free = nil
		f()
	}
}

// IsResponse reports whether the command is a response.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the sender expects no response.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// Conn is one remoting connection as a processor sees it. Send may be
// called from any goroutine, any time after the request arrived (a
// long-polling pull answers seconds later); it never blocks on the disk.
type Conn interface {
	// RemoteAddr is the peer's "ip:port".
	RemoteAddr() string
	// Send writes a command (a response, or a request the server sends to
	// the client such as NOTIFY_CONSUMER_IDS_CHANGED).
	Send(cmd *Command) error
	// Invoke sends a request to the peer and waits for its response.
	Invoke(req *Command, timeout time.Duration) (*Command, error)
	// Close closes the connection.
	Close() error
}

// Processor handles one request. It must not block on the disk or the
// network: it answers with conn.Send (at once or later) or hands the work
// on. A processor that answers nothing to a non-oneway request leaves the
// client to time out.
type Processor func(conn Conn, req *Command)

// NewRequest returns a request with the given code, extFields and body.
// Opaque is set by Invoke; a command given to Send keeps the opaque its
// caller set.
func NewRequest(code int32, ext map[string]string, body []byte) *Command {
	return &Command{Code: code, ExtFields: ext, Body: body}
}

// NewResponse returns the response to req with the given code and remark:
// the response flag, req's opaque, and req's header type, as a 4.x Java
// server answers (protocol reference §1.6). The response also keeps req's
// one-way bit, which makes Send drop it: a one-way request gets no answer,
// whatever its processor sends. Build responses with NewResponse (or copy
// that bit) so that this holds.
func NewResponse(req *Command, code int32, remark string) *Command {
	return &Command{
		Code:      code,
		Opaque:    req.Opaque,
		Flag:      FlagResponse | req.Flag&FlagOneway,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

// release calls and clears c.Release.
func (c *Command) release() {
	if f := c.Release; f != nil {
		c.Release = nil
		f()
	}
}

// isOnewayResponse reports whether cmd answers a one-way request, which
// must not be written (Java's writeResponse returns early).
func isOnewayResponse(cmd *Command) bool {
	return cmd.Flag&(FlagResponse|FlagOneway) == FlagResponse|FlagOneway
}
