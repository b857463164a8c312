// Package remoting is Apache RocketMQ's "remoting" protocol: the
// RemotingCommand model (Command), the request and response codes, the
// frame codec with both header types (JSON and the ROCKETMQ binary
// header), a server on cloudwego/netpoll that dispatches requests to
// processors through a Router, and a plain net.Conn client. It imports no
// other Gannet package, so it can be fuzzed and benchmarked alone. The
// protocol reference is shared/docs/rocketmq-protocol.md, sections 1-3.
//
// # Frame
//
//	 0               4               8                8+H            4+L
//	+---------------+---+-----------+----------------+--------------+
//	|   length L    | T |  length H |     header     |     body     |
//	+---------------+---+-----------+----------------+--------------+
//	  int32, big     T: 0 JSON,       H bytes          L-4-H bytes
//	  endian, >= 4   1 ROCKETMQ       (JSON text or    (opaque, may be
//	  4+L <= max     H: 24 bits       binary, §1.4)    empty)
//
// The binary header is code int16, language byte, version int16, opaque
// int32, flag int32, remark (int32 length + bytes), extFields (int32
// length + entries of int16 key length, key, int32 value length, value).
// DecodeFrame checks every length against what remains and returns a
// *DecodeError whose Kind says what was wrong; AppendFrame writes a
// command in the header type it names (Command.Serialize).
//
// # Server
//
//	r := remoting.NewRouter()
//	r.Register(remoting.ReqHeartBeat, func(conn remoting.Conn, req *remoting.Command) {
//		conn.Send(remoting.NewResponse(req, remoting.ResSuccess, ""))
//	})
//	srv := remoting.NewServer(remoting.ServerOptions{Addr: ":10911", Router: r})
//	go srv.Serve()
//	defer srv.Close()
//
// Threading model:
//
//   - netpoll calls the read callback of a connection on one goroutine at a
//     time. It cuts every complete frame, copies it once out of netpoll's
//     buffers, decodes it and calls the request's processor on that same
//     goroutine. A processor must therefore not block (not on the disk,
//     not on the network, not on conn.Invoke): it answers at once with
//     conn.Send, or hands the request on and answers later from any
//     goroutine.
//   - Send queues the command and returns; it never waits for the peer.
//     Responses queued by processors during a read callback are written
//     when the callback has run its batch of requests (one flush for all
//     of them); a Send from another goroutine starts a writer goroutine
//     when none is writing. Only one goroutine writes to a connection at a
//     time, and each batch is flushed once. A connection whose peer stops
//     reading fills its queue (MaxPendingWrites, MaxPendingBytes) and is
//     closed.
//   - A malformed frame is logged in one line with the peer's address and
//     closes that connection only. An unknown code is answered
//     REQUEST_CODE_NOT_SUPPORTED (3); a processor's panic is logged and
//     answered SYSTEM_ERROR (1) with the panic text as remark. A one-way
//     request gets no response: NewResponse copies its one-way bit and Send
//     drops (and releases) a response that carries it. The Conn a processor
//     gets is the same value for every request of a connection, so it can
//     be kept as a key.
//   - Conn.Invoke sends a server-initiated request with an opaque from the
//     server's sequence and waits for the matching response; Send of a
//     request is fire-and-forget and writes the opaque the caller set.
//
// Lifetimes:
//
//   - req.Body of a request the server hands to a processor is owned by the
//     request: it stays valid for as long as anyone references it, with
//     nothing to release. Header strings (ExtFields keys and values,
//     Remark) share one allocation per frame.
//   - cmd.Body and cmd.BodyParts of a command given to Send must not change
//     until the command is released: the writer hands slices above 4 KiB
//     to the kernel without copying. cmd.Release is called exactly once:
//     after the flush that wrote the command, or when the command is
//     dropped (closed connection, full queue, response to a one-way
//     request). Release runs on the writing goroutine and must not block
//     or call back into the connection.
//   - Send takes ownership of its command whatever it returns; a command
//     with a Release must be sent once. A command without Release and with
//     bodies nobody changes may be sent to several connections.
//   - DecodeFrame, for callers that read into their own buffer, returns a
//     Body that aliases that buffer and is valid until the buffer is
//     reused.
//
// # Client
//
// Client keeps one connection per address, matches responses by opaque,
// bounds asynchronous calls per address with a window, and hands the
// requests a server sends on the same connection to ClientOptions.OnRequest.
package remoting
