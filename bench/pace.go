package bench

import (
	"context"
	"time"
)

// sendLoop is one producer's loop, whatever the protocol: it issues sends
// until its quota, its stop time or the context ends them.
//
// Closed loop (interval 0): a send goes as soon as acquire grants window
// room, and its latency runs from that moment.
//
// Open loop (interval > 0): send i is due at start + i*interval whatever
// happened before; the loop sleeps until then if it is early and goes at
// once if it is late. Its latency runs from the due time, not from when it
// left: when the broker stalls, the window fills, acquire blocks, and every
// send scheduled during the stall is charged the time it waited. A loop
// that measured from the moment it actually sent would report the stall
// once and hide the queue behind it (coordinated omission).
type sendLoop[S any] struct {
	quota    int64         // sends to issue; negative: no limit
	interval time.Duration // 0: closed loop
	start    time.Time     // origin of the schedule
	stopAt   time.Time     // no send is due at or after it; zero: none

	// acquire waits for room in the window and returns the slot to send
	// with; false when ctx ended first.
	acquire func(ctx context.Context) (S, bool)
	// release returns a slot that acquire granted but no send used.
	release func(S)
	// send starts send seq with the slot; intended is the time its
	// latency is measured from. It must not block on the response.
	send func(slot S, seq int64, intended time.Time)
}

// due is the scheduled time of send seq in an open loop.
func (l *sendLoop[S]) due(seq int64) time.Time {
	return l.start.Add(time.Duration(float64(seq) * float64(l.interval)))
}

// run issues the sends and returns how many it issued.
func (l *sendLoop[S]) run(ctx context.Context) int64 {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var seq int64
	for ; l.quota < 0 || seq < l.quota; seq++ {
		if ctx.Err() != nil {
			break
		}
		var intended time.Time
		if l.interval > 0 {
			intended = l.due(seq)
			if !l.stopAt.IsZero() && !intended.Before(l.stopAt) {
				break
			}
			if d := time.Until(intended); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return seq
				}
			}
		}
		slot, ok := l.acquire(ctx)
		if !ok {
			break
		}
		if l.interval == 0 {
			intended = time.Now()
			if !l.stopAt.IsZero() && !intended.Before(l.stopAt) {
				l.release(slot)
				break
			}
		}
		l.send(slot, seq, intended)
	}
	return seq
}

// quotaOf splits total messages over n workers: worker i gets its share,
// the first total%n workers one more. Zero total means no limit (-1).
func quotaOf(total int64, n, i int) int64 {
	if total == 0 {
		return -1
	}
	q := total / int64(n)
	if int64(i) < total%int64(n) {
		q++
	}
	return q
}
