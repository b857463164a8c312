package mqtt

import (
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// TestPubacksInOrder sends 200 QoS 1 publishes back to back on one
// connection under sync flush: 200 PUBACKs come back, in the order of the
// publishes [MQTT-4.6.0-2], and every acknowledged message is stored, in
// that order, in its queue.
func TestPubacksInOrder(t *testing.T) {
	e := startEnv(t, engine.SyncFlush, nil)
	r := dialRaw(t, e.addr)
	r.connect("ordered", 4, nil)
	const n = 200
	for i := range n {
		r.write(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			TopicName:   "ordered/x",
			PacketID:    uint16(i + 1),
			Payload:     []byte(fmt.Sprintf("o%03d", i)),
		})
	}
	for i := range n {
		pk, err := r.read()
		if err != nil {
			t.Fatalf("after %d PUBACKs: %v", i, err)
		}
		if pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i+1) {
			t.Fatalf("answer %d: type %d id %d, want PUBACK %d", i, pk.FixedHeader.Type, pk.PacketID, i+1)
		}
	}
	// Acknowledged means stored; the ConsumeQueue is built a moment later.
	deadline := time.Now().Add(waitFor)
	for e.store.DispatchedPhysicalOffset() < e.store.MaxPhysicalOffset() {
		if time.Now().After(deadline) {
			t.Fatal("dispatch did not catch up")
		}
		time.Sleep(time.Millisecond)
	}
	var got []string
	for q := int32(0); q < 8; q++ {
		var res engine.GetResult
		for off := int64(0); ; off = res.NextOffset {
			e.store.GetMessages(&engine.GetRequest{Topic: "ordered", QueueID: q, Offset: off, MaxMessages: 64}, &res)
			if len(res.Messages) == 0 {
				break
			}
			for _, m := range res.Messages {
				rec, err := message.Parse(m, true)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(rec.Body()))
			}
		}
		res.Release()
	}
	if len(got) != n {
		t.Fatalf("%d messages stored, %d acknowledged", len(got), n)
	}
	for i, p := range got {
		if p != fmt.Sprintf("o%03d", i) {
			t.Fatalf("stored message %d is %q", i, p)
		}
	}
}
