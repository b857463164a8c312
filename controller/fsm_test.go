package controller

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct {
	bytes.Buffer
	cancelled, closed bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func mustApply(t *testing.T, f *fsm, kind byte, cmd any) {
	t.Helper()
	if err := f.Apply(&raft.Log{Type: raft.LogCommand, Data: encodeCmd(kind, cmd)}); err != nil {
		t.Fatalf("apply %d %+v: %v", kind, cmd, err)
	}
}

func applyErr(f *fsm, kind byte, cmd any) error {
	r := f.Apply(&raft.Log{Type: raft.LogCommand, Data: encodeCmd(kind, cmd)})
	if r == nil {
		return nil
	}
	return r.(error)
}

func wantCode(t *testing.T, err error, code int32) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("got %v, want code %d (%s)", err, code, remoting.ResponseCodeName(code))
	}
}

// threeBrokers is group "g" with brokers 0, 1, 2, master 0 at epoch 1
// and set {0, 1, 2} at set epoch 2.
func threeBrokers(t *testing.T) *fsm {
	f := newFSM()
	for id := range int64(3) {
		mustApply(t, f, kindRegister, registerCmd{ClusterName: "c", BrokerName: "g", ID: id, Addr: "a" + string(rune('0'+id)), HAAddr: "h"})
	}
	mustApply(t, f, kindElect, electCmd{BrokerName: "g", NewMaster: 0, ExpectMasterEpoch: 0})
	mustApply(t, f, kindAlter, alterCmd{BrokerName: "g", MasterID: 0, MasterEpoch: 1, ExpectSetEpoch: 1, NewSet: []int64{2, 0, 1}})
	return f
}

func TestFSMApplyAndRules(t *testing.T) {
	f := threeBrokers(t)
	g, _ := f.group("g")
	if g.MasterID != 0 || g.MasterEpoch != 1 || g.SyncStateSetEpoch != 2 || !reflect.DeepEqual(g.SyncStateSet, []int64{0, 1, 2}) {
		t.Fatalf("state %+v", g)
	}

	// A decision taken at an older epoch changes nothing.
	wantCode(t, applyErr(f, kindElect, electCmd{BrokerName: "g", NewMaster: 1, ExpectMasterEpoch: 0}), remoting.ResControllerFencedMasterEpoch)
	// Stale master epoch, wrong master, a set without the master, an
	// unknown member, a stale set epoch.
	wantCode(t, applyErr(f, kindAlter, alterCmd{BrokerName: "g", MasterID: 0, MasterEpoch: 0, ExpectSetEpoch: 2, NewSet: []int64{0}}), remoting.ResControllerFencedMasterEpoch)
	wantCode(t, applyErr(f, kindAlter, alterCmd{BrokerName: "g", MasterID: 1, MasterEpoch: 1, ExpectSetEpoch: 2, NewSet: []int64{1}}), remoting.ResControllerInvalidMaster)
	wantCode(t, applyErr(f, kindAlter, alterCmd{BrokerName: "g", MasterID: 0, MasterEpoch: 1, ExpectSetEpoch: 2, NewSet: []int64{1, 2}}), remoting.ResControllerInvalidReplicas)
	wantCode(t, applyErr(f, kindAlter, alterCmd{BrokerName: "g", MasterID: 0, MasterEpoch: 1, ExpectSetEpoch: 2, NewSet: []int64{0, 9}}), remoting.ResControllerInvalidReplicas)
	wantCode(t, applyErr(f, kindAlter, alterCmd{BrokerName: "g", MasterID: 0, MasterEpoch: 1, ExpectSetEpoch: 1, NewSet: []int64{0}}), remoting.ResControllerFencedSyncStateSetEpoch)
	wantCode(t, applyErr(f, kindElect, electCmd{BrokerName: "nope", NewMaster: 1}), remoting.ResControllerBrokerMetadataNotExist)
	wantCode(t, applyErr(f, 99, struct{}{}), remoting.ResControllerInvalidRequest)
	if g2, _ := f.group("g"); !reflect.DeepEqual(g, g2) {
		t.Fatalf("refused entries changed the state:\n%+v\n%+v", g, g2)
	}

	// Master removed: epoch bumps (the old master is fenced), the set
	// stays for the next election.
	mustApply(t, f, kindElect, electCmd{BrokerName: "g", NewMaster: -1, ExpectMasterEpoch: 1, Note: "why"})
	g, _ = f.group("g")
	if g.MasterID != -1 || g.MasterEpoch != 2 || g.Note != "why" || len(g.SyncStateSet) != 3 || g.neverHadMaster() {
		t.Fatalf("after removal %+v", g)
	}
	mustApply(t, f, kindElect, electCmd{BrokerName: "g", NewMaster: 2, ExpectMasterEpoch: 2})
	g, _ = f.group("g")
	if g.MasterID != 2 || g.MasterEpoch != 3 || g.SyncStateSetEpoch != 3 || !reflect.DeepEqual(g.SyncStateSet, []int64{2}) || g.Note != "" {
		t.Fatalf("after election %+v", g)
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := threeBrokers(t)
	mustApply(t, f, kindRegister, registerCmd{ClusterName: "c", BrokerName: "other", ID: 7, Addr: "x", HAAddr: "y"})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Changes after Snapshot must not leak into it.
	mustApply(t, f, kindRegister, registerCmd{ClusterName: "c", BrokerName: "late", ID: 1, Addr: "z"})
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v closed=%v", err, sink.closed)
	}
	snap.Release()

	g := newFSM()
	mustApply(t, g, kindRegister, registerCmd{BrokerName: "replaced", ID: 1, Addr: "q"})
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want := threeBrokers(t)
	mustApply(t, want, kindRegister, registerCmd{ClusterName: "c", BrokerName: "other", ID: 7, Addr: "x", HAAddr: "y"})
	if !reflect.DeepEqual(g.all(), want.all()) {
		t.Fatalf("restored %v\nwant %v", sink.String(), want.all())
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte(`{"version":2}`)))); err == nil {
		t.Fatal("restored a snapshot of an unknown version")
	}
}

// liveAt builds a liveness whose leadership began at t0, with beats
// (id → seconds after t0, maxOffset) for group "g".
func liveAt(t0 time.Time, beats map[int64][2]int64) *liveness {
	lv := newLiveness(10*time.Second, t0)
	for id, b := range beats {
		lv.record("g", id, t0.Add(time.Duration(b[0])*time.Second), b[1], 1)
	}
	return lv
}

func TestElectionRules(t *testing.T) {
	t0 := time.Unix(1000, 0)
	base := func(master int64, epoch int32, set ...int64) *group {
		g := newGroup("c", "g")
		for id := range int64(4) {
			g.Brokers[id] = &broker{Addr: "a"}
		}
		g.MasterID, g.MasterEpoch, g.SyncStateSet, g.SyncStateSetEpoch = master, epoch, set, 5
		return g
	}
	f := func(name string, g *group, lv *liveness, at int64, unclean bool, wantMaster int64, wantUnclean bool) {
		t.Helper()
		d := scanGroup(g, lv, t0.Add(time.Duration(at)*time.Second), unclean)
		switch {
		case wantMaster == -2:
			if d.elect != nil {
				t.Errorf("%s: want no decision, got %+v", name, d.elect)
			}
		case d.elect == nil:
			t.Errorf("%s: no decision, want master %d", name, wantMaster)
		case d.elect.NewMaster != wantMaster || d.unclean != wantUnclean || d.elect.ExpectMasterEpoch != g.MasterEpoch:
			t.Errorf("%s: got %+v unclean=%v, want master %d unclean=%v", name, d.elect, d.unclean, wantMaster, wantUnclean)
		}
	}
	const none = -2 // no decision

	// master 0 beat at 15 s: alive until 25 s.
	beats := map[int64][2]int64{0: {15, 500}, 1: {20, 100}, 2: {20, 300}, 3: {20, 900}}
	f("master alive", base(0, 1, 0, 1, 2), liveAt(t0, beats), 24, false, none, false)
	f("master expired: largest offset in the set", base(0, 1, 0, 1, 2), liveAt(t0, beats), 26, false, 2, false)
	f("broker outside the set is not chosen", base(0, 1, 0, 1), liveAt(t0, beats), 26, false, 1, false)
	f("ties go to the smaller id", base(0, 1, 0, 1, 2), liveAt(t0, map[int64][2]int64{0: {0, 9}, 1: {20, 7}, 2: {20, 7}}), 26, false, 1, false)
	f("set members dead too: no master", base(0, 1, 0, 1), liveAt(t0, map[int64][2]int64{0: {0, 0}, 1: {0, 0}, 3: {20, 1}}), 26, false, -1, false)
	f("set members dead, unclean on: outside broker", base(0, 1, 0, 1), liveAt(t0, map[int64][2]int64{0: {0, 0}, 1: {0, 0}, 2: {20, 5}, 3: {20, 9}}), 26, true, 3, true)
	f("nobody alive, unclean on: no master", base(0, 1, 0, 1), liveAt(t0, map[int64][2]int64{0: {0, 0}}), 26, true, -1, false)
	// A new leader (t0) has heard from nobody: everyone has a grace
	// period of one timeout, and never-heard brokers rank below any that
	// reported.
	f("grace period of a new leader", base(0, 1, 0, 1), liveAt(t0, nil), 9, false, none, false)
	f("grace period over", base(0, 1, 0, 1, 2), liveAt(t0, map[int64][2]int64{2: {5, 0}}), 11, false, 2, false)

	gone := base(-1, 2, 0, 1)
	gone.Note = "no in-sync replica alive; enableElectUncleanMaster is off"
	f("no master, note already recorded", gone, liveAt(t0, map[int64][2]int64{3: {20, 1}}), 26, false, none, false)
	f("no master, a set member is back", gone, liveAt(t0, map[int64][2]int64{0: {25, 1}, 3: {20, 1}}), 26, false, 0, false)
	f("never had a master: the heartbeat elects", base(-1, 0), liveAt(t0, beats), 26, false, none, false)
}

func TestAdminElectAndAlter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := newGroup("c", "g")
	for id := range int64(4) {
		g.Brokers[id] = &broker{Addr: "a"}
	}
	g.MasterID, g.MasterEpoch, g.SyncStateSet, g.SyncStateSetEpoch = 0, 3, []int64{0, 1, 2}, 4
	lv := liveAt(t0, map[int64][2]int64{0: {20, 50}, 1: {20, 10}, 2: {0, 90}, 3: {20, 99}})
	now := t0.Add(15 * time.Second) // 2 last beat at 0 s: dead

	cmd, err := decideAdminElect(g, 1, lv, now)
	if err != nil || cmd == nil || cmd.NewMaster != 1 || cmd.ExpectMasterEpoch != 3 {
		t.Fatalf("elect 1: %+v %v", cmd, err)
	}
	_, err = decideAdminElect(g, 3, lv, now)
	wantCode(t, err, remoting.ResControllerElectMasterFailed) // not in the set
	_, err = decideAdminElect(g, 2, lv, now)
	wantCode(t, err, remoting.ResControllerBrokerNotAlive)
	_, err = decideAdminElect(g, 8, lv, now)
	wantCode(t, err, remoting.ResControllerBrokerMetadataNotExist)
	if cmd, err := decideAdminElect(g, 0, lv, now); cmd != nil || err != nil {
		t.Fatalf("electing the master again: %+v %v", cmd, err)
	}
	if cmd, err := decideAdminElect(g, -1, lv, now); err != nil || cmd.NewMaster != 1 {
		t.Fatalf("controller's pick: %+v %v (want 1: 2 is dead, 0 is the master)", cmd, err)
	}

	// AlterSyncStateSet: the master at its epoch, members alive.
	ac, err := decideAlter(g, 0, 3, []int64{1, 0}, lv, now)
	if err != nil || ac.ExpectSetEpoch != 4 || !reflect.DeepEqual(ac.NewSet, []int64{0, 1}) {
		t.Fatalf("alter: %+v %v", ac, err)
	}
	_, err = decideAlter(g, 0, 2, []int64{0}, lv, now)
	wantCode(t, err, remoting.ResControllerFencedMasterEpoch)
	_, err = decideAlter(g, 1, 3, []int64{1}, lv, now)
	wantCode(t, err, remoting.ResControllerInvalidMaster)
	_, err = decideAlter(g, 0, 3, []int64{0, 2}, lv, now)
	wantCode(t, err, remoting.ResControllerBrokerNotAlive)
	if ac, err := decideAlter(g, 0, 3, []int64{2, 1, 0}, lv, now); ac != nil || err != nil {
		t.Fatalf("the same set again: %+v %v", ac, err)
	}
}
