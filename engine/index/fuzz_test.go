package index

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz geometry: smaller than the tests' so inputs are short, because Go's
// minimizer tries O(n²) cuts of every new input.
const (
	fuzzSlots = 4
	fuzzItems = 16
)

// FuzzLookup takes its input as the whole content of one index file of the
// fuzz geometry, opens it and runs lookups and puts on it: whatever the bytes,
// Open must fail with an error naming the file or succeed, and nothing may
// panic or hang. An input of the wrong length or with a header Open refuses
// is then also tried repaired (padded or cut to size, header count and
// offsets forced into range), so the slot table and items are fuzzed even
// when the header is not.
func FuzzLookup(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	capMinimizeTime()
	dir := fuzzDir(f) // one per fuzzing process; inputs run one at a time
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, dir, data) })
}

func fuzzOne(t testing.TB, dir string, data []byte) {
	const name = "20240101000000000"
	// Coverage must depend on the input alone, or the fuzzer keeps
	// minimizing inputs whose new coverage it cannot reproduce: so no
	// leftovers from the last input and no wall clock.
	try := func(content []byte) error {
		defer func() {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}()
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := Open(Options{Dir: dir, HashSlots: fuzzSlots, MaxItems: fuzzItems})
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("Open: %v does not name the file", err)
			}
			return err
		}
		defer closeNoSync(x)
		x.now = func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC) }
		fuzzExercise(t, x)
		return nil
	}
	err := try(data)
	fixed := repairFile(data)
	if err == nil && bytes.Equal(fixed, data) {
		return
	}
	if err := try(fixed); err != nil {
		t.Fatalf("Open of a repaired file: %v", err)
	}
}

// capMinimizeTime lowers -fuzzminimizetime to 3s unless it was given. Go's
// minimizer tries O(n²) cuts of every input that finds new coverage, and
// here each try is a file written, opened, mapped and removed, so with the
// 60 s default a 30 s run does little but minimize.
func capMinimizeTime() {
	const name = "test.fuzzminimizetime"
	given := false
	flag.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
	if fl := flag.Lookup(name); fl != nil && !given {
		fl.Value.Set("3s")
	}
}

// fuzzDir is a directory for the fuzz target's file, in memory where
// possible: each input creates, maps and removes files, which on a busy disk
// costs more than the lookups.
func fuzzDir(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "gannet-index-fuzz")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// closeNoSync closes x without syncing: durability is not under test here,
// and an fdatasync per input slows fuzzing a hundredfold.
func closeNoSync(x *Index) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	x.closeFilesLocked()
}

// fuzzExercise looks up the hash of every item of the file, over all time
// and around the item's own time, then puts a few keys, each of which must
// then be the first answer for its key.
func fuzzExercise(t testing.TB, x *Index) {
	ts := int64(baseTs)
	for _, f := range x.files {
		ts = f.endTimestamp
		for n := int32(1); n < f.count; n++ {
			it := f.data[f.itemsOff+int(n)*itemSize:]
			hash := int32(be.Uint32(it[itemKeyHash:]))
			at := f.beginTimestamp + int64(int32(be.Uint32(it[itemTimeDiff:])))*1000
			checkLookup(t, x.lookupHash(hash, 0, 0, 1000, nil), 1000)
			checkLookup(t, x.lookupHash(hash, at-2000, at+2000, 2, nil), 2)
		}
	}
	for i, key := range [][]byte{[]byte("a"), []byte("b"), []byte("ORDER_1")} {
		phy := int64(1)<<40 + int64(i)
		if err := x.Put([]byte("T"), key, phy, ts+1000); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := x.Lookup("T", string(key), 0, 0, 1, nil); len(got) != 1 || got[0] != phy {
			t.Fatalf("Lookup of the key just put = %v, want [%d]", got, phy)
		}
	}
}

// checkLookup checks what any answer must satisfy: at most max offsets, each
// once.
func checkLookup(t testing.TB, got []int64, max int) {
	if len(got) > max {
		t.Fatalf("lookup returned %d offsets, max %d", len(got), max)
	}
	for i, off := range got {
		if slices.Contains(got[:i], off) {
			t.Fatalf("lookup returned %d twice: %v", off, got)
		}
	}
}

// repairFile sizes data to the tiny geometry and forces the header into what
// Open accepts.
func repairFile(data []byte) []byte {
	b := make([]byte, fileSize(fuzzSlots, fuzzItems))
	copy(b, data)
	be.PutUint32(b[offIndexCount:], be.Uint32(b[offIndexCount:])%(fuzzItems+1))
	for _, off := range []int{offBeginPhyOffset, offEndPhyOffset} {
		be.PutUint64(b[off:], be.Uint64(b[off:])&^(1<<63))
	}
	return b
}

// fuzzSeeds are index files written by Put (with collision chains, a full
// file, time gaps), and damaged copies: a looping chain, garbage after the
// header, a short file.
func fuzzSeeds(tb testing.TB) [][]byte {
	build := func(puts, keys int, step int64) []byte {
		dir, err := os.MkdirTemp("", "fuzzseed")
		if err != nil {
			tb.Fatal(err)
		}
		defer os.RemoveAll(dir)
		x, err := Open(Options{Dir: dir, HashSlots: fuzzSlots, MaxItems: fuzzItems})
		if err != nil {
			tb.Fatal(err)
		}
		defer x.Close()
		for i := range puts {
			if err := x.Put([]byte("T"), []byte(fmt.Sprint(i%keys)), int64(i)*100, baseTs+int64(i)*step); err != nil {
				tb.Fatal(err)
			}
		}
		return bytes.Clone(x.files[0].data)
	}
	valid := build(9, 5, 1000)
	full := build(fuzzItems-1, 11, 1500)
	oneChain := build(12, 1, 60_000) // one key: one long chain

	loop := bytes.Clone(full)
	for n := 1; n < fuzzItems; n += 3 {
		be.PutUint32(loop[headerSize+fuzzSlots*slotSize+n*itemSize+itemPrevIndex:], uint32(n))
	}
	garbage := bytes.Clone(valid)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := headerSize; i < len(garbage); i++ {
		garbage[i] = byte(rng.Uint32())
	}
	return [][]byte{valid, full, oneChain, loop, garbage, valid[:100], nil}
}
