package remoting

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// benchCommand is a Java producer's SEND_MESSAGE_V2 (13 extFields, an
// escaped properties string) with a 1 KiB body.
func benchCommand(typ SerializeType) *Command {
	c := *wireCases[0].cmd
	c.Body = pattern(1024, 5)
	c.Serialize = typ
	return &c
}

var benchTypes = []struct {
	name string
	typ  SerializeType
}{{"json", SerializeJSON}, {"binary", SerializeRocketMQ}}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, bt := range benchTypes {
		b.Run(bt.name, func(b *testing.B) {
			frame := AppendFrame(nil, benchCommand(bt.typ))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeFrame(frame, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, bt := range benchTypes {
		b.Run(bt.name, func(b *testing.B) {
			cmd := benchCommand(bt.typ)
			buf := AppendFrame(nil, cmd)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendFrame(buf[:0], cmd)
			}
		})
	}
}

// BenchmarkAppendResponse encodes a typical send response (6 extFields,
// no body): the header cost of every answer the broker writes.
func BenchmarkAppendResponse(b *testing.B) {
	for _, bt := range benchTypes {
		b.Run(bt.name, func(b *testing.B) {
			cmd := *wireCases[1].cmd
			cmd.Serialize = bt.typ
			buf := AppendFrame(nil, &cmd)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendFrame(buf[:0], &cmd)
			}
		})
	}
}

// BenchmarkServerInvoke is a loopback round trip through the client and
// the netpoll server, with synchronous and asynchronous answers.
func BenchmarkServerInvoke(b *testing.B) {
	for _, mode := range []string{"sync", "async"} {
		b.Run("answer="+mode, func(b *testing.B) {
			r := NewRouter()
			r.Register(ReqSendMessageV2, func(conn Conn, req *Command) {
				resp := NewResponse(req, ResSuccess, "")
				resp.ExtFields = map[string]string{"msgId": "7F00000100002A9F00000000000A1B2C", "queueId": "1", "queueOffset": "17"}
				if mode == "sync" {
					conn.Send(resp)
				} else {
					go conn.Send(resp)
				}
			})
			s := NewServer(ServerOptions{Addr: "127.0.0.1:0", Router: r})
			go s.Serve()
			defer s.Close()
			addr := s.Addr().String()
			c := NewClient(ClientOptions{})
			defer c.Close()
			cmd := benchCommand(SerializeJSON)
			b.SetBytes(int64(len(AppendFrame(nil, cmd))))
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					req := *cmd
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					if _, err := c.Invoke(ctx, addr, &req); err != nil {
						b.Error(err)
					}
					cancel()
					i++
				}
				_ = strconv.Itoa(i)
			})
		})
	}
}
