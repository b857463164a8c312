package message

import (
	"maps"
	"strings"
	"testing"
)

func TestProperty(t *testing.T) {
	f := func(props, name, want string, wantOK bool) {
		t.Helper()
		got, ok := Property([]byte(props), name)
		if string(got) != want || ok != wantOK {
			t.Errorf("Property(%q, %q) = %q, %v; want %q, %v", props, name, got, ok, want, wantOK)
		}
	}
	p := "KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x01ABC\x02"
	f(p, "TAGS", "TagA", true)
	f(p, "KEYS", "k1 k2", true)
	f(p, "UNIQ_KEY", "ABC", true)
	f(p, "DELAY", "", false)
	f(p, "TAG", "", false)                             // a prefix of a name is not a match
	f("TAGS\x01TagA", "TAGS", "TagA", true)            // no trailing \x02
	f("TAGS\x01a\x01b\x02", "TAGS", "a\x01b", true)    // the first \x01 ends the name
	f("TAGS\x01a\x02TAGS\x01b\x02", "TAGS", "b", true) // last wins, as in Java's map
	f("TAGS\x01\x02", "TAGS", "", false)               // Java ignores empty values
	f("\x01v\x02", "", "", false)                      // and empty names
	f("junk\x02\x02TAGS\x01x\x02", "TAGS", "x", true)
	f("", "TAGS", "", false)
}

func TestPropertiesEditing(t *testing.T) {
	p := AppendProperty(nil, "KEYS", "k1")
	p = AppendProperty(p, "TAGS", "TagA")
	p = AppendProperty(p, "DELAY", "3")
	if want := "KEYS\x01k1\x02TAGS\x01TagA\x02DELAY\x013\x02"; string(p) != want {
		t.Fatalf("AppendProperty built %q, want %q", p, want)
	}

	f := func(props, name, want string) {
		t.Helper()
		if got := DeleteProperty([]byte("pre:"), []byte(props), name); string(got) != "pre:"+want {
			t.Errorf("DeleteProperty(%q, %q) = %q, want %q", props, name, got, "pre:"+want)
		}
	}
	f(string(p), "TAGS", "KEYS\x01k1\x02DELAY\x013\x02")
	f(string(p), "DELAY", "KEYS\x01k1\x02TAGS\x01TagA\x02")
	f(string(p), "NONE", string(p))
	f("A\x01x\x02A\x01y", "A", "")                               // every copy, and the unterminated last
	f("junk\x02\x02A\x01x\x02B\x01y", "A", "junk\x02B\x01y\x02") // malformed kept, empty dropped
	f("", "A", "")

	m := map[string]string{"TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "7F00"}
	enc := AppendProperties(nil, m)
	if want := "KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x017F00\x02"; string(enc) != want {
		t.Errorf("AppendProperties = %q, want %q", enc, want)
	}
	if got := ParseProperties(enc); !maps.Equal(got, m) {
		t.Errorf("ParseProperties(AppendProperties(m)) = %v, want %v", got, m)
	}
	if got := ParseProperties([]byte("A\x01\x02\x01b\x02C\x01d")); !maps.Equal(got, map[string]string{"C": "d"}) {
		t.Errorf("ParseProperties kept ignored pieces: %v", got)
	}
}

func TestNextKey(t *testing.T) {
	f := func(keys string, want ...string) {
		t.Helper()
		var got []string
		for k, rest := NextKey([]byte(keys)); k != nil; k, rest = NextKey(rest) {
			got = append(got, string(k))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("NextKey(%q) gave %q, want %q", keys, got, want)
		}
	}
	f("")
	f("   ")
	f("k1", "k1")
	f("k1 k2", "k1", "k2")
	f("  k1   k2 ", "k1", "k2")
	f("k1\tk2 k3", "k1\tk2", "k3") // only spaces separate, as Java's split(" ")
}

func BenchmarkProperty(b *testing.B) {
	p := AppendProperties(nil, map[string]string{
		"KEYS": "order-42", "TAGS": "TagA", "UNIQ_KEY": "7F0000010001181C1E4A4E3B3E040000", "WAIT": "true",
	})
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Property(p, PropertyTags); !ok {
			b.Fatal("no TAGS")
		}
	}
}
