package message

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestUniqKeys(t *testing.T) {
	for _, ip := range []string{"10.1.2.3", "::ffff:10.1.2.3", "2001:db8::1"} {
		var u UniqKeys
		u.Init(netip.MustParseAddr(ip))
		now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
		seen := map[string]bool{}
		for range 1000 {
			k := u.Next(now)
			if len(k) != u.Len() || strings.Trim(k, "0123456789ABCDEF") != "" || seen[k] {
				t.Fatalf("%s: key %q (len %d, want %d), seen before %v", ip, k, len(k), u.Len(), seen[k])
			}
			seen[k] = true
		}
		if want := map[bool]int{true: 32, false: 56}[netip.MustParseAddr(ip).Unmap().Is4()]; u.Len() != want {
			t.Fatalf("%s: keys of %d hex digits, want %d", ip, u.Len(), want)
		}
		if ip != "2001:db8::1" && !strings.HasPrefix(u.Next(now), "0A010203") {
			t.Fatalf("%s: key does not start with the address", ip)
		}
	}
}
