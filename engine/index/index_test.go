package index

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tiny geometry: 16 buckets for hundreds of keys puts a collision chain in
// every bucket, and 63 items per file rolls every few dozen puts.
const (
	tinySlots = 16
	tinyItems = 64
)

func openIndex(t testing.TB, dir string, slots, items int) *Index {
	t.Helper()
	x, err := Open(Options{Dir: dir, HashSlots: slots, MaxItems: items})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// model is the naive index: every Put in order, searched backwards.
type model struct{ items []modelItem }

type modelItem struct {
	hash    int32
	phy, ts int64
}

func (m *model) put(t testing.TB, x *Index, topic, key string, phy, ts int64) {
	t.Helper()
	if err := x.Put([]byte(topic), []byte(key), phy, ts); err != nil {
		t.Fatal(err)
	}
	m.items = append(m.items, modelItem{keyHash([]byte(topic), []byte(key)), phy, ts})
}

// lookup is exact for store times and bounds in whole seconds, where the
// index's second resolution loses nothing.
func (m *model) lookup(topic, key string, begin, end int64, max int) []int64 {
	hash := keyHash([]byte(topic), []byte(key))
	var out []int64
	for i := len(m.items) - 1; i >= 0 && len(out) < max; i-- {
		it := m.items[i]
		if it.hash != hash || slices.Contains(out, it.phy) {
			continue
		}
		if (begin == 0 && end == 0) || (it.ts >= begin && it.ts <= end) {
			out = append(out, it.phy)
		}
	}
	return out
}

func (m *model) check(t testing.TB, x *Index, topic, key string, begin, end int64, max int) {
	t.Helper()
	got := x.Lookup(topic, key, begin, end, max, nil)
	want := m.lookup(topic, key, begin, end, max)
	if !slices.Equal(got, want) {
		t.Fatalf("Lookup(%q, %q, %d, %d, %d) = %v, want %v", topic, key, begin, end, max, got, want)
	}
}

const baseTs = 1_700_000_000_000 // a whole second

func TestPutLookupRollReopen(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, tinySlots, tinyItems)
	var m model
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("ORDER_%d", i)
	}
	// "Aa" and "BB" share a Java hash: both come back, as candidates.
	keys = append(keys, "Aa", "BB", "", "日本語", "😀")
	n := 0
	putSome := func(count int) {
		for range count {
			m.put(t, x, "TopicTest", keys[n%len(keys)], int64(n)*100, baseTs+int64(n)*1000)
			n++
		}
	}
	checkAll := func() {
		t.Helper()
		for _, k := range keys {
			m.check(t, x, "TopicTest", k, 0, 0, 1000)
			m.check(t, x, "TopicTest", k, 0, 0, 3)
			m.check(t, x, "OtherTopic", k, 0, 0, 1000)
		}
	}

	putSome(1000)
	if got, want := x.Files(), (1000+tinyItems-2)/(tinyItems-1); got != want {
		t.Fatalf("Files() = %d, want %d", got, want)
	}
	if got := x.EndPhyOffset(); got != 999*100 {
		t.Fatalf("EndPhyOffset() = %d, want %d", got, 999*100)
	}
	checkAll()
	if got := x.Lookup("TopicTest", "Aa", 0, 0, 1000, nil); len(got) != 8 { // 4 puts of each
		t.Fatalf("Lookup of a colliding key found %d, want 8", len(got))
	}

	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = openIndex(t, dir, tinySlots, tinyItems)
	if got := x.EndPhyOffset(); got != 999*100 {
		t.Fatalf("EndPhyOffset() after reopen = %d, want %d", got, 999*100)
	}
	checkAll()
	putSome(500) // continues the half-full newest file
	checkAll()
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = openIndex(t, dir, tinySlots, tinyItems)
	checkAll()
	entries, _ := os.ReadDir(dir)
	if len(entries) != x.Files() {
		t.Fatalf("%d files on disk, Files() = %d", len(entries), x.Files())
	}
}

func TestHeader(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, tinySlots, tinyItems)
	// The second item goes in before the first in time; the header keeps
	// the highest time and offset.
	for i, it := range []struct{ phy, ts int64 }{{500, baseTs + 5000}, {400, baseTs + 2000}, {700, baseTs + 9500}} {
		if err := x.Put([]byte("T"), []byte(fmt.Sprint(i)), it.phy, it.ts); err != nil {
			t.Fatal(err)
		}
	}
	d := x.files[0].data
	f := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", what, got, want)
		}
	}
	f("beginTimestamp", int64(be.Uint64(d[0:])), baseTs+5000)
	f("endTimestamp", int64(be.Uint64(d[8:])), baseTs+9500)
	f("beginPhyOffset", int64(be.Uint64(d[16:])), 500)
	f("endPhyOffset", int64(be.Uint64(d[24:])), 700)
	f("hashSlotCount", int64(be.Uint32(d[32:])), 3)
	f("indexCount", int64(be.Uint32(d[36:])), 4)
	// Item 2: before the file's begin, so timeDiff 0; item 3: 4.5 s after.
	item := func(n int) []byte { return d[headerSize+tinySlots*slotSize+n*itemSize:] }
	f("item 1 keyHash", int64(be.Uint32(item(1)[0:])), int64(keyHash([]byte("T"), []byte("0"))))
	f("item 1 phyOffset", int64(be.Uint64(item(1)[4:])), 500)
	f("item 2 timeDiff", int64(be.Uint32(item(2)[12:])), 0)
	f("item 3 timeDiff", int64(be.Uint32(item(3)[12:])), 4)
	h := keyHash([]byte("T"), []byte("2"))
	f("slot of item 3", int64(be.Uint32(d[headerSize+int(h%tinySlots)*slotSize:])), 3)
	if x.EndPhyOffset() != 700 {
		t.Errorf("EndPhyOffset() = %d, want 700", x.EndPhyOffset())
	}
}

func TestChainOrderAndPrev(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, 1, 100) // one bucket: every item on one chain
	for i := range 10 {
		if err := x.Put([]byte("T"), []byte(fmt.Sprint(i%3)), int64(i), baseTs); err != nil {
			t.Fatal(err)
		}
	}
	d := x.files[0].data
	if got := be.Uint32(d[headerSize:]); got != 10 {
		t.Fatalf("slot head = %d, want 10", got)
	}
	for n := 1; n <= 10; n++ {
		prev := be.Uint32(d[headerSize+slotSize+n*itemSize+16:])
		if int(prev) != n-1 {
			t.Fatalf("item %d prevIndex = %d, want %d", n, prev, n-1)
		}
	}
	if got := x.Lookup("T", "1", 0, 0, 10, nil); !slices.Equal(got, []int64{7, 4, 1}) {
		t.Fatalf("Lookup = %v, want [7 4 1]", got)
	}
}

func TestTimeRange(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, tinySlots, tinyItems)
	var m model
	for i := range 500 {
		m.put(t, x, "T", fmt.Sprint(i%7), int64(i), baseTs+int64(i)*1000)
	}
	sec := func(s int) int64 { return baseTs + int64(s)*1000 }
	for _, r := range [][2]int{{0, 0}, {10, 20}, {100, 100}, {0, 499}, {-50, 30}, {450, 9999}, {250, 260}, {600, 700}, {20, 10}} {
		for k := range 7 {
			m.check(t, x, "T", fmt.Sprint(k), sec(r[0]), sec(r[1]), 1000)
			m.check(t, x, "T", fmt.Sprint(k), sec(r[0]), sec(r[1]), 2)
		}
	}
	m.check(t, x, "T", "3", 0, 0, 1000)                  // any time
	m.check(t, x, "T", "3", 1, math.MaxInt64, 1000)      // every time
	m.check(t, x, "T", "3", math.MinInt64, baseTs, 1000) // up to the first
}

func TestTimeRangeSubSecond(t *testing.T) {
	x := openIndex(t, t.TempDir(), tinySlots, tinyItems)
	// Item 2 is kept as "1 s after the first", i.e. 1000-1999 ms.
	x.Put([]byte("T"), []byte("a"), 1, baseTs)
	x.Put([]byte("T"), []byte("a"), 2, baseTs+1500)
	f := func(begin, end int64, want ...int64) {
		t.Helper()
		if got := x.Lookup("T", "a", baseTs+begin, baseTs+end, 10, nil); !slices.Equal(got, want) {
			t.Errorf("Lookup(+%d, +%d) = %v, want %v", begin, end, got, want)
		}
	}
	f(1200, 1300, 2)          // inside the second item's second
	f(1400, 1600, 2)          // around it
	f(1999, 1999)             // after the file's last store time
	f(2000, 5000)             // after both
	f(0, 0, 1)                // exactly the first
	f(500, 800, 1)            // the first's second: a candidate
	f(-5000, -1)              // before both
	f(-1000, 1000, 2, 1)      // both
	f(1, math.MaxInt32, 2, 1) // begin inside the first's second
}

func TestDuplicates(t *testing.T) {
	x := openIndex(t, t.TempDir(), tinySlots, tinyItems)
	// A re-dispatch indexes the same messages again, across a roll.
	for pass := range 2 {
		for i := range 200 {
			if err := x.Put([]byte("T"), []byte("dup"), int64(i), baseTs+int64(i)); err != nil {
				t.Fatal(pass, err)
			}
		}
	}
	got := x.Lookup("T", "dup", 0, 0, 1000, nil)
	if len(got) != 200 {
		t.Fatalf("Lookup found %d offsets, want 200 (once each)", len(got))
	}
	for i, off := range got {
		if off != int64(199-i) {
			t.Fatalf("Lookup[%d] = %d, want %d (newest first)", i, off, 199-i)
		}
	}
	// Only this lookup's offsets are de-duplicated and counted.
	dst := []int64{-1, 199, 199}
	got = x.Lookup("T", "dup", 0, 0, 3, dst)
	if want := []int64{-1, 199, 199, 199, 198, 197}; !slices.Equal(got, want) {
		t.Fatalf("Lookup into dst = %v, want %v", got, want)
	}
	if got := x.Lookup("T", "dup", 0, 0, 0, nil); got != nil {
		t.Fatalf("Lookup with max 0 = %v, want nil", got)
	}
}

func TestDeleteFilesBefore(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, tinySlots, tinyItems)
	var m model
	per := tinyItems - 1
	for i := range 5 * per {
		m.put(t, x, "T", fmt.Sprint(i%10), int64(i)*10, baseTs+int64(i)*1000)
	}
	if x.Files() != 5 {
		t.Fatalf("Files() = %d, want 5", x.Files())
	}
	f := func(min int64, wantRemoved, wantFiles int) {
		t.Helper()
		n, err := x.DeleteFilesBefore(min)
		if err != nil || n != wantRemoved || x.Files() != wantFiles {
			t.Fatalf("DeleteFilesBefore(%d) = %d, %v with %d files left, want %d removed, %d left", min, n, err, x.Files(), wantRemoved, wantFiles)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != wantFiles {
			t.Fatalf("%d files on disk, want %d", len(entries), wantFiles)
		}
	}
	f(0, 0, 5)
	last := int64(2*per-1) * 10 // end of the second file
	f(last, 1, 4)               // the second file ends at min: kept
	f(last+1, 1, 3)
	got := x.Lookup("T", "3", 0, 0, 1000, nil)
	want := m.lookup("T", "3", 0, 0, 1000)
	want = slices.DeleteFunc(want, func(off int64) bool { return off <= last })
	if !slices.Equal(got, want) {
		t.Fatalf("Lookup after deletion = %v, want %v", got, want)
	}
	f(math.MaxInt64, 2, 1) // never the newest
	if x.EndPhyOffset() != int64(5*per-1)*10 {
		t.Fatalf("EndPhyOffset() = %d", x.EndPhyOffset())
	}
}

func TestFileNames(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, 1, 2) // one item per file: every Put rolls
	clock := time.Date(2024, 3, 5, 6, 7, 8, 998_000_000, time.Local)
	x.now = func() time.Time { return clock }
	// A directory in the way of a name is stepped over.
	if err := os.Mkdir(filepath.Join(dir, "20240305060708999"), 0o755); err != nil {
		t.Fatal(err)
	}
	put := func() {
		t.Helper()
		if err := x.Put([]byte("T"), []byte("k"), 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	put()
	put()                            // same millisecond: the next name
	clock = clock.Add(-time.Hour)    // the clock steps back
	put()                            // still after the newest
	clock = clock.Add(2 * time.Hour) // and forward
	put()
	var names []string
	for _, f := range x.files {
		names = append(names, f.name)
	}
	want := []string{"20240305060708998", "20240305060709000", "20240305060709001", "20240305070708998"}
	if !slices.Equal(names, want) {
		t.Fatalf("names = %v, want %v", names, want)
	}

	// Other names in the directory are ignored by Open.
	os.WriteFile(filepath.Join(dir, "checkpoint"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "2024030506070899"), []byte("x"), 0o644)
	x.Close()
	x = openIndex(t, dir, 1, 2)
	if x.Files() != 4 {
		t.Fatalf("Files() after reopen = %d, want 4", x.Files())
	}
}

func TestNameAfter(t *testing.T) {
	f := func(name, want string) {
		t.Helper()
		got, err := nameAfter(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("nameAfter(%q) = %q, %v, want %q", name, got, err, want)
		}
	}
	f("20240305060708998", "20240305060708999")
	f("20241231235959999", "20250101000000000")
	f("20240229235959999", "20240301000000000")
	f("20241399000000000", "") // not a time
	f("99991231235959999", "") // no 17-digit successor
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{HashSlots: -1, MaxItems: 1}); err == nil ||
		!strings.Contains(err.Error(), "Dir") || !strings.Contains(err.Error(), "HashSlots") || !strings.Contains(err.Error(), "MaxItems") {
		t.Fatalf("Open with bad options: %v, want every field named", err)
	}

	build := func(t *testing.T) (dir, path string) {
		dir = t.TempDir()
		x := openIndex(t, dir, tinySlots, tinyItems)
		for i := range 10 {
			x.Put([]byte("T"), []byte(fmt.Sprint(i)), int64(i), baseTs)
		}
		path = x.files[0].m.Path()
		x.Close()
		return dir, path
	}
	f := func(name string, damage func(path string) error, opts Options, wantErr string) {
		t.Run(name, func(t *testing.T) {
			dir, path := build(t)
			if err := damage(path); err != nil {
				t.Fatal(err)
			}
			if opts.HashSlots == 0 {
				opts = Options{HashSlots: tinySlots, MaxItems: tinyItems}
			}
			opts.Dir = dir
			x, err := Open(opts)
			if err == nil {
				x.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Open: %v, want the file named and %q", err, wantErr)
			}
		})
	}
	none := func(string) error { return nil }
	writeAt := func(off int64, b ...byte) func(string) error {
		return func(path string) error {
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer fh.Close()
			_, err = fh.WriteAt(b, off)
			return err
		}
	}
	f("short", func(p string) error { return os.Truncate(p, 1000) }, Options{}, "1000 bytes")
	f("long", func(p string) error { return os.Truncate(p, fileSize(tinySlots, tinyItems)+1) }, Options{}, "bytes")
	f("geometry", none, Options{HashSlots: 32, MaxItems: tinyItems}, "another geometry")
	f("count too high", writeAt(offIndexCount, 0, 0, 0, 65), Options{}, "item count 65")
	f("count negative", writeAt(offIndexCount, 0xff, 0xff, 0xff, 0xff), Options{}, "item count -1")
	f("offset negative", writeAt(offEndPhyOffset, 0xff), Options{}, "negative")

	// A file that is not the newest must be whole, even if empty.
	t.Run("torn but not newest", func(t *testing.T) {
		dir, path := build(t)
		os.Truncate(path, 0)
		os.WriteFile(filepath.Join(dir, "29990101000000000"), make([]byte, fileSize(tinySlots, tinyItems)), 0o644)
		x, err := Open(Options{Dir: dir, HashSlots: tinySlots, MaxItems: tinyItems})
		if err == nil {
			x.Close()
		}
		if err == nil || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Fatalf("Open: %v, want an error naming %s", err, filepath.Base(path))
		}
	})

	// A crash while Put creates a file leaves it short and zero: the newest
	// such file is dropped.
	t.Run("torn newest", func(t *testing.T) {
		dir, path := build(t)
		torn := filepath.Join(dir, "29990101000000000")
		os.WriteFile(torn, make([]byte, 10), 0o644)
		x := openIndex(t, dir, tinySlots, tinyItems)
		if x.Files() != 1 {
			t.Fatalf("Files() = %d, want 1", x.Files())
		}
		if _, err := os.Stat(torn); !os.IsNotExist(err) {
			t.Fatalf("torn file still there: %v", err)
		}
		if got := x.Lookup("T", "3", 0, 0, 10, nil); !slices.Equal(got, []int64{3}) {
			t.Fatalf("Lookup = %v, want [3]", got)
		}
		x.Close()
		os.Truncate(path, 0)
		x = openIndex(t, dir, tinySlots, tinyItems)
		if x.Files() != 0 {
			t.Fatalf("Files() = %d, want 0", x.Files())
		}
	})

	// A zero count is Java's never-written file: empty, not corrupt.
	dir, path := build(t)
	writeAt(offIndexCount, 0, 0, 0, 0)(path)
	x := openIndex(t, dir, tinySlots, tinyItems)
	if got := x.Lookup("T", "1", 0, 0, 10, nil); len(got) != 0 {
		t.Fatalf("Lookup in an empty file = %v", got)
	}
	if err := x.Put([]byte("T"), []byte("1"), 5, baseTs); err != nil {
		t.Fatal(err)
	}
	if got := x.Lookup("T", "1", 0, 0, 10, nil); !slices.Equal(got, []int64{5}) {
		t.Fatalf("Lookup = %v, want [5]", got)
	}
}

// withDeadline fails the test if fn does not return in time: a corrupt
// file must not make Lookup or Put loop.
func withDeadline(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish in %v", d)
	}
}

// TestCorruptFiles fills the slot table and items with garbage, keeping the
// headers valid so Open accepts the files, and checks that Lookup and Put
// neither panic nor hang.
func TestCorruptFiles(t *testing.T) {
	src := t.TempDir()
	x := openIndex(t, src, tinySlots, tinyItems)
	for i := range 300 {
		x.Put([]byte("T"), []byte(fmt.Sprint(i%20)), int64(i), baseTs+int64(i)*1000)
	}
	x.Close()
	entries, _ := os.ReadDir(src)

	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			switch seed % 4 {
			case 0: // everything after the header
				for i := headerSize; i < len(b); i++ {
					b[i] = byte(rng.Uint32())
				}
			case 1: // a few bytes
				for range 20 {
					b[headerSize+rng.IntN(len(b)-headerSize)] = byte(rng.Uint32())
				}
			case 2: // small numbers, which look like item numbers
				for i := headerSize; i+4 <= len(b); i += 4 {
					be.PutUint32(b[i:], uint32(rng.IntN(tinyItems+2)-1))
				}
			case 3: // every link points at itself or forward
				for n := 1; n < tinyItems; n++ {
					be.PutUint32(b[headerSize+tinySlots*slotSize+n*itemSize+itemPrevIndex:], uint32(n+rng.IntN(3)))
				}
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		withDeadline(t, 10*time.Second, func() {
			x, err := Open(Options{Dir: dir, HashSlots: tinySlots, MaxItems: tinyItems})
			if err != nil {
				t.Errorf("seed %d: %v", seed, err)
				return
			}
			defer x.Close()
			exercise(x, rng)
		})
	}
}

// exercise runs lookups for random hashes and ranges, puts, and looks up
// again; on a corrupt index it must only return.
func exercise(x *Index, rng *rand.Rand) {
	look := func() {
		for range 50 {
			var begin, end int64
			if rng.IntN(2) == 0 {
				begin = baseTs + rng.Int64N(400_000) - 50_000
				end = begin + rng.Int64N(200_000)
			}
			x.lookupHash(int32(rng.Uint32()>>1), begin, end, 1+rng.IntN(100), nil)
			x.Lookup("T", fmt.Sprint(rng.IntN(20)), begin, end, 1+rng.IntN(100), nil)
		}
		// Every hash stored in an item, so matching paths run too.
		for _, f := range x.files {
			for n := int32(1); n < f.maxItems; n++ {
				h := int32(be.Uint32(f.data[f.itemsOff+int(n)*itemSize:]))
				x.lookupHash(h, 0, 0, 1000, nil)
			}
		}
	}
	look()
	for i := range 100 {
		x.Put([]byte("T"), []byte(fmt.Sprint(i%20)), int64(i), baseTs+int64(i)*1000)
	}
	look()
}

func TestLoopingChain(t *testing.T) {
	dir := t.TempDir()
	x := openIndex(t, dir, 1, tinyItems)
	for i := range 10 {
		x.Put([]byte("T"), []byte("k"), int64(i), baseTs)
	}
	path := x.files[0].m.Path()
	x.Close()
	b, _ := os.ReadFile(path)
	item := func(n int) []byte { return b[headerSize+slotSize+n*itemSize:] }
	be.PutUint32(item(7)[itemPrevIndex:], 9) // 10 → 9 → 8 → 7 → 9 → ...
	os.WriteFile(path, b, 0o644)

	x = openIndex(t, dir, 1, tinyItems)
	var got []int64
	withDeadline(t, 5*time.Second, func() { got = x.Lookup("T", "k", 0, 0, 1000, nil) })
	if want := []int64{9, 8, 7, 6}; !slices.Equal(got, want) {
		t.Fatalf("Lookup = %v, want %v (the walk ends at the forward link)", got, want)
	}
}

func TestPutAllocs(t *testing.T) {
	x := openIndex(t, t.TempDir(), 1024, 1<<14)
	topic, key := []byte("TopicTest"), []byte("ORDER_0123456789")
	off := int64(0)
	put := func() {
		if err := x.Put(topic, key, off, baseTs+off); err != nil {
			t.Fatal(err)
		}
		off++
	}
	put() // creates the file
	if n := testing.AllocsPerRun(1000, put); n != 0 {
		t.Fatalf("Put allocates %v times, want 0", n)
	}
	dst := make([]int64, 0, 16)
	if n := testing.AllocsPerRun(100, func() { x.Lookup("TopicTest", "ORDER_0123456789", 0, 0, 16, dst[:0]) }); n != 0 {
		t.Fatalf("Lookup allocates %v times, want 0", n)
	}
}

// TestFault truncates a file behind the index's back, so that touching its
// mapping raises SIGBUS, as a store into a sparse file on a full disk would.
func TestFault(t *testing.T) {
	x := openIndex(t, t.TempDir(), tinySlots, tinyItems)
	for i := range 10 {
		x.Put([]byte("T"), []byte("k"), int64(i), baseTs)
	}
	if err := os.Truncate(x.files[0].m.Path(), 0); err != nil {
		t.Fatal(err)
	}
	if got := x.Lookup("T", "k", 0, 0, 100, nil); len(got) != 0 {
		t.Fatalf("Lookup of a truncated file = %v", got)
	}
	err := x.Put([]byte("T"), []byte("k"), 10, baseTs)
	if err == nil || !strings.Contains(err.Error(), "cannot store") {
		t.Fatalf("Put into a truncated file: %v", err)
	}
	if err2 := x.Put([]byte("T"), []byte("k"), 11, baseTs); err2 != err {
		t.Fatalf("second Put: %v, want the sticky %v", err2, err)
	}
	if err2 := x.Flush(); err2 != err {
		t.Fatalf("Flush: %v, want the sticky %v", err2, err)
	}
	if x.EndPhyOffset() != 9 {
		t.Fatalf("EndPhyOffset() = %d, want 9", x.EndPhyOffset())
	}
	x.Close()
}

func TestClosed(t *testing.T) {
	x := openIndex(t, t.TempDir(), tinySlots, tinyItems)
	x.Put([]byte("T"), []byte("k"), 1, baseTs)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := x.Put([]byte("T"), []byte("k"), 2, baseTs); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := x.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if _, err := x.DeleteFilesBefore(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("DeleteFilesBefore after Close: %v", err)
	}
	if got := x.Lookup("T", "k", 0, 0, 10, nil); got != nil {
		t.Fatalf("Lookup after Close = %v", got)
	}
	if x.Files() != 0 {
		t.Fatalf("Files() after Close = %d", x.Files())
	}
}

// TestConcurrent runs the dispatcher's Puts against lookups, flushes and
// retention. Each key k indexes only offsets ≡ k (mod keys), so a lookup
// that sees a torn chain shows up as a wrong offset.
func TestConcurrent(t *testing.T) {
	x := openIndex(t, t.TempDir(), tinySlots, tinyItems)
	const keys = 50
	seen := map[int32]bool{}
	for k := range keys {
		h := keyHash([]byte("T"), []byte(fmt.Sprint(k)))
		if seen[h] {
			t.Fatalf("keys share a hash")
		}
		seen[h] = true
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	deadline := time.Now().Add(3 * time.Second)

	wg.Add(1)
	go func() { // the dispatcher
		defer wg.Done()
		defer done.Store(true)
		for i := int64(0); i < 20000 && time.Now().Before(deadline); i++ {
			if err := x.Put([]byte("T"), []byte(fmt.Sprint(i%keys)), i, baseTs+i*100); err != nil {
				errs <- err
				return
			}
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			var dst []int64
			for !done.Load() {
				k := rng.Int64N(keys)
				var begin, end int64
				if rng.IntN(2) == 0 {
					begin = baseTs + rng.Int64N(2_000_000)
					end = begin + rng.Int64N(100_000)
				}
				dst = x.Lookup("T", fmt.Sprint(k), begin, end, 64, dst[:0])
				for i, off := range dst {
					if off%keys != k || (i > 0 && off >= dst[i-1]) {
						errs <- fmt.Errorf("Lookup(%d) = %v", k, dst)
						return
					}
				}
				_ = x.EndPhyOffset() + int64(x.Files())
			}
		}()
	}
	wg.Add(1)
	go func() { // flusher and retention
		defer wg.Done()
		for !done.Load() {
			if err := x.Flush(); err != nil {
				errs <- err
				return
			}
			if _, err := x.DeleteFilesBefore(x.EndPhyOffset() - 2000); err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	withDeadline(t, 30*time.Second, wg.Wait)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkPut(b *testing.B) {
	for _, g := range []struct{ slots, items int }{
		{DefaultHashSlots, DefaultMaxItems},
		{1 << 16, 1 << 18}, // rolls every 262 143 puts
	} {
		b.Run(fmt.Sprintf("slots=%d/items=%d", g.slots, g.items), func(b *testing.B) {
			x := openIndex(b, b.TempDir(), g.slots, g.items)
			keys := make([][]byte, 4096)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "ORDER_%016x", i*7919)
			}
			topic := []byte("TopicTest")
			b.SetBytes(itemSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := x.Put(topic, keys[i%len(keys)], int64(i)*200, baseTs+int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	x := openIndex(b, b.TempDir(), 1<<16, 1<<20)
	const keys = 1 << 17
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprint("ORDER_", i)
	}
	for i := range 1 << 19 { // four items per key, chains of about eight
		x.Put([]byte("TopicTest"), []byte(names[i%keys]), int64(i)*200, baseTs+int64(i))
	}
	dst := make([]int64, 0, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		dst = x.Lookup("TopicTest", names[i%keys], 0, 0, 32, dst[:0])
	}
}
