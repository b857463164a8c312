package e2e

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// The frame layer: unknown codes, both header types, and malformed frames.

func frame(length uint32, rest ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

func word(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// TestUnknownRequestCode: Java answers REQUEST_CODE_NOT_SUPPORTED (3) with
// the remark " request type N not supported" and keeps the connection.
func TestUnknownRequestCode(t *testing.T) {
	c := startCluster(t)
	raw := c.dialRaw()
	for i, code := range []int32{9999, remoting.ReqEndTransaction, remoting.ReqLitePullMessage} {
		resp := raw.roundTrip(&remoting.Command{Code: code, Opaque: int32(100 + i)})
		expect(t, resp, remoting.ResRequestCodeNotSupported)
		if want := " request type " + strconv.Itoa(int(code)) + " not supported"; resp.Remark != want {
			t.Fatalf("remark %q, want %q", resp.Remark, want)
		}
	}
	// The same connection still works, in either header type.
	for i, ser := range []remoting.SerializeType{remoting.SerializeJSON, remoting.SerializeRocketMQ} {
		req := &remoting.Command{Code: remoting.ReqGetMaxOffset, Opaque: int32(200 + i), Serialize: ser,
			ExtFields: map[string]string{"topic": "TBW102", "queueId": "0"}}
		resp := raw.roundTrip(req)
		expect(t, resp, remoting.ResSuccess)
		if resp.ExtFields["offset"] != "0" {
			t.Fatalf("%v header: offset %q", ser, resp.ExtFields["offset"])
		}
	}
	// And through the client.
	expect(t, c.call(9999, nil, nil), remoting.ResRequestCodeNotSupported)
	expect(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": "TBW102", "queueId": "0"}, nil), remoting.ResSuccess)
}

// TestMalformedFramesCloseOnlyThatConnection: a frame that cannot be
// decoded loses the connection's framing, so the broker closes that
// connection (Java's decoder closes the channel on an exception); every
// other connection keeps being served.
func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	c := startCluster(t)
	bystander := c.dialRaw()
	getMax := func(opaque int32) {
		t.Helper()
		resp := bystander.roundTrip(&remoting.Command{Code: remoting.ReqGetMaxOffset, Opaque: opaque,
			ExtFields: map[string]string{"topic": "TBW102", "queueId": "0"}})
		expect(t, resp, remoting.ResSuccess)
		expect(t, c.call(remoting.ReqGetMaxOffset, map[string]string{"topic": "TBW102", "queueId": "0"}, nil), remoting.ResSuccess)
	}
	getMax(1)

	badJSON := []byte(`{"code":34,"extFields":{"a":`)
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"length over 16 MiB", frame(16<<20+1, word(20), []byte("{}"))},
		{"length far over 16 MiB", frame(0x7FFFFFFF)},
		{"length below 4", frame(3, []byte{0, 0, 0})},
		{"header length larger than the frame", frame(8, word(100), []byte("{}{}"))},
		{"invalid JSON header", frame(uint32(4+len(badJSON)), word(uint32(len(badJSON))), badJSON)},
		{"JSON header of the wrong shape", frame(4+2, word(2), []byte("[]"))},
		{"unknown serialize type", frame(4+2, word(5<<24|2), []byte("{}"))},
		{"truncated ROCKETMQ header", frame(4+3, word(1<<24|3), []byte{0, 10, 9})},
	}
	for i, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			bad := c.dialRaw()
			bad.write(tc.bytes)
			got, closed, err := bad.closedByPeer(callTimeout)
			if len(got) > 0 {
				t.Fatalf("the broker answered %d bytes to a malformed frame: %q", len(got), got)
			}
			if !closed {
				t.Fatalf("the broker kept the connection open for %v: %v", callTimeout, err)
			}
			getMax(int32(10 + i))
		})
	}
}

// TestFrameSizeLimit: Java's decoder takes a frame of at most 16 MiB,
// counting the 4-byte length word (LengthFieldBasedFrameDecoder with
// frameMaxLength 16777216), so the largest length word is 16 MiB - 4.
func TestFrameSizeLimit(t *testing.T) {
	c := startCluster(t)
	req := &remoting.Command{Code: 9999, Opaque: 7}
	head := remoting.AppendFrame(nil, req)
	pad := (16 << 20) - len(head)
	req.Body = bytes.Repeat([]byte{'x'}, pad)
	f := remoting.AppendFrame(nil, req)
	if len(f) != 16<<20 {
		t.Fatalf("BUG: built a frame of %d bytes", len(f))
	}

	ok := c.dialRaw()
	expect(t, ok.roundTrip(req), remoting.ResRequestCodeNotSupported)
	expect(t, ok.roundTrip(&remoting.Command{Code: 9999, Opaque: 8}), remoting.ResRequestCodeNotSupported)

	over := c.dialRaw()
	req.Body = append(req.Body, 'x')
	over.write(remoting.AppendFrame(nil, req)[:1<<20]) // the length word says 16 MiB - 3
	got, closed, err := over.closedByPeer(callTimeout)
	if len(got) > 0 || !closed {
		t.Fatalf("one byte over the limit: answered %d bytes, closed %v (%v)", len(got), closed, err)
	}
	expect(t, ok.roundTrip(&remoting.Command{Code: 9999, Opaque: 9}), remoting.ResRequestCodeNotSupported)
}

// brokerCodes are the request codes the broker answers (broker.New's
// table); a request for any of them with no fields is refused with a
// code, never REQUEST_CODE_NOT_SUPPORTED.
var brokerCodes = []int32{
	remoting.ReqSendMessage, remoting.ReqSendMessageV2, remoting.ReqSendBatchMessage, remoting.ReqPullMessage,
	remoting.ReqQueryConsumerOffset, remoting.ReqUpdateConsumerOffset, remoting.ReqGetMaxOffset, remoting.ReqGetMinOffset,
	remoting.ReqGetEarliestMsgStoretime, remoting.ReqSearchOffsetByTimestamp, remoting.ReqHeartBeat,
	remoting.ReqUnregisterClient, remoting.ReqGetConsumerListByGroup, remoting.ReqCheckClientConfig,
	remoting.ReqConsumerSendMsgBack, remoting.ReqViewMessageByID, remoting.ReqQueryMessage,
	remoting.ReqUpdateAndCreateTopic, remoting.ReqDeleteTopicInBroker, remoting.ReqGetAllTopicConfig,
	remoting.ReqGetBrokerRuntimeInfo, remoting.ReqGetConsumeStats, remoting.ReqGetTopicStatsInfo,
	remoting.ReqGetAllConsumerOffset, remoting.ReqGetAllDelayOffset, remoting.ReqGetAllSubscriptiongroupConfig,
	remoting.ReqLockBatchMQ, remoting.ReqUnlockBatchMQ,
}

func TestEveryBrokerCodeIsServed(t *testing.T) {
	c := startCluster(t)
	for _, code := range brokerCodes {
		// c.call bounds the wait: an unanswered request fails the test.
		if resp := c.call(code, nil, nil); resp.Code == remoting.ResRequestCodeNotSupported {
			t.Errorf("%s is not served", remoting.CodeName(code))
		}
	}
}
