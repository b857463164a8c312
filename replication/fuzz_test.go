package replication

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine"
)

// FuzzEpochFile: any epoch file content opens cleanly or fails with an
// error; a list that opens is ordered.
func FuzzEpochFile(f *testing.F) {
	f.Add([]byte(`[{"epoch":1,"startOffset":0},{"epoch":3,"startOffset":700}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "epoch.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ef, err := OpenEpochFile(path)
		if err != nil {
			return
		}
		e := ef.Entries()
		for i := 1; i < len(e); i++ {
			if e[i].Epoch <= e[i-1].Epoch || e[i].StartOffset < e[i-1].StartOffset {
				t.Fatalf("accepted an unordered list: %v", e)
			}
		}
		ConsistentPoint(e, 1<<20, e, 1<<20)
	})
}

// FuzzSlaveFrames feeds arbitrary bytes to a slave as its master's stream:
// the slave ends the session with an error or stores only whole, valid
// records continuing its log; it never panics.
func FuzzSlaveFrames(f *testing.F) {
	hdr := func(off int64, n int) []byte {
		b := make([]byte, headerSize)
		binary.BigEndian.PutUint64(b[0:8], uint64(off))
		binary.BigEndian.PutUint32(b[8:12], uint32(n))
		return b
	}
	f.Add(hdr(0, 0))
	f.Add(append(hdr(0, 8), 0, 0, 0, 8, 1, 2, 3, 4))
	f.Add(append(hdr(-1, 5), "nope!"...))
	f.Add(append(hdr(4096, 3), 1, 2, 3))
	f.Fuzz(func(t *testing.T, stream []byte) {
		o := testOptions(t.TempDir(), engine.AsyncFlush)
		store, err := engine.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		slaveSide, masterSide := net.Pipe()
		go func() {
			go io.Copy(io.Discard, masterSide) // the slave's offset reports
			masterSide.Write(stream)
			masterSide.Close()
		}()
		s := NewSlave(store, "", SlaveOptions{MaxFrame: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.session(ctx, slaveSide)
		if end := store.MaxPhysicalOffset(); end != 0 && end < store.CommitLog().MinOffset() {
			t.Fatalf("log end %d below its start", end)
		}
	})
}
