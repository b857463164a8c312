package schedule

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

func TestParseLevelsDefault(t *testing.T) {
	l, err := ParseLevels(DefaultLevels)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 18 {
		t.Fatalf("Len = %d, want 18", l.Len())
	}
	want := []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute, 6 * time.Minute,
		7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour}
	for i, d := range want {
		if got := l.Delay(i + 1); got != d {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, d)
		}
	}
	f := func(level int, want time.Duration, wantClamp int) {
		t.Helper()
		if got := l.Delay(level); got != want {
			t.Errorf("Delay(%d) = %v, want %v", level, got, want)
		}
		if got := l.Clamp(level); got != wantClamp {
			t.Errorf("Clamp(%d) = %d, want %d", level, got, wantClamp)
		}
	}
	f(0, 0, 0)
	f(-1, 0, 0)
	f(1, time.Second, 1)
	f(19, 2*time.Hour, 18)
	f(1<<30, 2*time.Hour, 18)
	if got := l.String(); got != DefaultLevels {
		t.Errorf("String = %q, want %q", got, DefaultLevels)
	}
	var zero Levels
	if zero.Len() != 0 || zero.Clamp(3) != 0 || zero.Delay(3) != 0 {
		t.Errorf("zero Levels: Len %d Clamp(3) %d Delay(3) %v, want nothing", zero.Len(), zero.Clamp(3), zero.Delay(3))
	}
}

func TestParseLevels(t *testing.T) {
	ok := func(in string, want ...time.Duration) {
		t.Helper()
		l, err := ParseLevels(in)
		if err != nil {
			t.Errorf("ParseLevels(%q): %v", in, err)
			return
		}
		if l.Len() != len(want) {
			t.Errorf("ParseLevels(%q).Len = %d, want %d", in, l.Len(), len(want))
			return
		}
		for i, d := range want {
			if l.Delay(i+1) != d {
				t.Errorf("ParseLevels(%q).Delay(%d) = %v, want %v", in, i+1, l.Delay(i+1), d)
			}
		}
		back, err := ParseLevels(l.String())
		if err != nil || back.String() != l.String() {
			t.Errorf("ParseLevels(%q): String %q does not read back: %v", in, l.String(), err)
		}
	}
	ok("100ms 200ms 300ms", 100*time.Millisecond, 200*time.Millisecond, 300*time.Millisecond)
	ok("1d 0s 90m 1500ms 120s", 24*time.Hour, 0, 90*time.Minute, 1500*time.Millisecond, 2*time.Minute)
	ok("  1s\t 2s  ", time.Second, 2*time.Second) // Java wants single spaces; any white space does here
	ok("007s", 7*time.Second)

	bad := func(in string, wantInErr ...string) {
		t.Helper()
		_, err := ParseLevels(in)
		if err == nil {
			t.Errorf("ParseLevels(%q) = nil error", in)
			return
		}
		for _, w := range wantInErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseLevels(%q) = %v, want it to mention %q", in, err, w)
			}
		}
	}
	bad("", "empty")
	bad("   ", "empty")
	bad("1x", "level 1", "unit")
	bad("1S", "unit") // Java's unit table is lower case
	bad("s", "integer")
	bad("ms", "integer")
	bad("-1s", "integer")
	bad("+1s", "integer")
	bad("1.5s", "integer")
	bad("1 s", "level 1", "level 2")
	bad("1s 2x 3s 4y", "level 2", "level 4")
	bad("99999999999999999999s", "integer")
	bad("9999999999999d", "too long")
}

func TestTopics(t *testing.T) {
	if got := RetryTopic("g1"); got != "%RETRY%g1" {
		t.Errorf("RetryTopic = %q", got)
	}
	if got := DLQTopic("g1"); got != "%DLQ%g1" {
		t.Errorf("DLQTopic = %q", got)
	}
	f := func(topic string, retry, dlq bool) {
		t.Helper()
		if IsRetryTopic(topic) != retry || IsDLQTopic(topic) != dlq {
			t.Errorf("%q: IsRetryTopic %v IsDLQTopic %v, want %v %v", topic, IsRetryTopic(topic), IsDLQTopic(topic), retry, dlq)
		}
	}
	f("%RETRY%g1", true, false)
	f("%DLQ%g1", false, true)
	f("TopicTest", false, false)
	f("x%RETRY%g1", false, false)
	f(Topic, false, false)
}

func TestRetryLevel(t *testing.T) {
	f := func(delayLevel, reconsume, max, wantLevel int, wantDLQ bool) {
		t.Helper()
		level, dlq := RetryLevel(delayLevel, reconsume, max)
		if level != wantLevel || dlq != wantDLQ {
			t.Errorf("RetryLevel(%d, %d, %d) = %d, %v; want %d, %v", delayLevel, reconsume, max, level, dlq, wantLevel, wantDLQ)
		}
	}
	f(0, 0, 16, 3, false)   // first retry: 3 + reconsumeTimes
	f(0, 5, 16, 8, false)   //
	f(0, 15, 16, 18, false) // the last retry, level 18 (2 h)
	f(0, 16, 16, 0, true)   // out of retries
	f(2, 3, 16, 2, false)   // the client's level wins
	f(-1, 0, 16, 0, true)   // orderly consumer giving up
	f(0, 20, 16, 0, true)
	f(0, 0, 0, 0, true) // maxReconsumeTimes 0: straight to the DLQ
}

func TestPropertyLevel(t *testing.T) {
	f := func(props []byte, want int) {
		t.Helper()
		if got := PropertyLevel(props); got != want {
			t.Errorf("PropertyLevel(%q) = %d, want %d", props, got, want)
		}
	}
	f(nil, 0)
	f(message.AppendProperty(nil, "TAGS", "a"), 0)
	f(message.AppendProperty(nil, "DELAY", "3"), 3)
	f(message.AppendProperty(message.AppendProperty(nil, "DELAY", "3"), "TAGS", "x"), 3)
	f(message.AppendProperty(nil, "DELAY", "-1"), -1)
	f(message.AppendProperty(nil, "DELAY", "x"), 0)
	f(message.AppendProperty(nil, "DELAY", ""), 0)
}

// TestAppendWithout checks appendWithout against message.DeleteProperty
// applied once per name, on random property strings, malformed ones too.
func TestAppendWithout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'A', 'B', 'C', message.NameValueSeparator, message.PropertySeparator}
	names := []string{"A", "B", "AB", "C"}
	for i := 0; i < 20000; i++ {
		props := make([]byte, rng.IntN(24))
		for j := range props {
			props[j] = alphabet[rng.IntN(len(alphabet))]
		}
		drop := names[:rng.IntN(len(names)+1)]
		want := append([]byte(nil), props...)
		if len(drop) == 0 {
			want = message.DeleteProperty(nil, props, "\x00never") // normalizes separators the same way
		}
		for _, n := range drop {
			want = message.DeleteProperty(nil, want, n)
		}
		got := appendWithout([]byte("pre"), props, drop...)
		if !bytes.Equal(got[:3], []byte("pre")) || !bytes.Equal(got[3:], want) {
			t.Fatalf("appendWithout(%q, %q) = %q, want %q", props, drop, got[3:], want)
		}
	}
}
