package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzParse checks Parse never panics, and that whatever it accepts, Print
// writes in a form Parse reads back to the same Broker. The input goes in
// through a reader that returns it in halves, to exercise partial reads.
func FuzzParse(f *testing.F) {
	for _, s := range []string{singleMaster, syncMaster, syncSlave, "listenPort=abc\nbrokerRole=MASTER\nfoo=1\n"} {
		f.Add([]byte(s))
	}
	for _, c := range javaCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, _, err := Parse(iotest.HalfReader(bytes.NewReader(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		var out bytes.Buffer
		if err := b.Print(&out); err != nil {
			t.Fatal(err)
		}
		back, w, err := Parse(&out)
		if err != nil || len(w) > 0 {
			t.Fatalf("Print output does not parse: %v %v\n%s", err, w, out.String())
		}
		if !reflect.DeepEqual(back, b) {
			t.Fatalf("Print then Parse\n got %+v\nwant %+v", back, b)
		}
	})
}
