package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gannetmq/gannet/engine/message"
)

// TestTruncate cuts a store back to the end of one of its messages, at a
// point inside a segment and at one of several segments back: the log
// ends there, the ConsumeQueues hold exactly the messages before it, new
// messages continue the queue offsets, and keys of cut messages no longer
// resolve.
func TestTruncate(t *testing.T) {
	for _, keep := range []int{150, 40, 1} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			o := testOptions(t.TempDir(), SyncFlush)
			s := mustOpen(t, o)
			reqs := appendN(t, s, "T", 2, 900)
			waitDispatched(t, s)
			before := s.MaxPhysicalOffset()
			if segs := len(s.CommitLog().Segments()); segs < 3 {
				t.Fatalf("only %d segments; the test needs several", segs)
			}
			end := reqs[keep-1].End()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cut, err := Truncate(o, end)
			if err != nil {
				t.Fatal(err)
			}
			if cut != before-end {
				t.Fatalf("cut %d bytes, want %d", cut, before-end)
			}
			s = mustOpen(t, o)
			defer s.Close()
			if got := s.MaxPhysicalOffset(); got != end {
				t.Fatalf("log ends at %d after truncating to %d", got, end)
			}
			for q := int32(0); q < 2; q++ {
				want := int64(keep / 2)
				if q == 0 {
					want = int64((keep + 1) / 2)
				}
				if got := s.MaxOffset("T", q); got != want {
					t.Fatalf("queue %d holds %d units, want %d", q, got, want)
				}
			}
			if got := s.QueryByKey("T", fmt.Sprintf("UNIQ%08d", keep), 1, 0, 1<<62); len(got) != 0 {
				got[0].Release()
				t.Fatalf("key of a cut message still resolves")
			}
			// New messages continue the cut queues and are readable.
			r := &Request{Msgs: []message.Message{testMessage("T", 0, 9999)}}
			if st := s.Append(r); st != StatusOK {
				t.Fatal(st, r.Err)
			}
			if r.PhysicalOffset != end || r.QueueOffset != int64((keep+1)/2) {
				t.Fatalf("new message at %d queue offset %d; want %d, %d", r.PhysicalOffset, r.QueueOffset, end, (keep+1)/2)
			}
			waitDispatched(t, s)
			var res GetResult
			s.GetMessages(&GetRequest{Topic: "T", QueueID: 0, Offset: r.QueueOffset, MaxMessages: 4}, &res)
			if len(res.Messages) != 1 {
				t.Fatalf("read %d messages after the new one's offset", len(res.Messages))
			}
			res.Release()
		})
	}
}

func TestTruncateRefusesBelowMin(t *testing.T) {
	o := testOptions(t.TempDir(), SyncFlush)
	s := mustOpen(t, o)
	appendN(t, s, "T", 1, 10)
	end := s.MaxPhysicalOffset()
	s.Close()
	if cut, err := Truncate(o, end); err != nil || cut != 0 {
		t.Fatalf("truncate at the end: cut %d, %v", cut, err)
	}
	if _, err := Truncate(o, -1); !errors.Is(err, ErrTruncateBelowMin) {
		t.Fatalf("truncate below the first offset: %v", err)
	}
}
