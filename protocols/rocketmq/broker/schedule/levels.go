package schedule

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultLevels is RocketMQ's messageDelayLevel (MessageStoreConfig.java).
const DefaultLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// Levels are the delays of the delay levels; level i (1-based) waits the
// i-th duration. The zero Levels has no level: nothing is delayed.
type Levels struct {
	d []time.Duration
}

// units of messageDelayLevel. Java (ScheduleMessageService.parseDelayLevel)
// knows s, m, h and d; "ms" is Gannet's, for tests and short delays.
var units = []struct {
	suffix string
	unit   time.Duration
}{
	{"ms", time.Millisecond}, // before "s", which it ends with
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
}

// ParseLevels reads a messageDelayLevel value: durations separated by
// spaces, each a non-negative integer followed by a unit (ms, s, m, h, d),
// such as DefaultLevels. Every bad entry is reported in one error.
//
// Java splits on single spaces, so two spaces in a row make it fail; this
// parser takes any run of white space.
func ParseLevels(s string) (Levels, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return Levels{}, errors.New("schedule: messageDelayLevel is empty")
	}
	if len(fields) > 65536 {
		// A level is a queue id of SCHEDULE_TOPIC_XXXX (0..65535).
		return Levels{}, fmt.Errorf("schedule: messageDelayLevel has %d levels, at most 65536 fit the queue ids", len(fields))
	}
	l := Levels{d: make([]time.Duration, len(fields))}
	var errs []error
	for i, f := range fields {
		d, err := parseDelay(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("level %d %q: %w", i+1, f, err))
			continue
		}
		l.d[i] = d
	}
	if len(errs) > 0 {
		return Levels{}, fmt.Errorf("schedule: bad messageDelayLevel: %w", errors.Join(errs...))
	}
	return l, nil
}

func parseDelay(f string) (time.Duration, error) {
	for _, u := range units {
		num, ok := strings.CutSuffix(f, u.suffix)
		if !ok {
			continue
		}
		if num == "" || num[0] < '0' || num[0] > '9' {
			return 0, errors.New("want a non-negative integer before the unit")
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, errors.New("want a non-negative integer before the unit")
		}
		if n > math.MaxInt64/int64(u.unit) {
			return 0, errors.New("too long")
		}
		return time.Duration(n) * u.unit, nil
	}
	return 0, errors.New("want a unit: ms, s, m, h or d")
}

// MustParseLevels is ParseLevels for constants; it panics on an error.
func MustParseLevels(s string) Levels {
	l, err := ParseLevels(s)
	if err != nil {
		panic(err)
	}
	return l
}

// Len is the number of levels (the highest level).
func (l Levels) Len() int { return len(l.d) }

// Clamp is the level a request for level gets: 0 (not delayed) for level
// <= 0 or when there are no levels, Len for a level beyond it
// (HookUtils.transformDelayLevelMessage), level otherwise.
func (l Levels) Clamp(level int) int {
	if level <= 0 || len(l.d) == 0 {
		return 0
	}
	return min(level, len(l.d))
}

// Delay is the delay of level (1-based); a level beyond the last takes the
// last one's, and level <= 0 has none.
func (l Levels) Delay(level int) time.Duration {
	level = l.Clamp(level)
	if level == 0 {
		return 0
	}
	return l.d[level-1]
}

// String formats the levels as messageDelayLevel, in the largest unit that
// divides each delay exactly; ParseLevels reads it back.
func (l Levels) String() string {
	var b strings.Builder
	for i, d := range l.d {
		if i > 0 {
			b.WriteByte(' ')
		}
		u := units[0]
		for _, c := range units[1:] {
			if d%c.unit == 0 {
				u = c
			}
		}
		if d == 0 {
			u = units[1]
		}
		b.WriteString(strconv.FormatInt(int64(d/u.unit), 10))
		b.WriteString(u.suffix)
	}
	return b.String()
}
