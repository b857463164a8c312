package message

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// UniqKeys makes the UNIQ_KEY of messages that arrive without one, in the
// shape of RocketMQ's MessageClientIDSetter: hex(ip ‖ pid int16 ‖ random
// int32) followed by hex(ms since the start of the month int32 ‖ counter
// int16). Every front end that stores messages uses one.
type UniqKeys struct {
	prefix  string
	counter atomic.Uint32
}

// Init sets the host part from ip (IPv4 or IPv6).
func (u *UniqKeys) Init(ip netip.Addr) {
	var raw []byte
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		raw = append(raw, a[:]...)
	} else {
		a := ip.As16()
		raw = append(raw, a[:]...)
	}
	raw = binary.BigEndian.AppendUint16(raw, uint16(os.Getpid()))
	raw = binary.BigEndian.AppendUint32(raw, rand.Uint32())
	u.prefix = string(appendHex(nil, raw))
}

// Len is the length of every key Next returns.
func (u *UniqKeys) Len() int { return len(u.prefix) + 12 }

// Next returns a new key; safe for concurrent use.
func (u *UniqKeys) Next(now time.Time) string {
	y, m, _ := now.Date()
	start := time.Date(y, m, 1, 0, 0, 0, 0, now.Location())
	var raw [6]byte
	binary.BigEndian.PutUint32(raw[:], uint32(now.Sub(start).Milliseconds()))
	binary.BigEndian.PutUint16(raw[4:], uint16(u.counter.Add(1)))
	var buf [64]byte
	return string(appendHex(append(buf[:0], u.prefix...), raw[:]))
}

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&0x0F])
	}
	return dst
}
