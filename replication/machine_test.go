package replication

import (
	"fmt"
	"strings"
	"testing"
)

// TestMachine replays scenarios: each line is an event, followed by the
// actions it must produce ("-" for none).
func TestMachine(t *testing.T) {
	f := func(name string, steps ...string) {
		t.Run(name, func(t *testing.T) {
			m := NewMachine()
			for i := 0; i < len(steps); i += 2 {
				ev := parseEvent(t, steps[i])
				var got []string
				for _, a := range m.Step(ev) {
					got = append(got, a.String())
				}
				want := steps[i+1]
				if g := strings.Join(got, "; "); (g == "" && want != "-") || (g != "" && g != want) {
					t.Fatalf("step %q: got %q, want %q", steps[i], g, want)
				}
			}
		})
	}
	// report <slave> <offset> <masterMin> <masterMax>; wait <waiter> <offset>;
	// cancel <waiter>; disconnect <slave>; close
	f("empty slave starts at the master's first offset",
		"report 1 0 0 1000", "start slave=1 offset=0",
		"report 1 500 0 1000", "-")
	f("empty slave of a trimmed master starts at MinPhysicalOffset",
		"report 1 0 65536 200000", "start slave=1 offset=65536")
	f("slave with data resumes where it is",
		"report 1 700 0 1000", "start slave=1 offset=700")
	f("slave ahead of the master is refused",
		"report 1 1001 0 1000", "refuse slave=1: slave offset 1001 is ahead of the master's CommitLog end 1000",
		"wait 5 1", "-")
	f("slave behind the master's oldest offset is refused",
		"report 1 10 65536 200000", "refuse slave=1: slave offset 10 is behind the master's oldest CommitLog offset 65536")
	f("waiters wake in order once any slave reaches them",
		"wait 10 500", "-",
		"wait 11 300", "-",
		"wait 12 900", "-",
		"report 1 0 0 1000", "start slave=1 offset=0",
		"report 2 0 0 1000", "start slave=2 offset=0",
		"report 2 600", "wake waiter=10; wake waiter=11",
		"report 1 899", "-",
		"report 1 900", "wake waiter=12")
	f("an already acknowledged offset wakes at once",
		"report 1 400 0 1000", "start slave=1 offset=400",
		"wait 3 400", "wake waiter=3",
		"wait 4 401", "-")
	f("a disconnected slave no longer counts; cancel drops a waiter",
		"report 1 400 0 1000", "start slave=1 offset=400",
		"disconnect 1", "-",
		"wait 3 100", "-",
		"cancel 3", "-",
		"report 2 500 0 1000", "start slave=2 offset=500")
	f("close fails waiters and refuses slaves",
		"report 1 100 0 1000", "start slave=1 offset=100",
		"wait 7 200", "-",
		"wait 8 300", "-",
		"close", "fail waiter=7; fail waiter=8; refuse slave=1: master closing",
		"wait 9 1", "fail waiter=9")
}

func parseEvent(t *testing.T, s string) Event {
	t.Helper()
	var ev Event
	w := strings.Fields(s)
	n := func(i int) int64 {
		var v int64
		if _, err := fmt.Sscan(w[i], &v); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	switch w[0] {
	case "report":
		ev = Event{Kind: EventReport, Slave: uint64(n(1)), Offset: n(2), MasterMax: 1 << 40}
		if len(w) == 5 {
			ev.MasterMin, ev.MasterMax = n(3), n(4)
		}
	case "wait":
		ev = Event{Kind: EventWait, Waiter: uint64(n(1)), Offset: n(2)}
	case "cancel":
		ev = Event{Kind: EventCancel, Waiter: uint64(n(1))}
	case "disconnect":
		ev = Event{Kind: EventDisconnect, Slave: uint64(n(1))}
	case "close":
		ev = Event{Kind: EventClose}
	default:
		t.Fatalf("unknown event %q", s)
	}
	return ev
}
