package consumequeue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// unitAt is the unit the tests store at queue offset off: monotonic in
// PhysicalOffset, message k ends at (k+1)*100.
func unitAt(off int64) Unit {
	return Unit{PhysicalOffset: off * 100, Size: 100, TagsCode: off*31 ^ 0x5a5a}
}

func openQueue(t testing.TB, dir string, upf int) *Queue {
	t.Helper()
	q, err := OpenQueue(dir, upf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// fill puts unitAt(off) for off in [from, to).
func fill(t testing.TB, q *Queue, from, to int64) {
	t.Helper()
	for off := from; off < to; off++ {
		if err := q.Put(off, unitAt(off)); err != nil {
			t.Fatalf("put %d: %v", off, err)
		}
	}
}

// checkUnits reads [from, to) in small batches and compares with unitAt,
// except for the offsets in holes, which must be empty.
func checkUnits(t testing.TB, q *Queue, from, to int64, holes ...int64) {
	t.Helper()
	var buf [7]Unit
	for off := from; off < to; {
		got, err := q.Get(off, buf[:0])
		if err != nil {
			t.Fatalf("get %d: %v", off, err)
		}
		if len(got) == 0 {
			t.Fatalf("get %d: no units below max offset %d", off, q.MaxOffset())
		}
		for _, u := range got {
			want := unitAt(off)
			if slices.Contains(holes, off) {
				want = Unit{}
			}
			if u != want {
				t.Fatalf("unit %d = %+v, want %+v", off, u, want)
			}
			off++
		}
	}
	if got, err := q.Get(to, buf[:0]); err != nil || len(got) != 0 {
		t.Fatalf("get at max offset %d = %v, %v; want nothing", to, got, err)
	}
}

func checkBounds(t testing.TB, q *Queue, minOff, maxOff int64) {
	t.Helper()
	if q.MinOffset() != minOff || q.MaxOffset() != maxOff {
		t.Fatalf("offsets [%d, %d), want [%d, %d)", q.MinOffset(), q.MaxOffset(), minOff, maxOff)
	}
}

func fileNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestUnitCodec(t *testing.T) {
	f := func(u Unit, hex string) {
		t.Helper()
		var b [UnitSize]byte
		EncodeUnit(b[:], u)
		if got := fmt.Sprintf("%x", b); got != hex {
			t.Fatalf("encode %+v = %s, want %s", u, got, hex)
		}
		back, err := DecodeUnit(b[:])
		if err != nil || back != u {
			t.Fatalf("decode = %+v, %v; want %+v", back, err, u)
		}
	}
	f(Unit{}, "0000000000000000000000000000000000000000")
	f(Unit{PhysicalOffset: 0x0102030405060708, Size: 0x0a0b0c0d, TagsCode: -1},
		"01020304050607080a0b0c0dffffffffffffffff")
	f(Unit{PhysicalOffset: math.MaxInt64, Size: math.MinInt32, TagsCode: math.MinInt64},
		"7fffffffffffffff800000008000000000000000")
	if _, err := DecodeUnit(make([]byte, UnitSize-1)); !errors.Is(err, ErrShortUnit) {
		t.Fatalf("decode of 19 bytes: %v, want ErrShortUnit", err)
	}
}

func TestUnitEnd(t *testing.T) {
	f := func(u Unit, want int64) {
		t.Helper()
		if got := u.End(); got != want {
			t.Fatalf("end of %+v = %d, want %d", u, got, want)
		}
	}
	f(Unit{PhysicalOffset: 100, Size: 20}, 120)
	f(Unit{PhysicalOffset: math.MaxInt64 - 1, Size: 5}, math.MaxInt64)
	f(Unit{PhysicalOffset: math.MinInt64 + 1, Size: -5}, math.MinInt64)
}

func TestPutGetReopen(t *testing.T) {
	for _, upf := range []int{1, 3, 10} {
		for _, n := range []int64{0, 1, 9, 10, 11, 35} {
			t.Run(fmt.Sprintf("upf=%d/units=%d", upf, n), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "TopicA", "0")
				q := openQueue(t, dir, upf)
				fill(t, q, 0, n)
				checkBounds(t, q, 0, n)
				checkUnits(t, q, 0, n)
				if err := q.Flush(); err != nil {
					t.Fatal(err)
				}
				wantFiles := int((n + int64(upf) - 1) / int64(upf))
				names := fileNames(t, dir)
				if len(names) != wantFiles {
					t.Fatalf("%d files %v, want %d", len(names), names, wantFiles)
				}
				for i, name := range names {
					if want := fmt.Sprintf("%020d", int64(i*upf*UnitSize)); name != want {
						t.Fatalf("file %d named %s, want %s", i, name, want)
					}
				}
				if err := q.Close(); err != nil {
					t.Fatal(err)
				}

				q = openQueue(t, dir, upf)
				checkBounds(t, q, 0, n)
				checkUnits(t, q, 0, n)
				u, ok := q.LastUnit()
				if ok != (n > 0) || (ok && u != unitAt(n-1)) {
					t.Fatalf("last unit = %+v, %v", u, ok)
				}
				fill(t, q, n, n+5) // appends after reopen
				checkUnits(t, q, 0, n+5)
			})
		}
	}
}

// TestReopenHoles zeroes units by hand, as a crash that lost some pages
// would, and checks what reopening finds.
func TestReopenHoles(t *testing.T) {
	f := func(holes []int64, wantMin, wantMax int64) {
		t.Helper()
		dir := t.TempDir()
		q := openQueue(t, dir, 10)
		fill(t, q, 0, 26)
		q.Close()
		for _, off := range holes {
			name := filepath.Join(dir, fmt.Sprintf("%020d", off/10*10*UnitSize))
			fd, err := os.OpenFile(name, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fd.WriteAt(make([]byte, UnitSize), off%10*UnitSize); err != nil {
				t.Fatal(err)
			}
			fd.Close()
		}
		q = openQueue(t, dir, 10)
		checkBounds(t, q, wantMin, wantMax)
		var inside []int64
		for _, h := range holes {
			if h >= wantMin && h < wantMax {
				inside = append(inside, h)
			}
		}
		checkUnits(t, q, wantMin, wantMax, inside...)
		// The dispatcher's replay repairs holes and continues.
		fill(t, q, wantMin, 30)
		checkUnits(t, q, wantMin, 30)
	}
	f([]int64{13}, 0, 26)
	f([]int64{13, 19, 20}, 0, 26)
	f([]int64{25}, 0, 25)
	f([]int64{24, 25}, 0, 24)
	f([]int64{20, 21, 22, 23, 24, 25}, 0, 20) // the last file is all zero
	f([]int64{0, 1}, 2, 26)
}

func TestTruncatePhysical(t *testing.T) {
	// 35 units in files of 10: [0,10) [10,20) [20,30) [30,35); unit k
	// covers [k*100, (k+1)*100).
	f := func(end, wantMax int64, wantFiles int) {
		t.Helper()
		dir := t.TempDir()
		q := openQueue(t, dir, 10)
		fill(t, q, 0, 35)
		if err := q.TruncatePhysical(end); err != nil {
			t.Fatal(err)
		}
		checkBounds(t, q, 0, wantMax)
		checkUnits(t, q, 0, wantMax)
		if names := fileNames(t, dir); len(names) != wantFiles {
			t.Fatalf("end %d: files %v, want %d", end, names, wantFiles)
		}
		q.Close()
		q = openQueue(t, dir, 10)
		checkBounds(t, q, 0, wantMax)
		fill(t, q, wantMax, 37)
		checkUnits(t, q, 0, 37)
	}
	f(3500, 35, 4)  // nothing past the end
	f(1<<40, 35, 4) // nothing past the end
	f(3450, 34, 4)  // mid-message: unit 34 ends at 3500
	f(3400, 34, 4)
	f(3000, 30, 3) // on a file boundary: the last file goes
	f(2999, 29, 3)
	f(2500, 25, 3) // mid-file
	f(1000, 10, 1)
	f(0, 0, 1) // everything, but the first file stays
	f(-1, 0, 1)
}

func TestTruncateBelowMin(t *testing.T) {
	q := openQueue(t, t.TempDir(), 10)
	fill(t, q, 0, 35)
	if _, err := q.DeleteFilesBefore(2550); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, q, 26, 35)
	if err := q.TruncatePhysical(1000); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, q, 26, 26) // empty at MinOffset, never below it
	fill(t, q, 26, 30)
	checkUnits(t, q, 26, 30)
}

// TestTruncateMinPastFirstFile is what FuzzOpenQueue found: leading holes
// put MinOffset in the second file, and truncating everything must keep the
// file that MaxOffset = MinOffset points into.
func TestTruncateMinPastFirstFile(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 10)
	fill(t, q, 0, 25)
	q.Close()
	for _, name := range []string{"00000000000000000000", "00000000000000000200"} {
		zeros := make([]byte, 10*UnitSize)
		if name != "00000000000000000000" {
			zeros = zeros[:5*UnitSize] // units 10..14
		}
		fd, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fd.WriteAt(zeros, 0)
		fd.Close()
	}
	q = openQueue(t, dir, 10)
	checkBounds(t, q, 15, 25)
	if err := q.TruncatePhysical(0); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, q, 15, 15)
	if names := fileNames(t, dir); len(names) != 2 {
		t.Fatalf("files %v, want the two below MinOffset", names)
	}
	fill(t, q, 15, 22)
	checkUnits(t, q, 15, 22)
}

func TestDeleteFilesBefore(t *testing.T) {
	f := func(minPhysical int64, wantRemoved int, wantMin int64) {
		t.Helper()
		dir := t.TempDir()
		q := openQueue(t, dir, 10)
		fill(t, q, 0, 35)
		n, err := q.DeleteFilesBefore(minPhysical)
		if err != nil || n != wantRemoved {
			t.Fatalf("delete before %d = %d, %v; want %d", minPhysical, n, err, wantRemoved)
		}
		if names := fileNames(t, dir); len(names) != 4-wantRemoved || names[0] != fmt.Sprintf("%020d", wantRemoved*10*UnitSize) {
			t.Fatalf("files %v after removing %d", names, wantRemoved)
		}
		checkBounds(t, q, wantMin, 35)
		checkUnits(t, q, wantMin, 35)
		if wantMin > 0 {
			if _, err := q.Get(wantMin-1, make([]Unit, 0, 4)); !errors.Is(err, ErrBelowMin) {
				t.Fatalf("get below min: %v, want ErrBelowMin", err)
			}
			if _, ok := q.Unit(wantMin - 1); ok {
				t.Fatal("unit below min found")
			}
		}
		// Retention only moves forward.
		if _, err := q.DeleteFilesBefore(0); err != nil || q.MinOffset() != wantMin {
			t.Fatalf("min offset moved back to %d (%v)", q.MinOffset(), err)
		}
		if wantRemoved > 0 {
			if err := q.Put(0, unitAt(0)); !errors.Is(err, ErrBelowMin) {
				t.Fatalf("put into a deleted file: %v, want ErrBelowMin", err)
			}
		}
		fill(t, q, 35, 40)
		checkUnits(t, q, wantMin, 40)
	}
	f(0, 0, 0)
	f(950, 0, 10) // file 0 still ends past 950; no later unit of file 0 starts at 950
	f(1000, 1, 10)
	f(2550, 2, 26)
	f(3400, 3, 34)
	f(1<<40, 3, 35) // never the last file
}

func TestPutErrors(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 10)
	if err := q.Put(1, unitAt(1)); err != nil { // an empty queue starts anywhere
		t.Fatal(err)
	}
	checkBounds(t, q, 1, 2)
	if err := q.Put(3, unitAt(3)); !errors.Is(err, ErrGap) {
		t.Fatalf("put past max: %v, want ErrGap", err)
	}
	for _, u := range []Unit{{PhysicalOffset: 1}, {PhysicalOffset: 1, Size: -1}} {
		if err := q.Put(2, u); err == nil {
			t.Fatalf("put of %+v succeeded", u)
		}
	}
	for _, off := range []int64{-1, math.MinInt64, math.MaxInt64} {
		if err := q.Put(off, unitAt(0)); err == nil {
			t.Fatalf("put at %d succeeded", off)
		}
	}
	checkBounds(t, q, 1, 2)
}

func TestPutEmptyQueueHighOffset(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 10)
	fill(t, q, 12345, 12360)
	checkBounds(t, q, 12345, 12360)
	checkUnits(t, q, 12345, 12360)
	if _, err := q.Get(12344, make([]Unit, 0, 1)); !errors.Is(err, ErrBelowMin) {
		t.Fatalf("get below the start: %v", err)
	}
	if names := fileNames(t, dir); !slices.Equal(names, []string{"00000000000000246800", "00000000000000247000"}) {
		t.Fatalf("files %v", names)
	}
	q.Close()
	q = openQueue(t, dir, 10)
	checkBounds(t, q, 12345, 12360) // the leading empty units are skipped
	checkUnits(t, q, 12345, 12360)
}

func TestOpenErrors(t *testing.T) {
	f := func(wantErr string, files map[string]int) {
		t.Helper()
		dir := t.TempDir()
		for name, size := range files {
			if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		q, err := OpenQueue(dir, 10)
		if wantErr == "" {
			if err != nil {
				t.Fatal(err)
			}
			q.Close()
			return
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("open: %v, want an error naming %s", err, wantErr)
		}
	}
	f("", map[string]int{"00000000000000000000": 200, "00000000000000000200": 200, "junk": 3, "0000000000000000000": 1, "00000000000000000200.tmp": 1})
	// A short newest file is a creation cut short by a crash: completed.
	f("", map[string]int{"00000000000000000000": 200, "00000000000000000200": 0})
	f("", map[string]int{"00000000000000000000": 200, "00000000000000000200": 199})
	// A short file before the newest is damage.
	f("00000000000000000000", map[string]int{"00000000000000000000": 199, "00000000000000000200": 200})
	f("00000000000000000000", map[string]int{"00000000000000000000": 201})
	f("00000000000000000100", map[string]int{"00000000000000000100": 200})
	f("00000000000000000400", map[string]int{"00000000000000000000": 200, "00000000000000000400": 200})
	f("99999999999999999999", map[string]int{"99999999999999999999": 200})
	f("92233720368547758000", map[string]int{"92233720368547758000": 200})
	f("09223372036854775800", map[string]int{"09223372036854775800": 200})
	if _, err := OpenQueue(t.TempDir(), maxUnitsPerFile+1); err == nil {
		t.Fatal("open with huge files succeeded")
	}
}

func TestClosed(t *testing.T) {
	q := openQueue(t, t.TempDir(), 10)
	fill(t, q, 0, 5)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(0, make([]Unit, 0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("get: %v", err)
	}
	if err := q.Put(5, unitAt(5)); !errors.Is(err, ErrClosed) {
		t.Fatalf("put: %v", err)
	}
	if _, err := q.DeleteFilesBefore(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("delete: %v", err)
	}
	if err := q.TruncatePhysical(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("truncate: %v", err)
	}
	if _, ok := q.Unit(1); ok {
		t.Fatal("unit of a closed queue")
	}
	if _, ok := q.LastUnit(); ok {
		t.Fatal("last unit of a closed queue")
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFlushDirty(t *testing.T) {
	q := openQueue(t, t.TempDir(), 10)
	fill(t, q, 0, 25)
	dirty := func() (n int) {
		for _, s := range q.mu.files {
			if s.dirty.Load() {
				n++
			}
		}
		return n
	}
	if dirty() != 3 || !q.dirDirty.Load() {
		t.Fatalf("%d dirty files, dir dirty %v", dirty(), q.dirDirty.Load())
	}
	if err := q.Flush(); err != nil {
		t.Fatal(err)
	}
	if dirty() != 0 || q.dirDirty.Load() {
		t.Fatal("dirty after flush")
	}
	fill(t, q, 25, 26)
	fill(t, q, 3, 4) // replay
	if dirty() != 2 {
		t.Fatalf("%d dirty files, want 2", dirty())
	}
}

func TestSearchOffset(t *testing.T) {
	q := openQueue(t, t.TempDir(), 10)
	fill(t, q, 0, 35)
	if _, err := q.DeleteFilesBefore(1000); err != nil {
		t.Fatal(err)
	}
	// Against the naive model: the first unit starting at or past phys.
	for _, phys := range []int64{-5, 0, 999, 1000, 1001, 2050, 3400, 3401, 9999} {
		for _, r := range [][2]int64{{0, 35}, {10, 35}, {12, 20}, {20, 40}} {
			got := q.SearchOffset(r[0], r[1], func(u Unit) bool { return u.PhysicalOffset >= phys })
			want := r[1]
			for off := max(r[0], q.MinOffset()); off < min(r[1], q.MaxOffset()); off++ {
				if unitAt(off).PhysicalOffset >= phys {
					want = off
					break
				}
			}
			if want == r[1] && r[1] > q.MaxOffset() {
				want = max(r[0], q.MaxOffset())
			}
			if got != want {
				t.Fatalf("search %d in %v = %d, want %d", phys, r, got, want)
			}
		}
	}
}

func TestSet(t *testing.T) {
	root := t.TempDir()
	s, err := OpenSet(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"TopicB", "TopicA", "%RETRY%g1"} {
		for id := int32(0); id < 3; id++ {
			q, err := s.GetOrCreate([]byte(topic), id)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, q, 0, int64(id)*7)
			if again, _ := s.GetOrCreate([]byte(topic), id); again != q {
				t.Fatal("second GetOrCreate made another queue")
			}
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", strings.Repeat("x", 256)} {
		if _, err := s.GetOrCreate([]byte(bad), 0); err == nil {
			t.Fatalf("topic %q accepted", bad)
		}
		if err := s.DeleteTopic(bad); err == nil {
			t.Fatalf("deleting topic %q accepted", bad)
		}
	}
	if _, err := s.GetOrCreate([]byte("T"), -1); err == nil {
		t.Fatal("negative queue id accepted")
	}
	if _, err := s.GetOrCreate([]byte(strings.Repeat("x", 255)), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(strings.Repeat("x", 255)); err != nil {
		t.Fatal(err)
	}
	// Stray entries under the root are ignored when reopening.
	os.WriteFile(filepath.Join(root, "TopicA", "notes"), nil, 0o644)
	os.Mkdir(filepath.Join(root, "TopicA", "07"), 0o755)
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.LookupString("TopicA", 0) != nil {
		t.Fatal("lookup after close")
	}

	s, err = OpenSet(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Topics(); !slices.Equal(got, []string{"%RETRY%g1", "TopicA", "TopicB"}) {
		t.Fatalf("topics %v", got)
	}
	var seen []string
	s.ForEach(func(topic string, id int32, q *Queue) bool {
		seen = append(seen, fmt.Sprintf("%s/%d=%d", topic, id, q.MaxOffset()))
		return topic != "TopicA" || id != 1
	})
	if want := "%RETRY%g1/0=0 %RETRY%g1/1=7 %RETRY%g1/2=14 TopicA/0=0 TopicA/1=7"; strings.Join(seen, " ") != want {
		t.Fatalf("for each saw %v, want %s", seen, want)
	}
	q := s.Lookup([]byte("TopicB"), 2)
	if q == nil || q != s.LookupString("TopicB", 2) || s.Lookup([]byte("TopicB"), 3) != nil || s.Lookup([]byte("TopicC"), 0) != nil {
		t.Fatal("lookup")
	}
	checkUnits(t, q, 0, 14)

	if err := s.DeleteTopic("TopicB"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(0, make([]Unit, 0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("get from a deleted topic: %v", err)
	}
	if s.Lookup([]byte("TopicB"), 2) != nil {
		t.Fatal("deleted topic found")
	}
	if _, err := os.Stat(filepath.Join(root, "TopicB")); !os.IsNotExist(err) {
		t.Fatalf("topic directory left: %v", err)
	}
	if err := s.DeleteTopic("TopicB"); err != nil { // absent is fine
		t.Fatal(err)
	}
	q, err = s.GetOrCreate([]byte("TopicB"), 2) // and it comes back empty
	if err != nil || q.MaxOffset() != 0 {
		t.Fatalf("recreated queue: %v", err)
	}
}

// TestConcurrent runs the writer, four readers and retention at once; run it
// with -race. Every unit a reader sees must be the one written there.
func TestConcurrent(t *testing.T) {
	const total = 100000
	const keep = 20000 // retention keeps about this many units
	q := openQueue(t, t.TempDir(), 1000)
	deadline := time.Now().Add(2 * time.Minute)
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, deletes atomic.Int64

	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer done.Store(true)
		for off := int64(0); off < total; off++ {
			if err := q.Put(off, unitAt(off)); err != nil {
				t.Errorf("put %d: %v", off, err)
				return
			}
			if off%5000 == 0 {
				if err := q.Flush(); err != nil {
					t.Errorf("flush: %v", err)
					return
				}
			}
		}
	}()
	wg.Add(1)
	go func() { // retention
		defer wg.Done()
		for !done.Load() && time.Now().Before(deadline) {
			n, err := q.DeleteFilesBefore((q.MaxOffset() - keep) * 100)
			if err != nil {
				t.Errorf("delete: %v", err)
				return
			}
			deletes.Add(int64(n))
			time.Sleep(time.Millisecond)
		}
	}()
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]Unit, 0, 16+r*16)
			off := int64(0)
			for !done.Load() && time.Now().Before(deadline) {
				got, err := q.Get(off, buf[:0])
				if errors.Is(err, ErrBelowMin) {
					off = q.MinOffset()
					continue
				}
				if err != nil {
					t.Errorf("get %d: %v", off, err)
					return
				}
				for i, u := range got {
					if u != unitAt(off+int64(i)) {
						t.Errorf("reader saw %+v at %d, want %+v", u, off+int64(i), unitAt(off+int64(i)))
						return
					}
				}
				if u, ok := q.Unit(off); ok && u != unitAt(off) {
					t.Errorf("unit %d = %+v", off, u)
					return
				}
				reads.Add(int64(len(got)))
				off += int64(len(got))
			}
		}()
	}
	wg.Wait()
	if time.Now().After(deadline) {
		t.Fatal("did not finish in time")
	}
	if q.MaxOffset() != total || deletes.Load() == 0 || reads.Load() == 0 {
		t.Fatalf("max offset %d, %d files deleted, %d units read", q.MaxOffset(), deletes.Load(), reads.Load())
	}
	checkUnits(t, q, q.MinOffset(), total)
}

func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters may allocate")
	}
	q := openQueue(t, t.TempDir(), 10000)
	fill(t, q, 0, 1000)
	off := int64(1000)
	if n := testing.AllocsPerRun(1000, func() {
		q.Put(off, unitAt(off))
		off++
	}); n != 0 {
		t.Errorf("put: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		q.Put(5, unitAt(5)) // replay
	}); n != 0 {
		t.Errorf("put in place: %v allocs", n)
	}
	buf := make([]Unit, 0, 32)
	if n := testing.AllocsPerRun(1000, func() {
		buf, _ = q.Get(100, buf[:0])
	}); n != 0 || len(buf) != 32 {
		t.Errorf("get: %v allocs, %d units", n, len(buf))
	}

	s, err := OpenSet(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetOrCreate([]byte("TopicTest"), 3); err != nil {
		t.Fatal(err)
	}
	topic := []byte("TopicTest")
	if n := testing.AllocsPerRun(1000, func() {
		if s.Lookup(topic, 3) == nil {
			panic("lookup")
		}
	}); n != 0 {
		t.Errorf("lookup: %v allocs", n)
	}
}

func BenchmarkPut(b *testing.B) {
	const upf = DefaultUnitsPerFile
	q := openQueue(b, b.TempDir(), upf)
	b.ReportAllocs()
	b.SetBytes(UnitSize)
	off := int64(0)
	for b.Loop() {
		if off == upf {
			// Reuse the one file rather than fill the disk.
			b.StopTimer()
			if err := q.TruncatePhysical(-1); err != nil {
				b.Fatal(err)
			}
			off = 0
			b.StartTimer()
		}
		if err := q.Put(off, unitAt(off)); err != nil {
			b.Fatal(err)
		}
		off++
	}
}

func BenchmarkGet(b *testing.B) {
	const units = 100000
	q := openQueue(b, b.TempDir(), DefaultUnitsPerFile)
	fill(b, q, 0, units)
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			buf := make([]Unit, 0, batch)
			b.ReportAllocs()
			b.SetBytes(int64(UnitSize * batch))
			off := int64(0)
			for b.Loop() {
				var err error
				if buf, err = q.Get(off, buf[:0]); err != nil || len(buf) != batch {
					b.Fatal(err)
				}
				if off += int64(batch); off+int64(batch) > units {
					off = 0
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	s, err := OpenSet(b.TempDir(), 10)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 100 {
		if _, err := s.GetOrCreate(fmt.Appendf(nil, "Topic%d", i), int32(i%8)); err != nil {
			b.Fatal(err)
		}
	}
	topic := []byte("Topic42")
	b.ReportAllocs()
	for b.Loop() {
		if s.Lookup(topic, 2) == nil {
			b.Fatal("lookup")
		}
	}
}

// fuzzUnitsPerFile keeps fuzzed files small: 8 units, 160 bytes.
const fuzzUnitsPerFile = 8

// exerciseQueue reads everything, truncates, retains, writes and reopens,
// checking the invariants that must hold whatever the files contain.
func exerciseQueue(t *testing.T, dir string, end int64) {
	// close, not Close: the fuzzer runs far faster without fdatasync, and
	// what the files hold on disk is the same.
	q, err := OpenQueue(dir, fuzzUnitsPerFile)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer q.close()
	check := func(step string) {
		t.Helper()
		minOff, maxOff := q.MinOffset(), q.MaxOffset()
		if minOff > maxOff || minOff < 0 {
			t.Fatalf("%s: offsets [%d, %d)", step, minOff, maxOff)
		}
		buf := make([]Unit, 0, 3)
		n := int64(0)
		for off := minOff; off < maxOff; {
			got, err := q.Get(off, buf[:0])
			if err != nil || len(got) == 0 {
				t.Fatalf("%s: get %d of [%d, %d): %d units, %v", step, off, minOff, maxOff, len(got), err)
			}
			for i, u := range got {
				if v, ok := q.Unit(off + int64(i)); !ok || v != u {
					t.Fatalf("%s: unit %d = %+v, %v; get said %+v", step, off+int64(i), v, ok, u)
				}
			}
			off += int64(len(got))
			n += int64(len(got))
		}
		if n != maxOff-minOff {
			t.Fatalf("%s: read %d units of [%d, %d)", step, n, minOff, maxOff)
		}
		q.LastUnit()
		q.SearchOffset(minOff, maxOff+1, func(u Unit) bool { return u.PhysicalOffset >= end })
	}
	check("open")
	if err := q.TruncatePhysical(end); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	check("truncate")
	if u, ok := q.LastUnit(); ok && !u.Empty() && u.End() > end {
		t.Fatalf("last unit %+v ends past %d after truncation", u, end)
	}
	if _, err := q.DeleteFilesBefore(end / 2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	check("delete")
	maxOff := q.MaxOffset()
	if err := q.Put(maxOff, Unit{PhysicalOffset: max(end, 0), Size: 1}); err != nil {
		t.Fatalf("put at %d: %v", maxOff, err)
	}
	check("put")
	if err := q.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	q, err = OpenQueue(dir, fuzzUnitsPerFile)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer q.close()
	if q.MaxOffset() != maxOff+1 {
		t.Fatalf("reopened with max offset %d, want %d", q.MaxOffset(), maxOff+1)
	}
	check("reopen")
}

func FuzzOpenQueue(f *testing.F) {
	const size = fuzzUnitsPerFile * UnitSize
	unit := func(phys int64, sz int32, tags int64) []byte {
		b := make([]byte, UnitSize)
		EncodeUnit(b, Unit{phys, sz, tags})
		return b
	}
	f.Add([]byte{}, int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, size), int64(-1))
	f.Add(slices.Concat(unit(0, 100, 1), unit(100, 100, 2), unit(200, 100, 3)), int64(150))
	f.Add(slices.Concat(make([]byte, UnitSize), unit(100, 100, 2), make([]byte, UnitSize), unit(300, 100, 3)), int64(350))
	f.Add(slices.Concat(unit(math.MaxInt64, math.MaxInt32, 0), unit(math.MinInt64, -1, 0)), int64(math.MaxInt64))
	f.Add(bytes.Repeat(unit(5, 1, 0), 2*fuzzUnitsPerFile+1), int64(5))
	f.Fuzz(func(t *testing.T, data []byte, end int64) {
		if len(data) > 2*size+UnitSize {
			t.Skip("only two files' worth of input is used") // keeps minimizing fast
		}
		root := t.TempDir()
		// One file of the right size, named by the input.
		dir := filepath.Join(root, "one")
		os.Mkdir(dir, 0o755)
		padded := make([]byte, size)
		copy(padded, data)
		name := fmt.Sprintf("%020d", int64(len(data)%3)*size)
		if err := os.WriteFile(filepath.Join(dir, name), padded, 0o644); err != nil {
			t.Fatal(err)
		}
		exerciseQueue(t, dir, end)

		// The input split across two files: a second file in the middle of
		// the stream.
		dir = filepath.Join(root, "two")
		os.Mkdir(dir, 0o755)
		second := make([]byte, size)
		if len(data) > size {
			copy(second, data[size:])
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d", 0)), padded, 0o644)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d", size)), second, 0o644)
		exerciseQueue(t, dir, end)

		// The input as is: a longer file must be refused by name; a
		// shorter one is the newest file's creation cut short, completed.
		dir = filepath.Join(root, "raw")
		os.Mkdir(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		q, err := OpenQueue(dir, fuzzUnitsPerFile)
		if len(data) <= size {
			if err != nil {
				t.Fatalf("open of a file of %d bytes: %v", len(data), err)
			}
			q.close()
		} else if err == nil || !strings.Contains(err.Error(), name) {
			if q != nil {
				q.close()
			}
			t.Fatalf("open of a file of %d bytes: %v", len(data), err)
		}
	})
}

func FuzzDecodeUnit(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, UnitSize-1))
	f.Add(make([]byte, UnitSize))
	f.Add(binary.BigEndian.AppendUint64(bytes.Repeat([]byte{0x80}, 12), math.MaxUint64))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := DecodeUnit(data)
		if len(data) < UnitSize {
			if !errors.Is(err, ErrShortUnit) {
				t.Fatalf("decode of %d bytes: %v", len(data), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var b [UnitSize]byte
		EncodeUnit(b[:], u)
		if !bytes.Equal(b[:], data[:UnitSize]) {
			t.Fatalf("round trip %x → %+v → %x", data[:UnitSize], u, b)
		}
		u.End()
	})
}
