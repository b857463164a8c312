package replication

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConsistentPoint(t *testing.T) {
	e := func(pairs ...int64) []Epoch {
		var out []Epoch
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, Epoch{Epoch: int32(pairs[i]), StartOffset: pairs[i+1]})
		}
		return out
	}
	cases := []struct {
		name               string
		local              []Epoch
		localEnd           int64
		remote             []Epoch
		remoteEnd, wantCut int64
	}{
		// The old master of epoch 1 wrote past what its slave had when
		// the slave became master of epoch 2 at 1000.
		{"old master ahead", e(1, 0), 1300, e(1, 0, 2, 1000), 2500, 1000},
		{"same epoch, local behind", e(1, 0, 2, 1000), 1500, e(1, 0, 2, 1000), 2500, 1500},
		{"same epoch, local ahead", e(1, 0, 2, 1000), 3000, e(1, 0, 2, 1000), 2500, 2500},
		{"diverged twice", e(1, 0, 2, 800, 4, 900), 1200, e(1, 0, 2, 800, 3, 850), 2000, 850},
		{"nothing shared", e(5, 100), 300, e(1, 0, 2, 50), 900, -1},
		{"empty local", nil, 0, e(1, 0), 100, -1},
	}
	for _, c := range cases {
		if got := ConsistentPoint(c.local, c.localEnd, c.remote, c.remoteEnd); got != c.wantCut {
			t.Errorf("%s: ConsistentPoint = %d, want %d", c.name, got, c.wantCut)
		}
	}
}

func TestEpochFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "epoch.json")
	f, err := OpenEpochFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Last() != (Epoch{}) {
		t.Fatal("new file not empty")
	}
	for _, step := range []Epoch{{1, 0}, {1, 50}, {3, 700}, {2, 800}} {
		if err := f.Append(step.Epoch, step.StartOffset); err != nil {
			t.Fatal(err)
		}
	}
	g, err := OpenEpochFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Entries(); len(got) != 2 || got[0] != (Epoch{1, 0}) || got[1] != (Epoch{3, 700}) {
		t.Fatalf("reloaded %v", got)
	}
	if err := os.WriteFile(path, []byte(`[{"epoch":3,"startOffset":0},{"epoch":2,"startOffset":5}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEpochFile(path); err == nil {
		t.Fatal("an epoch list going backwards was accepted")
	}
}
