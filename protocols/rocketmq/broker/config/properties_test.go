package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// javaCases are inputs with what java.util.Properties.load (OpenJDK 17,
// through a UTF-8 Reader) makes of them, checked by running it. Values
// here have no trailing white space, where the two readers differ on
// purpose.
var javaCases = []struct {
	in   string
	want map[string]string
}{
	{"a=1\nb = 2\n  c:3\nd 4\ne\t=\t5\nf  :  = 6", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "= 6"}},
	{"# comment \\\nx=1\n! also\\\ny=2", map[string]string{"x": "1", "y": "2"}},
	{"k=line1\\\n    line2\\\n\tline3\nm=after", map[string]string{"k": "line1line2line3", "m": "after"}},
	{"k=v\\\\\nn=w", map[string]string{"k": `v\`, "n": "w"}},
	{"k=v\\\\\\\nmore", map[string]string{"k": `v\more`}},
	{"key\\ with\\ spaces=val\nkey\\=eq=v2\nkey\\:c=v3", map[string]string{"key with spaces": "val", "key=eq": "v2", "key:c": "v3"}},
	{`u=\u0041\u00e9\uD83D\uDE00x`, map[string]string{"u": "Aé😀x"}},
	{`t=\t\n\r\f\z\\`, map[string]string{"t": "\t\n\r\fz\\"}},
	{"lead=\\  x\ntrail=x \\ ", map[string]string{"lead": "  x", "trail": "x  "}},
	{"=novalue\n:also\nonly", map[string]string{"": "also", "only": ""}},
	{"k=v\\", map[string]string{"k": "v"}},
	{"a=1\r\nb=2\rc=3\n\rd=4", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}},
	{"x=\\\n\ny=2", map[string]string{"x": "", "y": "2"}},
	{"k=#notcomment\nk2=!x", map[string]string{"k": "#notcomment", "k2": "!x"}},
	{"k==v\nk3 = = v", map[string]string{"k": "=v", "k3": "= v"}},
}

func TestJavaPropertiesSyntax(t *testing.T) {
	for i, c := range javaCases {
		props, issues := readProperties(c.in)
		if len(issues) > 0 {
			t.Errorf("case %d %q: issues %v", i, c.in, issues)
		}
		got := map[string]string{}
		for _, p := range props {
			got[p.key] = p.value
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("case %d %q:\n got %q\nwant %q", i, c.in, got, c.want)
		}
	}
}

func TestPropertiesDetails(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		props, issues := readProperties(in)
		var got []string
		for _, p := range props {
			got = append(got, fmt.Sprintf("%d:%s=%s", p.line, p.key, p.value))
		}
		for _, i := range issues {
			got = append(got, i.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("readProperties(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	// Trailing white space goes, unless escaped (Java keeps it).
	f("a = 8 \t\nb=x\\ \n", "1:a=8", "2:b=x ")
	// Line numbers are those of the first physical line.
	f("\n# c\na=1\\\n  2\\\n  3\nb=2", "3:a=123", "6:b=2")
	f("a=\\u12\nb=\\u00zz\nc=ok", "3:c=ok", `line 1: a: malformed \uXXXX escape`, `line 2: b: malformed \uXXXX escape`)
	// Lone surrogates are not characters.
	f(`a=\uD83Dx\uDE00`, "1:a=\uFFFDx\uFFFD")
	f("", nil...)
	f("   \n\t\f\n", nil...)
}

func TestEscapeValue(t *testing.T) {
	for _, v := range []string{"", " ", "  a b  ", "\\", "a\\b\\", "\t\n\r\f", "\x00\x01\x1f\x7f", "#x", "!x", "=x", ":x", "é😀", "\xff\xfe", "a\\u0041"} {
		var b strings.Builder
		escapeValue(&b, v)
		props, issues := readProperties("k=" + b.String())
		if len(issues) > 0 || len(props) != 1 || props[0].value != v {
			t.Errorf("value %q written as %q reads back as %+v %v", v, b.String(), props, issues)
		}
	}
}
