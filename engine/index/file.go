package index

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/gannetmq/gannet/engine/internal/mapped"
)

// The IndexFile layout, fixed by RocketMQ (IndexHeader.java, IndexFile.java;
// docs/rocketmq-protocol.md §5.4). All integers are big-endian.
const (
	headerSize = 40
	slotSize   = 4
	itemSize   = 20

	offBeginTimestamp = 0
	offEndTimestamp   = 8
	offBeginPhyOffset = 16
	offEndPhyOffset   = 24
	// offHashSlotCount holds what Java calls hashSlotCount, which despite its
	// name is not the table size: IndexHeader.incHashSlotCount bumps it on
	// every putKey, so it counts the items. Gannet writes it the same way and
	// never reads it back; the geometry comes from Options.
	offHashSlotCount = 32
	offIndexCount    = 36

	// Within an item.
	itemKeyHash   = 0
	itemPhyOffset = 4
	itemTimeDiff  = 12
	itemPrevIndex = 16
)

// nameLayout formats a file's creation time; the dot is cut out, giving
// RocketMQ's yyyyMMddHHmmssSSS (UtilAll.timeMillisToHumanString).
const (
	nameLayout = "20060102150405.000"
	nameLen    = 17
)

var be = binary.BigEndian

// fileSize is the length of an index file of the given geometry.
func fileSize(slots, maxItems int) int64 {
	return headerSize + int64(slots)*slotSize + int64(maxItems)*itemSize
}

// file is one mapped index file. Its header copy and its mapped bytes are
// guarded by Index.mu; the header copy is what Put and Lookup read, and Put
// writes every change through to the mapping at once.
type file struct {
	m        *mapped.File
	data     []byte // the mapping; len(data) == fileSize(slots, maxItems)
	name     string
	slots    int32
	maxItems int32
	itemsOff int // byte offset of item 0 (item numbers start at 1)

	beginTimestamp int64
	endTimestamp   int64 // highest store time indexed, not the last one
	beginPhyOffset int64
	endPhyOffset   int64 // highest phyOffset indexed, not the last one
	puts           int32 // the header's hashSlotCount, see offHashSlotCount
	count          int32 // the header's indexCount: next item number, ≥ 1

	dirty bool // written since the last sync
}

// createFile makes a new, empty index file at path, which must not exist.
func createFile(path, name string, slots, maxItems int) (*file, error) {
	m, err := mapped.Open(path, fileSize(slots, maxItems), true)
	if err != nil {
		return nil, fmt.Errorf("cannot create index file: %w", err)
	}
	// Reserve the blocks now: a store into a sparse mapping on a full disk
	// raises SIGBUS instead of returning an error.
	if err := m.Allocate(); err != nil {
		m.Remove()
		return nil, fmt.Errorf("cannot create index file: %w", err)
	}
	f := newFile(m, name, slots, maxItems)
	f.count = 1
	return f, nil
}

// openFile maps an existing index file and checks its size and header. The
// slot table and items are not checked here: Put and Lookup treat every slot
// and prevIndex they read as untrusted.
func openFile(path, name string, slots, maxItems int) (*file, error) {
	want := fileSize(slots, maxItems)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open index file: %w", err)
	}
	// mapped.Open would extend a short file with zeros and map a long one at
	// its own length; both mean a torn file or another geometry, so refuse.
	if st.Size() != want {
		return nil, fmt.Errorf("index file %q is %d bytes, want %d for %d slots and %d items (short file, or written with another geometry)",
			path, st.Size(), want, slots, maxItems)
	}
	m, err := mapped.Open(path, want, false)
	if err != nil {
		return nil, fmt.Errorf("cannot open index file: %w", err)
	}
	f := newFile(m, name, slots, maxItems)
	if err := f.loadHeader(); err != nil {
		m.Close()
		return nil, err
	}
	return f, nil
}

func newFile(m *mapped.File, name string, slots, maxItems int) *file {
	return &file{
		m:        m,
		data:     m.Bytes(),
		name:     name,
		slots:    int32(slots),
		maxItems: int32(maxItems),
		itemsOff: headerSize + slots*slotSize,
	}
}

func (f *file) loadHeader() error {
	d := f.data
	f.beginTimestamp = int64(be.Uint64(d[offBeginTimestamp:]))
	f.endTimestamp = int64(be.Uint64(d[offEndTimestamp:]))
	f.beginPhyOffset = int64(be.Uint64(d[offBeginPhyOffset:]))
	f.endPhyOffset = int64(be.Uint64(d[offEndPhyOffset:]))
	f.puts = int32(be.Uint32(d[offHashSlotCount:]))
	f.count = int32(be.Uint32(d[offIndexCount:]))
	// Java writes the header only on the first putKey, so a file created
	// and never written reads 0; IndexHeader.load takes that as 1.
	if f.count == 0 {
		f.count = 1
	}
	// count bounds every item number read from the file, so it must fit.
	if f.count < 0 || f.count > f.maxItems {
		return fmt.Errorf("index file %q is corrupt: header item count %d is outside [0, %d]", f.m.Path(), f.count, f.maxItems)
	}
	if f.count > 1 && (f.beginPhyOffset < 0 || f.endPhyOffset < 0) {
		return fmt.Errorf("index file %q is corrupt: header offsets [%d, %d] are negative", f.m.Path(), f.beginPhyOffset, f.endPhyOffset)
	}
	return nil
}

// slotOff is the position of hash's bucket. Put and Lookup only pass
// non-negative hashes; the unsigned modulo keeps any other in range too.
func (f *file) slotOff(hash int32) int {
	return headerSize + int(uint32(hash)%uint32(f.slots))*slotSize
}

// full reports whether the file has no room for another item. As in Java,
// item 0 is never used, so a file holds maxItems-1 items.
func (f *file) full() bool { return f.count >= f.maxItems }

// empty reports whether the file holds no item.
func (f *file) empty() bool { return f.count <= 1 }

// put appends one item and makes it the head of its slot's chain.
//
// A store can fault (see Index.putLocked), so the order matters: the item,
// then the header, then the slot. A fault before the slot store leaves at
// worst an item no slot points to, never a slot pointing past the count
// (which would cut its chain off), and the header copy changes only after the
// last store, so Lookup keeps seeing the file as it was.
func (f *file) put(hash int32, phyOffset, storeTimestamp int64) {
	n := f.count
	begTs, endTs := f.beginTimestamp, max(f.endTimestamp, storeTimestamp)
	begPhy, endPhy := f.beginPhyOffset, max(f.endPhyOffset, phyOffset)
	if n <= 1 {
		begTs, endTs = storeTimestamp, storeTimestamp
		begPhy, endPhy = phyOffset, phyOffset
	}

	slotOff := f.slotOff(hash)
	prev := int32(be.Uint32(f.data[slotOff:]))
	if prev <= 0 || prev >= n { // empty, or garbage from a torn or corrupt file
		prev = 0
	}

	// Seconds since the file's first item, clamped like Java's putKey; a
	// store time before it (clock stepped back) counts as 0.
	diff := (storeTimestamp - begTs) / 1000
	diff = min(max(diff, 0), math.MaxInt32)

	it := f.data[f.itemsOff+int(n)*itemSize:]
	be.PutUint32(it[itemKeyHash:], uint32(hash))
	be.PutUint64(it[itemPhyOffset:], uint64(phyOffset))
	be.PutUint32(it[itemTimeDiff:], uint32(diff))
	be.PutUint32(it[itemPrevIndex:], uint32(prev))

	d := f.data
	be.PutUint64(d[offBeginTimestamp:], uint64(begTs))
	be.PutUint64(d[offEndTimestamp:], uint64(endTs))
	be.PutUint64(d[offBeginPhyOffset:], uint64(begPhy))
	be.PutUint64(d[offEndPhyOffset:], uint64(endPhy))
	be.PutUint32(d[offHashSlotCount:], uint32(f.puts+1))
	be.PutUint32(d[offIndexCount:], uint32(n+1))

	be.PutUint32(d[slotOff:], uint32(n))

	f.beginTimestamp, f.endTimestamp = begTs, endTs
	f.beginPhyOffset, f.endPhyOffset = begPhy, endPhy
	f.puts++
	f.count = n + 1
	f.dirty = true
}

// timeOverlaps reports whether items of this file can lie in [begin, end].
func (f *file) timeOverlaps(begin, end int64) bool {
	return f.beginTimestamp <= end && f.endTimestamp >= begin
}

// lookup walks the chain of hash's slot from its newest item and appends the
// phyOffset of every item with that hash whose time may lie in [begin, end]
// (any time when anyTime), until res holds max offsets.
//
// An item keeps its time as whole seconds after the file's first item, so its
// store time t is only known to lie in [s, s+999] where s is the time read
// back; the item matches when that second overlaps the range, and the caller
// compares the exact store time of the message if it must. Chains run newest
// to oldest, so the walk stops at the first item whose second ends before
// begin, as Java's selectPhyOffset does.
//
// Nothing read from the file is trusted: the walk stops at a slot or prevIndex
// outside [1, count), and because a chain must run to strictly smaller item
// numbers (a slot's previous head was always written earlier), a loop or a
// forward link ends it too. That alone bounds the walk by count ≤ maxItems
// steps; the step counter says so explicitly.
func (f *file) lookup(res *results, hash int32, begin, end int64, anyTime bool) {
	if f.empty() {
		return
	}
	cur := int32(be.Uint32(f.data[f.slotOff(hash):]))
	if cur <= 0 || cur >= f.count {
		return
	}
	for steps := int32(0); steps < f.maxItems && !res.full(); steps++ {
		it := f.data[f.itemsOff+int(cur)*itemSize:]
		h := int32(be.Uint32(it[itemKeyHash:]))
		phy := int64(be.Uint64(it[itemPhyOffset:]))
		diff := int32(be.Uint32(it[itemTimeDiff:]))
		prev := int32(be.Uint32(it[itemPrevIndex:]))
		if diff < 0 { // never written by put: the file is corrupt
			return
		}
		t := f.beginTimestamp + int64(diff)*1000
		if h == hash && (anyTime || (t <= end && t+999 >= begin)) {
			res.add(phy)
		}
		if !anyTime && t+999 < begin {
			return
		}
		if prev <= 0 || prev >= cur {
			return
		}
		cur = prev
	}
}

// isFileName reports whether name looks like an index file name: 17 digits.
func isFileName(name string) bool {
	if len(name) != nameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// formatName gives the file name for creation time t.
func formatName(t time.Time) string {
	s := t.Format(nameLayout)
	return s[:14] + s[15:]
}

// nameAfter gives the name one millisecond after name. The arithmetic is on
// the wall-clock digits (parsed as UTC), so it needs no time zone and never
// meets a daylight-saving gap.
func nameAfter(name string) (string, error) {
	t, err := time.Parse(nameLayout, name[:14]+"."+name[14:])
	if err != nil {
		return "", fmt.Errorf("cannot name an index file after %q: %w", name, err)
	}
	next := formatName(t.Add(time.Millisecond))
	if len(next) != nameLen {
		return "", fmt.Errorf("cannot name an index file after %q", name)
	}
	return next, nil
}
