package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/gannetmq/gannet/engine/atomicfile"
)

// The checkpoint file is 4 KiB like RocketMQ's StoreCheckpoint, with its
// timestamps in the same places, and Gannet's own offsets after them:
//
//	@0  physicMsgTimestamp int64   store time of the last flushed message (ms)
//	@8  logicsMsgTimestamp int64   store time of the last dispatched message
//	@16 indexMsgTimestamp  int64   same, for the index
//	@64 "GNTCKPT1"                 marks Gannet's fields
//	@72 flushedOffset      int64   CommitLog bytes known durable
//	@80 dispatchedOffset   int64   ConsumeQueues and Index durable up to here
//	@88 crc32 (IEEE) of bytes [0, 88)
type checkpointData struct {
	Timestamp  int64
	Flushed    int64
	Dispatched int64
}

const (
	checkpointSize  = 4096
	checkpointMagic = "GNTCKPT1"
)

func readCheckpoint(path string) (checkpointData, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// A new store: nothing to recover.
		return checkpointData{}, nil
	}
	if err != nil {
		return checkpointData{}, err
	}
	if len(b) < 92 || string(b[64:72]) != checkpointMagic {
		return checkpointData{}, fmt.Errorf("engine: %q is not a checkpoint", path)
	}
	if crc32.ChecksumIEEE(b[:88]) != binary.BigEndian.Uint32(b[88:92]) {
		return checkpointData{}, fmt.Errorf("engine: checkpoint %q fails its checksum", path)
	}
	return checkpointData{
		Timestamp:  int64(binary.BigEndian.Uint64(b[0:])),
		Flushed:    int64(binary.BigEndian.Uint64(b[72:])),
		Dispatched: int64(binary.BigEndian.Uint64(b[80:])),
	}, nil
}

func writeCheckpoint(path string, c checkpointData) error {
	b := make([]byte, checkpointSize)
	binary.BigEndian.PutUint64(b[0:], uint64(c.Timestamp))
	binary.BigEndian.PutUint64(b[8:], uint64(c.Timestamp))
	binary.BigEndian.PutUint64(b[16:], uint64(c.Timestamp))
	copy(b[64:], checkpointMagic)
	binary.BigEndian.PutUint64(b[72:], uint64(c.Flushed))
	binary.BigEndian.PutUint64(b[80:], uint64(c.Dispatched))
	binary.BigEndian.PutUint32(b[88:], crc32.ChecksumIEEE(b[:88]))
	return atomicfile.Write(path, b)
}

// checkpoint makes the ConsumeQueues and the Index durable up to what is
// dispatched now, then records that and the CommitLog's flushed offset.
// The offsets are read before the flushes, so the file never claims more
// than is on disk.
func (s *Store) checkpoint() error {
	dispatched := s.dispatched.Load()
	flushed := s.cl.Flushed()
	var errs []error
	errs = append(errs, s.cqs.Flush())
	if s.idx != nil {
		errs = append(errs, s.idx.Flush())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return writeCheckpoint(filepath.Join(s.opts.Dir, "checkpoint"), checkpointData{
		Timestamp:  s.opts.Now().UnixMilli(),
		Flushed:    flushed,
		Dispatched: min(dispatched, flushed),
	})
}

func (s *Store) checkpointLoop() {
	t := time.NewTicker(s.opts.FlushQueueInterval)
	defer t.Stop()
	var lastF, lastD int64 = -1, -1
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if err := s.meta.Persist(); err != nil {
			s.log.Error("cannot persist metadata", "err", err)
		}
		f, d := s.cl.Flushed(), s.dispatched.Load()
		if f == lastF && d == lastD {
			continue
		}
		if err := s.checkpoint(); err != nil {
			s.log.Error("checkpoint failed", "err", err)
			continue
		}
		lastF, lastD = f, d
	}
}
