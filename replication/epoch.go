package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/gannetmq/gannet/engine/atomicfile"
)

// Epoch says that from StartOffset on, the CommitLog was written by the
// master of Epoch (RocketMQ's EpochEntry). A broker keeps the list of the
// epochs its log went through; two brokers agree on their logs up to the
// end of the last epoch both went through from the same start.
type Epoch struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"startOffset"`
}

// EpochFile is a broker's epoch list, kept in a JSON file replaced
// atomically (atomicfile).
type EpochFile struct {
	path string

	mu      sync.Mutex
	entries []Epoch
}

// OpenEpochFile loads the list at path; a missing file is an empty list.
func OpenEpochFile(path string) (*EpochFile, error) {
	f := &EpochFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &f.entries); err != nil {
		return nil, fmt.Errorf("replication: epoch file %s: %w", path, err)
	}
	for i := 1; i < len(f.entries); i++ {
		if f.entries[i].Epoch <= f.entries[i-1].Epoch || f.entries[i].StartOffset < f.entries[i-1].StartOffset {
			return nil, fmt.Errorf("replication: epoch file %s: entry %d (%+v) does not follow %+v", path, i, f.entries[i], f.entries[i-1])
		}
	}
	return f, nil
}

// Entries returns a copy of the list, oldest first.
func (f *EpochFile) Entries() []Epoch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

// Last is the newest entry (zero if none).
func (f *EpochFile) Last() Epoch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return Epoch{}
	}
	return f.entries[len(f.entries)-1]
}

// Append records that epoch starts at start and saves the list. An epoch
// not newer than the last is ignored (a master restarting in its epoch).
func (f *EpochFile) Append(epoch int32, start int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.entries); n > 0 && f.entries[n-1].Epoch >= epoch {
		return nil
	}
	next := append(slices.Clone(f.entries), Epoch{Epoch: epoch, StartOffset: start})
	if err := f.save(next); err != nil {
		return err
	}
	f.entries = next
	return nil
}

// Replace saves entries as the whole list (a slave copying its master's
// history after truncating to the consistent point).
func (f *EpochFile) Replace(entries []Epoch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.Clone(entries)
	if err := f.save(next); err != nil {
		return err
	}
	f.entries = next
	return nil
}

func (f *EpochFile) save(entries []Epoch) error {
	if entries == nil {
		entries = []Epoch{}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	return atomicfile.Write(f.path, b)
}

// ConsistentPoint is where a broker with epochs local and log end
// localEnd agrees with a master with epochs remote and end remoteEnd
// (EpochFileCache.findConsistentPoint): the end of the newest epoch both
// lists hold with the same start, each epoch ending where the next one
// starts or at its log's end. -1 means they share no epoch: the broker
// must drop its whole log.
func ConsistentPoint(local []Epoch, localEnd int64, remote []Epoch, remoteEnd int64) int64 {
	end := func(list []Epoch, i int, logEnd int64) int64 {
		if i+1 < len(list) {
			return list[i+1].StartOffset
		}
		return logEnd
	}
	for i := len(local) - 1; i >= 0; i-- {
		for j := len(remote) - 1; j >= 0; j-- {
			if remote[j].Epoch == local[i].Epoch && remote[j].StartOffset == local[i].StartOffset {
				return min(end(local, i, localEnd), end(remote, j, remoteEnd))
			}
		}
	}
	return -1
}
