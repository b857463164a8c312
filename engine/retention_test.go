package engine

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannetmq/gannet/engine/message"
)

// segmentFiles lists the log's segments, checking each is on disk.
func segmentFiles(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, seg := range s.CommitLog().Segments() {
		if _, err := os.Stat(seg.Path()); err != nil {
			t.Fatal(err)
		}
		out = append(out, seg.Path())
	}
	return out
}

func TestRetentionDeletesExpiredSegments(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, AsyncFlush)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 3, 0, 0, 0, time.Local).UnixNano())
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	o.FileReservedHours = 48
	o.DeleteWhen = "04"
	s := mustOpen(t, o)
	defer s.Close()
	appendN(t, s, "Old", 2, 1200) // several 64 KiB segments
	waitDispatched(t, s)
	time.Sleep(50 * time.Millisecond) // let a checkpoint flush
	before := len(segmentFiles(t, s))
	if before < 4 {
		t.Fatalf("only %d segments", before)
	}
	// Hold a read across the deletion: its views must stay intact.
	var held GetResult
	s.GetMessages(&GetRequest{Topic: "Old", QueueID: 0, MaxMessages: 5}, &held)
	if held.Status != GetFound {
		t.Fatal(held.Status)
	}
	want := bytes.Clone(held.Messages[0])

	// Young files stay, whatever the hour.
	now.Store(time.Now().Add(time.Hour).UnixNano())
	s.RunRetention()
	if got := len(segmentFiles(t, s)); got != before {
		t.Fatalf("young segments deleted: %d -> %d", before, got)
	}
	// Old files outside the deleteWhen hour stay.
	old := time.Now().Add(72 * time.Hour)
	now.Store(time.Date(old.Year(), old.Month(), old.Day(), 10, 0, 0, 0, time.Local).UnixNano())
	s.RunRetention()
	if got := len(segmentFiles(t, s)); got != before {
		t.Fatalf("segments deleted outside deleteWhen: %d -> %d", before, got)
	}
	// At 04:00 three days later every sealed segment goes.
	now.Store(time.Date(old.Year(), old.Month(), old.Day(), 4, 0, 0, 0, time.Local).UnixNano())
	s.RunRetention()
	after := len(segmentFiles(t, s))
	if after != 1 {
		t.Fatalf("%d segments after retention, want only the active one", after)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "commitlog", "0*")); len(left) > 2 {
		t.Fatalf("%d segment files on disk, want the active one and at most one prepared", len(left))
	}
	if !bytes.Equal(held.Messages[0], want) {
		t.Fatal("a held view changed when its segment was deleted")
	}
	held.Release()

	// Reads below the new minimum say so; ConsumeQueue files went too.
	minQ := s.MinOffset("Old", 0)
	if minQ == 0 {
		t.Fatal("queue min offset did not move")
	}
	var res GetResult
	s.GetMessages(&GetRequest{Topic: "Old", QueueID: 0, Offset: 0, MaxMessages: 5}, &res)
	if res.Status != GetOffsetTooSmall || res.NextOffset != minQ {
		t.Fatalf("read below min: %s next %d (min %d)", res.Status, res.NextOffset, minQ)
	}
	res.Release()
	s.GetMessages(&GetRequest{Topic: "Old", QueueID: 0, Offset: minQ, MaxMessages: 5}, &res)
	if res.Status != GetFound {
		t.Fatalf("read at min: %s", res.Status)
	}
	res.Release()
	cq, _ := filepath.Glob(filepath.Join(dir, "consumequeue", "Old", "0", "0*"))
	if live := (s.MaxOffset("Old", 0)-minQ)/int64(o.ConsumeQueueUnits) + 2; int64(len(cq)) > live {
		t.Fatalf("%d consume queue files left for %d live units", len(cq), s.MaxOffset("Old", 0)-minQ)
	}
}

func TestRetentionUnderDiskPressure(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, SyncFlush)
	var usage atomic.Value
	usage.Store(0.5)
	o.DiskUsage = func(string) (float64, error) { return usage.Load().(float64), nil }
	o.DeleteWhen = "04"
	o.Now = func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.Local) }
	s := mustOpen(t, o)
	defer s.Close()
	appendN(t, s, "P", 1, 300)
	waitDispatched(t, s)
	time.Sleep(50 * time.Millisecond)
	before := len(segmentFiles(t, s))

	// Past the forced-clean ratio young segments go, a batch per round.
	usage.Store(0.86)
	s.RunRetention()
	if got := len(segmentFiles(t, s)); got >= before {
		t.Fatalf("no segment deleted under disk pressure (%d)", got)
	}

	// Past the hard limit appends are refused, reads keep working.
	usage.Store(0.95)
	s.RunRetention()
	r := &Request{Msgs: []message.Message{testMessage("P", 0, 1)}}
	if st := s.Append(r); st != StatusDiskFull {
		t.Fatalf("append on a full disk: %s", st)
	}
	var res GetResult
	s.GetMessages(&GetRequest{Topic: "P", Offset: s.MinOffset("P", 0), MaxMessages: 1}, &res)
	if res.Status != GetFound {
		t.Fatalf("read on a full disk: %s", res.Status)
	}
	res.Release()
	usage.Store(0.5)
	s.RunRetention()
	if st := s.Append(r); st != StatusOK {
		t.Fatalf("append after space came back: %s", st)
	}
}

// A real small filesystem: appends fill it and then fail with DISK_FULL,
// never a crash (SIGBUS from a mapped write into unallocated space), and
// everything acknowledged stays readable, also after a restart.
func TestRealDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	for _, write := range []Write{WritePwrite, WriteMmap} {
		t.Run(write.String(), func(t *testing.T) {
			dir := filepath.Join(mnt, write.String())
			o := testOptions(dir, SyncFlush)
			o.WriteMode = write
			o.ConsumeQueueUnits = 1024
			o.DiskUsage = func(string) (float64, error) { return 0, nil } // only the real ENOSPC stops it
			s := mustOpen(t, o)
			// Ballast stands for the files an operator deletes to get out
			// of a full disk.
			ballast := filepath.Join(mnt, "ballast")
			if err := os.WriteFile(ballast, make([]byte, 256<<10), 0o644); err != nil {
				t.Fatal(err)
			}
			acked := 0
			var full bool
			for i := 0; i < 5000 && !full; i++ {
				r := &Request{Msgs: []message.Message{testMessage("F", 0, i)}}
				switch st := s.Append(r); st {
				case StatusOK:
					acked++
				case StatusDiskFull:
					full = true
				default:
					t.Fatalf("append %d: %s %v", i, st, r.Err)
				}
			}
			if !full {
				t.Fatal("a 2 MiB filesystem never filled")
			}
			os.Remove(ballast)
			waitDispatched(t, s)
			if got := len(readQueue(t, s, "F", 0)); got != acked {
				t.Fatalf("%d readable, %d acknowledged", got, acked)
			}
			if err := s.Close(); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Logf("close on a full disk: %v", err)
			}
			os.RemoveAll(dir)
		})
	}
}

// After retention and a restart, queue minimums still start at the first
// message whose segment exists.
func TestMinOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, SyncFlush)
	o.DiskUsage = func(string) (float64, error) { return 0.86, nil } // force clean
	s := mustOpen(t, o)
	appendN(t, s, "M", 1, 800)
	waitDispatched(t, s)
	time.Sleep(50 * time.Millisecond)
	s.RunRetention()
	minQ := s.MinOffset("M", 0)
	if minQ == 0 {
		t.Fatal("retention deleted nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	o.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	s = mustOpen(t, o)
	defer s.Close()
	if got := s.MinOffset("M", 0); got != minQ {
		t.Fatalf("min offset %d after restart, was %d", got, minQ)
	}
	var res GetResult
	s.GetMessages(&GetRequest{Topic: "M", Offset: minQ, MaxMessages: 1}, &res)
	if res.Status != GetFound {
		t.Fatalf("read at the min offset after restart: %s", res.Status)
	}
	res.Release()
}
