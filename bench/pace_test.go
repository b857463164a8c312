package bench

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// slowSender is a deliberately slow sender: each send holds the only
// window slot for 10 ms, and its latency is taken from the intended time
// the loop hands it, as the producers take theirs.
type slowSender struct {
	slot      chan struct{}
	latencies []time.Duration
}

func newSlowSender() *slowSender {
	s := &slowSender{slot: make(chan struct{}, 1)}
	s.slot <- struct{}{}
	return s
}

func (s *slowSender) loop(quota int64, interval time.Duration, stopAt time.Time) *sendLoop[struct{}] {
	return &sendLoop[struct{}]{
		quota:    quota,
		interval: interval,
		start:    time.Now(),
		stopAt:   stopAt,
		acquire: func(ctx context.Context) (struct{}, bool) {
			select {
			case <-s.slot:
				return struct{}{}, true
			case <-ctx.Done():
				return struct{}{}, false
			}
		},
		release: func(struct{}) { s.slot <- struct{}{} },
		send: func(_ struct{}, _ int64, intended time.Time) {
			go func() {
				time.Sleep(10 * time.Millisecond) // the broker answers slowly
				s.latencies = append(s.latencies, time.Since(intended))
				s.slot <- struct{}{}
			}()
		},
	}
}

// TestOpenLoopMeasuresFromSchedule: at 1000 msg/s against a sender that
// can do 100, send i is due at i ms but leaves at 10*i ms, so its latency
// is 10 ms of service plus 9*i ms of queueing. A closed loop reports the
// 10 ms only: it never asks for more than the sender can take.
func TestOpenLoopMeasuresFromSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlowSender()
		n := s.loop(20, time.Millisecond, time.Time{}).run(t.Context())
		<-s.slot // the last send is answered
		if n != 20 || len(s.latencies) != 20 {
			t.Fatalf("issued %d, completed %d", n, len(s.latencies))
		}
		for i, got := range s.latencies {
			if want := 10*time.Millisecond + time.Duration(i)*9*time.Millisecond; got != want {
				t.Errorf("send %d: latency %v, want %v (measured from its scheduled time)", i, got, want)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		s := newSlowSender()
		s.loop(20, 0, time.Time{}).run(t.Context())
		<-s.slot
		if len(s.latencies) != 20 {
			t.Fatalf("completed %d", len(s.latencies))
		}
		for i, got := range s.latencies {
			if got != 10*time.Millisecond {
				t.Errorf("closed loop send %d: latency %v, want 10ms", i, got)
			}
		}
	})
}

// TestOpenLoopKeepsItsSchedule: a fast sender at 200 msg/s sends at 0,
// 5, 10, ... ms, and none is due at or after stopAt.
func TestOpenLoopKeepsItsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		l := &sendLoop[int]{
			quota:    -1,
			interval: 5 * time.Millisecond,
			start:    start,
			stopAt:   start.Add(50 * time.Millisecond),
			acquire:  func(context.Context) (int, bool) { return 0, true },
			release:  func(int) {},
			send:     func(_ int, _ int64, intended time.Time) { at = append(at, time.Since(start)) },
		}
		if n := l.run(t.Context()); n != 10 {
			t.Fatalf("issued %d, want 10", n)
		}
		for i, d := range at {
			if want := time.Duration(i) * 5 * time.Millisecond; d != want {
				t.Errorf("send %d at %v, want %v", i, d, want)
			}
		}
	})
}

// TestSendLoopStops: a cancelled context ends a loop waiting for its
// schedule or for the window.
func TestSendLoopStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		s := newSlowSender()
		<-s.slot // the window is full for good
		if n := s.loop(-1, 0, time.Time{}).run(ctx); n != 0 {
			t.Fatalf("issued %d with a full window", n)
		}
		ctx, cancel = context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		s = newSlowSender()
		if n := s.loop(-1, time.Hour, time.Time{}).run(ctx); n != 1 {
			t.Fatalf("issued %d, want only the one due at the start", n)
		}
		<-s.slot
	})
}

func TestQuotaOf(t *testing.T) {
	var total int64
	for i := range 3 {
		total += quotaOf(2000, 3, i)
	}
	if total != 2000 || quotaOf(2000, 3, 0) != 667 || quotaOf(2000, 3, 2) != 666 {
		t.Fatalf("2000 over 3: %d, %d, %d", quotaOf(2000, 3, 0), quotaOf(2000, 3, 1), quotaOf(2000, 3, 2))
	}
	if quotaOf(2, 4, 3) != 0 || quotaOf(0, 4, 0) >= 0 {
		t.Fatal("a worker beyond the count must send nothing; no count means no limit")
	}
}
