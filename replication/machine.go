package replication

import (
	"fmt"
	"maps"
	"slices"
)

// EventKind says what happened.
type EventKind uint8

const (
	// EventReport: Slave reported Offset; MasterMin and MasterMax are the
	// master's CommitLog bounds at that moment.
	EventReport EventKind = iota + 1
	// EventDisconnect: Slave's connection ended.
	EventDisconnect
	// EventWait: Waiter wants some slave to acknowledge Offset.
	EventWait
	// EventCancel: Waiter gave up.
	EventCancel
	// EventClose: the master is shutting down.
	EventClose
)

// Event is one input to Machine.Step.
type Event struct {
	Kind      EventKind
	Slave     uint64
	Waiter    uint64
	Offset    int64
	MasterMin int64
	MasterMax int64
}

// ActionKind says what the caller must do.
type ActionKind uint8

const (
	// ActionStart: begin streaming to Slave from Offset.
	ActionStart ActionKind = iota + 1
	// ActionRefuse: close Slave's connection; Reason says why.
	ActionRefuse
	// ActionWake: Waiter's offset has been acknowledged.
	ActionWake
	// ActionFail: Waiter will never be satisfied (the master closed).
	ActionFail
)

// Action is one output of Machine.Step.
type Action struct {
	Kind   ActionKind
	Slave  uint64
	Waiter uint64
	Offset int64
	Reason string
}

func (a Action) String() string {
	switch a.Kind {
	case ActionStart:
		return fmt.Sprintf("start slave=%d offset=%d", a.Slave, a.Offset)
	case ActionRefuse:
		return fmt.Sprintf("refuse slave=%d: %s", a.Slave, a.Reason)
	case ActionWake:
		return fmt.Sprintf("wake waiter=%d", a.Waiter)
	case ActionFail:
		return fmt.Sprintf("fail waiter=%d", a.Waiter)
	}
	return fmt.Sprintf("action(%d)", a.Kind)
}

// Machine holds the replication bookkeeping of a master. It does no I/O and
// reads no clock: the same events give the same actions. It is not safe for
// concurrent use; the Master serializes Step calls.
type Machine struct {
	slaves  map[uint64]int64 // connected slave → last reported offset
	waiters map[uint64]int64 // waiter → offset it waits for
	closed  bool
}

// NewMachine returns an empty machine.
func NewMachine() *Machine {
	return &Machine{slaves: map[uint64]int64{}, waiters: map[uint64]int64{}}
}

// Step applies ev and returns what the caller must do, in a deterministic
// order.
func (m *Machine) Step(ev Event) []Action {
	switch ev.Kind {
	case EventReport:
		return m.report(ev)
	case EventDisconnect:
		delete(m.slaves, ev.Slave)
	case EventWait:
		switch {
		case m.closed:
			return []Action{{Kind: ActionFail, Waiter: ev.Waiter}}
		case m.maxAcked() >= ev.Offset:
			return []Action{{Kind: ActionWake, Waiter: ev.Waiter}}
		}
		m.waiters[ev.Waiter] = ev.Offset
	case EventCancel:
		delete(m.waiters, ev.Waiter)
	case EventClose:
		m.closed = true
		var out []Action
		for _, id := range slices.Sorted(maps.Keys(m.waiters)) {
			out = append(out, Action{Kind: ActionFail, Waiter: id})
		}
		clear(m.waiters)
		for _, id := range slices.Sorted(maps.Keys(m.slaves)) {
			out = append(out, Action{Kind: ActionRefuse, Slave: id, Reason: "master closing"})
		}
		clear(m.slaves)
		return out
	}
	return nil
}

func (m *Machine) report(ev Event) []Action {
	refuse := func(format string, args ...any) []Action {
		delete(m.slaves, ev.Slave)
		return []Action{{Kind: ActionRefuse, Slave: ev.Slave, Offset: ev.Offset, Reason: fmt.Sprintf(format, args...)}}
	}
	if m.closed {
		return refuse("master closing")
	}
	if ev.Offset < 0 {
		return refuse("slave reported negative offset %d", ev.Offset)
	}
	if ev.Offset > ev.MasterMax {
		return refuse("slave offset %d is ahead of the master's CommitLog end %d", ev.Offset, ev.MasterMax)
	}
	var out []Action
	if _, known := m.slaves[ev.Slave]; !known {
		// First report: decide where streaming starts. An empty slave gets
		// everything the master still has (MinPhysicalOffset, a segment
		// base); a slave with data continues where it is, if the master
		// still has that offset.
		start := ev.Offset
		if start == 0 {
			start = ev.MasterMin
		} else if start < ev.MasterMin {
			return refuse("slave offset %d is behind the master's oldest CommitLog offset %d", ev.Offset, ev.MasterMin)
		}
		out = append(out, Action{Kind: ActionStart, Slave: ev.Slave, Offset: start})
	}
	m.slaves[ev.Slave] = ev.Offset
	var woken []uint64
	for id, off := range m.waiters {
		if ev.Offset >= off {
			woken = append(woken, id)
		}
	}
	slices.Sort(woken)
	for _, id := range woken {
		delete(m.waiters, id)
		out = append(out, Action{Kind: ActionWake, Waiter: id})
	}
	return out
}

func (m *Machine) maxAcked() int64 {
	best := int64(-1)
	for _, off := range m.slaves {
		best = max(best, off)
	}
	return best
}

// Slaves returns each connected slave's last reported offset.
func (m *Machine) Slaves() map[uint64]int64 { return maps.Clone(m.slaves) }

// Waiting is the number of pending waiters.
func (m *Machine) Waiting() int { return len(m.waiters) }
