package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// An offset message id is what the broker returns as msgId when it stores a
// message and what VIEW_MESSAGE_BY_ID takes: upper-case hex of the store
// host address (4 or 16 bytes), its port (int32) and the record's CommitLog
// offset (int64), so 32 hex digits for IPv4 and 56 for IPv6
// (MessageDecoder.createMessageId). Clients recompute it from STOREHOST and
// PHYSICALOFFSET, so both must be right in every record.

const hexUpper = "0123456789ABCDEF"

// AppendOffsetMsgID appends the offset message id of the record stored by
// storeHost at physOffset. It allocates nothing beyond growing dst.
func AppendOffsetMsgID(dst []byte, storeHost Host, physOffset int64) []byte {
	var raw [16 + 4 + 8]byte
	n := copy(raw[:], storeHost.IP[:hostLen(storeHost.IPv6)-4])
	binary.BigEndian.PutUint32(raw[n:], uint32(storeHost.Port))
	binary.BigEndian.PutUint64(raw[n+4:], uint64(physOffset))
	return appendHex(dst, raw[:n+12])
}

// ParseOffsetMsgID decodes an offset message id of 32 (IPv4) or 56 (IPv6)
// hex digits in either case.
func ParseOffsetMsgID(id string) (Host, int64, error) {
	var h Host
	switch len(id) {
	case 2 * (4 + 4 + 8):
	case 2 * (16 + 4 + 8):
		h.IPv6 = true
	default:
		return Host{}, 0, fmt.Errorf("message: offset msg id %q has %d characters, want 32 or 56 hex digits", id, len(id))
	}
	var raw [16 + 4 + 8]byte
	for i := range len(id) / 2 {
		hi, ok1 := unhex(id[2*i])
		lo, ok2 := unhex(id[2*i+1])
		if !ok1 || !ok2 {
			return Host{}, 0, fmt.Errorf("message: offset msg id %q is not hex", id)
		}
		raw[i] = hi<<4 | lo
	}
	n := copy(h.IP[:], raw[:hostLen(h.IPv6)-4])
	h.Port = int32(binary.BigEndian.Uint32(raw[n:]))
	return h, int64(binary.BigEndian.Uint64(raw[n+4:])), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// HostFromAddrPort converts a socket address to a stored host. An
// IPv4-mapped IPv6 address is stored as IPv4, as Java's InetAddress does,
// and the zone is dropped; an invalid address becomes 0.0.0.0.
func HostFromAddrPort(ap netip.AddrPort) Host {
	h := Host{Port: int32(ap.Port())}
	a := ap.Addr().Unmap()
	switch {
	case a.Is4():
		ip := a.As4()
		copy(h.IP[:], ip[:])
	case a.Is6():
		h.IP = a.As16()
		h.IPv6 = true
	}
	return h
}

// AddrPort returns h as a socket address. A port outside 0..65535, which
// only a damaged record holds, is truncated to 16 bits; String shows it
// as stored.
func (h Host) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(h.addr(), uint16(h.Port))
}

func (h Host) addr() netip.Addr {
	if h.IPv6 {
		return netip.AddrFrom16(h.IP)
	}
	return netip.AddrFrom4([4]byte(h.IP[:4]))
}

// String formats h as "1.2.3.4:10911" or "[::1]:10911".
func (h Host) String() string {
	if h.Port >= 0 && h.Port <= 0xFFFF {
		return h.AddrPort().String()
	}
	a := h.addr().String()
	if h.IPv6 {
		a = "[" + a + "]"
	}
	return a + ":" + strconv.Itoa(int(h.Port))
}
