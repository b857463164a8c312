package message

import (
	"net/netip"
	"testing"
)

func TestOffsetMsgID(t *testing.T) {
	f := func(addr string, off int64, want string) {
		t.Helper()
		h := HostFromAddrPort(netip.MustParseAddrPort(addr))
		got := string(AppendOffsetMsgID(nil, h, off))
		if got != want {
			t.Errorf("AppendOffsetMsgID(%s, %d) = %s, want %s", addr, off, got, want)
		}
		h2, off2, err := ParseOffsetMsgID(got)
		if err != nil || h2 != h || off2 != off {
			t.Errorf("ParseOffsetMsgID(%s) = %v, %d, %v; want %v, %d", got, h2, off2, err, h, off)
		}
	}
	f("127.0.0.1:10911", 0, "7F00000100002A9F0000000000000000") // protocol doc §4.6
	f("192.168.1.20:10911", 0x1234_5678_9ABC, "C0A8011400002A9F0000123456789ABC")
	f("[2001:db8::1]:10911", 42, "20010DB800000000000000000000000100002A9F000000000000002A")

	h, off, err := ParseOffsetMsgID("7f00000100002a9f00000000000000ff") // lower case too
	if err != nil || h.String() != "127.0.0.1:10911" || off != 255 {
		t.Errorf("lower case: %v %d %v", h, off, err)
	}
	for _, bad := range []string{"", "7F000001", "7F00000100002A9F000000000000000G", "7F00000100002A9F00000000000000000"} {
		if _, _, err := ParseOffsetMsgID(bad); err == nil {
			t.Errorf("ParseOffsetMsgID(%q) accepted", bad)
		}
	}
}

func TestHost(t *testing.T) {
	f := func(in string, want string, v6 bool) {
		t.Helper()
		h := HostFromAddrPort(netip.MustParseAddrPort(in))
		if h.String() != want || h.IPv6 != v6 {
			t.Errorf("HostFromAddrPort(%s) = %s (v6 %v), want %s (v6 %v)", in, h, h.IPv6, want, v6)
		}
		if got := h.AddrPort().String(); got != want {
			t.Errorf("AddrPort of %s = %s", in, got)
		}
	}
	f("10.0.0.1:9876", "10.0.0.1:9876", false)
	f("[::ffff:10.0.0.1]:9876", "10.0.0.1:9876", false) // mapped: stored as IPv4, like Java
	f("[fe80::1%eth0]:1", "[fe80::1]:1", true)          // zones are not stored
	if got := (Host{}).String(); got != "0.0.0.0:0" {
		t.Errorf("zero Host = %s", got)
	}
	if got := (Host{Port: -1}).String(); got != "0.0.0.0:-1" {
		t.Errorf("damaged port shows as %s", got)
	}
}
